/**
 * Training / extraction benchmark of the two discriminative networks on a synthetic
 * dcase2023-shaped set (18 s clips at 16 kHz, 187 classes, batch 64; --quick: 5 s clips, batch 8):
 *   - median train-step time (1 warm-up step dropped, 3 timed), split into data-wait and compute;
 *     in-run baseline: the time to decode one batch sequentially on the training path, i.e. what
 *     the prefetching loader hides;
 *   - extraction clips/s (eval-mode embedFiles); in-run baseline: raw_spec extraction of the same
 *     files (decode + STFT + mel + pooling); and one inference batch already in memory (embed);
 *   - peak RSS around each network's section;
 *   - in-run PyTorch baseline (bench/reference.ts): our own plain-PyTorch MultiResNet + SCAdaCos +
 *     Mixup (bench/reference/*.py) at the same size, batch, classes and thread count, run with
 *     Debian's python3-torch as installed and again with jemalloc preloaded; its parameter counts
 *     are checked against ours, then train step and inference batch ratios ours / PyTorch;
 *   - bf16 (where `info().cpuBf16`): our train step and inference batch with precision bf16, and
 *     the PyTorch baseline under torch.autocast('cpu', dtype=torch.bfloat16), jemalloc preloaded;
 *   - the machine's measured ceiling (native benchMatmul: the faster of a square torch::mm and a
 *     wide 3×3 channels-last convolution, float32 and bfloat16 where the CPU has it) and, per
 *     figure, the achieved GFLOP/s and its share of that ceiling: FLOPs = 2 × the Conv1d/Conv2d/Linear multiply-accumulates of the forward
 *     (bench/flops.ts from the config, checked against the PyTorch program's hook count), a train
 *     step = 3 × the forward (FFTs, BatchNorm, pooling, elementwise ops, loss and AdamW uncounted);
 *   - interleaved (bench/interleaved.ts): ours and PyTorch + jemalloc alternating in rounds, the
 *     ratio per round and its median — the figure to quote on a machine whose speed drifts;
 *   - the AE: training vectors/s (batch 256 vectors) and extraction clips/s, against raw_spec.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { encodeWav16 } from '../src/data/wav.js';
import { stftPoolFiles } from '../src/features/index.js';
import { ensureThreads, native, runJob } from '../src/native/index.js';
import { stackWaves } from '../src/native/waves.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { multiresnetConfigOf } from '../src/steps/from-config.js';
import { AeModel, DisModel } from '../src/train/model.js';
import { forwardMacs } from './flops.js';
import { benchInterleaved } from './interleaved.js';
import { compareCounts, INSTALL_HINT, JEMALLOC_CONF, jemallocPath, referencePython, referenceUnavailable, runReference, type Counts, type RefResult } from './reference.js';
import { median, row } from './util.js';

const SR = 16000;
const NUM_CLASSES = 187; // dcase2023 `main` label set
const MACHINES = ['bearing', 'fan', 'gearbox', 'slider', 'ToyCar', 'ToyTrain', 'valve'];
const WARMUP_STEPS = 1;
const TIMED_STEPS = 3;
const INTERLEAVED_ROUNDS = 5;

const NETWORKS = [
  { key: 'dual' as const, name: 'dual-branch', recipe: 'dis_spec_scac_trainable' },
  { key: 'multi' as const, name: 'multi-branch', recipe: 'dis_multispec_scac_trainable' },
];

const rssMiB = () => process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB on Linux
const since = (t0: number) => (performance.now() - t0) / 1000;
const f = (x: number, digits = 3) => x.toFixed(digits);

/**
 * Writes `n` clips of `len` samples as 16-bit mono WAVs under <dir>/<machine>/train/ with
 * DCASE-style names (machines round-robin). Content: LCG noise + two tones per clip, generated
 * with a rotation oscillator so no per-sample sin() is needed.
 */
