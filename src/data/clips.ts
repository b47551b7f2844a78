import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import { parseClipPath, type ClipInfo } from '../dcase/index.js';
import { clipDir } from '../run/index.js';

export interface ClipList {
  /** Paths as ASDKit stores them: `<data_dir>/formatted/<dcase>/raw/<machine>/<split>/<file>`. */
  paths: string[];
  info: ClipInfo[];
  /** Files passed over, one line per folder (hidden `._*.wav` resource forks that macOS leaves). */
  warnings: string[];
}

/**
 * The sorted `*.wav` files of one machine split (the order of every extract and score file).
 * Hidden files (`._x.wav` from macOS, `.x.wav`) are skipped as ASDKit's glob skips them, with one
 * warning; a missing or empty folder, or a folder named like a clip, is an error naming the path.
 */
export async function listClips(dataDir: string, dcase: string, machine: string, split: string): Promise<ClipList> {
  const dir = clipDir(dataDir, dcase, machine, split);
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`missing folder ${dir}: no ${split} clips for ${machine} (${dcase}); is --data-dir right and the dataset formatted?`);
    }
    throw new Error(`cannot list ${dir}: ${(e as Error).message}`);
  }
  const wav = entries.filter((e) => e.name.endsWith('.wav'));
  const hidden = wav.filter((e) => e.name.startsWith('.')).map((e) => e.name).sort();
  const paths: string[] = [];
  for (const e of wav) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    const isDir = e.isDirectory() || (e.isSymbolicLink() && (await fs.stat(p).then((st) => st.isDirectory(), () => false)));
    if (isDir) throw new Error(`${p} is a directory, not a clip: move it out of ${dir}`);
    paths.push(p);
  }
  paths.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (paths.length === 0) throw new Error(`no .wav files in ${dir}`);
  const warnings = hidden.length ? [`${dir}: skipped ${hidden.length} hidden file(s) (${hidden.slice(0, 2).join(', ')}${hidden.length > 2 ? ', …' : ''}; macOS writes ._* resource forks)`] : [];
  return { paths, info: paths.map((p) => parseClipPath(p)), warnings };
}

/** Machine folders present under `<data_dir>/formatted/<dcase>/raw`. */
export async function machinesPresent(dataDir: string, dcase: string): Promise<string[]> {
  const dir = path.join(dataDir, 'formatted', dcase, 'raw');
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`missing folder ${dir}: no formatted ${dcase} dataset under ${dataDir}`);
    throw e;
  }
}
