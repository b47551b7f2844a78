/**
 * Wall time of every step of a recipe run, kept in `<output dir>/timings.json` for `asdkit report`.
 * A rerun appends a new session instead of replacing the file: its steps are mostly skips, and
 * the times of the session that did the work are what a reader wants to see.
 */
import { promises as fs } from 'node:fs';
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

export interface TimingsFile {
  sessions: Array<{ started: string; steps: StepTiming[] }>;
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

  /** Starts a session; earlier sessions in `file` are kept (an unreadable file is started afresh). */
  static async open(file: string): Promise<StepTimer> {
    const data = (await readTimings(file)) ?? { sessions: [] };
    const session: StepTiming[] = [];
    data.sessions.push({ started: new Date().toISOString(), steps: session });
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
