/** The typed configuration of a recipe run; recipe files give defaults, `--set` overrides. */
import { z } from 'zod';
import { DCASE_YEARS } from '../dcase/index.js';
import { backendConfigSchema } from '../backends/config.js';

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
    device: z.string().default('cpu'),
    /** Machines to run (default: the year's recipe list, limited to those present in data_dir). */
    machines: z.array(z.string()).optional(),
    overwrite: z.boolean().default(false),
    extract: z
      .object({
        frontend: stftPoolSchema,
        sec: z.union([z.number().positive(), z.string()]).optional(),
        batch_size: z.number().int().positive().default(64),
      })
      .strict(),
    score: z.object({ backend: z.array(backendConfigSchema) }).strict(),
    table: z.object({ metrics: z.array(z.string()).default(['official', 's_auc', 't_auc', 'mix_auc']) }).strict(),
  })
  .strict();

export type RunConfig = z.infer<typeof runConfigSchema>;
export type RunConfigInput = z.input<typeof runConfigSchema>;
