import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machinesOf, parseClipPath, subsetOfMachine } from '../src/dcase/index.js';
import type { Dcase } from '../src/dcase/index.js';
import { ANOMALY_KINDS, defaultMachines, planMachine, synthClip, synthesize } from '../src/data/synth/index.js';
import { sectionLevels } from '../src/data/synth/plan.js';
import { Rng } from '../src/data/synth/rng.js';
import { renderClip, soundClass } from '../src/data/synth/sound.js';
import { decodeWavHeader, encodeWav16 } from '../src/data/wav.js';

async function tmpDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-synth-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** All wav paths under root as `<machine>/<split>/<file>`, sorted. */
async function listClips(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const m of await fs.readdir(root)) {
    for (const split of await fs.readdir(path.join(root, m))) {
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

/** Log power in 128 bands (naive DFT of 512-sample frames, every other bin): a simple spectrum. */
const DFT_N = 512;
const BINS = 128;
const COS = Float64Array.from({ length: BINS * DFT_N }, (_, i) => Math.cos((2 * Math.PI * 2 * (Math.floor(i / DFT_N) + 1) * (i % DFT_N)) / DFT_N));
const SIN = Float64Array.from({ length: BINS * DFT_N }, (_, i) => Math.sin((2 * Math.PI * 2 * (Math.floor(i / DFT_N) + 1) * (i % DFT_N)) / DFT_N));
function logSpectrum(x: ArrayLike<number>): Float64Array {
  const p = new Float64Array(BINS);
  for (let s = 0; s + DFT_N <= x.length; s += DFT_N) {
    for (let k = 0; k < BINS; k++) {
      let re = 0;
      let im = 0;
      for (let i = 0; i < DFT_N; i++) {
        re += x[s + i] * COS[k * DFT_N + i];
        im += x[s + i] * SIN[k * DFT_N + i];
      }
      p[k] += re * re + im * im;
    }
  }
  return p.map((v) => Math.log(v + 1e-9));
}
function dist(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
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
      t.deepEqual(res.perMachine[machine], { train, test });
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

test('plan: target conditions lie outside the source ones; 2024 hides attributes like the release', (t) => {
  for (const m of ['fan', 'ToyCar', 'bearing']) {
    for (let s = 0; s < 6; s++) {
      const lv = sectionLevels(m, s);
      t.false(lv.source.some((v) => lv.target.includes(v)));
    }
  }
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
    const ref = synthClip('dcase2023', 'ToyCar', clip, { seed: 7, seconds: 1.5, anomalyStrength: 0.6 }).samples;
    t.is(x[1000], Math.round(ref[1000] * 32767), f);
  }
});

test('anomalous clips are farther from the training clips than normal ones, controlled by strength', async (t) => {
  const dataDir = await tmpDir(t);
  const aucAt = async (anomalyStrength: number): Promise<number> => {
    const dir = path.join(dataDir, String(anomalyStrength));
    const res = await synthesize({ dataDir: dir, dcase: 'dcase2023', machines: ['fan'], seconds: 1, anomalyStrength });
    const clips = await listClips(res.root);
    const spec = await Promise.all(
      clips.map(async (f) => ({ info: parseClipPath(f), s: logSpectrum(int16Samples(new Uint8Array(await fs.readFile(path.join(res.root, f))))) })),
    );
    const train = spec.filter((x) => x.info.split === 'train').map((x) => x.s);
    const test = spec.filter((x) => x.info.split === 'test');
    const score = (normal: 0 | 1) => test.filter((x) => x.info.isNormal === normal).map((x) => nearest(x.s, train));
    return auc(score(0), score(1));
  };
  const def = await aucAt(0.6);
  const none = await aucAt(0);
  t.true(def > 0.75, `default strength AUC ${def}`);
  t.true(Math.abs(none - 0.5) < 0.2, `strength 0 AUC ${none}`);
});

test('every anomaly kind changes the spectrum more than normal variation does', (t) => {
  const cls = soundClass('gearbox', 1, 1, 0, false);
  const rng = new Rng(123);
  const normals = Array.from({ length: 8 }, () => logSpectrum(renderClip(cls, rng, 16000, 16000)));
  // Leave-one-out nearest-normal distance of normals: the spread of the class.
  const spread = Math.max(...normals.map((s, i) => nearest(s, normals.filter((_, j) => j !== i))));
  for (const kind of ANOMALY_KINDS) {
    const d = Array.from({ length: 4 }, () => nearest(logSpectrum(renderClip(cls, rng, 16000, 16000, { kind, strength: 1 })), normals));
    t.true(Math.min(...d) > spread, `${kind}: ${d.map((v) => v.toFixed(2))} vs normal spread ${spread.toFixed(2)}`);
  }
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
  await t.throwsAsync(synthesize({ ...opts, dcase: 'dcase2019' as Dcase }), { message: /unknown dcase/ });
});

test('an AbortSignal stops generation and leaves no partial machine folder', async (t) => {
  const dataDir = await tmpDir(t);
  const ctl = new AbortController();
  let last = 0;
  const err = await t.throwsAsync(
    synthesize({
      dataDir, dcase: 'dcase2021', machines: ['fan', 'pump'], seconds: 0.1, signal: ctl.signal,
      onProgress: (done, total) => {
        last = done;
        t.is(total, 2 * 6 * (12 + 2 + 4 * 8));
        if (done === 10) ctl.abort();
      },
    }),
  );
  t.is(err?.name, 'AbortError');
  t.true(last < 30, `stopped after ${last} files`);
  const dir = path.join(dataDir, 'formatted', 'dcase2021');
  t.deepEqual(await fs.readdir(dir).catch(() => []), []); // no temp folder, no fan folder
  const pre = new AbortController();
  pre.abort(new Error('cancelled by user'));
  await t.throwsAsync(synthesize({ dataDir, dcase: 'dcase2021', signal: pre.signal }), { message: 'cancelled by user' });
});
