import { AE_BATCH_SIZE, AE_INTERVAL_EPOCHS, AE_MAX_EPOCHS, type RecipeDefinition } from '../run/index.js';
import { defineRecipe } from './define.js';

/** DCASE's official autoencoder baseline: one AE per machine, scored by reconstruction error (no back-end). */
export const AE_RECIPE: RecipeDefinition = defineRecipe(
  'ae',
  'AE baseline: MLP autoencoder on 5-frame log-mel vectors, one model per machine, AS-recon score',
  {
    infer_ver: 'last',
    ae: {},
    trainer: { max_epochs: AE_MAX_EPOCHS, interval_epochs: AE_INTERVAL_EPOCHS },
    datamodule: { batch_size: AE_BATCH_SIZE },
    extract: { frontend: { type: 'restore' } },
    score: { backend: [] },
  },
);
