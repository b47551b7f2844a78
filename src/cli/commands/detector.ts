/**
 * `asdkit export`: a finished run's machine → a detector folder; `asdkit detect`: score audio
 * files with one (CSV or JSONL rows, to stdout or a file that `--resume` continues);
 * `asdkit submission`: a run's DCASE submission files.
 */
import type { Argv, CommandModule } from 'yargs';
import { Detector } from '../../detector/detector.js';
import { setThreads } from '../../native/index.js';
import { runIdsOf, versionDir, withRunLock } from '../../run/index.js';
import { detect, type DetectFormat } from '../../steps/detect.js';
import { expandInputs } from '../../steps/detect-inputs.js';
import { exportDetector } from '../../steps/export.js';
import { submission } from '../../steps/submission.js';
import { parseThreads } from '../../util/threads.js';
import { runOptions, stepConfigFromArgs, type RunArgs } from '../options.js';
import { exitOnInterrupt, interruptSignal, progressBar } from '../progress.js';

interface ThresholdArgs {
  thresholdMethod: 'gamma' | 'percentile';
  thresholdQuantile: number;
}

export const thresholdOptions = <T>(y: Argv<T>) =>
  y
    .option('threshold-method', { choices: ['gamma', 'percentile'] as const, default: 'gamma' as const, describe: 'gamma: ML gamma fit to the normal training scores (the DCASE baseline); percentile: their empirical quantile' })
    .option('threshold-quantile', { type: 'number', default: 0.9, describe: 'the quantile of the normal training scores that is the threshold' });

type ExportArgs = Omit<RunArgs, 'backend'> & ThresholdArgs & { machine: string; out: string; backend?: string };

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  describe: 'turn one machine of a finished run into a detector folder (frontend, fitted backend, thresholds)',
  builder: (y) =>
    thresholdOptions(runOptions(y))
      .option('machine', { type: 'string', demandOption: true, describe: 'machine type, e.g. fan' })
      .option('out', { type: 'string', demandOption: true, describe: 'the detector folder to write' })
      .option('backend', { type: 'string', describe: 'score column to export, e.g. AS-Knn-1-1-cosine-main (default: the run\'s first)' }) as unknown as Argv<ExportArgs>,
  handler: async (a) => {
    const { config: c } = await stepConfigFromArgs({ ...a, backend: undefined });
    const r = await exitOnInterrupt(() =>
      withRunLock(versionDir(runIdsOf(c)), () =>
        exportDetector({ config: c, machine: a.machine, out: a.out, backend: a.backend, thresholdMethod: a.thresholdMethod, thresholdQuantile: a.thresholdQuantile, overwrite: a.overwrite, device: c.device, signal: interruptSignal() }),
      ),
    );
    for (const w of r.warnings) console.error(`warning: ${w}`);
    const t = r.manifest.sections.map((s) => `section ${String(s.section).padStart(2, '0')}: ${s.threshold.toPrecision(6)}`).join(', ');
    console.log(`wrote ${r.dir} (${r.manifest.recipe} ${r.manifest.machine}, ${r.manifest.score.column}, ${r.manifest.threshold.method} thresholds ${t})`);
  },
};

interface DetectArgs {
  detector: string;
  inputs: string[];
  filesFrom?: string;
  section?: number;
  out?: string;
  format: DetectFormat;
  device?: string;
  threads?: string;
  batchSize: number;
  resume?: boolean;
  overwrite?: boolean;
  encoder?: string;
}

