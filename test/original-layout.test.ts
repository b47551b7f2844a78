/**
 * The data path of a real edition, end to end on synthetic audio: `synth --layout original`
 * (the tree `download` leaves, with real evaluation file names) → format → label → raw_spec.
 */
import test, { type ExecutionContext } from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machinesOf, type Dcase } from '../src/dcase/index.js';
import { formatDataset } from '../src/data/format.js';
import { loadGroundTruth } from '../src/data/ground-truth/index.js';
import { writeLabels } from '../src/data/label.js';
import { synthesize } from '../src/data/synth/index.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { done } from './helpers/outcome.js';
import { KNN_PLAIN } from '../src/run/index.js';
import { runRecipe } from '../src/recipes/run.js';
import { readCsvFile } from '../src/util/csv.js';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-original-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The formatted name a ground-truth value stands for (2020 lists keep the old naming). */
function listedName(dcase: Dcase, value: string): string {
  if (dcase !== 'dcase2020') return value;
  const [label, , id, number] = value.split('_'); // <label>_id_<ID>_<number>.wav
  return `section_${id}_source_test_${label}_${number}`;
}

/**
 * Synthesizes the original tree (the recipe's machine types with enough clips for a score, the
 * others with what format needs), formats and labels it, and checks that every evaluation test
 * clip carries a real original name and the formatted name the real list gives it.
 */
async function prepare(t: ExecutionContext, dcase: Dcase, machines: string[]): Promise<{ root: string; dataDir: string }> {
  const root = await tempDir(t);
  const dataDir = path.join(root, 'data');
  const common = { dataDir, dcase, layout: 'original' as const, seed: 1 };
  await synthesize({ ...common, machines, seconds: 0.25, trainPerSection: { source: 6, target: 2 }, testPerSection: 3 });
  const rest = await synthesize({ ...common, seconds: 0.01, trainPerSection: { source: 1, target: 1 }, testPerSection: 1 });
  t.true(machines.every((m) => rest.skipped.some((s) => s.endsWith(`${path.sep}${m}`))), 'existing machine folders are left alone');

  const formatted = await formatDataset({ dataDir, dcase });
  const gt = await loadGroundTruth(dcase);
  for (const machine of machinesOf(dcase, 'eval')) {
    const dir = path.join(dataDir, 'formatted', dcase, 'raw', machine, 'test');
    let evalClips = 0;
    for (const name of await fs.readdir(dir)) {
      const target = await fs.readlink(path.join(dir, name));
      if (!target.includes(`${path.sep}eval_data${path.sep}`)) continue;
      const value = gt.get(machine)?.get(path.basename(target));
      t.truthy(value, `${machine}: ${path.basename(target)} is a real evaluation file name`);
      t.is(name, listedName(dcase, value!), `${machine}: formatted name from the list`);
      evalClips++;
    }
    t.true(evalClips > 0, `${machine} has evaluation test clips`);
  }

  const { labels } = done(await writeLabels({ dataDir, dcase, outDir: path.join(root, 'labels') }));
  const trainTest = formatted.counts.reduce((s, r) => s + r.count, 0);
  t.is(Object.keys(labels.path2idx_dict).length, trainTest);
  t.false(Object.keys(labels.path2idx_dict).some((p) => p.includes('/supplemental/')));
  return { root, dataDir };
}

/** One dev and one eval machine type per year (the same type before 2023); 2025 two eval types. */
const RECIPE_MACHINES: Record<Dcase, string[]> = {
  dcase2020: ['fan'],
  dcase2021: ['fan'],
  dcase2022: ['bearing'],
  dcase2023: ['bandsaw', 'fan'],
  dcase2024: ['3DPrinter', 'fan'],
  dcase2025: ['AutoTrash', 'bearing', 'ToyPet'],
  dcase2026: ['ToothBrush', 'ToyCar'], // its own tests: test/dcase2026.test.ts
};

