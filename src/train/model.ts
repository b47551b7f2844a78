/**
 * The typed API of the trainable models: `DisModel` (MultiResNet + margin heads, the dis_*
 * recipes), `AeModel` (the AE baseline) and `PretrainedModel` (BEATs / EAT, pretrained_model.ts). Build from a config, train epoch by epoch (progress,
 * AbortSignal), extract from files or waveforms, save/load self-describing safetensors
 * checkpoints (`loadModel` rebuilds either kind). The numerics run in the native addon, off the
 * event loop; one job at a time per model.
 */
import { readSafetensors } from '../io/safetensors.js';
import { ensureThreads, native, runJob, type NativeAeConfig, type NativeEpochResult, type NativeModelConfig, type ProgressFn } from '../native/index.js';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  ClipModel,
  TrainableModel,
  type CheckpointInfo,
  type EpochSettings,
  type TrainSettingsWithEpochs,
} from './trainable_model.js';
import { PretrainedModel, type PretrainedConfig } from './pretrained_model.js';

export { CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, TrainableModel, type CheckpointInfo, type TrainData, type RunOptions, type ModelKind } from './trainable_model.js';
export type { StepMetrics, TrainSettings } from './trainable_model.js';

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

/** The AE baseline: AE_MLP on 5-frame log-mel vectors (spec §3). */
export class AeModel extends TrainableModel<AeConfig> {
  readonly kind = 'ae' as const;
  private rows = 0;

  static create(config: AeConfig = {}, seed = 0): AeModel {
    ensureThreads();
    return new AeModel(config, seed, native().createAeModel({ ...config, seed }));
  }

  /** Decodes whole training clips (no crop, no tiling) and keeps their frame vectors for training. */
  async prepareVectors(paths: string[], opts: { signal?: AbortSignal; onProgress?: ProgressFn; ioThreads?: number } = {}): Promise<{ rows: number; dim: number }> {
    const r = await runJob(() => this.handle.prepareVectors(paths, { ioThreads: opts.ioThreads ?? 2 }, opts.onProgress), opts.signal);
    this.rows = r.rows;
    return r;
  }

  /** Trains one epoch over the prepared vectors (batch = vectors, default 256). */
  async trainEpoch(epoch: number, settings: EpochSettings): Promise<NativeEpochResult> {
    return this.runEpoch({}, epoch, { batchSize: 256, ...settings });
  }

  async train(settings: TrainSettingsWithEpochs): Promise<NativeEpochResult[]> {
    const steps = Math.ceil(this.rows / (settings.batchSize ?? 256));
    return this.trainEpochs(steps, (e, s) => this.trainEpoch(e, s), settings);
  }
}

export type AnyModel = DisModel | AeModel | PretrainedModel;

/** Rebuilds the model of a checkpoint (either kind); errors name the file. */
export async function loadModel(file: string, opts: { withOptimizer?: boolean } = {}): Promise<{ model: AnyModel; info: CheckpointInfo }> {
  const { tensors, metadata } = await readSafetensors(file);
  if (metadata.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: not an asdkit model checkpoint (format "${metadata.format ?? ''}")`);
  if (metadata.format_version !== CHECKPOINT_FORMAT_VERSION) {
    throw new Error(`${file}: checkpoint format version ${metadata.format_version} is not supported (expected ${CHECKPOINT_FORMAT_VERSION})`);
  }
  let info: CheckpointInfo, config: object;
  try {
    config = JSON.parse(metadata.model_config) as object;
    info = JSON.parse(metadata.info) as CheckpointInfo;
  } catch (e) {
    throw new Error(`${file}: malformed checkpoint metadata (${(e as Error).message})`);
  }
  const seed = Number(metadata.seed ?? 0);
  let model: AnyModel;
  if (metadata.kind === 'ae') model = AeModel.create(config as AeConfig, seed);
  else if (metadata.kind === 'dis') model = DisModel.create(config as ModelConfig, seed);
  else if (metadata.kind === 'pretrained') model = await PretrainedModel.create(config as PretrainedConfig, seed);
  else throw new Error(`${file}: unknown model kind "${metadata.kind}"`);
  try {
    model.loadState(tensors, info, opts.withOptimizer ?? false);
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return { model, info };
}

