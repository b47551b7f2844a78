import type { BackendConfig } from '../backends/config.js';
import type { RecipeDefinition } from './registry.js';

/** Plain k-NN backend on cosine distance (first entry of ASDKit's score default.yaml). */
export const KNN_PLAIN = { tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, smote_ratio: 0.0, smote_neighbors: 0 };

/** ASDKit's config/score/experiments/default.yaml, in its order (spec §1.6). */
export const DEFAULT_BACKENDS: BackendConfig[] = [
  KNN_PLAIN,
  { tgt_class: 'asdkit.backends.Kmeans', n_clusters: 16, metric: 'cosine' },
  { tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, smote_ratio: 0.2, smote_neighbors: 2, metric: 'cosine' },
  { tgt_class: 'asdkit.backends.KnnRescale', n_neighbors: 1, k_ref_normalize: 4, metric: 'cosine' },
];

/**
 * ASDKit's `raw_spec`: no training; the embedding is the time-averaged 128-band mel magnitude
 * spectrum (STFT 1024/512, power 1, no log) — `infer_ver` names the pooling — scored by k-NN.
 */
export const rawSpec: RecipeDefinition = {
  name: 'raw_spec',
  description: 'time-averaged mel spectrogram (STFT 1024/512, 128 mels) + k-NN backends, no training',
  defaults: {
    version: 'raw_spec',
    seed: 0,
    infer_ver: 'time_mean',
    extract: { frontend: { type: 'stft_pool' }, batch_size: 64 },
    score: { backend: DEFAULT_BACKENDS },
    table: { metrics: ['official', 's_auc', 't_auc', 'mix_auc'] },
  },
};
