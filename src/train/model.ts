/**
 * The typed API of the trainable models: `DisModel` (MultiResNet + margin heads, the dis_*
 * recipes), `AeModel` (the AE baseline) and `PretrainedModel` (BEATs / EAT, pretrained-model.ts). Build from a config, train epoch by epoch (progress,
 * AbortSignal), extract from files or waveforms, save/load self-describing safetensors
 * checkpoints (`loadModel` rebuilds any kind), `dispose()` to free the native memory at once. The
 * numerics run in the native addon, off the event loop; one job at a time per model.
 */
import { readSafetensors } from '../io/safetensors.js';
import { parseCheckpointInfo, verifyDigest } from './checkpoint.js';
import { AE_BATCH_SIZE, IO_THREADS } from '../run/index.js';
import { ensureThreads, native, runJob, type ChannelMode, type NativeAeConfig, type NativeAeModel, type NativeEpochResult, type NativeModelConfig, type ProgressFn } from '../native/index.js';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  ClipModel,
  TrainableModel,
  type CheckpointInfo,
  type EpochSettings,
  type TrainSettingsWithEpochs,
} from './trainable-model.js';
import { PretrainedModel, type PretrainedConfig } from './pretrained-model.js';

export { CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, TrainableModel, type CheckpointInfo, type TrainData, type RunOptions, type ModelKind } from './trainable-model.js';
export type { StepMetrics, TrainSettings } from './trainable-model.js';

export { PretrainedModel, type PretrainedConfig };

export type ModelConfig = Omit<NativeModelConfig, 'seed'>;
export type AeConfig = Omit<NativeAeConfig, 'seed'>;

/** MultiResNet + margin heads (the dis_* recipes). */
export class DisModel extends ClipModel<ModelConfig> {
  readonly kind = 'dis' as const;

  /** A freshly initialised model; `seed` fixes the initialisation. */
  static create(config: ModelConfig, seed = 0): DisModel {
    ensureThreads();
    return new DisModel(config, seed, native().createDisModel({ ...config, seed }));
  }

  /** Rebuilds a DisModel from a checkpoint written by `save` (see loadModel). */
  static async load(file: string, opts: { withOptimizer?: boolean } = {}): Promise<{ model: DisModel; info: CheckpointInfo }> {
    const r = await loadModel(file, opts);
    if (!(r.model instanceof DisModel)) throw new Error(`${file}: holds an ${r.model.kind} model, not a discriminative one`);
    return { model: r.model, info: r.info };
  }

}

/**
 * The AE baseline: AE_MLP on 5-frame log-mel vectors (spec §3). Two-channel clips [near, far]:
 * spectral subtraction (config channelAlpha/channelFloor), or with config `channel: 'both'` each
 * channel's vector side by side (twice the input width; train and extract with channel both).
 */
export class AeModel extends TrainableModel<AeConfig, NativeAeModel> {
  readonly kind = 'ae' as const;
  private rows = 0;

  static create(config: AeConfig = {}, seed = 0): AeModel {
    ensureThreads();
    return new AeModel(config, seed, native().createAeModel({ ...config, seed }));
  }

  /** Decodes whole training clips (no crop, no tiling) and keeps their frame vectors for training. */
  async prepareVectors(paths: string[], opts: { signal?: AbortSignal; onProgress?: ProgressFn; ioThreads?: number; channel?: ChannelMode } = {}): Promise<{ rows: number; dim: number }> {
    const channel = opts.channel === undefined ? {} : { channel: opts.channel };
    const r = await runJob(() => this.handle.prepareVectors(paths, { ioThreads: opts.ioThreads ?? IO_THREADS, ...channel }, opts.onProgress), opts.signal);
    this.rows = r.rows;
    return r;
  }

  /** Trains one epoch over the prepared vectors (batch = vectors, default AE_BATCH_SIZE). */
  async trainEpoch(epoch: number, settings: EpochSettings): Promise<NativeEpochResult> {
    return this.runEpoch({}, epoch, { batchSize: AE_BATCH_SIZE, ...settings });
  }

  async train(settings: TrainSettingsWithEpochs): Promise<NativeEpochResult[]> {
    const steps = Math.ceil(this.rows / (settings.batchSize ?? AE_BATCH_SIZE));
    return this.trainEpochs(steps, (e, s) => this.trainEpoch(e, s), settings);
  }
}

export type AnyModel = DisModel | AeModel | PretrainedModel;

/**
 * Rebuilds the model of a checkpoint (any kind); errors name the file. `encoderCheckpoint`
 * replaces the official encoder path a BEATs/EAT checkpoint names (a detector on another machine).
 */
export async function loadModel(file: string, opts: { withOptimizer?: boolean; encoderCheckpoint?: string } = {}): Promise<{ model: AnyModel; info: CheckpointInfo }> {
  const { tensors, metadata } = await readSafetensors(file);
  if (metadata.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: not an asdkit model checkpoint (format "${metadata.format ?? ''}")`);
  if (metadata.format_version !== CHECKPOINT_FORMAT_VERSION) {
    throw new Error(`${file}: checkpoint format version ${metadata.format_version} is not supported (expected ${CHECKPOINT_FORMAT_VERSION})`);
  }
  let config: object;
  try {
    config = JSON.parse(metadata.model_config) as object;
  } catch (e) {
    throw new Error(`${file}: malformed checkpoint metadata (${(e as Error).message})`);
  }
  const info = parseCheckpointInfo(file, metadata.info);
  verifyDigest(file, tensors, metadata);
  const seed = Number(metadata.seed ?? 0);
  let model: AnyModel;
  if (metadata.kind === 'ae') model = AeModel.create(config as AeConfig, seed);
  else if (metadata.kind === 'dis') model = DisModel.create(config as ModelConfig, seed);
  else if (metadata.kind === 'pretrained') {
    const c = config as PretrainedConfig;
    model = await PretrainedModel.create(opts.encoderCheckpoint ? { ...c, checkpoint: opts.encoderCheckpoint } : c, seed);
  }
  else throw new Error(`${file}: unknown model kind "${metadata.kind}"`);
  try {
    model.loadState(tensors, info, opts.withOptimizer ?? false);
  } catch (e) {
    model.dispose();
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return { model, info };
}

