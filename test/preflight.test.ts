/**
 * Errors before work, once: `preflight` (called by runRecipe and the CLI) refuses what every
 * machine would fail on later — an unusable device, an infer_ver extraction would reject, a
 * missing pretrained file, unknown table metrics, a label set from another dataset — and warns
 * about settings the recipe never reads. The CLI side: one `asdkit: error:` line, exit 1, and
 * nothing written.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { makeLabels, writeLabels } from '../src/data/label.js';
import { native } from '../src/native/index.js';
import { preflight, tableMetricNames } from '../src/recipes/preflight.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { frontendOf } from '../src/steps/extractor.js';
import { selectCheckpoint } from '../src/train/checkpoint.js';
import { cli } from './helpers/cli.js';

const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-preflight-'));
const DCASE = 'dcase2023';
const setup = (async () => {
  const root = await tmp;
  // Two datasets: the one a run uses (fan, ToyCar) and another (fan, ToyCar, bearing) whose label set is stale for it.
  const dataDir = path.join(root, 'data');
  const otherDir = path.join(root, 'other');
  const counts = { trainPerSection: { source: 6, target: 2 }, testPerSection: 2, seconds: 1 };
  await synthesize({ dataDir, dcase: DCASE, size: 'tiny', seed: 0, machines: ['fan', 'ToyCar'], ...counts });
  await synthesize({ dataDir: otherDir, dcase: DCASE, size: 'tiny', seed: 0, machines: ['fan', 'ToyCar', 'bearing'], ...counts });
  return { root, dataDir, otherDir };
})();

const config = (recipe: string, dataDir: string, sets: string[] = [], options: { infer_ver?: string; device?: string } = {}) =>
  resolveRunConfig(recipe, { dcase: DCASE, data_dir: dataDir, ...options }, sets);

test('infer_ver: stft_pool takes exactly the poolings the native frontend takes; a typo gets the nearest one', async (t) => {
  const wave = { data: new Float32Array(2 * 16000), shape: [2, 16000] };
  for (const pool of ['time_mean', 'time_max', 'freq_mean', 'freq_max', 'time_maxx', 'max', 'time_median', 'TIME_MEAN']) {
    const c = config('raw_spec', 'data', [], { infer_ver: pool });
    // The addon refuses a bad pool synchronously, a good one runs as a job.
    const nativeOk = await Promise.resolve()
      .then(() => native().frontendForward(wave, { frontend: frontendOf(c)!, length: 0, batchSize: 2 }).promise)
      .then(() => true, () => false);
    const preflightOk = await preflight(c, { steps: ['extract'] }).then(() => true, () => false);
    t.is(preflightOk, nativeOk, `pool ${pool}: preflight ${preflightOk}, native ${nativeOk}`);
  }
  await t.throwsAsync(preflight(config('raw_spec', 'data', [], { infer_ver: 'time_maxx' })), { message: /invalid infer_ver "time_maxx".*did you mean time_max\?/ });
  // extract.frontend.pool, when set, is the pooling; infer_ver is then only a folder name.
  await t.notThrowsAsync(preflight(config('raw_spec', 'data', ['extract.frontend.pool=time_max'], { infer_ver: 'my_pool' }), { steps: ['extract'] }));
  await t.throwsAsync(preflight(config('raw_spec', 'data', ['extract.frontend.pool=time_maxx']), { steps: ['extract'] }), { message: /extract\.frontend\.pool "time_maxx"/ });
});

test('infer_ver: a trained recipe takes the ckpt_vers selectCheckpoint knows', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-preflight-ckpt-'));
  for (const f of ['last.ckpt', 'epoch=1-loss=0.5.ckpt', 'interval_epoch=0-loss=0.5.ckpt', 'interval_epoch=11-loss=0.5.ckpt']) await fs.writeFile(path.join(dir, f), '');
  for (const v of ['last', 'min', 'max', 'epoch_1', 'epoch_12', 'best', 'Last', 'epoch_x', 'epoch_', 'last ']) {
    const selects = await selectCheckpoint(dir, v).then(() => true, () => false);
    const accepted = await preflight(config('dis_spec_scac_trainable', 'data', [], { infer_ver: v }), { steps: ['extract'] }).then(() => true, () => false);
    t.is(accepted, selects, `ckpt_ver "${v}"`);
  }
  await t.throwsAsync(preflight(config('ae', 'data', [], { infer_ver: 'epoch_0' }), { steps: ['extract'] }), { message: /invalid infer_ver "epoch_0".*last.*min.*max.*epoch_<n>/ });
});

test('the device: an invalid spec is refused; cuda only where the addon has a GPU', async (t) => {
  await t.throwsAsync(preflight(config('raw_spec', 'data', [], { device: 'gpu' })), { message: /invalid device "gpu": expected cpu, cuda or cuda:N/ });
  const cuda = preflight(config('raw_spec', 'data', [], { device: 'cuda' }), { steps: ['extract'] });
  if (native().info().cudaAvailable) await t.notThrowsAsync(cuda);
  else await t.throwsAsync(cuda, { message: /device "cuda" requested but CUDA is not available.*--device cpu/ });
  // Steps that do not compute on the device do not check it.
  await t.notThrowsAsync(preflight(config('raw_spec', 'data', [], { device: 'gpu' }), { steps: ['evaluate', 'table'] }));
});

test('table metrics: unknown names are refused with the valid ones and the nearest', async (t) => {
  const c = (metrics: string) => config('raw_spec', 'data', [`table.metrics=${metrics}`]);
  await t.throwsAsync(preflight(c('[official, officail]'), { steps: ['table'] }), {
    message: new RegExp(`unknown table metric "officail" \\(did you mean official\\?\\); valid for ${DCASE}: ${tableMetricNames(DCASE).join(', ')}`),
  });
  await t.throwsAsync(preflight(c('[]'), { steps: ['table'] }), { message: /no table metrics/ });
  await t.notThrowsAsync(preflight(c('[official23, s_pauc, mix_auc]'), { steps: ['table'] }));
  await t.throwsAsync(preflight(c('[official22]'), { steps: ['table'] }), { message: /unknown table metric "official22"/ });
});

test('a missing pretrained checkpoint is one error with the download instructions, for the steps that read it', async (t) => {
  const root = await tmp;
  const missing = path.join(root, 'nowhere', 'BEATs_iter3.pt');
  const frozen = config('raw_beats', 'data', [`extract.frontend.checkpoint=${missing}`]);
  await t.throwsAsync(preflight(frozen, { steps: ['extract'] }), { message: new RegExp(`pretrained checkpoint not found: ${missing.replace(/[.\\]/g, '\\$&')}\\n.*download: https://`, 's') });
  await t.notThrowsAsync(preflight(frozen, { steps: ['score', 'evaluate', 'table'] }), 'score/evaluate/table do not read the encoder');
  const lora = config('dis_beats_scac_trainable', 'data', [`model.extractor.checkpoint=${missing}`]);
  await t.throwsAsync(preflight(lora, { steps: ['train'] }), { message: /pretrained checkpoint not found/ });
});

test('settings of a section the recipe does not use are a warning naming the keys', async (t) => {
  const raw = await preflight(config('raw_spec', 'data', ['trainer.max_epochs=2', 'datamodule.batch_size=8']), { steps: ['table'] });
  t.is(raw.warnings.length, 2);
  t.regex(raw.warnings[0], /^trainer\.max_epochs: not used by recipe raw_spec/);
  t.regex(raw.warnings[1], /^datamodule\.batch_size: not used by recipe raw_spec/);
  t.deepEqual((await preflight(config('raw_spec', 'data'), { steps: ['table'] })).warnings, []);
  // A trained recipe reads its trainer and datamodule; the AE no model section (the schema refuses a partial one).
  t.deepEqual((await preflight(config('dis_spec_scac_trainable', 'data', ['trainer.max_epochs=2']), { steps: ['table'] })).warnings, []);
  t.deepEqual((await preflight(config('ae', 'data', ['trainer.max_epochs=2', 'ae.validate=false']), { steps: ['table'] })).warnings, []);
  const aeOnRaw = await preflight(config('raw_spec', 'data', ['ae.validate=false']), { steps: ['table'] });
  t.is(aeOnRaw.warnings.length, 1);
  t.regex(aeOnRaw.warnings[0], /^ae\.validate: not used by recipe raw_spec/);
});

test.serial('the label set: made when missing, checked against the data when present, a stale one refused naming the file', async (t) => {
  const { root, dataDir, otherDir } = await setup;
  const labelDir = path.join(root, 'labels-check');
  const c = config('dis_spec_scac_trainable', dataDir, [`datamodule.label_dir=${labelDir}`]);
  const machines = ['fan', 'ToyCar'];
  const file = path.join(labelDir, DCASE, 'main.json');
  const expected = await makeLabels({ dataDir, dcase: DCASE });

  const first = await preflight(c, { machines, steps: ['train'] });
  t.deepEqual(first.notes, [`labels: wrote ${file} (${expected.num_class} classes, made from the data)`]);
  const second = await preflight(c, { machines, steps: ['train'] });
  t.deepEqual(second.notes, [`labels: using ${file} (${expected.num_class} classes, checked against the data)`]);

  // A label set of another dataset (more machines: more classes) is refused, not trained on.
  const stale = await makeLabels({ dataDir: otherDir, dcase: DCASE });
  t.true(stale.num_class > expected.num_class);
  await writeLabels({ dataDir: otherDir, dcase: DCASE, outDir: labelDir, overwrite: true });
  const e = await t.throwsAsync(preflight(c, { machines, steps: ['train'] }));
  t.regex(e!.message, new RegExp(`^${file.replace(/[.\\]/g, '\\$&')}: the label set has ${stale.num_class} classes, but the data in .* gives ${expected.num_class}`));
  t.regex(e!.message, /asdkit label --dcase dcase2023 .*--overwrite`, or delete it/);
  // Other steps do not read labels.
  await t.notThrowsAsync(preflight(c, { machines, steps: ['extract', 'score'] }));

  // Same number of classes, but a training clip without a label (or with another class).
  const broken = structuredClone(expected);
  const trainKeys = Object.keys(broken.path2idx_dict).filter((k) => k.includes('/train/') && k.includes('/fan/'));
  delete broken.path2idx_dict[trainKeys[0]];
  broken.path2idx_dict[trainKeys[1]] = (broken.path2idx_dict[trainKeys[1]] + 1) % broken.num_class;
  await fs.writeFile(file, JSON.stringify(broken));
  await t.throwsAsync(preflight(c, { machines, steps: ['train'] }), {
    message: /does not match the training clips in .*\(1 training clip\(s\) without a valid class, 1 with another class than the data gives; e\.g\. no valid class for dcase2023\/raw\/fan\/train\//,
  });
  // Only the selected machines' clips must be covered: ToyCar alone passes.
  await t.notThrowsAsync(preflight(c, { machines: ['ToyCar'], steps: ['train'] }));
});

// ---------------------------------------------------------------- the CLI

const oneErrorLine = (t: import('ava').ExecutionContext, r: { code: number; stderr: string; stdout: string }, re: RegExp) => {
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, re);
  t.is(r.stderr.match(/asdkit: error:/g)?.length, 1, `one error:\n${r.stderr}`);
  t.regex(r.stderr, /^asdkit: error: /, 'nothing before the error');
  t.notRegex(r.stdout, /results:/);
};

test.serial('run: a config error is one line before any work, and nothing is written', async (t) => {
  const { root, dataDir } = await setup;
  const resultDir = path.join(root, 'results-cli');
  const where = ['--dcase', DCASE, '--data-dir', dataDir, '--result-dir', resultDir];
  const wasWritten = () => fs.access(resultDir).then(() => true, () => false);

  oneErrorLine(t, await cli(['run', 'raw_spec', ...where, '--infer-ver', 'time_maxx']), /invalid infer_ver "time_maxx".*did you mean time_max\?/);
  oneErrorLine(t, await cli(['run', 'raw_spec', ...where, '--device', 'gpu']), /invalid device "gpu"/);
  if (!native().info().cudaAvailable) oneErrorLine(t, await cli(['run', 'raw_spec', ...where, '--device', 'cuda']), /CUDA is not available/);
  oneErrorLine(t, await cli(['run', 'raw_spec', ...where, '--set', 'table.metrics=[officail]']), /unknown table metric "officail" \(did you mean official\?\)/);
  oneErrorLine(t, await cli(['run', 'raw_spec', ...where, '--threads', 'abc']), /--threads "abc": expected a whole number/);
  oneErrorLine(t, await cli(['run', 'raw_spec', ...where, '--recipe', 'raw_beats']), /--recipe raw_beats contradicts the recipe to run \(raw_spec\)/);
  oneErrorLine(t, await cli(['train', 'ae', ...where, '--recipe', 'dis_spec_adacos_fixed']), /--recipe dis_spec_adacos_fixed contradicts the recipe to train \(ae\)/);
  const missing = path.join(root, 'nowhere', 'BEATs_iter3.pt');
  const beats = await cli(['run', 'raw_beats', ...where, '--set', `extract.frontend.checkpoint=${missing}`]);
  oneErrorLine(t, beats, /pretrained checkpoint not found/);
  t.is(beats.stderr.match(/download: /g)?.length, 1, 'the download instructions once');
  t.false(await wasWritten(), 'no result folder was made');
});

test.serial('run dis_* and train: a stale label set stops before training, the error naming the file', async (t) => {
  const { root, dataDir, otherDir } = await setup;
  const labelDir = path.join(root, 'labels-cli');
  const resultDir = path.join(root, 'results-labels');
  await writeLabels({ dataDir: otherDir, dcase: DCASE, outDir: labelDir });
  const args = ['run', 'dis_spec_scac_fixed', '--dcase', DCASE, '--data-dir', dataDir, '--result-dir', resultDir, '--set', `datamodule.label_dir=${labelDir}`];
  const r = await cli(args);
  oneErrorLine(t, r, new RegExp(`${path.join(labelDir, DCASE, 'main.json').replace(/[.\\]/g, '\\$&')}: the label set has \\d+ classes, but the data in .* gives \\d+`));
  t.false(await fs.access(resultDir).then(() => true, () => false), 'nothing trained');
  // `train` refuses the same way.
  oneErrorLine(t, await cli(['train', ...args.slice(1)]), /the label set has \d+ classes/);
});

test.serial('table --metrics with a typo is an error (exit 1), not an empty success', async (t) => {
  const { root } = await setup;
  const r = await cli(['table', '--dcase', DCASE, '--result-dir', path.join(root, 'results-table'), '--metrics', 'officail']);
  oneErrorLine(t, r, /unknown table metric "officail" \(did you mean official\?\); valid for dcase2023: official, official23, s_auc/);
});

test('help: every option of demo and synth has a description; run says what it does', async (t) => {
  const demo = await cli(['demo', '--help']);
  t.is(demo.code, 0);
  for (const opt of ['--dcase', '--device', '--threads', '--data-dir', '--result-dir']) {
    t.regex(demo.stdout, new RegExp(`\\n\\s+${opt}\\s+\\S.*\\S`), `demo ${opt}`);
    t.notRegex(demo.stdout, new RegExp(`\\n\\s+${opt}\\s+\\[(string|boolean|number)\\]`), `demo ${opt} has a description`);
  }
  const synth = await cli(['synth', '--help']);
  for (const opt of ['--seed', '--overwrite', '--size']) t.notRegex(synth.stdout, new RegExp(`\\n\\s+${opt}\\s+\\[(string|boolean|number)\\]`), `synth ${opt} has a description`);
  t.regex(synth.stdout, /--size .*tiny \(.*small \(.*dcase \(/s);
  const run = await cli(['run', '--help']);
  for (const step of ['train', 'extract', 'score', 'evaluate', 'visualize', 'table']) t.regex(run.stdout.split('\n').slice(0, 4).join(' '), new RegExp(step), `run --help names ${step}`);
});
