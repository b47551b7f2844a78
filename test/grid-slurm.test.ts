/**
 * `asdkit grid run --executor slurm` on a real single-node Slurm (test/helpers/slurm-cluster.ts):
 * a 3-seed grid runs as one job array and every cell ends done; a task cancelled while it runs
 * leaves its cell not done, and a rerun submits only that cell and finishes it.
 *
 * Without root or the slurm-wlm/munge packages the tests are listed as skipped with the reason;
 * with CI_REQUIRE_SLURM=1 (CI) they fail instead.
 */
import test, { type ExecutionContext } from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { synthesize } from '../src/data/synth/index.js';
import { gridCells, gridDir } from '../src/grid/cells.js';
import { readGridFile } from '../src/grid/spec.js';
import { cellDone, readRecord } from '../src/grid/state.js';
import { cli } from './helpers/cli.js';
import { startSlurmCluster, type SlurmCluster } from './helpers/slurm-cluster.js';

const cluster = await startSlurmCluster();
const skip = 'skip' in cluster ? cluster.skip : undefined;
const slurm = skip ? undefined : (cluster as SlurmCluster);
if (slurm) {
  // cli() children (sbatch, squeue, and through sbatch's exported environment the tasks) inherit these.
  Object.assign(process.env, slurm.env, { ASDKIT_SLURM_POLL_SECONDS: '1' });
  test.after.always(() => slurm.stop());
}

/** Runs with a cluster; without one: a visible skip, or a failure where CI requires Slurm. */
function slurmTest(title: string, fn: (t: ExecutionContext, c: SlurmCluster) => Promise<void>) {
  if (slurm) return test.serial(title, (t) => fn(t, slurm));
  if (process.env.CI_REQUIRE_SLURM === '1') {
    return test(title, (t) => {
      t.log(skip);
      t.fail(`CI_REQUIRE_SLURM=1 but no Slurm cluster: ${skip}`);
    });
  }
  return test.skip(`${title} [skipped: ${skip}]`, () => {});
}

const setup = (async () => {
  if (!slurm) return undefined;
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-grid-slurm-'));
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 5, seconds: 1, machines: ['fan'], trainPerSection: { source: 12, target: 3 }, testPerSection: 4 });
  const writeGrid = async (name: string, extra: Record<string, unknown> = {}) => {
    const file = path.join(root, `${name}.yaml`);
    const grid = {
      name, result_dir: path.join(root, 'results'), data_dir: dataDir, recipes: ['raw_spec'], years: ['dcase2023'], seeds: '0-2', machines: ['fan'],
      set: ['visualize.enabled=false', 'score.backend=[{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}]', 'extract.sec=1'],
      ...extra,
    };
    await fs.writeFile(file, YAML.stringify(grid));
    return file;
  };
  return { root, writeGrid };
})();
test.after.always(async () => {
  const s = await setup;
  if (s) await fs.rm(s.root, { recursive: true, force: true });
});

slurmTest('a grid runs as one job array; every cell ends done', async (t) => {
  const { writeGrid } = (await setup)!;
  const file = await writeGrid('three');
  const r = await cli(['grid', 'run', file, '--executor', 'slurm', '--cpus-per-task', '1']);
  t.is(r.code, 0, r.stderr);
  t.log(r.stderr);
  t.regex(r.stderr, /submitted Slurm job \d+: 3 cell\(s\) \(array 0-2\)/);
  t.regex(r.stderr, /3\/3 cell\(s\) done/);
  const g = await readGridFile(file);
  for (const c of gridCells(g)) {
    t.true(await cellDone(c), c.id);
    t.truthy((await readRecord(g, c))?.slurm, `${c.id} ran as an array task`);
  }
  const scripts = (await fs.readdir(path.join(gridDir(g), 'slurm'))).filter((f) => f.endsWith('.sbatch'));
  t.is(scripts.length, 1);
  const script = await fs.readFile(path.join(gridDir(g), 'slurm', scripts[0]), 'utf8');
  t.regex(script, /^#SBATCH --array=0-2$/m);
  t.regex(script, /^#SBATCH --cpus-per-task=1$/m);
  t.regex(script, /^exec .* grid cell .* --index "\$SLURM_ARRAY_TASK_ID"$/m);
  const s = await cli(['grid', 'status', file]);
  t.is(s.code, 0, s.stderr);
  t.regex(s.stdout, /three: 3 cells: 3 done/);
  // Nothing left: a rerun submits nothing.
  const again = await cli(['grid', 'run', file, '--executor', 'slurm']);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /0 to run/);
  t.notRegex(again.stderr, /submitted/);
});

slurmTest('a task cancelled while it runs leaves its cell not done; a rerun submits only that cell', async (t, c) => {
  const { writeGrid } = (await setup)!;
  const file = await writeGrid('cancel', { seeds: '0-1' });
  const g = await readGridFile(file);
  const [, victim] = gridCells(g);
  const run = cli(['grid', 'run', file, '--executor', 'slurm', '--cpus-per-task', '1']);
  // Cancel cell 1 once its task is inside `grid cell` (its record says running): the run itself
  // takes seconds more (LibTorch start-up, extraction, scoring), so it cannot finish first.
  let job: string | undefined;
  for (const end = Date.now() + 120_000; !job && Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const rec = await readRecord(g, victim);
    if (rec?.state === 'running' && rec.slurm) job = rec.slurm.job;
  }
  t.truthy(job, 'cell 1 never started');
  const cancelledAt = Date.now();
  await c.client('scancel', [`${job}_${victim.index}`]);
  const r = await run;
  t.log(r.stderr, `(waited ${(Date.now() - cancelledAt) / 1000} s after scancel)`);
  t.is(r.code, 1, 'a cancelled cell fails the run');
  t.regex(r.stderr, new RegExp(`(cancelled|interrupted): ${victim.id.replace(/\./g, '\\.')}`));
  t.false(await cellDone(victim));

  const s = await cli(['grid', 'status', file]);
  t.is(s.code, 0, s.stderr);
  t.log(s.stdout);
  t.regex(s.stdout, /cancel: 2 cells: 1 done, 1 (interrupted|failed|pending)/);

  const again = await cli(['grid', 'run', file, '--executor', 'slurm', '--cpus-per-task', '1']);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /1 to run/);
  t.regex(again.stderr, new RegExp(`submitted Slurm job \\d+: 1 cell\\(s\\) \\(array ${victim.index}\\)`));
  t.true(await cellDone(victim));
  t.regex((await cli(['grid', 'status', file])).stdout, /cancel: 2 cells: 2 done/);
});
