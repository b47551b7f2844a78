/** `asdkit report <result folder>`: a self-contained HTML page per run (report.html in the run folder). */
import type { Argv, CommandModule } from 'yargs';
import { writeReports } from '../../report/index.js';

export const reportCommand: CommandModule<object, { folder: string }> = {
  command: 'report <folder>',
  describe: 'write report.html per run (<name>/<dcase>/<version>/<seed>) found in a result folder: scores, per-machine results, UMAP and training-curve figures, config, timings',
  builder: (y) =>
    y.positional('folder', { type: 'string', demandOption: true, describe: 'a run folder, a folder inside one, or a folder holding runs (e.g. results)' }) as Argv<{ folder: string }>,
  handler: async (a) => {
    for (const r of await writeReports(a.folder)) {
      for (const p of r.problems) console.error(`warning: ${r.run}: ${p}`);
      console.log(`wrote ${r.file}`);
    }
  },
};
