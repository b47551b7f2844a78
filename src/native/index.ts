/**
 * Loads the compiled addon (build/Release or a matching prebuilds/ binary, see native()) and gives its
 * surface types. Everything heavy returns a job handle; `runJob` turns it into a Promise that
 * honours an AbortSignal. Native jobs run at most `setMaxJobs(n)` at once per device (default 1);
 * the others wait their turn, and cancelling one that waits rejects it without running it.
 *
 * Errors thrown by the addon (cpp/addon/errors.h): a TypeError (code ASDKIT_ARG_TYPE) for an
 * argument of the wrong type, a RangeError (ASDKIT_ARG_VALUE) for a bad value, otherwise an Error
 * whose `code` is ASDKIT_CORE (a failure in the core), ASDKIT_BUSY (the model runs another job),
 * ASDKIT_DISPOSED or ASDKIT_STATE (a call out of order); a cancelled job rejects with an
 * AbortError (ABORT_ERR). A rejected job's `stack` is that of the call that started it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseThreads } from '../util/threads.js';

export interface TensorLike<T extends ArrayLike<number> | BigInt64Array = Float32Array> {
  data: T;
  shape: number[];
}

export interface NativeJob<T> {
  promise: Promise<T>;
  cancel(): void;
}

export type ProgressFn = (done: number, total: number) => void;

export interface NativeInfo {
  torchVersion: string;
  builtWithCuda: boolean;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  numThreads: number;
  hardwareThreads: number;
  /**
   * Whether precision "bf16" can run on the CPU: the CPU has avx512_bf16 or amx_bf16 (flags in
   * `cpuBf16Flags`, "none" without). ASDKIT_CPU_BF16=0 in the environment the addon loads with
   * turns it off (bf16 on the CPU is then refused, as on a CPU without it).
   */
  cpuBf16: boolean;
  cpuBf16Flags: string;
  /** The caching CPU allocator (off with ASDKIT_CPU_CACHE=0; ASDKIT_CPU_CACHE=<MiB> caps it). */
  cpuCache: { installed: boolean; cachedBytes: number; inUseBytes: number; limitBytes: number; hits: number; misses: number };
  /** Native jobs: the bound per device, those running (all devices) and waiting, and the most that ran at once since the last setMaxJobs. */
  jobs: { maxPerDevice: number; running: number; queued: number; peakRunning: number };
  /** Model handles not yet disposed or collected, and the bytes they report to V8 (weights, buffers, optimiser state, vectors). */
  models: { live: number; bytes: number };
}

export interface BenchMatmulResult {
  /** FLOPs / medianS / 1e9: mm 2n³; conv 2 · 64 · 16 · 18 · 9n² (3×3, n → n channels, channels-last). */
  gflops: number;
  medianS: number;
  minS: number;
  n: number;
  iters: number;
  threads: number;
  dtype: 'float32' | 'bfloat16';
  op: 'mm' | 'conv';
}

export interface NativeFrontendConfig {
  type: 'stft_pool';
  pool: string;
  nFft?: number;
  hopLength?: number;
  nMels?: number | null;
  power?: number;
  fMin?: number | null;
  fMax?: number | null;
  useLog?: boolean;
  temporalNorm?: boolean;
}

/**
 * Which channel(s) of a multi-channel clip the training/extraction reader takes: `near` (channel
 * 0; the default, as the DCASE 2026 baseline), `far` (channel 1), `mean`, `subtract` (spectral
 * subtraction of far from near in the STFT domain) or `both` (raw features only: one embedding per
 * channel, concatenated). A mono clip is read as it is for near/mean; the others need two channels.
 */
export type ChannelMode = 'near' | 'far' | 'mean' | 'subtract' | 'both';

/** The channel settings of a run as the addon reads them (absent: near; α 1.0 and floor 0.05 for subtract). */
export interface NativeChannelOptions {
  channel?: ChannelMode;
  /** subtract: |X_near| − channelAlpha·|X_far| … */
  channelAlpha?: number;
  /** … floored at channelFloor·|X_near|. */
  channelFloor?: number;
}

