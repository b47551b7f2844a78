/**
 * Table step (spec data-and-evaluation §6): per-machine test_evaluate.csv files →
 * `<outputDir>/<split>_<metric>.csv`.
 */
import path from 'node:path';
import { assertDcase } from '../dcase/index.js';
import { buildTable, DEFAULT_TABLE_METRICS, metricTableCsv, tableJobs, type MetricTable } from '../metrics/index.js';
import { filesMatching, SkipError, writeAtomic } from '../util/files.js';
import { readMetricTable } from './evaluate.js';
import { outputDir, type RunIds } from './paths.js';

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
 */
export async function table(o: TableOptions): Promise<{ written: string[]; warnings: string[] }> {
  const dcase = assertDcase(o.dcase);
  const dir = outputDir(o);
  if (!o.overwrite && (await filesMatching(dir, /^(?!\.).*\.csv$/)).length > 0) {
    throw new SkipError(path.join(dir, '*.csv'));
  }
  const { jobs, warnings } = tableJobs(dcase, o.metrics ?? DEFAULT_TABLE_METRICS, o.machines);
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
  return { written, warnings };
}
