/** Renders result tables for the terminal. */
import path from 'node:path';
import { yearSuffix, type Dcase } from '../dcase/index.js';
import type { PreflightResult } from '../recipes/preflight.js';
import { isSkipped, type Skipped } from '../run/index.js';
import { readCsvFile } from '../util/csv.js';

/**
 * A step that found its outputs: a note on stderr; the exit status stays 0, since the work is done
 * (the rule of every command: 0 done or already done, 1 an error, 130 interrupted). Returns
 * whether `r` was a skip.
 */
export function warnIfSkipped<T>(r: T | Skipped): r is Skipped {
  if (!isSkipped(r)) return false;
  console.error(`skip: ${r.message}`);
  return true;
}

/** What the checks before a run found: warnings (ignored settings) and notes (e.g. the label file used), on stderr. */
export function printPreflight(r: PreflightResult): void {
  for (const w of r.warnings) console.error(`warning: ${w}`);
  for (const n of r.notes) console.error(n);
}

/** An aligned text table; numeric cells shown as percentages with two decimals. */
export function renderTable(columns: string[], rows: string[][]): string {
  const shown = rows.map((r) => r.map((c, i) => (i === 0 || c === '' ? c || '—' : (Number(c) * 100).toFixed(2))));
  const widths = columns.map((c, i) => Math.max(c.length, ...shown.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...shown.map(line)].join('\n');
}

/** The official-score tables (dev and eval) of a run folder, as text. */
export async function officialScoreReport(outputDir: string, dcase: Dcase): Promise<string> {
  const parts: string[] = [];
  for (const split of ['dev', 'eval']) {
    const file = path.join(outputDir, `${split}_official${yearSuffix(dcase)}.csv`);
    try {
      const t = await readCsvFile(file, 'table');
      parts.push(`${split} official score (${path.basename(file)}, %):\n${renderTable(t.columns, t.rows)}`);
    } catch {
      // a split without machines in this run has no table
    }
  }
  return parts.join('\n\n');
}
