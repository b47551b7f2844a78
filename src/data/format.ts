/**
 * The format step (spec data-and-evaluation §2): turns the downloaded layout
 * `<dataDir>/original/<dcase>/{dev,eval}_data/raw/<machine>/<folder>/<name>.wav` into
 * `<dataDir>/formatted/<dcase>/raw/<machine>/{train,test}/<unified name>.wav`.
 * 2025's `supplemental/` clips (clean machine or noise-only sounds) go to
 * `<machine>/supplemental/` under their original names, apart from train and test.
 *
 * Unlike ASDKit it checks the whole original tree before touching anything and reports every
 * problem in one error, it is idempotent (correct existing outputs are skipped), and `mv` keeps
 * a mapping so that `undoFormat` can move the files back.
 */
import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import { machinesOf, parseClipPath, type Dcase, type SplitDE, type SplitTT } from '../dcase/index.js';
import { writeAtomic } from '../util/files.js';
import { loadGroundTruth, type GroundTruth } from './ground-truth/index.js';

export type LinkMode = 'symlink' | 'copy' | 'mv';
export const LINK_MODES: readonly LinkMode[] = ['symlink', 'copy', 'mv'];

export interface FormatOptions {
  dataDir: string;
  dcase: Dcase;
  linkMode?: LinkMode; // default 'symlink'
  /** Replace conflicting existing outputs instead of failing. */
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Number of formatted clips of one machine / subset / split / section / domain / label. */
export interface CountRow {
  machine: string;
  subset: SplitDE;
  split: SplitTT;
  section: number;
  domain: 'source' | 'target';
  label: 'normal' | 'anomaly';
  count: number;
}

export interface FormatResult {
  /** `<dataDir>/formatted/<dcase>` (absolute). */
  root: string;
  linkMode: LinkMode;
  written: number;
  /** Outputs that already existed and were correct. */
  skipped: number;
  /** Train and test clips (supplemental ones are not counted here). */
  counts: CountRow[];
  /** 2025 supplemental clips placed (written or already there). */
  supplemental: number;
}

/** The original tree failed the pre-check; `problems` lists every finding. */
export class FormatCheckError extends Error {
  constructor(
    readonly problems: readonly string[],
    what = 'original dataset check failed',
  ) {
    const shown = problems.slice(0, 40).map((p) => `  - ${p}`);
    if (problems.length > shown.length) shown.push(`  … and ${problems.length - shown.length} more`);
    super(`${what} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${shown.join('\n')}`);
    this.name = 'FormatCheckError';
  }
}

/** Folders of a formatted machine: the unified train/test, and 2025's supplemental clips. */
export type FormattedSplit = SplitTT | 'supplemental';

export const SUPPLEMENTAL = 'supplemental';

/** One clip to place: absolute source and destination plus what the counts need. */
interface Item {
  src: string;
  dst: string;
  machine: string;
  subset: SplitDE;
  split: FormattedSplit;
  name: string; // formatted name
}

/** Source folders every machine must have in the original layout (2021 splits its test clips by domain). */
export function sourceFolders(dcase: Dcase): readonly string[] {
  return dcase === 'dcase2021' ? ['train', 'source_test', 'target_test'] : ['train', 'test'];
}

/**
 * Source folders formatted when present. Only 2025 has one: the task paper announces 100
 * supplemental clips per section, but no source we read shows whether every archive unpacks
 * them into `<machine>/supplemental/`, so its absence is no error.
 */
export function optionalFolders(dcase: Dcase): readonly string[] {
  return dcase === 'dcase2025' ? [SUPPLEMENTAL] : [];
}

function formattedSplit(folder: string): FormattedSplit {
  return folder === 'train' ? 'train' : folder === SUPPLEMENTAL ? SUPPLEMENTAL : 'test';
}

const NAME_2020 = /^(normal|anomaly)_id_(\d+)_(\d+)\.wav$/;

/**
 * Formatted name of one original clip (spec §2.3), or an Error saying why it has none:
 * eval test names come from the ground-truth list, 2020 names are rewritten to sections, and
 * the result must follow the unified grammar with the right split (and, for 2021, domain).
 * Supplemental clips keep their names: their naming is not confirmed by any source (README).
 */
export function formattedName(
  dcase: Dcase, machine: string, subset: SplitDE, folder: string, name: string, gt: GroundTruth,
): string {
  if (folder === SUPPLEMENTAL) return name;
  const split: SplitTT = folder === 'train' ? 'train' : 'test';
  let n = name;
  if (subset === 'eval' && split === 'test') {
    const mapped = gt.get(machine)?.get(name);
    if (mapped === undefined) throw new Error(`not in the ground-truth list of ${dcase} ${machine}`);
    n = mapped;
  }
  if (dcase === 'dcase2020') {
    const m = NAME_2020.exec(n);
    if (!m) throw new Error(`"${n}" is not a DCASE 2020 clip name (<normal|anomaly>_id_<ID>_<number>.wav)`);
    n = `section_${m[2]}_source_${split}_${m[1]}_${m[3]}.wav`;
  }
  const info = parseClipPath(`${machine}/${split}/${n}`); // throws on names outside the grammar
  const nameSplit = n.split('_')[3];
  if (nameSplit !== split) throw new Error(`"${n}" is a ${nameSplit} name but lies in a ${folder} folder`);
  if (folder === 'source_test' || folder === 'target_test') {
    const domain = info.isTarget ? 'target' : 'source';
    if (!folder.startsWith(domain)) throw new Error(`"${n}" is a ${domain} clip but lies in ${folder}`);
  }
  return n;
}

/** Directory entries, or undefined when the folder does not exist. */
async function entries(dir: string): Promise<Dirent[] | undefined> {
  try {
    return (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** Follows symlinked folders, which `Dirent.isDirectory()` does not. */
async function isDir(dir: string, e: Dirent): Promise<boolean> {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  return (await fs.stat(path.join(dir, e.name)).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * Checks the whole original tree (§2.1) and plans every clip; throws one FormatCheckError with
 * all problems found: missing/extra machine folders, missing sub-folders, non-wav entries,
 * names outside the year's grammar, eval test clips missing from the ground-truth list.
 */
export async function planFormat(dataDir: string, dcase: Dcase): Promise<Item[]> {
  const base = path.resolve(dataDir);
  const rel = (p: string) => path.relative(base, p).split(path.sep).join('/');
  const gt = await loadGroundTruth(dcase);
  const outRaw = path.join(base, 'formatted', dcase, 'raw');
  const problems: string[] = [];
  const items: Item[] = [];
  const byDst = new Map<string, string>();
  for (const subset of ['dev', 'eval'] as const) {
    const rawDir = path.join(base, 'original', dcase, `${subset}_data`, 'raw');
    const top = await entries(rawDir);
    if (!top) {
      problems.push(`${rel(rawDir)}: folder missing`);
      continue;
    }
    const machines = machinesOf(dcase, subset);
    const present = new Set<string>();
    for (const e of top) {
      if (!(await isDir(rawDir, e))) continue; // the downloaded zips stay here; ASDKit ignores files
      if (machines.includes(e.name)) present.add(e.name);
      else problems.push(`${rel(path.join(rawDir, e.name))}: unexpected folder (not a ${dcase} ${subset} machine type)`);
    }
    for (const machine of machines) {
      const mDir = path.join(rawDir, machine);
      if (!present.has(machine)) {
        problems.push(`${rel(mDir)}: machine folder missing`);
        continue;
      }
      for (const folder of [...sourceFolders(dcase), ...optionalFolders(dcase)]) {
        const dir = path.join(mDir, folder);
        const files = await entries(dir);
        if (!files) {
          if (!optionalFolders(dcase).includes(folder)) problems.push(`${rel(dir)}: sub-folder missing`);
          continue;
        }
        for (const f of files) {
          const where = rel(path.join(dir, f.name));
          if (!f.name.endsWith('.wav') || (await isDir(dir, f))) {
            problems.push(`${where}: not a .wav file`);
            continue;
          }
          let name: string;
          try {
            name = formattedName(dcase, machine, subset, folder, f.name, gt);
          } catch (err) {
            problems.push(`${where}: ${(err as Error).message}`);
            continue;
          }
          const split = formattedSplit(folder);
          const dst = path.join(outRaw, machine, split, name);
          const other = byDst.get(dst);
          if (other !== undefined) {
            problems.push(`${where}: maps to ${rel(dst)}, like ${other}`);
            continue;
          }
          byDst.set(dst, where);
          items.push({ src: path.join(dir, f.name), dst, machine, subset, split, name });
        }
      }
    }
  }
  if (problems.length > 0) throw new FormatCheckError(problems);
  return items;
}

/** `mv` bookkeeping: paths relative to dataDir, `/`-separated. */
interface MappingFile {
  dcase: Dcase;
  moves: { from: string; to: string }[];
}

export function mappingFile(dataDir: string, dcase: Dcase): string {
  return path.join(path.resolve(dataDir), 'formatted', dcase, '.format-mapping.json');
}

async function readMapping(file: string): Promise<MappingFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const m = JSON.parse(text) as MappingFile;
  if (!Array.isArray(m.moves)) throw new Error(`${file}: not a format mapping (no "moves" list)`);
  return m;
}

const toPosix = (p: string) => p.split(path.sep).join('/');

async function lstatOrUndefined(p: string) {
  try {
    return await fs.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Items of an earlier `mv` run whose files are already in place. */
async function movedItems(base: string, mapping: MappingFile): Promise<{ done: Item[]; lost: string[] }> {
  const done: Item[] = [];
  const lost: string[] = [];
  for (const { from, to } of mapping.moves) {
    const src = path.join(base, from);
    const dst = path.join(base, to);
    if (await lstatOrUndefined(src)) continue; // not moved (yet): the scan of the original tree has it
    if (!(await lstatOrUndefined(dst))) {
      lost.push(`${to}: moved earlier from ${from}, but neither exists now`);
      continue;
    }
    const parts = to.split('/');
    const subset = /^original\/[^/]+\/(dev|eval)_data\//.exec(from)?.[1] as SplitDE | undefined;
    if (parts.length !== 6 || !subset) throw new Error(`format mapping entry ${from} → ${to} has an unexpected form`);
    done.push({ src, dst, machine: parts[3], subset, split: parts[4] as FormattedSplit, name: parts[5] });
  }
  return { done, lost };
}

type Decision = 'create' | 'skip' | { conflict: string };

/** Whether an output already exists, and if so whether it is what this run would write. */
async function decide(item: Item, mode: LinkMode): Promise<Decision> {
  const st = await lstatOrUndefined(item.dst);
  if (!st) return 'create';
  if (st.isDirectory()) return { conflict: 'is a directory' };
  if (mode === 'symlink') {
    if (st.isSymbolicLink() && (await fs.readlink(item.dst)) === item.src) return 'skip';
    return { conflict: st.isSymbolicLink() ? `links to ${await fs.readlink(item.dst)}` : 'exists and is not a link' };
  }
  if (mode === 'copy') {
    // Same size is taken as "the copy is done": copies go through a temp file, so a half-written
    // copy never carries the final name.
    if (st.isFile() && st.size === (await fs.stat(item.src)).size) return 'skip';
    return { conflict: st.isSymbolicLink() ? 'is a symbolic link' : 'exists with different content' };
  }
  return { conflict: 'exists' };
}

async function copyAtomic(src: string, dst: string): Promise<void> {
  const tmp = `${dst}.tmp-${process.pid}`;
  try {
    await fs.copyFile(src, tmp);
    await fs.rename(tmp, dst);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

async function move(src: string, dst: string): Promise<void> {
  try {
    await fs.rename(src, dst);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    await copyAtomic(src, dst); // another file system: copy, then drop the original
    await fs.unlink(src);
  }
}

/** Runs the format step; see the module comment. */
export async function formatDataset(opts: FormatOptions): Promise<FormatResult> {
  const mode = opts.linkMode ?? 'symlink';
  if (!LINK_MODES.includes(mode)) throw new Error(`unknown link mode "${mode}": expected ${LINK_MODES.join(', ')}`);
  const base = path.resolve(opts.dataDir); // symlink targets must be absolute
  const root = path.join(base, 'formatted', opts.dcase);
  const mapFile = mappingFile(base, opts.dcase);
  const mapping = await readMapping(mapFile);
  if (mapping && mode !== 'mv') {
    throw new Error(`${opts.dcase} was formatted with link mode mv (${mapFile}); undo it before using ${mode}`);
  }
  const planned = await planFormat(base, opts.dcase);
  const previous = mapping ? await movedItems(base, mapping) : { done: [], lost: [] };
  if (previous.lost.length > 0) throw new FormatCheckError(previous.lost, 'earlier mv run cannot be resumed');

  const decisions = await Promise.all(planned.map((it) => decide(it, mode)));
  const conflicts = planned.flatMap((it, i) => {
    const d = decisions[i];
    return typeof d === 'object' ? [`${toPosix(path.relative(base, it.dst))}: ${d.conflict}`] : [];
  });
  if (conflicts.length > 0 && !opts.overwrite) {
    throw new FormatCheckError(conflicts, 'formatted outputs already exist and differ (use overwrite to replace them)');
  }

  if (mode === 'mv') {
    // Written before moving anything, so an interrupted run can still be undone.
    const moves = new Map((mapping?.moves ?? []).map((m) => [m.to, m]));
    for (const it of planned) {
      const to = toPosix(path.relative(base, it.dst));
      moves.set(to, { from: toPosix(path.relative(base, it.src)), to });
    }
    await writeAtomic(mapFile, `${JSON.stringify({ dcase: opts.dcase, moves: [...moves.values()] } satisfies MappingFile, null, 2)}\n`);
  }

  let written = 0;
  let skipped = previous.done.length;
  const made = new Set<string>();
  for (let i = 0; i < planned.length; i++) {
    opts.signal?.throwIfAborted();
    const it = planned[i];
    const d = decisions[i];
    if (d === 'skip') {
      skipped++;
    } else {
      const dir = path.dirname(it.dst);
      if (!made.has(dir)) {
        await fs.mkdir(dir, { recursive: true });
        made.add(dir);
      }
      if (d !== 'create') await fs.rm(it.dst, { force: true }); // a conflict, allowed by overwrite
      if (mode === 'symlink') await fs.symlink(it.src, it.dst);
      else if (mode === 'copy') await copyAtomic(it.src, it.dst);
      else await move(it.src, it.dst);
      written++;
    }
    opts.onProgress?.(i + 1, planned.length);
  }
  const all = [...previous.done, ...planned];
  const supplemental = all.filter((it) => it.split === SUPPLEMENTAL).length;
  return { root, linkMode: mode, written, skipped, counts: countItems(all), supplemental };
}

/** Clip counts of the train and test items (supplemental names need not follow the grammar). */
function countItems(items: Item[]): CountRow[] {
  const rows = new Map<string, CountRow>();
  for (const it of items) {
    if (it.split === SUPPLEMENTAL) continue;
    const info = parseClipPath(`${it.machine}/${it.split}/${it.name}`);
    const row: CountRow = {
      machine: it.machine, subset: it.subset, split: it.split as SplitTT, section: info.section,
      domain: info.isTarget ? 'target' : 'source', label: info.isNormal ? 'normal' : 'anomaly', count: 0,
    };
    const key = countKey(row);
    (rows.get(key) ?? rows.set(key, row).get(key)!).count++;
  }
  return [...rows.values()].sort((a, b) => (countKey(a) < countKey(b) ? -1 : countKey(a) > countKey(b) ? 1 : 0));
}

const countKey = (r: Omit<CountRow, 'count'>) =>
  [r.machine, r.subset, r.split, String(r.section).padStart(2, '0'), r.domain, r.label].join('|');

/** Moves the files of an `mv` run back to the original tree and removes the mapping. */
export async function undoFormat(opts: { dataDir: string; dcase: Dcase }): Promise<{ restored: number }> {
  const base = path.resolve(opts.dataDir);
  const file = mappingFile(base, opts.dcase);
  const mapping = await readMapping(file);
  if (!mapping) throw new Error(`nothing to undo: ${file} does not exist (only link mode mv can be undone)`);
  const problems: string[] = [];
  const pending: { from: string; to: string }[] = [];
  let restored = 0;
  for (const m of mapping.moves) {
    const src = path.join(base, m.from);
    const dst = path.join(base, m.to);
    const [s, d] = [await lstatOrUndefined(src), await lstatOrUndefined(dst)];
    if (!d) {
      if (!s) problems.push(`${m.to}: missing, cannot restore ${m.from}`);
      continue; // never moved, or already restored
    }
    if (s) {
      problems.push(`${m.from}: exists, will not replace it with ${m.to}`);
      pending.push(m);
      continue;
    }
    await fs.mkdir(path.dirname(src), { recursive: true });
    await move(dst, src);
    restored++;
  }
  if (problems.length > 0) {
    // Keep what still needs undoing, so a second call after fixing things finishes the job.
    await writeAtomic(file, `${JSON.stringify({ dcase: mapping.dcase, moves: pending } satisfies MappingFile, null, 2)}\n`);
    throw new FormatCheckError(problems, `undo of ${opts.dcase} incomplete (${restored} files restored)`);
  }
  await fs.rm(file);
  await pruneEmptyDirs(path.join(base, 'formatted', opts.dcase));
  return { restored };
}

/** Removes the now-empty folders the format step created (depth-first; non-empty ones stay). */
async function pruneEmptyDirs(dir: string): Promise<void> {
  for (const e of (await entries(dir)) ?? []) {
    if (e.isDirectory()) await pruneEmptyDirs(path.join(dir, e.name));
  }
  await fs.rmdir(dir).catch(() => undefined);
}

/**
 * Expected clip counts of the real datasets (spec §1.2–§1.3), keyed like CountRow: eval test
 * clips per domain × label from the ground-truth list (every year); for 2022–2025 also train
 * (990 source + 10 target per section) and dev test (50 per section × domain × label; 2025
 * checked against the organisers' attribute correspondence files, README).
 * 2020/2021 train and dev test counts are only nominal in the spec and are not checked.
 */
export function expectedCounts(dcase: Dcase, gt: GroundTruth): CountRow[] {
  const rows: CountRow[] = [];
  const items: Item[] = [];
  for (const [machine, entries] of gt) {
    for (const [orig, name] of entries) {
      const folder = dcase === 'dcase2021' ? `${name.split('_')[2]}_test` : 'test';
      const n = formattedName(dcase, machine, 'eval', folder, orig, gt);
      items.push({ src: '', dst: '', machine, subset: 'eval', split: 'test', name: n });
    }
  }
  rows.push(...countItems(items));
  if (dcase === 'dcase2020' || dcase === 'dcase2021') return rows;
  const byDomain = (r: Omit<CountRow, 'domain' | 'count'>, source: number, target: number) =>
    rows.push({ ...r, domain: 'source', count: source }, { ...r, domain: 'target', count: target });
  for (const subset of ['dev', 'eval'] as const) {
    const sections = dcase === 'dcase2022' ? (subset === 'dev' ? [0, 1, 2] : [3, 4, 5]) : [0];
    for (const machine of machinesOf(dcase, subset)) {
      for (const section of sections) {
        byDomain({ machine, subset, split: 'train', section, label: 'normal' }, 990, 10);
        if (subset === 'dev') {
          for (const label of ['normal', 'anomaly'] as const) byDomain({ machine, subset, split: 'test', section, label }, 50, 50);
        }
      }
    }
  }
  return rows;
}

/**
 * Compares counts with the real dataset's (only with `strict: true`, so that synthetic or
 * partial data pass silently) and returns one warning per deviation.
 */
export async function checkCounts(dcase: Dcase, counts: readonly CountRow[], opts: { strict?: boolean } = {}): Promise<string[]> {
  if (!opts.strict) return [];
  const expected = expectedCounts(dcase, await loadGroundTruth(dcase));
  const actual = new Map(counts.map((r) => [countKey(r), r.count]));
  const label = (r: Omit<CountRow, 'count'>) =>
    `${r.machine} ${r.subset} ${r.split} section ${String(r.section).padStart(2, '0')} ${r.domain} ${r.label}`;
  const warnings: string[] = [];
  const expectedKeys = new Set<string>();
  for (const e of expected) {
    const key = countKey(e);
    expectedKeys.add(key);
    const got = actual.get(key) ?? 0;
    if (got !== e.count) warnings.push(`${label(e)}: ${got} clips, expected ${e.count}`);
  }
  // Clips of a checked group that the real dataset does not have at all (e.g. an extra section).
  const checkedGroups = new Set(expected.map((e) => `${e.machine}|${e.subset}|${e.split}`));
  for (const r of counts) {
    if (checkedGroups.has(`${r.machine}|${r.subset}|${r.split}`) && !expectedKeys.has(countKey(r))) {
      warnings.push(`${label(r)}: ${r.count} clips, expected none`);
    }
  }
  return warnings;
}
