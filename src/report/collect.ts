/**
 * What `asdkit report` shows, gathered from a result folder (spec backends-recipes-outputs §6.3):
 * a run is a `<result_dir>/<name>/<dcase>/<version>/<seed>` folder; per run its models (training
 * curves, redrawn from the logs) and its `output/<infer_ver>` folders (tables, per-machine
 * results, UMAP figures, resolved config, step timings). A file that cannot be read becomes a
 * listed problem instead of stopping the report.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TABLE_METRICS } from '../run/index.js';
import { readTimings, TIMINGS_FILE, type TimingsFile } from '../run/timings.js';
import { drawTrainingCurves } from '../steps/curves.js';
import { readCsvFile, type CsvTable } from '../util/csv.js';
import { exists, filesMatching } from '../util/files.js';
import { machineScores, type MachineScores } from './scores.js';

export interface Figure {
  title: string;
  file: string;
  png: Buffer;
}

export interface ResultTable {
  file: string;
  split: string;
  metric: string;
  table: CsvTable;
}

export interface MachineResults {
  machine: string;
  /** test_evaluate.csv, when the evaluate step ran. */
  evaluate?: CsvTable;
  /** visualize/*.png, all sections first. */
  umap: Figure[];
  /** test_score.csv drawn: histograms and ROC curves per domain, for one backend. */
  scores?: MachineScores;
}

export interface OutputResults {
  inferVer: string;
  dir: string;
  /** `<split>_<metric>.csv`, official scores first, dev before eval. */
  tables: ResultTable[];
  machines: MachineResults[];
  config?: string;
  timings?: TimingsFile;
}

export interface ModelResults {
  modelVer: string;
  dir: string;
  curves: Figure[];
  checkpoints: string[];
}

export interface RunResults {
  dir: string;
  name: string;
  dcase: string;
  version: string;
  seed: string;
  models: ModelResults[];
  outputs: OutputResults[];
  problems: string[];
}

const isDir = (p: string) => fs.stat(p).then((s) => s.isDirectory(), () => false);
const isRun = async (d: string) => (await isDir(path.join(d, 'output'))) || (await isDir(path.join(d, 'model')));
const byName = (a: string, b: string) => a.localeCompare(b, 'en', { sensitivity: 'base', numeric: true });

async function subdirs(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byName);
}

/**
 * The run folders `dir` names: itself, the run it lies in (when given a folder under its
 * `output/` or `model/`), or every run below it down to `<name>/<dcase>/<version>/<seed>`.
 */
export async function findRuns(dir: string): Promise<string[]> {
  const abs = path.resolve(dir);
  if (!(await isDir(abs))) throw new Error(`result folder not found: ${dir}`);
  const parts = abs.split(path.sep);
  for (let i = parts.length; i > 1; i--) {
    const d = parts.slice(0, i).join(path.sep) || path.sep;
    if ((i === parts.length || parts[i] === 'output' || parts[i] === 'model') && (await isRun(d))) return [d];
  }
  const runs: string[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    for (const s of await subdirs(d)) {
      const sub = path.join(d, s);
      if (await isRun(sub)) runs.push(sub);
      else if (depth < 4) await walk(sub, depth + 1);
    }
  };
  await walk(abs, 1);
  if (runs.length === 0) throw new Error(`no runs in ${dir} (a run folder <name>/<dcase>/<version>/<seed> holds output/ or model/)`);
  return runs;
}

/** Table order: the official score, then the table step's default metrics, then the rest; dev before eval. */
function tableRank(metric: string): number {
  if (metric.startsWith('official')) return -1;
  const i = TABLE_METRICS.indexOf(metric);
  return i < 0 ? TABLE_METRICS.length : i;
}

/** UMAP figure order: all sections, then section 0, 1, … */
const umapRank = (f: string) => (f.includes('_sectionall') ? 0 : 1);

export async function collectRun(dir: string): Promise<RunResults> {
  const [name, dcase, version, seed] = path.resolve(dir).split(path.sep).slice(-4);
  const problems: string[] = [];
  const attempt = async <T>(what: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await what();
    } catch (e) {
      problems.push((e as Error).message);
      return undefined;
    }
  };
  const figure = async (title: string, file: string): Promise<Figure[]> => {
    const png = await attempt(() => fs.readFile(file));
    return png ? [{ title, file, png }] : [];
  };

  const models: ModelResults[] = [];
  for (const modelVer of await subdirs(path.join(dir, 'model'))) {
    const mdir = path.join(dir, 'model', modelVer);
    const drawn = (await attempt(() => drawTrainingCurves(mdir))) ?? [];
    const curves = (await Promise.all(drawn.map((c) => figure(c.title, c.file)))).flat();
    const checkpoints = await filesMatching(path.join(mdir, 'checkpoints'), /\.ckpt$/);
    models.push({ modelVer, dir: mdir, curves, checkpoints });
  }

  const outputs: OutputResults[] = [];
  for (const inferVer of await subdirs(path.join(dir, 'output'))) {
    const odir = path.join(dir, 'output', inferVer);
    const tables: ResultTable[] = [];
    for (const f of await filesMatching(odir, /^(dev|eval)_.+\.csv$/)) {
      const [, split, metric] = /^(dev|eval)_(.+)\.csv$/.exec(f)!;
      const table = await attempt(() => readCsvFile(path.join(odir, f), 'table'));
      if (table) tables.push({ file: f, split, metric, table });
    }
    tables.sort((a, b) => tableRank(a.metric) - tableRank(b.metric) || a.metric.localeCompare(b.metric) || a.split.localeCompare(b.split));
    const machines: MachineResults[] = [];
    for (const machine of await subdirs(odir)) {
      const mdir = path.join(odir, machine);
      const evalFile = path.join(mdir, 'test_evaluate.csv');
      const evaluate = (await exists(evalFile)) ? await attempt(() => readCsvFile(evalFile, 'evaluate table')) : undefined;
      const pngs = (await filesMatching(path.join(mdir, 'visualize'), /\.png$/)).sort((a, b) => umapRank(a) - umapRank(b) || byName(a, b));
      const umap = (await Promise.all(pngs.map((p) => figure(p.replace(/\.png$/, ''), path.join(mdir, 'visualize', p))))).flat();
      const scoreFile = path.join(mdir, 'test_score.csv');
      const scores = (await exists(scoreFile))
        ? await attempt(async () => machineScores(await readCsvFile(scoreFile, 'score table'), machine, scoreFile))
        : undefined;
      machines.push({ machine, evaluate, umap, scores });
    }
    const config = await fs.readFile(path.join(odir, 'config.yaml'), 'utf8').catch(() => undefined);
    const timings = await readTimings(path.join(odir, TIMINGS_FILE));
    outputs.push({ inferVer, dir: odir, tables, machines, config, timings });
  }
  return { dir: path.resolve(dir), name, dcase, version, seed, models, outputs, problems };
}
