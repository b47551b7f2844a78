/**
 * Typed fit/score on embeddings: fits a backend on training rows and scores query sets, in the
 * native core (batched distances on the selected device).
 */
import { ensureThreads, native, runJob, type NativeEmbedSet } from '../native/index.js';
import type { StepControl } from '../run/index.js';
import { resolveBackend, type BackendConfig } from './config.js';

export interface EmbeddingSet {
  /** Row-major (rows × dim) float32 embeddings. */
  embed: Float32Array;
  dim: number;
  section: ArrayLike<number>;
  isTarget: ArrayLike<number>;
}

export interface ScoreResult {
  column: string;
  /** One float64 score per row of each query set, in row order. */
  scores: Float64Array[];
  warnings: string[];
}

export function toNative(s: EmbeddingSet, what: string): NativeEmbedSet {
  const rows = s.dim > 0 ? s.embed.length / s.dim : 0;
  if (!Number.isInteger(rows)) throw new Error(`${what}: embed length ${s.embed.length} is not a multiple of dim ${s.dim}`);
  if (s.section.length !== rows || s.isTarget.length !== rows) {
    throw new Error(`${what}: ${rows} embedding rows but ${s.section.length} sections and ${s.isTarget.length} domain flags`);
  }
  return {
    embed: { data: s.embed, shape: [rows, s.dim] },
    section: Int32Array.from(s.section),
    isTarget: Int32Array.from(s.isTarget),
  };
}

/** Fits `config` on `train` and scores every set in `queries` (higher = more anomalous). */
export async function fitScore(
  config: BackendConfig,
  train: EmbeddingSet,
  queries: EmbeddingSet[],
  control: StepControl & { memoryBudgetBytes?: number } = {},
): Promise<ScoreResult> {
  const b = resolveBackend(config);
  ensureThreads();
  const addon = native();
  const q = queries.map((s, i) => toNative(s, `query set ${i}`));
  const t = toNative(train, 'training set');
  const r = await runJob(
    () =>
      addon.backendScore(
        { kind: b.kind, params: b.params },
        t,
        q,
        { device: control.device ?? 'cpu', memoryBudgetBytes: control.memoryBudgetBytes },
        control.onProgress,
      ),
    control.signal,
  );
  return { column: b.column, scores: r.scores, warnings: r.warnings };
}