export const detectCommand: CommandModule<object, DetectArgs> = {
  command: 'detect <detector> [inputs..]',
  describe: 'score audio files (WAV/FLAC/OGG…, any rate) with an exported detector: one row per clip',
  builder: (y) =>
    y
      .positional('detector', { type: 'string', demandOption: true, describe: 'a folder written by `asdkit export`' })
      .positional('inputs', { type: 'string', array: true, default: [] as string[], describe: 'files, folders (walked for audio files) or glob patterns' })
      .option('files-from', { type: 'string', describe: 'a file listing paths, one per line (- for stdin)' })
      .option('section', { type: 'number', describe: 'the section of every clip (default: the detector\'s only one, else read from section_XX_ names)' })
      .option('out', { type: 'string', describe: 'write rows to this file instead of stdout' })
      .option('format', { choices: ['csv', 'jsonl'] as const, default: 'csv' as const, describe: 'csv: path,section,score,decision,error; jsonl adds threshold and embedding_norm' })
      .option('device', { type: 'string', describe: 'cpu, cuda or cuda:N (default: cpu)' })
      .option('threads', { type: 'string', describe: 'LibTorch threads (0 = all cores, the default; env ASDKIT_THREADS)' })
      .option('batch-size', { type: 'number', default: 64, describe: 'clips per native batch' })
      .option('resume', { type: 'boolean', describe: 'continue --out, skipping the clips already in it' })
      .option('overwrite', { type: 'boolean', describe: 'replace an existing --out' })
      .option('encoder', { type: 'string', describe: 'BEATs/EAT detectors: the official encoder file (default: pretrained_models/…)' })
      .version(false) as unknown as Argv<DetectArgs>,
  handler: async (a) => {
    if (a.threads !== undefined) setThreads(parseThreads(a.threads));
    if (!(Number.isInteger(a.batchSize) && a.batchSize > 0)) throw new Error(`--batch-size must be a positive integer, got ${a.batchSize}`);
    const paths = await expandInputs(a.inputs, a.filesFrom);
    if (paths.length === 0) throw new Error('no audio files to score (name files, folders or patterns, or --files-from)');
    const detector = await Detector.load(a.detector, { device: a.device, encoder: a.encoder });
    // `asdkit detect … | head`: a closed pipe ends the output, not with a stack trace.
    if (!a.out) process.stdout.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? process.exit(0) : undefined));
    const bar = process.stderr.isTTY ? progressBar('detect', { unit: 'file' }) : undefined;
    try {
      const r = await exitOnInterrupt(() =>
        detect({
          detector, paths, out: a.out, format: a.format, section: a.section, batchSize: a.batchSize, resume: a.resume, overwrite: a.overwrite,
          signal: interruptSignal(), onProgress: bar ? (d, t) => bar.update(d, t) : undefined, onNote: (n) => console.error(`note: ${n}`),
        }),
      );
      bar?.stop();
      const skipped = r.skipped ? `, ${r.skipped} already in ${a.out}` : '';
      console.error(`scored ${r.scored} clip(s): ${r.anomalous} anomalous${skipped}${r.failed ? `; ${r.failed} could not be scored (see the error column)` : ''}`);
      if (r.failed) process.exitCode = 1;
    } finally {
      bar?.stop();
      detector.dispose();
    }
  },
};

type SubmissionArgs = Omit<RunArgs, 'backend'> & ThresholdArgs & { out: string; backend?: string; partial?: boolean };

export const submissionCommand: CommandModule<object, SubmissionArgs> = {
  command: 'submission',
  describe: "write a run's DCASE submission files (anomaly_score_* and decision_result_* per evaluation machine and section)",
  builder: (y) =>
    thresholdOptions(runOptions(y))
      .option('out', { type: 'string', demandOption: true, describe: 'the folder for the CSV files' })
      .option('machine', { type: 'string', array: true, describe: 'evaluation machines to write (default: all the run scored)' })
      .option('backend', { type: 'string', describe: "score column, e.g. AS-Knn-1-1-cosine-main (default: the run's first)" })
      .option('partial', { type: 'boolean', describe: 'accept fewer clips than the official list (synthetic data only; the evaluator would misalign)' }) as unknown as Argv<SubmissionArgs>,
  handler: async (a) => {
    const { config: c } = await stepConfigFromArgs({ ...a, backend: undefined, machine: undefined });
    const machines = a.machine === undefined ? undefined : ([] as string[]).concat(a.machine).flatMap((m) => m.split(','));
    const files = await exitOnInterrupt(() =>
      submission({ config: c, out: a.out, backend: a.backend, machines, partial: a.partial, thresholdMethod: a.thresholdMethod, thresholdQuantile: a.thresholdQuantile, device: c.device, signal: interruptSignal() }),
    );
    for (const f of files) console.log(`${f.scores} (${f.rows} clips, ${f.anomalous} anomalous)`);
    console.log(`wrote ${files.length * 2} files to ${a.out}`);
  },
};
