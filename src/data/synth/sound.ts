/**
 * Machine-like signal model. A "sound class" (machine type × section × operating condition ×
 * domain) fixes a harmonic series with rotation-rate amplitude modulation, coloured noise with
 * resonances and an ambient noise floor; each clip jitters these randomly around the class, and
 * an anomalous clip gets one fault: a signature added on top, or a change of its envelope.
 */
import { Rng, hash32 } from '../../util/rng.js';

/** Faults that change the clip's time-averaged spectrum (what `raw_spec` embeds). */
export const SPECTRAL_ANOMALY_KINDS = ['tone', 'harmonics', 'clicks', 'rattle', 'drift', 'bursts'] as const;
/**
 * Faults that leave the time-averaged magnitude spectrum as it is and change only how the sound
 * evolves in time: intermittent dropouts (`stutter`) and a slow pulsation in which the tonal
 * and the noisy parts trade level (`surge`). Only a time-resolved frontend can see them.
 */
export const TEMPORAL_ANOMALY_KINDS = ['stutter', 'surge'] as const;
export const ANOMALY_KINDS = [...SPECTRAL_ANOMALY_KINDS, ...TEMPORAL_ANOMALY_KINDS] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

interface Resonance {
  f: number; // centre (Hz)
  r: number; // pole radius: bandwidth
  g: number; // gain relative to the low-passed noise
}

export interface SoundClass {
  f0: number; // fundamental (Hz)
  amps: number[]; // harmonic amplitudes, harmonic 1..K
  amRate: number; // rotation-rate amplitude modulation (Hz)
  amDepth: number;
  noiseGain: number; // machine noise RMS relative to the harmonic RMS
  noiseLp: number; // one-pole low-pass coefficient: noise colour
  res: Resonance[];
  ambient: number; // white background RMS relative to the harmonic RMS (domain dependent)
}

/**
 * Per-clip random variation of normal clips (relative standard deviations). These set how tight
 * a class is and therefore, together with the anomaly strengths below, the task's difficulty.
 */
const JITTER = { f0: 0.008, amp: 0.15, noise: 0.15, amDepth: 0.2, gain: 0.2 };

const MAX_HARMONICS = 25;

/** Class parameters: the machine type draws the character, the section and condition shift it. */
export function soundClass(machine: string, section: number, speed: number, mic: number, target: boolean): SoundClass {
  const t = new Rng(hash32('type', machine));
  const s = new Rng(hash32('section', machine, section));
  const f0 = t.logUniform(60, 400) * s.logUniform(0.75, 1.33) * speed;
  const decay = t.uniform(0.75, 0.95);
  // Draw the section's harmonic pattern for the longest series first, so that the number of
  // harmonics (which falls as the speed rises) does not shift the draws that follow.
  const pattern = Array.from({ length: MAX_HARMONICS }, () => Math.exp(0.5 * s.gauss()));
  const k = Math.max(3, Math.min(6 + t.int(MAX_HARMONICS - 5), Math.floor(7000 / f0)));
  const amps: number[] = [];
  // mic 2 stands for a closer microphone: brighter harmonics, brighter noise.
  const tilt = mic === 2 ? 1.06 : 1;
  for (let i = 1; i <= k; i++) amps.push(decay ** (i - 1) * tilt ** i * pattern[i - 1]);
  const res: Resonance[] = [];
  for (let i = 0; i < 2; i++) {
    res.push({ f: t.logUniform(300, 5000) * s.logUniform(0.8, 1.25), r: t.uniform(0.97, 0.995), g: t.uniform(0.5, 2) });
  }
  return {
    f0,
    amps,
    // The rotation rate follows the speed like the fundamental does.
    amRate: (f0 / t.uniform(4, 12)) * (1 + 0.1 * s.gauss()),
    amDepth: t.uniform(0.1, 0.5),
    noiseGain: t.uniform(0.3, 1.0) * s.logUniform(0.7, 1.4),
    noiseLp: Math.min(0.9, t.uniform(0.08, 0.6) * (mic === 2 ? 1.6 : 1)),
    res,
    // The target domain is recorded in a noisier place.
    ambient: target ? 0.15 : 0.05,
  };
}

/** White noise of unit variance; uniform rather than Gaussian because it is cheaper and only its flat spectrum matters. */
function whiteNoise(rng: Rng, n: number): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.sqrt(3) * (2 * rng.next() - 1);
  return w;
}

