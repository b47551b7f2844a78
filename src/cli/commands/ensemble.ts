/** `asdkit ensemble RUN… --out-version NAME`: a score-level ensemble of finished runs, written and evaluated as a run of its own. */
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { COMBINES, ensembleRuns, ENSEMBLE_INFER_VER, type Combine } from '../../grid/ensemble.js';

interface EnsembleArgs {
  runs: string[];
  outVersion: string;
  combine: Combine;
  backend?: string;
}

export const ensembleCommand: CommandModule<object, EnsembleArgs> = {
  command: 'ensemble <runs..>',
  describe: 'combine the scores of runs (same year and machines) into a new run <name>/<dcase>/<out-version>/0/output/ensemble, then evaluate and table it',
  builder: (y) =>
    y
      .positional('runs', { type: 'string', array: true, demandOption: true, describe: "each run's output folder: …/<version>/<seed>/output/<infer_ver>" })
      .option('out-version', { type: 'string', demandOption: true, describe: 'version of the ensemble run' })
      .option('combine', {
        choices: COMBINES, default: 'mean' as const,
        describe: 'mean or max of the raw scores; zmean: mean after z-scoring each member by the mean and std (ddof 0) of its normal training clips',
      })
      .option('backend', { type: 'string', describe: "score column of every member (default: each run's first back-end column; ae: AS-recon)" })
      .version(false) as unknown as Argv<EnsembleArgs>,
  handler: async (a) => {
    const r = await ensembleRuns({ runs: a.runs, outVersion: a.outVersion, combine: a.combine, backend: a.backend });
    for (const w of r.warnings) console.error(`warning: ${w}`);
    for (const m of r.members) console.error(`member ${m.run}: ${m.column}`);
    console.log(`wrote ${r.outputDir} (${r.column}; ${r.machines.length} machine(s); tables: ${r.tables.map((t) => path.basename(t)).join(', ') || 'none'})`);
    console.log(`evaluate / table / report it as --name ${r.ids.name} --dcase ${r.ids.dcase} --version ${r.ids.version} --seed 0 --infer-ver ${ENSEMBLE_INFER_VER}`);
  },
};
