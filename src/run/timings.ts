/**
 * Wall time of every step of a recipe run, kept in `<output dir>/timings.json` for `asdkit report`.
 * A rerun appends a new session instead of replacing the file: its steps are mostly skips, and
 * the times of the session that did the work are what a reader wants to see. Each session also
 * records where and how it ran (its provenance: versions, device, command line, host, data folder).
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { isSkipped } from './outcome.js';
import { writeAtomic } from '../util/files.js';

export interface StepTiming {
  step: string;
  machine?: string;
  status: 'done' | 'skipped' | 'failed';
  /** ISO time the step started. */
  start: string;
  seconds: number;
}

/** Where and how a session ran. Older timings files have none; every field is optional to readers. */
export interface Provenance {
  asdkitVersion?: string;
  libtorchVersion?: string;
  /** The device string the run used (`cpu`, `cuda:0`). */
  device?: string;
  /** CUDA devices seen by LibTorch (0 without CUDA). */
  cudaDevices?: number;
  threads?: number;
  /** The process's arguments as typed (node and script paths left out). */
  commandLine?: string;
  cwd?: string;
  host?: string;
  user?: string;
  platform?: string;
  node?: string;
  /** Absolute path of the data folder. */
  dataDir?: string;
}

export interface TimingSession {
  started: string;
  /** Absent in files written before asdkit recorded it. */
  provenance?: Provenance;
  steps: StepTiming[];
}

export interface TimingsFile {
  sessions: TimingSession[];
}

let packageVersion: string | undefined;
/** This package's version (package.json two folders up, from src/ and dist/ alike). */
export function asdkitVersion(): string | undefined {
  if (packageVersion === undefined) {
    try {
      packageVersion = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
    } catch {
      packageVersion = '';
    }
  }
  return packageVersion || undefined;
}

const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/** The provenance of this process, plus what the caller knows (device, LibTorch, data folder). */
export function currentProvenance(known: Provenance = {}): Provenance {
  const script = process.argv[1] ? path.basename(process.argv[1]).replace(/\.[cm]?[jt]s$/, '') : 'node';
  let user: string | undefined;
  try {
    user = os.userInfo().username;
  } catch {
    user = undefined;
  }
  return {
    asdkitVersion: asdkitVersion(),
    commandLine: [script === 'main' ? 'asdkit' : script, ...process.argv.slice(2)].map(quote).join(' '),
    cwd: process.cwd(),
    host: os.hostname(),
    user,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ...known,
    ...(known.dataDir ? { dataDir: path.resolve(known.dataDir) } : {}),
  };
}

export const TIMINGS_FILE = 'timings.json';

/** The recorded sessions, or undefined when the file is missing or not a timings file. */
export async function readTimings(file: string): Promise<TimingsFile | undefined> {
  try {
    const t = JSON.parse(await fs.readFile(file, 'utf8')) as TimingsFile;
    return Array.isArray(t.sessions) ? t : undefined;
  } catch {
    return undefined;
  }
}

export class StepTimer {
  private constructor(
    private readonly file: string,
    private readonly data: TimingsFile,
    private readonly session: StepTiming[],
  ) {}

  /**
   * Starts a session; earlier sessions in `file` are kept (an unreadable file is started afresh).
   * `provenance` is stored with the session (written with its first step).
   */
  static async open(file: string, provenance?: Provenance): Promise<StepTimer> {
    const data = (await readTimings(file)) ?? { sessions: [] };
    const session: StepTiming[] = [];
    data.sessions.push({ started: new Date().toISOString(), ...(provenance ? { provenance } : {}), steps: session });
    return new StepTimer(file, data, session);
  }

  /** Runs `fn`, then records its wall time and outcome (a `Skipped` result counts as skipped). */
  async time<T>(step: string, machine: string | undefined, fn: () => Promise<T>): Promise<T> {
    const start = new Date();
    const t0 = performance.now();
    let status: StepTiming['status'] = 'failed';
    try {
      const r = await fn();
      status = isSkipped(r) ? 'skipped' : 'done';
      return r;
    } finally {
      this.session.push({ step, machine, status, start: start.toISOString(), seconds: (performance.now() - t0) / 1000 });
      await writeAtomic(this.file, JSON.stringify(this.data, null, 1) + '\n');
    }
  }
}
