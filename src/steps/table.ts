/**
 * Table step (spec data-and-evaluation §6): per-machine test_evaluate.csv files →
 * `<outputDir>/<split>_<metric>.csv`.
 */
import path from 'node:path';
import { assertDcase } from '../dcase/index.js';
import { buildTable, metricTableCsv, tableJobs, type MetricTable } from '../metrics/index.js';
import { checkFingerprint, clearFingerprint, outputDir, recordedOutputs, skipped, stampFiles, TABLE_METRICS, writeFingerprint, type Fingerprint, type RunIds, type Skipped } from '../run/index.js';
import { exists, sweepStaleTemps, writeAtomic } from '../util/files.js';
import { readMetricTable } from './evaluate.js';

export interface TableOptions extends RunIds {
  /** Metric names; `official` stands for `official<yy>`. Default: official, s_auc, t_auc, mix_auc. */
  metrics?: string[];
  /** Port extension: table only these machines (ASDKit order kept); default the year's full lists. */
  machines?: readonly string[];
  overwrite?: boolean;
}

/**
 * Writes the tables in ASDKit's order. A missing test_evaluate.csv aborts the step (tables
 * already written stay); a machine lacking a column only skips that table, with a warning.
 * Done when every table it would write (or, as recorded, wrote last time) exists, made from the
 * present test_evaluate.csv files.
 */
export async function table(o: TableOptions): Promise<{ written: string[]; warnings: string[] } | Skipped> {
  const dcase = assertDcase(o.dcase);
  const dir = outputDir(o);
  const metrics = o.metrics ?? TABLE_METRICS;
  const { jobs, warnings } = tableJobs(dcase, metrics, o.machines);
  const evalFiles = [...new Set(jobs.flatMap((j) => j.machines))].map((m) => [`${m}/test_evaluate.csv`, path.join(dir, m, 'test_evaluate.csv')]);
  const fingerprint = async (): Promise<Fingerprint> => ({
    settings: { metrics, machines: o.machines ?? null },
    files: await stampFiles(Object.fromEntries(evalFiles)),
  });
  const expected = (await recordedOutputs(dir, 'table')) ?? jobs.map((j) => j.file);
  if (!o.overwrite && expected.length > 0 && (await Promise.all(expected.map((f) => exists(path.join(dir, f))))).every(Boolean)) {
    await checkFingerprint(dir, 'table', fingerprint);
    return skipped(path.join(dir, '*.csv'));
  }
  const inputs = await fingerprint();
  await sweepStaleTemps(dir);
  await clearFingerprint(dir, 'table');
  // 2020–2022 dev and eval tables read the same files; read each once.
  const cache = new Map<string, MetricTable>();
  const load = async (machine: string): Promise<MetricTable> => {
    let t = cache.get(machine);
    if (!t) {
      t = await readMetricTable(path.join(dir, machine, 'test_evaluate.csv'));
      cache.set(machine, t);
    }
    return t;
  };

  const written: string[] = [];
  for (const job of jobs) {
    const evals: MetricTable[] = [];
    for (const machine of job.machines) evals.push(await load(machine));
    const r = buildTable(dcase, job, evals);
    warnings.push(...r.warnings);
    if (!r.table) continue;
    const file = path.join(dir, job.file);
    await writeAtomic(file, metricTableCsv(r.table));
    written.push(file);
  }
  await writeFingerprint(dir, 'table', { ...inputs, outputs: written.map((f) => path.basename(f)) });
  return { written, warnings };
}
