import type { RecipeDefinition } from '../run/index.js';
import { defineRecipe } from './define.js';

/**
 * ASDKit's `raw_spec`: no training; the embedding is the time-averaged 128-band mel magnitude
 * spectrum (STFT 1024/512, power 1, no log) — `infer_ver` names the pooling — scored by ASDKit's
 * default k-NN back-ends (the schema's default).
 */
export const RAW_SPEC_RECIPE: RecipeDefinition = defineRecipe(
  'raw_spec',
  'time-averaged mel spectrogram (STFT 1024/512, 128 mels) + k-NN backends, no training',
  { infer_ver: 'time_mean', extract: { frontend: { type: 'stft_pool' } } },
);
