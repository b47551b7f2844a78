/**
 * `asdkit grid plan|status|run|cell|table`: benchmark grids (src/grid). A grid is a YAML file or
 * flags (`--name --recipes --years --seeds …`, written to `<result_dir>/<name>/grid/grid.yaml` by
 * `grid run` so that workers and later commands read the same grid).
 */
import os from 'node:os';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import YAML from 'yaml';
import { gridCells, gridDir, type GridCell } from '../../grid/cells.js';
import { runLocal } from '../../grid/local.js';
import { prepareShared } from '../../grid/prepare.js';
import { runSlurm, slurmQueued } from '../../grid/slurm.js';
import { parseGrid, readGridFile, type GridSpec } from '../../grid/spec.js';
import { CELL_STATES, cellStatus, localLog, logTail, writeRecord, type CellState, type CellStatus } from '../../grid/state.js';
import { gridTable } from '../../grid/table.js';
import { parseThreads } from '../../util/threads.js';
import { writeAtomic } from '../../util/files.js';
import { runWithOutput } from './run.js';
import { interruptSignal, wasInterrupted } from '../progress.js';

interface GridArgs {
  grid?: string;
  name?: string;
  recipes?: string[];
  years?: string[];
  seeds?: string;
  machine?: string[];
  set?: string[];
  dataDir?: string;
  resultDir?: string;
}

const gridOptions = <T>(y: Argv<T>) =>
  y
    .positional('grid', { type: 'string', describe: 'grid file (YAML); or give the grid with the flags below' })
    .option('name', { type: 'string', describe: 'grid name: results/<name>/… (flags form)' })
    .option('recipes', { type: 'string', array: true, describe: 'recipes (flags form)' })
    .option('years', { type: 'string', array: true, describe: 'DCASE years, e.g. dcase2023 dcase2024 (flags form)' })
    .option('seeds', { type: 'string', describe: 'seeds: 0-3 or 0,1,2 (flags form)' })
    .option('machine', { type: 'string', array: true, describe: 'only these machine types (flags form)' })
    .option('set', { type: 'string', array: true, describe: 'key=value for every cell (flags form)' })
    .option('data-dir', { type: 'string', describe: 'data folder (flags form; default data)' })
    .option('result-dir', { type: 'string', describe: 'result root (flags form; default results)' })
    .version(false);

/** The grid a command works on, and the file that describes it (written for the flags form). */
async function loadGrid(a: GridArgs, write = false): Promise<{ g: GridSpec; file: string }> {
  const flags = a.name ?? a.recipes ?? a.years ?? a.seeds;
  if (a.grid) {
    if (flags !== undefined) throw new Error('give the grid either as a file or with --name/--recipes/--years/--seeds, not both');
    return { g: await readGridFile(a.grid), file: path.resolve(a.grid) };
  }
  if (!a.name || !a.recipes || !a.years || a.seeds === undefined) {
    throw new Error('name a grid file, or give --name, --recipes, --years and --seeds');
  }
  const raw = {
    name: a.name, recipes: a.recipes, years: a.years, seeds: a.seeds,
    ...(a.machine ? { machines: a.machine } : {}), ...(a.set ? { set: a.set } : {}),
    ...(a.dataDir ? { data_dir: a.dataDir } : {}), ...(a.resultDir ? { result_dir: a.resultDir } : {}),
  };
  const g = parseGrid(raw, 'grid flags');
  const file = path.resolve(gridDir(g), 'grid.yaml');
  if (write) {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeAtomic(file, YAML.stringify(raw));
  }
  return { g, file };
}

/** How a worker starts this same asdkit (the node binary, its flags such as --import tsx, the CLI script). */
const selfCommand = (): string[] => [process.execPath, ...process.execArgv, path.resolve(process.argv[1])];

const counts = (all: CellStatus[]) => Object.fromEntries(CELL_STATES.map((s) => [s, all.filter((x) => x.state === s).length])) as Record<CellState, number>;
const countText = (c: Record<CellState, number>) => CELL_STATES.filter((s) => c[s]).map((s) => `${c[s]} ${s}`).join(', ') || 'no cells';

async function statuses(g: GridSpec, cells: GridCell[]): Promise<CellStatus[]> {
  const all = await Promise.all(cells.map((c) => cellStatus(g, c)));
  // A Slurm task killed before it could update its record (scancel, time limit) leaves it
  // "running": ask squeue whether the task is still held (a requeued one is); if squeue cannot
  // answer, keep "running".
  const jobs = all.filter((s) => s.state === 'running' && s.record?.slurm).map((s) => s.record!.slurm!.job);
  const held = jobs.length ? await slurmQueued(jobs) : undefined;
  if (!held) return all;
  return all.map((s) => (s.state === 'running' && s.record?.slurm && !held.has(`${s.record.slurm.job}_${s.record.slurm.task}`) ? { ...s, state: 'interrupted' as const } : s));
}