/** Two-pole resonator (band-pass) of `x`, normalised to unit RMS. */
function resonate(x: Float32Array, f: number, r: number, sr: number): Float32Array {
  const y = new Float32Array(x.length);
  const a1 = 2 * r * Math.cos((2 * Math.PI * f) / sr);
  const a2 = -r * r;
  let y1 = 0;
  let y2 = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] + a1 * y1 + a2 * y2;
    y[i] = v;
    y2 = y1;
    y1 = v;
  }
  return scaleToRms(y, 1);
}

function rms(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, x.length));
}

function scaleToRms(x: Float32Array, target: number): Float32Array {
  const r = rms(x);
  if (r > 0) for (let i = 0; i < x.length; i++) x[i] *= target / r;
  return x;
}

/** Table size of one period of the harmonic waveform (linear interpolation between entries). */
const TABLE = 4096;

/**
 * One period of Σ a_k sin(kθ + φ_k) with random phases φ_k, tabulated so that rendering costs a
 * lookup per sample instead of a sum over harmonics (the spectrum is fixed within a clip).
 */
function periodTable(amps: readonly number[], rng: Rng): Float64Array {
  const K = amps.length;
  // a·sin(kθ + φ) = (a cos φ)·sin kθ + (a sin φ)·cos kθ
  const ac = new Float64Array(K);
  const as = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    const p = rng.uniform(-Math.PI, Math.PI);
    ac[k] = amps[k] * Math.cos(p);
    as[k] = amps[k] * Math.sin(p);
  }
  const table = new Float64Array(TABLE + 1); // last entry repeats the first for interpolation
  for (let j = 0; j <= TABLE; j++) {
    const th = (2 * Math.PI * j) / TABLE;
    const s1 = Math.sin(th);
    const c1 = Math.cos(th);
    // sin/cos of kθ by the Chebyshev recurrence.
    let sk = s1;
    let ck = c1;
    let sPrev = 0;
    let cPrev = 1;
    let v = 0;
    for (let k = 0; k < K; k++) {
      v += ac[k] * sk + as[k] * ck;
      const sn = 2 * c1 * sk - sPrev;
      const cn = 2 * c1 * ck - cPrev;
      sPrev = sk;
      cPrev = ck;
      sk = sn;
      ck = cn;
    }
    table[j] = v;
  }
  return table;
}

/** Fixed-frequency sine by complex rotation: cheaper than Math.sin per sample, stable in float64. */
class Osc {
  private re: number;
  private im: number;
  private readonly c: number;
  private readonly s: number;
  constructor(cyclesPerSample: number, phase: number) {
    this.re = Math.cos(phase);
    this.im = Math.sin(phase);
    this.c = Math.cos(2 * Math.PI * cyclesPerSample);
    this.s = Math.sin(2 * Math.PI * cyclesPerSample);
  }
  next(): number {
    const v = this.im;
    const re = this.re * this.c - this.im * this.s;
    this.im = this.re * this.s + this.im * this.c;
    this.re = re;
    return v;
  }
}

/**
 * Intermittent dropouts: the machine sound falls to 1 − depth during random 60–250 ms stretches
 * (about 30 % of the clip, at least one), with 5 ms ramps; scaled to mean 1. Same gain for the
 * tonal and the noisy part.
 */
function stutterGain(rng: Rng, n: number, sr: number, a: number): [Float32Array, Float32Array] {
  const depth = Math.min(0.95, 1.6 * a);
  const g = new Float32Array(n).fill(1);
  const segs: [number, number][] = [];
  for (let at = 0; at < n; ) {
    const len = Math.round(rng.uniform(0.06, 0.25) * sr);
    if (rng.next() < 0.3) segs.push([at, Math.min(n, at + len)]);
    at += len;
  }
  if (segs.length === 0) {
    const len = Math.min(n, Math.round(0.15 * sr));
    const at = rng.int(n - len + 1);
    segs.push([at, at + len]);
  }
  const ramp = Math.max(1, Math.round(0.005 * sr));
  for (const [from, to] of segs) {
    for (let i = from; i < to; i++) {
      const edge = Math.min(1, (i - from + 1) / ramp, (to - i) / ramp);
      g[i] = Math.min(g[i], 1 - depth * edge);
    }
  }
  let mean = 0;
  for (let i = 0; i < n; i++) mean += g[i];
  mean /= n;
  for (let i = 0; i < n; i++) g[i] /= mean;
  return [g, g];
}

