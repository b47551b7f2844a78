/**
 * Training curves of a model folder as PNGs in `<modelDir>/curves/`, drawn from the train step's
 * `metrics.jsonl` (per step: loss terms, learning rate, gradient norm) and `valid.jsonl` (per
 * epoch: the AE's validation loss and AUCs). The train step redraws them after an epoch (a few
 * tenths of a second) and `asdkit report` from the logs; files are replaced atomically, so a
 * reader never sees half a PNG.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { lineChartPng, type LineChart, type LineSeries } from '../plot/lines.js';
import { writeAtomic } from '../util/files.js';

export interface CurveFigure {
  /** What the figure shows, e.g. "Training loss". */
  title: string;
  file: string;
}

interface StepLine {
  epoch: number;
  batch: number;
  numBatches: number;
  losses: Record<string, number>;
  gradNorm: number;
  lr: number;
}

/** The parsed lines of a JSONL log; a line cut short by a crash is left out. */
async function readJsonl<T>(file: string): Promise<T[]> {
  const text = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  return text.split('\n').flatMap((line) => {
    try {
      return line ? [JSON.parse(line) as T] : [];
    } catch {
      return [];
    }
  });
}

/** Keys of all records in first-seen order. */
const keysOf = (records: Array<Record<string, unknown>>) => [...new Set(records.flatMap((r) => Object.keys(r)))];

/** Log scale when every value is positive and they span more than a decade (losses falling fast). */
function wantsLog(series: LineSeries[]): boolean {
  let lo = Infinity, hi = -Infinity;
  for (const y of series.flatMap((s) => s.y).filter(Number.isFinite)) [lo, hi] = [Math.min(lo, y), Math.max(hi, y)];
  return lo > 0 && hi / lo > 10;
}

/** Draws every curve the logs allow; returns the figures written (none without metrics.jsonl). */
export async function drawTrainingCurves(modelDir: string): Promise<CurveFigure[]> {
  const steps = await readJsonl<StepLine>(path.join(modelDir, 'metrics.jsonl'));
  if (steps.length === 0) return [];
  const valid = await readJsonl<Record<string, number>>(path.join(modelDir, 'valid.jsonl'));
  // x in epochs: step i of epoch e ends at e + (i + 1) / n, so epoch ends line up with validation points.
  const x = steps.map((s) => s.epoch + (s.batch + 1) / s.numBatches);
  // Every figure counts epochs from 0, so a resumed or short run reads on the same scale.
  const axis = { xLabel: 'epoch', xMin: 0 };
  const charts: Array<[string, LineChart]> = [];
  const losses = keysOf(steps.map((s) => s.losses)).map((k) => ({ label: k, x, y: steps.map((s) => s.losses[k] ?? NaN) }));
  charts.push(['loss', { ...axis, title: 'Training loss (per step)', yLabel: 'loss', series: losses, logY: wantsLog(losses) }]);
  charts.push(['lr', { ...axis, title: 'Learning rate', yLabel: 'lr', series: [{ label: '', x, y: steps.map((s) => s.lr) }] }]);
  const grad = [{ label: '', x, y: steps.map((s) => s.gradNorm) }];
  charts.push(['grad_norm', { ...axis, title: 'Gradient norm (per step)', yLabel: 'L2 norm', series: grad, logY: wantsLog(grad) }]);
  if (valid.length > 0) {
    const vx = valid.map((v) => v.epoch + 1);
    const keys = keysOf(valid).filter((k) => k.startsWith('valid/'));
    const series = (ks: string[]) => ks.map((k) => ({ label: k.split('/').slice(1).join('/'), x: vx, y: valid.map((v) => v[k] ?? NaN) }));
    const auc = keys.filter((k) => k.startsWith('valid/auc/'));
    const other = keys.filter((k) => !auc.includes(k));
    if (other.length) charts.push(['valid_loss', { ...axis, title: 'Validation loss (per epoch)', series: series(other) }]);
    if (auc.length) {
      // valid/auc/all_<d>_auc/AS-recon → <d>_auc: the subset is what tells the curves apart.
      const s = series(auc).map((c) => ({ ...c, label: c.label.split('/')[1]?.replace(/^all_/, '') ?? c.label }));
      charts.push(['valid_auc', { ...axis, title: 'Validation AUC (per epoch)', yLabel: 'AUC', series: s }]);
    }
  }
  const out: CurveFigure[] = [];
  for (const [name, chart] of charts) {
    const file = path.join(modelDir, 'curves', `${name}.png`);
    await writeAtomic(file, lineChartPng(chart));
    out.push({ title: chart.title, file });
  }
  return out;
}

/** How stale the train step lets the figures get before an epoch end redraws them. */
const REFRESH_MS = 30_000;

/**
 * The train step's call after each epoch: redraws when the figures are older than 30 s or training
 * has ended, so a run of quick epochs does not spend its time drawing.
 */
export async function refreshTrainingCurves(modelDir: string, final: boolean): Promise<void> {
  const drawn = await fs.stat(path.join(modelDir, 'curves', 'loss.png')).then((st) => st.mtimeMs, () => 0);
  if (final || Date.now() - drawn >= REFRESH_MS) await drawTrainingCurves(modelDir);
}
