/**
 * Score-level ensembles of finished runs (`asdkit ensemble`, `grid table --ensemble`): each
 * member's test/train scores of one back-end column are combined per clip into one column
 * `AS-ensemble-<combine>-main`, written as a run of its own
 * (`<result_dir>/<name>/<dcase>/<NAME>/0/output/ensemble/`) with a config.yaml whose back-end list
 * is empty, so the ordinary evaluate / table / report commands treat it like any run and nothing
 * re-scores it. The evaluate and table steps are run here so the tree is complete.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { resolveBackend } from '../backends/config.js';
import { assertDcase, type Dcase } from '../dcase/index.js';
import { machineDir, outputDir, readRunConfig, versionDir, withRunLock, writeRunConfig, CONFIG_FILE, isSkipped, type RunConfig, type RunIds } from '../run/index.js';
import { evaluate, scoreColumns } from '../steps/evaluate.js';
import { table } from '../steps/table.js';
import { numericColumn, readCsvFile, toCsv, type CsvTable } from '../util/csv.js';
import { exists, writeAtomic } from '../util/files.js';

export const COMBINES = ['mean', 'max', 'zmean'] as const;
export type Combine = (typeof COMBINES)[number];

export const ENSEMBLE_INFER_VER = 'ensemble';
export const ENSEMBLE_FILE = 'ensemble.json';
const META = ['path', 'section', 'is_normal', 'is_target'];

export const ensembleColumn = (combine: Combine) => `AS-ensemble-${combine}-main`;

export interface EnsembleOptions {
  /** Output folders of the member runs (`…/<version>/<seed>/output/<infer_ver>`). */
  runs: string[];
  /** Version of the ensemble run. */
  outVersion: string;
  combine?: Combine;
  /** Score column of every member (default: each member's first back-end column, or its first AS column without back-ends). */
  backend?: string;
  /** Extra table metrics beyond those of the first member's config (e.g. what `grid table` asks for). */
  metrics?: string[];
}

export interface EnsembleMember {
  run: string;
  column: string;
  version: string;
  seed: number | string;
  inferVer: string;
}

export interface EnsembleResult {
  outputDir: string;
  ids: RunIds;
  machines: string[];
  column: string;
  members: EnsembleMember[];
  tables: string[];
  warnings: string[];
}

/** Member statistics for `zmean`: mean and population std (ddof 0, numpy's default) of its normal training scores. */
export interface ZStats {
  mean: number;
  std: number;
}

/** Mean and population std (ddof 0) of `values` where `isNormal` is 1. */
export function normalStats(values: Float64Array, isNormal: Float64Array): ZStats {
  let n = 0, sum = 0;
  for (let i = 0; i < values.length; i++) if (isNormal[i] === 1) (n++, (sum += values[i]));
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < values.length; i++) if (isNormal[i] === 1) ss += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(ss / n) };
}

/** Combines member score columns (equal lengths) clip by clip; `zmean` needs each member's stats. */
export function combineScores(members: readonly Float64Array[], combine: Combine, stats?: readonly ZStats[]): Float64Array {
  const n = members[0].length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (combine === 'max') {
      let m = -Infinity;
      for (const s of members) m = Math.max(m, s[i]);
      out[i] = m;
    } else {
      let sum = 0;
      members.forEach((s, k) => (sum += combine === 'zmean' ? (s[i] - stats![k].mean) / stats![k].std : s[i]));
      out[i] = sum / members.length;
    }
  }
  return out;
}

/** Machine folders of a run that hold a test_score.csv, sorted. */
async function runMachines(run: string): Promise<string[]> {
  const entries = await fs.readdir(run, { withFileTypes: true }).catch(() => {
    throw new Error(`${run}: not a run output folder (cannot read it)`);
  });
  const out: string[] = [];
  for (const e of entries) if (e.isDirectory() && (await exists(path.join(run, e.name, 'test_score.csv')))) out.push(e.name);
  return out.sort();
}

/** The column a member contributes: the given one, its config's first back-end, or (no back-ends, e.g. ae) its first AS column. */
function memberColumn(config: RunConfig, given: string | undefined, scores: CsvTable): string | undefined {
  if (given) return given;
  if (config.score.backend.length > 0) return resolveBackend(config.score.backend[0]).column;
  return scoreColumns(scores.columns)[0];
}

interface LoadedMember {
  run: string;
  config: RunConfig;
  machines: string[];
}

async function loadMember(run: string): Promise<LoadedMember> {
  const file = path.join(run, CONFIG_FILE);
  if (!(await exists(file))) throw new Error(`${run}: no ${CONFIG_FILE} (expected a run output folder …/<version>/<seed>/output/<infer_ver>)`);
  const config = await readRunConfig(file);
  return { run, config, machines: await runMachines(run) };
}

/**
 * Builds the ensemble run of `o.runs` and evaluates it. Members must share the dcase and the
 * machines, and per machine the clips (`path`, in order); errors name the run or file.
 */
