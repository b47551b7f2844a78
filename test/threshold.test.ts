/**
 * Decision thresholds (src/detector): the special functions against closed forms and quadrature,
 * the gamma fit against an independent maximum likelihood (Nelder–Mead on the full three-parameter
 * log-likelihood, written here), the quantile against P(a, x), the percentile against numpy's rule.
 */
import test from 'ava';
import { digamma, gammaP, logGamma, trigamma } from '../src/detector/special.js';
import { empiricalQuantile, fitGamma, fitThreshold, gammaQuantile, type GammaParams } from '../src/detector/threshold.js';
import { Rng } from '../src/util/rng.js';

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('special functions: closed forms and quadrature', (t) => {
  t.true(close(logGamma(5), Math.log(24), 1e-13));
  t.true(close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-13));
  t.true(close(logGamma(0.1), Math.log(9.513507698668732), 1e-12));
  t.true(close(digamma(1), -0.5772156649015329, 1e-13));
  t.true(close(digamma(0.5), -0.5772156649015329 - 2 * Math.log(2), 1e-13));
  t.true(close(trigamma(1), Math.PI ** 2 / 6, 1e-12));
  for (const x of [0.01, 0.5, 3, 30]) t.true(close(gammaP(1, x), 1 - Math.exp(-x), 1e-13), `P(1, ${x})`);
  // P(2.5, x) by Simpson's rule on the density.
  for (const x of [0.3, 2.5, 6, 15]) {
    const n = 20000, h = x / n;
    const f = (u: number) => (u === 0 ? 0 : Math.exp(1.5 * Math.log(u) - u - logGamma(2.5)));
    let s = f(0) + f(x);
    for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(i * h);
    t.true(close(gammaP(2.5, x), (s * h) / 3, 1e-9), `P(2.5, ${x})`);
  }
});

/** Marsaglia–Tsang gamma samples (shape ≥ 1). */
function sample(n: number, { shape, loc, scale }: GammaParams, seed: number): Float64Array {
  const rng = new Rng(seed);
  const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
  return Float64Array.from({ length: n }, () => {
    for (;;) {
      const z = rng.gauss(), v = (1 + c * z) ** 3;
      if (v > 0 && Math.log(1 - rng.next()) < 0.5 * z * z + d - d * v + d * Math.log(v)) return loc + scale * d * v;
    }
  });
}

function logLik(x: Float64Array, p: GammaParams): number {
  let l = 0;
  for (const v of x) {
    const y = (v - p.loc) / p.scale;
    if (!(y > 0)) return -Infinity;
    l += (p.shape - 1) * Math.log(y) - y - logGamma(p.shape) - Math.log(p.scale);
  }
  return l;
}

/** Nelder–Mead maximising the log-likelihood over (log shape, loc, log scale). */
function nelderMead(x: Float64Array, start: GammaParams): GammaParams {
  const toP = (v: number[]) => ({ shape: Math.exp(v[0]), loc: v[1], scale: Math.exp(v[2]) });
  const f = (v: number[]) => -logLik(x, toP(v));
  const v0 = [Math.log(start.shape), start.loc, Math.log(start.scale)];
  let simplex = [v0, ...[0, 1, 2].map((i) => v0.map((u, j) => (i === j ? u + (j === 1 ? 0.1 * start.scale : 0.1) : u)))].map((v) => ({ v, f: f(v) }));
  for (let it = 0; it < 20000; it++) {
    simplex.sort((a, b) => a.f - b.f);
    if (Math.abs(simplex[3].f - simplex[0].f) < 1e-13 * Math.abs(simplex[0].f)) break;
    const cen = [0, 1, 2].map((j) => (simplex[0].v[j] + simplex[1].v[j] + simplex[2].v[j]) / 3);
    const at = (k: number) => cen.map((c, j) => c + k * (simplex[3].v[j] - c));
    const r = { v: at(-1), f: 0 };
    r.f = f(r.v);
    if (r.f < simplex[0].f) {
      const e = { v: at(-2), f: 0 };
      e.f = f(e.v);
      simplex[3] = e.f < r.f ? e : r;
    } else if (r.f < simplex[2].f) simplex[3] = r;
    else {
      const k = { v: at(0.5), f: 0 };
      k.f = f(k.v);
      if (k.f < simplex[3].f) simplex[3] = k;
      else simplex = simplex.map((s) => {
        const v = s.v.map((u, j) => simplex[0].v[j] + 0.5 * (u - simplex[0].v[j]));
        return { v, f: f(v) };
      });
    }
  }
  return toP(simplex.sort((a, b) => a.f - b.f)[0].v);
}

