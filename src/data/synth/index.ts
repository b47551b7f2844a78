/**
 * Synthetic DCASE Task 2 dataset generator: writes the formatted layout
 * `<dataDir>/formatted/<dcase>/raw/<machine>/{train,test}/<unified name>.wav` (16 kHz mono 16-bit)
 * with each edition's naming conventions, so the toolkit can be demonstrated, tested and
 * benchmarked without the real (large, licensed) data.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SAMPLE_RATE, assertDcase } from '../../dcase/index.js';
import type { Dcase } from '../../dcase/index.js';
import { encodeWav16 } from '../wav.js';
import { defaultCounts, defaultMachines, defaultSeconds, planMachine, speedFactor } from './plan.js';
import type { ClipCounts, PlannedClip, SynthSize } from './plan.js';
import { Rng, hash32 } from './rng.js';
import { ANOMALY_KINDS, renderClip, soundClass } from './sound.js';
import type { AnomalyKind } from './sound.js';

export { ANOMALY_KINDS, defaultCounts, defaultMachines, defaultSeconds, planMachine };
export type { AnomalyKind, ClipCounts, PlannedClip, SynthSize };

export interface SynthOptions {
  dataDir: string;
  dcase: Dcase;
  seed?: number; // default 0
  /** Default: three machines for 'tiny', all of the year's machines otherwise. */
  machines?: string[];
  size?: 'tiny' | 'small' | 'dcase'; // default 'tiny'
  /** Training clips per section and domain (2020 has no target domain: `target` is ignored). */
  trainPerSection?: { source: number; target: number };
  /** Per section × domain × label. */
  testPerSection?: number;
  /** Clip length; tiny defaults to 2 s (the pipeline tiles/crops to the year's `sec`). */
  seconds?: number;
  /** 0 (anomalies sound normal) … 1 (obvious); the default gives a baseline official score ≈ 0.75. */
  anomalyStrength?: number;
  /** Regenerate machine folders that already exist (otherwise they are skipped). */
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SynthResult {
  /** `<dataDir>/formatted/<dcase>/raw` */
  root: string;
  /** Files written by this call. */
  files: number;
  /** Clip counts of the machines written by this call. */
  perMachine: Record<string, { train: number; test: number }>;
  /** Machines left alone because their folder existed (overwrite off). */
  skipped: string[];
}

export const DEFAULT_ANOMALY_STRENGTH = 0.5;

/** Files being written at once: enough to overlap I/O with synthesis, bounded for memory. */
const WRITE_CONCURRENCY = 16;

function checkCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer, got ${n}`);
}

/** Audio of one planned clip; a pure function of (seed, dcase, machine, clip name, settings). */
export function synthClip(
  dcase: Dcase,
  machine: string,
  clip: PlannedClip,
  o: { seed: number; seconds: number; anomalyStrength: number },
): { samples: Float32Array; anomaly?: AnomalyKind } {
  const rng = new Rng(hash32(o.seed, dcase, machine, clip.split, clip.name));
  const cls = soundClass(machine, clip.section, speedFactor(machine, clip.section, clip.speed), clip.mic, clip.domain === 'target');
  const anomaly = clip.label === 'anomaly' ? rng.pick(ANOMALY_KINDS) : undefined;
  const n = Math.round(o.seconds * SAMPLE_RATE);
  const samples = renderClip(cls, rng, n, SAMPLE_RATE, anomaly && { kind: anomaly, strength: o.anomalyStrength });
  return { samples, anomaly };
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

export async function synthesize(o: SynthOptions): Promise<SynthResult> {
  const dcase = assertDcase(o.dcase);
  const size = o.size ?? 'tiny';
  if (!['tiny', 'small', 'dcase'].includes(size)) throw new Error(`invalid size "${size}": expected tiny, small or dcase`);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  const def = defaultCounts(dcase, size);
  const counts: ClipCounts = { train: o.trainPerSection ?? def.train, test: o.testPerSection ?? def.test };
  checkCount('trainPerSection.source', counts.train.source);
  checkCount('trainPerSection.target', counts.train.target);
  checkCount('testPerSection', counts.test);
  const seconds = o.seconds ?? defaultSeconds(dcase, size);
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new Error(`seconds must be positive, got ${seconds}`);
  const anomalyStrength = o.anomalyStrength ?? DEFAULT_ANOMALY_STRENGTH;
  if (!(anomalyStrength >= 0 && anomalyStrength <= 1)) throw new Error(`anomalyStrength must be in [0, 1], got ${anomalyStrength}`);
  const machines = o.machines ?? defaultMachines(dcase, size);
  if (new Set(machines).size !== machines.length) throw new Error(`machines contains duplicates: ${machines.join(', ')}`);

  const root = path.join(o.dataDir, 'formatted', dcase, 'raw');
  const result: SynthResult = { root, files: 0, perMachine: {}, skipped: [] };
  const todo: { machine: string; clips: PlannedClip[] }[] = [];
  for (const machine of machines) {
    const clips = planMachine(dcase, machine, counts); // validates the machine name first
    if (!o.overwrite && (await exists(path.join(root, machine)))) result.skipped.push(machine);
    else todo.push({ machine, clips });
  }
  const total = todo.reduce((s, m) => s + m.clips.length, 0);
  o.signal?.throwIfAborted();

  for (const { machine, clips } of todo) {
    // Build the folder aside and rename it into place, so an interrupted run never leaves a
    // partial machine folder that a later run would skip.
    const formatted = path.join(o.dataDir, 'formatted', dcase);
    await fs.mkdir(formatted, { recursive: true });
    const tmp = await fs.mkdtemp(path.join(formatted, `.synth-${machine}-`));
    const inflight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    try {
      await fs.mkdir(path.join(tmp, 'train'), { recursive: true });
      await fs.mkdir(path.join(tmp, 'test'), { recursive: true });
      for (const clip of clips) {
        o.signal?.throwIfAborted();
        if (failure) throw failure.error;
        const { samples } = synthClip(dcase, machine, clip, { seed, seconds, anomalyStrength });
        const p: Promise<void> = fs
          .writeFile(path.join(tmp, clip.split, clip.name), encodeWav16(samples, SAMPLE_RATE))
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
      o.signal?.throwIfAborted();
      const dest = path.join(root, machine);
      await fs.mkdir(root, { recursive: true });
      await fs.rm(dest, { recursive: true, force: true });
      await fs.rename(tmp, dest);
    } catch (e) {
      await Promise.allSettled(inflight);
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
    const train = clips.filter((c) => c.split === 'train').length;
    result.perMachine[machine] = { train, test: clips.length - train };
  }
  return result;
}