/** Slow surging (0.5–3 Hz): the tonal part swells while the machine noise ebbs, and back. */
function surgeGains(rng: Rng, n: number, sr: number, a: number): [Float32Array, Float32Array] {
  const d = Math.min(0.9, 0.9 * a);
  const osc = new Osc(rng.uniform(0.5, 3) / sr, rng.uniform(0, 2 * Math.PI));
  const gH = new Float32Array(n);
  const gN = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = d * osc.next();
    gH[i] = 1 + s;
    gN[i] = 1 - s;
  }
  return [gH, gN];
}

export interface Anomaly {
  kind: AnomalyKind;
  strength: number; // 0 = indistinguishable from normal, 1 = obvious
}

/** Renders `n` samples of one clip of class `c`; `rng` supplies all per-clip randomness. */
export function renderClip(c: SoundClass, rng: Rng, n: number, sr: number, anomaly?: Anomaly): Float32Array {
  return renderParts(c, rng, n, sr, anomaly).mix;
}

/**
 * Like renderClip (the same draws, so `mix` is byte for byte renderClip's), and also the ambient
 * noise it contains, at the same final gain: `mix - ambient` is the machine sound alone, which a
 * second, farther microphone hears attenuated under its own, stronger ambient noise.
 */
export function renderParts(
  c: SoundClass, rng: Rng, n: number, sr: number, anomaly?: Anomaly,
): { mix: Float32Array; ambient: Float32Array } {
  const a = anomaly?.strength ?? 0;
  const kind = anomaly?.kind;
  const dur = n / sr;
  const f0 = c.f0 * (1 + JITTER.f0 * rng.gauss());
  const amps = c.amps.map((v) => v * Math.exp(JITTER.amp * rng.gauss()));
  if (kind === 'harmonics') {
    // Worn part: some harmonics grow, and one above the series appears.
    for (let j = 0; j < 2; j++) amps[1 + rng.int(amps.length - 1)] *= 1 + 2 * a;
    amps.push(0.5 * a * amps[0]);
  }
  const harmRms = Math.sqrt(amps.reduce((s, v) => s + (v * v) / 2, 0));
  const table = periodTable(amps, rng);
  const wander = new Osc(rng.uniform(0.1, 0.5) / sr, rng.uniform(0, 2 * Math.PI)); // slow speed wander
  const am = new Osc(c.amRate / sr, rng.uniform(0, 2 * Math.PI));
  const amDepth = Math.min(0.9, c.amDepth * Math.exp(JITTER.amDepth * rng.gauss()));
  // Frequency drift: a slow glide plus a wobble; sign random.
  const glide = kind === 'drift' ? a * 0.15 * (rng.next() < 0.5 ? -1 : 1) : 0;
  const wobble = kind === 'drift' ? a * 0.03 : 0;
  // Inharmonic tone between two harmonics (e.g. a bearing defect frequency).
  const toneRatio = kind === 'tone' ? 1 + rng.int(Math.min(6, amps.length)) + rng.uniform(0.3, 0.7) : 0;
  const toneAmp = kind === 'tone' ? 0.5 * a * harmRms * Math.SQRT2 : 0;
  // Rattle: a loose part modulates the sound sharply at its own rate (and knocks, below).
  const rattleRate = rng.uniform(8, 30);
  const rattle = kind === 'rattle' ? 0.9 * a : 0;

  const x = new Float32Array(n);
  let ph = 0; // phase of the fundamental, in cycles
  let thTone = rng.uniform(0, 2 * Math.PI);
  for (let i = 0; i < n; i++) {
    const tt = i / sr;
    let f = f0 * (1 + 0.003 * wander.next());
    if (kind === 'drift') f *= 1 + glide * (tt / dur - 0.5) + wobble * Math.sin(2 * Math.PI * 1.5 * tt);
    ph += f / sr;
    ph -= Math.floor(ph);
    const pos = ph * TABLE;
    const j = Math.floor(pos);
    let v = table[j] + (pos - j) * (table[j + 1] - table[j]);
    let env = 1 + amDepth * am.next();
    if (rattle) env *= 1 + rattle * (Math.abs(Math.sin(Math.PI * rattleRate * tt)) ** 4 - 0.3);
    if (toneAmp) {
      thTone += (2 * Math.PI * f * toneRatio) / sr;
      v += toneAmp * Math.sin(thTone);
    }
    x[i] = v * env;
  }

  // Machine noise: coloured (low-passed) plus resonances, unit RMS, then scaled.
  const w = whiteNoise(rng, n);
  const noise = new Float32Array(n);
  let lp = 0;
  for (let i = 0; i < n; i++) {
    lp += c.noiseLp * (w[i] - lp);
    noise[i] = lp;
  }
  scaleToRms(noise, 1);
  for (const r of c.res) {
    const y = resonate(w, r.f, r.r, sr);
    for (let i = 0; i < n; i++) noise[i] += r.g * y[i];
  }
  const noiseRms = c.noiseGain * harmRms * Math.exp(JITTER.noise * rng.gauss());
  scaleToRms(noise, noiseRms);
  // Broadband faults are sized against the whole machine sound, not just its harmonics.
  const level = Math.hypot(harmRms, noiseRms);
  const ambient = c.ambient * harmRms;
  const amb = whiteNoise(rng, n);
  if (kind === 'stutter' || kind === 'surge') {
    // Envelopes of mean 1 on the machine sound only: the mean magnitude of every band, and so
    // the time-averaged spectrum, stays what it was.
    const [gH, gN] = kind === 'stutter' ? stutterGain(rng, n, sr, a) : surgeGains(rng, n, sr, a);
    for (let i = 0; i < n; i++) x[i] = x[i] * gH[i] + noise[i] * gN[i] + ambient * amb[i];
  } else {
    for (let i = 0; i < n; i++) x[i] += noise[i] + ambient * amb[i];
  }
  if (rattle) {
    // The loose part also knocks: noise gated at the rattle rate, brighter than the machine noise.
    const knock = resonate(whiteNoise(rng, n), rng.logUniform(800, 4000), 0.8, sr);
    for (let i = 0; i < n; i++) x[i] += 2.5 * rattle * level * Math.abs(Math.sin((Math.PI * rattleRate * i) / sr)) ** 8 * knock[i];
  }

  if (kind === 'clicks') {
    // Impacts: decaying high-frequency rings at random times.
    const count = Math.max(1, Math.round(rng.uniform(8, 20) * dur));
    const fc = rng.logUniform(1500, 6000);
    const tau = rng.uniform(0.002, 0.006) * sr;
    for (let j = 0; j < count; j++) {
      const at = rng.int(n);
      const amp = 8 * a * level * rng.uniform(0.5, 1);
      const ph = rng.uniform(0, 2 * Math.PI);
      for (let i = at; i < Math.min(n, at + Math.ceil(8 * tau)); i++) {
        const d = i - at;
        x[i] += amp * Math.exp(-d / tau) * Math.sin((2 * Math.PI * fc * d) / sr + ph);
      }
    }
  } else if (kind === 'bursts') {
    // Intermittent band-limited noise (e.g. leaking air, rubbing) over ~30 % of the clip.
    const band = resonate(whiteNoise(rng, n), rng.logUniform(500, 6000), 0.9, sr);
    const len = Math.round(rng.uniform(0.08, 0.3) * sr);
    const forced = rng.int(Math.ceil(n / len)); // at least one burst per clip
    for (let seg = 0; seg * len < n; seg++) {
      if (seg !== forced && rng.next() >= 0.3) continue;
      for (let i = seg * len; i < Math.min(n, (seg + 1) * len); i++) x[i] += 2 * a * level * band[i];
    }
  }

  // Level: random recording gain, then keep the peak below full scale.
  const r0 = rms(x);
  const level0 = 0.08 * Math.exp(JITTER.gain * rng.gauss());
  scaleToRms(x, level0);
  let gain = r0 > 0 ? level0 / r0 : 1; // what scaleToRms multiplied by
  let peak = 0;
  for (let i = 0; i < n; i++) peak = Math.max(peak, Math.abs(x[i]));
  if (peak > 0.9) {
    for (let i = 0; i < n; i++) x[i] *= 0.9 / peak;
    gain *= 0.9 / peak;
  }
  const ambPart = new Float32Array(n);
  for (let i = 0; i < n; i++) ambPart[i] = gain * ambient * amb[i];
  return { mix: x, ambient: ambPart };
}
