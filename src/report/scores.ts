/**
 * What the report shows of a machine's `test_score.csv`: for one backend (the one behind ASDKit's
 * published numbers when the run has it), the scores of normal vs anomalous test clips per domain
 * as histograms, and the ROC curves per domain with the pAUC region shaded. All sections pooled.
 */
import { auc, MAX_FPR, pauc, rocCurve } from '../metrics/auc.js';
import { scoreHistogramSvg, rocSvg, type RocSeries, type ScoreGroup } from '../plot/scores.js';
import { svgToPng } from '../plot/render.js';
import { PALETTE } from '../plot/render.js';
import type { CsvTable } from '../util/csv.js';

/** The backends behind ASDKit's published numbers (spec backends-recipes-outputs §5.2, §7.1), in preference order. */
export const PUBLISHED_BACKENDS = ['AS-Knn-1-1-0.2-2-cosine-main', 'AS-recon'];

export interface DomainScores {
  domain: 'source' | 'target';
  normal: number[];
  anomalous: number[];
  /** Pooled over sections; NaN when a class is missing. */
  auc: number;
  pauc: number;
}

export interface MachineScores {
  backend: string;
  domains: DomainScores[];
  histogram: Buffer;
  roc: Buffer;
}

/** The backend column the figures show: a published one when present, else the first score column. */
export function figureBackend(columns: string[]): string | undefined {
  const scoreColumns = columns.filter((c) => c.startsWith('AS-'));
  return PUBLISHED_BACKENDS.find((b) => scoreColumns.includes(b)) ?? scoreColumns[0];
}

/** Splits a test_score.csv table by domain and label; throws on a malformed file (the caller lists it as a problem). */
export function domainScores(t: CsvTable, backend: string, file: string): DomainScores[] {
  const col = (name: string) => {
    const i = t.columns.indexOf(name);
    if (i < 0) throw new Error(`${file}: no column ${name}`);
    return i;
  };
  const [si, ni, ti] = [col(backend), col('is_normal'), col('is_target')];
  const out: DomainScores[] = [];
  for (const [domain, tgt] of [['source', '0'], ['target', '1']] as const) {
    const rows = t.rows.filter((r) => r[ti] === tgt);
    if (rows.length === 0) continue;
    const normal: number[] = [], anomalous: number[] = [];
    for (const r of rows) {
      const v = Number(r[si]);
      if (r[si] === '' || !Number.isFinite(v)) throw new Error(`${file}: ${backend} is not a finite number in a row (${r[0]})`);
      (r[ni] === '1' ? normal : anomalous).push(v);
    }
    const labels = [...normal.map(() => 0), ...anomalous.map(() => 1)];
    const scores = [...normal, ...anomalous];
    out.push({ domain, normal, anomalous, auc: auc(scores, labels), pauc: pauc(scores, labels) });
  }
  return out;
}

const pct = (v: number) => (Number.isNaN(v) ? '—' : (100 * v).toFixed(1));

export function machineScores(t: CsvTable, machine: string, file: string): MachineScores | undefined {
  const backend = figureBackend(t.columns);
  if (!backend) return undefined;
  const domains = domainScores(t, backend, file);
  const groups: ScoreGroup[] = domains.map((d) => ({ label: d.domain, normal: d.normal, anomalous: d.anomalous }));
  const histogram = Buffer.from(svgToPng(scoreHistogramSvg(`${machine}: test scores by domain (${backend})`, groups)));
  const series: RocSeries[] = [];
  domains.forEach((d, k) => {
    const roc = rocCurve([...d.normal, ...d.anomalous], [...d.normal.map(() => 0), ...d.anomalous.map(() => 1)]);
    if (roc) series.push({ label: `${d.domain}: AUC ${pct(d.auc)}, pAUC ${pct(d.pauc)}`, fpr: roc.fpr, tpr: roc.tpr, color: PALETTE[k === 0 ? 2 : 1] });
  });
  const roc = Buffer.from(svgToPng(rocSvg(`${machine}: ROC (pAUC region FPR ≤ ${MAX_FPR} shaded)`, series, { maxFpr: MAX_FPR })));
  return { backend, domains, histogram, roc };
}
