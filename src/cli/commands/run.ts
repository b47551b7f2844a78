/** `asdkit run <recipe>` and `asdkit recipes`. */
import type { Argv, CommandModule } from 'yargs';
import YAML from 'yaml';
import type { Dcase } from '../../dcase/index.js';
import { RECIPES } from '../../recipes/catalogue.js';
import { runRecipe, selectMachines, type RunEvent, type RunResult } from '../../recipes/run.js';
import type { RunConfig } from '../../run/index.js';
import { configFromArgs, runOptions, type RunArgs } from '../options.js';
import { officialScoreReport } from '../print.js';
import { exitOnInterrupt, interruptSignal, RunProgress } from '../progress.js';

/**
 * Runs a resolved config with progress output (an overall line above the step bar on a terminal,
 * plain lines otherwise; see progress.ts); prints the official-score tables. Ctrl-C ends the
 * process with status 130 once the run has stopped cleanly.
 */
export async function runWithOutput(c: RunConfig, quiet = false): Promise<RunResult> {
  const progress = new RunProgress(c.recipe, await selectMachines(c));
  const where = (e: RunEvent) => `${e.step}${e.machine ? ` ${e.machine}` : ''}`;
  const r = await exitOnInterrupt(() =>
    runRecipe(c, {
      signal: interruptSignal(),
      onPreflight: (p) => [...p.warnings.map((w) => `warning: ${w}`), ...p.notes].forEach((m) => progress.message(m)),
      onProgress: (step, machine, d, t, train) => progress.update(step, machine, d, t, train),
      onEvent: (e) => {
        if (e.status === 'failed') progress.message(`asdkit: error: ${where(e)}: ${e.message}`);
        else if (e.status === 'skipped' && !quiet) progress.message(`skip: ${where(e)} (already done; --overwrite recomputes)`);
        else if (e.status === 'done' && e.message) progress.message(`${where(e)}: ${e.message}`); // a resumed training, clips passed over
      },
    }).finally(() => progress.stop()),
  );
  console.log(await officialScoreReport(r.outputDir, c.dcase as Dcase));
  console.log(`\nresults: ${r.outputDir}`);
  if (r.failed.length) {
    process.exitCode = 1;
    console.error(`asdkit: error: ${r.failed.length} step(s) failed`);
  }
  return r;
}

export const runCommand: CommandModule<object, RunArgs & { recipeName: string; printConfig?: boolean }> = {
  command: 'run <recipe-name>',
  describe: 'run a recipe: train its model(s) (dis_*, ae), then per machine extract → score → evaluate → visualize, then table; finished steps are skipped, so a rerun resumes',
  builder: (y) =>
    runOptions(y)
      .positional('recipe-name', { type: 'string', describe: 'recipe (see `asdkit recipes`)' })
      .option('machine', { type: 'string', array: true, describe: 'only these machines (default: all present in the data folder)' })
      .option('print-config', { type: 'boolean', describe: 'print the resolved configuration and exit' }) as unknown as Argv<
      RunArgs & { recipeName: string; printConfig?: boolean }
    >,
  handler: async (a) => {
    if (a.recipe !== undefined && a.recipe !== a.recipeName) throw new Error(`--recipe ${a.recipe} contradicts the recipe to run (${a.recipeName}); \`run\` takes the recipe as its argument`);
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
