/** `asdkit synth`, `asdkit demo`, `asdkit doctor`. */
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { assertDcase, type Dcase } from '../../dcase/index.js';
import { formattedPaths } from '../../data/label.js';
import { ANOMALY_SETS, DEFAULT_ANOMALY_SET, SYNTH_LAYOUTS, synthesize, type AnomalySet, type SynthLayout } from '../../data/synth/index.js';
import { native, nativePath, setThreads } from '../../native/index.js';
import { preflight } from '../../recipes/preflight.js';
import { resolveRunConfig } from '../../recipes/resolve.js';
import { parseThreads } from '../../util/threads.js';
import { runWithOutput } from './run.js';
import { interruptSignal, progressBar } from '../progress.js';

interface SynthArgs {
  dcase: string;
  dataDir: string;
  layout: SynthLayout;
  seed: number;
  size: 'tiny' | 'small' | 'dcase';
  machine?: string[];
  seconds?: number;
  anomalyStrength?: number;
  anomalies: AnomalySet;
  overwrite?: boolean;
}

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'write a synthetic DCASE-style dataset (16 kHz WAV), formatted or as downloaded',
  builder: (y) =>
    y
      .option('dcase', { type: 'string', default: 'dcase2023', describe: 'naming and layout conventions of this edition (dcase2020 … dcase2026)' })
      .option('data-dir', { type: 'string', default: 'data', describe: 'writes <data-dir>/formatted/<dcase>/raw/... or <data-dir>/original/<dcase>/...' })
      .option('layout', {
        choices: SYNTH_LAYOUTS, default: 'formatted' as SynthLayout,
        describe: 'formatted: ready for the recipes; original: as `asdkit download` leaves it (real eval file names), for `asdkit format`',
      })
      .option('seed', { type: 'number', default: 0, describe: 'random seed: the same seed and options write the same files' })
      .option('size', { choices: ['tiny', 'small', 'dcase'] as const, default: 'tiny' as const, describe: 'clips per machine: tiny (a few dozen 2-s clips, seconds to make), small (110 full-length training clips per section), dcase (as many as the real data)' })
      .option('machine', { type: 'string', array: true, describe: 'machine types (default: by size; every one for --layout original)' })
      .option('seconds', { type: 'number', describe: 'clip length in seconds' })
      .option('anomaly-strength', { type: 'number', describe: '0..1, how audible anomalies are' })
      .option('anomalies', {
        choices: Object.keys(ANOMALY_SETS) as AnomalySet[], default: DEFAULT_ANOMALY_SET,
        describe: 'spectral: faults the time-averaged spectrum shows; temporal: faults only a time-resolved frontend sees (dropouts, surging); mixed: both',
      })
      .option('overwrite', { type: 'boolean', describe: 'regenerate machine folders that already exist (default: leave them alone)' })
      .version(false) as unknown as Argv<SynthArgs>,
  handler: async (a) => {
    const bar = progressBar('synth');
    const r = await synthesize({
      dataDir: a.dataDir, dcase: assertDcase(a.dcase), layout: a.layout, seed: a.seed, size: a.size, machines: a.machine,
      seconds: a.seconds, anomalyStrength: a.anomalyStrength, anomalies: a.anomalies, overwrite: a.overwrite,
      onProgress: (d, t) => bar.update(d, t), signal: interruptSignal(),
    });
    bar.stop();
    console.log(`wrote ${r.files} clips under ${r.root}`);
    if (r.skipped.length > 0) console.log(`left ${r.skipped.length} existing machine folders alone (--overwrite regenerates them)`);
  },
};

interface DemoArgs {
  dcase: string;
  dataDir: string;
  resultDir: string;
  device?: string;
  threads?: string;
  overwrite?: boolean;
}

/** Train and test clips of a formatted dataset (what is there, whether written now or by an earlier run). */
async function countClips(dataDir: string, dcase: Dcase): Promise<number> {
  const { train, test } = await formattedPaths(dataDir, dcase);
  return train.length + test.length;
}

/** `synthetic dcase2023 data: 252 clips under demo/data/… (written now | already there | 20 written now)`. */
export function demoDataLine(dcase: string, root: string, written: number, present: number): string {
  const how = written === 0 ? 'already there' : written === present ? 'written now' : `${written} written now`;
  return `synthetic ${dcase} data: ${present} clips under ${root} (${how})`;
}

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'synthesize a tiny dataset (kept and reused by a rerun), run raw_spec on it and print the official-score tables',
  builder: (y) =>
    y
      .option('dcase', { type: 'string', default: 'dcase2023', describe: 'DCASE edition whose naming and machines the data imitates (dcase2020 … dcase2026)' })
      .option('data-dir', { type: 'string', default: path.join('demo', 'data'), describe: 'where the synthetic data goes (kept: a rerun reuses it)' })
      .option('result-dir', { type: 'string', default: path.join('demo', 'results'), describe: 'result root of the raw_spec run' })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' })
      .option('threads', { type: 'string', describe: 'LibTorch threads: 1 … 4 × cores, or 0 = all cores (the default; env ASDKIT_THREADS)' })
      .option('overwrite', { type: 'boolean', describe: 'recompute the run\'s outputs (the synthetic data is kept)' })
      .version(false) as unknown as Argv<DemoArgs>,
  handler: async (a) => {
    if (a.threads !== undefined) setThreads(parseThreads(a.threads));
    const dcase = assertDcase(a.dcase);
    const c = resolveRunConfig('raw_spec', { dcase, data_dir: a.dataDir, result_dir: a.resultDir, device: a.device, overwrite: a.overwrite });
    await preflight(c); // the device, before anything is written (the run prints the warnings)
    const bar = progressBar('synth');
    const s = await synthesize({ dataDir: a.dataDir, dcase, size: 'tiny', onProgress: (d, t) => bar.update(d, t), signal: interruptSignal() });
    bar.stop();
    console.log(demoDataLine(dcase, s.root, s.files, await countClips(a.dataDir, dcase)));
    await runWithOutput(c, true);
  },
};

export const doctorCommand: CommandModule = {
  command: 'doctor',
  describe: 'show the native build: LibTorch version, CUDA devices, threads, addon location',
  handler: () => {
    const info = native().info();
    const lines = [
      ['addon', nativePath() ?? '?'],
      ['LibTorch', info.torchVersion],
      ['built with CUDA', info.builtWithCuda ? 'yes' : 'no'],
      ['CUDA devices', info.cudaAvailable ? String(info.cudaDeviceCount) : 'none'],
      ['CPU bf16', info.cpuBf16 ? `yes (${info.cpuBf16Flags}; ASDKIT_CPU_BF16=0 turns it off)` : `no (${info.cpuBf16Flags})`],
      ['threads', `${setThreads(parseThreads(process.env.ASDKIT_THREADS ?? 0, 'ASDKIT_THREADS'))} (hardware: ${info.hardwareThreads}; set with --threads or ASDKIT_THREADS)`],
      [
        'CPU cache',
        info.cpuCache.installed
          ? `on, up to ${(info.cpuCache.limitBytes / 2 ** 30).toFixed(1)} GiB (ASDKIT_CPU_CACHE=<MiB> caps it, 0 turns it off)`
          : 'off (ASDKIT_CPU_CACHE=0)',
      ],
      ['node', process.version],
    ];
    for (const [k, v] of lines) console.log(`${k.padEnd(16)} ${v}`);
  },
};
