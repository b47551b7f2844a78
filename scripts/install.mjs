// npm install hook (also what `npm rebuild asdkit` runs in a consumer project).
// 1. Find the LibTorch the build would use (scripts/libtorch.mjs); a LIBTORCH / Torch_DIR that is
//    set but holds no LibTorch is an error.
// 2. Use the prebuilt binary (prebuilds/<platform>-<arch>/, named by scripts/prebuilt.cjs) made
//    for that LibTorch when there is one and it loads: it must report the LibTorch version and
//    CUDA flag of its name, and the LibTorch it loads must be that LibTorch's libraries.
// 3. Otherwise compile with CMake (scripts/build-native.mjs), saying why first and streaming the
//    build's lines. npm hides the output of a dependency's install script unless
//    --foreground-scripts, so the lines also go to the terminal (/dev/tty) when there is one.
// An existing build/Release/asdkit.node for that LibTorch is kept. A source checkout never takes a
// prebuilt (it may be older than the sources). ASDKIT_FORCE_BUILD=1 always compiles.
import { spawn } from 'node:child_process';
import { existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLibtorch, libtorchLabel, LibtorchError } from './libtorch.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const { loadPrebuilt, listPrebuilts, mappedTorchDirs, torchLabel } = require('./prebuilt.cjs');
const platform = `${process.platform}-${process.arch}`;

let tty;
if (!process.stderr.isTTY) {
  try {
    tty = openSync('/dev/tty', 'w');
  } catch {
    tty = undefined; // no terminal (CI): stderr only
  }
}
const say = (text) => {
  const line = text.endsWith('\n') ? text : `${text}\n`;
  process.stderr.write(line);
  if (tty !== undefined) {
    try {
      writeSync(tty, line);
    } catch {
      tty = undefined;
    }
  }
};

let torch;
try {
  torch = findLibtorch();
} catch (e) {
  if (!(e instanceof LibtorchError)) throw e;
  say(`asdkit: error: ${e.message}`);
  process.exit(1);
}

// The LibTorch a loaded binary uses is the selected one (no /proc/self/maps: cannot tell, accept).
const onLibDir = (dirs) => dirs.length === 0 || dirs.includes(torch.libDir);

function why() {
  if (process.env.ASDKIT_FORCE_BUILD) return 'ASDKIT_FORCE_BUILD is set';
  if (!torch) {
    // No LibTorch to compile against (e.g. Debian's runtime libtorch1.13 without libtorch-dev):
    // a prebuilt whose LibTorch libraries load is all there is.
    const r = existsSync(path.join(root, 'src', 'native')) ? { errors: [] } : loadPrebuilt(root, require);
    if (r.addon) {
      say(`asdkit: using the prebuilt binary ${path.relative(root, r.path)} (LibTorch ${torchLabel(r.torchVersion, r.cuda)}; no LibTorch CMake package found, so it could not be compiled here)`);
      process.exit(0);
    }
    return 'no LibTorch was found (install libtorch-dev, or set LIBTORCH)';
  }
  const built = path.join(root, 'build', 'Release', 'asdkit.node');
  if (existsSync(built)) {
    // An earlier build (a checkout's, or a previous compile here) is kept when it is for this LibTorch.
    try {
      const info = require(built).info();
      if (info.torchVersion === torch.version && Boolean(info.builtWithCuda) === torch.cuda && onLibDir(mappedTorchDirs())) {
        say(`asdkit: using the existing native addon build/Release/asdkit.node (${libtorchLabel(torch)})`);
        process.exit(0);
      }
    } catch {
      // does not load: replace it
    }
  }
  // A source checkout compiles its own sources (a prebuilt there may be older than they are).
  if (existsSync(path.join(root, 'src', 'native'))) return 'this is a source checkout (src/ is here)';
  const shipped = listPrebuilts(root);
  if (shipped.length === 0) return `no prebuilt binary for ${platform}`;
  const want = { torchVersion: torch.version, cuda: torch.cuda };
  const r = loadPrebuilt(root, require, want);
  if (r.addon) {
    const dirs = mappedTorchDirs();
    if (onLibDir(dirs)) {
      // An earlier build for another LibTorch would be loaded first (build/Release wins): drop it.
      rmSync(built, { force: true });
      say(`asdkit: using the prebuilt binary ${path.relative(root, r.path)} (${libtorchLabel(torch)})`);
      process.exit(0);
    }
    return `the prebuilt binary for LibTorch ${torchLabel(torch.version, torch.cuda)} loads the LibTorch in ${dirs.join(', ')}, not ${torch.libDir}`;
  }
  const have = shipped.map((p) => torchLabel(p.torchVersion, p.cuda)).join(', ');
  if (!shipped.some((p) => p.torchVersion === torch.version && p.cuda === torch.cuda)) {
    return `no prebuilt binary for LibTorch ${torchLabel(torch.version, torch.cuda)} (${platform}; prebuilt: ${have})`;
  }
  return `the prebuilt binary for LibTorch ${torchLabel(torch.version, torch.cuda)} does not load (${r.errors.join('; ')})`;
}

const reason = why();
const cores = os.availableParallelism();
const estimate = cores <= 2 ? 'about 10–20 minutes on 2 cores' : cores <= 8 ? `about 3–10 minutes on ${cores} cores` : `a few minutes on ${cores} cores`;
say(`asdkit: ${reason}: compiling the native addon, ${estimate}${torch ? ` (${libtorchLabel(torch)})` : ''}`);

const started = Date.now();
const child = spawn(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
const forward = (stream) => {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const l of lines) say(l);
  });
  stream.on('end', () => rest && say(rest));
};
forward(child.stdout);
forward(child.stderr);
child.on('close', (code) => {
  const took = Math.round((Date.now() - started) / 1000);
  const time = `${Math.floor(took / 60)} min ${took % 60} s`;
  if (code === 0 && existsSync(path.join(root, 'build', 'Release', 'asdkit.node'))) {
    say(`asdkit: native addon compiled in ${time}`);
    process.exit(0);
  }
  say(`asdkit: compiling the native addon failed after ${time} (exit ${code}); the lines above say why. Retry from your project with \`npm rebuild asdkit --foreground-scripts\`.`);
  process.exit(code || 1);
});
