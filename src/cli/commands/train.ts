/** `asdkit train <recipe>`: only the train step of a trained recipe (resumes; skips when done). */
import type { Argv, CommandModule } from 'yargs';
import { selectMachines } from '../../recipes/run.js';
import { trainOptionsOf } from '../../recipes/train_options.js';
import { train } from '../../steps/train.js';
import { configFromArgs, runOptions, type RunArgs } from '../options.js';
import { interruptSignal, progressBar } from '../progress.js';

export const trainCommand: CommandModule<object, RunArgs & { recipeName: string }> = {
  command: 'train <recipe-name>',
  describe: 'train the model of a dis_* recipe on all machines (checkpoints, metrics.jsonl, TensorBoard); reruns resume',
  builder: (y) =>
    runOptions(y)
      .positional('recipe-name', { type: 'string', describe: 'a trained recipe (see `asdkit recipes`)' })
      .option('machine', { type: 'string', array: true, describe: 'train on these machines only (default: all present)' }) as unknown as Argv<
      RunArgs & { recipeName: string }
    >,
  handler: async (a) => {
    const c = configFromArgs({ ...a, recipe: a.recipeName });
    const opts = trainOptionsOf(c, await selectMachines(c));
    const bar = progressBar('train');
    let label = '';
    const r = await train({
      ...opts,
      signal: interruptSignal(),
      onStep: (m) => {
        label = `epoch ${m.epoch + 1}/${opts.maxEpochs} loss ${m.losses.main.toFixed(4)}`;
      },
      onProgress: (d, t) => bar.update(d, t, label),
      onEpoch: (e) => {
        if (!process.stderr.isTTY) console.error(`epoch ${e.epoch}: loss ${e.loss.toFixed(6)} → ${e.checkpoint}`);
      },
    });
    bar.stop();
    const resumed = r.startEpoch > 0 ? ` (resumed at epoch ${r.startEpoch})` : '';
    console.log(`trained ${r.epochsRun} epoch(s)${resumed}, last loss ${r.lastLoss.toFixed(6)}${r.stopped ? ', stopped: non-finite loss' : ''}`);
    console.log(`checkpoints: ${r.checkpointDir}`);
  },
};