export interface NativeExtractOptions extends NativeChannelOptions {
  frontend: NativeFrontendConfig;
  length: number;
  batchSize?: number;
  ioThreads?: number;
  device?: string;
}

export interface NativeEmbedSet {
  embed: TensorLike<Float32Array>;
  section: Int32Array;
  isTarget: Int32Array;
}

/**
 * The backend parameters the addon reads, under ASDKit's names (one left out keeps the core's
 * default): Knn `n_neighbors_so`, `n_neighbors_ta`, `smote_ratio`, `smote_neighbors`; Kmeans
 * `n_clusters`; KnnRescale `n_neighbors`, `k_ref_normalize`; all `metric`, `sep_section`.
 * Anything else (e.g. `embed_key`) is ignored.
 */
export type NativeBackendParams = {
  n_neighbors_so?: number;
  n_neighbors_ta?: number;
  smote_ratio?: number;
  smote_neighbors?: number;
  n_clusters?: number;
  n_neighbors?: number;
  k_ref_normalize?: number;
  metric?: string;
  sep_section?: boolean;
} & Record<string, number | string | boolean>;

/** What `backendScore` reads of a backend (cpp/addon/backends_api.cc). */
export interface NativeBackendConfig {
  /** Knn | Kmeans | KnnRescale (another name is a RangeError). */
  kind: string;
  params: NativeBackendParams;
  /** Kmeans: k-means++ restarts, the lowest inertia wins (a run option, not ASDKit's; default 1). */
  nInit?: number;
}

/** How `backendScore` runs: the device, and the bytes one distance chunk may take (default 256 MiB). */
export interface NativeScoreOptions {
  device?: string;
  memoryBudgetBytes?: number;
}

/**
 * A fitted backend's state: one group per training section (`sections` ascending) with
 * sep_section, else one pooled group (`sections` empty). Group tensors by backend — Knn:
 * `source` (S, D) and `target` (T, D, absent when source-only); Kmeans: `centers`; KnnRescale:
 * `refs` (R, D) float32 and `scale` (R) float64. Rows are in the backend's space (unit-normalised
 * for cosine).
 */
export interface NativeBackendState {
  sections: Int32Array;
  groups: Array<Record<string, TensorLike<Float32Array | Float64Array>>>;
}

/** How `decodeClips` turns a file into one clip. */
export interface NativeDecodeOptions {
  /** Output rate in Hz; files at another rate are resampled (libsoxr, very high quality). */
  sampleRate: number;
  /** Samples per clip after resampling (> 0): shorter clips are tiled, longer ones cropped. */
  length: number;
  /**
   * Multi-channel input: `mean` of all channels (default), `near` (channel 0) or `far` (channel 1;
   * an error for mono). `subtract` and `both` keep channels 0 and 1: `wave` is then
   * [files ok, 2, length], each row decoded as `near`/`far` would; a mono file is an error entry.
   */
  channel?: ChannelMode;
  ioThreads?: number;
}

/** What `decodeClips` found in one file (rate, channels and frames as stored in the file). */
export interface NativeDecodedFile {
  ok: boolean;
  /** "<path>: <problem>" when `ok` is false. */
  error?: string;
  sampleRate: number;
  channels: number;
  frames: number;
  /** libsndfile's major format name, e.g. "WAV", "FLAC", "OGG". */
  format: string;
}

