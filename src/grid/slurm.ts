/**
 * The Slurm executor: the cells to run become ONE job array (`--array=<cell indices>`), each array
 * task running `asdkit grid cell GRID --index $SLURM_ARRAY_TASK_ID`. The sbatch script is written
 * to `<gridDir>/slurm/` so it can be read and resubmitted by hand. With `wait`, the job is polled
 * with `squeue` only (no slurmdbd / sacct needed); once no task is left in the queue, each cell is
 * classified from the result tree and the record its task wrote (src/grid/state.ts).
 *
 * Tasks are submitted with `--requeue`: a preempted task reruns `grid cell`, which resumes from
 * the last checkpoint. A rerun of `grid run` submits only the cells not done.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeAtomic } from '../util/files.js';
import { gridDir, type GridCell } from './cells.js';
import { cellDone, logTail, readRecord } from './state.js';
import type { GridSpec } from './spec.js';

const exec = promisify(execFile);

export interface SlurmOptions {
  /** How to start asdkit on the node: [node, ...execArgv, /abs/path/main.(ts|js)]. */
  command: string[];
  /** Absolute path of the grid YAML. */
  gridFile: string;
  partition?: string;
  gres?: string;
  cpusPerTask?: number;
  mem?: string;
  time?: string;
  /** Array tasks at once (`--array=…%K`). */
  maxParallel?: number;
  sbatchArgs?: string[];
  /** false: submit and return. */
  wait: boolean;
  /** Seconds between squeue polls (default: env ASDKIT_SLURM_POLL_SECONDS, else 10). */
  pollSeconds?: number;
  /** Abort while waiting: stop waiting (the job keeps running) and return what is known. */
  signal?: AbortSignal;
  onMessage?: (line: string) => void;
}

export type SlurmFailure = 'failed' | 'cancelled' | 'interrupted' | 'unknown';

export interface SlurmResult {
  jobId: string;
  script: string;
  submitted: GridCell[];
  done: GridCell[];
  failed: Array<{ cell: GridCell; state: SlurmFailure; log?: string; tail: string[] }>;
}

