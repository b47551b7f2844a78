/**
 * Synthetic DCASE Task 2 dataset generator (16 kHz 16-bit WAV, mono; 2026 two-channel) with each
 * edition's naming conventions, so the toolkit can be demonstrated, tested and benchmarked
 * without the real (large, licensed) data. Two layouts:
 * - `formatted`: `<dataDir>/formatted/<dcase>/raw/<machine>/{train,test}/<unified name>.wav`,
 *   ready for the recipes;
 * - `original`: `<dataDir>/original/<dcase>/{dev,eval}_data/raw/<machine>/...` as `asdkit
 *   download` leaves it, with real evaluation file names from the ground-truth lists, ready for
 *   `asdkit format` (see original.ts).
 * 2025 machine folders also get `supplemental/` clips. 2026 clips are two-channel like the real
 * ones: channel 0 the near microphone (the clip other years get), channel 1 a far one that hears
 * the same machine sound FAR_MACHINE_DB quieter under FAR_AMBIENT_DB stronger ambient noise of
 * its own, so the far channel alone is worth less. Clip lengths per machine: machineDefaultSeconds.
 * Every machine folder gets `faults.csv`: the fault of each anomalous clip (`file` relative to
 * the folder, `fault` an AnomalyKind), so scores can be broken down by fault; no step reads it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SAMPLE_RATE, assertDcase, officialSections, recipeMachines } from '../../dcase/index.js';
import type { Dcase } from '../../dcase/index.js';
import { toCsv } from '../../util/csv.js';
import { encodeWav16 } from '../wav.js';
import { sourceFolders } from '../format.js';
import { planOriginal } from './original.js';
import { channelsOf, defaultCounts, defaultMachines, defaultSeconds, machineDefaultSeconds, planMachine, speedFactor } from './plan.js';
import type { ClipCounts, PlannedClip, SynthSize } from './plan.js';
import { Rng, hash32 } from '../../util/rng.js';
import { ANOMALY_KINDS, SPECTRAL_ANOMALY_KINDS, TEMPORAL_ANOMALY_KINDS, renderClip, renderParts, soundClass } from './sound.js';
import type { AnomalyKind } from './sound.js';

export {
  ANOMALY_KINDS, SPECTRAL_ANOMALY_KINDS, TEMPORAL_ANOMALY_KINDS, channelsOf, defaultCounts, defaultMachines, defaultSeconds,
  machineDefaultSeconds, planMachine, planOriginal,
};
export type { AnomalyKind, ClipCounts, PlannedClip, SynthSize };

/**
 * Which faults anomalous clips get (one each, drawn uniformly): `spectral` ones show in the
 * time-averaged spectrum, `temporal` ones do not, `mixed` draws from both.
 */
export type AnomalySet = 'spectral' | 'temporal' | 'mixed';
export const ANOMALY_SETS: Readonly<Record<AnomalySet, readonly AnomalyKind[]>> = {
  spectral: SPECTRAL_ANOMALY_KINDS,
  temporal: TEMPORAL_ANOMALY_KINDS,
  mixed: ANOMALY_KINDS,
};

export type SynthLayout = 'formatted' | 'original';
export const SYNTH_LAYOUTS: readonly SynthLayout[] = ['formatted', 'original'];

