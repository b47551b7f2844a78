/**
 * ROC AUC and McClish-standardised partial AUC (spec data-and-evaluation §5.4–5.6).
 *
 * The values equal the pair count (#{s_a > s_n} + ½·#{s_a = s_n}) / (P·N), but they are computed
 * the way scikit-learn 1.6.1 does (ROC points with collinear points dropped, trapezoid rule,
 * numpy summation order), because ASDKit writes the float64 result itself and the last bit shows
 * in the CSV text (0.9269999999999999 rather than 0.927).
 */
import { numpySum } from './means.js';

/** sklearn's `max_fpr` as used by ASDKit. */
export const MAX_FPR = 0.1;

/** A ROC curve from (0, 0) to (1, 1); null when the subset holds only one class. */
export interface Roc {
  fpr: Float64Array;
  tpr: Float64Array;
}

/**
 * ROC points as sklearn's `roc_curve(drop_intermediate=True)`: one point per distinct score
 * (descending), points whose FP and TP steps both equal their neighbours' dropped.
 * `labels[i]` is 1 for an anomalous (positive) row and 0 for a normal one.
 * Throws for an empty subset or a non-finite score (sklearn raises); null for a one-class subset
 * (sklearn 1.6 returns NaN with a warning).
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): Roc | null {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`${n} scores but ${labels.length} labels`);
  if (n === 0) throw new Error('empty subset: found array with 0 samples');
  let pos = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i])) throw new Error(`score ${scores[i]} at index ${i} is not finite`);
    if (labels[i] !== 0 && labels[i] !== 1) throw new Error(`label ${labels[i]} at index ${i} is not 0/1`);
    pos += labels[i];
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return null;

  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  // Cumulative (FP, TP) at the last row of each tie group: a tie group is one ROC point.
  const fps: number[] = [];
  const tps: number[] = [];
  let tp = 0;
  for (let i = 0; i < n; i++) {
    tp += labels[order[i]];
    if (i === n - 1 || scores[order[i]] !== scores[order[i + 1]]) {
      fps.push(i + 1 - tp);
      tps.push(tp);
    }
  }
  // drop_intermediate: keep the ends and every point where either second difference is non-zero.
  const fx = [0];
  const ty = [0];
  for (let k = 0; k < fps.length; k++) {
    const ends = k === 0 || k === fps.length - 1;
    if (
      ends ||
      fps[k + 1] - fps[k] - (fps[k] - fps[k - 1]) !== 0 ||
      tps[k + 1] - tps[k] - (tps[k] - tps[k - 1]) !== 0
    ) {
      fx.push(fps[k]);
      ty.push(tps[k]);
    }
  }
  return {
    fpr: Float64Array.from(fx, (v) => v / neg),
    tpr: Float64Array.from(ty, (v) => v / pos),
  };
}

/** `np.trapz(y, x)`: elementwise Δx·(y₁+y₀)/2, then numpy's summation. */
function trapezoid(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const terms = new Float64Array(x.length - 1);
  for (let i = 0; i < terms.length; i++) terms[i] = ((x[i + 1] - x[i]) * (y[i + 1] + y[i])) / 2.0;
  return numpySum(terms);
}

/** ROC AUC; NaN for a one-class subset; throws for an empty subset or non-finite scores. */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const roc = rocCurve(scores, labels);
  return roc ? trapezoid(roc.fpr, roc.tpr) : NaN;
}

/**
 * sklearn `roc_auc_score(max_fpr=p)`: the area up to FPR p (ROC interpolated linearly at p, as
 * `np.interp` does it), McClish-standardised so chance is 0.5 and a perfect detector 1.
 * Same NaN / error cases as `auc`.
 */
export function pauc(scores: ArrayLike<number>, labels: ArrayLike<number>, maxFpr = MAX_FPR): number {
  if (!(maxFpr > 0 && maxFpr <= 1)) throw new Error(`max_fpr must be in (0, 1], got ${maxFpr}`);
  const roc = rocCurve(scores, labels);
  if (!roc) return NaN;
  const { fpr, tpr } = roc;
  if (maxFpr === 1) return trapezoid(fpr, tpr);
  // First index with fpr > p (np.searchsorted side='right'); exists because fpr ends at 1.
  let stop = 0;
  while (fpr[stop] <= maxFpr) stop++;
  const x0 = fpr[stop - 1];
  const y0 = tpr[stop - 1];
  const yp = maxFpr === x0 ? y0 : ((tpr[stop] - y0) / (fpr[stop] - x0)) * (maxFpr - x0) + y0;
  const x = [...fpr.subarray(0, stop), maxFpr];
  const y = [...tpr.subarray(0, stop), yp];
  const partial = trapezoid(x, y);
  const minArea = 0.5 * maxFpr ** 2;
  const maxArea = maxFpr;
  return 0.5 * (1 + (partial - minArea) / (maxArea - minArea));
}
