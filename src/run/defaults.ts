/**
 * Every default that more than one place needs, written once. The run schema, the steps, the
 * model classes and the CLI read them from here; the native core keeps its own struct defaults
 * only as a fallback for direct C++ callers.
 */

/** Clips per native batch when extracting embeddings. */
export const EXTRACT_BATCH_SIZE = 64;
/** Clips per training step of the clip models (dis_*). */
export const TRAIN_BATCH_SIZE = 64;
/** Frame vectors per training step of the AE. */
export const AE_BATCH_SIZE = 256;
/** Threads decoding WAV files ahead of the model. */
export const IO_THREADS = 2;
/** Training batches decoded ahead. */
export const PREFETCH = 2;
/** Epochs of the dis_* recipes and how often an interval checkpoint is kept (ASDKit's trainer). */
export const MAX_EPOCHS = 16;
export const INTERVAL_EPOCHS = 4;
/** The AE baseline's epochs and checkpoint interval. */
export const AE_MAX_EPOCHS = 50;
export const AE_INTERVAL_EPOCHS = 10;
export const DEVICE = 'cpu';

/** The tables every recipe writes, in ASDKit's order. */
export const TABLE_METRICS: readonly string[] = ['official', 's_auc', 't_auc', 'mix_auc'];

/** Plain k-NN on cosine distance (first entry of ASDKit's score default.yaml). */
export const KNN_PLAIN = { tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, smote_ratio: 0.0, smote_neighbors: 0 };

/** ASDKit's config/score/experiments/default.yaml, in its order (spec §1.6). */
export const DEFAULT_BACKENDS: ReadonlyArray<{ tgt_class: string } & Record<string, number | string | boolean>> = [
  KNN_PLAIN,
  { tgt_class: 'asdkit.backends.Kmeans', n_clusters: 16, metric: 'cosine' },
  { tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, smote_ratio: 0.2, smote_neighbors: 2, metric: 'cosine' },
  { tgt_class: 'asdkit.backends.KnnRescale', n_neighbors: 1, k_ref_normalize: 4, metric: 'cosine' },
];
