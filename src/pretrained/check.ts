/**
 * `checkPretrained`: compares a BEATs / EAT file with the key/shape table its own config implies
 * (spec pretrained §5.3) and counts its parameters (§8), for `asdkit pretrained check`.
 */
import { promises as fs } from 'node:fs';
import { CheckpointError, withCheckpoint, type CheckpointSource, type StateDict, type Tensor, type TorchCheckpoint, type TorchDtype } from '../io/torch-checkpoint.js';
import {
  beatsFrom,
  eatFrom,
  expectedBeatsKeys,
  expectedEatKeys,
  isSafetensorsPath,
  readEatSafetensors,
  type BeatsCheckpoint,
  type BeatsConfig,
  type EatCheckpoint,
  type EatConfig,
  type ExpectedKey,
} from './official.js';

export type PretrainedKind = 'beats' | 'eat';
export interface PretrainedReport {
  file: string;
  kind: PretrainedKind;
  format: 'torch' | 'safetensors';
  fileSize: number;
  cfg: Record<string, unknown>;
  /** EAT config fields taken from the file-name defaults. */
  defaulted: string[];
  keys: number;
  expectedKeys: number;
  missing: string[];
  unexpected: string[];
  wrongShape: Array<{ key: string; shape: number[]; expected: number[] }>;
  wrongDtype: Array<{ key: string; dtype: TorchDtype }>;
  /** Parameters of the expected keys present, shared tensors once (spec §8). */
  parameters: number;
  /** Numbers stored in the kept keys (shared tensors once per key). */
  storedNumbers: number;
  nonFinite: number;
  dropped: string[];
  notes: string[];
  ok: boolean;
}

/** Reads a BEATs or EAT file and compares it with the key table its own config implies. */
export async function checkPretrained(file: CheckpointSource, kind?: PretrainedKind): Promise<PretrainedReport> {
  let r: BeatsCheckpoint | EatCheckpoint;
  let k: PretrainedKind;
  let fileSize: number;
  if (kind !== 'beats' && (await isSafetensorsPath(file))) {
    r = await readEatSafetensors(file as string);
    k = 'eat';
    fileSize = (await fs.stat(r.file)).size;
  } else {
    [r, k, fileSize] = await withCheckpoint(file, async (ck) => {
      const which = kind ?? detectKind(ck);
      return [which === 'beats' ? await beatsFrom(ck) : await eatFrom(ck), which, ck.fileSize] as const;
    });
  }
  const notes: string[] = [];
  let expected: ExpectedKey[];
  try {
    expected = k === 'beats' ? expectedBeatsKeys(r.cfg as BeatsConfig) : expectedEatKeys(r.cfg as EatConfig);
  } catch (e) {
    throw new CheckpointError(r.file, (e as Error).message);
  }
  const byName = new Map(expected.map((e) => [e.name, e]));
  const report: PretrainedReport = {
    file: r.file,
    kind: k,
    format: 'format' in r && r.format === 'huggingface' ? 'safetensors' : 'torch',
    fileSize,
    cfg: r.cfg as unknown as Record<string, unknown>,
    defaulted: 'defaulted' in r ? r.defaulted : [],
    keys: r.state.size,
    expectedKeys: expected.length,
    missing: expected.filter((e) => !r.state.has(e.name)).map((e) => e.name),
    unexpected: [...r.state.keys()].filter((n) => !byName.has(n)),
    wrongShape: [],
    wrongDtype: [],
    parameters: 0,
    storedNumbers: 0,
    nonFinite: 0,
    dropped: r.dropped,
    notes,
    ok: false,
  };
  for (const [name, t] of r.state) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    report.storedNumbers += n;
    if (t.dtype !== 'float32') report.wrongDtype.push({ key: name, dtype: t.dtype });
    else report.nonFinite += (t.data as Float32Array).reduce((c, v) => (Number.isFinite(v) ? c : c + 1), 0);
    const e = byName.get(name);
    if (!e) continue;
    if (e.shape.join() !== t.shape.join()) report.wrongShape.push({ key: name, shape: t.shape, expected: e.shape });
    if (!e.sharedWith) report.parameters += n;
  }
  if (k === 'beats') beatsNotes(r.state, expected, notes);
  if (r.converted.length) notes.push(`${r.converted.length} tensor(s) stored as float16/bfloat16/float64 read as float32, as loading them into the model does`);
  if (k === 'eat' && r.dropped.includes('_ema')) notes.push('the EMA teacher (_ema) and the pre-training decoder are skipped, as ASDKit does');
  report.ok = !report.missing.length && !report.unexpected.length && !report.wrongShape.length && !report.wrongDtype.length && report.nonFinite === 0;
  return report;
}

function detectKind(ck: TorchCheckpoint): PretrainedKind {
  const root = ck.root instanceof Map ? ck.root : undefined;
  const model = root?.get('model');
  if (model instanceof Map) {
    if (model.has('patch_embedding.weight')) return 'beats';
    if (model.has('_ema') || model.has('modality_encoders.IMAGE.local_encoder.proj.weight')) return 'eat';
  }
  return ck.fail('cannot tell whether this is a BEATs or an EAT checkpoint (pass the kind explicitly)');
}

/** Whether BEATs' per-layer relative-bias keys are one shared tensor or equal copies (spec §2.3), and a kept predictor. */
function beatsNotes(state: StateDict, expected: ExpectedKey[], notes: string[]): void {
  const bytes = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const shared = expected.filter((e) => e.sharedWith && state.has(e.name) && state.has(e.sharedWith));
  if (shared.length) {
    const first = state.get(shared[0].sharedWith!)!;
    if (shared.every((e) => state.get(e.name) === first)) notes.push(`the ${shared.length + 1} relative-bias keys share one storage`);
    else if (shared.every((e) => bytes(state.get(e.name)!).equals(bytes(first)))) notes.push('the relative-bias keys are stored as separate, equal copies');
    else notes.push("warning: the per-layer relative-bias copies differ; ASDKit shares one tensor, so the last layer's copy would win");
  }
  if ([...state.keys()].some((n) => n.startsWith('predictor.'))) {
    notes.push("predictor.* is present but the file name lacks 'finetuned': ASDKit would keep the predictor and output class logits");
  }
}
