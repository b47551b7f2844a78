/** `asdkit extract|score|evaluate|table`: one step of a run, with ASDKit's identifying options. */
import type { Argv, CommandModule } from 'yargs';
import { assertDcase } from '../../dcase/index.js';
import { frontendOf, runIds } from '../../recipes/run.js';
import { evaluate, evaluateScoreFile } from '../../steps/evaluate.js';
import { extract } from '../../steps/extract.js';
import { score } from '../../steps/score.js';
import { table } from '../../steps/table.js';
import { visualize } from '../../steps/visualize.js';
import { configFromArgs, runOptions, type RunArgs } from '../options.js';
import { interruptSignal, progressBar } from '../progress.js';

const withMachine = <T>(y: Argv<T>) =>
  runOptions(y).option('machine', { type: 'string', demandOption: true, describe: 'machine type, e.g. fan' });

export const extractCommand: CommandModule<object, RunArgs & { machine: string }> = {
  command: 'extract',
  describe: 'extract embeddings of one machine into train/test_extract.npz',
  builder: (y) => withMachine(y) as unknown as Argv<RunArgs & { machine: string }>,
  handler: async (a) => {
    const c = configFromArgs(a);
    const bar = progressBar('extract');
    try {
      const r = await extract({
        ...runIds(c), machine: a.machine, dataDir: c.data_dir, frontend: frontendOf(c), sec: c.extract.sec,
        batchSize: c.extract.batch_size, device: c.device, overwrite: c.overwrite, signal: interruptSignal(),
        onProgress: (d, t) => bar.update(d, t, a.machine),
      });
      bar.stop();
      console.log(`wrote ${r.files.join(', ')} (${r.rows.train} train + ${r.rows.test} test rows, dim ${r.dim})`);
    } finally {
      bar.stop();
    }
  },
};

export const scoreCommand: CommandModule<object, RunArgs & { machine: string }> = {
  command: 'score',
  describe: 'fit the backends on train embeddings and write train/test_score.csv',
  builder: (y) => withMachine(y) as unknown as Argv<RunArgs & { machine: string }>,
  handler: async (a) => {
    const c = configFromArgs(a);
    const r = await score({ ...runIds(c), machine: a.machine, backends: c.score.backend, device: c.device, overwrite: c.overwrite, signal: interruptSignal() });
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
      console.log(`wrote ${r.outFile}`);
      return;
    }
    const c = configFromArgs(a as RunArgs);
    const r = await evaluate({ ...runIds(c), machine: a.machine!, overwrite: c.overwrite });
    console.log(`wrote ${r.outFile}`);
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
    const c = configFromArgs(a as RunArgs);
    const r = await visualize({ ...runIds(c), machine: a.machine, metric: c.visualize.metric, embedKey: c.visualize.embed_key, overwrite: c.overwrite });
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
      .option('machine', { type: 'string', array: true, describe: 'limit the tables to these machines (default: the year\'s full list)' }) as unknown as Argv<
      RunArgs & { metrics?: string[]; machine?: string[] }
    >,
  handler: async (a) => {
    const c = configFromArgs({ ...a, machine: undefined });
    const r = await table({ ...runIds(c), metrics: a.metrics ?? c.table.metrics, machines: a.machine, overwrite: c.overwrite });
    for (const w of r.warnings) console.error(`warning: ${w}`);
    console.log(r.written.length ? `wrote ${r.written.join(', ')}` : 'no table written');
  },
};
