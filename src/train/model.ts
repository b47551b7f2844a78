/**
 * The typed API of a trainable discriminative model (MultiResNet + margin heads): build it from
 * a config, train epoch by epoch (progress, AbortSignal), embed files or waveforms, save/load
 * self-describing safetensors checkpoints. The numerics run in the native addon, off the event
 * loop; one job at a time per model.
 */
import { readSafetensors, writeSafetensors, type SafeTensor } from '../io/safetensors.js';
import {
  ensureThreads,
  native,
  runJob,
  type NativeDisModel,
  type NativeEpochResult,
  type NativeModelConfig,
  type NativeTrainOptions,
  type ProgressFn,
  type StepMetrics,
  type TensorDict,
  type TensorLike,
} from '../native/index.js';

export type ModelConfig = Omit<NativeModelConfig, 'seed'>;
export type { StepMetrics, NativeTrainOptions as TrainSettings };

export const CHECKPOINT_FORMAT = 'asdkit.dis_model';
export const CHECKPOINT_FORMAT_VERSION = '1';
const OPTIMIZER_PREFIX = 'optimizer.';

/** What a checkpoint records beside the weights (all JSON-serialisable). */
export interface CheckpointInfo {
  epoch: number;
  globalStep: number;
  /** The monitored value: the last batch's `main` loss of the epoch (spec §7.5). */
  loss: number;
  train: NativeTrainOptions;
  /** Free-form context: label set, run ids, max epochs, stop reason… */
  extra?: Record<string, unknown>;
}

export interface TrainData {
  paths: string[];
  labels: ArrayLike<number>;
  numClasses: number;
  /** Samples per training window (default: the model's secSamples). */
  length?: number;
}

export interface RunOptions {
  device?: string;
  signal?: AbortSignal;
}

export class DisModel {
  private constructor(
    readonly config: ModelConfig,
    readonly seed: number,
    private readonly handle: NativeDisModel,
  ) {}

  /** A freshly initialised model; `seed` fixes the initialisation. */
  static create(config: ModelConfig, seed = 0): DisModel {
    ensureThreads();
    return new DisModel(config, seed, native().createDisModel({ ...config, seed }));
  }

