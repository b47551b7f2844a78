import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { readNpz } from '../src/io/npz.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { DIS_RECIPES } from '../src/recipes/dis.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { multiresnetConfigOf, trainOptionsOf } from '../src/steps/from-config.js';
import { train } from '../src/steps/train.js';
import { bestName, lossText, selectCheckpoint } from '../src/train/checkpoint.js';
import { DisModel } from '../src/train/model.js';
import { readEventFile } from '../src/train/tensorboard.js';
import { done, skippedOf } from './helpers/outcome.js';

// A very small synthetic dcase2023 set: 3 machines × 27 training clips (the default back-ends need ≥ 16 source and
// ≥ 3 target clips, and 0.2 × source > target for SMOTE); 5 s windows (the FFT
// branch's convolutions need ≥ 4.4 s) and batches of 32 keep every recipe at seconds per epoch.
const SMALL = ['datamodule.sec=5', 'datamodule.batch_size=32', 'trainer.max_epochs=2'];
const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-train-'));
const dataset = (async () => {
  const root = await tmp;
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 3, trainPerSection: { source: 24, target: 3 }, testPerSection: 4 });
  return { root, dataDir, labelDir: path.join(root, 'labels') };
})();

function config(recipe: string, root: string, dataDir: string, labelDir: string, extra: string[] = [], resultDir = 'results') {
  return resolveRunConfig(recipe, { dcase: 'dcase2023', data_dir: dataDir, result_dir: path.join(root, resultDir) }, [
    ...SMALL,
    `datamodule.label_dir=${labelDir}`,
    ...extra,
  ]);
}

test('checkpoint names and ckpt_ver selection follow ASDKit', async (t) => {
  t.is(bestName(12, 0.1234567891), 'epoch=12-loss=0.123456789.ckpt');
  t.is(lossText(NaN), 'nan');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-ckpt-'));
  for (const f of ['last.ckpt', 'epoch=1-loss=0.5.ckpt', 'epoch=3-loss=0.5.ckpt', 'epoch=2-loss=0.9.ckpt', 'interval_epoch=3-loss=0.1.ckpt']) {
    await fs.writeFile(path.join(dir, f), '');
  }
  const pick = async (v: string) => path.basename(await selectCheckpoint(dir, v));
  t.is(await pick('last'), 'last.ckpt');
  t.is(await pick('min'), 'epoch=3-loss=0.5.ckpt', 'ties go to the larger epoch');
  t.is(await pick('max'), 'epoch=2-loss=0.9.ckpt');
  t.is(await pick('epoch_4'), 'interval_epoch=3-loss=0.1.ckpt');
  await t.throwsAsync(pick('epoch_8'), { message: /exactly one interval_epoch=7/ });
  await t.throwsAsync(pick('best'), { message: /unknown ckpt_ver/ });
});

