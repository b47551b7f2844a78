import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { readNpz } from '../src/io/npz.js';
import { readSafetensorsHeader } from '../src/io/safetensors.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { validationScalars } from '../src/steps/train.js';
import { auc } from '../src/metrics/auc.js';
import { AeModel, loadModel } from '../src/train/model.js';
import { readCsvFile } from '../src/util/csv.js';

const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-ae-'));

test.serial('ae recipe: one model per machine, AS-recon passes through, official score above chance', async (t) => {
  const root = await tmp;
  const dataDir = path.join(root, 'data');
  // 10 s clips: enough frame vectors per machine for 20 epochs to learn (2 s clips give 59 each).
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 2, seconds: 10 });
  const c = resolveRunConfig('ae', { dcase: 'dcase2023', data_dir: dataDir, result_dir: path.join(root, 'results') }, ['trainer.max_epochs=20']);
  const r = await runRecipe(c);
  t.deepEqual(r.failed, []);
  const vdir = path.join(root, 'results', 'recipe', 'dcase2023', 'ae', '0');
  for (const m of r.machines) {
    const mdir = path.join(vdir, 'model', m);
    const ckpts = (await fs.readdir(path.join(mdir, 'checkpoints'))).sort();
    t.true(ckpts.includes('last.ckpt'), `${m}: ${ckpts.join(' ')}`);
    t.deepEqual(ckpts.filter((f) => f.startsWith('interval_epoch=')).map((f) => f.split('-')[0]), ['interval_epoch=19', 'interval_epoch=9'], 'every 10 epochs');
    const header = await readSafetensorsHeader(path.join(mdir, 'checkpoints', 'last.ckpt'));
    t.is(header.metadata.kind, 'ae');
    t.truthy(header.entries['network.encoder.0.weight'] && header.entries['optimizer.network.encoder.0.weight.exp_avg']);
    // Validation after every epoch, with the reference's scalar names.
    const valid = (await fs.readFile(path.join(mdir, 'valid.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    t.is(valid.length, 20);
    t.true('valid/main' in valid[0] && 'valid/auc/all_mix_auc/AS-recon' in valid[0] && 'valid/auc/all_smix_auc/AS-recon' in valid[0]);

    const out = path.join(vdir, 'output', 'last', m);
    const npz = await readNpz(path.join(out, 'test_extract.npz'));
    t.deepEqual([...npz.keys()], ['embed', 'AS-recon', 'path', 'section', 'is_normal', 'is_target']);
    t.deepEqual(npz.get('embed')!.shape.slice(1), [8]);
    const score = await readCsvFile(path.join(out, 'test_score.csv'), 'score');
    t.deepEqual(score.columns, ['path', 'section', 'is_normal', 'is_target', 'AS-recon']);
    // The last validation's mix AUC is the AUC of the extracted AS-recon (same model, same clips).
    const recon = npz.get('AS-recon')!.data as Float32Array;
    const labels = Array.from(npz.get('is_normal')!.data as BigInt64Array, (v) => 1 - Number(v));
    t.true(Math.abs(auc(recon, labels) - valid[19]['valid/auc/all_mix_auc/AS-recon']) < 1e-9);
  }
  for (const split of ['dev', 'eval']) {
    const tb = await readCsvFile(path.join(vdir, 'output', 'last', `${split}_official23.csv`), 'table');
    t.deepEqual(tb.rows.map((row) => row[0]), ['AS-recon']);
    const v = Number(tb.rows[0][tb.columns.indexOf('total')]);
    t.log(`ae ${split}_official23 total ${v.toFixed(4)} (20 epochs, tiny synthetic dcase2023, 10 s clips)`);
    t.true(v > 0.6, `${split}: official score ${v}`);
  }
});

test('validation AUC subsets follow the reference (s, t, smix, tmix, mix)', (t) => {
  // clips: source normal ×2, source anomaly, target normal, target anomaly
  const isNormal = [1, 1, 0, 1, 0];
  const isTarget = [0, 0, 0, 1, 1];
  const scores = [0.1, 0.4, 0.3, 0.2, 0.5];
  const v = validationScalars(scores, isNormal, isTarget);
  t.is(v['valid/main'], (0.1 + 0.4 + 0.3 + 0.2 + 0.5) / 5);
  t.is(v['valid/auc/all_s_auc/AS-recon'], auc([0.1, 0.4, 0.3], [0, 0, 1]));
  t.is(v['valid/auc/all_t_auc/AS-recon'], auc([0.2, 0.5], [0, 1]));
  t.is(v['valid/auc/all_smix_auc/AS-recon'], auc([0.1, 0.4, 0.3, 0.5], [0, 0, 1, 1]));
  t.is(v['valid/auc/all_tmix_auc/AS-recon'], auc([0.3, 0.2, 0.5], [1, 0, 1]));
  t.is(v['valid/auc/all_mix_auc/AS-recon'], auc(scores, [0, 0, 1, 0, 1]));
  // One class only → skipped, as the reference does.
  t.false('valid/auc/all_t_auc/AS-recon' in validationScalars([1, 2], [1, 1], [1, 1]));
});

test.serial('AeModel API: vectors, training with progress, extract, save/load', async (t) => {
  const root = await tmp;
  const dir = path.join(root, 'data', 'formatted', 'dcase2023', 'raw', 'fan');
  const trainPaths = (await fs.readdir(path.join(dir, 'train'))).sort().slice(0, 8).map((f) => path.join(dir, 'train', f));
  const model = AeModel.create({}, 3);
  t.is(model.counts().trainable, 267928);
  const { rows, dim } = await model.prepareVectors(trainPaths);
  t.is(dim, 640);
  t.is(rows, 8 * (1 + Math.floor(160000 / 512) - 4), '10 s clips, whole: 313 frames → 309 vectors each');
  const seen: number[] = [];
  const res = await model.train({ epochs: 3, batchSize: 64, onProgress: (d) => seen.push(d) });
  t.is(seen.at(-1), 3 * Math.ceil(rows / 64));
  t.true(res[2].lastLoss < res[0].metrics[0].losses.main, 'the MSE falls');
  const out = await model.extractFiles(trainPaths.slice(0, 2), { length: 48000 });
  t.deepEqual(out.embed.shape, [2, 8]);
  t.deepEqual(out['AS-recon'].shape, [2]);
  const file = path.join(root, 'ae.ckpt');
  await model.save(file, { epoch: 2, globalStep: res[2].globalStep, loss: res[2].lastLoss, train: {} });
  const { model: back } = await loadModel(file);
  t.is(back.kind, 'ae');
  const again = await back.extractFiles(trainPaths.slice(0, 2), { length: 48000 });
  t.deepEqual(again['AS-recon'].data, out['AS-recon'].data);
});