export async function ensembleRuns(o: EnsembleOptions): Promise<EnsembleResult> {
  const combine = o.combine ?? 'mean';
  if (!COMBINES.includes(combine)) throw new Error(`unknown combine "${combine}" (use ${COMBINES.join(', ')})`);
  if (o.runs.length === 0) throw new Error('ensemble: name at least one run output folder');
  const members = await Promise.all(o.runs.map(loadMember));
  const first = members[0];
  const dcase: Dcase = assertDcase(first.config.dcase);
  for (const m of members.slice(1)) {
    if (m.config.dcase !== dcase) throw new Error(`${m.run}: a ${m.config.dcase} run; ${first.run} is ${dcase} (an ensemble needs one year)`);
    if (m.machines.join(',') !== first.machines.join(',')) {
      throw new Error(`${m.run}: machines ${m.machines.join(', ') || '(none)'} differ from ${first.run}: ${first.machines.join(', ') || '(none)'}`);
    }
  }
  if (first.machines.length === 0) throw new Error(`${first.run}: no machine folder with a test_score.csv`);
  const ids: RunIds = { resultDir: first.config.result_dir, name: first.config.name, dcase, version: o.outVersion, seed: 0, inferVer: ENSEMBLE_INFER_VER };
  const out = outputDir(ids);
  for (const m of members) {
    if (path.resolve(m.run) === path.resolve(out)) throw new Error(`${m.run}: is the ensemble's own output folder; choose another --out-version`);
  }
  // Never overwrite a real run: only an earlier ensemble (it has ensemble.json) is replaced.
  if ((await exists(path.join(out, CONFIG_FILE))) && !(await exists(path.join(out, ENSEMBLE_FILE)))) {
    throw new Error(`${out}: holds a run that is not an ensemble; choose another --out-version`);
  }
  const column = ensembleColumn(combine);

  return withRunLock(versionDir(ids), async () => {
    const used: string[] = [];
    for (const machine of first.machines) {
      const read = async (split: 'train' | 'test') => Promise.all(members.map(async (m) => {
        const file = path.join(m.run, machine, `${split}_score.csv`);
        return { file, t: await readCsvFile(file, 'score file') };
      }));
      const [train, test] = [await read('train'), await read('test')];
      const cols = members.map((m, k) => {
        const c = memberColumn(m.config, o.backend, test[k].t);
        if (!c) throw new Error(`${test[k].file}: no score column (a name whose first "-" part is "AS")`);
        for (const f of [test[k], train[k]]) {
          if (!f.t.columns.includes(c)) throw new Error(`${f.file}: no column "${c}" (score columns: ${scoreColumns(f.t.columns).join(', ') || 'none'})`);
        }
        return c;
      });
      if (used.length === 0) used.push(...cols);
      // zmean: each member on the scale of its own normal training clips.
      const stats = combine === 'zmean'
        ? train.map((f, k) => {
            const s = normalStats(numericColumn(f.t, cols[k], f.file), numericColumn(f.t, 'is_normal', f.file));
            if (!(s.std > 0) || !Number.isFinite(s.mean)) throw new Error(`${f.file}: column "${cols[k]}" has no spread over the normal training clips (std ${s.std}), so zmean cannot scale it (k-NN back-ends score a training clip against itself: 0); use mean or max, or --backend with a column whose training scores vary (Kmeans, KnnRescale, AS-recon)`);
            return s;
          })
        : undefined;
      for (const [split, files] of [['train', train], ['test', test]] as const) {
        const ref = files[0];
        for (const c of META) if (!ref.t.columns.includes(c)) throw new Error(`${ref.file}: missing column "${c}"`);
        const pathsOf = (t: CsvTable) => t.rows.map((r) => r[t.columns.indexOf('path')]);
        const want = pathsOf(ref.t);
        for (const f of files.slice(1)) {
          const got = f.t.columns.includes('path') ? pathsOf(f.t) : [];
          const bad = want.length !== got.length ? Math.min(want.length, got.length) : want.findIndex((p, i) => p !== got[i]);
          if (want.length !== got.length || bad >= 0) {
            throw new Error(`${f.file}: clips differ from ${ref.file} (${want.length !== got.length ? `${got.length} rows, not ${want.length}` : `row ${bad + 1}: ${got[bad]} vs ${want[bad]}`})`);
          }
        }
        const combined = combineScores(files.map((f, k) => numericColumn(f.t, cols[k], f.file)), combine, stats);
        const meta = META.map((c) => ref.t.columns.indexOf(c));
        const rows = ref.t.rows.map((r, i) => [...meta.map((j) => r[j]), combined[i]]);
        const file = path.join(machineDir(ids, machine), `${split}_score.csv`);
        await writeAtomic(file, toCsv([...META, column], rows));
      }
    }

    const memberInfo: EnsembleMember[] = members.map((m, k) => ({ run: m.run, column: used[k], version: m.config.version, seed: m.config.seed, inferVer: m.config.infer_ver }));
    await writeAtomic(path.join(out, ENSEMBLE_FILE), `${JSON.stringify({ combine, column, zscore_std: combine === 'zmean' ? 'ddof 0 over the normal training clips' : undefined, members: memberInfo }, null, 2)}\n`);
    const metrics = [...new Set([...first.config.table.metrics, ...(o.metrics ?? [])])];
    const config: RunConfig = {
      ...first.config,
      version: o.outVersion, seed: 0, infer_ver: ENSEMBLE_INFER_VER,
      machines: first.machines, overwrite: false,
      score: { backend: [] },
      table: { metrics },
    };
    await writeRunConfig(config, ids);

    // The scores were just rewritten: evaluate and table afresh.
    const warnings: string[] = [];
    for (const machine of first.machines) await evaluate({ ...ids, machine, overwrite: true });
    const t = await table({ ...ids, metrics, machines: first.machines, overwrite: true });
    const tables = isSkipped(t) ? [] : t.written;
    if (!isSkipped(t)) warnings.push(...t.warnings);
    return { outputDir: out, ids, machines: first.machines, column, members: memberInfo, tables, warnings };
  });
}
