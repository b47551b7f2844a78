import path from 'node:path';
import { resolveBackend, type BackendConfig } from '../backends/config.js';
import { fitScore, type EmbeddingSet } from '../backends/score.js';
import { readNpz, type NpyArray } from '../io/npz.js';
import { toCsv, type Cell } from '../util/csv.js';
import { checkFingerprint, clearFingerprint, machineDir, skipped, stampFiles, writeFingerprint, type Fingerprint, type RunIds, type Skipped, type StepControl } from '../run/index.js';
import { exists, sweepStaleTemps, writeAtomic } from '../util/files.js';
import { pyFloat32 } from '../util/pyfloat.js';

export interface ScoreOptions extends RunIds, StepControl {
  machine: string;
  /** Backend configs in order (ASDKit `score.backend`); empty = pass extract-time scores only. */
  backends: readonly BackendConfig[];
  overwrite?: boolean;
  /** Peak memory the distance kernel may use, in bytes. */
  memoryBudgetBytes?: number;
}

export interface ScoreStepResult {
  files: string[];
  columns: string[];
  warnings: string[];
}

const META = ['path', 'section', 'is_normal', 'is_target'];
const KEEP = [/^path$/, /^section$/, /^is_normal$/, /^is_target$/, /^AS.*$/];
type Column = { name: string; cells: Cell[] };

/**
 * The score step (spec backends-recipes-outputs §3): fits every backend on
 * `train_extract.npz`, scores train and test, and writes `train_score.csv` / `test_score.csv`
 * with `path, section, is_normal, is_target`, then the score columns in code-point order.
 * Done when both files exist and were made with these back-ends from the present extract files
 * (a re-extraction makes them stale: refused with the difference unless `overwrite`).
 */
export async function score(o: ScoreOptions): Promise<ScoreStepResult | Skipped> {
  const dir = machineDir(o, o.machine);
  const splits = ['train', 'test'] as const;
  const fingerprint = async (): Promise<Fingerprint> => ({
    settings: { backends: o.backends },
    files: await stampFiles(Object.fromEntries(splits.map((s) => [`${s}_extract.npz`, path.join(dir, `${s}_extract.npz`)]))),
  });
  if (!o.overwrite && (await Promise.all(splits.map((s) => exists(path.join(dir, `${s}_score.csv`))))).every(Boolean)) {
    await checkFingerprint(dir, 'score', fingerprint);
    return skipped(path.join(dir, '*_score.csv'));
  }
  const inputs = await fingerprint();
  await sweepStaleTemps(dir);
  const resolved = o.backends.map((b, i) => resolveBackend(b, `score backend #${i + 1}`));
  const data = await Promise.all(splits.map((s) => readNpz(path.join(dir, `${s}_extract.npz`))));
  const tables: Map<string, Column>[] = data.map((arrays, i) => extractColumns(arrays, `${splits[i]}_extract.npz`));

  const warnings: string[] = [];
  for (const [i, b] of resolved.entries()) {
    const sets = data.map((arrays, s) => embeddingSet(arrays, b.embedKey, path.join(dir, `${splits[s]}_extract.npz`)));
    const r = await fitScore(o.backends[i], sets[0], sets, {
      device: o.device,
      signal: o.signal,
      memoryBudgetBytes: o.memoryBudgetBytes,
      onProgress: o.onProgress ? (d, t) => o.onProgress!(i * t + d, resolved.length * t) : undefined,
    });
    for (const w of r.warnings) warnings.push(`${b.column}: ${w}`);
    r.scores.forEach((s, k) => tables[k].set(b.column, { name: b.column, cells: Array.from(s) }));
  }

  const files: string[] = [];
  let columns: string[] = [];
  await clearFingerprint(dir, 'score');
  for (const [k, split] of splits.entries()) {
    const cols = orderColumns([...tables[k].values()]);
    columns = cols.map((c) => c.name);
    const rows = cols[0]?.cells.map((_, r) => cols.map((c) => c.cells[r])) ?? [];
    const file = path.join(dir, `${split}_score.csv`);
    await writeAtomic(file, toCsv(columns, rows));
    files.push(file);
  }
  await writeFingerprint(dir, 'score', inputs);
  return { files, columns, warnings };
}

function codePointCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function orderColumns(cols: Column[]): Column[] {
  const meta = META.flatMap((m) => cols.filter((c) => c.name === m));
  const rest = cols.filter((c) => !META.includes(c.name)).sort((a, b) => codePointCompare(a.name, b.name));
  return [...meta, ...rest];
}

/** Columns carried from the extract file (`path`, metadata, extract-time `AS*` scores). */
function extractColumns(arrays: Map<string, NpyArray>, file: string): Map<string, Column> {
  const out = new Map<string, Column>();
  for (const [name, a] of arrays) {
    if (!KEEP.some((re) => re.test(name))) continue;
    if (a.shape.length !== 1) throw new Error(`${file}: "${name}" must be one value per row, has shape (${a.shape.join(', ')})`);
    out.set(name, { name, cells: cellsOf(a) });
  }
  return out;
}

function cellsOf(a: NpyArray): Cell[] {
  switch (a.dtype) {
    case 'unicode':
      return a.data;
    case 'int64':
      return Array.from(a.data, (v) => v.toString());
    case 'int32':
    case 'bool':
      return Array.from(a.data, (v) => String(v));
    case 'float32':
      return Array.from(a.data, (v) => (Number.isNaN(v) ? '' : pyFloat32(v)));
    case 'float64':
      return Array.from(a.data);
  }
}

function numbers(a: NpyArray | undefined, key: string, file: string, rows: number): number[] {
  if (!a) throw new Error(`${file}: missing array "${key}"`);
  if (a.dtype === 'unicode') throw new Error(`${file}: "${key}" must be numeric`);
  const v = Array.from(a.data as ArrayLike<number | bigint>, Number);
  if (v.length !== rows) throw new Error(`${file}: "${key}" has ${v.length} rows, embeddings have ${rows}`);
  return v;
}

/** One split's embeddings under `key` with their sections and domains; errors name the file. */
export function embeddingSet(arrays: Map<string, NpyArray>, key: string, file: string): EmbeddingSet {
  const e = arrays.get(key);
  if (!e) throw new Error(`${file}: no "${key}" array (keys: ${[...arrays.keys()].join(', ')})`);
  if (e.dtype !== 'float32' && e.dtype !== 'float64') throw new Error(`${file}: "${key}" must be float32, is ${e.dtype}`);
  if (e.shape.length !== 2) throw new Error(`${file}: "${key}" must be 2-D (rows × dim), has shape (${e.shape.join(', ')})`);
  const [rows, dim] = e.shape;
  return {
    embed: e.data instanceof Float32Array ? e.data : Float32Array.from(e.data),
    dim,
    section: numbers(arrays.get('section'), 'section', file, rows),
    isTarget: numbers(arrays.get('is_target'), 'is_target', file, rows),
  };
}
