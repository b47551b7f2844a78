/** The typed configuration of a recipe run; recipe files give defaults, `--set` overrides, run/defaults.ts the shared values. */
import { z } from 'zod';
import { DCASE_YEARS } from '../dcase/index.js';
import * as D from './defaults.js';

/** `{ tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, ... }` — key order matters (backends/config.ts checks the options). */
export const backendConfigSchema = z
  .object({ tgt_class: z.string().min(1) })
  .catchall(z.union([z.number(), z.string(), z.boolean()]));
export type BackendConfig = z.infer<typeof backendConfigSchema>;

export const stftPoolSchema = z
  .object({
    type: z.literal('stft_pool'),
    /** `<time|freq>_<mean|max>`; defaults to the run's infer_ver, as ASDKit's raw_spec does. */
    pool: z.string().optional(),
    n_fft: z.number().int().positive().default(1024),
    hop_length: z.number().int().positive().default(512),
    n_mels: z.number().int().positive().nullable().default(128),
    power: z.number().positive().default(1.0),
    f_min: z.number().nonnegative().nullable().default(0.0),
    f_max: z.number().positive().nullable().default(8000.0),
    use_log: z.boolean().default(false),
    temporal_norm: z.boolean().default(false),
  })
  .strict();

const int = () => z.number().int();
const triple = () => z.array(int().positive()).length(3);

/** One MultiResNet branch: the FFT branch (its three Conv1d layers) or a linear-STFT branch. */
export const branchSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fft'), kernel: triple().optional(), stride: triple().optional(), dilation: triple().optional() }).strict(),
  z.object({ kind: z.literal('stft'), n_fft: int().positive(), hop_length: int().positive() }).strict(),
]);

export const multiresnetSchema = z
  .object({
    type: z.literal('multiresnet').default('multiresnet'),
    branches: z.array(branchSchema).min(1),
    emb_base_size: int().positive().default(128),
    use_bias: z.boolean().default(false),
  })
  .strict();

/** EAT's `prediction_mode` (spec pretrained §3.4): the CLS token, or the mean of / all sequence tokens. */
const predictionModeSchema = z.enum(['cls', 'seq']);

/** BEATs / EAT with LoRA adapters and a projection head (spec pretrained §4). */
export const pretrainedExtractorSchema = z
  .object({
    type: z.enum(['beats', 'eat']),
    /** The official checkpoint file (spec pretrained §5.1; `asdkit pretrained` says where to get it). */
    checkpoint: z.string(),
    lora_r: int().positive().default(64),
    /** peft's default: the adapters are scaled by lora_alpha / lora_r. */
    lora_alpha: z.number().positive().default(8),
    projection: z.enum(['linear', 'attn_stat_pool']),
    embed_size: int().positive().default(256),
    /** Keep the projection's BatchNorm statistics in checkpoints; ASDKit loses them (spec pretrained §4.4). */
    keep_bn_stats: z.boolean().default(false),
    /** EAT only: `cls` (the CLS token) or `seq` (the sequence tokens; needed by attn_stat_pool). Default cls. */
    prediction_mode: predictionModeSchema.optional(),
  })
  .strict();

/** The trained frontend of the dis_* recipes (spec frontends-and-training §4–§6, pretrained §4). */
export const modelSchema = z
  .object({
    extractor: z.union([multiresnetSchema, pretrainedExtractorSchema]),
    loss: z
      .object({
        type: z.enum(['scadacos', 'adacos', 'arcface', 'adaproj']).default('scadacos'),
        n_subclusters: int().positive().default(16),
        subspace_dim: int().positive().default(32),
        margin: z.number().default(0.5),
        scale: z.number().positive().default(64),
        /** false = frozen random class centres ("fixed" in recipe names). */
        trainable: z.boolean().default(false),
        dynamic: z.boolean().default(false),
      })
      .strict(),
    /** Mixup probability on waveforms and labels; 0 turns Mixup off. */
    mixup_prob: z.number().min(0).max(1).default(0.5),
    technique: z
      .object({
        type: z.enum(['none', 'featex', 'subspace']).default('none'),
        prob: z.number().min(0).max(1).default(0.5),
        subspace_embed_size: int().positive().default(128),
        weight: z.number().default(1.0),
      })
      .strict()
      .default({}),
  })
  .strict();

/** The AE baseline (spec frontends-and-training §3): FlattenSTFT + AE_MLP, one model per machine. */
export const aeSchema = z
  .object({
    n_frames: int().positive().default(5),
    h_dim: int().positive().default(128),
    z_dim: int().positive().default(8),
    n_fft: int().positive().default(1024),
    hop_length: int().positive().default(512),
    n_mels: int().positive().default(128),
    power: z.number().positive().default(1.0),
    f_min: z.number().nonnegative().default(0),
    f_max: z.number().positive().default(8000),
    /** Log the test clips' MSE and AUCs after every epoch (spec §3.5). */
    validate: z.boolean().default(true),
  })
  .strict();

