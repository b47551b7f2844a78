/**
 * What every trainable model kind shares (DisModel, AeModel, PretrainedModel): the native handle,
 * state and self-describing safetensors checkpoints, epoch training with progress and
 * AbortSignal, extraction from files or waveforms, dispose. The numerics run in the native
 * addon, off the event loop; one job at a time per model.
 */
import { toSafeTensor, writeSafetensors, type SafeTensor } from '../io/safetensors.js';
import { stackWaves } from '../native/waves.js';
import { DIGEST_KEY, tensorDigest } from './checkpoint.js';
import { DEVICE, EXTRACT_BATCH_SIZE, TRAIN_BATCH_SIZE } from '../run/index.js';
import {
  runJob,
  type ChannelMode,
  type NativeEpochResult,
  type NativeModelBase,
  type NativeTrainOptions,
  type Precision,
  type ProgressFn,
  type StepMetrics,
  type TensorDict,
  type TensorLike,
} from '../native/index.js';

export type ModelKind = 'dis' | 'ae' | 'pretrained';
export type { StepMetrics, NativeTrainOptions as TrainSettings };

export const CHECKPOINT_FORMAT = 'asdkit.model';
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
  /** Which channel(s) of the clips the loader reads (default near). */
  channel?: ChannelMode;
}

export interface RunOptions {
  device?: string;
  signal?: AbortSignal;
  /** "bf16": bfloat16 autocast (CUDA, or a CPU with avx512_bf16/amx_bf16: `native().info().cpuBf16`). */
  precision?: Precision;
}

export type EpochSettings = NativeTrainOptions & RunOptions & { onStep?: (m: StepMetrics) => void };
export type TrainSettingsWithEpochs = EpochSettings & { epochs: number; onProgress?: ProgressFn };

/** What every model kind shares: state, checkpoints, epoch training, extraction, dispose. */
export abstract class TrainableModel<C extends object, H extends NativeModelBase = NativeModelBase> implements Disposable {
  abstract readonly kind: ModelKind;
  #disposed = false;

  protected constructor(
    readonly config: C,
    readonly seed: number,
    protected readonly handle: H,
  ) {}

  /** Whether `dispose` has been called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Frees the model's native memory (weights, optimiser state, vectors; LibTorch's CPU or CUDA
   * memory) now instead of at garbage collection. A job still running finishes first and its
   * memory goes when it ends. Every later call throws ("… has been disposed"); a second dispose
   * does nothing. `using model = …` calls it too.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Parameter counts (trainable, frozen centres/scales) and buffer elements; `embedSize` = E. */
  counts(): { trainable: number; frozen: number; buffers: number; embedSize: number } {
    return this.handle.counts();
  }

  /** Parameters and buffers by ASDKit's state-dict names (or only the trainable parameters, optionally with the buffers). */
  stateDict(opts?: { trainableOnly?: boolean; buffers?: boolean }): TensorDict {
    return this.handle.stateDict(opts);
  }

  /** Whether checkpoints hold a subset of the state (the rest comes from elsewhere, e.g. an official encoder file). */
  protected readonly partialCheckpoints: boolean = false;

  /** The tensors a checkpoint holds (all parameters and buffers; pretrained models keep fewer). */
  protected checkpointState(): TensorDict {
    return this.handle.stateDict();
  }

  /** Writes an atomic safetensors checkpoint; `withOptimizer` adds the AdamW state for resuming. */
  async save(file: string, info: CheckpointInfo, opts: { withOptimizer?: boolean } = {}): Promise<void> {
    const tensors: Record<string, SafeTensor> = {};
    for (const [name, t] of Object.entries(this.checkpointState())) tensors[name] = toSafeTensor(t);
    if (opts.withOptimizer) {
      for (const [name, t] of Object.entries(this.handle.optimizerState().tensors)) tensors[OPTIMIZER_PREFIX + name] = toSafeTensor(t);
    }
    await writeSafetensors(file, tensors, {
      format: CHECKPOINT_FORMAT,
      format_version: CHECKPOINT_FORMAT_VERSION,
      kind: this.kind,
      model_config: JSON.stringify(this.config),
      seed: String(this.seed),
      info: JSON.stringify(info),
      [DIGEST_KEY]: tensorDigest(tensors),
    });
  }

  /** Loads weights (and optionally the optimiser state) from tensors of a checkpoint. */
  loadState(tensors: Record<string, SafeTensor>, info: CheckpointInfo, withOptimizer: boolean): void {
    const weights: TensorDict = {};
    const optimizer: TensorDict = {};
    for (const [name, t] of Object.entries(tensors)) {
      if (t.data instanceof Uint8Array) throw new Error(`tensor ${name}: U8 tensors are not model state`);
      if (name.startsWith(OPTIMIZER_PREFIX)) optimizer[name.slice(OPTIMIZER_PREFIX.length)] = { data: t.data, shape: t.shape };
      else weights[name] = { data: t.data, shape: t.shape };
    }
    const withOpt = withOptimizer && Object.keys(optimizer).length > 0;
    this.handle.loadState(weights, withOpt ? { tensors: optimizer, globalStep: info.globalStep, options: info.train } : null, { partial: this.partialCheckpoints });
  }

