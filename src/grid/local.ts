/**
 * The local executor: a bounded pool of child processes, each running one cell
 * (`asdkit grid cell GRID --index i`) with its output in the cell's log, pinned to one device
 * (round robin over `devices`) or to `threadsPerJob` LibTorch threads. No scheduler: at most
 * `jobs` children at once, cells in grid order. Abort (Ctrl-C) interrupts the children, which
 * stop cleanly; a rerun resumes (finished cells are skipped, training continues from last.ckpt).
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { GridCell } from './cells.js';
import { localLog } from './state.js';
import type { GridSpec } from './spec.js';

export interface LocalOptions {
  /** How to start `asdkit` (e.g. [node, …execArgv, main.js]). */
  command: string[];
  gridFile: string;
  jobs: number;
  devices?: string[];
  threadsPerJob?: number;
  signal?: AbortSignal;
  onStart?: (cell: GridCell, log: string) => void;
  onEnd?: (cell: GridCell, code: number | null, log: string) => void;
}

export interface LocalResult {
  ok: GridCell[];
  failed: Array<{ cell: GridCell; code: number | null; log: string }>;
  interrupted: boolean;
}

export async function runLocal(g: GridSpec, cells: readonly GridCell[], o: LocalOptions): Promise<LocalResult> {
  if (!(Number.isInteger(o.jobs) && o.jobs >= 1)) throw new RangeError(`--jobs must be a positive integer, got ${o.jobs}`);
  const result: LocalResult = { ok: [], failed: [], interrupted: false };
  const queue = [...cells];
  const live = new Set<ReturnType<typeof spawn>>();
  const onAbort = () => {
    result.interrupted = true;
    for (const child of live) child.kill('SIGINT');
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let slot = 0;
  const worker = async () => {
    for (;;) {
      const cell = queue.shift();
      if (!cell || o.signal?.aborted) return;
      const device = o.devices?.length ? o.devices[slot++ % o.devices.length] : undefined;
      const log = localLog(g, cell);
      await fs.mkdir(path.dirname(log), { recursive: true });
      const fh = await fs.open(log, 'a');
      const args = [...o.command.slice(1), 'grid', 'cell', o.gridFile, '--index', String(cell.index), '--log', log, ...(device ? ['--device', device] : [])];
      const env = { ...process.env, ...(o.threadsPerJob ? { ASDKIT_THREADS: String(o.threadsPerJob) } : {}), ASDKIT_PROGRESS_SECONDS: process.env.ASDKIT_PROGRESS_SECONDS ?? '30' };
      o.onStart?.(cell, log);
      // Its own process group: a terminal's Ctrl-C reaches the children through us, once.
      const child = spawn(o.command[0], args, { stdio: ['ignore', fh.fd, fh.fd], env, detached: true });
      live.add(child);
      const code = await new Promise<number | null>((resolve) => {
        child.on('error', () => resolve(null));
        child.on('exit', (c) => resolve(c));
      });
      live.delete(child);
      await fh.close();
      o.onEnd?.(cell, code, log);
      if (code === 0) result.ok.push(cell);
      else result.failed.push({ cell, code, log });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.jobs, cells.length) }, worker));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  return result;
}
