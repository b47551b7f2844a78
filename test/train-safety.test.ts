/**
 * Training that must say what happened (issue 15): a non-finite loss is an error (last.ckpt keeps
 * the stopped state, the run never extracts with that model, the CLI exits non-zero), and a
 * resumed training says from which epoch and global step.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { readSafetensorsHeader } from '../src/io/safetensors.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe, type RunEvent } from '../src/recipes/run.js';
import { cli } from './helpers/cli.js';

const setup = (async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-train-safety-'));
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 0, seconds: 2, machines: ['fan'], trainPerSection: { source: 12, target: 2 }, testPerSection: 4 });
  return { root, dataDir };
})();

const AE = ['ae.validate=false', 'visualize.enabled=false'];

test.serial('a non-finite loss is an error: last.ckpt records the stop, nothing is extracted, the CLI exits 1', async (t) => {
  const { root, dataDir } = await setup;
  const resultDir = path.join(root, 'nan');
  const c = resolveRunConfig('ae', { dcase: 'dcase2023', data_dir: dataDir, result_dir: resultDir }, [...AE, 'trainer.max_epochs=3', 'trainer.lr=1e30']);
  const r = await runRecipe(c);
  t.deepEqual(r.failed.map((f) => `${f.step}:${f.machine ?? ''}`), ['train:fan', 'extract:fan', 'table:'], 'the table has no machine to read');
  t.regex(r.failed[0].message, /^training stopped: the loss became non-finite \(NaN or inf\) in epoch 0 \(global step \d+\); .*last\.ckpt records the stop/);
  const vdir = path.join(resultDir, 'recipe', 'dcase2023', 'ae', '0');
  const info = JSON.parse((await readSafetensorsHeader(path.join(vdir, 'model', 'fan', 'checkpoints', 'last.ckpt'))).metadata.info);
  t.is(info.extra.stopped, 'non_finite');
  await t.throwsAsync(fs.access(path.join(vdir, 'output', 'last', 'fan', 'test_extract.npz')), undefined, 'no extract with a broken model');

  // A rerun does not take the stopped model for a finished one.
  const again = await cli(['train', 'ae', '--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', resultDir, ...[...AE, 'trainer.max_epochs=3', 'trainer.lr=1e30'].flatMap((s) => ['--set', s])]);
  t.is(again.code, 1);
  t.regex(again.stderr, /asdkit: error: training stopped: the loss became non-finite .* in epoch 0 .*--overwrite/);
});

test.serial('a resumed training says so, with the epochs done and the global step (CLI and run events)', async (t) => {
  const { root, dataDir } = await setup;
  const resultDir = path.join(root, 'resume');
  const where = ['--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', resultDir, ...AE.flatMap((s) => ['--set', s])];
  const first = await cli(['train', 'ae', ...where, '--set', 'trainer.max_epochs=1']);
  t.is(first.code, 0, first.stderr);
  t.notRegex(first.stdout, /resumed/);
  const second = await cli(['train', 'ae', ...where, '--set', 'trainer.max_epochs=2']);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /fan: trained 1 epoch\(s\) \(resumed from .*last\.ckpt: 1 of 2 epoch\(s\) done, global step [1-9]\d*\)/);

  const events: RunEvent[] = [];
  const c = resolveRunConfig('ae', { dcase: 'dcase2023', data_dir: dataDir, result_dir: resultDir }, [...AE, 'trainer.max_epochs=3']);
  const r = await runRecipe(c, { onEvent: (e) => events.push(e) });
  t.deepEqual(r.failed, []);
  const trained = events.find((e) => e.step === 'train' && e.status === 'done');
  t.regex(trained?.message ?? '', /^resumed from .*last\.ckpt: 2 of 3 epoch\(s\) done, global step [1-9]\d*$/);
});
