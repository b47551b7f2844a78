/**
 * Benchmarks (medians of repeated runs, each against a baseline measured in the same run):
 *   1. kNN scoring: native batched (GEMM + chunked top-k) vs a naive JS loop, same data;
 *      then the native path at DCASE scale (16k train × 2k test × 512-d).
 *   2. raw_spec extraction: clips/s of decode + STFT + mel + pooling for 10 s clips.
 *   3. with --large: 200k train × 20k test (dim ASDKIT_BENCH_DIM, default 128) within a memory budget.
 *   4. training/extraction of the dual- and multi-branch networks on a synthetic dcase2023-shaped
 *      set (bench/train.ts): train-step time split into data-wait and compute, clips/s, peak RSS,
 *      and the same networks in plain PyTorch (bench/reference/, Debian's python3-torch, as
 *      installed and with jemalloc) timed in the same run: ratios ours / PyTorch.
 *   5. BEATs-base / EAT-base frozen extraction clips/s (bench/pretrained.ts), batched vs one clip at a time.
 *   6. `asdkit detect` clips/s of exported raw_spec and dis_spec_scac_trainable detectors vs the run's own
 *      extract + score steps on the same 1 000 ten-second clips, with peak RSS (bench/detect.ts).
 *   7. `asdkit serve` under autocannon load (requests/s, p50/p99) vs detector.score directly (bench/serve.ts).
 *   8. grid cells per hour at --jobs 1 vs --jobs 2 (bench/grid.ts).
 * Usage: npm run bench [-- --quick] [-- --large] [-- --only knn|extract|train|paired|recipe|visualize|pretrained|detect|serve|grid[,…]]
 *   (paired: only the train section's interleaved ours-vs-PyTorch rounds, bench/interleaved.ts)
 *                      [-- --ref-steps N] (timed PyTorch steps/batches) [-- --no-ref] (skip PyTorch)
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fitScore, type EmbeddingSet } from '../src/backends/score.js';
import { encodeWav16 } from '../src/data/wav.js';
import { readWav, stftPool, stftPoolFiles } from '../src/features/index.js';
import { stackWaves } from '../src/native/waves.js';
import { INSTALL_HINT, JEMALLOC_CONF, jemallocPath, referencePython, referenceUnavailable, runRawSpecReference } from './reference.js';
import { native, setThreads } from '../src/native/index.js';
import { benchDetect } from './detect.js';
import { benchGrid } from './grid.js';
import { benchServe } from './serve.js';
import { benchPretrained } from './pretrained.js';
import { benchRecipe } from './recipe.js';
import { benchTraining } from './train.js';
import { benchVisualize } from './visualize.js';
import { median } from './util.js';

const quick = process.argv.includes('--quick');
const REPEATS = quick ? 3 : 5;

const SECTIONS = ['knn', 'extract', 'train', 'paired', 'recipe', 'visualize', 'pretrained', 'detect', 'serve', 'grid'] as const;
/** `--only a,b` or `--only=a,b`: run just those sections (default: all). */
function selectedSections(): Set<string> {
  const i = process.argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
  if (i < 0) return new Set(SECTIONS);
  const arg = process.argv[i].startsWith('--only=') ? process.argv[i].slice('--only='.length) : process.argv[i + 1];
  const names = (arg ?? '').split(',').filter(Boolean);
  const bad = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (names.length === 0 || bad.length) {
    console.error(`--only takes a comma-separated list of: ${SECTIONS.join(', ')}${bad.length ? ` (got ${bad.join(', ')})` : ''}`);
    process.exit(2);
  }
  return new Set(names);
}
const only = selectedSections();

