/**
 * `asdkit ensemble`: two tiny raw_spec runs (time_mean and time_max pooling) combined by mean, max
 * and zmean. Each ensemble score file equals one combined by hand here, its test_evaluate.csv
 * equals evaluateScoreFile on that hand-made file, and it is a run the step commands accept.
 * Runs that do not fit together are refused, naming the run or file.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { ensembleRuns, type Combine } from '../src/grid/ensemble.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { KNN_PLAIN, readRunConfig } from '../src/run/index.js';
import { evaluateScoreFile } from '../src/steps/evaluate.js';
import { numericColumn, readCsvFile, toCsv } from '../src/util/csv.js';
import { cli } from './helpers/cli.js';

const MACHINES = ['fan', 'bandsaw']; // one dev, one eval machine of 2023
const KNN = 'AS-Knn-1-1-0.0-0-main';
// k-NN training scores are all 0 (each clip finds itself); zmean needs a back-end whose training scores vary.
const KMEANS_CONFIG = { tgt_class: 'asdkit.backends.Kmeans', n_clusters: 2, metric: 'cosine' };
const KMEANS = 'AS-Kmeans-2-cosine-main';
const columnOf = (combine: Combine) => (combine === 'zmean' ? KMEANS : KNN);

const setup = (async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-ensemble-'));
  const dataDir = path.join(root, 'data');
  const resultDir = path.join(root, 'results');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 5, seconds: 1, machines: MACHINES, trainPerSection: { source: 10, target: 3 }, testPerSection: 4 });
  const runs: string[] = [];
  for (const inferVer of ['time_mean', 'time_max']) {
    const config = resolveRunConfig('raw_spec', { dcase: 'dcase2023', data_dir: dataDir, result_dir: resultDir, infer_ver: inferVer, score: { backend: [KNN_PLAIN, KMEANS_CONFIG] } }, ['visualize.enabled=false', 'extract.sec=1']);
    const r = await runRecipe(config);
    if (r.failed.length) throw new Error(JSON.stringify(r.failed));
    runs.push(r.outputDir);
  }
  return { root, resultDir, runs };
})();

/** Mean and population std (ddof 0) of the normal training scores, computed independently of src. */
async function zStats(run: string, machine: string, column: string) {
  const t = await readCsvFile(path.join(run, machine, 'train_score.csv'), 'train');
  const s = Array.from(numericColumn(t, column, 'train'));
  const normal = Array.from(numericColumn(t, 'is_normal', 'train'));
  const xs = s.filter((_, i) => normal[i] === 1);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length) };
}

/** The combined score file as it should be, made from the members' CSVs. */
async function byHand(runs: string[], machine: string, split: string, combine: Combine): Promise<string> {
  const tables = await Promise.all(runs.map((r) => readCsvFile(path.join(r, machine, `${split}_score.csv`), 'score')));
  const cols = tables.map((t) => Array.from(numericColumn(t, columnOf(combine), 'score')));
  const stats = await Promise.all(runs.map((r) => zStats(r, machine, columnOf(combine))));
  const rows = tables[0].rows.map((row, i) => {
    const xs = cols.map((c, k) => (combine === 'zmean' ? (c[i] - stats[k].mean) / stats[k].std : c[i]));
    const v = combine === 'max' ? Math.max(...xs) : xs.reduce((a, b) => a + b, 0) / xs.length;
    return [...row.slice(0, 4), v];
  });
  return toCsv(['path', 'section', 'is_normal', 'is_target', `AS-ensemble-${combine}-main`], rows);
}

for (const combine of ['mean', 'max', 'zmean'] as const) {
  test.serial(`${combine}: scores and evaluation equal a hand-combined file`, async (t) => {
    const { root, runs, resultDir } = await setup;
    // mean / max: the default column (each run's first back-end, Knn); zmean: Kmeans.
    const r = await ensembleRuns({ runs, outVersion: `ens-${combine}`, combine, backend: combine === 'zmean' ? KMEANS : undefined });
    t.is(r.outputDir, path.join(resultDir, 'recipe', 'dcase2023', `ens-${combine}`, '0', 'output', 'ensemble'));
    t.deepEqual(r.machines, [...MACHINES].sort());
    t.deepEqual(r.members.map((m) => m.column), [columnOf(combine), columnOf(combine)]);
    for (const machine of MACHINES) {
      for (const split of ['test', 'train']) {
        const want = await byHand(runs, machine, split, combine);
        t.is(await fs.readFile(path.join(r.outputDir, machine, `${split}_score.csv`), 'utf8'), want, `${machine} ${split}`);
      }
      const hand = path.join(root, `hand-${combine}-${machine}.csv`);
      await fs.writeFile(hand, await byHand(runs, machine, 'test', combine));
      const handEval = path.join(root, `hand-${combine}-${machine}-eval.csv`);
      await evaluateScoreFile({ scoreFile: hand, dcase: 'dcase2023', machine, outFile: handEval, overwrite: true });
      const got = await fs.readFile(path.join(r.outputDir, machine, 'test_evaluate.csv'), 'utf8');
      t.is(got, await fs.readFile(handEval, 'utf8'));
      t.regex(got, new RegExp(`AS-ensemble-${combine}-main`), 'the evaluate step read the ensemble column');
    }
    // A run like any other: config.yaml with no back-ends, tables, ensemble.json.
    const config = await readRunConfig(path.join(r.outputDir, 'config.yaml'));
    t.like(config, { version: `ens-${combine}`, seed: 0, infer_ver: 'ensemble', score: { backend: [] } });
    for (const f of ['dev_official23.csv', 'eval_official23.csv']) t.true(r.tables.includes(path.join(r.outputDir, f)), f);
    const info = JSON.parse(await fs.readFile(path.join(r.outputDir, 'ensemble.json'), 'utf8')) as { combine: string; members: Array<{ run: string }> };
    t.is(info.combine, combine);
    t.deepEqual(info.members.map((m) => m.run), runs);
  });
}

