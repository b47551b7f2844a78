/** `asdkit run <recipe>` and `asdkit recipes`. */
import type { Argv, CommandModule } from 'yargs';
import YAML from 'yaml';
import type { Dcase } from '../../dcase/index.js';
import { RECIPES } from '../../recipes/catalogue.js';
import { runRecipe, type RunResult } from '../../recipes/run.js';
import type { RunConfig } from '../../run/index.js';
import { configFromArgs, runOptions, type RunArgs } from '../options.js';
import { officialScoreReport } from '../print.js';
import { interruptSignal, progressBar } from '../progress.js';

/** Runs a resolved config with progress output; prints the official-score tables. */
export async function runWithOutput(c: RunConfig, quiet = false): Promise<RunResult> {
  const bar = progressBar(c.recipe);
  const r = await runRecipe(c, {
    signal: interruptSignal(),
    onProgress: (step, machine, d, t) => bar.update(d, t, `${machine} ${step}`),
    onEvent: (e) => {
      if (e.status === 'failed') {
        bar.stop();
        console.error(`error: ${e.step}${e.machine ? ` ${e.machine}` : ''}: ${e.message}`);
      } else if (e.status === 'skipped' && !quiet) {
        console.error(`skip: ${e.step}${e.machine ? ` ${e.machine}` : ''} (already done; --overwrite recomputes)`);
      } else if (e.status === 'done' && e.message) {
        // a resumed training, clips passed over
        bar.stop();
        console.error(`${e.step}${e.machine ? ` ${e.machine}` : ''}: ${e.message}`);
      }
    },
  });
  bar.stop();
  console.log(await officialScoreReport(r.outputDir, c.dcase as Dcase));
  console.log(`\nresults: ${r.outputDir}`);
  if (r.failed.length) {
    process.exitCode = 1;
    console.error(`${r.failed.length} step(s) failed`);
  }
  return r;
}

export const runCommand: CommandModule<object, RunArgs & { recipeName: string; printConfig?: boolean }> = {
  command: 'run <recipe-name>',
  describe: 'run a recipe over the year\'s machines: extract → score → evaluate per machine, then table',
  builder: (y) =>
    runOptions(y)
      .positional('recipe-name', { type: 'string', describe: 'recipe (see `asdkit recipes`)' })
      .option('machine', { type: 'string', array: true, describe: 'only these machines (default: all present in the data folder)' })
      .option('print-config', { type: 'boolean', describe: 'print the resolved configuration and exit' }) as unknown as Argv<
      RunArgs & { recipeName: string; printConfig?: boolean }
    >,
  handler: async (a) => {
    const c = configFromArgs({ ...a, recipe: a.recipeName });
    if (a.printConfig) {
      process.stdout.write(YAML.stringify(c));
      return;
    }
    await runWithOutput(c);
  },
};

export const recipesCommand: CommandModule = {
  command: 'recipes',
  describe: 'list the available recipes',
  handler: () => {
    for (const r of Object.values(RECIPES)) console.log(`${r.name.padEnd(34)} ${r.description}`);
  },
};
