/**
 * ASDKit's checkpoint files and selection rules (spec frontends-and-training §7.5, §8.1):
 * `epoch=<e>-loss=<9 decimals>.ckpt` (single best by lowest monitored loss),
 * `interval_epoch=<e>-loss=<…>.ckpt` (every `interval` epochs) and `last.ckpt`; `ckpt_ver`
 * `last`, `epoch_<x>`, `min`, `max`. Our .ckpt files are safetensors (see model.ts).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const LAST_CKPT = 'last.ckpt';

/** Python's `f"{v:.9f}"`, including its nan/inf spellings. */
export function lossText(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return v.toFixed(9);
}

export const bestName = (epoch: number, loss: number) => `epoch=${epoch}-loss=${lossText(loss)}.ckpt`;
export const intervalName = (epoch: number, loss: number) => `interval_epoch=${epoch}-loss=${lossText(loss)}.ckpt`;

const BEST_RE = /^epoch=(\d+)-loss=(.+)\.ckpt$/;
const INTERVAL_RE = /^interval_epoch=(\d+)-loss=(.+)\.ckpt$/;

export interface CheckpointFile {
  file: string;
  epoch: number;
  loss: number;
}

async function list(dir: string, re: RegExp): Promise<CheckpointFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    throw new Error(`checkpoint directory not found: ${dir}`);
  }
  return names.flatMap((n) => {
    const m = re.exec(n);
    // The value after the last '=' (Python float() reads nan/inf too).
    return m ? [{ file: path.join(dir, n), epoch: Number(m[1]), loss: Number(n.slice(n.lastIndexOf('=') + 1, -'.ckpt'.length)) }] : [];
  });
}

export const bestCheckpoints = (dir: string) => list(dir, BEST_RE);
export const intervalCheckpoints = (dir: string) => list(dir, INTERVAL_RE);

/** The file a `ckpt_ver` names in a checkpoints folder; errors say what was there. */
export async function selectCheckpoint(dir: string, ckptVer: string): Promise<string> {
  if (ckptVer === 'last') {
    const f = path.join(dir, LAST_CKPT);
    await fs.access(f).catch(() => {
      throw new Error(`no ${LAST_CKPT} in ${dir} (train the model first)`);
    });
    return f;
  }
  const ep = /^epoch_(\d+)$/.exec(ckptVer);
  if (ep) {
    const want = Number(ep[1]) - 1;
    const hits = (await intervalCheckpoints(dir)).filter((c) => c.epoch === want);
    if (hits.length !== 1) throw new Error(`ckpt_ver ${ckptVer}: expected exactly one interval_epoch=${want}-*.ckpt in ${dir}, found ${hits.length}`);
    return hits[0].file;
  }
  if (ckptVer === 'min' || ckptVer === 'max') {
    const all = await bestCheckpoints(dir);
    if (all.length === 0) throw new Error(`ckpt_ver ${ckptVer}: no epoch=*.ckpt in ${dir}`);
    const sign = ckptVer === 'min' ? 1 : -1;
    // Ties go to the larger epoch.
    all.sort((a, b) => sign * (a.loss - b.loss) || b.epoch - a.epoch);
    return all[0].file;
  }
  throw new Error(`unknown ckpt_ver "${ckptVer}" (last, min, max or epoch_<n>)`);
}
