/**
 * `grid table`: a 2 recipes × 2 years × 2 seeds grid whose cells are run here directly; every
 * mean / std / n equals what the test computes from the cells' own table CSVs (sample std, ddof 1),
 * the Markdown has a column per year × split present and a row per recipe, the ensemble rows are
 * the ensemble runs' own totals, and a cell that is not done is left out with a warning.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { cellOutputDir, gridCells, gridDir, type GridCell } from '../src/grid/cells.js';
import { parseGrid } from '../src/grid/spec.js';
import { gridTable } from '../src/grid/table.js';
import { runRecipe } from '../src/recipes/run.js';
import { writeReports } from '../src/report/index.js';
import { parseFloatCell, readCsvFile, toCsv } from '../src/util/csv.js';

const BACKEND: Record<string, string> = { raw_spec: 'AS-Knn-1-1-0.0-0-main', ae: 'AS-recon' };

const setup = (async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-grid-table-'));
  const dataDir = path.join(root, 'data');
  // Enough training clips for the default back-ends (Kmeans 16 clusters, SMOTE ratio 0.2).
  const counts = { seconds: 1, trainPerSection: { source: 20, target: 3 }, testPerSection: 4, size: 'tiny' as const };
  // 2023: a dev and an eval machine; 2024: a dev machine only (so no 2024 eval column).
  await synthesize({ dataDir, dcase: 'dcase2023', seed: 1, machines: ['fan', 'bandsaw'], ...counts });
  await synthesize({ dataDir, dcase: 'dcase2024', seed: 2, machines: ['fan'], ...counts });
  const g = parseGrid({
    name: 'tiny', result_dir: path.join(root, 'results'), data_dir: dataDir,
    recipes: ['raw_spec', 'ae'], years: ['dcase2023', 'dcase2024'], seeds: '0-1',
    set: ['visualize.enabled=false', 'extract.sec=1', 'trainer.max_epochs=1'],
  }, 'test grid');
  const cells = gridCells(g);
  for (const c of cells) {
    const r = await runRecipe(c.config);
    if (r.failed.length) throw new Error(`${c.id}: ${JSON.stringify(r.failed)}`);
  }
  return { root, g, cells };
})();

/** The cell's `total` of its recipe's first back-end, read here from its table CSV. */
async function total(c: GridCell, file: string): Promise<number | undefined> {
  const f = path.join(cellOutputDir(c), file);
  const t = await readCsvFile(f, 'table').catch(() => undefined);
  if (!t) return undefined;
  const row = t.rows.find((r) => r[0] === BACKEND[c.recipe])!;
  return parseFloatCell(row[t.columns.indexOf('total')]);
}

interface Expect { mean: number; std: number; n: number; seeds: number[] }

async function expected(cells: GridCell[], version: string, dcase: string, split: string, skip: Set<string> = new Set()): Promise<Expect | undefined> {
  const file = `${split}_official${dcase.slice(-2)}.csv`;
  const values: number[] = [];
  const seeds: number[] = [];
  for (const c of cells.filter((x) => x.version === version && x.dcase === dcase && !skip.has(x.id))) {
    const v = await total(c, file);
    if (v === undefined) continue;
    values.push(v);
    seeds.push(c.seed);
  }
  if (values.length === 0) return undefined;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = values.length < 2 ? NaN : Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
  return { mean, std, n: values.length, seeds };
}

const close = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) < 1e-12;
const pct = (v: number) => (100 * v).toFixed(1);

