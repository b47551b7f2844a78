/**
 * Eval-test ground-truth lists `eval_data_list_<yyyy>.csv` (spec data-and-evaluation §2.4;
 * their sources: ground-truth/README.md):
 * a line whose first field does not end in `.wav` names the current machine type; every other
 * line is `<original eval test name>,<formatted name>[,<0|1>]` (2020's third field is ignored).
 * Lines are trimmed first because four of the six files use CRLF.
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machinesOf, type Dcase } from '../../dcase/index.js';

/** machine → original eval test file name → formatted file name. */
export type GroundTruth = Map<string, Map<string, string>>;

/** Parses one list; `file` only names the source in error messages. */
export function parseGroundTruth(text: string, file: string): GroundTruth {
  const out: GroundTruth = new Map();
  let current: Map<string, string> | undefined;
  const lines = text.split('\n');
  // A final line break yields one empty trailing element, not a line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const where = `${file}:${i + 1}`;
    if (line === '') return; // ASDKit would start a machine named "" here; skipping is the useful reading
    const fields = line.split(',');
    if (!fields[0].endsWith('.wav')) {
      if (fields.length !== 1) throw new Error(`${where}: machine header "${line}" must be a single field`);
      if (out.has(line)) throw new Error(`${where}: machine "${line}" appears twice`);
      current = new Map();
      out.set(line, current);
      return;
    }
    if (!current) throw new Error(`${where}: entry "${line}" comes before any machine header`);
    if (fields.length < 2 || fields.length > 3 || !fields[1].endsWith('.wav')) {
      throw new Error(`${where}: expected "<original>.wav,<formatted>.wav[,<0|1>]", got "${line}"`);
    }
    if (current.has(fields[0])) throw new Error(`${where}: "${fields[0]}" is listed twice for this machine`);
    current.set(fields[0], fields[1]);
  });
  return out;
}

const PACKAGE_NAME = 'asdkit';

/** The package root (folder of asdkit's package.json) above this module, if any. */
function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
      } catch {
        // an unreadable package.json further down is not ours; keep walking up
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * Location of a year's list: in this module's folder (`src/data/ground-truth`, or the copy the build
 * places in `dist/data/ground-truth`), else the package's `src/data/ground-truth` — tsc does not
 * copy .csv files, so a dist build without that copy still finds the sources.
 */
export function groundTruthFile(dcase: Dcase): string {
  const name = `eval_data_list_${dcase.slice(-4)}.csv`;
  const near = fileURLToPath(new URL(`./${name}`, import.meta.url));
  if (existsSync(near)) return near;
  const root = packageRoot();
  const fallback = root ? path.join(root, 'src', 'data', 'ground-truth', name) : undefined;
  if (fallback && existsSync(fallback)) return fallback;
  throw new Error(`ground-truth list ${name} not found (looked for ${near}${fallback ? ` and ${fallback}` : ''})`);
}

const cache = new Map<Dcase, Promise<GroundTruth>>();

/** Loads (once per process) the list of a year and checks it covers every eval machine type. */
export function loadGroundTruth(dcase: Dcase): Promise<GroundTruth> {
  let p = cache.get(dcase);
  if (!p) {
    p = (async () => {
      const file = groundTruthFile(dcase);
      const gt = parseGroundTruth(await fs.readFile(file, 'utf8'), file);
      const missing = machinesOf(dcase, 'eval').filter((m) => !gt.has(m));
      if (missing.length > 0) throw new Error(`${file}: no entries for eval machine type(s) ${missing.join(', ')}`);
      return gt;
    })();
    p.catch(() => cache.delete(dcase)); // a failed load may be retried
    cache.set(dcase, p);
  }
  return p;
}
