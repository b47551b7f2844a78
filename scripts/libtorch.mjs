// Which LibTorch the native build would use, found in CMakeLists.txt's order without running
// CMake: $LIBTORCH / $Torch_DIR, then a Python PyTorch, then the system's (Debian's libtorch-dev).
// A LIBTORCH or Torch_DIR that is set but holds no LibTorch is an error (CMake would silently
// fall back to another LibTorch).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';

export class LibtorchError extends Error {}

const configIn = (dir) => ['TorchConfig.cmake', 'torch-config.cmake'].some((f) => existsSync(path.join(dir, f)));

function versionOf(cmakeDir) {
  for (const f of ['TorchConfigVersion.cmake', 'torch-config-version.cmake']) {
    try {
      const m = /set\(PACKAGE_VERSION\s+"([^"]+)"\)/.exec(readFileSync(path.join(cmakeDir, f), 'utf8'));
      if (m) return m[1];
    } catch {
      // try the next name
    }
  }
  return undefined;
}

/** The library folder of a LibTorch whose CMake config is in `cmakeDir` (…/share/cmake/Torch or …/lib/<triplet>/cmake/Torch). */
function libDirOf(cmakeDir) {
  const candidates = [path.resolve(cmakeDir, '..', '..'), path.resolve(cmakeDir, '..', '..', '..', 'lib')];
  for (const dir of candidates) {
    try {
      if (readdirSync(dir).some((f) => /^libtorch_cpu\.so/.test(f))) return dir;
    } catch {
      // not a folder
    }
  }
  return candidates[0];
}

function describe(source, cmakeDir) {
  const libDir = libDirOf(cmakeDir);
  let cuda = false;
  try {
    cuda = readdirSync(libDir).some((f) => /^libtorch_cuda\.so/.test(f));
  } catch {
    // no library folder: CPU
  }
  let realLibDir = libDir;
  try {
    realLibDir = realpathSync(libDir);
  } catch {
    // keep as is
  }
  return { source, cmakeDir, libDir: realLibDir, version: versionOf(cmakeDir), cuda };
}

const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/**
 * { source: 'LIBTORCH' | 'Torch_DIR' | 'python' | 'system', cmakeDir, libDir, version, cuda }, or
 * undefined when no LibTorch is found. Throws LibtorchError for a LIBTORCH / Torch_DIR that is set
 * but holds no LibTorch.
 */
export function findLibtorch(env = process.env) {
  if (env.LIBTORCH) {
    const dir = path.resolve(env.LIBTORCH);
    if (!existsSync(dir)) throw new LibtorchError(`LIBTORCH is set to ${env.LIBTORCH}, which does not exist. Point it at an unpacked LibTorch (the folder holding lib/ and share/cmake/Torch), or unset it to use the LibTorch found on the system.`);
    const cmakeDir = path.join(dir, 'share', 'cmake', 'Torch');
    if (!configIn(cmakeDir)) throw new LibtorchError(`LIBTORCH is set to ${env.LIBTORCH}, which is not an unpacked LibTorch (no share/cmake/Torch/TorchConfig.cmake in it).`);
    return describe('LIBTORCH', cmakeDir);
  }
  if (env.Torch_DIR) {
    const dir = path.resolve(env.Torch_DIR);
    if (!existsSync(dir)) throw new LibtorchError(`Torch_DIR is set to ${env.Torch_DIR}, which does not exist. Point it at LibTorch's CMake folder (…/share/cmake/Torch), or unset it to use the LibTorch found on the system.`);
    if (!configIn(dir)) throw new LibtorchError(`Torch_DIR is set to ${env.Torch_DIR}, which holds no TorchConfig.cmake (it must be LibTorch's …/share/cmake/Torch).`);
    return describe('Torch_DIR', dir);
  }
  for (const python of ['python3', 'python']) {
    const r = spawnSync(python, ['-c', 'import torch.utils; print(torch.utils.cmake_prefix_path)'], { encoding: 'utf8', timeout: 60_000 });
    if (r.error?.code === 'ENOENT') continue;
    const prefix = r.status === 0 ? r.stdout.trim() : '';
    if (prefix && configIn(path.join(prefix, 'Torch'))) return describe('python', path.join(prefix, 'Torch'));
    break; // CMake asks the first Python it finds only
  }
  const triplet = MULTIARCH[process.arch];
  const prefixes = ['/usr', '/usr/local'];
  for (const prefix of prefixes) {
    const dirs = [
      triplet && path.join(prefix, 'lib', triplet, 'cmake', 'Torch'),
      path.join(prefix, 'lib', 'cmake', 'Torch'),
      path.join(prefix, 'share', 'cmake', 'Torch'),
      path.join(prefix, 'share', 'Torch', 'cmake'),
    ].filter(Boolean);
    for (const dir of dirs) if (configIn(dir)) return describe('system', dir);
  }
  return undefined;
}

/** "LibTorch 1.13.0 (CPU) from /usr/lib/x86_64-linux-gnu/cmake/Torch" */
export function libtorchLabel(t) {
  const from = { LIBTORCH: 'LIBTORCH', Torch_DIR: 'Torch_DIR', python: 'the Python PyTorch', system: 'the system' }[t.source];
  return `LibTorch ${t.version ?? '(unknown version)'} (${t.cuda ? 'CUDA' : 'CPU'}) from ${from}, ${t.cmakeDir}`;
}