const planCommand: CommandModule<object, GridArgs> = {
  command: 'plan [grid]',
  describe: 'list the cells of a grid with what is already done',
  builder: (y) => gridOptions(y) as unknown as Argv<GridArgs>,
  handler: async (a) => {
    const { g } = await loadGrid(a);
    const all = await statuses(g, gridCells(g));
    for (const s of all) console.log(`${String(s.cell.index).padStart(4)}  ${s.state.padEnd(11)} ${s.cell.id}   asdkit ${s.cell.args.join(' ')}`);
    console.log(`${all.length} cells: ${countText(counts(all))}`);
  },
};

const statusCommand: CommandModule<object, GridArgs> = {
  command: 'status [grid]',
  describe: "count a grid's cells by state and show the end of each failed cell's log",
  builder: (y) => gridOptions(y) as unknown as Argv<GridArgs>,
  handler: async (a) => {
    const { g } = await loadGrid(a);
    const all = await statuses(g, gridCells(g));
    console.log(`${g.name}: ${all.length} cells: ${countText(counts(all))}`);
    for (const s of all.filter((x) => x.state === 'failed' || x.state === 'interrupted')) {
      const log = s.record?.log ?? localLog(g, s.cell);
      console.log(`\n${s.state}: ${s.cell.id}${s.record?.code !== undefined ? ` (exit ${s.record.code})` : ''} — ${log}`);
      for (const line of await logTail(log)) console.log(`  | ${line}`);
    }
  },
};

interface RunGridArgs extends GridArgs {
  executor: 'local' | 'slurm';
  jobs: number;
  devices?: string;
  threadsPerJob?: string;
  partition?: string;
  gres?: string;
  cpusPerTask?: number;
  mem?: string;
  time?: string;
  maxParallel?: number;
  sbatchArg?: string[];
  wait: boolean;
}

const runGridCommand: CommandModule<object, RunGridArgs> = {
  command: 'run [grid]',
  describe: 'run the cells not yet done: locally (a pool of processes) or as one Slurm job array',
  builder: (y) =>
    gridOptions(y)
      .option('executor', { choices: ['local', 'slurm'] as const, default: 'local' as const, describe: 'local: child processes here; slurm: one sbatch job array' })
      .option('jobs', { type: 'number', default: 1, describe: 'local: cells at once' })
      .option('devices', { type: 'string', describe: 'local: devices to spread cells over, e.g. cuda:0,cuda:1' })
      .option('threads-per-job', { type: 'string', describe: 'local: LibTorch threads per cell (default: cores / jobs)' })
      .option('partition', { type: 'string', describe: 'slurm: --partition' })
      .option('gres', { type: 'string', describe: 'slurm: --gres, e.g. gpu:1' })
      .option('cpus-per-task', { type: 'number', describe: 'slurm: --cpus-per-task (also the LibTorch threads)' })
      .option('mem', { type: 'string', describe: 'slurm: --mem, e.g. 16G' })
      .option('time', { type: 'string', describe: 'slurm: --time, e.g. 04:00:00' })
      .option('max-parallel', { type: 'number', describe: 'slurm: array tasks at once (--array=…%K)' })
      .option('sbatch-arg', { type: 'string', array: true, describe: 'slurm: extra sbatch arguments, e.g. --sbatch-arg=--account=abc' })
      .option('wait', { type: 'boolean', default: true, describe: 'slurm: wait for the array and report (--no-wait: submit and return)' }) as unknown as Argv<RunGridArgs>,
  handler: async (a) => {
    const { g, file } = await loadGrid(a, true);
    const cells = gridCells(g);
    const todo = (await statuses(g, cells)).filter((s) => s.state !== 'done' && s.state !== 'running').map((s) => s.cell);
    console.log(`${g.name}: ${cells.length} cells, ${cells.length - todo.length} done or running, ${todo.length} to run`);
    if (todo.length === 0) return;
    await prepareShared(todo, (n) => console.error(n));
    if (a.executor === 'slurm') {
      const r = await runSlurm(g, todo, {
        command: selfCommand(), gridFile: file, partition: a.partition, gres: a.gres, cpusPerTask: a.cpusPerTask, mem: a.mem, time: a.time,
        maxParallel: a.maxParallel, sbatchArgs: a.sbatchArg, wait: a.wait, signal: interruptSignal(),
        onMessage: (line: string) => console.error(line),
      });
      if (r.failed.length) {
        process.exitCode = 1;
        for (const f of r.failed) {
          console.error(`\n${f.state}: ${f.cell.id}${f.log ? ` — ${f.log}` : ''}`);
          for (const line of f.tail) console.error(`  | ${line}`);
        }
      }
      return;
    }
    const devices = a.devices?.split(',').map((d) => d.trim()).filter(Boolean);
    const threads = a.threadsPerJob !== undefined ? parseThreads(a.threadsPerJob, '--threads-per-job') : Math.max(1, Math.floor(os.availableParallelism() / a.jobs));
    let done = 0;
    const r = await runLocal(g, todo, {
      command: selfCommand(), gridFile: file, jobs: a.jobs, devices, threadsPerJob: threads || undefined, signal: interruptSignal(),
      onStart: (c, log) => console.error(`start ${c.id} (log ${log})`),
      onEnd: (c, code) => console.error(`${code === 0 ? 'done ' : code === 130 ? 'interrupted ' : `failed (exit ${code}) `}${c.id} [${++done}/${todo.length}]`),
    });
    if (r.interrupted || wasInterrupted()) process.exit(130);
    if (r.failed.length) {
      process.exitCode = 1;
      for (const f of r.failed) {
        console.error(`\nfailed: ${f.cell.id} (exit ${f.code}) — ${f.log}`);
        for (const line of await logTail(f.log)) console.error(`  | ${line}`);
      }
    }
    console.log(`${g.name}: ${r.ok.length} cell(s) finished, ${r.failed.length} failed`);
  },
};

