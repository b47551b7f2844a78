/**
 * The test_evaluate table of one machine (spec data-and-evaluation §5.2–5.10), from arrays.
 */
import { officialSections, oneSectionPerMachine, yearSuffix, type Dcase, type SplitDE } from '../dcase/index.js';
import { numericColumn, parseCsv, toCsv } from '../util/csv.js';
import { auc, pauc } from './auc.js';
import { hmean, nanmean, sequentialSum } from './means.js';

/** A table of named float columns, one row per backend; `values[j]` belongs to `columns[j + 1]`. */
export interface MetricTable {
  columns: string[]; // 'backend' first
  rows: Array<{ backend: string; values: number[] }>;
}

export interface EvaluateInput {
  dcase: Dcase;
  machine: string;
  section: ArrayLike<number>;
  isNormal: ArrayLike<number>;
  isTarget: ArrayLike<number>;
  scores: Array<{ backend: string; values: ArrayLike<number> }>;
}

export interface EvaluateResult extends MetricTable {
  /** Split totals / official scores left out because a needed column is missing. */
  warnings: string[];
}

export const DOMAIN_METRICS = [
  's_auc', 's_pauc', 't_auc', 't_pauc', 'smix_auc', 'tmix_auc', 'mix_auc', 'mix_pauc',
] as const;
export type DomainMetric = (typeof DOMAIN_METRICS)[number];

const SPLITS: readonly SplitDE[] = ['dev', 'eval'];

/** The per-file domain metric list (§5.3): decided by which domains occur anywhere in the file. */
export function domainMetrics(isTarget: ArrayLike<number>): DomainMetric[] {
  let source = false;
  let target = false;
  for (let i = 0; i < isTarget.length; i++) {
    if (isTarget[i] === 1) target = true;
    else source = true;
  }
  const out: DomainMetric[] = [];
  if (source) out.push('s_auc', 's_pauc');
  if (target) out.push('t_auc', 't_pauc');
  if (source && target) out.push('smix_auc', 'tmix_auc', 'mix_auc', 'mix_pauc');
  return out;
}

/** Whether a row of the section belongs to the subset of a domain token (§5.2). */
function inDomain(domain: string, isNormal: number, isTarget: number): boolean {
  switch (domain) {
    case 's':
      return isTarget === 0;
    case 't':
      return isTarget === 1;
    case 'smix':
      return isTarget === 0 || isNormal === 0;
    case 'tmix':
      return isTarget === 1 || isNormal === 0;
    case 'mix':
      return true;
    default:
      throw new Error(`unknown domain "${domain}"`);
  }
}

/**
 * One `<section>_<metric>` value for one backend's scores: NaN for a one-class subset, an error
 * naming machine, section and metric for an empty subset (ASDKit's evaluate step fails then).
 */
export function sectionMetric(
  input: Omit<EvaluateInput, 'scores'>,
  scores: ArrayLike<number>,
  section: number,
  metric: DomainMetric,
): number {
  const [domain, kind] = metric.split('_');
  const subScores: number[] = [];
  const anomalous: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (input.section[i] !== section || !inDomain(domain, input.isNormal[i], input.isTarget[i])) continue;
    subScores.push(scores[i]);
    anomalous.push(1 - input.isNormal[i]);
  }
  const name = `${section}_${metric}`;
  if (subScores.length === 0) {
    throw new Error(
      `evaluate ${input.machine}: ${name} is undefined: section ${section} has no rows of the ` +
        `"${domain}" subset while other sections have (found array with 0 samples)`,
    );
  }
  try {
    return kind === 'auc' ? auc(subScores, anomalous) : pauc(subScores, anomalous);
  } catch (e) {
    throw new Error(`evaluate ${input.machine}: ${name}: ${(e as Error).message}`);
  }
}

/**
 * Sub-metrics of the official score (§5.8), in the order they are pooled within a section.
 * 2025's task paper (arXiv:2506.10097) defines its score exactly as 2024's.
 */
const OFFICIAL_SUBMETRICS: Record<Dcase, readonly DomainMetric[]> = {
  dcase2020: ['s_auc', 's_pauc'],
  dcase2021: ['s_auc', 't_auc', 's_pauc', 't_pauc'],
  dcase2022: ['smix_auc', 'tmix_auc', 'mix_pauc'],
  dcase2023: ['smix_auc', 'tmix_auc', 'mix_pauc'],
  dcase2024: ['smix_auc', 'tmix_auc', 'mix_pauc'],
  dcase2025: ['smix_auc', 'tmix_auc', 'mix_pauc'],
  // The 2026 evaluator scores exactly as 2024's (README "DCASE 2026").
  dcase2026: ['smix_auc', 'tmix_auc', 'mix_pauc'],
};

/** An aggregate column: its name and the metric columns it pools, in pooling order. */
interface Aggregate {
  name: string;
  sources: string[];
}

