/**
 * BEATs / EAT models (spec pretrained §4, §6): the official encoder weights come from the
 * published checkpoint file; a frozen model (no adapters, no head) gives the raw_* embeddings,
 * one with LoRA adapters, a projection and the SCAdaCos head trains like a DisModel.
 * Checkpoints hold the trainable tensors only, as ASDKit's do, so the official file must stay
 * where the config says; `keepBnStats` also keeps the projection's BatchNorm statistics, which
 * ASDKit loses (§4.4).
 */
import { readPretrainedCheckpoint } from '../pretrained/load.js';
import { ensureThreads, native, type NativePretrainedConfig, type NativePretrainedModel, type TensorDict } from '../native/index.js';
import { ClipModel } from './trainable-model.js';

export interface PretrainedConfig extends Omit<NativePretrainedConfig, 'encoderConfig' | 'seed'> {
  /** The official checkpoint the encoder weights and configuration are read from (§5.1). */
  checkpoint: string;
  /** Save the projection's BatchNorm running statistics too (ASDKit does not; see §4.4). */
  keepBnStats?: boolean;
}

export class PretrainedModel extends ClipModel<PretrainedConfig, NativePretrainedModel> {
  readonly kind = 'pretrained' as const;
  protected override readonly partialCheckpoints = true;

  /** Builds the model and loads the encoder from `config.checkpoint`; `seed` fixes the new layers' initialisation. */
  static async create(config: PretrainedConfig, seed = 0): Promise<PretrainedModel> {
    const { cfg, tensors } = await readPretrainedCheckpoint(config.encoder, config.checkpoint);
    ensureThreads();
    const { checkpoint: _file, keepBnStats: _keep, ...rest } = config;
    const handle = native().createPretrainedModel({ ...rest, encoderConfig: cfg, seed });
    try {
      handle.loadEncoder(tensors);
    } catch (e) {
      handle.dispose();
      throw new Error(`${config.checkpoint}: ${(e as Error).message}`);
    }
    return new PretrainedModel(config, seed, handle);
  }

  protected override checkpointState(): TensorDict {
    return this.handle.stateDict({ trainableOnly: true, buffers: this.config.keepBnStats ?? false });
  }
}
