/**
 * A backend's fitted state as arrays (for detectors): fit once, keep the state and the
 * leave-one-out training scores, and score new query sets later without refitting.
 */
import type { NativeBackendState } from '../native/index.js';
import type { BackendConfig } from './config.js';
import { runBackend, toNative, type BackendControl, type EmbeddingSet } from './score.js';

export interface FitResult {
  column: string;
  state: NativeBackendState;
  /** Each training row scored with itself left out of its own reference set, in row order. */
  trainScores: Float64Array;
  warnings: string[];
}

export interface StateScoreResult {
  column: string;
  /** One float64 score per row of each query set, in row order (as `fitScore` would give). */
  scores: Float64Array[];
}

/** Fits `config` on `train` and returns its state and leave-one-out training scores. */
export async function fitBackend(config: BackendConfig, train: EmbeddingSet, control: BackendControl = {}): Promise<FitResult> {
  const t = toNative(train, 'training set');
  const { column, result } = await runBackend(config, control, (addon, cfg, options) => addon.backendFit(cfg, t, options, control.onProgress));
  return { column, state: result.state, trainScores: result.trainScores, warnings: result.warnings };
}

/** Scores every set in `queries` against a state from `fitBackend` with the same `config`. */
export async function scoreWithState(config: BackendConfig, state: NativeBackendState, queries: EmbeddingSet[], control: BackendControl = {}): Promise<StateScoreResult> {
  const q = queries.map((s, i) => toNative(s, `query set ${i}`));
  const { column, result } = await runBackend(config, control, (addon, cfg, options) => addon.backendScoreState(cfg, state, q, options, control.onProgress));
  return { column, scores: result.scores };
}
