/**
 * DCASE submission files from a finished run: per eval machine and section,
 * `anomaly_score_<machine>_section_<XX>_test.csv` and `decision_result_<machine>_section_<XX>_test.csv`
 * (2020: `…_id_<XX>.csv`), as the official evaluators read them — no header, `name,value` rows
 * with the anonymised evaluation file names, one row per test clip, sorted by name (the
 * evaluators sort and zip rows with their ground truth by position, so a missing, extra or
 * header row would misalign every label). Scores are the run's `test_score.csv` column;
 * decisions use the thresholds `asdkit export` would fit (gamma or percentile of the normal
 * training scores, leave-one-out).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { formattedName } from '../data/format.js';
import { loadGroundTruth } from '../data/ground-truth/index.js';
import type { Dcase } from '../dcase/index.js';
import { machineDir, outputDir, runIdsOf, type RunConfig, type StepControl } from '../run/index.js';
import { numericColumn, readCsvFile } from '../util/csv.js';
import { exists, writeAtomic } from '../util/files.js';
import { pyFloat } from '../util/pyfloat.js';
import { fitScorer, type ThresholdOptions } from './export.js';

export interface SubmissionOptions extends StepControl, ThresholdOptions {
  config: RunConfig;
  /** Score column (default: the run's first backend column). */
  backend?: string;
  out: string;
  /** Machines to write (default: every machine of the run with evaluation test clips). */
  machines?: string[];
  /** Accept fewer clips than the year's ground-truth list (synthetic data); real submissions must be complete. */
  partial?: boolean;
}

export interface SubmissionFile {
  machine: string;
  section: number;
  scores: string;
  decisions: string;
  rows: number;
  anomalous: number;
}

/**
 * File stem of one machine and section, as the year's evaluator names it (2026, one section:
 * `<machine>_section_00_test`, 200 rows per machine; README "DCASE 2026").
 */
export function submissionStem(dcase: Dcase, machine: string, section: number): string {
  const ss = String(section).padStart(2, '0');
  return dcase === 'dcase2020' ? `${machine}_id_${ss}` : `${machine}_section_${ss}_test`;
}

/** Formatted clip name → its anonymised evaluation name, for one machine. */
function anonymisedNames(dcase: Dcase, machine: string, list: Map<string, string>, gt: Awaited<ReturnType<typeof loadGroundTruth>>): Map<string, string> {
  const back = new Map<string, string>();
  for (const anon of list.keys()) back.set(formattedName(dcase, machine, 'eval', 'test', anon, gt), anon);
  return back;
}

/** The section an anonymised name belongs to (`section_XX_…`, 2020 `id_XX_…`). */
function sectionOfAnon(name: string): number {
  const m = /^(?:section|id)_(\d+)_/.exec(name);
  if (!m) throw new Error(`"${name}": an evaluation name without a section`);
  return Number(m[1]);
}

export async function submission(o: SubmissionOptions): Promise<SubmissionFile[]> {
  const c = o.config;
  const dcase = c.dcase as Dcase;
  const gt = await loadGroundTruth(dcase);
  const ids = runIdsOf(c);
  const present = (await fs.readdir(outputDir(ids), { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name);
  const machines = (o.machines ?? present).filter((m) => gt.has(m));
  if (o.machines) for (const m of o.machines) if (!gt.has(m)) throw new Error(`${m}: not an evaluation machine of ${dcase} (the ground-truth list has ${[...gt.keys()].join(', ')})`);
  const written: SubmissionFile[] = [];
  const pending: Array<[string, string]> = [];
  for (const machine of machines) {
    const file = path.join(machineDir(ids, machine), 'test_score.csv');
    if (!(await exists(file))) {
      if (o.machines) throw new Error(`${file}: missing; run the run's steps for ${machine} first`);
      continue;
    }
    const list = gt.get(machine)!;
    const names = anonymisedNames(dcase, machine, list, gt);
    const table = await readCsvFile(file, 'score file');
    const scorer = await fitScorer(c, machine, o.backend, o);
    const scores = numericColumn(table, scorer.column, file);
    const pathCol = table.columns.indexOf('path');
    if (pathCol < 0) throw new Error(`${file}: no "path" column`);
    const bySection = new Map<number, Array<[string, number]>>();
    table.rows.forEach((row, i) => {
      const anon = names.get(path.basename(row[pathCol]));
      if (anon === undefined) return; // a development test clip: not part of a submission
      const s = sectionOfAnon(anon);
      if (!bySection.has(s)) bySection.set(s, []);
      bySection.get(s)!.push([anon, scores[i]]);
    });
    if (bySection.size === 0) continue;
    for (const [section, rows] of [...bySection].sort((a, b) => a[0] - b[0])) {
      const expected = [...list.keys()].filter((n) => sectionOfAnon(n) === section).length;
      if (rows.length !== expected && !o.partial) {
        throw new Error(`${file}: ${rows.length} of the ${expected} evaluation clips of ${machine} section ${String(section).padStart(2, '0')}; the evaluator pairs rows with its list by position, so a submission must have all of them (format and extract the complete evaluation set)`);
      }
      const t = scorer.sections.find((x) => x.section === section);
      if (!t) throw new Error(`${machine} section ${String(section).padStart(2, '0')}: no training clips to fit a threshold to`);
      for (const [anon, v] of rows) if (!Number.isFinite(v)) throw new Error(`${file}: score of ${anon} is ${v}; the evaluator needs a number for every clip`);
      rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const stem = submissionStem(dcase, machine, section);
      const scoresFile = path.join(o.out, `anomaly_score_${stem}.csv`);
      const decisionsFile = path.join(o.out, `decision_result_${stem}.csv`);
      const decisions = rows.map(([, v]) => (v > t.threshold ? 1 : 0));
      pending.push([scoresFile, rows.map(([n, v]) => `${n},${pyFloat(v)}\n`).join('')]);
      pending.push([decisionsFile, rows.map(([n], i) => `${n},${decisions[i]}\n`).join('')]);
      written.push({ machine, section, scores: scoresFile, decisions: decisionsFile, rows: rows.length, anomalous: decisions.reduce<number>((a, b) => a + b, 0) });
    }
  }
  if (written.length === 0) throw new Error(`${outputDir(ids)}: no scored evaluation test clips of ${dcase} in this run (score the evaluation machines first)`);
  // Everything is checked before the first file is written.
  await fs.mkdir(o.out, { recursive: true });
  for (const [f, text] of pending) await writeAtomic(f, text);
  return written;
}