/** prepare, then raw_spec on the recipe machines: every per-machine file and both official tables. */
async function runRawSpec(t: ExecutionContext, dcase: Dcase): Promise<{ dataDir: string; outputDir: string }> {
  const machines = RECIPE_MACHINES[dcase];
  const { root, dataDir } = await prepare(t, dcase, machines);
  const config = resolveRunConfig('raw_spec', {
    dcase, data_dir: dataDir, result_dir: path.join(root, 'results'), machines, visualize: { enabled: false },
    score: { backend: [KNN_PLAIN] }, // k-means and SMOTE need more clips than a fast test wants
  });
  const r = await runRecipe(config);
  t.deepEqual(r.failed, []);
  t.deepEqual(r.machines, machines);
  for (const m of machines) {
    for (const f of ['train_extract.npz', 'test_extract.npz', 'train_score.csv', 'test_score.csv', 'test_evaluate.csv']) {
      await t.notThrowsAsync(fs.access(path.join(r.outputDir, m, f)), `${m}/${f}`);
    }
  }
  const yy = dcase.slice(-2);
  t.true(r.tables.some((f) => f.endsWith(`dev_official${yy}.csv`)) && r.tables.some((f) => f.endsWith(`eval_official${yy}.csv`)));
  return { dataDir, outputDir: r.outputDir };
}

for (const dcase of Object.keys(RECIPE_MACHINES) as Dcase[]) {
  if (dcase === 'dcase2025') continue; // its own test below checks more
  if (dcase === 'dcase2026') continue; // two-channel audio: test/dcase2026.test.ts
  test(`${dcase}: synth --layout original → format → label → raw_spec`, async (t) => {
    await runRawSpec(t, dcase);
  });
}

/** The one row (one backend ran) of a CSV file, as column → cell. */
async function onlyRow(file: string): Promise<Map<string, string>> {
  const tb = await readCsvFile(file, 'test');
  if (tb.rows.length !== 1) throw new Error(`${file}: ${tb.rows.length} rows, expected 1`);
  return new Map(tb.columns.map((c, i) => [c, tb.rows[0][i]]));
}

// The task paper (arXiv:2506.10097) defines 2025's score as 2024's: the harmonic mean, over the
// machine types, of the source- and target-mixed AUCs and the pAUC of their one section.
test('dcase2025: synth --layout original → format → label → raw_spec, supplemental apart, official score', async (t) => {
  const { dataDir, outputDir } = await runRawSpec(t, 'dcase2025');
  const supplemental = await fs.readdir(path.join(dataDir, 'formatted', 'dcase2025', 'raw', 'AutoTrash', 'supplemental'));
  t.is(supplemental.length, 6); // two per test clip of a cell

  for (const split of ['dev', 'eval'] as const) {
    const table = await onlyRow(path.join(outputDir, `${split}_official25.csv`));
    const machines = machinesOf('dcase2025', split).filter((m) => RECIPE_MACHINES.dcase2025.includes(m));
    t.deepEqual([...table.keys()], ['backend', ...machines, 'total'], `${split}_official25 columns`);
    const reciprocals: number[] = [];
    for (const m of machines) {
      const ev = await onlyRow(path.join(outputDir, m, 'test_evaluate.csv'));
      const subs = ['0_smix_auc', '0_tmix_auc', '0_mix_pauc'].map((c) => Number(ev.get(c)));
      t.true(subs.every((v) => v > 0 && v <= 1), `${m}: ${subs.join(', ')}`);
      const own = subs.length / subs.reduce((s, v) => s + 1 / v, 0);
      t.true(Math.abs(Number(ev.get('0_official25')) - own) < 1e-12, `${m} 0_official25`);
      t.true(Math.abs(Number(table.get(m)) - own) < 1e-12, `${split}_official25 ${m}`);
      reciprocals.push(...subs.map((v) => 1 / v));
    }
    const score = reciprocals.length / reciprocals.reduce((s, v) => s + v, 0);
    t.true(Math.abs(Number(table.get('total')) - score) < 1e-12, `${split} official score ${table.get('total')} vs ${score}`);
  }
});
