import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machinesOf, parseClipPath, subsetOfMachine } from '../src/dcase/index.js';
import type { Dcase } from '../src/dcase/index.js';
import {
  ANOMALY_SETS, DEFAULT_ANOMALY_STRENGTH, FAULTS_FILE, SPECTRAL_ANOMALY_KINDS, TEMPORAL_ANOMALY_KINDS, defaultMachines, planMachine, planOriginal, synthClip,
  synthesize,
} from '../src/data/synth/index.js';
import type { AnomalyKind } from '../src/data/synth/index.js';
import { sectionLevels } from '../src/data/synth/plan.js';
import { Rng } from '../src/util/rng.js';
import { renderClip, soundClass } from '../src/data/synth/sound.js';
import { decodeWavHeader, encodeWav16 } from '../src/data/wav.js';
import { parseCsv } from '../src/util/csv.js';

async function tmpDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-synth-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** All wav paths under root as `<machine>/<split>/<file>`, sorted. */
async function listClips(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const m of await fs.readdir(root)) {
    for (const split of (await fs.readdir(path.join(root, m))).filter((f) => f !== FAULTS_FILE)) {
      for (const f of await fs.readdir(path.join(root, m, split))) out.push(`${m}/${split}/${f}`);
    }
  }
  return out.sort();
}

function int16Samples(buf: Uint8Array): Int16Array {
  const h = decodeWavHeader(buf);
  const copy = buf.slice(h.dataOffset, h.dataOffset + h.dataBytes);
  return new Int16Array(copy.buffer, 0, h.frames * h.channels);
}