/** Cell indices as a Slurm array spec: `0-3,7,9-10`. */
export function arraySpec(indices: readonly number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** One word for bash: left bare when it cannot be misread, else single-quoted. */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** sbatch reads `#SBATCH` lines with its own tokenizer, which honours double quotes. */
const sbatchWord = (word: string) => (/[\s"']/.test(word) ? `"${word.replace(/(["\\])/g, '\\$1')}"` : word);

export function sbatchScript(g: GridSpec, cells: readonly GridCell[], o: SlurmOptions, scriptFile: string): string {
  if (cells.length === 0) throw new Error('no cells to submit');
  if (o.maxParallel !== undefined && !(Number.isInteger(o.maxParallel) && o.maxParallel >= 1)) {
    throw new RangeError(`--max-parallel must be a positive integer, got ${o.maxParallel}`);
  }
  if (o.cpusPerTask !== undefined && !(Number.isInteger(o.cpusPerTask) && o.cpusPerTask >= 1)) {
    throw new RangeError(`--cpus-per-task must be a positive integer, got ${o.cpusPerTask}`);
  }
  const slurmDir = path.resolve(gridDir(g), 'slurm');
  const opts: string[] = [
    `--job-name=asdkit-${g.name}`,
    `--array=${arraySpec(cells.map((c) => c.index))}${o.maxParallel ? `%${o.maxParallel}` : ''}`,
    `--output=${path.join(slurmDir, '%A_%a.log')}`,
    `--chdir=${process.cwd()}`,
    '--requeue',
    ...(o.cpusPerTask ? [`--cpus-per-task=${o.cpusPerTask}`] : []),
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    ...(o.gres ? [`--gres=${o.gres}`] : []),
    ...(o.mem ? [`--mem=${o.mem}`] : []),
    ...(o.time ? [`--time=${o.time}`] : []),
    ...(o.sbatchArgs ?? []),
  ];
  const run = [...o.command, 'grid', 'cell', o.gridFile].map(shellQuote).join(' ');
  return [
    '#!/bin/bash',
    `# asdkit grid "${g.name}": ${cells.length} cell(s) as one Slurm job array; array task i runs cell i`,
    `# (\`asdkit grid plan ${shellQuote(o.gridFile)}\` lists the indices). Written by \`asdkit grid run --executor slurm\`.`,
    '#',
    '# Rerun what is unfinished:  asdkit grid run ' + shellQuote(o.gridFile) + ' --executor slurm',
    `# Resubmit these same cells: sbatch ${shellQuote(scriptFile)}   (finished steps are not redone)`,
    `# Task logs: ${path.join(slurmDir, '<job>_<index>.log')}`,
    ...opts.map((x) => `#SBATCH ${sbatchWord(x)}`),
    '',
    '# LibTorch uses the cores Slurm gave the task (0 = all cores when --cpus-per-task is not set).',
    'export ASDKIT_THREADS=${SLURM_CPUS_PER_TASK:-0}',
    `exec ${run} --index "$SLURM_ARRAY_TASK_ID"`,
    '',
  ].join('\n');
}

/** Runs a Slurm client; a missing binary or a non-zero exit is an Error quoting its stderr. */
async function slurmClient(bin: string, args: string[]): Promise<string> {
  try {
    return (await exec(bin, args, { maxBuffer: 16 << 20 })).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; code?: string | number };
    if (err.code === 'ENOENT') throw new Error(`${bin} not found: is this a Slurm login node (is Slurm on PATH)?`);
    const why = (err.stderr ?? '').trim() || err.message;
    throw new Error(`${bin} ${args.join(' ')} failed (exit ${String(err.code)}): ${why}`);
  }
}

/** Tasks of the job still known to squeue: `<job>_<index>` → Slurm state. */
async function queued(jobId: string): Promise<Map<string, string> | 'gone'> {
  let out: string;
  try {
    out = await slurmClient('squeue', ['-h', '-j', jobId, '-r', '-o', '%i %T']);
  } catch (e) {
    // Once a finished job has aged out of the controller (MinJobAge), squeue no longer knows its id.
    if (/invalid job id/i.test((e as Error).message)) return 'gone';
    throw e;
  }
  const tasks = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [id, state] = line.trim().split(/\s+/);
    if (id && state) tasks.set(id, state);
  }
  return tasks;
}

/**
 * The array tasks (`<job>_<task>`) Slurm still holds, pending, running or requeued, for these jobs;
 * undefined when squeue cannot answer (no Slurm here, controller down). A cell record still
 * "running" whose task is not held was killed before it could say so (scancel, time limit).
 */
export async function slurmQueued(jobs: Iterable<string>): Promise<Set<string> | undefined> {
  const held = new Set<string>();
  try {
    for (const job of new Set(jobs)) {
      const tasks = await queued(job);
      if (tasks !== 'gone') for (const id of tasks.keys()) held.add(id);
    }
  } catch {
    return undefined;
  }
  return held;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

export async function runSlurm(g: GridSpec, cells: GridCell[], o: SlurmOptions): Promise<SlurmResult> {
  const say = o.onMessage ?? (() => {});
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const script = path.resolve(gridDir(g), 'slurm', `grid-${stamp}.sbatch`);
  await writeAtomic(script, sbatchScript(g, cells, o, script));
  const out = await slurmClient('sbatch', ['--parsable', script]);
  // --parsable prints `<job id>` or `<job id>;<cluster>`.
  const jobId = out.trim().split('\n').pop()!.split(';')[0].trim();
  if (!/^\d+$/.test(jobId)) throw new Error(`sbatch ${script}: unexpected output ${JSON.stringify(out.trim())}`);
  say(`submitted Slurm job ${jobId}: ${cells.length} cell(s) (array ${arraySpec(cells.map((c) => c.index))}), script ${script}`);
  const result: SlurmResult = { jobId, script, submitted: cells, done: [], failed: [] };
  if (!o.wait) {
    say(`not waiting: follow it with \`squeue -j ${jobId}\` and \`asdkit grid status ${shellQuote(o.gridFile)}\``);
    return result;
  }

  const pollMs = 1000 * (o.pollSeconds ?? Number(process.env.ASDKIT_SLURM_POLL_SECONDS ?? 10));
  if (!(pollMs > 0)) throw new RangeError(`poll interval must be positive seconds, got ${pollMs / 1000}`);
  let last = '';
  let errors = 0;
  for (;;) {
    if (o.signal?.aborted) break;
    let tasks: Map<string, string> | 'gone';
    try {
      tasks = await queued(jobId);
      errors = 0;
    } catch (e) {
      // A controller restart or a network blip: keep waiting a while before giving up.
      if (++errors >= 10) {
        say(`giving up waiting for job ${jobId}: ${(e as Error).message}`);
        break;
      }
      say(`squeue: ${(e as Error).message} (retrying)`);
      await sleep(pollMs, o.signal);
      continue;
    }
    const finished = tasks === 'gone' || tasks.size === 0;
    const byState = new Map<string, number>();
    if (tasks !== 'gone') for (const s of tasks.values()) byState.set(s, (byState.get(s) ?? 0) + 1);
    const doneNow = (await Promise.all(cells.map((c) => cellDone(c)))).filter(Boolean).length;
    const states = [...byState].map(([s, n]) => `${n} ${s.toLowerCase()}`).join(', ') || 'no tasks queued';
    const line = `job ${jobId}: ${states}; ${doneNow}/${cells.length} cell(s) done`;
    if (line !== last) say(line);
    last = line;
    if (finished) break;
    await sleep(pollMs, o.signal);
  }
  if (o.signal?.aborted) say(`stopped waiting; job ${jobId} keeps running (scancel ${jobId} stops it)`);
  return { ...result, ...(await classify(g, cells, jobId, !o.signal?.aborted)) };
}

/**
 * What became of each submitted cell. Only a record written by this job counts: an older one (from
 * an earlier run of the cell) says nothing about this job's task. `over` = the job has left the
 * queue, so a cell with no outcome yet is a failure; otherwise (we stopped waiting early) it is
 * still pending or running and left out.
 */
async function classify(g: GridSpec, cells: readonly GridCell[], jobId: string, over: boolean): Promise<Pick<SlurmResult, 'done' | 'failed'>> {
  const done: GridCell[] = [];
  const failed: SlurmResult['failed'] = [];
  for (const cell of cells) {
    if (await cellDone(cell)) {
      done.push(cell);
      continue;
    }
    const rec = await readRecord(g, cell);
    const mine = rec?.slurm?.job === jobId ? rec : undefined;
    let state: SlurmFailure | undefined;
    if (mine?.state === 'failed' || mine?.state === 'done') state = 'failed'; // "done" without its tables
    else if (mine?.state === 'interrupted') state = 'interrupted';
    else if (!over) state = undefined;
    // Still "running" after the task left the queue: killed before it could write (scancel, time limit, node lost).
    else if (mine?.state === 'running') state = 'cancelled';
    else state = 'unknown'; // never started (cancelled while pending, or sbatch/node trouble)
    if (!state) continue;
    const log = mine?.log ?? path.join(gridDir(g), 'slurm', `${jobId}_${cell.index}.log`);
    failed.push({ cell, state, log, tail: await logTail(log) });
  }
  return { done, failed };
}
