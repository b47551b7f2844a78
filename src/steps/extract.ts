import path from 'node:path';
import { cropSamples, machineSec, SAMPLE_RATE, type SplitTT } from '../dcase/index.js';
import { listClips } from '../data/clips.js';
import { croppedClipsWarning } from '../data/wav.js';
import { writeNpz, type NpyArray } from '../io/npz.js';
import { ensureThreads, native, runJob, type NativeChannelOptions, type NativeFrontendConfig, type Precision, type TensorLike } from '../native/index.js';
import { checkFingerprint, clearFingerprint, EXTRACT_BATCH_SIZE, formattedDir, machineDir, skipped, stampClips, stampFiles, writeFingerprint, type Fingerprint, type RunIds, type Skipped, type StepControl } from '../run/index.js';
import type { AnyModel } from '../train/model.js';
import { exists, sweepStaleTemps } from '../util/files.js';

export interface ExtractOptions extends RunIds, StepControl {
  machine: string;
  /** Folder holding `formatted/<dcase>/raw/...` (ASDKit's `data_dir`). */
  dataDir: string;
  /** A non-trained frontend (raw_spec) … */
  frontend?: NativeFrontendConfig;
  /** … or a trained model (a dis model's own clip length applies and `sec` is ignored). */
  model?: AnyModel;
  /** The checkpoint `model` was loaded from: a newer one makes these extracts stale. */
  source?: string;
  /** Clip length: seconds, a `dcase202x` name, or "all" (default: the run's dcase). */
  sec?: number | string;
  batchSize?: number;
  /** Which channel(s) of the clips to read (default near; see the run setting `channel`). */
  channel?: NativeChannelOptions;
  /** Models only: bf16 autocast (CUDA, or a CPU with avx512_bf16/amx_bf16). */
  precision?: Precision;
  overwrite?: boolean;
}

export interface ExtractResult {
  dir: string;
  files: string[];
  rows: Record<SplitTT, number>;
  dim: number;
  /** Clips passed over (hidden files), one line per folder. */
  warnings: string[];
}

const SPLITS: SplitTT[] = ['train', 'test'];

/**
 * The extract step (spec backends-recipes-outputs §2.1, §6.4): for the machine's train and test
 * clips, writes `<split>_extract.npz` with the frontend outputs (`embed`, …) then `path`,
 * `section`, `is_normal`, `is_target`, rows in sorted path order. Done (skipped unless
 * `overwrite`) when both files exist and were made from the same inputs (its fingerprint: the
 * settings, the clips and the model's checkpoint); other inputs are refused with the difference.
 */
export async function extract(o: ExtractOptions): Promise<ExtractResult | Skipped> {
  const dir = machineDir(o, o.machine);
  const files = SPLITS.map((split) => path.join(dir, `${split}_extract.npz`));
  if (!o.frontend === !o.model) throw new Error('extract: give either a frontend or a model');
  const sec = machineSec(o.dcase, o.machine, o.sec);
  // Clip models (dis, pretrained) take their own fixed length; the AE and raw features the machine's.
  const length = o.model && o.model.kind !== 'ae' ? o.model.config.secSamples : sec === null ? 0 : cropSamples(sec);
  // near is left out of the fingerprint, so extracts made before the setting existed still match.
  const channel = o.channel?.channel === undefined || o.channel.channel === 'near' ? {} : o.channel;
  const inputs = async () => {
    const lists = await Promise.all(SPLITS.map((s) => listClips(o.dataDir, o.dcase, o.machine, s)));
    const fingerprint: Fingerprint = {
      settings: {
        data_dir: path.resolve(o.dataDir),
        length,
        frontend: o.frontend ?? null,
        model: o.model ? { kind: o.model.kind, config: o.model.config } : null,
        precision: o.precision ?? 'fp32',
        ...(channel.channel === undefined ? {} : { channel }),
      },
      clips: await stampClips(formattedDir(o.dataDir, o.dcase), [...lists[0].paths, ...lists[1].paths]),
      files: o.source ? await stampFiles({ checkpoint: o.source }) : {},
    };
    return { lists, fingerprint };
  };
  // A half-written pair is redone; a whole one is done if it was made from these inputs.
  if (!o.overwrite && (await Promise.all(files.map(exists))).every(Boolean)) {
    await checkFingerprint(dir, 'extract', async () => (await inputs()).fingerprint);
    return skipped(path.join(dir, '*_extract.npz'));
  }
  const { lists, fingerprint } = await inputs();
  await sweepStaleTemps(dir);
  const total = lists[0].paths.length + lists[1].paths.length;
  ensureThreads();
  const addon = native();

  // Both splits are computed before anything is written, so an interruption rarely leaves half a pair.
  const outputs: Array<Array<[string, NpyArray]>> = [];
  let offset = 0;
  let dim = 0;
  for (const { paths, info } of lists) {
    const base = offset;
    const onProgress = o.onProgress ? (done: number) => o.onProgress!(base + done, total) : undefined;
    const batchSize = o.batchSize ?? EXTRACT_BATCH_SIZE;
    const out = o.model
      ? await o.model.extractFiles(paths, { length, batchSize, channel: channel.channel, device: o.device, precision: o.precision, signal: o.signal, onProgress })
      : await runJob(() => addon.extractFiles(paths, { frontend: o.frontend!, length, batchSize, ...channel, device: o.device ?? 'cpu' }, onProgress), o.signal);
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
  await clearFingerprint(dir, 'extract');
  for (const [i, f] of files.entries()) await writeNpz(f, outputs[i]);
  await writeFingerprint(dir, 'extract', fingerprint);
  const rows = { train: lists[0].paths.length, test: lists[1].paths.length };
  const cropped = await croppedClipsWarning([...lists[0].paths, ...lists[1].paths], length, SAMPLE_RATE);
  return { dir, files, rows, dim, warnings: [...lists.flatMap((l) => l.warnings), ...(cropped ? [cropped] : [])] };
}

function toNpy(t: TensorLike<Float32Array>): NpyArray {
  return { dtype: 'float32', shape: t.shape, data: t.data };
}

function int64(values: number[]): NpyArray {
  return { dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values, (v) => BigInt(v)) };
}
