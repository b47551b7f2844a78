/** `asdkit train <recipe>`: only the train step of a trained recipe (resumes; skips when done). */
import type { Argv, CommandModule } from 'yargs';
import { selectMachines } from '../../recipes/run.js';
import { isSkipped, runIdsOf, versionDir, withRunLock, type Skipped } from '../../run/index.js';
import { aeTrainOptionsOf, trainOptionsOf } from '../../steps/from-config.js';
import { resumeText, train, trainAe, type TrainStepResult } from '../../steps/train.js';
import { preflight } from '../../recipes/preflight.js';
import { configFromArgs, runOptions, type RunArgs } from '../options.js';
import { printPreflight } from '../print.js';
import { exitOnInterrupt, interruptSignal, progressBar, type ProgressInfo } from '../progress.js';

export const trainCommand: CommandModule<object, RunArgs & { recipeName: string }> = {
  command: 'train <recipe-name>',
  describe: 'train the model(s) of a trained recipe — dis_*: one on all machines; ae: one per machine (checkpoints, metrics.jsonl, TensorBoard); reruns resume',
  builder: (y) =>
    runOptions(y)
      .positional('recipe-name', { type: 'string', describe: 'a trained recipe (see `asdkit recipes`)' })
      .option('machine', { type: 'string', array: true, describe: 'train on these machines only (default: all present)' }) as unknown as Argv<
      RunArgs & { recipeName: string }
    >,
  handler: async (a) => {
    if (a.recipe !== undefined && a.recipe !== a.recipeName) throw new Error(`--recipe ${a.recipe} contradicts the recipe to train (${a.recipeName}); \`train\` takes the recipe as its argument`);
    const c = configFromArgs({ ...a, recipe: a.recipeName });
    if (!c.model && !c.ae) throw new Error(`recipe ${c.recipe} trains nothing (its frontend is ${c.extract.frontend.type}); \`asdkit run ${c.recipe}\` runs it`);
    const machines = await selectMachines(c);
    printPreflight(await preflight(c, { machines, steps: ['train'] }));
    const signal = interruptSignal();
    const report = (what: string, r: TrainStepResult, maxEpochs: number) => {
      const resumed = r.resumed ? ` (${resumeText(r, maxEpochs)})` : '';
      console.log(`${what}: trained ${r.epochsRun} epoch(s)${resumed}, last loss ${r.lastLoss.toFixed(6)}`);
      console.log(`  checkpoints: ${r.checkpointDir}`);
    };
    const run = async (what: string, maxEpochs: number, go: (hooks: Pick<Parameters<typeof train>[0], 'onStep' | 'onProgress' | 'onEpoch' | 'signal'>) => Promise<TrainStepResult | Skipped>) => {
      const bar = progressBar(`train ${what}`, { unit: 'step' });
      let info: ProgressInfo | undefined;
      try {
        const r = await go({
          signal,
          onStep: (m) => {
            info = { epoch: m.epoch + 1, epochs: maxEpochs, loss: m.losses.main, lr: m.lr };
          },
          onProgress: (d, t) => bar.update(d, t, '', info),
          onEpoch: (e) => {
            if (!process.stderr.isTTY) console.error(`train ${what}: epoch ${e.epoch + 1}/${maxEpochs} done, loss ${e.loss.toFixed(6)} → ${e.checkpoint}`);
          },
        });
        bar.stop();
        if (isSkipped(r)) console.error(`skip: ${what} (already trained: ${r.existing}; --overwrite retrains)`); // exit 0: done
        else report(what, r, maxEpochs);
      } finally {
        bar.stop();
      }
    };
    // One process per run folder: two trainings would write every step twice into metrics.jsonl.
    await exitOnInterrupt(() => withRunLock(versionDir(runIdsOf(c)), async () => {
      if (c.ae) {
        for (const m of machines) {
          const opts = aeTrainOptionsOf(c, m);
          await run(m, opts.maxEpochs, (hooks) => trainAe({ ...opts, ...hooks }));
        }
      } else {
        const opts = trainOptionsOf(c, machines);
        await run(opts.modelVer ?? 'all', opts.maxEpochs, (hooks) => train({ ...opts, ...hooks }));
      }
    }));
  },
};
