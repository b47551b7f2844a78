/**
 * The BEATs / EAT recipes (spec pretrained §6–§7): `raw_beats` / `raw_eat` embed every clip with
 * the frozen encoder (no training); `dis_beats_scac_trainable` / `dis_eat_scac_trainable` train
 * LoRA adapters, a projection and SCAdaCos on all machines, then extract from `last.ckpt`.
 * The official checkpoints are read from `pretrained_models/…` (see `asdkit pretrained`).
 */
import type { RecipeDefinition } from '../run/index.js';
import { defineRecipe, trainedRecipe } from './define.js';

export const BEATS_CHECKPOINT = 'pretrained_models/beats/BEATs_iter3.pt';
export const EAT_CHECKPOINT = 'pretrained_models/eat/EAT-base_epoch10_pt.pt';

function raw(name: string, encoder: 'beats' | 'eat', checkpoint: string, description: string): RecipeDefinition {
  return defineRecipe(name, description, { infer_ver: 'last', extract: { frontend: { type: 'pretrained', encoder, checkpoint } } });
}

function lora(name: string, encoder: 'beats' | 'eat', checkpoint: string, projection: 'linear' | 'attn_stat_pool', description: string): RecipeDefinition {
  const model = {
    extractor: { type: encoder, checkpoint, lora_r: 64, lora_alpha: 8, projection, embed_size: 256 },
    loss: { type: 'scadacos' as const, n_subclusters: 16, trainable: true, dynamic: false },
    mixup_prob: 0.5,
  };
  // timm CosineLRScheduler(t_initial 5001, lr_min = lr, warmup_t 5000, warmup_lr_init 0):
  // linear warm-up over 5000 steps, then constant 1e-4 (§7).
  const trainer = { max_epochs: 25, lr: 1e-4, warmup_steps: 5000, cosine_steps: 5001, lr_min: 1e-4 };
  return trainedRecipe(name, description, model, { trainer, datamodule: { batch_size: 8 } });
}

export const PRETRAINED_RECIPES: RecipeDefinition[] = [
  raw('raw_beats', 'beats', BEATS_CHECKPOINT, 'frozen BEATs iter3, mean of the last layer tokens (768-d) + k-NN backends, no training'),
  raw('raw_eat', 'eat', EAT_CHECKPOINT, 'frozen EAT-base (epoch 10), CLS token (768-d) + k-NN backends, no training'),
  lora('dis_beats_scac_trainable', 'beats', BEATS_CHECKPOINT, 'attn_stat_pool', 'BEATs iter3 + LoRA (r 64, q/v), attentive statistics pooling → 256, SCAdaCos trainable, Mixup'),
  lora('dis_eat_scac_trainable', 'eat', EAT_CHECKPOINT, 'linear', 'EAT-base + LoRA (r 64, qkv), CLS → Linear 256, SCAdaCos trainable, Mixup'),
];
