/**
 * The table step's computation (spec data-and-evaluation §6): one metric column of every
 * machine's test_evaluate table side by side, plus a `total` column.
 */
import { hasDomains, machinesOf, oneSectionPerMachine, yearSuffix, type Dcase, type SplitDE } from '../dcase/index.js';
import type { MetricTable } from './evaluate.js';
import { hmean, nanmean } from './means.js';

/** Metrics that need a target domain; 2020 writes no table for them. */
const DOMAIN_ONLY = new Set(['t_auc', 't_pauc', 'smix_auc', 'tmix_auc', 'mix_auc', 'mix_pauc']);

/** One table to build: which column of which machines' files, and the file it goes to. */
export interface TableJob {
  metric: string; // `official` already resolved to `official<yy>`
  split: SplitDE;
  column: string; // column read from each test_evaluate.csv
  file: string; // `<split>_<metric>.csv`
  machines: readonly string[];
}

/**
 * The tables of a table-step run in ASDKit's order; `skipped` lists the files not produced
 * (2020 domain metrics, or splits left without machines), with a reason in `warnings` for the
 * latter. `only` (a port extension for partial runs) keeps just those machines, in ASDKit's
 * order; ASDKit always uses the full list.
 */
export function tableJobs(
  dcase: Dcase,
  metrics: readonly string[],
  only?: readonly string[],
): { jobs: TableJob[]; skipped: string[]; warnings: string[] } {
  const jobs: TableJob[] = [];
  const skipped: string[] = [];
  const warnings: string[] = [];
  const yy = yearSuffix(dcase);
  const known = new Set([...machinesOf(dcase, 'dev'), ...machinesOf(dcase, 'eval')]);
  for (const x of only ?? []) if (!known.has(x)) warnings.push(`machine ${x} is not a ${dcase} machine; ignored`);
  for (const m of metrics) {
    const metric = m === 'official' ? `official${yy}` : m;
    for (const split of ['dev', 'eval'] as const) {
      const file = `${split}_${metric}.csv`;
      if (!hasDomains(dcase) && DOMAIN_ONLY.has(metric)) {
        skipped.push(file);
        continue;
      }
      const machines = machinesOf(dcase, split).filter((x) => !only || only.includes(x));
      if (machines.length === 0) {
        skipped.push(file);
        warnings.push(`${file} not written: none of the selected machines belongs to ${dcase} ${split}`);
        continue;
      }
      // One-section files (2023 on) hold section 0 only; the split just chooses the machines.
      const column = oneSectionPerMachine(dcase) ? `0_${metric}` : `${split}_${metric}`;
      jobs.push({ metric, split, column, file, machines });
    }
  }
  return { jobs, skipped, warnings };
}

/** Python's string order (by code point); JS `<` compares UTF-16 units, which differs above U+FFFF. */
export function compareCodePoints(a: string, b: string): number {
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/**
 * Builds one table from the machines' test_evaluate tables (`evals[i]` belongs to
 * `job.machines[i]`). Null, with a warning, when a machine lacks the column.
 */
export function buildTable(
  dcase: Dcase,
  job: TableJob,
  evals: readonly MetricTable[],
): { table: MetricTable | null; warnings: string[] } {
  const warnings: string[] = [];
  const byMachine = job.machines.map((machine, i) => {
    const t = evals[i];
    const j = t.columns.indexOf(job.column) - 1; // values exclude the backend column
    return { machine, j, values: new Map(t.rows.map((r) => [r.backend, r.values])) };
  });
  const lacking = byMachine.filter((m) => m.j < 0).map((m) => m.machine);
  if (lacking.length > 0) {
    warnings.push(`${job.file} not written: column ${job.column} is missing for ${lacking.join(', ')}`);
    return { table: null, warnings };
  }

  const first = [...byMachine[0].values.keys()];
  let backends = first;
  for (const m of byMachine.slice(1)) {
    if (first.length !== m.values.size || first.some((b) => !m.values.has(b))) {
      warnings.push(`${job.file}: backends of ${m.machine} differ from ${byMachine[0].machine}; using the intersection`);
      backends = backends.filter((b) => m.values.has(b));
    }
  }
  backends.sort(compareCodePoints);

  const total = dcase === 'dcase2020' ? nanmean : hmean;
  const rows = backends.map((backend) => {
    const values = byMachine.map((m) => m.values.get(backend)![m.j]);
    return { backend, values: [...values, total(values)] };
  });
  return { table: { columns: ['backend', ...job.machines, 'total'], rows }, warnings };
}

/** All tables of a run from in-memory test_evaluate tables keyed by machine (see `tableJobs`). */
export function makeTables(
  dcase: Dcase,
  metrics: readonly string[],
  evals: ReadonlyMap<string, MetricTable>,
  only?: readonly string[],
): { files: Map<string, MetricTable>; notWritten: string[]; warnings: string[] } {
  const { jobs, skipped, warnings } = tableJobs(dcase, metrics, only);
  const files = new Map<string, MetricTable>();
  const notWritten = [...skipped];
  for (const job of jobs) {
    const tables = job.machines.map((m) => {
      const t = evals.get(m);
      if (!t) throw new Error(`no test_evaluate table for machine ${m}`);
      return t;
    });
    const r = buildTable(dcase, job, tables);
    warnings.push(...r.warnings);
    if (r.table) files.set(job.file, r.table);
    else notWritten.push(job.file);
  }
  return { files, notWritten, warnings };
}
