import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { readNpz } from '../src/io/npz.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { readCsvFile } from '../src/util/csv.js';
import { cli } from './helpers/cli.js';

const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-recipe-'));

// One tiny synthetic dcase2023 dataset (dev and eval machine types) shared by the tests below.
const dataset = (async () => {
  const root = await tmp;
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 0 });
  return { root, dataDir };
})();

test.serial('raw_spec end to end: the result tree, files and an official score above chance', async (t) => {
  const { root, dataDir } = await dataset;
  const resultDir = path.join(root, 'results');
  const config = resolveRunConfig('raw_spec', { dcase: 'dcase2023', data_dir: dataDir, result_dir: resultDir });
  const events: string[] = [];
  const r = await runRecipe(config, { onEvent: (e) => events.push(`${e.step}:${e.machine ?? ''}:${e.status}`) });
  t.deepEqual(r.failed, []);
  const out = path.join(resultDir, 'recipe', 'dcase2023', 'raw_spec', '0', 'output', 'time_mean');
  t.is(r.outputDir, out);
  for (const m of r.machines) {
    for (const f of ['train_extract.npz', 'test_extract.npz', 'train_score.csv', 'test_score.csv', 'test_evaluate.csv']) {
      await t.notThrowsAsync(fs.access(path.join(out, m, f)), `${m}/${f}`);
    }
  }
  // The npz holds what ASDKit stores, in its order.
  const m0 = r.machines[0];
  const npz = await readNpz(path.join(out, m0, 'test_extract.npz'));
  t.deepEqual([...npz.keys()], ['embed', 'path', 'section', 'is_normal', 'is_target']);
  t.is(npz.get('embed')!.shape[1], 128);
  const score = await readCsvFile(path.join(out, m0, 'test_score.csv'), 'score');
  t.deepEqual(score.columns, [
    'path', 'section', 'is_normal', 'is_target',
    'AS-Kmeans-16-cosine-main', 'AS-Knn-1-1-0.0-0-main', 'AS-Knn-1-1-0.2-2-cosine-main', 'AS-KnnRescale-1-4-cosine-main',
  ]);
  t.is(score.rows.length, npz.get('embed')!.shape[0]);
  const sortedPaths = [...score.rows.map((row) => row[0])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  t.deepEqual(score.rows.map((row) => row[0]), sortedPaths, 'rows in sorted path order');

  // Tables: 8 files for 2023; official score clearly above chance, not trivially separable.
  const tables = (await fs.readdir(out)).filter((f) => f.endsWith('.csv')).sort();
  t.deepEqual(tables, [
    'dev_mix_auc.csv', 'dev_official23.csv', 'dev_s_auc.csv', 'dev_t_auc.csv',
    'eval_mix_auc.csv', 'eval_official23.csv', 'eval_s_auc.csv', 'eval_t_auc.csv',
  ]);
  for (const split of ['dev', 'eval']) {
    const tb = await readCsvFile(path.join(out, `${split}_official23.csv`), 'table');
    t.deepEqual(tb.rows.map((row) => row[0]), ['AS-Kmeans-16-cosine-main', 'AS-Knn-1-1-0.0-0-main', 'AS-Knn-1-1-0.2-2-cosine-main', 'AS-KnnRescale-1-4-cosine-main']);
    for (const row of tb.rows) {
      const v = Number(row[tb.columns.indexOf('total')]);
      t.log(`${split}_official23 ${row[0]} total ${v.toFixed(4)}`);
      t.true(v > 0.6 && v < 0.95, `${split} ${row[0]}: official score ${v} outside (0.6, 0.95)`);
    }
  }
  t.true(await fs.stat(path.join(out, 'config.yaml')).then(() => true));

  // UMAP plots per machine (the visualize step).
  for (const m of r.machines) await t.notThrowsAsync(fs.access(path.join(out, m, 'visualize', 'umap_cosine_embed_sectionall.png')));

  // A rerun resumes: every step reports a skip and nothing fails — except visualize, which
  // reuses its UMAP npz but always redraws the PNGs (as ASDKit does).
  const again: Array<{ step: string; status: string }> = [];
  const r2 = await runRecipe(config, { onEvent: (e) => again.push(e) });
  t.deepEqual(r2.failed, []);
  t.false(again.some((e) => e.status === 'done' && e.step !== 'visualize'));
  t.true(again.some((e) => e.status === 'skipped'));
});

test.serial('CLI: evaluate a single score file', async (t) => {
  const { root } = await dataset;
  const out = path.join(root, 'results', 'recipe', 'dcase2023', 'raw_spec', '0', 'output', 'time_mean');
  const machine = (await fs.readdir(out, { withFileTypes: true })).find((e) => e.isDirectory())!.name;
  const dest = path.join(root, 'single_evaluate.csv');
  const r = await cli(['evaluate', '--score-file', path.join(out, machine, 'test_score.csv'), '--dcase', 'dcase2023', '--machine', machine, '--out', dest]);
  t.is(r.code, 0, r.stderr);
  t.is(await fs.readFile(dest, 'utf8'), await fs.readFile(path.join(out, machine, 'test_evaluate.csv'), 'utf8'));
});

test('bad input: unknown dcase, unknown recipe, missing data folder, bad override', async (t) => {
  const root = await tmp;
  t.throws(() => resolveRunConfig('raw_spec', { dcase: 'dcase2019' }), { message: /dcase/ });
  t.throws(() => resolveRunConfig('no_such_recipe', { dcase: 'dcase2023' }), { message: /unknown recipe "no_such_recipe"/ });
  t.throws(() => resolveRunConfig('raw_spec', { dcase: 'dcase2023' }, ['extract.batch_size=-3']), { message: /extract\.batch_size/ });
  t.throws(() => resolveRunConfig('raw_spec', { dcase: 'dcase2023' }, ['no_equals_sign']), { message: /key\.path=value/ });
  const missing = path.join(root, 'nowhere');
  await t.throwsAsync(runRecipe(resolveRunConfig('raw_spec', { dcase: 'dcase2023', data_dir: missing, result_dir: path.join(root, 'r2') })), {
    message: new RegExp(`missing folder ${missing}`),
  });
});

test('CLI: errors are one clear line with a non-zero exit', async (t) => {
  const root = await tmp;
  const cases: Array<[string[], RegExp]> = [
    [['run', 'raw_spec', '--dcase', 'dcase2019', '--data-dir', root], /dcase/],
    [['run', 'nope', '--dcase', 'dcase2023'], /unknown recipe "nope"/],
    [['run', 'dis_spec_scac_trainabel', '--dcase', 'dcase2023'], /unknown recipe "dis_spec_scac_trainabel" \(did you mean dis_spec_scac_trainable\?\)/],
    [['extrct', '--dcase', 'dcase2023'], /unknown command "extrct"; did you mean extract\?/],
    [['synth', '--anomalies', 'loud', '--data-dir', path.join(root, 'never')], /anomalies.*loud/],
    [['extract', '--dcase', 'dcase2023', '--machine', 'fan', '--data-dir', path.join(root, 'nowhere'), '--result-dir', path.join(root, 'r3')], /missing folder/],
    [['evaluate', '--score-file', path.join(root, 'absent.csv'), '--dcase', 'dcase2023', '--machine', 'fan', '--out', path.join(root, 'x.csv')], /absent\.csv/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(args);
    t.is(r.code, 1, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    t.regex(lines[0], /^asdkit: error: /, r.stderr);
    t.regex(r.stderr, re);
  }
});

test('CLI: --version alone prints the package version; help lists the commands', async (t) => {
  const pkg = JSON.parse(await fs.readFile('package.json', 'utf8')) as { version: string };
  const v = await cli(['--version']);
  t.is(v.code, 0, v.stderr);
  t.is(v.stdout.trim(), pkg.version);
  const h = await cli(['help']);
  t.is(h.code, 0, h.stderr);
  for (const c of ['run', 'extract', 'score', 'evaluate', 'table', 'report']) t.regex(h.stdout, new RegExp(`asdkit ${c}\\b`));
});

test('CLI: synth --anomalies temporal writes what synthesize writes', async (t) => {
  const root = await tmp;
  const [viaCli, viaApi] = [path.join(root, 'synth-cli'), path.join(root, 'synth-api')];
  const r = await cli(['synth', '--dcase', 'dcase2023', '--data-dir', viaCli, '--machine', 'fan', '--seconds', '0.2', '--anomalies', 'temporal']);
  t.is(r.code, 0, r.stderr);
  const api = await synthesize({ dataDir: viaApi, dcase: 'dcase2023', machines: ['fan'], seconds: 0.2, anomalies: 'temporal' });
  const rel = path.join('formatted', 'dcase2023', 'raw', 'fan', 'test');
  const files = await fs.readdir(path.join(viaCli, rel));
  t.deepEqual(files.sort(), (await fs.readdir(path.join(viaApi, rel))).sort());
  t.true(api.files > 0 && files.some((f) => f.includes('_anomaly_')));
  for (const f of files) t.deepEqual(await fs.readFile(path.join(viaCli, rel, f)), await fs.readFile(path.join(viaApi, rel, f)), f);
});

test('CLI: recipes lists raw_spec; run --print-config applies --set', async (t) => {
  const list = await cli(['recipes']);
  t.regex(list.stdout, /^raw_spec\s/m);
  const cfg = await cli(['run', 'raw_spec', '--dcase', 'dcase2022', '--print-config', '--set', 'infer_ver=time_max', '--set', 'extract.batch_size=16']);
  t.is(cfg.code, 0, cfg.stderr);
  t.regex(cfg.stdout, /infer_ver: time_max/);
  t.regex(cfg.stdout, /batch_size: 16/);
  const be = await cli(['run', 'raw_spec', '--dcase', 'dcase2023', '--print-config', '--backend', '{tgt_class: asdkit.backends.KnnRescale, n_neighbors: 2}']);
  t.is(be.code, 0, be.stderr);
  t.regex(be.stdout, /backend:\n\s+- tgt_class: asdkit.backends.KnnRescale\n\s+n_neighbors: 2\n\S/, 'the backend list holds exactly the given backend');
});

// Every year's conventions through the whole recipe: 2020 IDs (arithmetic means, no domains),
// 2021/2022 dev+eval sections in one folder (split totals), 2024 dev/eval machine types.
for (const dcase of ['dcase2020', 'dcase2021', 'dcase2022', 'dcase2024'] as const) {
  test(`raw_spec runs on synthetic ${dcase} and writes its official tables`, async (t) => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), `asdkit-${dcase}-`));
    const dataDir = path.join(root, 'data');
    await synthesize({ dataDir, dcase, size: 'tiny', seed: 1 });
    const r = await runRecipe(resolveRunConfig('raw_spec', { dcase, data_dir: dataDir, result_dir: path.join(root, 'results') }));
    t.deepEqual(r.failed, []);
    const yy = dcase.slice(-2);
    for (const split of ['dev', 'eval']) {
      const tb = await readCsvFile(path.join(r.outputDir, `${split}_official${yy}.csv`), 'table');
      const row = tb.rows.find((r) => r[0] === 'AS-Knn-1-1-0.2-2-cosine-main')!; // the paper's headline backend
      const total = Number(row[tb.columns.indexOf('total')]);
      t.log(`${dcase} ${split}_official${yy} total ${total.toFixed(4)}`);
      t.true(total > 0.5 && total < 1, `${split} total ${total}`);
    }
    const expected = dcase === 'dcase2020' ? 4 : 8;
    t.is((await fs.readdir(r.outputDir)).filter((f) => f.endsWith('.csv')).length, expected);
  });
}
