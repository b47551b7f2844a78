/**
 * Benchmark grids on this machine: a tiny 2 recipes × 2 years × 2 seeds grid through the local
 * executor with --jobs 2 (every cell an ordinary result tree, its own log, a record saying done),
 * plan and status reading the state back, the table's numbers recomputed here from the cells'
 * own CSVs, and a cell killed mid-run finished by the rerun, which skips the finished ones.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { synthesize } from '../src/data/synth/index.js';
import { gridCells } from '../src/grid/cells.js';
import { readGridFile } from '../src/grid/spec.js';
import { cellDone, readRecord } from '../src/grid/state.js';
import { exists, pidAlive } from '../src/util/files.js';
import { checkpointDir, runIdsOf } from '../src/run/index.js';
import { readCsvFile } from '../src/util/csv.js';
import { cli } from './helpers/cli.js';

const KNN = 'score.backend=[{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}]';

const setup = (async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-grid-'));
  const dataDir = path.join(root, 'data');
  for (const dcase of ['dcase2023', 'dcase2024'] as const) {
    await synthesize({ dataDir, dcase, size: 'tiny', seed: 6, seconds: 1, machines: ['fan'], trainPerSection: { source: 10, target: 2 }, testPerSection: 3 });
  }
  return { root, dataDir };
})();

async function writeGrid(root: string, name: string, extra: object): Promise<string> {
  const { dataDir } = await setup;
  const file = path.join(root, `${name}.yaml`);
  const grid = {
    name, data_dir: dataDir, result_dir: path.join(root, 'results'), machines: ['fan'],
    set: ['visualize.enabled=false', 'extract.sec=1', KNN],
    recipe_set: { ae: ['trainer.max_epochs=1', 'ae.validate=false'] },
    ...extra,
  };
  await fs.writeFile(file, YAML.stringify(grid));
  return file;
}

test.serial('2 recipes × 2 years × 2 seeds with --jobs 2: every cell done, plan/status agree, the table recomputed', async (t) => {
  const { root } = await setup;
  const file = await writeGrid(root, 'tiny', { recipes: ['raw_spec', 'ae'], years: ['dcase2023', 'dcase2024'], seeds: '0-1' });
  const g = await readGridFile(file);
  const cells = gridCells(g);
  t.is(cells.length, 8);

  const plan = await cli(['grid', 'plan', file]);
  t.is(plan.code, 0, plan.stderr);
  t.regex(plan.stdout, /8 cells: 8 pending/);

  const run = await cli(['grid', 'run', file, '--jobs', '2']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /8 cell\(s\) finished, 0 failed/);
  for (const c of cells) {
    t.true(await cellDone(c), `${c.id} done`);
    const r = await readRecord(g, c);
    t.is(r?.state, 'done');
    t.regex(await fs.readFile(r!.log, 'utf8'), /results:/, `${c.id} log`);
  }
  const status = await cli(['grid', 'status', file]);
  t.regex(status.stdout, /tiny: 8 cells: 8 done/);
  const again = await cli(['grid', 'run', file, '--jobs', '2']);
  t.regex(again.stdout, /8 done or running, 0 to run/);

  const table = await cli(['grid', 'table', file]);
  t.is(table.code, 0, table.stderr);
  const rows = (await readCsvFile(path.join(root, 'results', 'tiny', 'grid', 'table', 'grid_official.csv'), 'grid table')).rows;
  const cols = (await readCsvFile(path.join(root, 'results', 'tiny', 'grid', 'table', 'grid_official.csv'), 'grid table')).columns;
  const at = (row: string[], name: string) => row[cols.indexOf(name)];
  for (const recipe of ['raw_spec', 'ae']) {
    for (const dcase of ['dcase2023', 'dcase2024']) {
      const mine = cells.filter((c) => c.recipe === recipe && c.dcase === dcase);
      const values: number[] = [];
      for (const c of mine) {
        const f = path.join(c.config.result_dir, c.config.name, dcase, c.version, String(c.seed), 'output', c.config.infer_ver, `dev_official${dcase.slice(-2)}.csv`);
        const tb = await readCsvFile(f, 'cell table');
        values.push(Number(tb.rows[0][tb.columns.indexOf('total')]));
      }
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
      const row = rows.find((r) => at(r, 'recipe') === recipe && at(r, 'dcase') === dcase && at(r, 'split') === 'dev');
      t.truthy(row, `${recipe} ${dcase} dev row`);
      t.true(Math.abs(Number(at(row!, 'mean')) - mean) < 1e-12, `${recipe} ${dcase} mean`);
      t.true(Math.abs(Number(at(row!, 'std')) - std) < 1e-12, `${recipe} ${dcase} std (ddof 1)`);
      t.is(Number(at(row!, 'n')), 2);
    }
  }
});

test.serial('a cell killed mid-run is reported, and the rerun finishes it without redoing the others', async (t) => {
  const { root } = await setup;
  // The AE trains long enough (many epochs) to be killed while it runs.
  const file = await writeGrid(root, 'killed', { recipes: ['raw_spec', 'ae'], years: ['dcase2023'], seeds: [0], recipe_set: { ae: ['trainer.max_epochs=300', 'ae.validate=false'] } });
  const g = await readGridFile(file);
  const [rawSpec, ae] = gridCells(g);
  const running = cli(['grid', 'run', file, '--jobs', '2']);
  // Wait until the AE cell has saved a checkpoint, then kill its process (as an OOM killer would).
  const lastCkpt = path.join(checkpointDir(runIdsOf(ae.config), 'fan'), 'last.ckpt');
  let pid = 0;
  for (let i = 0; i < 1200 && !pid; i++) {
    const r = await readRecord(g, ae);
    if (r?.state === 'running' && (await exists(lastCkpt))) pid = r.pid;
    else await new Promise((res) => setTimeout(res, 100));
  }
  t.true(pid > 0, 'the AE cell started');
  process.kill(pid, 'SIGKILL');
  const first = await running;
  t.is(first.code, 1);
  t.regex(first.stderr, /failed: dcase2023\.ae\.0/);
  t.true(await cellDone(rawSpec));
  t.false(await cellDone(ae));
  t.false(pidAlive(pid));
  const status = await cli(['grid', 'status', file]);
  t.regex(status.stdout, /1 done, 1 interrupted/);

  const rerun = await cli(['grid', 'run', file, '--jobs', '2']);
  t.is(rerun.code, 0, rerun.stderr);
  t.regex(rerun.stdout, /1 done or running, 1 to run/);
  t.true(await cellDone(ae));
  t.regex(await fs.readFile((await readRecord(g, ae))!.log, 'utf8'), /resumed from .*last\.ckpt/, 'the AE training resumed from its checkpoint');
});