/** Optimiser, schedule, epochs and checkpointing (spec §7.2, §7.5). */
export const trainerSchema = z
  .object({
    max_epochs: int().positive().default(D.MAX_EPOCHS),
    lr: z.number().positive().default(1e-3),
    weight_decay: z.number().nonnegative().default(0.01),
    betas: z.tuple([z.number(), z.number()]).default([0.9, 0.999]),
    eps: z.number().positive().default(1e-8),
    warmup_steps: int().nonnegative().default(0),
    cosine_steps: int().nonnegative().default(0),
    lr_min: z.number().nonnegative().default(0),
    /** Deterministic kernels where the device has them (CUDA); CPU runs are reproducible anyway. */
    deterministic: z.boolean().default(true),
    /** bf16: bfloat16 autocast of forward and loss on CUDA or a CPU with avx512_bf16/amx_bf16 (ASDKit trains in fp32). */
    precision: z.enum(['fp32', 'bf16']).default('fp32'),
    /** interval_epoch checkpoints every this many epochs. */
    interval_epochs: int().positive().default(D.INTERVAL_EPOCHS),
    /** Folder under model/: `all` = one model for every machine. */
    model_ver: z.string().default('all'),
  })
  .strict();

/** Training batches and labels (spec §1). */
export const datamoduleSchema = z
  .object({
    batch_size: int().positive().default(D.TRAIN_BATCH_SIZE),
    /** Training window: seconds or a dcase name (default: the run's dcase). */
    sec: z.union([z.number().positive(), z.string()]).optional(),
    label_set: z.string().default('main'),
    /** Holds `<dcase>/<label_set>.json`; made from the data when missing. */
    label_dir: z.string().default('labels'),
    io_threads: int().positive().default(D.IO_THREADS),
    prefetch: int().positive().default(D.PREFETCH),
  })
  .strict();

/** Extraction from the trained model's checkpoint (`infer_ver` is the ckpt_ver). */
export const restoreSchema = z.object({ type: z.literal('restore') }).strict();

/** A frozen BEATs / EAT encoder (raw_beats, raw_eat; spec pretrained §6). */
export const pretrainedFrontendSchema = z
  .object({
    type: z.literal('pretrained'),
    encoder: z.enum(['beats', 'eat']),
    checkpoint: z.string(),
    /** EAT only: `cls` (default) or `seq` (mean of the sequence tokens). */
    prediction_mode: predictionModeSchema.optional(),
  })
  .strict();

export const runConfigSchema = z
  .object({
    recipe: z.string(),
    name: z.string().default('recipe'),
    version: z.string(),
    dcase: z.enum(DCASE_YEARS),
    seed: z.union([z.number().int(), z.string()]).default(0),
    infer_ver: z.string(),
    data_dir: z.string().default('data'),
    result_dir: z.string().default('results'),
    device: z.string().default(D.DEVICE),
    /** Machines to run (default: the year's recipe list, limited to those present in data_dir). */
    machines: z.array(z.string()).optional(),
    overwrite: z.boolean().default(false),
    /**
     * Which microphone of two-channel clips (DCASE 2026: channel 0 near the machine, channel 1
     * farther away) every step that decodes audio reads: `near` (the baseline's choice), `far`,
     * `mean`, `subtract` (|X_near| − channel_alpha·|X_far| floored at channel_floor·|X_near|, in the
     * STFT domain; raw_spec and the AE) or `both` (raw_spec: the two channels' embeddings side by
     * side). Mono clips read as they are for near and mean; the others refuse them.
     */
    channel: z.enum(['near', 'far', 'mean', 'subtract', 'both']).default('near'),
    channel_alpha: z.number().nonnegative().default(1.0),
    channel_floor: z.number().min(0).max(1).default(0.05),
    extract: z
      .object({
        frontend: z.discriminatedUnion('type', [stftPoolSchema, restoreSchema, pretrainedFrontendSchema]),
        sec: z.union([z.number().positive(), z.string()]).optional(),
        batch_size: z.number().int().positive().default(D.EXTRACT_BATCH_SIZE),
        /** bf16: bfloat16 autocast of trained / pretrained models on CUDA or a CPU with avx512_bf16/amx_bf16. */
        precision: z.enum(['fp32', 'bf16']).default('fp32'),
      })
      .strict(),
    model: modelSchema.optional(),
    ae: aeSchema.optional(),
    trainer: trainerSchema.optional(),
    datamodule: datamoduleSchema.optional(),
    score: z.object({ backend: z.array(backendConfigSchema).default(() => D.DEFAULT_BACKENDS.map((b) => ({ ...b }))) }).strict().default({}),
    /** UMAP plots per machine (spec backends-recipes-outputs §4). */
    visualize: z
      .object({
        enabled: z.boolean().default(true),
        metric: z.enum(['cosine', 'euclid']).default('cosine'),
        embed_key: z.string().default('embed'),
      })
      .strict()
      .default({}),
    table: z.object({ metrics: z.array(z.string()).default([...D.TABLE_METRICS]) }).strict().default({}),
  })
  .strict();

export type RunConfig = z.infer<typeof runConfigSchema>;
export type RunConfigInput = z.input<typeof runConfigSchema>;

export type ModelSection = z.infer<typeof modelSchema>;
export type PretrainedExtractorSection = z.infer<typeof pretrainedExtractorSchema>;
export type TrainerSection = z.infer<typeof trainerSchema>;
export type AeSection = z.infer<typeof aeSchema>;
export type DatamoduleSection = z.infer<typeof datamoduleSchema>;
