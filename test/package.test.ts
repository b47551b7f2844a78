/**
 * The package as a consumer gets it: `npm pack` (with the prebuilt binary that `prepack` puts in
 * prebuilds/) → `npm install <tarball>` in a fresh project, which must load the prebuilt and not
 * compile; the API from ESM and CommonJS; the installed types under `tsc`; an `--ignore-scripts`
 * install, its load error and the consumer-side rebuild command; a LIBTORCH / Torch_DIR that does
 * not exist refused. Needs build/Release/asdkit.node (npm ci / npm test build it) and the npm
 * registry or npm's cache (--prefer-offline).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = process.cwd();
const built = path.join(root, 'build', 'Release', 'asdkit.node');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const supported = process.platform === 'linux' && process.arch === 'x64' && existsSync(built);

interface Run {
  code: number | null;
  out: string;
  ms: number;
}

/** The environment without npm's own variables: a parent `npm test` would otherwise steer the child npm (npm_config_local_prefix, …). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  return { ...env, ...extra };
}

/** Runs a command, stdout and stderr interleaved into `out`; never throws. */
function sh(cmd: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}, timeoutMs = 180_000): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: cleanEnv(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: Date.now() - t0 });
    });
  });
}

const npm = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  sh('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'], cwd, env);
const node = (args: string[], cwd: string, env: Record<string, string> = {}) => sh(process.execPath, args, cwd, env);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function consumer(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  return dir;
}

const COMPILED = /compiling the native addon|Building CXX|CMAKE_|cmake-js|-- Configuring/;
const PREBUILT = /^asdkit\.napi\.glibc\.torch\d+(_\d+)*\.(cpu|cuda)\.node$/;

