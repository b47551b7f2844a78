/**
 * `asdkit extract`, `score`, `evaluate` as separate commands on a run that `asdkit run` made:
 * they read the run's config.yaml (no --recipe, no --set) and rebuild its extractor, so they
 * write byte-identical files for every kind of recipe; flags that contradict the run are errors.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { readNpz } from '../src/io/npz.js';
import { smallBeatsCheckpoint } from './helpers/beats-small.js';
import { cli } from './helpers/cli.js';

const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-steps-'));
const MACHINE = 'fan';
const FILES = ['train_extract.npz', 'test_extract.npz', 'train_score.csv', 'test_score.csv', 'test_evaluate.csv'];

const setup = (async () => {
  const root = await tmp;
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 0, seconds: 2, machines: [MACHINE, 'ToyCar'], trainPerSection: { source: 30, target: 3 }, testPerSection: 4 });
  return { root, dataDir, beats: await smallBeatsCheckpoint(root) };
})();

interface Case {
  recipe: string;
  infer: string;
  set: (root: string, beats: string) => string[];
}

const CASES: Case[] = [
  { recipe: 'raw_spec', infer: 'time_mean', set: () => [] },
  {
    recipe: 'dis_spec_scac_trainable',
    infer: 'last',
    set: (root) => ['trainer.max_epochs=1', 'datamodule.batch_size=11', `datamodule.label_dir=${path.join(root, 'labels')}`, 'score.backend=[{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}]'],
  },
  { recipe: 'ae', infer: 'last', set: () => ['trainer.max_epochs=1', 'ae.validate=false'] },
  { recipe: 'raw_beats', infer: 'last', set: (_root, beats) => [`extract.frontend.checkpoint=${beats}`, 'extract.sec=1'] },
];

for (const c of CASES) {
  test.serial(`${c.recipe}: extract, score, evaluate as separate commands reproduce asdkit run`, async (t) => {
    const { root, dataDir, beats } = await setup;
    const resultDir = path.join(root, 'results');
    const where = ['--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', resultDir, '--machine', MACHINE];
    const sets = [...c.set(root, beats), 'visualize.enabled=false'].flatMap((s) => ['--set', s]);
    const ran = await cli(['run', c.recipe, ...where, ...sets]);
    t.is(ran.code, 0, ran.stderr);

    const dir = path.join(resultDir, 'recipe', 'dcase2023', c.recipe, '0', 'output', c.infer, MACHINE);
    const before = await Promise.all(FILES.map((f) => fs.readFile(path.join(dir, f))));
    await Promise.all(FILES.map((f) => fs.rm(path.join(dir, f))));

    // The run's name alone: the configuration comes from its config.yaml.
    const byVersion = ['--version', c.recipe, ...where];
    for (const step of ['extract', 'score', 'evaluate']) {
      const r = await cli([step, ...byVersion]);
      t.is(r.code, 0, `${step}: ${r.stderr}`);
    }
    for (const [i, f] of FILES.entries()) t.true(before[i].equals(await fs.readFile(path.join(dir, f))), `${f} differs from asdkit run's`);

    // A rerun skips (exit 0: the work is done), writing nothing, and names our flag.
    const again = await cli(['extract', ...byVersion]);
    t.is(again.code, 0, again.stderr);
    t.regex(again.stderr, /skip: \[Skip this process\].*_extract\.npz already exists \(already done; --overwrite recomputes it\)/);
    t.notRegex(again.stderr, /overwrite=True/);
  });
}

test.serial('a step command refuses flags that contradict the run it names', async (t) => {
  const { root, dataDir } = await setup;
  const resultDir = path.join(root, 'results');
  const where = ['--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', resultDir, '--machine', MACHINE, '--overwrite'];
  // Needs the dis_* run of the test above: ava runs serial tests in order.
  const wrongRecipe = await cli(['extract', '--recipe', 'raw_spec', '--version', 'dis_spec_scac_trainable', ...where]);
  t.is(wrongRecipe.code, 1);
  t.regex(wrongRecipe.stderr, /asdkit: error: --recipe raw_spec disagrees with the run's configuration \(recipe dis_spec_scac_trainable\): .*config\.yaml/);
  const wrongModel = await cli(['extract', '--version', 'dis_spec_scac_trainable', ...where, '--set', 'model.mixup_prob=0']);
  t.is(wrongModel.code, 1);
  t.regex(wrongModel.stderr, /--set model disagrees with the run's configuration/);
  // How a step runs may change: a smaller batch gives the same embeddings (to float rounding).
  const file = path.join(resultDir, 'recipe', 'dcase2023', 'dis_spec_scac_trainable', '0', 'output', 'last', MACHINE, 'test_extract.npz');
  const before = (await readNpz(file)).get('embed')!;
  const ok = await cli(['extract', '--version', 'dis_spec_scac_trainable', ...where, '--set', 'extract.batch_size=3']);
  t.is(ok.code, 0, ok.stderr);
  const after = (await readNpz(file)).get('embed')!;
  t.deepEqual(after.shape, before.shape);
  const a = after.data as Float32Array, b = before.data as Float32Array;
  t.true(a.every((v, i) => Math.abs(v - b[i]) <= 1e-4 * Math.max(1, Math.abs(b[i]))), 'embeddings agree within 1e-4 (relative)');
  // A version that names no recipe and has no config.yaml cannot be guessed.
  const unknown = await cli(['extract', '--version', 'my_own_run', ...where]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no run "my_own_run" with a config\.yaml under .*; name its recipe with --recipe/);
});