export interface SynthOptions {
  dataDir: string;
  dcase: Dcase;
  /** Default 'formatted'. */
  layout?: SynthLayout;
  seed?: number; // default 0
  /**
   * Default: formatted layout, three machines for 'tiny' and all of the year's otherwise;
   * original layout, all of the year's (format needs every machine folder).
   */
  machines?: string[];
  size?: 'tiny' | 'small' | 'dcase'; // default 'tiny'
  /** Training clips per section and domain (2020 has no target domain: `target` is ignored). */
  trainPerSection?: { source: number; target: number };
  /** Per section × domain × label. */
  testPerSection?: number;
  /**
   * Clip length of every machine; default machineDefaultSeconds (tiny 2 s; the pipeline
   * tiles/crops to the year's `sec`).
   */
  seconds?: number;
  /** 0 (anomalies sound normal) … 1 (obvious); the default gives a baseline official score ≈ 0.75. */
  anomalyStrength?: number;
  /** Default DEFAULT_ANOMALY_SET. */
  anomalies?: AnomalySet;
  /** Regenerate machine folders that already exist (otherwise they are left alone). */
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SynthResult {
  /** `<dataDir>/formatted/<dcase>/raw` or `<dataDir>/original/<dcase>` */
  root: string;
  /** Files written by this call. */
  files: number;
  /** Clip counts of the machines written by this call (dev and eval together). */
  perMachine: Record<string, { train: number; test: number; supplemental: number }>;
  /** Machine folders left alone because they existed (overwrite off), relative to `root`. */
  skipped: string[];
}

export const DEFAULT_ANOMALY_STRENGTH = 0.5;
/** The faults of earlier versions, so that their datasets stay the same byte for byte. */
export const DEFAULT_ANOMALY_SET: AnomalySet = 'spectral';

/** Written into every synthetic machine folder: which fault each anomalous clip has. */
export const FAULTS_FILE = 'faults.csv';

/** Files being written at once: enough to overlap I/O with synthesis, bounded for memory. */
const WRITE_CONCURRENCY = 16;

function checkCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer, got ${n}`);
}

/** Far microphone (2026 channel 1): machine sound attenuation and ambient noise boost, in dB. */
export const FAR_MACHINE_DB = -12;
export const FAR_AMBIENT_DB = 6;

/**
 * Audio of one planned clip; a pure function of (seed, dcase, machine, clip name, settings).
 * `samples` holds `channels` interleaved channels (2 in 2026, else 1).
 */
export function synthClip(
  dcase: Dcase,
  machine: string,
  clip: PlannedClip,
  o: { seed: number; seconds: number; anomalyStrength: number; anomalies?: AnomalySet },
): { samples: Float32Array; channels: number; anomaly?: AnomalyKind } {
  const rng = new Rng(hash32(o.seed, dcase, machine, clip.split, clip.name));
  const cls = soundClass(machine, clip.section, speedFactor(machine, clip.section, clip.speed), clip.mic, clip.domain === 'target');
  // Supplemental clips stand for the clean recordings: the machine without background noise.
  if (clip.split === 'supplemental') cls.ambient = 0;
  const anomaly = clip.label === 'anomaly' ? rng.pick(ANOMALY_SETS[o.anomalies ?? DEFAULT_ANOMALY_SET]) : undefined;
  const n = Math.round(o.seconds * SAMPLE_RATE);
  const fault = anomaly && { kind: anomaly, strength: o.anomalyStrength };
  const channels = channelsOf(dcase);
  if (channels === 1) return { samples: renderClip(cls, rng, n, SAMPLE_RATE, fault), channels, anomaly };
  const { mix: near, ambient } = renderParts(cls, rng, n, SAMPLE_RATE, fault);
  // The far microphone's ambient noise is its own (independent draw), FAR_AMBIENT_DB above the near one's.
  const farRng = new Rng(hash32(o.seed, dcase, machine, clip.split, clip.name, 'far'));
  let ambRms = 0;
  for (let i = 0; i < n; i++) ambRms += ambient[i] * ambient[i];
  ambRms = Math.sqrt(ambRms / Math.max(1, n));
  const gMachine = 10 ** (FAR_MACHINE_DB / 20);
  const gAmb = 10 ** (FAR_AMBIENT_DB / 20) * ambRms * Math.sqrt(3); // uniform noise of unit variance
  const samples = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    samples[2 * i] = near[i];
    samples[2 * i + 1] = gMachine * (near[i] - ambient[i]) + gAmb * (2 * farRng.next() - 1);
  }
  return { samples, channels, anomaly };
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** One machine folder, written as a whole: its sub-folders and clips (paths relative to it). */
interface Unit {
  machine: string;
  /** The folder relative to the layout root. */
  rel: string;
  folders: string[];
  clips: { clip: PlannedClip; file: string }[];
}

/** The machine folders of one machine type: one formatted folder, or one per subset it belongs to. */
async function unitsOf(layout: SynthLayout, dcase: Dcase, machine: string, counts: ClipCounts): Promise<Unit[]> {
  if (layout === 'formatted') {
    const planned = planMachine(dcase, machine, counts);
    const folders = [...new Set(['train', 'test', ...planned.map((c) => c.split)])];
    return [{ machine, rel: machine, folders, clips: planned.map((clip) => ({ clip, file: path.join(clip.split, clip.name) })) }];
  }
  const planned = await planOriginal(dcase, machine, counts);
  return (['dev', 'eval'] as const)
    .filter((subset) => officialSections(dcase, machine, subset).length > 0)
    .map((subset) => {
      const mine = planned.filter((c) => c.subset === subset);
      // The folders format demands exist even when a count is 0.
      const folders = [...new Set([...sourceFolders(dcase), ...mine.map((c) => c.folder)])];
      return { machine, rel: path.join(`${subset}_data`, 'raw', machine), folders, clips: mine.map((clip) => ({ clip, file: path.join(clip.folder, clip.file) })) };
    });
}

export async function synthesize(o: SynthOptions): Promise<SynthResult> {
  const dcase = assertDcase(o.dcase);
  const layout = o.layout ?? 'formatted';
  if (!SYNTH_LAYOUTS.includes(layout)) throw new Error(`invalid layout "${layout}": expected ${SYNTH_LAYOUTS.join(' or ')}`);
  const size = o.size ?? 'tiny';
  if (!['tiny', 'small', 'dcase'].includes(size)) throw new Error(`invalid size "${size}": expected tiny, small or dcase`);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  const def = defaultCounts(dcase, size);
  const counts: ClipCounts = { train: o.trainPerSection ?? def.train, test: o.testPerSection ?? def.test };
  checkCount('trainPerSection.source', counts.train.source);
  checkCount('trainPerSection.target', counts.train.target);
  checkCount('testPerSection', counts.test);
  if (o.seconds !== undefined && (!(o.seconds > 0) || !Number.isFinite(o.seconds))) throw new Error(`seconds must be positive, got ${o.seconds}`);
  const anomalyStrength = o.anomalyStrength ?? DEFAULT_ANOMALY_STRENGTH;
  if (!(anomalyStrength >= 0 && anomalyStrength <= 1)) throw new Error(`anomalyStrength must be in [0, 1], got ${anomalyStrength}`);
  const anomalies = o.anomalies ?? DEFAULT_ANOMALY_SET;
  if (!Object.hasOwn(ANOMALY_SETS, anomalies)) throw new Error(`invalid anomalies "${anomalies}": expected ${Object.keys(ANOMALY_SETS).join(', ')}`);
  const machines = o.machines ?? (layout === 'original' ? recipeMachines(dcase) : defaultMachines(dcase, size));
  if (new Set(machines).size !== machines.length) throw new Error(`machines contains duplicates: ${machines.join(', ')}`);

  // Machine folders are built aside in `base` (outside any folder the later steps scan) and
  // renamed into place, so an interrupted run never leaves a partial folder a later run would skip.
  const base = path.join(o.dataDir, layout, dcase);
  const root = layout === 'formatted' ? path.join(base, 'raw') : base;
  const result: SynthResult = { root, files: 0, perMachine: {}, skipped: [] };
  const todo: Unit[] = [];
  for (const machine of machines) {
    for (const unit of await unitsOf(layout, dcase, machine, counts)) {
      if (!o.overwrite && (await exists(path.join(root, unit.rel)))) result.skipped.push(unit.rel);
      else todo.push(unit);
    }
  }
  const total = todo.reduce((s, u) => s + u.clips.length, 0);
  o.signal?.throwIfAborted();

  for (const unit of todo) {
    await fs.mkdir(base, { recursive: true });
    const tmp = await fs.mkdtemp(path.join(base, `.synth-${unit.machine}-`));
    const inflight = new Set<Promise<void>>();
    const faults: [string, AnomalyKind][] = [];
    let failure: { error: unknown } | undefined;
    try {
      for (const f of unit.folders) await fs.mkdir(path.join(tmp, f), { recursive: true });
      for (const { clip, file } of unit.clips) {
        o.signal?.throwIfAborted();
        if (failure) throw failure.error;
        const seconds = o.seconds ?? machineDefaultSeconds(dcase, unit.machine, size);
        const { samples, channels, anomaly } = synthClip(dcase, unit.machine, clip, { seed, seconds, anomalyStrength, anomalies });
        if (anomaly) faults.push([file.split(path.sep).join('/'), anomaly]);
        const p: Promise<void> = fs
          .writeFile(path.join(tmp, file), encodeWav16(samples, SAMPLE_RATE, channels))
          .then(() => {
            result.files++;
            o.onProgress?.(result.files, total);
          })
          // Never rejects: the first error (write or callback) is rethrown by the loop.
          .catch((e: unknown) => {
            failure ??= { error: e };
          })
          .finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= WRITE_CONCURRENCY) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      if (failure) throw failure.error;
      await fs.writeFile(path.join(tmp, FAULTS_FILE), toCsv(['file', 'fault'], faults));
      o.signal?.throwIfAborted();
      const dest = path.join(root, unit.rel);
      await fs.mkdir(path.dirname(dest), { recursive: true });
      await fs.rm(dest, { recursive: true, force: true });
      await fs.rename(tmp, dest);
    } catch (e) {
      await Promise.allSettled(inflight);
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
    const n = (result.perMachine[unit.machine] ??= { train: 0, test: 0, supplemental: 0 });
    for (const { clip } of unit.clips) n[clip.split]++;
  }
  return result;
}