/** `--ref-steps N` / `--ref-steps=N`: timed PyTorch train steps and inference batches. */
function refSteps(): number | undefined {
  const i = process.argv.findIndex((a) => a === '--ref-steps' || a.startsWith('--ref-steps='));
  if (i < 0) return undefined;
  const arg = process.argv[i].startsWith('--ref-steps=') ? process.argv[i].slice('--ref-steps='.length) : process.argv[i + 1];
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--ref-steps takes a positive integer (got ${arg})`);
    process.exit(2);
  }
  return n;
}

async function timeIt(fn: () => Promise<unknown> | unknown, repeats = REPEATS): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

function randomSet(rows: number, dim: number, seed: number, targetEvery = 100): EmbeddingSet {
  let s = seed >>> 0;
  const embed = new Float32Array(rows * dim);
  for (let i = 0; i < embed.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    embed[i] = s / 4294967296 - 0.5;
  }
  return { embed, dim, section: new Int32Array(rows), isTarget: Int32Array.from({ length: rows }, (_, i) => (i % targetEvery === 0 ? 1 : 0)) };
}

/** The obvious JS implementation: per query, cosine distance to every reference, keep the min. */
function naiveKnn(train: EmbeddingSet, queries: EmbeddingSet): Float64Array {
  const d = train.dim;
  const norm = (e: Float32Array, r: number) => {
    let n = 0;
    for (let k = 0; k < d; k++) n += e[r * d + k] ** 2;
    return Math.max(Math.sqrt(n), 1e-12);
  };
  const nTrain = train.embed.length / d;
  const tn = Float64Array.from({ length: nTrain }, (_, r) => norm(train.embed, r));
  const nq = queries.embed.length / d;
  const out = new Float64Array(nq);
  for (let q = 0; q < nq; q++) {
    const qn = norm(queries.embed, q);
    let bestS = Infinity;
    let bestT = Infinity;
    for (let r = 0; r < nTrain; r++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        const diff = queries.embed[q * d + k] / qn - train.embed[r * d + k] / tn[r];
        s += diff * diff;
      }
      const dist = Math.sqrt(s);
      if (train.isTarget[r]) bestT = Math.min(bestT, dist);
      else bestS = Math.min(bestS, dist);
    }
    out[q] = Math.min(bestS, bestT) / 2;
  }
  return out;
}

const KNN = { tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1 };

async function benchKnn(): Promise<void> {
  const [nTrain, nTest, dim] = quick ? [2000, 250, 128] : [4000, 500, 256];
  const train = randomSet(nTrain, dim, 1);
  const test = randomSet(nTest, dim, 2);
  const tNative = await timeIt(() => fitScore(KNN, train, [test]));
  const tNaive = await timeIt(() => naiveKnn(train, test), quick ? 1 : 3);
  const a = (await fitScore(KNN, train, [test])).scores[0];
  const b = naiveKnn(train, test);
  const maxDiff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  console.log(`kNN ${nTrain} train × ${nTest} test × ${dim}-d (cosine, k=1):`);
  console.log(`  native batched   ${(tNative * 1000).toFixed(1)} ms  (${(nTest / tNative).toFixed(0)} queries/s)`);
  console.log(`  naive JS loop    ${(tNaive * 1000).toFixed(1)} ms  (${(nTest / tNaive).toFixed(0)} queries/s)`);
  console.log(`  ratio            ${(tNaive / tNative).toFixed(1)}× faster (max |diff| ${maxDiff.toExponential(2)})`);

  // DCASE scale: batched native vs the same kernel called one query at a time (the unbatched
  // path), and the naive JS loop on a slice of the queries (throughputs compared per query).
  const big = quick ? [4000, 500, 512] : [16000, 2000, 512];
  const bt = randomSet(big[0], big[2], 3);
  const bq = randomSet(big[1], big[2], 4);
  const rssBefore = process.resourceUsage().maxRSS;
  const tBig = await timeIt(() => fitScore(KNN, bt, [bq]), quick ? 1 : 3);
  const peakMiB = (process.resourceUsage().maxRSS - rssBefore) / 1024;
  const sliceRows = quick ? 20 : 50;
  const slice = (s: EmbeddingSet, n: number): EmbeddingSet => ({ ...s, embed: s.embed.subarray(0, n * s.dim), section: new Int32Array(n), isTarget: new Int32Array(n) });
  const one = (i: number): EmbeddingSet => ({ embed: bq.embed.subarray(i * big[2], (i + 1) * big[2]), dim: big[2], section: [0], isTarget: [0] });
  // One fit, then one kernel call per query (each query its own set): the batching is all that differs.
  const singles = Array.from({ length: sliceRows }, (_, i) => one(i));
  const tFitOnly = await timeIt(() => fitScore(KNN, bt, []), 1);
  const tUnbatched = (await timeIt(() => fitScore(KNN, bt, singles), 1)) - tFitOnly;
  const tNaiveSlice = await timeIt(() => naiveKnn(bt, slice(bq, sliceRows / 5)), 1);
  const qps = (n: number, t: number) => n / t;
  const batched = qps(big[1], tBig);
  const unbatched = qps(sliceRows, tUnbatched);
  const naive = qps(sliceRows / 5, tNaiveSlice);
  console.log(`kNN ${big[0]} train × ${big[1]} test × ${big[2]}-d (cosine, k=1):`);
  console.log(`  native batched   ${(tBig * 1000).toFixed(0)} ms, ${batched.toFixed(0)} queries/s, peak RSS growth ${peakMiB.toFixed(0)} MiB`);
  console.log(`  native unbatched ${unbatched.toFixed(1)} queries/s (fit once, one kernel call per query, ${sliceRows} queries) → batched is ${(batched / unbatched).toFixed(1)}×`);
  console.log(`  naive JS loop    ${naive.toFixed(1)} queries/s (${sliceRows / 5} queries) → batched is ${(batched / naive).toFixed(1)}×`);
  if (process.argv.includes('--large')) await benchLarge();
}

/** 200k × 20k: completes within the kernel's memory budget (default 256 MiB of working memory). */
async function benchLarge(): Promise<void> {
  const [n, q, d] = [200000, 20000, Number(process.env.ASDKIT_BENCH_DIM ?? 128)];
  const train = randomSet(n, d, 5);
  const test = randomSet(q, d, 6);
  const budget = 256 * 2 ** 20;
  const before = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  await fitScore(KNN, train, [test], { memoryBudgetBytes: budget });
  const t = (performance.now() - t0) / 1000;
  const inputs = (train.embed.byteLength + test.embed.byteLength) / 2 ** 20;
  console.log(
    `kNN ${n} × ${q} × ${d}-d: ${t.toFixed(1)} s; peak RSS growth ${((process.resourceUsage().maxRSS - before) / 1024).toFixed(0)} MiB ` +
      `(inputs ${inputs.toFixed(0)} MiB, working-memory budget ${budget / 2 ** 20} MiB)`,
  );
}

/**
 * raw_spec extraction (STFT 1024/512 → 128 HTK mels → time mean) of 10 s clips in batches of 64:
 * ours from WAV files (decode included) and on the same clips already in memory, and the
 * same-run PyTorch baseline bench/reference/raw_spec.py (plain torch.stft + mel matmul + mean on
 * the same in-memory clips, as installed and with jemalloc), its embeddings checked against ours.
 */
async function benchExtract(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-bench-'));
  const n = quick ? 32 : 128;
  const len = 16000 * 10;
  const batch = 64;
  const repeats = quick ? 2 : 3;
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const w = Float32Array.from({ length: len }, (_, k) => 0.3 * Math.sin((2 * Math.PI * (200 + i) * k) / 16000) + 0.05 * Math.sin(k * 0.37 * (i + 1)));
    const p = path.join(dir, `clip_${i}.wav`);
    await fs.writeFile(p, encodeWav16(w, 16000));
    paths.push(p);
  }
  try {
    const threads = native().info().numThreads;
    const t = await timeIt(() => stftPoolFiles(paths, len, { batchSize: batch }), repeats);
    console.log(`raw_spec extraction (${n} × 10 s clips, batch ${batch}, ${threads} threads; medians of ${repeats} after 1 warm-up):`);
    console.log(`  ours, from files  ${(n / t).toFixed(1)} clips/s (${(t * 1000).toFixed(0)} ms; decode + STFT + mel + pooling)`);
    // The decoded clips (16-bit quantised), so both sides below see exactly the same input.
    const decoded = await Promise.all(paths.map((p) => readWav(p, len)));
    const waves = stackWaves(decoded, 'bench');
    const tMem = await timeIt(() => stftPool(waves, { batchSize: batch }), repeats);
    const ours = (await stftPool(waves, { batchSize: batch })).data;
    const oursPerS = n / tMem;
    console.log(`  ours, in memory   ${oursPerS.toFixed(1)} clips/s (${(tMem * 1000).toFixed(0)} ms; frontendForward on the decoded clips)`);

    const python = referencePython();
    const why = referenceUnavailable(python);
    if (why) {
      console.log(`  PyTorch baseline  skipped: ${why}; install Debian's PyTorch with: ${INSTALL_HINT}`);
      return;
    }
    const wavesFile = path.join(dir, 'waves.f32');
    const outFile = path.join(dir, 'embed.f32');
    await fs.writeFile(wavesFile, new Uint8Array(waves.data.buffer, waves.data.byteOffset, waves.data.byteLength));
    const jemalloc = jemallocPath();
    const runs: [string, string | undefined][] = [['as installed', undefined]];
    if (jemalloc) runs.push(['jemalloc', jemalloc]);
    for (const [label, lib] of runs) {
      const r = runRawSpecReference(python, { waves: wavesFile, clips: n, samples: len, out: outFile, batch, threads, repeats }, lib);
      const ref = new Float32Array((await fs.readFile(outFile)).buffer.slice(0));
      let maxAbs = 0;
      let maxRef = 0;
      for (let i = 0; i < ref.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(ref[i] - ours[i]));
        maxRef = Math.max(maxRef, Math.abs(ref[i]));
      }
      console.log(
        `  PyTorch ${label.padEnd(12)} ${r.clipsPerS.toFixed(1)} clips/s (${(r.median * 1000).toFixed(0)} ms, ${(r.min * 1000).toFixed(0)}–${(r.max * 1000).toFixed(0)}; ` +
          `torch ${r.torch}, ${r.threads} threads) → ours in memory ${(oursPerS / r.clipsPerS).toFixed(2)}×, from files ${(n / t / r.clipsPerS).toFixed(2)}× its clips/s ` +
          `(embeddings ${ref.length === ours.length ? `max |diff| ${(maxAbs / maxRef).toExponential(1)} of max` : 'SIZE MISMATCH'})`,
      );
    }
    if (jemalloc) console.log(`  (jemalloc = LD_PRELOAD=${jemalloc} MALLOC_CONF=${JEMALLOC_CONF}; PyTorch times whole passes in memory: torch.stft + mel matmul + mean)`);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const threads = setThreads(Number(process.env.ASDKIT_THREADS ?? 0));
const info = native().info();
console.log(`asdkit bench — LibTorch ${info.torchVersion}, ${threads} threads, ${os.cpus()[0]?.model ?? 'cpu'}${quick ? ' (quick)' : ''}; medians of ${REPEATS}`);
if (only.has('knn')) await benchKnn();
if (only.has('extract')) await benchExtract();
if (only.has('train')) await benchTraining({ quick, noRef: process.argv.includes('--no-ref'), refSteps: refSteps() });
if (only.has('paired') && !only.has('train')) await benchTraining({ quick, pairedOnly: true });
if (only.has('recipe')) await benchRecipe({ quick, noRef: process.argv.includes('--no-ref') });
if (only.has('visualize')) await benchVisualize({ quick });
if (only.has('pretrained')) await benchPretrained({ quick });
if (only.has('detect')) await benchDetect({ quick });
if (only.has('serve')) await benchServe({ quick });
if (only.has('grid')) await benchGrid({ quick });