test.serial('mean, sample std and n per recipe × year × split equal the cells\' own tables; Markdown like Fig. 2', async (t) => {
  const { g, cells } = await setup;
  // raw_spec does not depend on the seed and the tiny AE's AUCs hardly move with it: give one
  // cell another total so that a std is not 0 (the expected values are read from the same files).
  const varied = cells.find((c) => c.recipe === 'raw_spec' && c.dcase === 'dcase2024' && c.seed === 1)!;
  const vf = path.join(cellOutputDir(varied), 'dev_official24.csv');
  const vt = await readCsvFile(vf, 'table');
  const vrow = vt.rows.find((x) => x[0] === BACKEND.raw_spec)!;
  vrow[vt.columns.indexOf('total')] = String(parseFloatCell(vrow[vt.columns.indexOf('total')])! * 0.9);
  await fs.writeFile(vf, toCsv(vt.columns, vt.rows));
  // One run with a report page: the grid page links it.
  const reported = cells.find((c) => c.recipe === 'ae' && c.dcase === 'dcase2024' && c.seed === 0)!;
  await writeReports(path.dirname(path.dirname(cellOutputDir(reported))));
  const r = await gridTable(g, cells, {});
  t.deepEqual(r.warnings, []);
  const dir = path.join(gridDir(g), 'table');
  t.deepEqual(r.files, [path.join(dir, 'grid_official.csv'), path.join(dir, 'grid_official.md'), path.join(dir, 'grid.html')]);
  const csv = await readCsvFile(r.files[0], 'grid csv');
  t.deepEqual(csv.columns, ['recipe', 'version', 'dcase', 'split', 'metric', 'backend', 'mean', 'std', 'n', 'seeds']);
  const combos = [['dcase2023', 'dev'], ['dcase2023', 'eval'], ['dcase2024', 'dev']];
  t.is(csv.rows.length, 2 * combos.length, 'no 2024 eval row: no 2024 eval machine');
  const col = (name: string) => csv.columns.indexOf(name);
  const lines = (await fs.readFile(r.files[1], 'utf8')).split('\n');
  const header = lines.findIndex((l) => l.startsWith('| recipe |'));
  t.is(lines[header], '| recipe | dcase2023 dev | dcase2023 eval | dcase2024 dev |');
  t.truthy(lines.find((l) => /in %: mean ± sample std \(ddof 1\)/.test(l)), 'caption says percent and the std');
  let spread = 0;
  for (const [i, recipe] of ['raw_spec', 'ae'].entries()) {
    const cellsText: string[] = [];
    for (const [dcase, split] of combos) {
      const e = (await expected(cells, recipe, dcase, split))!;
      const row = csv.rows.find((x) => x[col('version')] === recipe && x[col('dcase')] === dcase && x[col('split')] === split)!;
      t.truthy(row, `${recipe} ${dcase} ${split}`);
      t.is(row[col('recipe')], recipe);
      t.is(row[col('metric')], `official${dcase.slice(-2)}`);
      t.is(row[col('backend')], BACKEND[recipe]);
      t.true(close(parseFloatCell(row[col('mean')])!, e.mean), `${recipe} ${dcase} ${split} mean`);
      t.true(close(parseFloatCell(row[col('std')])!, e.std), `${recipe} ${dcase} ${split} std`);
      t.is(Number(row[col('n')]), 2);
      t.is(row[col('seeds')], '0 1');
      spread += e.std;
      cellsText.push(`${pct(e.mean)} ± ${pct(e.std)}`);
    }
    t.is(lines[header + 2 + i], `| ${recipe} | ${cellsText.join(' | ')} |`);
  }
  t.true(spread > 0, 'some std is not 0');
  t.true(r.markdown.includes(lines[header]));

  // The HTML page: the same header and values, a link to the one run report, nothing loaded from outside.
  const html = await fs.readFile(path.join(dir, 'grid.html'), 'utf8');
  t.true(html.includes('<th>recipe</th><th>dcase2023 dev</th><th>dcase2023 eval</th><th>dcase2024 dev</th>'), html);
  t.regex(html, /Content-Security-Policy/);
  const hrefs = [...html.matchAll(/href="([^"]+\.html)"/g)].map((m) => m[1]);
  t.deepEqual(hrefs, ['../../dcase2024/ae/0/report.html']);
  t.true(await fs.stat(path.resolve(dir, hrefs[0])).then(() => true, () => false));
  for (const line of lines.slice(header + 2, header + 4)) {
    for (const cell of line.split(' | ').slice(1)) t.true(html.includes(`>${cell.replace(/ \|$/, '')}</td>`), cell);
  }
});

