import type { TensorLike } from './index.js';

/** Equal-length waveforms as one [B, L] batch (a batch given as a tensor passes through). */
export function stackWaves(waves: Float32Array[] | TensorLike, what = 'waveforms'): TensorLike {
  if (!Array.isArray(waves)) return waves;
  const L = waves[0]?.length ?? 0;
  const data = new Float32Array(waves.length * L);
  waves.forEach((w, i) => {
    if (w.length !== L) throw new RangeError(`${what}: waveform ${i} has ${w.length} samples, the first has ${L} (crop or tile them first)`);
    data.set(w, i * L);
  });
  return { data, shape: [waves.length, L] };
}
