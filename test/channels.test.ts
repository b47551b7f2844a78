import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { encodeWav16 } from '../src/data/wav.js';
import { readNpz } from '../src/io/npz.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { Rng } from '../src/util/rng.js';

// The run setting `channel` (DCASE 2026 clips are two-channel: near and far microphone) on a tiny
// dataset made two-channel here: channel 0 = the synthetic clip as it was (same int16 samples),
// channel 1 = 0.25 · clip + noise.
const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-channels-'));
const MACHINE = 'fan';

async function wavFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await wavFiles(p)));
    else if (e.name.endsWith('.wav')) out.push(p);
  }
  return out;
}

/** Rewrites a canonical 44-byte-header mono 16-bit WAV as two channels, channel 0 bit for bit the original. */
async function makeStereo(file: string, rng: Rng): Promise<void> {
  const buf = await fs.readFile(file);
  const n = (buf.length - 44) / 2;
  const mono = new Int16Array(n);
  for (let i = 0; i < n; i++) mono[i] = buf.readInt16LE(44 + 2 * i);
  const inter = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    inter[2 * i] = mono[i] / 32767;
    inter[2 * i + 1] = 0.25 * (mono[i] / 32768) + 0.02 * (rng.next() * 2 - 1);
  }
  const out = Buffer.from(encodeWav16(inter, 16000, 2));
  for (let i = 0; i < n; i++) out.writeInt16LE(mono[i], 44 + 4 * i); // exactly the mono samples
  await fs.writeFile(file, out);
}

const data = (async () => {
  const root = await tmp;
  const mono = path.join(root, 'mono');
  await synthesize({ dataDir: mono, dcase: 'dcase2023', size: 'tiny', seed: 4, machines: [MACHINE] });
  const stereo = path.join(root, 'stereo');
  await fs.cp(mono, stereo, { recursive: true });
  const rng = new Rng(9);
  for (const f of (await wavFiles(stereo)).sort()) await makeStereo(f, rng);
  return { root, mono, stereo };
})();

async function run(recipe: string, dataDir: string, version: string, sets: string[]) {
  const { root } = await data;
  const c = resolveRunConfig(recipe, { dcase: 'dcase2023', data_dir: dataDir, result_dir: path.join(root, 'results'), version, machines: [MACHINE] }, ['visualize.enabled=false', ...sets]);
  const r = await runRecipe(c);
  return { r, out: path.join(root, 'results', 'recipe', 'dcase2023', version, '0', 'output', c.infer_ver, MACHINE) };
}

async function embed(out: string, split = 'test') {
  const a = (await readNpz(path.join(out, `${split}_extract.npz`))).get('embed')!;
  return { shape: a.shape, data: a.data as Float32Array };
}

const rows = (e: { shape: number[]; data: Float32Array }, from: number, to: number) => {
  const [n, d] = e.shape;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(...e.data.subarray(i * d + from, i * d + to));
  return out;
};

test.serial('raw_spec: near is the mono run, far/mean/subtract differ, both is [near | far]', async (t) => {
  const { stereo, mono } = await data;
  const monoRun = await run('raw_spec', mono, 'mono', []);
  t.deepEqual(monoRun.r.failed, []);
  const ref = await embed(monoRun.out);
  const runs: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const ch of ['near', 'far', 'mean', 'subtract', 'both']) {
    const { r, out } = await run('raw_spec', stereo, ch, [`channel=${ch}`]);
    t.deepEqual(r.failed, [], ch);
    runs[ch] = await embed(out);
  }
  t.deepEqual(Array.from(runs.near.data), Array.from(ref.data), 'near = the mono clips, bit for bit');
  t.deepEqual(runs.near.shape, ref.shape);
  for (const ch of ['far', 'mean', 'subtract']) {
    t.deepEqual(runs[ch].shape, ref.shape, ch);
    t.notDeepEqual(Array.from(runs[ch].data), Array.from(ref.data), `${ch} differs from near`);
    t.true(runs[ch].data.every(Number.isFinite), ch);
  }
  t.notDeepEqual(Array.from(runs.far.data), Array.from(runs.mean.data));
  // Subtraction takes energy away: every pooled mel band is at most the near one.
  t.true(runs.subtract.data.every((v, i) => v <= ref.data[i] * (1 + 1e-6)));
  t.deepEqual(runs.both.shape, [ref.shape[0], 2 * ref.shape[1]]);
  t.deepEqual(rows(runs.both, 0, 128), Array.from(runs.near.data));
  t.deepEqual(rows(runs.both, 128, 256), Array.from(runs.far.data));
});

test.serial('far on mono clips is an error naming a file', async (t) => {
  const { mono } = await data;
  const { r } = await run('raw_spec', mono, 'mono-far', ['channel=far']);
  const extract = r.failed.find((f) => f.step === 'extract');
  t.regex(extract?.message ?? JSON.stringify(r.failed), /\/fan\/(train|test)\/[^/]+\.wav: mono audio has no far channel/);
});

test.serial('the AE trains and extracts on the mean, subtract and both channels', async (t) => {
  const { stereo } = await data;
  const { r, out } = await run('ae', stereo, 'ae-mean', ['channel=mean', 'trainer.max_epochs=1']);
  t.deepEqual(r.failed, []);
  const e = await embed(out);
  t.deepEqual(e.shape.slice(1), [8]);
  t.true(e.data.every(Number.isFinite));
  const sub = await run('ae', stereo, 'ae-subtract', ['channel=subtract', 'trainer.max_epochs=1']);
  t.deepEqual(sub.r.failed, []);
  t.notDeepEqual(Array.from((await embed(sub.out)).data), Array.from(e.data));
  const both = await run('ae', stereo, 'ae-both', ['channel=both', 'trainer.max_epochs=1']);
  t.deepEqual(both.r.failed, []);
  t.true((await embed(both.out)).data.every(Number.isFinite));
});