test.serial('--ensemble: a row per recipe from the ensemble run of its seeds, n = 1', async (t) => {
  const { g, cells } = await setup;
  const r = await gridTable(g, cells, { ensemble: true });
  t.deepEqual(r.warnings, []);
  for (const recipe of ['raw_spec', 'ae']) {
    for (const [dcase, split] of [['dcase2023', 'dev'], ['dcase2023', 'eval'], ['dcase2024', 'dev']]) {
      const out = path.join(g.result_dir, g.name, dcase, `${recipe}-ensemble`, '0', 'output', 'ensemble');
      const t2 = await readCsvFile(path.join(out, `${split}_official${dcase.slice(-2)}.csv`), 'ensemble table');
      t.deepEqual(t2.rows.map((x) => x[0]), ['AS-ensemble-mean-main']);
      const want = parseFloatCell(t2.rows[0][t2.columns.indexOf('total')])!;
      const row = r.rows.find((x) => x.version === `${recipe}-ensemble` && x.dcase === dcase && x.split === split)!;
      t.truthy(row);
      t.like(row, { n: 1, backend: 'AS-ensemble-mean-main', mean: want });
      t.deepEqual(row.seeds, [0, 1]);
      const info = JSON.parse(await fs.readFile(path.join(out, 'ensemble.json'), 'utf8')) as { members: Array<{ column: string }> };
      t.deepEqual(info.members.map((m) => m.column), [BACKEND[recipe], BACKEND[recipe]]);
    }
  }
  const md = r.markdown.split('\n');
  const at = (label: string) => md.findIndex((l) => l.startsWith(`| ${label} |`));
  t.is(at('raw_spec-ensemble'), at('raw_spec') + 1, 'each ensemble row right below its recipe');
  t.is(at('ae-ensemble'), at('ae') + 1);
  t.regex(md[at('ae-ensemble')], /^\| ae-ensemble \| \d+\.\d¹ \| \d+\.\d¹ \| \d+\.\d¹ \|$/);
  t.truthy(md.find((l) => l.startsWith('¹ ensemble')), 'a note says what the ensemble row is');
});

test.serial('a cell that is not done is left out: warning naming it, n = 1, std shown as –', async (t) => {
  const { g, cells } = await setup;
  const gone = cells.find((c) => c.recipe === 'ae' && c.dcase === 'dcase2023' && c.seed === 1)!;
  await fs.rm(path.join(cellOutputDir(gone), 'dev_official23.csv'));
  const r = await gridTable(g, cells, {});
  t.true(r.warnings.some((w) => w.includes(gone.id) && /not done/.test(w)), r.warnings.join('\n'));
  const row = r.rows.find((x) => x.version === 'ae' && x.dcase === 'dcase2023' && x.split === 'eval')!;
  const e = (await expected(cells, 'ae', 'dcase2023', 'eval', new Set([gone.id])))!;
  t.like(row, { n: 1, mean: e.mean });
  t.deepEqual(row.seeds, [0]);
  t.true(Number.isNaN(row.std));
  const csv = await readCsvFile(path.join(gridDir(g), 'table', 'grid_official.csv'), 'grid csv');
  const line = csv.rows.find((x) => x[1] === 'ae' && x[2] === 'dcase2023' && x[3] === 'eval')!;
  t.is(line[7], '', 'std of one value is empty in the CSV');
  t.true(r.markdown.split('\n').some((l) => l.startsWith('| ae |') && l.includes(`${pct(e.mean)} ± – (n=1)`)), r.markdown);
});
