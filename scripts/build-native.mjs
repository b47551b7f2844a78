// Builds the native addon with cmake-js (headers from node-api-headers: nothing is downloaded)
// and copies it to build/Release/asdkit.node, where node-gyp-build finds it.
//   node scripts/build-native.mjs [--dest DIR] [--debug] [--tests]
// Environment: LIBTORCH or Torch_DIR select a LibTorch; ASDKIT_JOBS sets build parallelism.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLibtorch, LibtorchError } from './libtorch.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const debug = args.includes('--debug');
const tests = args.includes('--tests');
const destIdx = args.indexOf('--dest');
const dest = destIdx >= 0 ? path.resolve(root, args[destIdx + 1]) : path.join(root, 'build', debug ? 'Debug' : 'Release');
const config = debug ? 'Debug' : 'Release';
const outDir = path.join(root, 'build', 'cmake');
const jobs = process.env.ASDKIT_JOBS ?? String(os.availableParallelism());

// A LIBTORCH / Torch_DIR that is set must hold a LibTorch: CMake would fall back to another one.
if (process.env.LIBTORCH || process.env.Torch_DIR) {
  try {
    findLibtorch();
  } catch (e) {
    if (!(e instanceof LibtorchError)) throw e;
    console.error(`asdkit: error: ${e.message}`);
    process.exit(1);
  }
}

const require = createRequire(import.meta.url);
const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const common = ['--out', outDir, '--config', config];
const run = (args) => spawnSync(process.execPath, [cmakeJs, ...args, ...common], { cwd: root, stdio: 'inherit' });
console.error(`asdkit: building the native addon${tests ? ' and the C++ tests' : ''} (${config}, ${jobs} jobs)`);
// `build` only configures a fresh tree, so a change of the tests option needs its own configure.
let r = run(['configure', `--CDASDKIT_BUILD_TESTS=${tests ? 'ON' : 'OFF'}`]);
if (r.status === 0) r = run(['build', '--parallel', jobs]);
if (r.status !== 0) {
  console.error('asdkit: native build failed. It needs cmake, a C++17 compiler, LibTorch (Debian: libtorch-dev, or set LIBTORCH), libsndfile (libsndfile1-dev) and libsoxr (libsoxr-dev).');
  process.exit(r.status ?? 1);
}
mkdirSync(dest, { recursive: true });
// Copy, then rename: a process that has the old binary loaded keeps its (unchanged) mapping.
const tmp = path.join(dest, `.asdkit.node.${process.pid}.tmp`);
copyFileSync(path.join(outDir, config, 'asdkit.node'), tmp);
renameSync(tmp, path.join(dest, 'asdkit.node'));
console.error(`asdkit: addon at ${path.relative(root, path.join(dest, 'asdkit.node'))}`);