/** The DisModel architecture (cpp/core/train/dis_model.h), as `createDisModel` takes it. */
export interface NativeModelConfig {
  secSamples: number;
  branches: Array<{ kind: 'fft'; kernel?: number[]; stride?: number[]; dilation?: number[] } | { kind: 'stft'; nFft: number; hopLength: number }>;
  embedSizePerBranch?: number;
  useBias?: boolean;
  numClasses: number;
  head: { type: 'scadacos' | 'adacos' | 'arcface' | 'adaproj'; nSubclusters?: number; subspaceDim?: number; margin?: number; scale?: number; trainable?: boolean; dynamic?: boolean };
  mixupProb?: number;
  technique?: 'none' | 'featex' | 'subspace';
  featexProb?: number;
  subspaceEmbedSize?: number;
  auxWeight?: number;
  /**
   * Two-channel input (B, 2, L) = [near, far]; absent: one channel (B, L). `subtract`: every
   * branch's magnitude spectrum is max(|X_near| − channelAlpha·|X_far|, channelFloor·|X_near|);
   * `both`: the one extractor embeds each channel and the head sees the two embeddings
   * concatenated (embedding 2E). Part of the architecture, so it is saved with the checkpoint.
   */
  channel?: 'subtract' | 'both';
  channelAlpha?: number;
  channelFloor?: number;
  /** Seeds the parameter initialisation. */
  seed?: number;
}

/** A pretrained-encoder model (cpp/core/train/pretrained_model.h), as `createPretrainedModel` takes it. */
export interface NativePretrainedConfig {
  encoder: 'beats' | 'eat';
  /** The encoder's configuration under the checkpoint's field names (BEATs `cfg`; EAT `depth`, `embed_dim`, …). */
  encoderConfig: Record<string, number | boolean | string>;
  secSamples: number;
  /** 0: frozen encoder without adapters. */
  loraRank?: number;
  loraAlpha?: number;
  projection?: 'none' | 'linear' | 'attn_stat_pool';
  /**
   * EAT only (ASDKit's `prediction_mode`, spec pretrained §3.4): `cls` (default) uses the CLS
   * token; `seq` the sequence tokens x[:, 1:] (padded-frame patches included) — their mean as the
   * raw embedding, all of them into the projection. `attn_stat_pool` needs `seq`; BEATs takes none.
   */
  predictionMode?: 'cls' | 'seq';
  embedSize?: number;
  /** 0: no loss head (extraction only). */
  numClasses?: number;
  head?: NativeModelConfig['head'];
  mixupProb?: number;
  /** `both`: (B, 2, L) input, the encoder embeds each channel, embeddings concatenated (2E). No subtract: the fbank has no linear-magnitude stage to subtract in. */
  channel?: 'both';
  seed?: number;
}

/** Optimiser, schedule and loader settings; fixed when a model first trains or loads optimiser state. */
export interface NativeTrainOptions {
  lr?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  warmupSteps?: number;
  cosineSteps?: number;
  lrMin?: number;
  /** Deterministic kernels (warn-only) and no cuDNN benchmarking (default true). */
  deterministic?: boolean;
  /** "bf16": autocast forward and loss to bfloat16 (CUDA, or a CPU with `info().cpuBf16`); default "fp32". */
  precision?: Precision;
  batchSize?: number;
  seed?: number;
  ioThreads?: number;
  prefetch?: number;
}

export type Precision = 'fp32' | 'bf16';

export interface NativeTrainData {
  paths: string[];
  labels: Int32Array;
  numClasses: number;
  /** Samples per training window (default: the model's secSamples). */
  length?: number;
  /** Which channel(s) the loader reads (default near). */
  channel?: ChannelMode;
}

export interface StepMetrics {
  epoch: number;
  globalStep: number;
  batch: number;
  numBatches: number;
  batchSize: number;
  /** ASDKit's loss-term names; `main` is the optimised total. */
  losses: Record<string, number>;
  gradNorm: number;
  lr: number;
  waitMs: number;
  computeMs: number;
}

export interface NativeEpochResult {
  steps: number;
  lastLoss: number;
  nonFinite: boolean;
  globalStep: number;
  metrics: StepMetrics[];
}

export type TensorDict = Record<string, TensorLike<Float32Array | Float64Array | BigInt64Array | Int32Array>>;

