/**
 * A fitted backend state as a safetensors file: `sections` (int32; empty when pooled) and one
 * tensor per group and name, `group.<i>.<name>`. Read back exactly as written (no recomputation).
 */
import type { NativeBackendState, TensorLike } from '../native/index.js';
import { readSafetensors, toSafeTensor, writeSafetensors, type SafeTensor } from '../io/safetensors.js';

const STATE_FORMAT = 'asdkit.backend-state';

export async function writeBackendState(file: string, state: NativeBackendState): Promise<void> {
  const tensors: Record<string, SafeTensor> = { sections: toSafeTensor({ data: state.sections, shape: [state.sections.length] }) };
  state.groups.forEach((g, i) => {
    for (const [name, t] of Object.entries(g)) tensors[`group.${i}.${name}`] = toSafeTensor(t);
  });
  await writeSafetensors(file, tensors, { format: STATE_FORMAT, groups: String(state.groups.length) });
}

export async function readBackendState(file: string): Promise<NativeBackendState> {
  const { tensors, metadata } = await readSafetensors(file);
  if (metadata.format !== STATE_FORMAT) throw new Error(`${file}: not a backend state file (format "${metadata.format ?? ''}")`);
  const n = Number(metadata.groups);
  const sections = tensors.sections;
  if (!Number.isInteger(n) || n < 1 || !sections || !(sections.data instanceof Int32Array)) throw new Error(`${file}: malformed backend state (groups / sections)`);
  const groups: NativeBackendState['groups'] = Array.from({ length: n }, () => ({}));
  for (const [key, t] of Object.entries(tensors)) {
    if (key === 'sections') continue;
    const m = /^group\.(\d+)\.(\w+)$/.exec(key);
    const i = m ? Number(m[1]) : -1;
    if (!m || i >= n) throw new Error(`${file}: unexpected tensor "${key}"`);
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) throw new Error(`${file}: tensor "${key}" must be F32 or F64`);
    groups[i][m[2]] = { data: t.data, shape: t.shape } as TensorLike<Float32Array | Float64Array>;
  }
  return { sections: sections.data, groups };
}
