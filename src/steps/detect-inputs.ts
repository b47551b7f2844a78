/**
 * What `asdkit detect` scores: files as given, folders walked for audio files, glob patterns,
 * and lists of paths (a file, or `-` for stdin), one per line. Order: as given; a folder's and
 * a glob's files sorted by path. A path named twice is scored once.
 */
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { glob, isDynamicPattern } from 'tinyglobby';

/** Extensions a folder walk picks up (files named explicitly are tried whatever their name). */
export const AUDIO_EXTENSIONS = ['wav', 'flac', 'ogg', 'oga', 'opus', 'mp3', 'aif', 'aiff', 'aifc', 'au', 'caf', 'w64', 'rf64'];
const AUDIO_RE = new RegExp(`\\.(${AUDIO_EXTENSIONS.join('|')})$`, 'i');

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith('._')) continue; // macOS resource forks, as the DCASE walk skips them
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (AUDIO_RE.test(e.name)) out.push(p);
  }
  return out;
}

async function readList(list: string): Promise<string[]> {
  const input = list === '-' ? process.stdin : createReadStream(list);
  const lines: string[] = [];
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      const t = line.trim();
      if (t && !t.startsWith('#')) lines.push(t);
    }
  } catch (e) {
    throw new Error(`${list === '-' ? 'stdin' : list}: cannot read the file list (${(e as Error).message})`);
  }
  return lines;
}

/**
 * The clips to score. A folder argument is walked (audio extensions only); a pattern with glob
 * syntax that is not an existing path is expanded; anything else, and every line of the
 * `filesFrom` list, is taken as a file (a missing or unreadable one becomes an error row when
 * scored, not an error here). A glob that matches nothing is an error naming it.
 */
export async function expandInputs(args: readonly string[], filesFrom?: string): Promise<string[]> {
  const seen = new Set<string>();
  const out: string[] = [];
  const add = (p: string) => {
    if (!seen.has(p)) {
      seen.add(p);
      out.push(p);
    }
  };
  for (const a of args) {
    const stat = await fs.stat(a).catch(() => undefined);
    if (stat?.isDirectory()) {
      for (const f of await walk(a)) add(f);
    } else if (!stat && isDynamicPattern(a)) {
      const hits = (await glob(a, { onlyFiles: true, expandDirectories: false })).sort();
      if (hits.length === 0) throw new Error(`${a}: no file matches this pattern`);
      for (const f of hits) add(f);
    } else {
      add(a);
    }
  }
  // A list names files: each line is scored as it is (a folder there becomes an error row).
  if (filesFrom !== undefined) for (const f of await readList(filesFrom)) add(f);
  return out;
}