/** The AE (AE_MLP on FlattenSTFT vectors); defaults are the recipe's (spec §3). */
export interface NativeAeConfig {
  nFrames?: number;
  hDim?: number;
  zDim?: number;
  nFft?: number;
  hopLength?: number;
  nMels?: number;
  power?: number;
  fMin?: number;
  fMax?: number;
  seed?: number;
  /**
   * Two-channel input: `subtract` (spectral subtraction before the mel stage; implied by
   * channelAlpha for checkpoints saved before this field) or `both` (each channel's frame
   * vector, concatenated: input dimension 2·nFrames·nMels).
   */
  channel?: 'subtract' | 'both';
  /** Spectral subtraction of two-channel input (channel subtract). */
  channelAlpha?: number;
  channelFloor?: number;
}

/** What every native model handle has (cpp/addon/model_wrap.h); one job at a time per model. */
export interface NativeModelBase {
  counts(): { trainable: number; frozen: number; buffers: number; embedSize: number };
  /** All parameters and buffers, or only the trainable parameters (plus, optionally, every buffer). */
  stateDict(options?: { trainableOnly?: boolean; buffers?: boolean }): TensorDict;
  /** The AdamW state; an ASDKIT_BUSY error while a job runs. */
  optimizerState(): { globalStep: number; tensors: TensorDict };
  /** Strict unless `partial` (then a subset may be given; nothing unknown or mis-shaped). */
  loadState(tensors: TensorDict, optimizer?: { tensors: TensorDict; globalStep: number; options: NativeTrainOptions } | null, options?: { partial?: boolean }): void;
  /** One epoch; every `onStep` call happens before the promise settles. The AE ignores `data` (it trains on its prepared vectors). */
  trainEpoch(data: NativeTrainData | Record<string, never>, options: NativeTrainOptions & { epoch: number; device?: string }, onStep?: (m: StepMetrics) => void): NativeJob<NativeEpochResult>;
  embedFiles(paths: string[], options: { length?: number; batchSize?: number; ioThreads?: number; channel?: ChannelMode; device?: string; precision?: Precision }, onProgress?: ProgressFn): NativeJob<Record<string, TensorLike>>;
  embed(wave: TensorLike, options: { batchSize?: number; device?: string; precision?: Precision }, onProgress?: ProgressFn): NativeJob<Record<string, TensorLike>>;
  /**
   * Frees the module, optimiser state, vectors and frontend now and takes their bytes back from
   * V8's external-memory count. During a job it neither waits nor cancels: the job finishes and
   * its memory goes when it ends. Later calls throw (code ASDKIT_DISPOSED); a second call does nothing.
   */
  dispose(): void;
}

export type NativeDisModel = NativeModelBase;

export interface NativeAeModel extends NativeModelBase {
  /** Decodes whole clips and keeps their frame vectors as the training table. */
  prepareVectors(paths: string[], options: { ioThreads?: number; channel?: ChannelMode }, onProgress?: ProgressFn): NativeJob<{ rows: number; dim: number }>;
}

export interface NativePretrainedModel extends NativeModelBase {
  /** The official encoder weights by their checkpoint names. */
  loadEncoder(tensors: TensorDict): void;
}

/** Any model handle. */
export type NativeModel = NativeModelBase;