test.serial('every dis_* recipe trains, extracts, scores and tabulates on a tiny set', async (t) => {
  const { root, dataDir, labelDir } = await dataset;
  t.deepEqual(DIS_RECIPES.map((r) => r.name).sort(), [
    'dis_multispec_scac_trainable', 'dis_spec_adacos_fixed', 'dis_spec_adacos_fixed_wo_mixup', 'dis_spec_featex',
    'dis_spec_scac_fixed', 'dis_spec_scac_trainable', 'dis_spec_subspaceloss',
  ]);
  for (const recipe of DIS_RECIPES) {
    const c = config(recipe.name, root, dataDir, labelDir);
    const r = await runRecipe(c);
    t.deepEqual(r.failed, [], recipe.name);
    const vdir = path.join(root, 'results', 'recipe', 'dcase2023', recipe.name, '0');
    const ckpts = (await fs.readdir(path.join(vdir, 'model', 'all', 'checkpoints'))).sort();
    t.true(ckpts.includes('last.ckpt'), `${recipe.name}: ${ckpts.join(' ')}`);
    t.is(ckpts.filter((f) => /^epoch=\d-loss=\d+\.\d{9}\.ckpt$/.test(f)).length, 1, `${recipe.name}: one best checkpoint`);
    const out = path.join(vdir, 'output', 'last');
    const embedDim = recipe.name.startsWith('dis_multispec') ? 512 : 256;
    for (const m of r.machines) {
      const npz = await readNpz(path.join(out, m, 'test_extract.npz'));
      t.deepEqual(npz.get('embed')!.shape.slice(1), [embedDim]);
      for (const f of ['train_score.csv', 'test_score.csv', 'test_evaluate.csv']) await t.notThrowsAsync(fs.access(path.join(out, m, f)));
    }
    await t.notThrowsAsync(fs.access(path.join(out, 'dev_official23.csv')));
    // Logged loss terms follow ASDKit's names (§7.4).
    const lines = (await fs.readFile(path.join(vdir, 'model', 'all', 'metrics.jsonl'), 'utf8')).trim().split('\n');
    const terms = Object.keys(JSON.parse(lines[0]).losses);
    const expected = recipe.name === 'dis_spec_featex' ? ['main_main', 'main_featex', 'main'] : recipe.name === 'dis_spec_subspaceloss' ? ['main_main', 'main_subspace_0', 'main_subspace_1', 'main'] : ['dis_main', 'main'];
    t.deepEqual(terms, expected, recipe.name);
    t.is(lines.length, 2 * 3, `${recipe.name}: 2 epochs × 3 steps`);
  }
  // TensorBoard scalars of the last recipe.
  const mdir = path.join(root, 'results', 'recipe', 'dcase2023', 'dis_multispec_scac_trainable', '0', 'model', 'all');
  const ev = (await fs.readdir(mdir)).find((f) => f.includes('tfevents'))!;
  const events = readEventFile(await fs.readFile(path.join(mdir, ev)));
  const scalars = events.filter((e) => Object.keys(e.scalars).length > 0);
  t.is(scalars.length, 6);
  t.deepEqual(Object.keys(scalars[0].scalars).sort(), ['grad/lr', 'grad/norm', 'grad/step_size', 'train/batch_size', 'train/dis_main', 'train/main']);
  t.deepEqual(scalars.map((e) => e.step), [1, 2, 3, 4, 5, 6]);
});

