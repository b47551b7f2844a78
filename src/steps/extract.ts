import path from 'node:path';
import { cropSamples, resolveSec, type SplitTT } from '../dcase/index.js';
import { listClips } from '../data/clips.js';
import { writeNpz, type NpyArray } from '../io/npz.js';
import { ensureThreads, native, runJob, type NativeFrontendConfig, type Precision, type TensorLike } from '../native/index.js';
import { filesMatching, SkipError } from '../util/files.js';
import type { AnyModel } from '../train/model.js';
import type { StepControl } from './common.js';
import { machineDir, type RunIds } from './paths.js';

export interface ExtractOptions extends RunIds, StepControl {
  machine: string;
  /** Folder holding `formatted/<dcase>/raw/...` (ASDKit's `data_dir`). */
  dataDir: string;
  /** A non-trained frontend (raw_spec) … */
  frontend?: NativeFrontendConfig;
  /** … or a trained model (a dis model's own clip length applies and `sec` is ignored). */
  model?: AnyModel;
  /** Clip length: seconds, a `dcase202x` name, or "all" (default: the run's dcase). */
  sec?: number | string;
  batchSize?: number;
  /** Models only: bf16 autocast on CUDA. */
  precision?: Precision;
  overwrite?: boolean;
}

export interface ExtractResult {
  dir: string;
  files: string[];
  rows: Record<SplitTT, number>;
  dim: number;
}

const SPLITS: SplitTT[] = ['train', 'test'];

/**
 * The extract step (spec backends-recipes-outputs §2.1, §6.4): for the machine's train and test
 * clips, writes `<split>_extract.npz` with the frontend outputs (`embed`, …) then `path`,
 * `section`, `is_normal`, `is_target`, rows in sorted path order. Skips when any
 * `*_extract.npz` exists unless `overwrite`.
 */
export async function extract(o: ExtractOptions): Promise<ExtractResult> {
  const dir = machineDir(o, o.machine);
  const existing = await filesMatching(dir, /_extract\.npz$/);
  if (existing.length > 0 && !o.overwrite) throw new SkipError(path.join(dir, '*_extract.npz'));

  if (!o.frontend === !o.model) throw new Error('extract: give either a frontend or a model');
  const sec = resolveSec(o.sec ?? o.dcase);
  // Clip models (dis, pretrained) take their own fixed length; the AE and raw features take `sec`.
  const length = o.model && o.model.kind !== 'ae' ? o.model.config.secSamples : sec === null ? 0 : cropSamples(sec);
  const lists = await Promise.all(SPLITS.map((s) => listClips(o.dataDir, o.dcase, o.machine, s)));
  const total = lists[0].paths.length + lists[1].paths.length;
  ensureThreads();
  const addon = native();

  // Both splits are computed before anything is written, so an interrupted run leaves no
  // half-finished pair that the skip rule would take for done.
  const outputs: Array<Array<[string, NpyArray]>> = [];
  let offset = 0;
  let dim = 0;
  for (const { paths, info } of lists) {
    const base = offset;
    const onProgress = o.onProgress ? (done: number) => o.onProgress!(base + done, total) : undefined;
    const batchSize = o.batchSize ?? 64;
    const out = o.model
      ? await o.model.extractFiles(paths, { length, batchSize, device: o.device, precision: o.precision, signal: o.signal, onProgress })
      : await runJob(() => addon.extractFiles(paths, { frontend: o.frontend!, length, batchSize, device: o.device ?? 'cpu' }, onProgress), o.signal);
    offset += paths.length;
    const arrays: Array<[string, NpyArray]> = Object.entries(out).map(([k, t]) => [k, toNpy(t)]);
    arrays.push(
      ['path', { dtype: 'unicode', shape: [paths.length], data: paths }],
      ['section', int64(info.map((c) => c.section))],
      ['is_normal', int64(info.map((c) => c.isNormal))],
      ['is_target', int64(info.map((c) => c.isTarget))],
    );
    outputs.push(arrays);
    dim = out.embed?.shape[1] ?? 0;
  }
  const files = SPLITS.map((split) => path.join(dir, `${split}_extract.npz`));
  await Promise.all(files.map((f, i) => writeNpz(f, outputs[i])));
  const rows = { train: lists[0].paths.length, test: lists[1].paths.length };
  return { dir, files, rows, dim };
}

function toNpy(t: TensorLike<Float32Array>): NpyArray {
  return { dtype: 'float32', shape: t.shape, data: t.data };
}

function int64(values: number[]): NpyArray {
  return { dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values, (v) => BigInt(v)) };
}
