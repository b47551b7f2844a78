/**
 * What a step's outputs were made from, kept next to them as `.asdkit-<step>.json`: the settings
 * that change the outputs, the data clips and the input files (size and mtime each). A step whose
 * outputs exist is done only when its fingerprint still matches; otherwise it refuses and says what
 * differs. Outputs without a fingerprint (an older asdkit, ASDKit itself) count as done.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeAtomic } from '../util/files.js';

/** `[size, mtimeMs]`, or null for a missing file. */
export type Stamp = [number, number] | null;

export interface Fingerprint {
  /** Settings that change the outputs (nested objects are compared key by key). */
  settings: Record<string, unknown>;
  /** Data clips, by path relative to the formatted data folder (`<machine>/<split>/<file>`). */
  clips?: Record<string, Stamp>;
  /** Other input files (extract files, a checkpoint), by a short name. */
  files?: Record<string, Stamp>;
  /** What the step wrote, where that depends on the data (the tables); recorded, not compared. */
  outputs?: string[];
}

const FORMAT = 1;
const SHOWN = 3;

export const fingerprintFile = (dir: string, step: string): string => path.join(dir, `.asdkit-${step}.json`);

async function stamp(file: string): Promise<Stamp> {
  const st = await fs.stat(file).catch(() => undefined);
  return st ? [st.size, st.mtimeMs] : null;
}

/** Stamps of files by name (`{ 'last.ckpt': '/…/last.ckpt' }`). */
export async function stampFiles(files: Record<string, string>): Promise<Record<string, Stamp>> {
  const out: Record<string, Stamp> = {};
  for (const [name, file] of Object.entries(files)) out[name] = await stamp(file);
  return out;
}

/** Stamps of data clips, keyed by their path relative to `base` (so a listing reads the same wherever the data is). */
export async function stampClips(base: string, paths: readonly string[]): Promise<Record<string, Stamp>> {
  const out: Record<string, Stamp> = {};
  const stamps = new Array<Stamp>(paths.length);
  // A few stats at a time: tens of thousands of clips take a second, not a minute.
  for (let i = 0; i < paths.length; i += 64) {
    const part = await Promise.all(paths.slice(i, i + 64).map(stamp));
    part.forEach((s, k) => (stamps[i + k] = s));
  }
  paths.forEach((p, i) => (out[path.relative(base, p).split(path.sep).join('/')] = stamps[i]));
  return out;
}

/** Drops a step's fingerprint before its outputs are rewritten: half-replaced outputs must not pass for the old ones. */
export async function clearFingerprint(dir: string, step: string): Promise<void> {
  await fs.rm(fingerprintFile(dir, step), { force: true });
}

/** Records the fingerprint of outputs just written (after them: it commits them). */
export async function writeFingerprint(dir: string, step: string, fp: Fingerprint): Promise<void> {
  await writeAtomic(fingerprintFile(dir, step), JSON.stringify({ format: FORMAT, step, ...fp }) + '\n');
}

async function readFingerprint(file: string): Promise<Fingerprint | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const fp = JSON.parse(text) as Fingerprint & { format?: number };
    if (fp.format === FORMAT && typeof fp.settings === 'object' && fp.settings !== null) return fp;
  } catch {
    // a damaged fingerprint is reported as a difference below
  }
  return { settings: { fingerprint: 'unreadable' } };
}

/** The outputs a step recorded with its fingerprint, if it did. */
export async function recordedOutputs(dir: string, step: string): Promise<string[] | undefined> {
  const fp = await readFingerprint(fingerprintFile(dir, step));
  return Array.isArray(fp?.outputs) ? fp.outputs : undefined;
}

/** Dotted keys → values; arrays and scalars are leaves. */
function flatten(o: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
    for (const [k, v] of Object.entries(o)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (o !== undefined) {
    out.set(prefix, JSON.stringify(o));
  }
  return out;
}

const short = (v: string | undefined) => (v === undefined ? '(none)' : v.length > 60 ? `${v.slice(0, 57)}...` : v);

function countDiff(before: Record<string, Stamp> = {}, now: Record<string, Stamp> = {}): { added: string[]; removed: string[]; changed: string[] } {
  const added = Object.keys(now).filter((k) => !(k in before));
  const removed = Object.keys(before).filter((k) => !(k in now));
  const changed = Object.keys(now).filter((k) => k in before && JSON.stringify(before[k]) !== JSON.stringify(now[k]));
  return { added, removed, changed };
}

/** What differs between a stored fingerprint and the current one, one phrase per difference. */
export function fingerprintDifferences(before: Fingerprint, now: Fingerprint): string[] {
  const out: string[] = [];
  const a = flatten(before.settings), b = flatten(now.settings);
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(k) !== b.get(k)) out.push(`${k}: ${short(a.get(k))} -> ${short(b.get(k))}`);
  }
  const c = countDiff(before.clips, now.clips);
  for (const [what, list] of Object.entries(c)) {
    if (list.length) out.push(`${list.length} clip(s) ${what} (${list.slice(0, SHOWN).join(', ')}${list.length > SHOWN ? ', …' : ''})`);
  }
  const f = countDiff(before.files, now.files);
  for (const [what, list] of Object.entries(f)) for (const name of list) out.push(`${name} ${what}`);
  return out;
}

/**
 * Refuses outputs in `dir` made from other inputs than `now()` gives: the error lists the
 * differences and says that `--overwrite` recomputes. No stored fingerprint: the outputs count as
 * done (and `now` is not called, so a run whose data is gone can still reuse them).
 */
export async function checkFingerprint(dir: string, step: string, now: () => Promise<Fingerprint>): Promise<void> {
  const file = fingerprintFile(dir, step);
  const before = await readFingerprint(file);
  if (!before) return;
  const diffs = fingerprintDifferences(before, JSON.parse(JSON.stringify(await now())) as Fingerprint);
  if (diffs.length === 0) return;
  throw new Error(`${step}: the outputs in ${dir} were made from other inputs (${diffs.join('; ')}); --overwrite recomputes them (recorded in ${path.basename(file)})`);
}
