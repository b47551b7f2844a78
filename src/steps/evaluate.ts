/**
 * Evaluate step (spec data-and-evaluation §5): test_score.csv → test_evaluate.csv of one machine.
 */
import path from 'node:path';
import { assertDcase, type Dcase } from '../dcase/index.js';
import {
  evaluateMachine,
  metricTableCsv,
  parseMetricTable,
  type EvaluateInput,
  type EvaluateResult,
  type MetricTable,
} from '../metrics/index.js';
import { numericColumn, readCsvFile, type CsvTable } from '../util/csv.js';
import { checkFingerprint, clearFingerprint, machineDir, skipped, stampFiles, writeFingerprint, type RunIds, type Skipped } from '../run/index.js';
import { exists, readText, writeAtomic } from '../util/files.js';

/** Score columns: names whose first `-`-separated token is `AS` (`AS-recon`, `AS-Knn-…-main`). */
export function scoreColumns(columns: readonly string[]): string[] {
  return columns.filter((c) => c.split('-')[0] === 'AS');
}

/** A label column as integers, each checked against `ok` (error names file, column and row). */
function intColumn(t: CsvTable, col: string, file: string, ok: (v: number) => boolean, want: string): Float64Array {
  const values = numericColumn(t, col, file);
  const bad = values.findIndex((v) => !Number.isInteger(v) || !ok(v));
  if (bad >= 0) {
    throw new Error(`${file}: column "${col}", data row ${bad + 1}: "${t.rows[bad][t.columns.indexOf(col)]}" is not ${want}`);
  }
  return values;
}

/** Reads a test_score.csv into evaluate input (`path` and other non-score columns are ignored). */
export async function readScoreFile(file: string, dcase: Dcase, machine: string): Promise<EvaluateInput> {
  const t = await readCsvFile(file, 'score file');
  const missing = ['section', 'is_normal', 'is_target'].filter((c) => !t.columns.includes(c));
  if (missing.length > 0) throw new Error(`${file}: missing required column(s) ${missing.join(', ')}`);
  const backends = scoreColumns(t.columns);
  if (backends.length === 0) throw new Error(`${file}: no score column (a name whose first "-" part is "AS")`);
  const binary = (v: number) => v === 0 || v === 1;
  return {
    dcase,
    machine,
    section: intColumn(t, 'section', file, () => true, 'an integer'),
    isNormal: intColumn(t, 'is_normal', file, binary, '0 or 1'),
    isTarget: intColumn(t, 'is_target', file, binary, '0 or 1'),
    scores: backends.map((backend) => ({ backend, values: numericColumn(t, backend, file) })),
  };
}

export interface EvaluateFileOptions {
  scoreFile: string;
  dcase: Dcase;
  machine: string;
  outFile: string;
  /** When false (default) an existing outFile makes the call return `Skipped`. */
  overwrite?: boolean;
}

export interface EvaluateFileResult extends EvaluateResult {
  outFile: string;
}

/** Evaluates one score file and writes its test_evaluate table; nothing is written on error. */
export async function evaluateScoreFile(o: EvaluateFileOptions): Promise<EvaluateFileResult | Skipped> {
  const dcase = assertDcase(o.dcase);
  if (!o.overwrite && (await exists(o.outFile))) return skipped(o.outFile);
  const input = await readScoreFile(o.scoreFile, dcase, o.machine);
  let result: EvaluateResult;
  try {
    result = evaluateMachine(input);
  } catch (e) {
    throw new Error(`${o.scoreFile}: ${(e as Error).message}`);
  }
  await writeAtomic(o.outFile, metricTableCsv(result));
  return { ...result, outFile: o.outFile };
}

export interface EvaluateOptions extends RunIds {
  machine: string;
  overwrite?: boolean;
}

/**
 * The evaluate step of one machine: `<machineDir>/test_score.csv` → `test_evaluate.csv`.
 * Returns `Skipped` when test_evaluate.csv is there (made from the present test_score.csv, else
 * refused) and overwrite is off.
 */
export async function evaluate(o: EvaluateOptions): Promise<EvaluateFileResult | Skipped> {
  const dir = machineDir(o, o.machine);
  const scoreFile = path.join(dir, 'test_score.csv');
  const outFile = path.join(dir, 'test_evaluate.csv');
  const fingerprint = async () => ({ settings: {}, files: await stampFiles({ 'test_score.csv': scoreFile }) });
  if (!o.overwrite && (await exists(outFile))) {
    await checkFingerprint(dir, 'evaluate', fingerprint);
    return skipped(path.join(dir, '*_evaluate.csv'));
  }
  const inputs = await fingerprint();
  await clearFingerprint(dir, 'evaluate');
  const r = await evaluateScoreFile({ scoreFile, dcase: o.dcase, machine: o.machine, outFile, overwrite: true });
  await writeFingerprint(dir, 'evaluate', inputs);
  return r;
}

/** Reads a test_evaluate.csv back as the table step sees it (floats read the pandas way). */
export async function readMetricTable(file: string): Promise<MetricTable> {
  return parseMetricTable(await readText(file, 'evaluate file'), file);
}
