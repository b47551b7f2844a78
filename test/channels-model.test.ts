/**
 * The trained and pretrained models on two-channel clips (DCASE 2026: near and far microphone):
 * dis_spec_scac_trainable with channel subtract (embedding E) and both (2E = [near | far]),
 * 1 epoch on a tiny synthetic dcase2026 set; the checkpoint keeps the channel; a both model
 * equals the one-channel model of the same weights run on each channel; raw_beats with both;
 * BEATs / EAT refuse subtract before any file is read.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { readNpz } from '../src/io/npz.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { KNN_PLAIN } from '../src/run/index.js';
import { fingerprintFile } from '../src/run/fingerprint.js';
import { DisModel, loadModel } from '../src/train/model.js';
import { readCsvFile } from '../src/util/csv.js';
import { smallBeatsCheckpoint } from './helpers/beats-small.js';

// Two eval/dev machines whose own clip lengths (6 s, 12 s) differ from the model's 4.5 s window.
const MACHINES = ['ToothBrush', 'ToyCar'];
const SEC = 4.5; // the shortest window the dual-branch FFT convolutions take
const data = (async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-channels-model-'));
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2026', seed: 5, machines: MACHINES, seconds: 2, trainPerSection: { source: 4, target: 2 }, testPerSection: 2 });
  return { root, dataDir, beats: await smallBeatsCheckpoint(root) };
})();
test.after.always(async () => fs.rm((await data).root, { recursive: true, force: true }));

async function config(recipe: string, version: string, sets: string[]) {
  const { root, dataDir } = await data;
  return resolveRunConfig(
    recipe,
    { dcase: 'dcase2026', data_dir: dataDir, result_dir: path.join(root, 'results'), version, machines: MACHINES, visualize: { enabled: false }, score: { backend: [KNN_PLAIN] } },
    sets,
  );
}

const DIS = ['trainer.max_epochs=1', `datamodule.sec=${SEC}`, 'datamodule.batch_size=6'];

async function embedOf(dir: string, split: string) {
  const z = await readNpz(path.join(dir, `${split}_extract.npz`));
  const a = z.get('embed')!;
  return { shape: a.shape, data: a.data as Float32Array, paths: z.get('path')!.data as string[] };
}

async function finiteScores(t: import('ava').ExecutionContext, file: string) {
  const tb = await readCsvFile(file, 'scores');
  const first = tb.columns.indexOf('is_target') + 1;
  t.true(first > 0 && tb.columns.length > first, tb.columns.join(','));
  t.true(tb.rows.length > 0);
  for (const row of tb.rows) for (const cell of row.slice(first)) t.true(Number.isFinite(Number(cell)), `${file}: ${cell}`);
}

for (const [channel, width] of [['subtract', 256], ['both', 512]] as const) {
  test.serial(`dis_spec_scac_trainable, channel ${channel}: 1 epoch on two-channel dcase2026, embedding ${width}, finite scores`, async (t) => {
    const { root } = await data;
    const c = await config('dis_spec_scac_trainable', `dis-${channel}`, [`channel=${channel}`, ...DIS, `datamodule.label_dir=${path.join(root, 'labels')}`]);
    const r = await runRecipe(c);
    t.deepEqual(r.failed, []);
    for (const m of MACHINES) {
      const dir = path.join(r.outputDir, m);
      for (const split of ['train', 'test']) {
        const e = await embedOf(dir, split);
        t.is(e.shape[1], width, `${m} ${split}`);
        t.true(e.shape[0] > 0 && e.data.every(Number.isFinite), `${m} ${split}`);
      }
      // Every machine is extracted with the model's window, not its own clip length (6 s / 12 s).
      const fp = JSON.parse(await fs.readFile(fingerprintFile(dir, 'extract'), 'utf8')) as { settings: { length: number } };
      t.is(fp.settings.length, SEC * 16000, m);
      await finiteScores(t, path.join(dir, 'test_score.csv'));
    }
    // The checkpoint keeps the channel: reloaded, it extracts the same rows, and only from the
    // channel it was built for.
    const ckpt = path.join(root, 'results', 'recipe', 'dcase2026', `dis-${channel}`, '0', 'model', 'all', 'checkpoints', 'last.ckpt');
    const { model } = await loadModel(ckpt);
    try {
      t.is((model.config as { channel?: string }).channel, channel);
      if (channel === 'subtract') t.like(model.config, { channelAlpha: 1, channelFloor: 0.05 });
      t.is(model.counts().embedSize, width);
      const dir = path.join(r.outputDir, MACHINES[0]);
      const want = await embedOf(dir, 'test');
      const got = await model.embedFiles(want.paths.slice(0, 2), { length: SEC * 16000, channel });
      t.deepEqual(got.shape, [2, width]);
      const diff = Math.max(...Array.from(got.data as Float32Array, (v, i) => Math.abs(v - want.data[i])));
      t.true(diff <= 1e-5, `reloaded vs extract: ${diff}`);
      await t.throwsAsync(model.embedFiles(want.paths.slice(0, 1), { length: SEC * 16000, channel: 'near' }), { message: new RegExp(`built for channel ${channel}; the call's channel is near`) });
    } finally {
      model.dispose();
    }
  });
}

test('a both DisModel is the one-channel model of the same weights on each channel, [near | far]', async (t) => {
  // A 1 s model (shorter FFT convolutions); the extractor is drawn first, so both models share it.
  const arch = {
    branches: [{ kind: 'fft' as const, kernel: [64, 16, 4], stride: [16, 4, 2] }, { kind: 'stft' as const, nFft: 256, hopLength: 128 }],
    secSamples: 16000, numClasses: 3, head: { type: 'scadacos' as const, nSubclusters: 2, trainable: true },
  };
  const one = DisModel.create(arch, 7);
  const both = DisModel.create({ ...arch, channel: 'both' }, 7);
  t.teardown(() => {
    one.dispose();
    both.dispose();
  });
  t.is(both.counts().embedSize, 2 * one.counts().embedSize);
  const B = 3;
  const L = 16000;
  const near = Array.from({ length: B }, (_, b) => Float32Array.from({ length: L }, (_, i) => 0.3 * Math.sin((2 * Math.PI * (200 + 50 * b) * i) / 16000)));
  const far = near.map((w, b) => Float32Array.from(w, (v, i) => 0.4 * v + 0.05 * Math.sin(i * (0.37 + b))));
  const stereo = new Float32Array(B * 2 * L);
  for (let b = 0; b < B; b++) {
    stereo.set(near[b], (2 * b) * L);
    stereo.set(far[b], (2 * b + 1) * L);
  }
  const e2 = await both.embed({ data: stereo, shape: [B, 2, L] });
  const en = await one.embed(near);
  const ef = await one.embed(far);
  const E = one.counts().embedSize;
  t.deepEqual(e2.shape, [B, 2 * E]);
  let diff = 0;
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < E; j++) {
      diff = Math.max(diff, Math.abs((e2.data as Float32Array)[b * 2 * E + j] - (en.data as Float32Array)[b * E + j]));
      diff = Math.max(diff, Math.abs((e2.data as Float32Array)[b * 2 * E + E + j] - (ef.data as Float32Array)[b * E + j]));
    }
  }
  t.true(diff <= 1e-5, `both vs [one(near) | one(far)]: ${diff}`);
  await t.throwsAsync(both.embed(near), { message: /\[batch, 2, samples\]/ });
  // Training data read with another channel mode is refused before any file is opened.
  const clips = { paths: ['/nonexistent/a.wav', '/nonexistent/b.wav'], labels: [0, 1], numClasses: 3, length: L };
  await t.throwsAsync(both.trainEpoch({ ...clips, channel: 'near' }, 0, {}), { message: /built for channel both; the call's channel is near/ });
  await t.throwsAsync(one.trainEpoch({ ...clips, channel: 'subtract' }, 0, {}), { message: /built for one channel \(near, far or mean\); the call's channel is subtract/ });
});

test.serial('raw_beats with channel both: the frozen encoder on each channel, embedding 2D', async (t) => {
  const { beats } = await data;
  const widths: Record<string, number> = {};
  for (const channel of ['near', 'both']) {
    const c = await config('raw_beats', `beats-${channel}`, [`channel=${channel}`, `extract.frontend.checkpoint=${beats}`, 'extract.sec=1']);
    const r = await runRecipe(c);
    t.deepEqual(r.failed, [], channel);
    const e = await embedOf(path.join(r.outputDir, MACHINES[0]), 'test');
    t.true(e.data.every(Number.isFinite));
    widths[channel] = e.shape[1];
  }
  t.is(widths.both, 2 * widths.near);
});

test('BEATs / EAT refuse channel subtract before looking for the encoder file', async (t) => {
  const missing = path.join(os.tmpdir(), 'asdkit-no-such-encoder.pt');
  const cases: Array<[string, string[], RegExp]> = [
    ['raw_beats', [`extract.frontend.checkpoint=${missing}`], /channel subtract is not possible with the BEATs encoder \(recipe raw_beats\): its log-mel fbank has no linear-magnitude stage/],
    ['raw_eat', [`extract.frontend.checkpoint=${missing}`], /channel subtract is not possible with the EAT encoder \(recipe raw_eat\)/],
    ['dis_eat_scac_trainable', [`model.extractor.checkpoint=${missing}`], /channel subtract is not possible with the EAT encoder \(recipe dis_eat_scac_trainable\)/],
  ];
  for (const [recipe, sets, re] of cases) {
    const c = await config(recipe, `refuse-${recipe}`, ['channel=subtract', ...sets]);
    await t.throwsAsync(runRecipe(c), { message: re }, recipe);
  }
});