export interface NativeAddon {
  createDisModel(config: NativeModelConfig): NativeDisModel;
  createAeModel(config: NativeAeConfig): NativeAeModel;
  createPretrainedModel(config: NativePretrainedConfig): NativePretrainedModel;
  info(): NativeInfo;
  setNumThreads(n: number): number;
  /** Native jobs that may run at once per device (>= 1; default 1). Returns n; restarts `info().jobs.peakRunning`. */
  setMaxJobs(n: number): number;
  /** Returns the CPU allocator's cached blocks to the system. */
  releaseCpuCache(): void;
  checkDevice(spec: string): string;
  /**
   * The machine's dense matrix-product rate (bench): square n × n torch::mm (default n 2048,
   * float32) on `threads` threads (default: the current count; restored after), two warm-up
   * products, then the median of `iters` (default 10), off the main thread.
   */
  benchMatmul(options?: { n?: number; iters?: number; threads?: number; dtype?: 'float32' | 'bfloat16'; op?: 'mm' | 'conv' }): NativeJob<BenchMatmulResult>;
  /** One file; progress is (1, 1) once it is decoded. Shape [L], or [2, L] for channel subtract/both. */
  readWav(path: string, length: number, onProgress?: ProgressFn, options?: { channel?: ChannelMode }): NativeJob<TensorLike>;
  extractFiles(paths: string[], options: NativeExtractOptions, onProgress?: ProgressFn): NativeJob<Record<string, TensorLike>>;
  /** Waveforms in memory: [B, L], or [B, 2, L] = [near; far] for channel subtract/both. */
  frontendForward(wave: TensorLike, options: NativeExtractOptions, onProgress?: ProgressFn): NativeJob<Record<string, TensorLike>>;
  backendScore(
    config: NativeBackendConfig,
    train: NativeEmbedSet,
    queries: NativeEmbedSet[],
    options?: NativeScoreOptions,
    onProgress?: ProgressFn,
  ): NativeJob<{ scores: Float64Array[]; warnings: string[] }>;
  /**
   * Fits a backend once and hands back its fitted state (for detectors): the arrays `backendScore`
   * would score against, and the leave-one-out scores of the training rows themselves (row order):
   * Knn / KnnRescale leave the row out of its own reference set; Kmeans leaves a target row out
   * of the centre set (source rows meet centres, not themselves). Same numbers as backendScore.
   */
  backendFit(
    config: NativeBackendConfig,
    train: NativeEmbedSet,
    options?: NativeScoreOptions,
    onProgress?: ProgressFn,
  ): NativeJob<{ state: NativeBackendState; trainScores: Float64Array; warnings: string[] }>;
  /** Scores query sets against a state from `backendFit` (bit-identical to `backendScore` with the same fit). */
  backendScoreState(
    config: NativeBackendConfig,
    state: NativeBackendState,
    queries: NativeEmbedSet[],
    options?: NativeScoreOptions,
    onProgress?: ProgressFn,
  ): NativeJob<{ scores: Float64Array[] }>;
  /**
   * Decodes audio files for scoring outside the DCASE tree: any format libsndfile reads (WAV,
   * FLAC, OGG, …), resampled to `sampleRate` with libsoxr, multi-channel audio reduced as
   * `channel` says, then cropped/tiled to `length` samples at offset 0 (as extraction does).
   * A file that fails does not fail the job: its entry has `ok: false` and `error`, and it has
   * no row in `wave`. Only the samples needed for `length` are read (a 3-hour file is cheap).
   */
  decodeClips(paths: string[], options: NativeDecodeOptions, onProgress?: ProgressFn): NativeJob<{ wave: TensorLike; files: NativeDecodedFile[] }>;
  /**
   * `decodeClips` for audio already in memory (HTTP uploads): each buffer is one file's bytes;
   * `names[i]` stands for its path in errors ("<name>: <problem>"). The buffers must not change
   * while the job runs.
   */
  decodeBuffers(buffers: Uint8Array[], options: NativeDecodeOptions & { names?: string[] }, onProgress?: ProgressFn): NativeJob<{ wave: TensorLike; files: NativeDecodedFile[] }>;
  /** Diagnostics (synchronous, small inputs): SMOTE's synthetic rows and draws, for parity checks. */
  smoteSamples(
    minority: TensorLike<Float32Array>,
    nNew: number,
    k: number,
    metric?: string,
  ): Record<'synthetic' | 'rows' | 'cols' | 'steps' | 'neighbors', TensorLike<Float32Array | Float64Array | BigInt64Array>>;
  /** Diagnostics: k-means scores of queries against given centres (checks the formula alone). */
  kmeansScore(queries: TensorLike<Float32Array>, centers: TensorLike<Float32Array>, metric: string): Float64Array;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let cached: NativeAddon | undefined;
let loadedFrom: string | undefined;

/**
 * The addon, loaded once: build/Release/asdkit.node (or build/Debug) when there is one, otherwise
 * (in an installed package, not a source checkout) the prebuilt in prebuilds/<platform>-<arch>/
 * whose name's LibTorch tags match what it reports once loaded (scripts/prebuilt.cjs). Fails with
 * a message that says how to build it.
 */
export function native(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const reasons: string[] = [];
  for (const dir of ['Release', 'Debug']) {
    const file = path.join(root, 'build', dir, 'asdkit.node');
    if (!existsSync(file)) continue;
    try {
      cached = require(file) as NativeAddon;
      loadedFrom = file;
      return cached;
    } catch (e) {
      reasons.push(`build/${dir}/asdkit.node: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  // A source checkout runs its own build only (a prebuilt there may be older than the sources).
  const inCheckout = existsSync(path.join(root, 'src', 'native'));
  if (!inCheckout) {
    const prebuilt = require(path.join(root, 'scripts', 'prebuilt.cjs')) as {
      loadPrebuilt(root: string, req: NodeJS.Require): { addon?: NativeAddon; path?: string; errors?: string[] };
    };
    const r = prebuilt.loadPrebuilt(root, require);
    if (r.addon) {
      cached = r.addon;
      loadedFrom = r.path;
      return cached;
    }
    reasons.push(...(r.errors ?? []));
  }
  const why = reasons.length ? reasons.join('; ') : `no build/Release/asdkit.node${inCheckout ? '' : ` and no prebuilt binary for ${process.platform}-${process.arch}`}`;
  throw new Error(
    `asdkit's native addon could not be loaded (${why}). ` +
      (inCheckout
        ? 'Build it with `npm run build:native`'
        : 'Build it from your project with `npm rebuild asdkit --foreground-scripts` (it uses a prebuilt binary when one matches your LibTorch, else compiles)') +
      '; compiling needs cmake, g++, libtorch-dev, libsndfile1-dev and libsoxr-dev.',
  );
}

/** Where the addon binary was loaded from (for `asdkit doctor`). */
export function nativePath(): string | undefined {
  native();
  return loadedFrom;
}

/** An Error named AbortError (the signal's reason, often a DOMException, rides as `cause`). */
export function abortError(signal: AbortSignal): Error {
  const e = new Error('The operation was aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}

/** Awaits a native job, cancelling it when `signal` aborts. */
export async function runJob<T>(start: () => NativeJob<T>, signal?: AbortSignal): Promise<T> {
  if (signal?.aborted) throw abortError(signal);
  const job = start();
  if (!signal) return job.promise;
  const onAbort = () => job.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await job.promise;
  } catch (e) {
    if (signal.aborted && (e as Error).name === 'AbortError') throw abortError(signal);
    throw e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

let threadsSet = false;
/**
 * Sets LibTorch's intra-op threads (0 = all cores). Called once with the default on first use so
 * a 2-core machine does not run on LibTorch's default of one thread.
 */
export function setThreads(n = 0): number {
  threadsSet = true;
  return native().setNumThreads(n);
}

let jobsSet = false;
/**
 * Native jobs that may run at once per device (default 1), so parallel calls — a server's
 * requests, concurrent steps — queue instead of oversubscribing LibTorch's threads.
 */
export function setMaxJobs(n: number): number {
  jobsSet = true;
  return native().setMaxJobs(n);
}

/** Applies ASDKIT_THREADS (default: all cores) and ASDKIT_MAX_JOBS (default 1) on first use. */
export function ensureThreads(): void {
  if (!threadsSet) setThreads(parseThreads(process.env.ASDKIT_THREADS ?? 0, 'ASDKIT_THREADS'));
  if (!jobsSet && process.env.ASDKIT_MAX_JOBS) setMaxJobs(Number(process.env.ASDKIT_MAX_JOBS));
}
