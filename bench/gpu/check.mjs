// The measuring half of bench/gpu-check.sh: CPU-vs-CUDA agreement checks and timings on the
// native addon, written as OUTDIR/gpu-check.json and OUTDIR/gpu-check.md.
//   node bench/gpu/check.mjs --out DIR [--cpu-only] [--steps FILE] [--deadline EPOCH_MS]
// Plain .mjs that loads build/Release/asdkit.node directly, so that the GPU machine needs a Node
// binary and nothing from node_modules (tsx, ava and the runtime dependencies stay behind).
// Every section runs in a child process of its own (`--section NAME --device DEV`): a fresh CUDA
// context and caching allocator per section, so nvidia-smi's memory.used sampled around the child
// is that section's peak (the addon's info() reports no GPU memory).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SR = 16000;

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const flag = (name) => process.argv.includes(`--${name}`);

// ---------------------------------------------------------------------------------------------
// Sizes. Full: the issue's figures (kNN 200k × 20k × 512, batch 64 of 18 s clips). Small: what
// 2 cores finish in well under a minute per section (--cpu-only, CI).
const FULL = {
  knn: [200000, 20000, 512],
  extractClips: { cuda: 2048, cpu: 512 },
  trainBatch: 64,
  trainSec: 18,
  trainBatches: { cuda: 5, cpu: 2 }, // the first step is a warm-up and is not timed
  embedClips: { cuda: 1280, cpu: 128 },
  reps: { cuda: 3, cpu: 1 },
};
const SMALL = {
  knn: [4000, 500, 128],
  extractClips: { cuda: 32, cpu: 32 },
  trainBatch: 4,
  trainSec: 18,
  trainBatches: { cuda: 1, cpu: 1 }, // one step, warm-up included: 2 cores take seconds per step
  embedClips: { cuda: 8, cpu: 8 },
  reps: { cuda: 1, cpu: 1 },
};

// Agreement tolerances (relative to the largest magnitude of the CPU result unless said).
// fp32 on CUDA differs from the CPU by summation order and by cuDNN's TF32 convolutions
// (LibTorch's default), hence 1e-2 on the network; bf16 keeps 8 mantissa bits.
const TOL = {
  stft_pool: 1e-4,
  knn_abs: 1e-5,
  forward_fp32: 1e-2,
  forward_bf16: 5e-2,
  loss_fp32: 1e-3,
  loss_bf16: 2e-2,
  gradnorm_fp32: 1e-2,
  // Loose on purpose: train-mode BatchNorm over the small agreement batch subtracts nearly equal
  // bf16-rounded conv outputs (x − μ), which amplifies their rounding; measured 0.36 on an
  // avx512_bf16 CPU, and PyTorch's own CPU autocast shows the same spread. The loss check above
  // is the tight one; this one still catches a gradient that is lost or doubled.
  gradnorm_bf16: 0.5,
};

// The dual-branch MultiResNet of dis_spec_scac_trainable (src/recipes/dis.ts).
const DIS_SPEC = {
  branches: [{ kind: 'fft' }, { kind: 'stft', nFft: 1024, hopLength: 512 }],
  embedSizePerBranch: 128,
  useBias: false,
  head: { type: 'scadacos', nSubclusters: 16, trainable: true, dynamic: false },
  mixupProb: 0.5,
};
const NUM_CLASSES = 8;

// ---------------------------------------------------------------------------------------------
// Data: a seeded generator, 16-bit WAV files (sine + noise, a different tone per clip).
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function clip(len, i) {
  const r = rng(1000 + i);
  const w = new Float32Array(len);
  const f = (2 * Math.PI * (150 + 37 * i)) / SR;
  for (let k = 0; k < len; k++) w[k] = 0.3 * Math.sin(f * k) + 0.1 * (r() - 0.5);
  return w;
}

