// Prebuilt native addons: how they are named, and which one a machine may load.
// Shared by scripts/install.mjs, scripts/prebuild.mjs and the runtime loader (src/native/index.ts),
// so it is CommonJS (the loader requires it synchronously) with no dependencies.
//
// A prebuilt lives in prebuilds/<platform>-<arch>/ and is named
//   asdkit.napi.glibc.torch<version with _ for .>.<cpu|cuda>.node
// e.g. asdkit.napi.glibc.torch1_13_0.cpu.node: Node-API (any Node >= 20), glibc, built against
// LibTorch 1.13.0 without CUDA. The first tags are node-gyp-build's; the LibTorch tags are ours
// (node-gyp-build ignores unknown tags, so it must not be the one to choose).
// A prebuilt is accepted only when it loads (its NEEDED LibTorch sonames resolve) and the
// LibTorch version and CUDA flag it reports (info()) equal those of its name.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const NAME_RE = /^asdkit\.napi\.glibc\.torch(\d+(?:_\d+)*)\.(cpu|cuda)\.node$/;

/** The file name of a prebuilt built against the LibTorch described by `info` (the addon's info()). */
function prebuiltName(info) {
  return `asdkit.napi.glibc.torch${String(info.torchVersion).replace(/\./g, '_')}.${info.builtWithCuda ? 'cuda' : 'cpu'}.node`;
}

/** { torchVersion, cuda } from a prebuilt's file name, or undefined for another file. */
function parsePrebuiltName(file) {
  const m = NAME_RE.exec(file);
  return m ? { torchVersion: m[1].replace(/_/g, '.'), cuda: m[2] === 'cuda' } : undefined;
}

/** A short label of a LibTorch: "1.13.0 (CPU)". */
function torchLabel(version, cuda) {
  return `${version} (${cuda ? 'CUDA' : 'CPU'})`;
}

function platformDir(root) {
  return path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
}

function isMusl() {
  return process.platform === 'linux' && fs.existsSync('/etc/alpine-release');
}

/** The prebuilts shipped for this platform and architecture: [{ file, path, torchVersion, cuda }]. */
function listPrebuilts(root) {
  if (isMusl()) return [];
  let files = [];
  try {
    files = fs.readdirSync(platformDir(root));
  } catch {
    return [];
  }
  const out = [];
  for (const file of files.sort()) {
    const tags = parsePrebuiltName(file);
    if (tags) out.push({ file, path: path.join(platformDir(root), file), ...tags });
  }
  return out;
}

/**
 * Loads the first prebuilt that loads and reports the LibTorch of its name; `want` ({ torchVersion,
 * cuda }) restricts the candidates to one LibTorch. Returns { addon, path, torchVersion, cuda } or
 * { errors: [reason per candidate] } (no candidate: an empty list).
 */
function loadPrebuilt(root, requireFn, want) {
  const errors = [];
  for (const c of listPrebuilts(root)) {
    if (want && (c.torchVersion !== want.torchVersion || c.cuda !== want.cuda)) {
      errors.push(`${c.file}: built for LibTorch ${torchLabel(c.torchVersion, c.cuda)}`);
      continue;
    }
    let addon;
    try {
      addon = requireFn(c.path);
    } catch (e) {
      errors.push(`${c.file}: ${String(e && e.message).split('\n')[0]}`);
      continue;
    }
    const info = addon.info();
    if (info.torchVersion !== c.torchVersion || Boolean(info.builtWithCuda) !== c.cuda) {
      errors.push(`${c.file}: reports LibTorch ${torchLabel(info.torchVersion, info.builtWithCuda)}, not that of its name`);
      continue;
    }
    return { addon, path: c.path, torchVersion: c.torchVersion, cuda: c.cuda };
  }
  return { errors };
}

/** The directories of the LibTorch libraries mapped into this process (Linux; [] elsewhere). */
function mappedTorchDirs() {
  let maps = '';
  try {
    maps = fs.readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return [];
  }
  const dirs = new Set();
  for (const line of maps.split('\n')) {
    const file = line.split(/\s+/).slice(5).join(' ');
    if (/\/libtorch_cpu\.so[.\d]*$/.test(file)) dirs.add(path.dirname(file));
  }
  return [...dirs];
}

module.exports = { prebuiltName, parsePrebuiltName, torchLabel, platformDir, listPrebuilts, loadPrebuilt, mappedTorchDirs };