(supported ? test : test.skip)('npm pack → npm install uses the prebuilt binary; ESM, CommonJS and types work; rebuild and LibTorch errors', async (t) => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-pack-'));
  t.teardown(() => fs.rm(tmp, { recursive: true, force: true }));

  // prepack is the prebuild step; run it (without rebuilding: CI has just built the addon) and pack
  // without the lifecycle scripts, so dist/ is not recompiled under the other tests' feet.
  const pkg = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8'));
  t.is(pkg.scripts.prepack, 'node scripts/prebuild.mjs');
  t.regex(pkg.description, /2020–2025/);
  const pre = await node(['scripts/prebuild.mjs', '--no-build'], root);
  t.is(pre.code, 0, pre.out);
  const pack = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], root);
  t.is(pack.code, 0, pack.out);
  const meta = JSON.parse(pack.out.slice(pack.out.indexOf('[')))[0] as { filename: string; files: { path: string }[]; size: number };
  const files = meta.files.map((f) => f.path);
  t.true(files.includes('LICENSE'));
  t.true(files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('scripts/install.mjs'));
  const prebuilts = files.filter((f) => f.startsWith('prebuilds/linux-x64/'));
  t.true(prebuilts.length >= 1 && prebuilts.every((f) => PREBUILT.test(path.basename(f))), prebuilts.join(', '));
  t.false(files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('build/')));
  const license = await fs.readFile(path.join(root, 'LICENSE'), 'utf8');
  t.regex(license, /MIT License[\s\S]*asdkit contributors/);
  const tarball = path.join(tmp, meta.filename);
  t.log(`pack ${secs(pre.ms + pack.ms)}, ${(meta.size / 1e6).toFixed(1)} MB, prebuilt ${prebuilts.join(', ')}`);

  // 1. A plain install: the prebuilt, no compile.
  const app = await consumer(path.join(tmp, 'app'));
  const inst = await npm(['install', tarball], app);
  t.is(inst.code, 0, inst.out);
  t.regex(inst.out, /asdkit: using the prebuilt binary prebuilds\/linux-x64\/asdkit\.napi\.glibc\.torch/);
  t.notRegex(inst.out, COMPILED);
  t.false(existsSync(path.join(app, 'node_modules', 'asdkit', 'build')), 'nothing was built');
  t.true(inst.ms < 120_000, `install took ${secs(inst.ms)}`);
  t.log(`install ${secs(inst.ms)}`);

  const esm = await node(['--input-type=module', '-e', "import { auc, native } from 'asdkit'; console.log(JSON.stringify({ auc: auc([0.1, 0.9, 0.4], [0, 1, 0]), torch: native().info().torchVersion }))"], app);
  t.is(esm.code, 0, esm.out);
  t.is(JSON.parse(esm.out.trim().split('\n').at(-1)!).auc, 1);
  const cjs = await node(['-e', "const { auc } = require('asdkit'); console.log(JSON.stringify({ auc: auc([0.1, 0.9], [0, 1]) }))"], app);
  t.is(cjs.code, 0, cjs.out);
  t.is(JSON.parse(cjs.out.trim().split('\n').at(-1)!).auc, 1);
  const doctor = await node([path.join('node_modules', 'asdkit', 'dist', 'cli', 'main.js'), 'doctor'], app);
  t.is(doctor.code, 0, doctor.out);
  t.regex(doctor.out, /node_modules\/asdkit\/prebuilds\/linux-x64\/asdkit\.napi\.glibc\.torch/);

  // The installed types, strict and without skipLibCheck (a Node consumer has @types/node).
  await fs.writeFile(
    path.join(app, 'index.ts'),
    [
      "import { auc, native, type NativeInfo } from 'asdkit';",
      'const a: number = auc([0.1, 0.9], [0, 1]);',
      'const info: NativeInfo = native().info();',
      'const v: string = info.torchVersion;',
      '// @ts-expect-error: auc returns a number',
      "const s: string = auc([0.1, 0.9], [0, 1]);",
      '// @ts-expect-error: no such export',
      "import { notAnExport } from 'asdkit';",
      'console.log(a, v, s, notAnExport);',
      '',
    ].join('\n'),
  );
  await fs.writeFile(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, typeRoots: [path.join(root, 'node_modules', '@types')], types: ['node'] },
      files: ['index.ts'],
    }),
  );
  const types = await node([tsc, '-p', '.'], app);
  t.is(types.code, 0, types.out);
  t.log(`ESM + CJS + doctor ${secs(esm.ms + cjs.ms + doctor.ms)}, tsc ${secs(types.ms)}`);

  // 2. --ignore-scripts: the prebuilt is still found at run time; without one, the error names a
  // command that works in a consumer project, and that command works.
  const bare = await consumer(path.join(tmp, 'bare'));
  const inst2 = await npm(['install', tarball, '--ignore-scripts'], bare);
  t.is(inst2.code, 0, inst2.out);
  const load = "import { native } from 'asdkit'; try { console.log(native().info().torchVersion) } catch (e) { console.log(e.message); process.exit(3) }";
  const ok = await node(['--input-type=module', '-e', load], bare);
  t.is(ok.code, 0, ok.out);
  const pkgDir = path.join(bare, 'node_modules', 'asdkit');
  await fs.rename(path.join(pkgDir, 'prebuilds'), path.join(tmp, 'prebuilds-aside'));
  const missing = await node(['--input-type=module', '-e', load], bare);
  t.is(missing.code, 3, missing.out);
  t.regex(missing.out, /Build it from your project with `npm rebuild asdkit --foreground-scripts`/);
  t.notRegex(missing.out, /npm run build:native/);
  await fs.rename(path.join(tmp, 'prebuilds-aside'), path.join(pkgDir, 'prebuilds'));
  const rebuild = await npm(['rebuild', 'asdkit'], bare);
  t.is(rebuild.code, 0, rebuild.out);
  t.regex(rebuild.out, /asdkit: using the prebuilt binary/);
  t.notRegex(rebuild.out, COMPILED);

  // 3. A LIBTORCH / Torch_DIR that does not exist is an error, not a silent fallback.
  const badLib = await npm(['rebuild', 'asdkit'], bare, { LIBTORCH: path.join(tmp, 'nonexistent') });
  t.not(badLib.code, 0, badLib.out);
  t.regex(badLib.out, /asdkit: error: LIBTORCH is set to .*nonexistent, which does not exist/);
  t.notRegex(badLib.out, COMPILED);
  const badDir = await node([path.join(pkgDir, 'scripts', 'install.mjs')], bare, { Torch_DIR: path.join(tmp, 'nonexistent') });
  t.is(badDir.code, 1, badDir.out);
  t.regex(badDir.out, /asdkit: error: Torch_DIR is set to .*nonexistent, which does not exist/);
  const notTorch = await node([path.join(pkgDir, 'scripts', 'build-native.mjs')], bare, { LIBTORCH: tmp });
  t.is(notTorch.code, 1, notTorch.out);
  t.regex(notTorch.out, /is not an unpacked LibTorch/);
  t.log(`--ignore-scripts install ${secs(inst2.ms)}, rebuild ${secs(rebuild.ms)}`);
});
