/**
 * What state each cell is in. The result tree decides "done" (the cell's tables exist, as the
 * table step recorded them); a small record per cell, written by the process that runs it
 * (`grid/cells/<id>.json`: running with PID and host, then done / failed with the exit status,
 * or interrupted), tells running, failed and interrupted apart. A "running" record whose local
 * process is gone reads as interrupted.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { recordedOutputs } from '../run/index.js';
import { exists, pidAlive, writeAtomic } from '../util/files.js';
import { cellOutputDir, gridDir, type GridCell } from './cells.js';
import type { GridSpec } from './spec.js';

export type CellState = 'done' | 'running' | 'failed' | 'interrupted' | 'pending';
export const CELL_STATES: readonly CellState[] = ['done', 'running', 'failed', 'interrupted', 'pending'];

export interface CellRecord {
  state: 'running' | 'done' | 'failed' | 'interrupted';
  pid: number;
  host: string;
  started: string;
  ended?: string;
  /** Exit status of the run (failed: non-zero). */
  code?: number;
  /** The cell's log file. */
  log: string;
  /** Slurm job and array task, when it ran as one. */
  slurm?: { job: string; task: string };
}

export const recordFile = (g: GridSpec, c: GridCell) => path.join(gridDir(g), 'cells', `${c.id}.json`);
/** The log of a cell run by the local executor (Slurm tasks log to `grid/slurm/<job>_<task>.log`). */
export const localLog = (g: GridSpec, c: GridCell) => path.join(gridDir(g), 'logs', `${c.id}.log`);

export async function readRecord(g: GridSpec, c: GridCell): Promise<CellRecord | undefined> {
  try {
    return JSON.parse(await fs.readFile(recordFile(g, c), 'utf8')) as CellRecord;
  } catch {
    return undefined;
  }
}

export async function writeRecord(g: GridSpec, c: GridCell, r: CellRecord): Promise<void> {
  await fs.mkdir(path.dirname(recordFile(g, c)), { recursive: true });
  await writeAtomic(recordFile(g, c), `${JSON.stringify(r, null, 2)}\n`);
}

/** A cell is done when the table step recorded its tables and they all exist. */
export async function cellDone(c: GridCell): Promise<boolean> {
  const dir = cellOutputDir(c);
  const tables = await recordedOutputs(dir, 'table');
  if (!tables?.length) return false;
  return (await Promise.all(tables.map((t) => exists(path.join(dir, t))))).every(Boolean);
}

export interface CellStatus {
  cell: GridCell;
  state: CellState;
  record?: CellRecord;
}

export async function cellStatus(g: GridSpec, c: GridCell): Promise<CellStatus> {
  const record = await readRecord(g, c);
  if (await cellDone(c)) return { cell: c, state: 'done', record };
  if (!record) return { cell: c, state: 'pending' };
  if (record.state === 'running') {
    const local = record.host === os.hostname() && !record.slurm;
    return { cell: c, state: local && !pidAlive(record.pid) ? 'interrupted' : 'running', record };
  }
  if (record.state === 'done') return { cell: c, state: 'failed', record }; // said done, tables gone
  return { cell: c, state: record.state, record };
}

/** The last `n` lines of a log (for `grid status`). */
export async function logTail(file: string, n = 8): Promise<string[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.replace(/\r/g, '\n').split('\n').filter((l) => l.trim()).slice(-n);
}
