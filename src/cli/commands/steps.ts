/**
 * `asdkit extract|score|evaluate|visualize|table`: one step of a run, with ASDKit's identifying
 * options. On an existing run they read its config.yaml (see `stepConfigFromArgs`).
 */
import type { Argv, CommandModule } from 'yargs';
import { assertDcase } from '../../dcase/index.js';
import { runIdsOf, versionDir, withRunLock, writeRunConfig, type RunConfig } from '../../run/index.js';
import { evaluate, evaluateScoreFile } from '../../steps/evaluate.js';
import { extract } from '../../steps/extract.js';
import { resolveExtractor } from '../../steps/extractor.js';
import { score } from '../../steps/score.js';
import { table } from '../../steps/table.js';
import { visualize } from '../../steps/visualize.js';
import { preflight } from '../../recipes/preflight.js';
import { stepConfigFromArgs, runOptions, type RunArgs } from '../options.js';
import { printPreflight, warnIfSkipped } from '../print.js';
import { exitOnInterrupt, interruptSignal, progressBar } from '../progress.js';

/** One process per run folder: a step command holds the run's lock while it works. */
const locked = <T>(c: RunConfig, fn: () => Promise<T>): Promise<T> => withRunLock(versionDir(runIdsOf(c)), fn);

const withMachine = <T>(y: Argv<T>) =>
  runOptions(y).option('machine', { type: 'string', demandOption: true, describe: 'machine type, e.g. fan' });

export const extractCommand: CommandModule<object, RunArgs & { machine: string }> = {
  command: 'extract',
  describe: 'extract embeddings of one machine into train/test_extract.npz',
  builder: (y) => withMachine(y) as unknown as Argv<RunArgs & { machine: string }>,
  handler: async (a) => {
    const { config: c, stored } = await stepConfigFromArgs(a);
    printPreflight(await preflight(c, { steps: ['extract'] }));
    const ids = runIdsOf(c);
    await exitOnInterrupt(() => locked(c, async () => {
      const extractor = await resolveExtractor(c, a.machine);
      const bar = progressBar('extract', { unit: 'clip' });
      try {
        const r = await extract({
          ...ids, machine: a.machine, dataDir: c.data_dir, ...extractor, sec: c.extract.sec, batchSize: c.extract.batch_size,
          precision: c.extract.precision, device: c.device, overwrite: c.overwrite, signal: interruptSignal(),
          onProgress: (d, t) => bar.update(d, t, a.machine),
        });
        bar.stop();
        if (warnIfSkipped(r)) return;
        for (const w of r.warnings) console.error(`warning: ${w}`);
        console.log(`wrote ${r.files.join(', ')} (${r.rows.train} train + ${r.rows.test} test rows, dim ${r.dim})`);
        // Later step commands on this run read what it was extracted with.
        if (!stored) await writeRunConfig(c, ids);
      } finally {
        bar.stop();
        extractor.model?.dispose();
      }
    }));
  },
};

export const scoreCommand: CommandModule<object, RunArgs & { machine: string }> = {
  command: 'score',
  describe: 'fit the backends on train embeddings and write train/test_score.csv',
  builder: (y) => withMachine(y) as unknown as Argv<RunArgs & { machine: string }>,
  handler: async (a) => {
    const { config: c } = await stepConfigFromArgs(a);
    printPreflight(await preflight(c, { steps: ['score'] }));
    const r = await exitOnInterrupt(() => locked(c, () => score({ ...runIdsOf(c), machine: a.machine, backends: c.score.backend, device: c.device, overwrite: c.overwrite, signal: interruptSignal() })));
    if (warnIfSkipped(r)) return;
    for (const w of r.warnings) console.error(`warning: ${w}`);
    console.log(`wrote ${r.files.join(', ')}`);
  },
};

interface EvaluateArgs extends Partial<RunArgs> {
  scoreFile?: string;
  out?: string;
  machine?: string;
}

export const evaluateCommand: CommandModule<object, EvaluateArgs> = {
  command: 'evaluate',
  describe: 'compute AUC, pAUC and the official score of one machine (test_evaluate.csv)',
  builder: (y) =>
    runOptions(y)
      .option('machine', { type: 'string', describe: 'machine type' })
      .option('score-file', { type: 'string', describe: 'evaluate this test_score.csv instead of the run folder' })
      .option('out', { type: 'string', describe: 'with --score-file: where to write test_evaluate.csv' })
      .demandOption('machine') as unknown as Argv<EvaluateArgs>,
  handler: async (a) => {
    if (a.scoreFile) {
      if (!a.out) throw new Error('--score-file needs --out (the test_evaluate.csv to write)');
      const r = await evaluateScoreFile({ scoreFile: a.scoreFile, dcase: assertDcase(a.dcase!), machine: a.machine!, outFile: a.out, overwrite: a.overwrite });
      if (!warnIfSkipped(r)) console.log(`wrote ${r.outFile}`);
      return;
    }
    const { config: c } = await stepConfigFromArgs(a as RunArgs);
    printPreflight(await preflight(c, { steps: ['evaluate'] }));
    const r = await locked(c, () => evaluate({ ...runIdsOf(c), machine: a.machine!, overwrite: c.overwrite }));
    if (!warnIfSkipped(r)) console.log(`wrote ${r.outFile}`);
  },
};

export const visualizeCommand: CommandModule<object, RunArgs & { machine: string }> = {
  command: 'visualize',
  describe: 'UMAP of one machine\'s train + test embeddings: visualize/umap_<metric>_<embed_key>.npz and PNGs per section',
  builder: (y) =>
    runOptions(y)
      .option('machine', { type: 'string', describe: 'machine type' })
      .demandOption('machine') as unknown as Argv<RunArgs & { machine: string }>,
  handler: async (a) => {
    const { config: c } = await stepConfigFromArgs(a as RunArgs);
    printPreflight(await preflight(c, { steps: ['visualize'] }));
    const r = await locked(c, () => visualize({ ...runIdsOf(c), machine: a.machine, metric: c.visualize.metric, embedKey: c.visualize.embed_key, overwrite: c.overwrite }));
    console.log(`${r.computed ? 'wrote' : 'reused'} ${r.npz}`);
    for (const p of r.pngs) console.log(`wrote ${p}`);
  },
};

export const tableCommand: CommandModule<object, RunArgs & { metrics?: string[]; machine?: string[] }> = {
  command: 'table',
  describe: 'collect per-machine results into <split>_<metric>.csv tables',
  builder: (y) =>
    runOptions(y)
      .option('metrics', { type: 'string', array: true, describe: 'metrics (default: official s_auc t_auc mix_auc)' })
      .option('machine', { type: 'string', array: true, describe: 'limit the tables to these machines (default: the run\'s machines if it was made for some, else the year\'s full list)' }) as unknown as Argv<
      RunArgs & { metrics?: string[]; machine?: string[] }
    >,
  handler: async (a) => {
    const { config: stepConfig } = await stepConfigFromArgs({ ...a, machine: undefined });
    const c = a.metrics ? { ...stepConfig, table: { metrics: a.metrics } } : stepConfig;
    printPreflight(await preflight(c, { steps: ['table'] }));
    // A run made for some machines only (its config.yaml says which) tables those, as `asdkit run` did.
    const r = await locked(c, () => table({ ...runIdsOf(c), metrics: c.table.metrics, machines: a.machine ?? c.machines, overwrite: c.overwrite }));
    if (warnIfSkipped(r)) return;
    for (const w of r.warnings) console.error(`warning: ${w}`);
    console.log(r.written.length ? `wrote ${r.written.join(', ')}` : 'no table written');
  },
};