test('gamma fit: the same maximum likelihood and 0.9-quantile as an independent Nelder–Mead (1e-4)', (t) => {
  for (const [truth, seed] of [[{ shape: 3, loc: 2, scale: 0.5 }, 1], [{ shape: 8, loc: -1, scale: 0.2 }, 2], [{ shape: 1.6, loc: 0.3, scale: 2 }, 3]] as const) {
    const x = sample(1500, truth, seed);
    const ours = fitGamma(x);
    // Method-of-moments start for the reference optimiser.
    const m = x.reduce((s, v) => s + v, 0) / x.length;
    const m2 = x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length, m3 = x.reduce((s, v) => s + (v - m) ** 3, 0) / x.length;
    const shape0 = 4 / (m3 / m2 ** 1.5) ** 2, scale0 = Math.sqrt(m2 / shape0);
    // Restarted from its own optimum until it stops moving (Nelder–Mead stalls on the likelihood's ridge).
    const min = x.reduce((a, v) => Math.min(a, v), Infinity);
    let ref = nelderMead(x, { shape: shape0, loc: Math.min(m - shape0 * scale0, min - 0.1 * Math.sqrt(m2)), scale: scale0 });
    for (let i = 0; i < 20; i++) ref = nelderMead(x, ref);
    t.true(logLik(x, ours) >= logLik(x, ref) - 1e-6, `ours is a maximum at least as high (seed ${seed}): ${logLik(x, ours)} vs ${logLik(x, ref)}`);
    const [qo, qr] = [gammaQuantile(0.9, ours), gammaQuantile(0.9, ref)];
    t.log(`seed ${seed}: shape ${ours.shape.toFixed(3)} loc ${ours.loc.toFixed(3)} scale ${ours.scale.toFixed(3)}; q90 ${qo.toFixed(6)} vs reference ${qr.toFixed(6)}`);
    t.true(close(qo, qr, 1e-4), `q90 ${qo} vs ${qr}`);
    t.true(Math.abs(ours.shape - truth.shape) / truth.shape < 0.5, 'near the generating shape');
  }
  t.throws(() => fitGamma([1, 1, 1, 1]), { instanceOf: RangeError, message: /all scores are equal/ });
  t.throws(() => fitGamma([1, NaN, 2]), { instanceOf: RangeError });
});

test('gamma quantile inverts P(a, x); the exponential case in closed form', (t) => {
  for (const p of [{ shape: 0.7, loc: 0, scale: 1 }, { shape: 3, loc: 2, scale: 0.5 }, { shape: 40, loc: -3, scale: 0.1 }]) {
    for (const q of [0.1, 0.5, 0.9, 0.999]) t.true(close(gammaP(p.shape, (gammaQuantile(q, p) - p.loc) / p.scale), q, 1e-12), `${JSON.stringify(p)} q ${q}`);
  }
  t.true(close(gammaQuantile(0.9, { shape: 1, loc: 1, scale: 2 }), 1 - 2 * Math.log(0.1), 1e-12));
});

test('percentile threshold: numpy.quantile linear interpolation', (t) => {
  t.is(empiricalQuantile([4, 1, 3, 2], 0.9), 3.7);
  t.is(empiricalQuantile([5], 0.9), 5);
  t.is(empiricalQuantile([1, 2, 3, 4, 5], 0.5), 3);
  t.is(fitThreshold([4, 1, 3, 2], 'percentile', 0.25).threshold, 1.75);
  const g = fitThreshold(sample(500, { shape: 3, loc: 0, scale: 1 }, 7));
  t.true(g.threshold > 0 && g.gamma !== undefined && close(g.threshold, gammaQuantile(0.9, g.gamma), 0));
});