/** Time-averaged magnitude spectrum (Hann, 1024-point FFT, hop 512): the baseline's input without mel bands. */
const FFT_N = 1024;
const HANN = Float64Array.from({ length: FFT_N }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_N));
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos((-2 * Math.PI * k) / len);
        const wi = Math.sin((-2 * Math.PI * k) / len);
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b] * wr - im[b] * wi;
        const ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
    }
  }
}
/** Magnitude spectra of the frames (Hann, hop FFT_N / 2). */
function frameSpectra(x: ArrayLike<number>): Float64Array[] {
  const out: Float64Array[] = [];
  const re = new Float64Array(FFT_N);
  const im = new Float64Array(FFT_N);
  for (let s = 0; s + FFT_N <= x.length; s += FFT_N / 2) {
    for (let i = 0; i < FFT_N; i++) re[i] = x[s + i] * HANN[i];
    im.fill(0);
    fft(re, im);
    out.push(Float64Array.from({ length: FFT_N / 2 }, (_, k) => Math.hypot(re[k], im[k])));
  }
  return out;
}
function spectrum(x: ArrayLike<number>): Float64Array {
  const mag = new Float64Array(FFT_N / 2);
  for (const f of frameSpectra(x)) for (let k = 0; k < FFT_N / 2; k++) mag[k] += f[k];
  return mag;
}
/** How much the sound changes over time: the spread across frames of each bin's log magnitude, averaged over bins. */
function temporalSpread(x: ArrayLike<number>): number {
  const frames = frameSpectra(x);
  let total = 0;
  for (let k = 0; k < FFT_N / 2; k++) {
    let s = 0;
    let s2 = 0;
    for (const f of frames) {
      const v = Math.log(f[k] + 1e-9);
      s += v;
      s2 += v * v;
    }
    const mu = s / frames.length;
    total += Math.sqrt(Math.max(0, s2 / frames.length - mu * mu));
  }
  return total / (FFT_N / 2);
}
function dist(a: Float64Array, b: Float64Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return 1 - ab / Math.sqrt(aa * bb); // cosine distance
}
function nearest(x: Float64Array, refs: Float64Array[]): number {
  return Math.min(...refs.map((r) => dist(x, r)));
}
function auc(pos: number[], neg: number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

test('encodeWav16 writes a canonical PCM header and clipped, rounded samples', (t) => {
  const buf = encodeWav16(Float32Array.from([0, 0.5, -0.5, 2, -2, 1e-5, NaN, 1]), 16000, 2);
  t.is(buf.length, 44 + 16);
  t.is(new TextDecoder().decode(buf.subarray(0, 4)), 'RIFF');
  t.deepEqual(decodeWavHeader(buf), {
    format: 1, channels: 2, sampleRate: 16000, bitsPerSample: 16, dataOffset: 44, dataBytes: 16, frames: 4,
  });
  const v = new DataView(buf.buffer, buf.byteOffset);
  t.is(v.getUint32(4, true), 36 + 16);
  t.is(v.getUint32(28, true), 16000 * 2 * 2); // byte rate
  t.deepEqual([...int16Samples(buf)], [0, 16384, -16384, 32767, -32767, 0, 0, 32767]);
  t.throws(() => encodeWav16(new Float32Array(3), 16000, 2), { message: /whole number/ });
  t.throws(() => decodeWavHeader(new Uint8Array(44)), { message: /RIFF/ });
});

const CONVENTIONS: { dcase: Dcase; id: RegExp; sections: Record<string, number[]> }[] = [
  { dcase: 'dcase2020', id: /^\d{8}$/, sections: { fan: [0, 1, 2, 3, 4, 5, 6], ToyCar: [1, 2, 3, 4, 5, 6, 7], valve: [0, 1, 2, 3, 4, 5, 6] } },
  { dcase: 'dcase2021', id: /^\d{4}$/, sections: { fan: [0, 1, 2, 3, 4, 5], gearbox: [0, 1, 2, 3, 4, 5], ToyCar: [0, 1, 2, 3, 4, 5] } },
  { dcase: 'dcase2022', id: /^\d{4}$/, sections: { bearing: [0, 1, 2, 3, 4, 5], fan: [0, 1, 2, 3, 4, 5], ToyCar: [0, 1, 2, 3, 4, 5] } },
  { dcase: 'dcase2023', id: /^\d{4}$/, sections: { bandsaw: [0], fan: [0], ToyCar: [0] } },
  { dcase: 'dcase2024', id: /^\d{4}$/, sections: { '3DPrinter': [0], fan: [0], gearbox: [0] } },
];

for (const { dcase, id, sections } of CONVENTIONS) {
  test(`${dcase}: file names, sections, domains, attributes and counts follow the year`, async (t) => {
    const dataDir = await tmpDir(t);
    const counts = { source: 3, target: 2 };
    const res = await synthesize({ dataDir, dcase, seconds: 0.05, trainPerSection: counts, testPerSection: 2 });
    t.is(res.root, path.join(dataDir, 'formatted', dcase, 'raw'));
    const clips = await listClips(res.root);
    t.is(res.files, clips.length);
    t.deepEqual(Object.keys(sections).sort(), [...new Set(clips.map((c) => c.split('/')[0]))].sort());
    const domains = dcase === 'dcase2020' ? 1 : 2;
    for (const [machine, secs] of Object.entries(sections)) {
      const mine = clips.filter((c) => c.startsWith(`${machine}/`)).map((c) => ({ c, info: parseClipPath(c) }));
      const train = secs.length * (counts.source + (domains === 2 ? counts.target : 0));
      const test = secs.length * domains * 2 * 2;
      t.deepEqual(res.perMachine[machine], { train, test, supplemental: 0 });
      t.is(mine.length, train + test);
      t.deepEqual([...new Set(mine.map((x) => x.info.section))].sort((a, b) => a - b), secs);
      for (const { c, info } of mine) {
        const file = c.split('/')[2];
        t.regex(file, /^section_\d{2}_(source|target)_(train|test)_(normal|anomaly)_/);
        t.regex(file.split('_')[5].replace('.wav', ''), id, file);
        if (info.split === 'train') t.is(info.isNormal, 1, file);
        if (dcase === 'dcase2020') t.is(info.isTarget, 0, file);
        // Attributes: none in 2020, none in 2021 test names, hidden as noAttribute for some 2024 types.
        if (dcase === 'dcase2020' || (dcase === 'dcase2021' && info.split === 'test')) t.is(info.attr, '', file);
        else if (dcase === 'dcase2024' && machine === 'gearbox') t.is(info.attr, 'noAttribute', file);
        else t.regex(info.attr, /^[a-z-]+_\d+(_mic_[12])?$/, file);
      }
      if (domains === 2) t.is(mine.filter((x) => x.info.split === 'train' && x.info.isTarget).length, secs.length * counts.target);
    }
    if (dcase === 'dcase2023' || dcase === 'dcase2024') {
      const subsets = new Set(Object.keys(sections).map((m) => subsetOfMachine(dcase, m)));
      t.deepEqual([...subsets].sort(), ['dev', 'eval']);
    }
  });
}

test('dcase2025: attributes hidden as released, supplemental clips beside train and test', async (t) => {
  const dataDir = await tmpDir(t);
  const res = await synthesize({ dataDir, dcase: 'dcase2025', seconds: 0.05, trainPerSection: { source: 2, target: 1 }, testPerSection: 1 });
  t.deepEqual(Object.keys(res.perMachine).sort(), ['AutoTrash', 'bearing', 'fan']);
  t.deepEqual(res.perMachine.fan, { train: 3, test: 4, supplemental: 2 });
  const clips = await listClips(res.root);
  const names = (m: string, split: string) => clips.filter((c) => c.startsWith(`${m}/${split}/`)).map((c) => c.split('/')[2]);
  t.true([...names('bearing', 'train'), ...names('bearing', 'test')].every((n) => n.endsWith('_noAttribute.wav')));
  t.true(names('AutoTrash', 'train').every((n) => n.endsWith('_noAttribute.wav')));
  t.false([...names('AutoTrash', 'test'), ...names('fan', 'train')].some((n) => n.includes('noAttribute')));
  t.deepEqual(names('fan', 'supplemental'), ['section_00_machine_0001_.wav', 'section_00_machine_0002_.wav']);
});

test('plan and sound classes: conditions, domain shift, hidden 2024 attributes, unique names', (t) => {
  for (const m of ['fan', 'ToyCar', 'bearing']) {
    for (let s = 0; s < 6; s++) {
      const lv = sectionLevels(m, s);
      t.false(lv.source.some((v) => lv.target.includes(v)));
    }
  }
  // The sound class is a function of (machine, section, condition, domain) only.
  const base = soundClass('fan', 0, 1, 0, false);
  t.deepEqual(soundClass('fan', 0, 1, 0, false), base);
  t.not(soundClass('fan', 1, 1, 0, false).f0, base.f0);
  t.not(soundClass('pump', 0, 1, 0, false).f0, base.f0);
  const faster = soundClass('fan', 0, 1.2, 0, true);
  t.true(Math.abs(faster.f0 / base.f0 - 1.2) < 1e-12 && faster.amRate > base.amRate && faster.ambient > base.ambient);
  t.deepEqual(faster.res, base.res); // same section, same resonances whatever the speed
  const bm = planMachine('dcase2024', 'BrushlessMotor', { train: { source: 2, target: 1 }, test: 1 });
  t.true(bm.filter((c) => c.split === 'train').every((c) => c.name.endsWith('_noAttribute.wav')));
  t.true(bm.filter((c) => c.split === 'test').every((c) => !c.name.includes('noAttribute')));
  const names = planMachine('dcase2022', 'valve', { train: { source: 20, target: 5 }, test: 10 }).map((c) => c.name);
  t.is(new Set(names).size, names.length);
  t.throws(() => planMachine('dcase2023', 'pump', { train: { source: 1, target: 1 }, test: 1 }), { message: /unknown dcase2023 machine "pump"/ });
  t.true(defaultMachines('dcase2024', 'dcase').length === machinesOf('dcase2024', 'dev').length + machinesOf('dcase2024', 'eval').length);
});

test('same seed gives identical bytes; another seed gives different audio', async (t) => {
  const base = await tmpDir(t);
  const opts = { dcase: 'dcase2022' as const, machines: ['fan'], seconds: 0.1, trainPerSection: { source: 2, target: 1 }, testPerSection: 1 };
  const [a, b, c] = await Promise.all(
    [0, 0, 1].map((seed, i) => synthesize({ ...opts, dataDir: path.join(base, String(i)), seed })),
  );
  const files = await listClips(a.root);
  t.deepEqual(files, await listClips(c.root));
  let differ = 0;
  for (const f of files) {
    const [x, y, z] = await Promise.all([a, b, c].map((r) => fs.readFile(path.join(r.root, f))));
    t.true(x.equals(y), f);
    if (!x.equals(z)) differ++;
  }
  t.is(differ, files.length);
});

test('WAV files are 16 kHz mono 16-bit, neither silent nor clipped, and hold synthClip audio', async (t) => {
  const dataDir = await tmpDir(t);
  const res = await synthesize({ dataDir, dcase: 'dcase2023', machines: ['ToyCar'], seconds: 1.5, seed: 7 });
  const clips = await listClips(res.root);
  t.is(clips.length, 84); // tiny 2023: 40 + 4 train, 4 × 10 test
  const plan = planMachine('dcase2023', 'ToyCar', { train: { source: 40, target: 4 }, test: 10 });
  for (const f of clips) {
    const buf = new Uint8Array(await fs.readFile(path.join(res.root, f)));
    const h = decodeWavHeader(buf);
    t.like(h, { format: 1, channels: 1, sampleRate: 16000, bitsPerSample: 16, dataOffset: 44, frames: 24000 });
    const x = int16Samples(buf);
    let sq = 0;
    let peak = 0;
    for (const v of x) {
      sq += v * v;
      peak = Math.max(peak, Math.abs(v));
    }
    const rms = Math.sqrt(sq / x.length) / 32768;
    t.true(rms > 0.02 && rms < 0.3, `${f}: rms ${rms}`);
    t.true(peak < 32000, `${f}: peak ${peak}`);
    const clip = plan.find((c) => `ToyCar/${c.split}/${c.name}` === f)!;
    const ref = synthClip('dcase2023', 'ToyCar', clip, { seed: 7, seconds: 1.5, anomalyStrength: DEFAULT_ANOMALY_STRENGTH });
    t.true(Buffer.from(buf).equals(encodeWav16(ref.samples, 16000)), f);
  }
});

test('anomalous clips are farther from the training clips than normal ones, controlled by strength', async (t) => {
  const dataDir = await tmpDir(t);
  const aucAt = async (anomalyStrength: number): Promise<number> => {
    const dir = path.join(dataDir, String(anomalyStrength));
    const res = await synthesize({ dataDir: dir, dcase: 'dcase2023', machines: ['fan'], anomalyStrength });
    const clips = await listClips(res.root);
    const spec = await Promise.all(
      clips.map(async (f) => ({ info: parseClipPath(f), s: spectrum(int16Samples(new Uint8Array(await fs.readFile(path.join(res.root, f))))) })),
    );
    const train = spec.filter((x) => x.info.split === 'train').map((x) => x.s);
    const test = spec.filter((x) => x.info.split === 'test');
    const score = (normal: 0 | 1) => test.filter((x) => x.info.isNormal === normal).map((x) => nearest(x.s, train));
    return auc(score(0), score(1));
  };
  const [none, def, full] = await Promise.all([0, DEFAULT_ANOMALY_STRENGTH, 1].map(aucAt));
  t.log(none, def, full);
  t.true(Math.abs(none - 0.5) < 0.2, `strength 0: AUC ${none}`);
  t.true(def > 0.65 && def > none + 0.15, `default strength: AUC ${def}`);
  t.true(full > 0.85 && full > def, `strength 1: AUC ${full}`);
});

/** Normal and anomalous clips of a few sound classes, rendered with one seeded generator. */
function renderedClasses(kinds: readonly AnomalyKind[], perKind: number, strength: number, seconds = 1) {
  return (
    [['fan', 0], ['gearbox', 1], ['ToyCar', 2], ['valve', 3]] as const
  ).map(([machine, section]) => {
    const cls = soundClass(machine, section, 1, 0, false);
    const rng = new Rng(123);
    const n = Math.round(16000 * seconds);
    const normals = Array.from({ length: 8 }, () => renderClip(cls, rng, n, 16000));
    const anomalies = kinds.map((kind) => ({ kind, clips: Array.from({ length: perKind }, () => renderClip(cls, rng, n, 16000, { kind, strength })) }));
    return { normals, anomalies };
  });
}

/** Per kind, the AUC of a nearest-normal time-averaged-spectrum distance (normals: leave one out). */
function meanSpectrumAuc(classes: ReturnType<typeof renderedClasses>): Record<string, number> {
  const pos: Record<string, number[]> = {};
  const neg: number[] = [];
  for (const { normals, anomalies } of classes) {
    const ref = normals.map(spectrum);
    neg.push(...ref.map((s, i) => nearest(s, ref.filter((_, j) => j !== i))));
    for (const { kind, clips } of anomalies) (pos[kind] ??= []).push(...clips.map((x) => nearest(spectrum(x), ref)));
  }
  return Object.fromEntries(Object.entries(pos).map(([k, p]) => [k, auc(p, neg)]));
}

test('every spectral anomaly kind at full strength stands out in the time-averaged spectrum', (t) => {
  const a = meanSpectrumAuc(renderedClasses(SPECTRAL_ANOMALY_KINDS, 4, 1));
  for (const kind of SPECTRAL_ANOMALY_KINDS) t.true(a[kind] > 0.8, `${kind}: AUC ${a[kind].toFixed(3)}`);
});

test('temporal anomaly kinds leave the time-averaged spectrum alone but change its evolution over time', (t) => {
  // At the default strength and at full strength: near chance for the time average, clear for a
  // time-resolved statistic (temporalSpread relative to the class's normal clips).
  for (const strength of [DEFAULT_ANOMALY_STRENGTH, 1]) {
    const classes = renderedClasses(TEMPORAL_ANOMALY_KINDS, 5, strength, 1.5);
    const mean = meanSpectrumAuc(classes);
    const pos: Record<string, number[]> = {};
    const neg: number[] = [];
    for (const { normals, anomalies } of classes) {
      const base = normals.map(temporalSpread);
      const ref = base.reduce((x, y) => x + y) / base.length;
      neg.push(...base.map((v) => v / ref));
      for (const { kind, clips } of anomalies) (pos[kind] ??= []).push(...clips.map((x) => temporalSpread(x) / ref));
    }
    for (const kind of TEMPORAL_ANOMALY_KINDS) {
      const spread = auc(pos[kind], neg);
      t.log(`${kind} at ${strength}: time-average AUC ${mean[kind].toFixed(3)}, temporal-spread AUC ${spread.toFixed(3)}`);
      t.true(Math.abs(mean[kind] - 0.5) < 0.15, `${kind} at ${strength}: time-average AUC ${mean[kind].toFixed(3)}`);
      t.true(spread > 0.9, `${kind} at ${strength}: temporal-spread AUC ${spread.toFixed(3)}`);
    }
  }
});

test('the anomaly set decides which faults anomalous clips get; the default keeps the spectral ones', (t) => {
  const clips = planMachine('dcase2023', 'fan', { train: { source: 0, target: 0 }, test: 30 }).filter((c) => c.label === 'anomaly');
  const kindsOf = (anomalies?: keyof typeof ANOMALY_SETS) =>
    new Set(clips.map((c) => synthClip('dcase2023', 'fan', c, { seed: 1, seconds: 0.1, anomalyStrength: 0.5, anomalies }).anomaly));
  t.deepEqual([...kindsOf()].sort(), [...SPECTRAL_ANOMALY_KINDS].sort());
  t.deepEqual([...kindsOf('temporal')].sort(), [...TEMPORAL_ANOMALY_KINDS].sort());
  t.deepEqual([...kindsOf('mixed')].sort(), [...SPECTRAL_ANOMALY_KINDS, ...TEMPORAL_ANOMALY_KINDS].sort());
  // The default draws exactly what 'spectral' draws, sample for sample.
  const c = clips[0];
  const a = synthClip('dcase2023', 'fan', c, { seed: 1, seconds: 0.1, anomalyStrength: 0.5 });
  const b = synthClip('dcase2023', 'fan', c, { seed: 1, seconds: 0.1, anomalyStrength: 0.5, anomalies: 'spectral' });
  t.deepEqual([a.anomaly, [...a.samples]], [b.anomaly, [...b.samples]]);
});

test('faults.csv names every anomalous clip and its fault, in both layouts', async (t) => {
  const dataDir = await tmpDir(t);
  const o = { dataDir, seed: 3, seconds: 0.05, anomalies: 'mixed' as const, trainPerSection: { source: 1, target: 1 }, testPerSection: 6 };
  await synthesize({ ...o, dcase: 'dcase2023', machines: ['fan'] });
  await synthesize({ ...o, dcase: 'dcase2021', machines: ['fan'], layout: 'original' });
  // Original 2021 eval names hide the label: the plan says which clips are anomalous.
  const original = await planOriginal('dcase2021', 'fan', { train: o.trainPerSection, test: o.testPerSection });
  const plan = planMachine('dcase2023', 'fan', { train: o.trainPerSection, test: o.testPerSection }).filter((c) => c.label === 'anomaly');
  const folders: [string, string[]][] = [
    [path.join(dataDir, 'formatted', 'dcase2023', 'raw', 'fan'), plan.map((c) => `test/${c.name}`)],
    ...(['dev', 'eval'] as const).map((subset): [string, string[]] => [
      path.join(dataDir, 'original', 'dcase2021', `${subset}_data`, 'raw', 'fan'),
      original.filter((c) => c.subset === subset && c.label === 'anomaly').map((c) => `${c.folder}/${c.file}`),
    ]),
  ];
  const listedIn = new Map<string, string[][]>();
  for (const [folder, anomalous] of folders) {
    const table = parseCsv(await fs.readFile(path.join(folder, FAULTS_FILE), 'utf8'), FAULTS_FILE);
    t.deepEqual(table.columns, ['file', 'fault']);
    const listed = table.rows;
    listedIn.set(folder, listed);
    t.true(anomalous.length > 0);
    t.deepEqual(listed.map(([f]) => f).sort(), [...anomalous].sort(), folder);
    for (const [f, k] of listed) {
      await t.notThrowsAsync(fs.access(path.join(folder, f)), `${folder}: ${f} listed but absent`);
      t.true((ANOMALY_SETS.mixed as readonly string[]).includes(k), k);
    }
  }
  // The formatted folder's kinds are synthClip's.
  t.deepEqual(
    listedIn.get(folders[0][0])!.map(([f, k]) => [f, k]).sort(),
    plan.map((c) => [`test/${c.name}`, synthClip('dcase2023', 'fan', c, { seed: 3, seconds: 0.05, anomalyStrength: DEFAULT_ANOMALY_STRENGTH, anomalies: 'mixed' }).anomaly]).sort(),
  );
});

test('existing machine folders are skipped unless overwrite; bad options fail clearly', async (t) => {
  const dataDir = await tmpDir(t);
  const opts = { dataDir, dcase: 'dcase2024' as const, machines: ['fan', 'gearbox'], seconds: 0.05, trainPerSection: { source: 2, target: 1 }, testPerSection: 1 };
  const first = await synthesize(opts);
  t.is(first.files, 2 * (3 + 4));
  const again = await synthesize(opts);
  t.deepEqual([again.files, again.skipped, again.perMachine], [0, ['fan', 'gearbox'], {}]);
  const marker = path.join(first.root, 'fan', 'train', 'extra.txt');
  await fs.writeFile(marker, 'x');
  const over = await synthesize({ ...opts, overwrite: true, machines: ['fan'] });
  t.is(over.files, 7);
  await t.throwsAsync(fs.access(marker)); // the folder was replaced, not merged
  t.deepEqual((await fs.readdir(path.join(dataDir, 'formatted', 'dcase2024'))).sort(), ['raw']); // no temp folders
  await t.throwsAsync(synthesize({ ...opts, machines: ['pump'] }), { message: /unknown dcase2024 machine "pump"/ });
  await t.throwsAsync(synthesize({ ...opts, testPerSection: -1 }), { message: /testPerSection/ });
  await t.throwsAsync(synthesize({ ...opts, anomalyStrength: 2 }), { message: /anomalyStrength/ });
  await t.throwsAsync(synthesize({ ...opts, anomalies: 'loud' as 'mixed' }), { message: /invalid anomalies "loud"/ });
  await t.throwsAsync(synthesize({ ...opts, dcase: 'dcase2019' as Dcase }), { message: /unknown dcase/ });
});

test('an AbortSignal stops generation and leaves no partial machine folder', async (t) => {
  const dataDir = await tmpDir(t);
  const ctl = new AbortController();
  let last = 0;
  // The default reason is a DOMException, which ava's throwsAsync does not accept as an error.
  const err = await synthesize({
    dataDir, dcase: 'dcase2021', machines: ['fan', 'pump'], seconds: 0.1, signal: ctl.signal,
    onProgress: (done, total) => {
      last = done;
      t.is(total, 2 * 6 * (12 + 2 + 4 * 8));
      if (done === 10) ctl.abort();
    },
  }).then(() => undefined, (e: unknown) => e);
  t.is((err as Error | undefined)?.name, 'AbortError');
  t.true(last < 30, `stopped after ${last} files`);
  const dir = path.join(dataDir, 'formatted', 'dcase2021');
  t.deepEqual(await fs.readdir(dir).catch(() => []), []); // no temp folder, no fan folder
  const pre = new AbortController();
  pre.abort(new Error('cancelled by user'));
  await t.throwsAsync(synthesize({ dataDir, dcase: 'dcase2021', signal: pre.signal }), { message: 'cancelled by user' });
});
