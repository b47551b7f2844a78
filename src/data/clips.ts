import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseClipPath, type ClipInfo } from '../dcase/index.js';
import { clipDir } from '../steps/paths.js';

export interface ClipList {
  /** Paths as ASDKit stores them: `<data_dir>/formatted/<dcase>/raw/<machine>/<split>/<file>`. */
  paths: string[];
  info: ClipInfo[];
}

/**
 * The sorted `*.wav` files of one machine split (the order of every extract and score file).
 * A missing folder or an empty one is an error that names the folder.
 */
export async function listClips(dataDir: string, dcase: string, machine: string, split: string): Promise<ClipList> {
  const dir = clipDir(dataDir, dcase, machine, split);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`missing folder ${dir}: no ${split} clips for ${machine} (${dcase}); is --data-dir right and the dataset formatted?`);
    }
    throw new Error(`cannot list ${dir}: ${(e as Error).message}`);
  }
  const paths = names
    .filter((n) => n.endsWith('.wav'))
    .map((n) => path.join(dir, n))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (paths.length === 0) throw new Error(`no .wav files in ${dir}`);
  return { paths, info: paths.map((p) => parseClipPath(p)) };
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