test.serial('the CLI writes an ensemble and the table step command accepts it', async (t) => {
  const { runs, resultDir } = await setup;
  const r = await cli(['ensemble', ...runs, '--out-version', 'ens-cli', '--combine', 'max', '--backend', KNN]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /--version ens-cli --seed 0 --infer-ver ensemble/);
  const out = path.join(resultDir, 'recipe', 'dcase2023', 'ens-cli', '0', 'output', 'ensemble');
  const table = await readCsvFile(path.join(out, 'dev_official23.csv'), 'table');
  t.deepEqual(table.rows.map((x) => x[0]), ['AS-ensemble-max-main']);
  const again = await cli(['table', '--result-dir', resultDir, '--dcase', 'dcase2023', '--version', 'ens-cli', '--seed', '0', '--infer-ver', 'ensemble', '--machine', ...MACHINES, '--overwrite']);
  t.is(again.code, 0, again.stderr);
  t.is(await fs.readFile(path.join(out, 'dev_official23.csv'), 'utf8'), toCsv(table.columns, table.rows));
});

/** A copy of a member run folder to change. */
async function copyRun(run: string, where: string): Promise<string> {
  await fs.cp(run, where, { recursive: true });
  return where;
}

test.serial('runs that do not fit together are refused, naming the run or file', async (t) => {
  const { root, runs } = await setup;
  // Clips in another order.
  const shuffled = await copyRun(runs[1], path.join(root, 'bad', 'shuffled'));
  const f = path.join(shuffled, 'fan', 'test_score.csv');
  const lines = (await fs.readFile(f, 'utf8')).trimEnd().split('\n');
  [lines[1], lines[2]] = [lines[2], lines[1]];
  await fs.writeFile(f, `${lines.join('\n')}\n`);
  let e = await t.throwsAsync(ensembleRuns({ runs: [runs[0], shuffled], outVersion: 'bad1' }));
  t.true(e!.message.includes(f), e!.message);
  t.regex(e!.message, /clips differ/);

  // Another year.
  const other = await copyRun(runs[1], path.join(root, 'bad', 'year'));
  const cfg = path.join(other, 'config.yaml');
  await fs.writeFile(cfg, (await fs.readFile(cfg, 'utf8')).replace('dcase: dcase2023', 'dcase: dcase2024'));
  e = await t.throwsAsync(ensembleRuns({ runs: [runs[0], other], outVersion: 'bad2' }));
  t.true(e!.message.startsWith(other), e!.message);
  t.regex(e!.message, /dcase2024/);

  // Other machines.
  const fewer = await copyRun(runs[1], path.join(root, 'bad', 'fewer'));
  await fs.rm(path.join(fewer, 'bandsaw'), { recursive: true });
  e = await t.throwsAsync(ensembleRuns({ runs: [runs[0], fewer], outVersion: 'bad3' }));
  t.true(e!.message.startsWith(fewer), e!.message);

  // A column a member lacks.
  e = await t.throwsAsync(ensembleRuns({ runs, outVersion: 'bad4', backend: 'AS-nope' }));
  t.regex(e!.message, /no column "AS-nope"/);

  // zmean over k-NN training scores (all 0): said why.
  e = await t.throwsAsync(ensembleRuns({ runs, outVersion: 'bad6', combine: 'zmean' }));
  t.regex(e!.message, /train_score\.csv: column "AS-Knn-1-1-0\.0-0-main" has no spread/);

  // Not a run folder.
  e = await t.throwsAsync(ensembleRuns({ runs: [runs[0], path.join(root, 'nowhere')], outVersion: 'bad5' }));
  t.true(e!.message.includes(path.join(root, 'nowhere')), e!.message);
});