  /**
   * Rebuilds a model from a checkpoint written by `save` (and its optimiser state when the file
   * has one and `withOptimizer`). Errors name the file.
   */
  static async load(file: string, opts: { withOptimizer?: boolean } = {}): Promise<{ model: DisModel; info: CheckpointInfo }> {
    const { tensors, metadata } = await readSafetensors(file);
    if (metadata.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: not an asdkit model checkpoint (format "${metadata.format ?? ''}")`);
    if (metadata.format_version !== CHECKPOINT_FORMAT_VERSION) {
      throw new Error(`${file}: checkpoint format version ${metadata.format_version} is not supported (expected ${CHECKPOINT_FORMAT_VERSION})`);
    }
    let config: ModelConfig, info: CheckpointInfo, seed: number;
    try {
      config = JSON.parse(metadata.model_config) as ModelConfig;
      info = JSON.parse(metadata.info) as CheckpointInfo;
      seed = Number(metadata.seed ?? 0);
    } catch (e) {
      throw new Error(`${file}: malformed checkpoint metadata (${(e as Error).message})`);
    }
    const model = DisModel.create(config, seed);
    const weights: TensorDict = {};
    const optimizer: TensorDict = {};
    for (const [name, t] of Object.entries(tensors)) {
      const target = name.startsWith(OPTIMIZER_PREFIX) ? optimizer : weights;
      target[name.startsWith(OPTIMIZER_PREFIX) ? name.slice(OPTIMIZER_PREFIX.length) : name] = toTensorLike(t);
    }
    const withOpt = opts.withOptimizer && Object.keys(optimizer).length > 0;
    try {
      model.handle.loadState(weights, withOpt ? { tensors: optimizer, globalStep: info.globalStep, options: info.train } : undefined);
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    return { model, info };
  }

  /** Parameter counts (trainable, frozen centres/scales) and buffer elements. */
  counts(): { trainable: number; frozen: number; buffers: number; embedSize: number } {
    return this.handle.counts();
  }

  /** Parameters and buffers by their reference names (`extractor.*`, `head_dict.main.W`, …). */
  stateDict(): TensorDict {
    return this.handle.stateDict();
  }

  /** Writes an atomic safetensors checkpoint; `withOptimizer` adds the AdamW state for resuming. */
  async save(file: string, info: CheckpointInfo, opts: { withOptimizer?: boolean } = {}): Promise<void> {
    const tensors: Record<string, SafeTensor> = {};
    for (const [name, t] of Object.entries(this.handle.stateDict())) tensors[name] = toSafe(t);
    if (opts.withOptimizer) {
      for (const [name, t] of Object.entries(this.handle.optimizerState().tensors)) tensors[OPTIMIZER_PREFIX + name] = toSafe(t);
    }
    await writeSafetensors(file, tensors, {
      format: CHECKPOINT_FORMAT,
      format_version: CHECKPOINT_FORMAT_VERSION,
      model_config: JSON.stringify(this.config),
      seed: String(this.seed),
      info: JSON.stringify(info),
    });
  }

  /**
   * Trains one epoch (0-based `epoch`); the optimiser/loader settings of the first call (or of a
   * loaded checkpoint) stay in force. `onStep` gets live metrics; the result holds all of them.
   * On abort the in-memory model is mid-epoch: reload the last checkpoint to resume.
   */
  async trainEpoch(
    data: TrainData,
    epoch: number,
    settings: NativeTrainOptions & RunOptions & { onStep?: (m: StepMetrics) => void },
  ): Promise<NativeEpochResult> {
    const { signal, onStep, device, ...opts } = settings;
    const nativeData = { paths: data.paths, labels: Int32Array.from(data.labels), numClasses: data.numClasses, length: data.length };
    return runJob(() => this.handle.trainEpoch(nativeData, { ...opts, epoch, device: device ?? 'cpu' }, onStep), signal);
  }

  /** Trains `epochs` epochs in memory (no checkpoints; see the train step for files and resume). */
  async train(
    data: TrainData,
    settings: NativeTrainOptions & RunOptions & { epochs: number; onStep?: (m: StepMetrics) => void },
  ): Promise<NativeEpochResult[]> {
    const out: NativeEpochResult[] = [];
    for (let e = 0; e < settings.epochs; e++) {
      const r = await this.trainEpoch(data, e, settings);
      out.push(r);
      if (r.nonFinite) break;
    }
    return out;
  }

  /** Embeddings (N, E) of audio files, each tiled/cropped (offset 0) to `length` samples. */
  async embedFiles(
    paths: string[],
    opts: RunOptions & { length?: number; batchSize?: number; onProgress?: ProgressFn } = {},
  ): Promise<TensorLike> {
    const out = await runJob(
      () => this.handle.embedFiles(paths, { length: opts.length, batchSize: opts.batchSize ?? 64, device: opts.device ?? 'cpu' }, opts.onProgress),
      opts.signal,
    );
    return out.embed;
  }

  /** Embeddings of waveforms already in memory: equal-length Float32Arrays of secSamples each. */
  async embed(waves: Float32Array[] | TensorLike, opts: RunOptions & { batchSize?: number } = {}): Promise<TensorLike> {
    const wave = Array.isArray(waves) ? stack(waves) : waves;
    const out = await runJob(() => this.handle.embed(wave, { batchSize: opts.batchSize ?? 64, device: opts.device ?? 'cpu' }), opts.signal);
    return out.embed;
  }
}

function stack(waves: Float32Array[]): TensorLike {
  const L = waves[0]?.length ?? 0;
  const data = new Float32Array(waves.length * L);
  waves.forEach((w, i) => {
    if (w.length !== L) throw new Error(`embed: waveform ${i} has ${w.length} samples, the first has ${L}`);
    data.set(w, i * L);
  });
  return { data, shape: [waves.length, L] };
}

function toSafe(t: TensorDict[string]): SafeTensor {
  const d = t.data;
  const dtype = d instanceof Float32Array ? 'F32' : d instanceof Float64Array ? 'F64' : d instanceof BigInt64Array ? 'I64' : 'I32';
  return { dtype, shape: t.shape, data: d };
}

function toTensorLike(t: SafeTensor): TensorDict[string] {
  if (t.data instanceof Uint8Array) throw new Error('U8 tensors are not model state');
  return { data: t.data, shape: t.shape };
}
