/** `asdkit report`: one HTML page per run found in a result folder, written next to the run's files. */
import { writeAtomic } from '../util/files.js';
import { collectRun, findRuns } from './collect.js';
import { reportFile, reportHtml } from './html.js';

export interface WrittenReport {
  run: string;
  file: string;
  problems: string[];
}

export async function writeReports(dir: string): Promise<WrittenReport[]> {
  const written: WrittenReport[] = [];
  for (const run of await findRuns(dir)) {
    const r = await collectRun(run);
    const file = reportFile(run);
    await writeAtomic(file, reportHtml(r));
    written.push({ run, file, problems: r.problems });
  }
  return written;
}