  protected runEpoch(data: Parameters<NativeModelBase['trainEpoch']>[0], epoch: number, settings: EpochSettings): Promise<NativeEpochResult> {
    const { signal, onStep, device, ...opts } = settings;
    return runJob(() => this.handle.trainEpoch(data, { ...opts, epoch, device: device ?? DEVICE }, onStep), signal);
  }

  /** Repeats `trainEpoch` for `epochs` epochs in memory (no checkpoints; the train step adds those). */
  protected async trainEpochs(
    stepsPerEpoch: number,
    epoch: (e: number, s: EpochSettings) => Promise<NativeEpochResult>,
    settings: TrainSettingsWithEpochs,
  ): Promise<NativeEpochResult[]> {
    const { epochs, onProgress, onStep, ...rest } = settings;
    const out: NativeEpochResult[] = [];
    // Every step event of an epoch arrives before its promise settles; an epoch that stops early
    // (non-finite loss) jumps to its end, so report only advances.
    let reported = 0;
    const progress = (done: number) => {
      if (done > reported) onProgress?.((reported = done), epochs * stepsPerEpoch);
    };
    for (let e = 0; e < epochs; e++) {
      const r = await epoch(e, {
        ...rest,
        onStep: (m) => {
          onStep?.(m);
          progress(e * stepsPerEpoch + m.batch + 1);
        },
      });
      progress((e + 1) * stepsPerEpoch);
      out.push(r);
      if (r.nonFinite) break;
    }
    return out;
  }

  /**
   * Runs the model in eval mode over audio files, each tiled/cropped (offset 0) to `length`
   * samples: `embed` (N, E), plus `AS-recon` (N) for the AE.
   */
  async extractFiles(
    paths: string[],
    opts: RunOptions & { length?: number; batchSize?: number; channel?: ChannelMode; onProgress?: ProgressFn } = {},
  ): Promise<Record<string, TensorLike>> {
    const channel = opts.channel === undefined ? {} : { channel: opts.channel };
    return runJob(
      () => this.handle.embedFiles(paths, { length: opts.length, batchSize: opts.batchSize ?? EXTRACT_BATCH_SIZE, ...channel, device: opts.device ?? DEVICE, precision: opts.precision }, opts.onProgress),
      opts.signal,
    );
  }

  /** The embeddings (N, E) of audio files (see extractFiles). */
  async embedFiles(paths: string[], opts: RunOptions & { length?: number; batchSize?: number; channel?: ChannelMode; onProgress?: ProgressFn } = {}): Promise<TensorLike> {
    return (await this.extractFiles(paths, opts)).embed;
  }

  /** The outputs for waveforms already in memory (equal-length Float32Arrays, or a [B, 2, L] tensor for a two-channel model). */
  async extract(waves: Float32Array[] | TensorLike, opts: RunOptions & { batchSize?: number } = {}): Promise<Record<string, TensorLike>> {
    const wave = stackWaves(waves, 'embed');
    return runJob(() => this.handle.embed(wave, { batchSize: opts.batchSize ?? EXTRACT_BATCH_SIZE, device: opts.device ?? DEVICE, precision: opts.precision }), opts.signal);
  }

  /** The embeddings of waveforms already in memory. */
  async embed(waves: Float32Array[] | TensorLike, opts: RunOptions & { batchSize?: number } = {}): Promise<TensorLike> {
    return (await this.extract(waves, opts)).embed;
  }
}

/** Models trained on labelled clips (DisModel, PretrainedModel). */
export abstract class ClipModel<C extends object, H extends NativeModelBase = NativeModelBase> extends TrainableModel<C, H> {
  /**
   * Trains one epoch (0-based `epoch`) on labelled clips; the optimiser/loader settings of the
   * first call (or of a loaded checkpoint) stay in force. `onStep` gets live metrics; the result
   * holds all of them. On abort the in-memory model is mid-epoch: reload the last checkpoint.
   */
  async trainEpoch(data: TrainData, epoch: number, settings: EpochSettings): Promise<NativeEpochResult> {
    const clips = { paths: data.paths, labels: Int32Array.from(data.labels), numClasses: data.numClasses, length: data.length, ...(data.channel === undefined ? {} : { channel: data.channel }) };
    return this.runEpoch(clips, epoch, { batchSize: TRAIN_BATCH_SIZE, ...settings });
  }

  /** Trains `epochs` epochs in memory (no checkpoints; see the train step for files and resume). */
  async train(data: TrainData, settings: TrainSettingsWithEpochs): Promise<NativeEpochResult[]> {
    const steps = Math.ceil(data.paths.length / (settings.batchSize ?? TRAIN_BATCH_SIZE));
    return this.trainEpochs(steps, (e, s) => this.trainEpoch(data, e, s), settings);
  }
}