interface CellArgs {
  grid: string;
  index: number;
  log?: string;
  device?: string;
}

const cellCommand: CommandModule<object, CellArgs> = {
  command: 'cell <grid>',
  describe: 'run one cell of a grid (what local workers and Slurm array tasks run)',
  builder: (y) =>
    y
      .positional('grid', { type: 'string', demandOption: true })
      .option('index', { type: 'number', demandOption: true, describe: 'the cell (grid plan shows the indices; Slurm: $SLURM_ARRAY_TASK_ID)' })
      .option('log', { type: 'string', describe: 'the log this cell writes to (recorded for grid status)' })
      .option('device', { type: 'string', describe: 'cpu, cuda or cuda:N for this cell' })
      .version(false) as unknown as Argv<CellArgs>,
  handler: async (a) => {
    const g = await readGridFile(a.grid);
    const cells = gridCells(g);
    const cell = cells[a.index];
    if (!cell) throw new Error(`${a.grid}: no cell ${a.index} (the grid has ${cells.length}: 0-${cells.length - 1})`);
    const job = process.env.SLURM_ARRAY_JOB_ID, task = process.env.SLURM_ARRAY_TASK_ID;
    const slurm = job && task ? { job, task } : undefined;
    const log = a.log ?? (slurm ? path.join(gridDir(g), 'slurm', `${job}_${task}.log`) : localLog(g, cell));
    const base = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), log, ...(slurm ? { slurm } : {}) };
    await writeRecord(g, cell, { state: 'running', ...base });
    console.error(`asdkit grid cell ${cell.index}: ${cell.id}: asdkit ${cell.args.join(' ')}`);
    const config = a.device ? { ...cell.config, device: a.device } : cell.config;
    const end = async (state: 'done' | 'failed' | 'interrupted', code: number) => writeRecord(g, cell, { state, ...base, ended: new Date().toISOString(), code });
    // scancel sends SIGTERM (then SIGKILL): stop at the next batch as on Ctrl-C. An interrupted
    // run exits at once (status 130); its record stays "running" with a PID that is gone, which
    // grid status reads as interrupted.
    process.once('SIGTERM', () => process.emit('SIGINT'));
    try {
      const r = await runWithOutput(config);
      await end(r.failed.length ? 'failed' : 'done', r.failed.length ? 1 : 0);
    } catch (e) {
      await end(wasInterrupted() ? 'interrupted' : 'failed', wasInterrupted() ? 130 : 1);
      throw e;
    }
  },
};

export const gridCommand: CommandModule = {
  command: 'grid <command>',
  describe: 'benchmark grids: recipes × years × seeds run locally or on Slurm, then one table',
  builder: (y) => y.command(planCommand).command(statusCommand).command(runGridCommand).command(cellCommand).command(tableCommandOf()).demandCommand(1),
  handler: () => {},
};

function tableCommandOf(): CommandModule<object, GridArgs & { backend?: string; metric?: string[]; ensemble?: boolean }> {
  return {
    command: 'table [grid]',
    describe: 'mean ± std over seeds per recipe × year × split (CSV, Markdown laid out like the paper\'s Fig. 2)',
    builder: (y) =>
      gridOptions(y)
        .option('backend', { type: 'string', describe: 'score column (default: each recipe\'s first)' })
        .option('metric', { type: 'string', array: true, describe: 'metrics (default: official)' })
        .option('ensemble', { type: 'boolean', describe: "add the ensemble of each recipe's seeds as a row" }) as unknown as Argv<GridArgs & { backend?: string; metric?: string[]; ensemble?: boolean }>,
    handler: async (a) => {
      const { g } = await loadGrid(a);
      const r = await gridTable(g, gridCells(g), { backend: a.backend, metrics: a.metric, ensemble: a.ensemble });
      for (const w of r.warnings) console.error(`warning: ${w}`);
      console.log(r.markdown);
      console.log(`\nwrote ${r.files.join(', ')}`);
    },
  };
}
