/**
 * The official BEATs / EAT weights as the native model takes them: the file is located (with
 * download instructions when it is missing), read by the restricted checkpoint reader, and its
 * configuration and float32 tensors are returned under the official key names.
 */
import type { StateDict } from '../io/torch-checkpoint.js';
import { readBeatsCheckpoint, readEatCheckpoint } from './official.js';
import type { TensorDict } from '../native/index.js';
import { resolvePretrained } from './sources.js';

export async function readPretrainedCheckpoint(
  encoder: 'beats' | 'eat',
  configured: string,
): Promise<{ file: string; cfg: Record<string, number | boolean | string>; tensors: TensorDict }> {
  const file = await resolvePretrained(configured);
  if (encoder === 'beats') {
    const c = await readBeatsCheckpoint(file);
    return { file, cfg: c.cfg, tensors: tensorDict(file, c.state) };
  }
  const c = await readEatCheckpoint(file);
  return { file, cfg: { ...c.cfg }, tensors: tensorDict(file, c.state) };
}

function tensorDict(file: string, state: StateDict): TensorDict {
  const out: TensorDict = {};
  for (const [name, t] of state) {
    if (!(t.data instanceof Float32Array)) throw new Error(`${file}: tensor ${name} is ${t.dtype}, expected a float tensor`);
    out[name] = { data: t.data, shape: t.shape };
  }
  return out;
}