/** Split totals (2020–2022) then official score(s), as ASDKit appends them (§5.7, §5.8). */
function aggregates(dcase: Dcase, machine: string, metrics: readonly DomainMetric[]): Aggregate[] {
  const out: Aggregate[] = [];
  const yy = yearSuffix(dcase);
  const subs = OFFICIAL_SUBMETRICS[dcase];
  const pooled = (sections: readonly number[]) => sections.flatMap((s) => subs.map((m) => `${s}_${m}`));
  if (oneSectionPerMachine(dcase)) {
    out.push({ name: `0_official${yy}`, sources: pooled([0]) });
    return out;
  }
  for (const m of metrics) {
    for (const split of SPLITS) {
      out.push({ name: `${split}_${m}`, sources: officialSections(dcase, machine, split).map((s) => `${s}_${m}`) });
    }
  }
  for (const split of SPLITS) {
    out.push({ name: `${split}_official${yy}`, sources: pooled(officialSections(dcase, machine, split)) });
  }
  return out;
}

/** What is wrong with row i, if anything: labels must be 0/1, sections integers, scores finite. */
function rowProblem(input: EvaluateInput, i: number): string | undefined {
  const { section, isNormal, isTarget } = input;
  if (!Number.isInteger(section[i])) return `section ${section[i]} is not an integer`;
  if (isNormal[i] !== 0 && isNormal[i] !== 1) return `is_normal ${isNormal[i]} is not 0 or 1`;
  if (isTarget[i] !== 0 && isTarget[i] !== 1) return `is_target ${isTarget[i]} is not 0 or 1`;
  // sklearn refuses NaN and infinite scores.
  const bad = input.scores.find((s) => !Number.isFinite(s.values[i]));
  return bad && `${bad.backend} score ${bad.values[i]} is not finite`;
}

/** The test_evaluate table of one machine. Throws on an empty subset (§5.6). */
export function evaluateMachine(input: EvaluateInput): EvaluateResult {
  const n = input.section.length;
  if (input.isNormal.length !== n || input.isTarget.length !== n) {
    throw new Error(`evaluate ${input.machine}: section, is_normal and is_target lengths differ`);
  }
  for (const s of input.scores) {
    if (s.values.length !== n) throw new Error(`evaluate ${input.machine}: ${s.backend} has ${s.values.length} scores for ${n} rows`);
  }
  if (n === 0) throw new Error(`evaluate ${input.machine}: no test rows`);
  for (let i = 0; i < n; i++) {
    const problem = rowProblem(input, i);
    if (problem) throw new Error(`evaluate ${input.machine}: row ${i + 1}: ${problem}`);
  }

  const sections = [...new Set(Array.from(input.section))].sort((a, b) => a - b);
  const metrics = domainMetrics(input.isTarget);
  const metricCols = sections.flatMap((s) => metrics.map((m) => `${s}_${m}`));
  // ASDKit's evaluate step adds the pooled values left to right (the test vectors' 8- and 9-value
  // means only match that order); the table step's totals use numpy's pairwise order.
  const mean = (v: number[]) => (input.dcase === 'dcase2020' ? nanmean(v, sequentialSum) : hmean(v, sequentialSum));

  const available = new Set(metricCols);
  const warnings: string[] = [];
  const aggs = aggregates(input.dcase, input.machine, metrics).filter((a) => {
    const missing = a.sources.filter((c) => !available.has(c));
    if (missing.length > 0) warnings.push(`evaluate ${input.machine}: ${a.name} skipped, missing ${missing.join(', ')}`);
    return missing.length === 0;
  });

  const rows = input.scores.map(({ backend, values }) => {
    const byName = new Map<string, number>();
    for (const s of sections) {
      for (const m of metrics) byName.set(`${s}_${m}`, sectionMetric(input, values, s, m));
    }
    const aggValues = aggs.map((a) => mean(a.sources.map((c) => byName.get(c)!)));
    return { backend, values: [...metricCols.map((c) => byName.get(c)!), ...aggValues] };
  });
  return { columns: ['backend', ...metricCols, ...aggs.map((a) => a.name)], rows, warnings };
}

/** CSV text of a metric table, as pandas writes it (Python float repr, NaN empty). */
export function metricTableCsv(t: MetricTable): string {
  return toCsv(t.columns, t.rows.map((r) => [r.backend, ...r.values]));
}

/**
 * Parses test_evaluate.csv text (or a table file) back, reading floats as pandas does; the
 * table step works on these values, which can differ from the written ones in the last bit.
 */
export function parseMetricTable(text: string, file: string): MetricTable {
  const t = parseCsv(text, file);
  if (t.columns[0] !== 'backend') throw new Error(`${file}: first column must be "backend", found "${t.columns[0]}"`);
  const cols = t.columns.slice(1).map((c) => numericColumn(t, c, file));
  return {
    columns: t.columns,
    rows: t.rows.map((r, i) => ({ backend: r[0], values: cols.map((c) => c[i]) })),
  };
}
