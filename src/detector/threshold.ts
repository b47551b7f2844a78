/**
 * Decision thresholds from the scores of normal training clips (issue 17): `gamma` — a gamma
 * distribution with free shape, location and scale fitted by maximum likelihood, threshold at its
 * q-quantile (the DCASE baseline: scipy.stats.gamma.fit, q = 0.9) — or `percentile`, the plain
 * empirical q-quantile (numpy's linear interpolation).
 */
import { digamma, gammaP, logGamma, trigamma } from './special.js';

export interface GammaParams {
  shape: number;
  loc: number;
  scale: number;
}

export type ThresholdMethod = 'gamma' | 'percentile';

/** Shape and scale of a gamma with location 0 fitted to y > 0 (Newton on log a − ψ(a) = log ȳ − mean log y). */
function fitShapeScale(y: Float64Array): { shape: number; scale: number; logLik: number } {
  const n = y.length;
  let sum = 0, sumLog = 0;
  for (const v of y) {
    sum += v;
    sumLog += Math.log(v);
  }
  const m = sum / n;
  const s = Math.log(m) - sumLog / n;
  let a = (3 - s + Math.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s); // Minka's start, within 1.5 %
  for (let i = 0; i < 50; i++) {
    const step = (Math.log(a) - digamma(a) - s) / (1 / a - trigamma(a));
    const next = a - step;
    a = next > 0 ? next : a / 2;
    if (Math.abs(step) < 1e-14 * a) break;
  }
  const scale = m / a;
  const logLik = (a - 1) * sumLog - sum / scale - n * a * Math.log(scale) - n * logGamma(a);
  return { shape: a, scale, logLik };
}

/**
 * Maximum-likelihood gamma with free location: the location is searched on the profile
 * likelihood (shape and scale are exact for each location), over loc = min − w, w on a log grid
 * then refined by golden sections. Needs at least 3 distinct scores.
 */
export function fitGamma(scores: ArrayLike<number>): GammaParams {
  const x = Float64Array.from(scores);
  if (x.length < 3 || x.some((v) => !Number.isFinite(v))) throw new RangeError(`gamma fit: needs at least 3 finite scores, got ${x.length}`);
  let min = Infinity, max = -Infinity;
  for (const v of x) [min, max] = [Math.min(min, v), Math.max(max, v)];
  const range = max - min;
  if (!(range > 0)) throw new RangeError('gamma fit: all scores are equal');
  const profile = (logW: number) => {
    const w = Math.exp(logW);
    const y = x.map((v) => v - (min - w));
    return { w, ...fitShapeScale(y) };
  };
  const lo = Math.log(range * 1e-8), hi = Math.log(range * 1e4);
  const steps = 240;
  let best = lo, bestL = -Infinity;
  for (let i = 0; i <= steps; i++) {
    const t = lo + ((hi - lo) * i) / steps;
    const l = profile(t).logLik;
    if (l > bestL) [best, bestL] = [t, l];
  }
  // Golden-section refinement around the best grid point.
  const h = (hi - lo) / steps;
  let a = Math.max(lo, best - h), b = Math.min(hi, best + h);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a), d = a + g * (b - a);
  let fc = profile(c).logLik, fd = profile(d).logLik;
  for (let i = 0; i < 100 && b - a > 1e-12; i++) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = profile(c).logLik;
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = profile(d).logLik;
    }
  }
  const p = profile((a + b) / 2);
  return { shape: p.shape, loc: min - p.w, scale: p.scale };
}

/** The q-quantile of a gamma (bisection on the regularised incomplete gamma, then Newton polish). */
export function gammaQuantile(q: number, { shape, loc, scale }: GammaParams): number {
  if (!(q > 0 && q < 1)) throw new RangeError(`quantile must be in (0, 1), got ${q}`);
  let lo = 0, hi = Math.max(1, shape);
  while (gammaP(shape, hi) < q) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-15 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (gammaP(shape, mid) < q) lo = mid;
    else hi = mid;
  }
  return loc + scale * ((lo + hi) / 2);
}

/** numpy.quantile's default (linear interpolation between order statistics). */
export function empiricalQuantile(scores: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
  const x = Float64Array.from(scores).sort();
  if (x.length === 0) throw new RangeError('quantile of no scores');
  const pos = q * (x.length - 1);
  const i = Math.floor(pos);
  return i + 1 < x.length ? x[i] + (pos - i) * (x[i + 1] - x[i]) : x[i];
}

/** The decision threshold of normal scores: a score above it is "anomalous". */
export function fitThreshold(scores: ArrayLike<number>, method: ThresholdMethod = 'gamma', quantile = 0.9): { threshold: number; gamma?: GammaParams } {
  if (method === 'percentile') return { threshold: empiricalQuantile(scores, quantile) };
  const gamma = fitGamma(scores);
  return { threshold: gammaQuantile(quantile, gamma), gamma };
}
