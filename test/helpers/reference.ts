/**
 * Independent float64 references for tests: the raw_spec STFTPool computed by direct DFT, and
 * brute-force k-NN scores written straight from the spec (no shared code with the addon).
 */

export interface PoolSettings {
  nFft: number;
  hop: number;
  nMels: number;
  fMin: number;
  fMax: number;
  sr: number;
}

export const RAW_SPEC: PoolSettings = { nFft: 1024, hop: 512, nMels: 128, fMin: 0, fMax: 8000, sr: 16000 };

/** (F × T) mel magnitude spectrogram, float64, as spec frontends-and-training §2.2 describes. */
export function melSpectrogram(wave: Float64Array | Float32Array, s: PoolSettings): number[][] {
  const { nFft, hop, nMels, sr } = s;
  const half = nFft / 2;
  const L = wave.length;
  const T = 1 + Math.floor(L / hop);
  const win = Array.from({ length: nFft }, (_, k) => 0.5 - 0.5 * Math.cos((2 * Math.PI * k) / nFft));
  const norm = Math.sqrt(win.reduce((a, w) => a + w * w, 0));
  const nBins = half + 1;
  const cos = new Float64Array(nFft);
  const sin = new Float64Array(nFft);
  for (let i = 0; i < nFft; i++) {
    cos[i] = Math.cos((2 * Math.PI * i) / nFft);
    sin[i] = Math.sin((2 * Math.PI * i) / nFft);
  }
  const mag: number[][] = [];
  const frame = new Float64Array(nFft);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < nFft; k++) {
      const idx = t * hop + k - half; // zero centre padding
      frame[k] = idx >= 0 && idx < L ? wave[idx] * win[k] : 0;
    }
    const col = new Array<number>(nBins);
    for (let b = 0; b < nBins; b++) {
      let re = 0;
      let im = 0;
      for (let k = 0; k < nFft; k++) {
        const j = (b * k) % nFft;
        re += frame[k] * cos[j];
        im -= frame[k] * sin[j];
      }
      col[b] = Math.hypot(re, im) / norm;
    }
    mag.push(col);
  }
  // HTK mel filterbank, no normalisation.
  const mel = (f: number) => 2595 * Math.log10(1 + f / 700);
  const hz = (m: number) => 700 * (10 ** (m / 2595) - 1);
  const mMin = mel(s.fMin);
  const mMax = mel(s.fMax);
  const pts = Array.from({ length: nMels + 2 }, (_, i) => hz(mMin + ((mMax - mMin) * i) / (nMels + 1)));
  const freqs = Array.from({ length: nBins }, (_, b) => ((sr / 2) * b) / (nBins - 1));
  const out: number[][] = [];
  for (let i = 0; i < nMels; i++) {
    const row = new Array<number>(T).fill(0);
    for (let b = 0; b < nBins; b++) {
      const f = freqs[b];
      const w = Math.max(0, Math.min((f - pts[i]) / (pts[i + 1] - pts[i]), (pts[i + 2] - f) / (pts[i + 2] - pts[i + 1])));
      if (w === 0) continue;
      for (let t = 0; t < T; t++) row[t] += w * mag[t][b];
    }
    out.push(row);
  }
  return out;
}

/** STFTPool embedding for one pooling mode. */
export function pool(spec: number[][], mode: string): number[] {
  const [axis, agg] = mode.split('_');
  const red = (v: number[]) => (agg === 'mean' ? v.reduce((a, b) => a + b, 0) / v.length : Math.max(...v));
  if (axis === 'time') return spec.map(red);
  const T = spec[0].length;
  return Array.from({ length: T }, (_, t) => red(spec.map((row) => row[t])));
}

function normalize(v: number[]): number[] {
  const n = Math.max(Math.sqrt(v.reduce((a, x) => a + x * x, 0)), 1e-12);
  return v.map((x) => x / n);
}

function dist(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

function meanSmallest(d: number[], k: number): number {
  const s = [...d].sort((x, y) => x - y).slice(0, k);
  return s.reduce((a, b) => a + b, 0) / s.length;
}

/** ASDKit's plain Knn score (spec backends-recipes-outputs §1.2), brute force, float64. */
export function knnReference(
  train: number[][],
  trainTarget: number[],
  queries: number[][],
  o: { kSo: number; kTa: number; metric: 'cosine' | 'euclid' },
): number[] {
  const prep = (v: number[]) => (o.metric === 'cosine' ? normalize(v) : v);
  const src = train.filter((_, i) => trainTarget[i] === 0).map(prep);
  const tgt = train.filter((_, i) => trainTarget[i] === 1).map(prep);
  return queries.map((q0) => {
    const q = prep(q0);
    let s = meanSmallest(src.map((r) => dist(q, r)), o.kSo);
    if (tgt.length > 0 && o.kTa > 0) s = Math.min(s, meanSmallest(tgt.map((r) => dist(q, r)), o.kTa));
    return o.metric === 'cosine' ? s / 2 : s;
  });
}

/** Small deterministic PRNG (mulberry32) for property tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** ASDKit's KnnRescale (spec §1.5), brute force: distances divided by each reference's local scale. */
export function knnRescaleReference(train: number[][], queries: number[][], o: { k: number; kRef: number; metric: 'cosine' | 'euclid' }): number[] {
  const prep = (v: number[]) => (o.metric === 'cosine' ? normalize(v) : v);
  const refs = train.map(prep);
  const scale = refs.map((r) => {
    const d = refs.map((s) => dist(r, s)).sort((a, b) => a - b).slice(1, 1 + o.kRef);
    return d.reduce((a, b) => a + b, 0) / d.length;
  });
  return queries.map((q0) => {
    const q = prep(q0);
    return meanSmallest(refs.map((r, j) => dist(q, r) / scale[j]), o.k);
  });
}

/** Kmeans score against known centres (spec §1.4): cosine min squared distance / 2, euclid min distance. */
export function centreScoreReference(centres: number[][], queries: number[][], metric: 'cosine' | 'euclid'): number[] {
  const c = centres.map((v) => (metric === 'cosine' ? normalize(v) : v));
  return queries.map((q0) => {
    const q = metric === 'cosine' ? normalize(q0) : q0;
    const m = Math.min(...c.map((r) => dist(q, r)));
    return metric === 'cosine' ? (m * m) / 2 : m;
  });
}
