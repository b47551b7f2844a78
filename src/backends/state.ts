/**
 * A backend's fitted state as arrays (for detectors): fit once, keep the state and the
 * leave-one-out training scores, and score new query sets later without refitting.
 */
import { ensureThreads, native, runJob, type NativeBackendState } from '../native/index.js';
import type { StepControl } from '../run/index.js';
import { resolveBackend, type BackendConfig } from './config.js';
import { toNative, type EmbeddingSet } from './score.js';

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

type Control = StepControl & { memoryBudgetBytes?: number };

/** Fits `config` on `train` and returns its state and leave-one-out training scores. */
export async function fitBackend(config: BackendConfig, train: EmbeddingSet, control: Control = {}): Promise<FitResult> {
  const b = resolveBackend(config);
  ensureThreads();
  const addon = native();
  const t = toNative(train, 'training set');
  const r = await runJob(
    () =>
      addon.backendFit(
        { kind: b.kind, params: b.params },
        t,
        { device: control.device ?? 'cpu', memoryBudgetBytes: control.memoryBudgetBytes },
        control.onProgress,
      ),
    control.signal,
  );
  return { column: b.column, state: r.state, trainScores: r.trainScores, warnings: r.warnings };
}

/** Scores every set in `queries` against a state from `fitBackend` with the same `config`. */
export async function scoreWithState(
  config: BackendConfig,
  state: NativeBackendState,
  queries: EmbeddingSet[],
  control: Control = {},
): Promise<StateScoreResult> {
  const b = resolveBackend(config);
  ensureThreads();
  const addon = native();
  const q = queries.map((s, i) => toNative(s, `query set ${i}`));
  const r = await runJob(
    () =>
      addon.backendScoreState(
        { kind: b.kind, params: b.params },
        state,
        q,
        { device: control.device ?? 'cpu', memoryBudgetBytes: control.memoryBudgetBytes },
        control.onProgress,
      ),
    control.signal,
  );
  return { column: b.column, scores: r.scores };
}