function wav16(w) {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + 2 * w.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(SR, 24);
  h.writeUInt32LE(SR * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(2 * w.length, 40);
  // A typed array rather than writeInt16LE per sample: the full run writes ~90 M samples.
  const pcm = new Int16Array(w.length);
  for (let k = 0; k < w.length; k++) pcm[k] = Math.max(-32768, Math.min(32767, Math.round(w[k] * 32767)));
  return Buffer.concat([h, Buffer.from(pcm.buffer)]);
}

function writeClips(dir, n, len, prefix) {
  mkdirSync(dir, { recursive: true });
  return Array.from({ length: n }, (_, i) => {
    const p = path.join(dir, `${prefix}_${i}.wav`);
    if (!existsSync(p)) writeFileSync(p, wav16(clip(len, i)));
    return p;
  });
}

function randomSet(rows, dim, seed) {
  const r = rng(seed);
  const embed = new Float32Array(rows * dim);
  for (let i = 0; i < embed.length; i++) embed[i] = r() - 0.5;
  return { embed: { data: embed, shape: [rows, dim] }, section: new Int32Array(rows), isTarget: Int32Array.from({ length: rows }, (_, i) => (i % 100 === 0 ? 1 : 0)) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

function maxRel(a, b) {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(a[i]));
  }
  return a.length !== b.length ? Infinity : d / (m || 1);
}

function maxAbs(a, b) {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return a.length !== b.length ? Infinity : Number.isNaN(d) ? Infinity : d;
}

// ---------------------------------------------------------------------------------------------
// Child side: one section on one device.
function addon() {
  const require = createRequire(import.meta.url);
  const a = require(path.join(ROOT, 'build', 'Release', 'asdkit.node'));
  a.setNumThreads(Number(process.env.ASDKIT_THREADS ?? 0)); // all cores (LibTorch's default may be 1)
  return a;
}

const rawSpec = { type: 'stft_pool', pool: 'time_mean' };
const timed = async (fn) => {
  const t0 = performance.now();
  const r = await fn();
  return [(performance.now() - t0) / 1000, r];
};

async function agree(a, devB, data) {
  const devA = 'cpu';
  const checks = [];
  const add = (name, err, tol, note = '') => checks.push({ name, a: devA, b: devB, err, tol, ok: Number.isFinite(err) && err <= tol, note });

  // STFTPool (raw_spec frontend) on clips in memory.
  const L = 6 * SR;
  const waves = new Float32Array(8 * L);
  for (let i = 0; i < 8; i++) waves.set(clip(L, i), i * L);
  const wave = { data: waves, shape: [8, L] };
  const fe = async (device) => (await a.frontendForward(wave, { frontend: rawSpec, length: 0, batchSize: 4, device }).promise).embed.data;
  add('STFTPool (frontendForward, raw_spec)', maxRel(await fe(devA), await fe(devB)), TOL.stft_pool);

  // k-NN scores (Knn backend, cosine, k = 1), float64 distances compared absolutely.
  const train = randomSet(3000, 64, 11);
  const query = randomSet(400, 64, 12);
  const knn = { kind: 'Knn', params: { n_neighbors_so: 1, n_neighbors_ta: 1, metric: 'cosine' } };
  const sc = async (device) => (await a.backendScore(knn, train, [query], { device, memoryBudgetBytes: 1 << 20 }).promise).scores[0];
  add('k-NN scores (backendScore, Knn cosine)', maxAbs(await sc(devA), await sc(devB)), TOL.knn_abs, 'absolute');

  // MultiResNet forward: the same seeded weights on both devices.
  const sec = 6 * SR; // the FFT branch's convolutions need at least ~5 s
  const cfg = { ...DIS_SPEC, mixupProb: 0, head: { ...DIS_SPEC.head, trainable: false }, numClasses: NUM_CLASSES, secSamples: sec, seed: 7 };
  const fwave = { data: waves.subarray(0, 4 * sec), shape: [4, sec] };
  const emb = async (device, precision) => {
    const m = a.createDisModel(cfg);
    try {
      return (await m.embed(fwave, { device, batchSize: 4, precision }).promise).embed.data;
    } finally {
      m.dispose();
    }
  };
  const ref = await emb(devA, 'fp32');
  add('MultiResNet forward fp32 (embed)', maxRel(ref, await emb(devB, 'fp32')), TOL.forward_fp32);

  // One training step (no mixup: its draws come from each device's own generator).
  const step = async (device, precision) => {
    const m = a.createDisModel(cfg);
    try {
      const r = await m.trainEpoch(
        { paths: data.agreePaths, labels: Int32Array.from(data.agreePaths, (_, i) => i % NUM_CLASSES), numClasses: NUM_CLASSES },
        { epoch: 0, device, precision, batchSize: data.agreePaths.length, seed: 3, ioThreads: 1 },
      ).promise;
      return r.metrics[0];
    } finally {
      m.dispose();
    }
  };
  const s0 = await step(devA, 'fp32');
  const s1 = await step(devB, 'fp32');
  add('training step fp32: loss', Math.abs(s1.losses.main - s0.losses.main) / Math.abs(s0.losses.main), TOL.loss_fp32);
  add('training step fp32: gradient norm', Math.abs(s1.gradNorm - s0.gradNorm) / s0.gradNorm, TOL.gradnorm_fp32);

  // bf16 autocast: CUDA, or a CPU with avx512_bf16/amx_bf16; elsewhere the addon must refuse it (that refusal is the check).
  if (devB.startsWith('cuda') || a.info().cpuBf16) {
    add('MultiResNet forward bf16 vs CPU fp32', maxRel(ref, await emb(devB, 'bf16')), TOL.forward_bf16);
    const b = await step(devB, 'bf16');
    add('training step bf16: loss vs CPU fp32', Math.abs(b.losses.main - s0.losses.main) / Math.abs(s0.losses.main), TOL.loss_bf16);
    add('training step bf16: gradient norm vs CPU fp32', Math.abs(b.gradNorm - s0.gradNorm) / s0.gradNorm, TOL.gradnorm_bf16);
  } else {
    let refused = false;
    try {
      await emb(devB, 'bf16');
    } catch (e) {
      refused = /bf16 on the CPU needs/.test(String(e?.message));
    }
    checks.push({ name: 'bf16 autocast (refused on a CPU without bf16)', a: devA, b: devB, err: refused ? 0 : 1, tol: 0, ok: refused, note: 'no CUDA, no CPU bf16: checks the refusal' });
  }
  return { checks };
}

async function knnSection(a, device, S, budget) {
  const [n, q, d] = S.knn;
  const train = randomSet(n, d, 5);
  const query = randomSet(q, d, 6);
  const knn = { kind: 'Knn', params: { n_neighbors_so: 1, n_neighbors_ta: 1, metric: 'cosine' } };
  // Warm-up on a slice (cuBLAS handles, allocator), then the full size.
  const small = randomSet(Math.min(n, 2000), d, 7);
  await a.backendScore(knn, small, [randomSet(100, d, 8)], { device }).promise;
  const times = [];
  const o = budget ? { device, memoryBudgetBytes: budget } : { device };
  for (let r = 0; r < S.reps[device.startsWith('cuda') ? 'cuda' : 'cpu']; r++) times.push((await timed(() => a.backendScore(knn, train, [query], o).promise))[0]);
  const size = `${n} × ${q} × ${d}, distance chunks ${budget ? budget / 2 ** 20 : 256} MiB`;
  return { size, seconds: median(times), unit: 's', value: median(times) };
}

async function extractSection(a, device, S, data) {
  const n = S.extractClips[device.startsWith('cuda') ? 'cuda' : 'cpu'];
  const paths = Array.from({ length: n }, (_, i) => data.extractPaths[i % data.extractPaths.length]);
  const opts = { frontend: rawSpec, length: 10 * SR, batchSize: 64, device };
  await a.extractFiles(paths.slice(0, 64), opts).promise;
  const times = [];
  for (let r = 0; r < S.reps[device.startsWith('cuda') ? 'cuda' : 'cpu']; r++) times.push((await timed(() => a.extractFiles(paths, opts).promise))[0]);
  return { size: `${n} × 10 s clips, batch 64, decode included`, seconds: median(times), unit: 'clips/s', value: n / median(times) };
}

async function trainSection(a, device, S, data, precision) {
  const batches = S.trainBatches[device.startsWith('cuda') ? 'cuda' : 'cpu'];
  const paths = data.trainPaths.slice(0, batches * S.trainBatch);
  const m = a.createDisModel({ ...DIS_SPEC, numClasses: NUM_CLASSES, secSamples: S.trainSec * SR, seed: 1 });
  try {
    const r = await m.trainEpoch(
      { paths, labels: Int32Array.from(paths, (_, i) => i % NUM_CLASSES), numClasses: NUM_CLASSES },
      { epoch: 0, device, precision, batchSize: S.trainBatch, seed: 1 },
    ).promise;
    const steps = r.metrics.length > 1 ? r.metrics.slice(1) : r.metrics; // after the warm-up step, when there are more
    const step = median(steps.map((s) => (s.computeMs + s.waitMs) / 1000));
    return {
      size: `batch ${S.trainBatch} × ${S.trainSec} s, ${steps.length} timed step(s)`,
      seconds: step,
      unit: 's/step',
      value: step,
      computeS: median(steps.map((s) => s.computeMs / 1000)),
      waitS: median(steps.map((s) => s.waitMs / 1000)),
      finite: !r.nonFinite,
    };
  } finally {
    m.dispose();
  }
}

async function embedSection(a, device, S, data, precision) {
  const n = S.embedClips[device.startsWith('cuda') ? 'cuda' : 'cpu'];
  const paths = Array.from({ length: n }, (_, i) => data.trainPaths[i % data.trainPaths.length]);
  const m = a.createDisModel({ ...DIS_SPEC, numClasses: NUM_CLASSES, secSamples: S.trainSec * SR, seed: 1 });
  try {
    const opts = { length: S.trainSec * SR, batchSize: 64, device, precision };
    await m.embedFiles(paths.slice(0, Math.min(n, 64)), opts).promise;
    const times = [];
    for (let r = 0; r < S.reps[device.startsWith('cuda') ? 'cuda' : 'cpu']; r++) times.push((await timed(() => m.embedFiles(paths, opts).promise))[0]);
    return { size: `${n} × ${S.trainSec} s clips, batch 64, decode included`, seconds: median(times), unit: 'clips/s', value: n / median(times) };
  } finally {
    m.dispose();
  }
}

async function child() {
  const section = arg('section');
  const device = arg('device');
  const S = flag('small') ? SMALL : FULL;
  const data = JSON.parse(readFileSync(arg('data'), 'utf8'));
  const a = addon();
  let r;
  if (section === 'agree') r = await agree(a, device, data);
  else if (section === 'knn') r = await knnSection(a, device, S);
  else if (section === 'knn_4g') r = await knnSection(a, device, S, 4 * 2 ** 30);
  else if (section === 'extract') r = await extractSection(a, device, S, data);
  else if (section === 'train_fp32') r = await trainSection(a, device, S, data, 'fp32');
  else if (section === 'train_bf16') r = await trainSection(a, device, S, data, 'bf16');
  else if (section === 'embed_fp32') r = await embedSection(a, device, S, data, 'fp32');
  else if (section === 'embed_bf16') r = await embedSection(a, device, S, data, 'bf16');
  else throw new Error(`unknown section ${section}`);
  process.stdout.write(`\nRESULT ${JSON.stringify({ ...r, info: a.info() })}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent side.
function nvidiaSmi(args) {
  const r = spawnSync('nvidia-smi', args, { encoding: 'utf8', timeout: 20000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Runs one section in a child, sampling the GPU's memory.used every 100 ms while it runs. */
function runSection(section, device, small, dataFile, timeoutS) {
  return new Promise((resolve) => {
    const sample = device.startsWith('cuda') && nvidiaSmi(['-L']) !== undefined;
    const base = sample ? Number(nvidiaSmi(['--query-gpu=memory.used', '--format=csv,noheader,nounits'])?.split('\n')[0]) : NaN;
    let peak = NaN;
    const smi = sample ? spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '100'], { stdio: ['ignore', 'pipe', 'ignore'] }) : undefined;
    smi?.stdout.on('data', (b) => {
      for (const line of String(b).split('\n')) {
        const v = Number(line.trim());
        if (line.trim() && Number.isFinite(v)) peak = Number.isNaN(peak) ? v : Math.max(peak, v);
      }
    });
    const args = [fileURLToPath(import.meta.url), '--section', section, '--device', device, '--data', dataFile, ...(small ? ['--small'] : [])];
    const t0 = performance.now();
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (b) => (out += b));
    c.stderr.on('data', (b) => (err += b));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutS * 1000);
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      smi?.kill();
      const wall = (performance.now() - t0) / 1000;
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      const peakGpuMiB = Number.isFinite(peak) && Number.isFinite(base) ? Math.max(0, peak - base) : null;
      if (code === 0 && line) resolve({ section, device, ok: true, wallS: wall, peakGpuMiB, ...JSON.parse(line.slice(7)) });
      else {
        process.stderr.write(`--- ${section} on ${device} failed; its output:\n${out.slice(-2000)}${err.slice(-4000)}\n---\n`);
        const why = signal === 'SIGKILL' ? `timed out after ${timeoutS} s` : `exit ${code ?? signal}`;
        const first = err.split('\n').find((l) => /^\w*Error\b/.test(l)) ?? err.trim().split('\n').slice(-1)[0] ?? '';
        resolve({ section, device, ok: false, wallS: wall, peakGpuMiB, error: `${why}: ${first.slice(0, 400)}` });
      }
    });
  });
}

const LABEL = {
  knn: 'kNN scoring (Knn cosine, k = 1)',
  knn_4g: 'kNN scoring, 4 GiB distance chunks',
  extract: 'raw_spec extraction',
  train_fp32: 'dis_spec train step fp32',
  train_bf16: 'dis_spec train step bf16',
  embed_fp32: 'dis_spec trained extraction fp32',
  embed_bf16: 'dis_spec trained extraction bf16',
};
// The issue's targets for one H100/H200 (checked on CUDA rows of a full run only).
const TARGET = {
  knn: { text: '< 2 s', ok: (v) => v < 2 },
  knn_4g: { text: '< 2 s', ok: (v) => v < 2 },
  extract: { text: '> 2000 clips/s', ok: (v) => v > 2000 },
  train_bf16: { text: '< 0.15 s', ok: (v) => v < 0.15 },
};

function fmt(r) {
  if (!r) return '—';
  if (!r.ok) return `failed (${r.error.split(':')[0]})`;
  return r.unit === 'clips/s' ? `${r.value.toFixed(1)} clips/s` : `${r.value.toFixed(r.value < 1 ? 3 : 2)} s`;
}

async function parent() {
  if (!arg('out')) throw new Error('usage: node bench/gpu/check.mjs --out DIR [--cpu-only] [--steps FILE] [--deadline EPOCH_MS]');
  const out = path.resolve(arg('out'));
  mkdirSync(out, { recursive: true });
  const cpuOnly = flag('cpu-only');
  const deadline = Number(arg('deadline', String(Date.now() + 7 * 60_000)));
  const steps = arg('steps') && existsSync(arg('steps')) ? readFileSync(arg('steps'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  const gpuName = cpuOnly ? undefined : nvidiaSmi(['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'])?.split('\n')[0];

  // One probe child tells whether this addon sees CUDA (the parent never loads the addon).
  const probe = spawnSync(process.execPath, ['-e', `const a=require(${JSON.stringify(path.join(ROOT, 'build', 'Release', 'asdkit.node'))});console.log(JSON.stringify(a.info()))`], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.error(`the addon does not load: ${probe.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    process.exitCode = 1;
  }
  const info = probe.status === 0 ? JSON.parse(probe.stdout) : {};
  const cuda = !cpuOnly && info.cudaAvailable === true;
  const devB = cuda ? 'cuda' : 'cpu';
  const devices = cuda ? ['cuda', 'cpu'] : ['cpu']; // CUDA first: the device minutes go there
  // Without CUDA the full sizes would only time the CPU for minutes: small ones, and with
  // --require-cuda (the device run) a failure.
  const small = cpuOnly || !cuda;
  const S = small ? SMALL : FULL;
  const cudaMissing = flag('require-cuda') && !cuda;
  if (cudaMissing) console.error(`CUDA required but not available (built with CUDA: ${info.builtWithCuda}, available: ${info.cudaAvailable})`);

  // Data, written once for all children.
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'asdkit-gpu-check-'));
  const trainN = Math.max(...Object.values(S.trainBatches)) * S.trainBatch;
  const data = {
    agreePaths: writeClips(path.join(tmp, 'agree'), 4, 6 * SR, 'a'),
    extractPaths: writeClips(path.join(tmp, 'extract'), Math.min(256, Math.max(...Object.values(S.extractClips))), 10 * SR, 'e'),
    trainPaths: writeClips(path.join(tmp, 'train'), trainN, S.trainSec * SR, 't'),
  };
  const dataFile = path.join(tmp, 'data.json');
  writeFileSync(dataFile, JSON.stringify(data));

  const left = () => (deadline - Date.now()) / 1000;
  const results = [];
  let agreement = { checks: [], ok: false, error: 'not run' };
  try {
    if (probe.status === 0) {
      const r = await runSection('agree', devB, small, dataFile, Math.max(30, Math.min(240, left())));
      agreement = r.ok ? { checks: r.checks, ok: r.checks.every((c) => c.ok), peakGpuMiB: r.peakGpuMiB } : { checks: [], ok: false, error: r.error };
      console.error(`agreement (cpu vs ${devB}): ${agreement.ok ? 'passed' : `FAILED ${agreement.error ?? ''}`}`);
      for (const c of agreement.checks) console.error(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.err.toExponential(2)} (tol ${c.tol})`);
      const plan = [];
      for (const d of devices) {
        plan.push(['knn', d]);
        if (d === 'cuda') plan.push(['knn_4g', d]);
        plan.push(['extract', d], ['train_fp32', d]);
        if (d === 'cuda') plan.push(['train_bf16', d]);
        plan.push(['embed_fp32', d]);
        if (d === 'cuda') plan.push(['embed_bf16', d]);
      }
      for (const [s, d] of plan) {
        if (left() < 10) {
          results.push({ section: s, device: d, ok: false, error: 'skipped: the time budget is spent' });
          continue;
        }
        const r = await runSection(s, d, small, dataFile, Math.max(10, Math.min(180, left())));
        console.error(`${s} on ${d}: ${fmt(r)}${r.peakGpuMiB != null ? `, peak GPU ${r.peakGpuMiB} MiB` : ''} (${r.wallS.toFixed(1)} s wall)`);
        results.push(r);
      }
    }
  } finally {
    if (!process.env.ASDKIT_GPU_CHECK_KEEP) rmSync(tmp, { recursive: true, force: true });
  }

  const device = cuda ? `${gpuName ?? 'CUDA device'} (${info.cudaDeviceCount} visible)` : `CPU only (${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} threads)${cpuOnly ? ', --cpu-only dry run' : ', no CUDA device seen'}`;
  const report = {
    device,
    cpu: `${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} threads`,
    mode: cpuOnly ? 'cpu-only' : 'device',
    cudaRequiredButMissing: cudaMissing,
    date: new Date().toISOString(),
    torchVersion: info.torchVersion,
    builtWithCuda: info.builtWithCuda,
    cudaAvailable: info.cudaAvailable,
    steps,
    tolerances: TOL,
    agreement,
    timings: results.map(({ info: _i, ...r }) => r),
    targets: Object.fromEntries(
      Object.entries(TARGET).map(([k, t]) => {
        const r = results.find((x) => x.section === k && x.device === 'cuda' && x.ok);
        return [k, { target: t.text, value: r?.value ?? null, met: r && !small ? t.ok(r.value) : null }];
      }),
    ),
    peakGpuMemory: cuda ? 'nvidia-smi memory.used sampled every 100 ms during each section, less the reading before it (the addon reports no GPU memory; includes the CUDA context)' : 'n/a (no CUDA)',
  };
  writeFileSync(path.join(out, 'gpu-check.json'), `${JSON.stringify(report, null, 2)}\n`);

  const md = [];
  md.push(`# asdkit GPU check — ${device}`, '');
  md.push(`LibTorch ${info.torchVersion ?? '?'} (built with CUDA: ${info.builtWithCuda ?? '?'}, CUDA available: ${info.cudaAvailable ?? '?'}); CPU ${report.cpu}; ${report.date}${small ? '; small sizes (--cpu-only)' : ''}.`, '');
  if (steps.length) {
    md.push('| step | status | seconds | note |', '| --- | --- | --- | --- |');
    for (const s of steps) md.push(`| ${s.name} | ${s.status} | ${s.seconds ?? ''} | ${s.note ?? ''} |`);
    md.push('');
  }
  if (cudaMissing) md.push('**CUDA was required but the addon sees none: CPU-only figures at small sizes.**', '');
  md.push(`## Agreement: cpu vs ${devB} — ${agreement.ok ? 'passed' : 'FAILED'}`, '');
  if (agreement.error) md.push(`Error: ${agreement.error}`, '');
  md.push('| check | error | tolerance | result |', '| --- | --- | --- | --- |');
  for (const c of agreement.checks) md.push(`| ${c.name} | ${c.err.toExponential(2)} | ${c.tol}${c.note ? ` (${c.note})` : ''} | ${c.ok ? 'ok' : 'FAIL'} |`);
  md.push('', `## Timings — ${device}`, '');
  md.push(`| section | size | ${devices.join(' | ')} |${cuda ? ' CUDA speed-up | peak GPU MiB | target |' : ''}`);
  md.push(`| --- | --- |${devices.map(() => ' --- |').join('')}${cuda ? ' --- | --- | --- |' : ''}`);
  for (const s of Object.keys(LABEL)) {
    const row = Object.fromEntries(devices.map((d) => [d, results.find((r) => r.section === s && r.device === d)]));
    if (!Object.values(row).some(Boolean)) continue;
    const size = Object.values(row).find((r) => r?.ok)?.size ?? '';
    let extra = '';
    if (cuda) {
      const [g, c] = [row.cuda, row.cpu];
      const speed = g?.ok && c?.ok ? (g.unit === 'clips/s' ? g.value / c.value : c.value / g.value) : undefined;
      const t = TARGET[s];
      const met = t && g?.ok ? (t.ok(g.value) ? 'met' : 'missed') : '';
      extra = ` ${speed ? `${speed.toFixed(1)}×` : '—'} | ${g?.peakGpuMiB ?? '—'} | ${t ? `${t.text} ${met}` : ''} |`;
    }
    md.push(`| ${LABEL[s]} | ${size} | ${devices.map((d) => fmt(row[d])).join(' | ')} |${extra}`);
  }
  if (cuda) md.push('', 'CPU rows of bf16 sections are absent: bf16 autocast is CUDA only. Peak GPU memory: nvidia-smi memory.used during the section less the idle reading (CUDA context included).');
  writeFileSync(path.join(out, 'gpu-check.md'), `${md.join('\n')}\n`);
  console.error(`wrote ${path.join(out, 'gpu-check.json')} and gpu-check.md`);

  const failed = cudaMissing || !agreement.ok || results.some((r) => !r.ok);
  if (failed) process.exitCode = 1;
}

if (arg('section')) await child();
else await parent();
