/**
 * Typed fit/score on embeddings: fits a backend on training rows and scores query sets, in the
 * native core (batched distances on the selected device).
 */
import { ensureThreads, native, runJob, type NativeAddon, type NativeBackendConfig, type NativeEmbedSet, type NativeJob, type NativeScoreOptions } from '../native/index.js';
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

export type BackendControl = StepControl & { memoryBudgetBytes?: number };

/**
 * The one way a backend call reaches the addon: the config resolved (its column name), threads
 * applied, the run options, cancellation. `start` issues the addon call.
 */
export async function runBackend<T>(
  config: BackendConfig,
  control: BackendControl,
  start: (addon: NativeAddon, cfg: NativeBackendConfig, options: NativeScoreOptions) => NativeJob<T>,
): Promise<{ column: string; result: T }> {
  const b = resolveBackend(config);
  ensureThreads();
  const addon = native();
  const options = { device: control.device ?? 'cpu', memoryBudgetBytes: control.memoryBudgetBytes };
  const result = await runJob(() => start(addon, { kind: b.kind, params: b.params }, options), control.signal);
  return { column: b.column, result };
}

/** Fits `config` on `train` and scores every set in `queries` (higher = more anomalous). */
export async function fitScore(config: BackendConfig, train: EmbeddingSet, queries: EmbeddingSet[], control: BackendControl = {}): Promise<ScoreResult> {
  const q = queries.map((s, i) => toNative(s, `query set ${i}`));
  const t = toNative(train, 'training set');
  const { column, result } = await runBackend(config, control, (addon, cfg, options) => addon.backendScore(cfg, t, q, options, control.onProgress));
  return { column, scores: result.scores, warnings: result.warnings };
}