test.serial('an interrupted training resumes from last.ckpt and ends with the uninterrupted weights', async (t) => {
  const { root, dataDir, labelDir } = await dataset;
  const extra = ['trainer.max_epochs=3'];
  const straight = trainOptionsOf(config('dis_spec_featex', root, dataDir, labelDir, extra, 'straight'), ['fan', 'ToyCar']);
  await train(straight);

  const opts = trainOptionsOf(config('dis_spec_featex', root, dataDir, labelDir, extra, 'resumed'), ['fan', 'ToyCar']);
  const ac = new AbortController();
  const err = await t.throwsAsync(
    train({ ...opts, signal: ac.signal, onStep: (m) => (m.epoch === 1 && m.batch === 0 ? ac.abort() : undefined) }),
  );
  t.is(err?.name, 'AbortError');
  const ckdir = path.join(root, 'resumed', 'recipe', 'dcase2023', 'dis_spec_featex', '0', 'model', 'all', 'checkpoints');
  const interrupted = await readSafetensors(path.join(ckdir, 'last.ckpt'));
  t.is(JSON.parse(interrupted.metadata.info).epoch, 0, 'only epoch 0 was committed');

  const resumed = done(await train(opts));
  t.is(resumed.startEpoch, 1);
  t.is(resumed.epochsRun, 2);
  t.is(skippedOf(await train(opts)).existing, ckdir, 'a finished model is skipped');

  const a = await readSafetensors(path.join(root, 'straight', 'recipe', 'dcase2023', 'dis_spec_featex', '0', 'model', 'all', 'checkpoints', 'last.ckpt'));
  const b = await readSafetensors(path.join(ckdir, 'last.ckpt'));
  t.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort());
  let maxDiff = 0;
  for (const [k, ta] of Object.entries(a.tensors)) {
    const tb = b.tensors[k];
    for (let i = 0; i < ta.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(Number(ta.data[i]) - Number(tb.data[i])));
  }
  t.log(`max |Δ| between resumed and uninterrupted final state (weights, buffers, AdamW moments): ${maxDiff}`);
  t.is(maxDiff, 0);
  // The log holds each step once.
  const log = (await fs.readFile(path.join(ckdir, '..', 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(log.map((m) => m.globalStep), [1, 2, 3, 4, 5, 6]);
});

test.serial('DisModel API: create, counts, save/load round trip, embed equals embedFiles', async (t) => {
  const { root, dataDir } = await dataset;
  const c = resolveRunConfig('dis_spec_scac_trainable', { dcase: 'dcase2023', data_dir: dataDir });
  const model = DisModel.create({ ...multiresnetConfigOf(c.model!), secSamples: 80000, numClasses: 187 }, 5);
  const counts = model.counts();
  t.is(counts.embedSize, 256);
  // FFT branch at 5 s (L1 622, L2 18, L3 1) + STFT 1024 branch + SCAdaCos 256 × 16·187 (spec §4.6 formulas).
  t.is(counts.trainable, 1431552 + 16384 * 1 + 965712 + 256 * 16 * 187);
  const file = path.join(root, 'api.ckpt');
  await model.save(file, { epoch: 0, globalStep: 0, loss: 1, train: {} });
  const { model: back, info } = await DisModel.load(file);
  t.is(info.loss, 1);
  const sa = model.stateDict(), sb = back.stateDict();
  t.deepEqual(Object.keys(sb).sort(), Object.keys(sa).sort());
  for (const k of Object.keys(sa)) t.deepEqual(sb[k].data, sa[k].data, k);

  const clips = (await fs.readdir(path.join(dataDir, 'formatted', 'dcase2023', 'raw', 'fan', 'test'))).slice(0, 3);
  const paths = clips.map((f) => path.join(dataDir, 'formatted', 'dcase2023', 'raw', 'fan', 'test', f));
  const fromFiles = await back.embedFiles(paths);
  t.deepEqual(fromFiles.shape, [3, 256]);
  const { native } = await import('../src/native/index.js');
  const waves = await Promise.all(paths.map((p) => native().readWav(p, 80000).promise));
  const fromWaves = await back.embed(waves.map((w) => w.data));
  let d = 0;
  for (let i = 0; i < fromWaves.data.length; i++) d = Math.max(d, Math.abs(fromWaves.data[i] - fromFiles.data[i]));
  t.true(d < 1e-5, `embed vs embedFiles: ${d}`);

  // In-memory training through the API, with progress.
  const trainDir = path.join(dataDir, 'formatted', 'dcase2023', 'raw', 'fan', 'train');
  const trainPaths = (await fs.readdir(trainDir)).sort().slice(0, 6).map((f) => path.join(trainDir, f));
  const small = DisModel.create({ ...multiresnetConfigOf(c.model!), secSamples: 80000, numClasses: 3 }, 1);
  const seen: Array<[number, number]> = [];
  const res = await small.train({ paths: trainPaths, labels: [0, 1, 2, 0, 1, 2], numClasses: 3 }, { epochs: 2, batchSize: 4, onProgress: (d, n) => seen.push([d, n]) });
  t.deepEqual(res.map((r) => r.steps), [2, 2]);
  t.deepEqual(seen.at(-1), [4, 4]);
  t.true(seen.every(([d, n], i) => n === 4 && (i === 0 || d > seen[i - 1][0])), 'progress only advances');
  t.true(res.every((r) => Number.isFinite(r.lastLoss)));

  await fs.writeFile(path.join(root, 'bad.ckpt'), 'not a checkpoint');
  await t.throwsAsync(DisModel.load(path.join(root, 'bad.ckpt')), { message: /bad\.ckpt/ });
});
