// Puts the addon built here into prebuilds/<platform>-<arch>/ under its tagged name
// (scripts/prebuilt.cjs), stripped, so `npm pack` ships it (this is `prepack` and `npm run prebuild`).
//   node scripts/prebuild.mjs [--no-build]
// The addon is (re)built first (scripts/build-native.mjs, incremental) when build/Release/asdkit.node
// is missing or older than a native source; --no-build uses it as it is.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const { prebuiltName, platformDir, listPrebuilts } = require('./prebuilt.cjs');
const built = path.join(root, 'build', 'Release', 'asdkit.node');

function newestSource() {
  let newest = statSync(path.join(root, 'CMakeLists.txt')).mtimeMs;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(path.join(root, 'cpp', 'core'));
  walk(path.join(root, 'cpp', 'addon'));
  return newest;
}

const stale = !existsSync(built) || statSync(built).mtimeMs < newestSource();
if (stale && process.argv.includes('--no-build') && existsSync(built)) {
  console.error('asdkit: warning: build/Release/asdkit.node is older than a native source (--no-build: packaged as it is)');
} else if (stale) {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
if (!existsSync(built)) {
  console.error('asdkit: no build/Release/asdkit.node to package: run `npm run build:native` first');
  process.exit(1);
}

// Its LibTorch, as the binary itself reports it (a child process: nothing stays loaded here).
const probe = spawnSync(process.execPath, ['-e', `const i = require(${JSON.stringify(built)}).info(); console.log(JSON.stringify({ torchVersion: i.torchVersion, builtWithCuda: i.builtWithCuda }))`], { encoding: 'utf8' });
if (probe.status !== 0) {
  console.error(`asdkit: build/Release/asdkit.node does not load:\n${probe.stderr}`);
  process.exit(1);
}
const info = JSON.parse(probe.stdout);
const dir = platformDir(root);
mkdirSync(dir, { recursive: true });
const dest = path.join(dir, prebuiltName(info));
const tmp = `${dest}.${process.pid}.tmp`;
const strip = spawnSync('strip', ['--strip-unneeded', '-o', tmp, built]);
if (strip.status !== 0) copyFileSync(built, tmp); // no binutils: ship it unstripped
renameSync(tmp, dest);
console.error(`asdkit: prebuilt ${path.relative(root, dest)} (${(statSync(dest).size / 1e6).toFixed(1)} MB)`);
const others = listPrebuilts(root).filter((p) => p.path !== dest);
if (others.length) console.error(`asdkit: also in the package: ${others.map((p) => path.relative(root, p.path)).join(', ')} (delete prebuilds/ to drop them)`);