async function writeSet(dir: string, n: number, len: number): Promise<string[]> {
  const paths: string[] = [];
  let s = 12345 >>> 0;
  const wave = new Float32Array(len);
  for (let i = 0; i < n; i++) {
    const machine = MACHINES[i % MACHINES.length];
    const tones = [100 + 37 * (i % 29), 1000 + 113 * (i % 17)].map((hz, j) => {
      const w = (2 * Math.PI * hz) / SR;
      return { c: Math.cos(w), s: Math.sin(w), x: 0.2 / (j + 1), y: 0 };
    });
    for (let k = 0; k < len; k++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      let v = 0.05 * (s / 4294967296 - 0.5);
      for (const t of tones) {
        const x = t.x * t.c - t.y * t.s;
        t.y = t.x * t.s + t.y * t.c;
        t.x = x;
        v += x;
      }
      wave[k] = v;
    }
    const d = path.join(dir, machine, 'train');
    await fs.mkdir(d, { recursive: true });
    const p = path.join(d, `section_00_source_train_normal_${String(i).padStart(4, '0')}_noAttributes.wav`);
    await fs.writeFile(p, encodeWav16(wave, SR));
    paths.push(p);
  }
  return paths;
}

/** Median wall time (s) of `repeats` calls after one warm-up call of `warmup` (default: fn itself). */
async function timeMedian(fn: () => Promise<unknown>, repeats: number, warmup: () => Promise<unknown> = fn): Promise<number> {
  await warmup();
  const ts: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await fn();
    ts.push(since(t0));
  }
  return median(ts);
}

export interface TrainBenchOptions {
  quick: boolean;
  /** Skip the PyTorch baseline. */
  noRef?: boolean;
  /** Timed PyTorch train steps / inference batches (default: as many as ours; 1 with --quick). */
  refSteps?: number;
  /** Only the interleaved comparison (`--only paired`): no sequential figures, no AE. */
  pairedOnly?: boolean;
}

/** Our side of the comparison with the PyTorch baseline, per network. */
interface Ours {
  key: 'dual' | 'multi';
  name: string;
  counts: Counts;
  stepS: number;
  computeS: number;
  inferS: number;
  extractBatchS: number;
  /** Forward multiply-accumulates per clip (bench/flops.ts). */
  macs: number;
  bf16?: { stepS: number; computeS: number; inferS: number; nonFinite: boolean };
}

/** The recipe's optimiser and loader settings for a trainEpoch call. */
function trainOptsOf(cfg: ReturnType<typeof resolveRunConfig>, batch: number) {
  const tr = cfg.trainer;
  const dm = cfg.datamodule;
  return {
    batchSize: batch,
    seed: 0,
    lr: tr?.lr,
    weightDecay: tr?.weight_decay,
    beta1: tr?.betas?.[0],
    beta2: tr?.betas?.[1],
    eps: tr?.eps,
    ioThreads: dm?.io_threads,
    prefetch: dm?.prefetch,
  };
}

/** The measured ceilings (GFLOP/s) the achieved rates are set against. */
interface Ceiling {
  fp32: number;
  bf16?: number;
}

