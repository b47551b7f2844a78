// npm install hook: use a prebuilt binary when one loads on this machine, otherwise build from
// source with CMake (no node-gyp, so no Node headers are fetched).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
if (!process.env.ASDKIT_FORCE_BUILD) {
  try {
    require('node-gyp-build')(root);
    console.error('asdkit: using the existing native addon');
    process.exit(0);
  } catch {
    // no loadable binary: build it
  }
}
const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
