/**
 * Loads the compiled addon (build/Release or prebuilds/, through node-gyp-build) and gives its
 * surface types. Everything heavy returns a job handle; `runJob` turns it into a Promise that
 * honours an AbortSignal.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
  /** The caching CPU allocator (off with ASDKIT_CPU_CACHE=0; ASDKIT_CPU_CACHE=<MiB> caps it). */
  cpuCache: { installed: boolean; cachedBytes: number; inUseBytes: number; limitBytes: number; hits: number; misses: number };
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

export interface NativeExtractOptions {
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

export interface NativeBackendConfig {
  kind: string;
  params: Record<string, number | string | boolean>;
  memoryBudgetBytes?: number;
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
  embedSize?: number;
  /** 0: no loss head (extraction only). */
  numClasses?: number;
  head?: NativeModelConfig['head'];
  mixupProb?: number;
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
  /** "bf16": autocast forward and loss to bfloat16 (CUDA only); default "fp32". */
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
}

export interface NativeModel {
  counts(): { trainable: number; frozen: number; buffers: number; embedSize: number };
  /** All parameters and buffers, or only the trainable parameters (plus, optionally, every buffer). */
  stateDict(options?: { trainableOnly?: boolean; buffers?: boolean }): TensorDict;
  optimizerState(): { globalStep: number; tensors: TensorDict };
  /** Strict unless `partial` (then a subset may be given; nothing unknown or mis-shaped). */
  loadState(tensors: TensorDict, optimizer?: { tensors: TensorDict; globalStep: number; options: NativeTrainOptions } | null, options?: { partial?: boolean }): void;
  /** Pretrained models: the official encoder weights by their checkpoint names. */
  loadEncoder(tensors: TensorDict): void;
  trainEpoch(data: NativeTrainData | Record<string, never>, options: NativeTrainOptions & { epoch: number; device?: string }, onStep?: (m: StepMetrics) => void): NativeJob<NativeEpochResult>;
  embedFiles(paths: string[], options: { length?: number; batchSize?: number; ioThreads?: number; device?: string; precision?: Precision }, onProgress?: ProgressFn): NativeJob<Record<string, TensorLike>>;
  embed(wave: TensorLike, options: { batchSize?: number; device?: string; precision?: Precision }, onProgress?: ProgressFn): NativeJob<Record<string, TensorLike>>;
  /** AE only: decodes whole clips and keeps their frame vectors as the training table. */
  prepareVectors(paths: string[], options: { ioThreads?: number }, onProgress?: ProgressFn): NativeJob<{ rows: number; dim: number }>;
}

export interface NativeAddon {
  createDisModel(config: NativeModelConfig): NativeModel;
  createAeModel(config: NativeAeConfig): NativeModel;
  createPretrainedModel(config: NativePretrainedConfig): NativeModel;
  info(): NativeInfo;
  setNumThreads(n: number): number;
  /** Returns the CPU allocator's cached blocks to the system. */
  releaseCpuCache(): void;
  checkDevice(spec: string): string;
  readWav(path: string, length: number, onProgress?: ProgressFn): NativeJob<TensorLike>;
  extractFiles(paths: string[], options: NativeExtractOptions, onProgress?: ProgressFn): NativeJob<Record<string, TensorLike>>;
  frontendForward(wave: TensorLike, options: NativeExtractOptions, onProgress?: ProgressFn): NativeJob<Record<string, TensorLike>>;
  backendScore(
    config: NativeBackendConfig,
    train: NativeEmbedSet,
    queries: NativeEmbedSet[],
    device: string,
    onProgress?: ProgressFn,
  ): NativeJob<{ scores: Float64Array[]; warnings: string[] }>;
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

/** The addon, loaded once. Fails with a message that says how to build it. */
export function native(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as ((dir: string) => NativeAddon) & { resolve?: (dir: string) => string };
  try {
    loadedFrom = load.resolve ? load.resolve(root) : root;
    cached = load(root);
  } catch (e) {
    throw new Error(
      `asdkit's native addon could not be loaded (${(e as Error).message.split('\n')[0]}). ` +
        'Build it with `npm run build:native` (needs cmake, g++, libtorch-dev and libsndfile1-dev).',
    );
  }
  return cached;
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

export function ensureThreads(): void {
  if (!threadsSet) setThreads(Number(process.env.ASDKIT_THREADS ?? 0));
}