export async function benchTraining(opts: TrainBenchOptions): Promise<void> {
  const { quick } = opts;
  const sec = quick ? 5 : 18;
  const secSamples = SR * sec;
  const batch = quick ? 8 : 64;
  const nClips = (WARMUP_STEPS + TIMED_STEPS) * batch;
  const extractRepeats = quick ? 1 : 3;
  const inferRepeats = quick ? 1 : TIMED_STEPS;
  ensureThreads();
  const { numThreads: threads, cpuBf16, cpuBf16Flags } = native().info();
  // The ceiling, before any model runs: the faster of a square product (LibTorch's BLAS) and a
  // wide 3×3 convolution (oneDNN, what the networks' convolutions run on), float32 and bfloat16.
  const GEMM_N = 2048;
  const CONV_N = 256;
  const gemmIters = quick ? 3 : 10;
  const ceiling = async (dtype: 'float32' | 'bfloat16') => {
    const mm = (await runJob(() => native().benchMatmul({ n: GEMM_N, iters: gemmIters, threads, dtype }))).gflops;
    const conv = (await runJob(() => native().benchMatmul({ op: 'conv', n: CONV_N, iters: gemmIters, threads, dtype }))).gflops;
    return { mm, conv, best: Math.max(mm, conv) };
  };
  const c32 = await ceiling('float32');
  const c16 = cpuBf16 ? await ceiling('bfloat16') : undefined;
  const gemm: Ceiling = { fp32: c32.best, bf16: c16?.best };

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-bench-train-'));
  try {
    let t0 = performance.now();
    const paths = await writeSet(dir, nClips, secSamples);
    const tWrite = since(t0);
    let l = 987654321 >>> 0;
    const labels = Int32Array.from({ length: nClips }, () => {
      l = (Math.imul(l, 1664525) + 1013904223) >>> 0;
      return Math.floor((l / 4294967296) * NUM_CLASSES);
    });

    console.log(
      `training/extraction (synthetic dcase2023-shaped set: ${nClips} × ${sec} s clips in ${MACHINES.length} machines, ` +
        `${NUM_CLASSES} classes, batch ${batch}, ${threads} threads; written in ${f(tWrite, 1)} s):`,
    );

    // Decode baseline: one batch decoded on the training path with no prefetching and no decoder
    // threads — each file's readWav job (decode + tile/crop to the window) is awaited before the
    // next starts, so this is what a step would wait if the loader did not overlap decoding with
    // compute. Files come from the page cache here as they do for the loader (just written).
    // Note the loader's 2 decoder threads share the CPU with LibTorch's compute threads, so
    // hiding the decode can still show up as a slightly longer compute time.
    const batchPaths = paths.slice(0, batch);
    const tDecode = await timeMedian(async () => {
      for (const p of batchPaths) await native().readWav(p, secSamples).promise;
    }, 3);
    // Extraction baseline: the raw_spec frontend (decode + STFT + mel + pooling) over the same files.
    const tRaw = await timeMedian(() => stftPoolFiles(paths, secSamples, { batchSize: batch }), extractRepeats);
    const rawClipsPerS = nClips / tRaw;
    const ceil = (c: { mm: number; conv: number; best: number }) => `${f(c.best, 1)} (mm ${f(c.mm, 1)}, conv ${f(c.conv, 1)})`;
    console.log(
      row(
        'ceiling',
        `${ceil(c32)} GFLOP/s float32` +
          (c16 ? `, ${ceil(c16)} GFLOP/s bfloat16` : `; no bf16 rows (CPU bf16: ${cpuBf16Flags})`) +
          ` (the faster of ${GEMM_N}² torch::mm and a 3×3 ${CONV_N} → ${CONV_N}-channel channels-last convolution of 64 × 16 × 18; ` +
          `${threads} threads, median of ${gemmIters} after 2 warm-ups; "% of peak" below is against it)`,
      ),
    );
    console.log(row('decode alone', `${f(tDecode)} s/batch (${batch} clips read one after another, no prefetch)`));
    console.log(row('raw_spec', `${f(rawClipsPerS, 1)} clips/s extraction of the same ${nClips} clips (median of ${extractRepeats})`));

    // The in-memory inference batch: the same clips as the first training batch, already decoded
    // and stacked into one (B, L) tensor, as the PyTorch baseline's batch is (stacking 64 arrays
    // per call would time a fresh 74 MB allocation and copy, not the network).
    const batchWaves = stackWaves(await Promise.all(batchPaths.map(async (p) => (await native().readWav(p, secSamples).promise).data)));
    const ours: Ours[] = [];

    for (const net of opts.pairedOnly ? [] : NETWORKS) {
      const rssBefore = rssMiB();
      const cfg = resolveRunConfig(net.recipe, { dcase: 'dcase2023' });
      if (!cfg.model) throw new Error(`${net.recipe} has no model section`);
      const model = DisModel.create({ ...multiresnetConfigOf(cfg.model), numClasses: NUM_CLASSES, secSamples }, 0);
      const counts = model.counts();
      const macs = forwardMacs(multiresnetConfigOf(cfg.model), secSamples);

      // One epoch over (warm-up + timed) × batch clips: exactly that many steps.
      const trainOpts = trainOptsOf(cfg, batch);
      const res = await model.trainEpoch({ paths, labels, numClasses: NUM_CLASSES }, 0, trainOpts);
      if (res.metrics.length !== WARMUP_STEPS + TIMED_STEPS) throw new Error(`expected ${WARMUP_STEPS + TIMED_STEPS} steps, got ${res.metrics.length}`);
      const timed = res.metrics.slice(WARMUP_STEPS);
      const stepS = median(timed.map((m) => (m.waitMs + m.computeMs) / 1000));
      const waitS = median(timed.map((m) => m.waitMs / 1000));
      const computeS = median(timed.map((m) => m.computeMs / 1000));

      // Extraction (eval mode, no grad): warm-up on one batch, then the whole set.
      const tEmbed = await timeMedian(
        () => model.embedFiles(paths, { batchSize: batch }),
        extractRepeats,
        () => model.embedFiles(batchPaths, { batchSize: batch }),
      );
      const clipsPerS = nClips / tEmbed;
      // One batch already in memory (no decoding): what the PyTorch baseline's inference times.
      const tInfer = await timeMedian(() => model.embed(batchWaves, { batchSize: batch }), inferRepeats);
      const rssAfter = rssMiB();
      model.dispose();
      const o: Ours = { key: net.key, name: net.name, counts, stepS, computeS, inferS: tInfer, extractBatchS: batch / clipsPerS, macs };
      ours.push(o);
      // bf16: the same epoch from the same initialisation, and the in-memory inference batch.
      if (cpuBf16) {
        const mb = DisModel.create({ ...multiresnetConfigOf(cfg.model), numClasses: NUM_CLASSES, secSamples }, 0);
        const rb = await mb.trainEpoch({ paths, labels, numClasses: NUM_CLASSES }, 0, { ...trainOpts, precision: 'bf16' });
        const tb = rb.metrics.slice(WARMUP_STEPS);
        const inferBf16 = await timeMedian(() => mb.embed(batchWaves, { batchSize: batch, precision: 'bf16' }), inferRepeats);
        mb.dispose();
        o.bf16 = {
          stepS: median(tb.map((m) => (m.waitMs + m.computeMs) / 1000)),
          computeS: median(tb.map((m) => m.computeMs / 1000)),
          inferS: inferBf16,
          nonFinite: rb.nonFinite,
        };
      }

      console.log(
        `${net.name} (${net.recipe}: ${(counts.trainable / 1e6).toFixed(2)} M trainable params, E ${counts.embedSize}` +
          `${res.nonFinite ? ', NON-FINITE LOSS' : ''}):`,
      );
      console.log(row('train step', `${f(stepS)} s  median of ${TIMED_STEPS} (${WARMUP_STEPS} warm-up dropped)`));
      console.log(row('  data-wait', `${f(waitS * 1000, waitS < 1e-3 ? 3 : 1)} ms  (${f((100 * waitS) / stepS, 2)} % of the step)`));
      console.log(row('  compute', `${f(computeS * 1000, 0)} ms  (Mixup + forward + loss + backward + AdamW)`));
      const hidden =
        waitS < 1e-3
          ? `fully hidden (wait < 1 ms; ≥ ${f(tDecode / 1e-3, 0)}×)`
          : `${f(tDecode / waitS, 1)}× hidden (${f(100 * (1 - waitS / tDecode), 1)} % of the decode)`;
      console.log(row('  prefetch', `decode alone ${f(tDecode)} s/batch vs data-wait ${f(waitS, waitS < 1e-3 ? 6 : 3)} s/step → ${hidden}`));
      console.log(
        row('extraction', `${f(clipsPerS, 1)} clips/s (${f(batch / clipsPerS)} s/batch, median of ${extractRepeats}) → costs ${f(rawClipsPerS / clipsPerS, 1)}× raw_spec`),
      );
      console.log(row('inference', `${f(tInfer)} s per batch of ${batch} already in memory (eval, no grad; median of ${inferRepeats})`));
      console.log(row('peak RSS', `${f(rssAfter, 0)} MiB (${f(rssBefore, 0)} MiB before this network; +${f(rssAfter - rssBefore, 0)} MiB)`));
      const trainGf = (3 * 2 * macs * batch) / 1e9;
      const inferGf = (2 * macs * batch) / 1e9;
      console.log(
        row(
          'GFLOP/s',
          `${f(macs / 1e9, 3)} GMAC/clip forward → train step ${f(trainGf, 0)} GFLOP: ${rate(trainGf, computeS, gemm.fp32)} (compute time); ` +
            `inference ${f(inferGf, 0)} GFLOP: ${rate(inferGf, tInfer, gemm.fp32)}`,
        ),
      );
      if (o.bf16) {
        const b = o.bf16;
        console.log(
          row(
            'bf16',
            `train step ${f(b.stepS)} s (compute ${f(b.computeS)} s${b.nonFinite ? ', NON-FINITE LOSS' : ''}) = ${f(b.computeS / computeS, 2)}× fp32 compute, ` +
              `${rate(trainGf, b.computeS, gemm.bf16!)}; inference ${f(b.inferS)} s = ${f(b.inferS / tInfer, 2)}× fp32, ${rate(inferGf, b.inferS, gemm.bf16!)}`,
          ),
        );
      }
    }
    // The ceiling again: on a shared machine the two figures show how steady it was.
    const after = (await ceiling('float32')).best;
    console.log(
      row('ceiling again', `${f(after, 1)} GFLOP/s float32 after our networks (${f((100 * (after - gemm.fp32)) / gemm.fp32, 0)} % vs the start: the % of peak above use the start's figure)`),
    );
    if (!opts.noRef) {
      native().releaseCpuCache(); // give the cached blocks back before PyTorch runs
      if (!opts.pairedOnly) benchReference(ours, gemm, {
        threads,
        batch,
        samples: secSamples,
        classes: NUM_CLASSES,
        steps: opts.refSteps ?? (quick ? 1 : TIMED_STEPS),
        inferSteps: opts.refSteps ?? inferRepeats,
        nets: ours.map((o) => o.key),
        bf16: cpuBf16,
      });
      const python = referencePython();
      const jemalloc = jemallocPath();
      if (!referenceUnavailable(python) && jemalloc) {
        await benchInterleaved({
          python,
          jemalloc,
          threads,
          batch,
          samples: secSamples,
          classes: NUM_CLASSES,
          rounds: quick ? 1 : INTERLEAVED_ROUNDS,
          paths,
          labels,
          batchWaves,
          nets: NETWORKS.map((net) => {
            const cfg = resolveRunConfig(net.recipe, { dcase: 'dcase2023' });
            return {
              key: net.key,
              name: net.name,
              trainOpts: trainOptsOf(cfg, batch),
              create: () => DisModel.create({ ...multiresnetConfigOf(cfg.model!), numClasses: NUM_CLASSES, secSamples }, 0),
            };
          }),
        });
      }
    }
    if (!opts.pairedOnly) await benchAe(paths, secSamples, rawClipsPerS, extractRepeats, quick);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** AE: frame vectors of the whole clips, one epoch of 256-vector steps, extraction (AS-recon + embed). */
async function benchAe(paths: string[], secSamples: number, rawClipsPerS: number, repeats: number, quick: boolean): Promise<void> {
  const rssBefore = rssMiB();
  const model = AeModel.create({}, 0);
  const t0 = performance.now();
  const { rows } = await model.prepareVectors(paths);
  const tPrep = since(t0);
  const batch = 256;
  const maxSteps = quick ? 20 : 200;
  // Time a bounded number of steps: one epoch over the table would be thousands of steps here.
  const ac = new AbortController();
  const steps: number[] = [];
  await model
    .trainEpoch(0, {
      batchSize: batch,
      signal: ac.signal,
      onStep: (m) => {
        steps.push(m.computeMs + m.waitMs);
        if (steps.length >= maxSteps) ac.abort();
      },
    })
    .catch((e: Error) => {
      if (e.name !== 'AbortError') throw e;
    });
  const stepS = median(steps.slice(1)) / 1000;
  const tExtract = await timeMedian(() => model.extractFiles(paths, { length: secSamples, batchSize: 64 }), repeats);
  const clipsPerS = paths.length / tExtract;
  console.log(`AE (ae: ${(model.counts().trainable / 1e3).toFixed(1)} k params, ${rows} training vectors of 640 from ${paths.length} whole clips):`);
  console.log(row('vectors', `${f(rows / tPrep, 0)} vectors/s preparation (decode + log-mel + stacking)`));
  console.log(row('train step', `${f(stepS * 1000, 2)} ms per ${batch} vectors, median of ${steps.length - 1} → ${f(batch / stepS, 0)} vectors/s`));
  console.log(row('extraction', `${f(clipsPerS, 1)} clips/s (AS-recon + embed, median of ${repeats}) → costs ${f(rawClipsPerS / clipsPerS, 1)}× raw_spec`));
  console.log(row('peak RSS', `${f(rssMiB(), 0)} MiB (+${f(rssMiB() - rssBefore, 0)} MiB)`));
}

/** "123.4 GFLOP/s = 56 % of peak": `gflop` of work in `s` seconds against the measured `peak` rate. */
function rate(gflop: number, s: number, peak: number): string {
  const r = gflop / s;
  return `${f(r, 1)} GFLOP/s = ${f((100 * r) / peak, 0)} % of peak`;
}

/**
 * Runs bench/reference/bench.py with the allocator as installed and with jemalloc, checks its
 * parameter counts against ours and prints both sides and the ratios ours / PyTorch.
 */
function benchReference(ours: Ours[], gemm: Ceiling, opts: Parameters<typeof runReference>[1]): void {
  const python = referencePython();
  const why = referenceUnavailable(python);
  console.log(
    `PyTorch baseline (bench/reference/: same networks, SCAdaCos K 16 trainable, Mixup 0.5, AdamW; ${opts.threads} threads, ` +
      `batch ${opts.batch}, ${opts.samples / SR} s, ${opts.classes} classes; 1 warm-up, median of ${opts.steps} steps / ${opts.inferSteps} batches):`,
  );
  if (why) {
    console.log(row('skipped', `${why}; install Debian's PyTorch with: ${INSTALL_HINT}`));
    return;
  }
  const jemalloc = jemallocPath();
  console.log(row('allocators', `as installed (glibc malloc)${jemalloc ? `; jemalloc = LD_PRELOAD=${jemalloc} MALLOC_CONF=${JEMALLOC_CONF}` : ''}`));
  if (!jemalloc) console.log(row('', `(no libjemalloc.so.2 found: ${INSTALL_HINT}; or set ASDKIT_BENCH_JEMALLOC)`));
  const runs: { label: string; res: RefResult }[] = [];
  runs.push({ label: 'as installed', res: runReference(python, { ...opts, bf16: false }) });
  if (jemalloc) runs.push({ label: 'jemalloc', res: runReference(python, { ...opts, bf16: false }, jemalloc) });
  // bf16 against its best allocator only: the fair one.
  if (opts.bf16) runs.push({ label: jemalloc ? 'jem. bf16' : 'bf16', res: runReference(python, opts, jemalloc ?? undefined) });
  console.log(row('python', `${python}, torch ${runs[0].res.torch}, ${runs[0].res.threads} threads`));
  for (const o of ours) {
    const refs = runs.map((r) => ({ label: r.label, res: r.res, net: r.res.networks.find((n) => n.key === o.key) }));
    console.log(`  ${o.name}:`);
    const diffs = refs.flatMap((r) => (r.net ? compareCounts(o.counts, r.net.counts) : [`no ${o.key} result (${r.label})`]));
    const hookMacs = refs[0].net?.macs.total;
    if (hookMacs !== undefined && hookMacs !== o.macs) diffs.push(`forward MACs per clip ours ${o.macs} (bench/flops.ts) vs PyTorch hooks ${hookMacs}`);
    const c = o.counts;
    console.log(
      row(
        '  params',
        diffs.length
          ? `MISMATCH: ${diffs.join('; ')} — the times below compare different networks`
          : `equal: ${c.trainable.toLocaleString('en')} trainable + ${c.frozen} frozen, ${c.buffers.toLocaleString('en')} buffer elements, E ${c.embedSize}; ` +
            `${o.macs.toLocaleString('en')} forward MACs per clip (bench/flops.ts = PyTorch forward hooks)`,
      ),
    );
    const trainGf = (3 * 2 * o.macs * opts.batch) / 1e9;
    const inferGf = (2 * o.macs * opts.batch) / 1e9;
    const peak = (bf16: boolean) => (bf16 ? gemm.bf16 ?? gemm.fp32 : gemm.fp32);
    console.log(row('  train step', `ours ${f(o.stepS)} s (compute ${f(o.computeS)} s: ${rate(trainGf, o.computeS, gemm.fp32)})`));
    if (o.bf16) console.log(row('', `ours bf16 ${f(o.bf16.stepS)} s (compute ${f(o.bf16.computeS)} s: ${rate(trainGf, o.bf16.computeS, peak(true))})`));
    for (const r of refs) {
      const t = r.net?.train;
      if (!t) continue;
      const bf16 = r.res.precision === 'bf16';
      const oursS = bf16 ? o.bf16?.stepS : o.stepS;
      console.log(
        row(
          '',
          `PyTorch ${r.label.padEnd(12)} ${f(t.median)} s (${f(t.min)}–${f(t.max)}; fwd ${f(t.forward)} / bwd ${f(t.backward)} / AdamW ${f(t.adamw)}; ` +
            `${rate(trainGf, t.median, peak(bf16))})` +
            (oursS !== undefined ? ` → ours${bf16 ? ' bf16' : ''}/PyTorch ${f(oursS / t.median, 2)}×` : ''),
        ),
      );
    }
    console.log(row('  inference', `ours ${f(o.inferS)} s per batch in memory (${rate(inferGf, o.inferS, gemm.fp32)}; ${f(o.extractBatchS)} s per batch extracting from files)`));
    if (o.bf16) console.log(row('', `ours bf16 ${f(o.bf16.inferS)} s (${rate(inferGf, o.bf16.inferS, peak(true))})`));
    for (const r of refs) {
      const t = r.net?.infer;
      if (!t) continue;
      const bf16 = r.res.precision === 'bf16';
      const oursS = bf16 ? o.bf16?.inferS : o.inferS;
      console.log(
        row(
          '',
          `PyTorch ${r.label.padEnd(12)} ${f(t.median)} s (${f(t.min)}–${f(t.max)}; ${rate(inferGf, t.median, peak(bf16))})` +
            (oursS !== undefined ? ` → ours${bf16 ? ' bf16' : ''}/PyTorch ${f(oursS / t.median, 2)}×` : ''),
        ),
      );
    }
  }
  const rss = runs.map((r) => `${r.label} ${f(Math.max(...r.res.networks.map((n) => n.peakRssMiB)), 0)} MiB`).join(', ');
  console.log(row('PyTorch RSS', `peak ${rss}  (ratios < 1: ours faster)`));
}
