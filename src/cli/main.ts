#!/usr/bin/env node
/** `asdkit` command line: one module per command; errors end in one clear line and exit 1. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { SkipError } from '../util/files.js';
import { formatCommand, labelCommand } from './commands/data.js';
import { downloadCommand } from './commands/download.js';
import { importCheckpointCommand, pretrainedCommand } from './commands/pretrained.js';
import { demoCommand, doctorCommand, synthCommand } from './commands/misc.js';
import { recipesCommand, runCommand } from './commands/run.js';
import { reportCommand } from './commands/report.js';
import { trainCommand } from './commands/train.js';
import { evaluateCommand, extractCommand, scoreCommand, tableCommand, visualizeCommand } from './commands/steps.js';

await yargs(hideBin(process.argv))
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
  .command(pretrainedCommand)
  .command(importCheckpointCommand)
  .command(doctorCommand)
  .demandCommand(1, 'name a command (see --help)')
  .strict()
  .help()
  .fail((msg, err, y) => {
    if (err instanceof SkipError) {
      console.error(`warning: ${err.message}`);
    } else if (err) {
      console.error(`asdkit: error: ${err.message}`);
    } else {
      console.error(`asdkit: error: ${msg}\n(see asdkit --help)`);
    }
    process.exit(1);
  })
  .parseAsync();
