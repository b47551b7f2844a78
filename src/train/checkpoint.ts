/**
 * ASDKit's checkpoint files and selection rules (spec frontends-and-training §7.5, §8.1):
 * `epoch=<e>-loss=<9 decimals>.ckpt` (single best by lowest monitored loss),
 * `interval_epoch=<e>-loss=<…>.ckpt` (every `interval` epochs) and `last.ckpt`; `ckpt_ver`
 * `last`, `epoch_<x>`, `min`, `max`. Our .ckpt files are safetensors (see model.ts).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { SafeTensor } from '../io/safetensors.js';
import type { CheckpointInfo } from './trainable-model.js';

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

/** The metadata key of the tensor digest (absent in checkpoints of asdkit before it was added). */
export const DIGEST_KEY = 'tensors_sha256';

/** sha256 over the tensors in name order (name, dtype, shape, bytes): a flipped bit is caught at load. */
export function tensorDigest(tensors: Record<string, SafeTensor>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    h.update(`${name}\0${t.dtype}\0${t.shape.join(',')}\0`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

/** Refuses a checkpoint whose tensors do not match the digest it was written with. */
export function verifyDigest(file: string, tensors: Record<string, SafeTensor>, metadata: Record<string, string>): void {
  const want = metadata[DIGEST_KEY];
  if (want !== undefined && tensorDigest(tensors) !== want) {
    throw new Error(`${file}: the tensor data does not match the checkpoint's checksum (the file is damaged); retrain or restore it`);
  }
}

/** A checkpoint's `info` metadata, checked field by field; errors name the file. */
export function parseCheckpointInfo(file: string, text: string | undefined): CheckpointInfo {
  let info: unknown;
  try {
    info = JSON.parse(text ?? '');
  } catch (e) {
    throw new Error(`${file}: malformed checkpoint metadata (${(e as Error).message})`);
  }
  const i = info as CheckpointInfo;
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (typeof info !== 'object' || info === null) throw new Error(`${file}: malformed checkpoint metadata (info is not an object)`);
  if (!count(i.epoch)) throw new Error(`${file}: malformed checkpoint metadata (epoch ${JSON.stringify(i.epoch)} is not a count)`);
  if (!count(i.globalStep)) throw new Error(`${file}: malformed checkpoint metadata (globalStep ${JSON.stringify(i.globalStep)} is not a count)`);
  if (typeof i.loss !== 'number' && i.loss !== null) throw new Error(`${file}: malformed checkpoint metadata (loss is not a number)`);
  if (typeof i.train !== 'object' || i.train === null) throw new Error(`${file}: malformed checkpoint metadata (no train settings)`);
  return i;
}
