/**
 * The label step (spec data-and-evaluation §4): class indices for the discriminative recipes,
 * computed from formatted file names only (no audio is opened) and written byte-identically to
 * ASDKit's `json.dump(..., indent=4)` output.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseClipPath, relativeDcasePath, type Dcase } from '../dcase/index.js';
import { skipped, type Skipped } from '../run/index.js';
import { exists, writeAtomic } from '../util/files.js';

export type LabelPreset = 'main' | 'machine_section';
export const LABEL_PRESETS: readonly LabelPreset[] = ['main', 'machine_section'];

export interface LabelFile {
  num_class: number;
  num_class_train: number;
  num_class_test: number;
  /** Relative dcase path (`<dcase>/raw/<machine>/<split>/<file>`) → class index, in path order. */
  path2idx_dict: Record<string, number>;
}

export interface LabelOptions {
  dataDir: string;
  dcase: Dcase;
  preset?: LabelPreset; // default 'main'
}

/** Python's default str ordering: by code point (JS `<` compares UTF-16 units, which differs above U+FFFF). */
export function codePointCompare(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** `main` is machine/section/attribute/domain except in 2020, which has neither attributes nor domains. */
export function labelFields(dcase: Dcase, preset: LabelPreset): readonly ('machine' | 'section' | 'attr' | 'is_target')[] {
  return preset === 'main' && dcase !== 'dcase2020' ? ['machine', 'section', 'attr', 'is_target'] : ['machine', 'section'];
}

/** Names in a folder matching Python's glob `*.wav` (hidden names excluded); [] when absent. */
async function wavNames(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).filter((f) => f.endsWith('.wav') && !f.startsWith('.'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

/** Every `raw/*\/{train,test}/*.wav` path of the formatted dataset (2025 supplemental clips carry no class), sorted by code point. */
export async function formattedPaths(dataDir: string, dcase: Dcase): Promise<{ train: string[]; test: string[] }> {
  // `/`-joined so that the relative dcase path (split on `/`) works on every platform.
  const raw = `${path.resolve(dataDir).split(path.sep).join('/')}/formatted/${dcase}/raw`;
  let machines: string[];
  try {
    machines = (await fs.readdir(raw)).filter((m) => !m.startsWith('.'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`no formatted dataset at ${raw} (run the format step first)`);
    throw e;
  }
  const out = { train: [] as string[], test: [] as string[] };
  for (const split of ['train', 'test'] as const) {
    for (const m of machines) {
      for (const f of await wavNames(`${raw}/${m}/${split}`)) out[split].push(`${raw}/${m}/${split}/${f}`);
    }
    out[split].sort(codePointCompare);
  }
  return out;
}

/** Builds the label dictionary of a formatted dataset (§4.2). */
export async function makeLabels(opts: LabelOptions): Promise<LabelFile> {
  const fields = labelFields(opts.dcase, opts.preset ?? 'main');
  const { train, test } = await formattedPaths(opts.dataDir, opts.dcase);
  if (train.length + test.length === 0) {
    throw new Error(`no formatted clips under ${path.resolve(opts.dataDir)}/formatted/${opts.dcase}/raw/*/{train,test}/`);
  }
  const labelOf = (p: string) => {
    const info = parseClipPath(p);
    const values = { machine: info.machine, section: info.section, attr: info.attr, is_target: info.isTarget };
    return fields.map((f) => String(values[f])).join('---');
  };
  const trainLabels = train.map(labelOf);
  const testLabels = test.map(labelOf);
  const classes = [...new Set([...trainLabels, ...testLabels])].sort(codePointCompare);
  const index = new Map(classes.map((c, i) => [c, i]));
  // ASDKit sorts train and test paths together before building the dictionary.
  const all = [...train.map((p, i) => [p, trainLabels[i]]), ...test.map((p, i) => [p, testLabels[i]])];
  all.sort((a, b) => codePointCompare(a[0], b[0]));
  const path2idx: Record<string, number> = {};
  for (const [p, label] of all) path2idx[relativeDcasePath(p)] = index.get(label)!;
  return {
    num_class: classes.length,
    num_class_train: new Set(trainLabels).size,
    num_class_test: new Set(testLabels).size,
    path2idx_dict: path2idx,
  };
}

/** A Python `json.dumps` string literal (ensure_ascii: everything outside space…~ escaped). */
function pyString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i];
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`; // UTF-16 units, as Python
    else out += ch;
  }
  return `${out}"`;
}

type Json = number | string | { [k: string]: Json };

/** `json.dumps(value, indent=4)`: `,` item separator, `": "` key separator, `{}` when empty. */
export function pyJsonDumps(value: Json, indent = 4, level = 0): string {
  if (typeof value === 'string') return pyString(value);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`pyJsonDumps handles integers only, got ${value}`);
    return String(value);
  }
  const keys = Object.keys(value);
  if (keys.length === 0) return '{}';
  const pad = ' '.repeat(indent * (level + 1));
  const body = keys.map((k) => `${pad}${pyString(k)}: ${pyJsonDumps(value[k], indent, level + 1)}`).join(',\n');
  return `{\n${body}\n${' '.repeat(indent * level)}}`;
}

/** Builds and writes `<outDir>/<dcase>/<preset>.json` (no trailing newline, like json.dump). */
export async function writeLabels(
  opts: LabelOptions & { outDir?: string; overwrite?: boolean },
): Promise<{ file: string; labels: LabelFile } | Skipped> {
  const file = path.join(opts.outDir ?? 'labels', opts.dcase, `${opts.preset ?? 'main'}.json`);
  if (!opts.overwrite && (await exists(file))) return skipped(file);
  const labels = await makeLabels(opts);
  await writeAtomic(file, pyJsonDumps(labels as unknown as Json));
  return { file, labels };
}
