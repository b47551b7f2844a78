#!/usr/bin/env node
/**
 * `asdkit` command line: one module per command. Exit status: 0 done (or already done: skipped
 * steps), 1 an error — one `asdkit: error: …` line —, 130 interrupted.
 */
import { createRequire } from 'node:module';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { formatCommand, labelCommand } from './commands/data.js';
import { detectCommand, exportCommand, submissionCommand } from './commands/detector.js';
import { downloadCommand } from './commands/download.js';
import { importCheckpointCommand, pretrainedCommand } from './commands/pretrained.js';
import { demoCommand, doctorCommand, synthCommand } from './commands/misc.js';
import { recipesCommand, runCommand } from './commands/run.js';
import { reportCommand } from './commands/report.js';
import { serveCommand } from './commands/serve.js';
import { gridCommand } from './commands/grid.js';
import { ensembleCommand } from './commands/ensemble.js';
import { trainCommand } from './commands/train.js';
import { wasInterrupted } from './progress.js';
import { evaluateCommand, extractCommand, scoreCommand, tableCommand, visualizeCommand } from './commands/steps.js';

const argv = hideBin(process.argv);
// `--version` is ASDKit's run-version option inside commands; alone it prints ours.
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  console.log(pkg.version);
  process.exit(0);
}

const cli = yargs(argv);
const fail = (message: string): never => {
  if (wasInterrupted()) process.exit(130); // Ctrl-C: "interrupted" was said once already, no error line
  console.error(`asdkit: error: ${message}`);
  process.exit(1);
};
try {
  await cli
    .scriptName('asdkit')
    .version(false) // `--version` is ASDKit's run-version option; `asdkit doctor` shows the build
    .usage('$0 <command> [options]')
    .command(demoCommand)
    .command(synthCommand)
    .command(downloadCommand)
    .command(formatCommand)
    .command(labelCommand)
    .command(runCommand)
    .command(recipesCommand)
    .command(trainCommand)
    .command(extractCommand)
    .command(scoreCommand)
    .command(evaluateCommand)
    .command(visualizeCommand)
    .command(tableCommand)
    .command(reportCommand)
    .command(exportCommand)
    .command(detectCommand)
    .command(submissionCommand)
    .command(serveCommand)
    .command(gridCommand)
    .command(ensembleCommand)
    .command(pretrainedCommand)
    .command(importCheckpointCommand)
    .command(doctorCommand)
    .command({ command: 'help', describe: 'show this help', handler: () => void cli.showHelp('log') })
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .strict()
    .help()
    .fail((msg, err) => {
      if (err) fail(err.message);
      const hint = msg.startsWith('Did you mean') ? `unknown command "${argv[0]}"; ${msg.charAt(0).toLowerCase()}${msg.slice(1)}` : msg;
      const command = hint === msg && argv[0] && !argv[0].startsWith('-') ? ` ${argv[0]}` : '';
      fail(`${hint.replace(/\s*\n\s*/g, '; ')} (see asdkit${command} --help)`);
    })
    .parseAsync();
} catch (e) {
  // A synchronous handler's error bypasses .fail (yargs rethrows it): the same one line.
  fail((e as Error).message);
}
