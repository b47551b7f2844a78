/**
 * Feature extraction for embedding in other tools: WAV decoding, and the raw_spec frontend
 * (STFT → mel → pooling) on waveforms in memory or on files, in the native core.
 */
import { ensureThreads, native, runJob, type NativeFrontendConfig, type TensorLike } from '../native/index.js';
import { DEVICE, EXTRACT_BATCH_SIZE, type StepControl } from '../run/index.js';
import { stackWaves } from '../native/waves.js';

/** raw_spec frontend settings (defaults: 1024/512, 128 mels, power 1, 0–8000 Hz, no log). */
export interface StftPoolOptions extends Partial<Omit<NativeFrontendConfig, 'type'>>, StepControl {
  batchSize?: number;
}

function frontendConfig(o: StftPoolOptions): NativeFrontendConfig {
  const { device: _d, onProgress: _p, signal: _s, batchSize: _b, ...settings } = o;
  return { ...settings, type: 'stft_pool', pool: o.pool ?? 'time_mean' };
}

/** Decodes a 16 kHz mono WAV; with `length` > 0 crops/tiles it to that many samples. */
export async function readWav(path: string, length = 0, signal?: AbortSignal): Promise<Float32Array> {
  const t = await runJob(() => native().readWav(path, length), signal);
  return t.data;
}

/** STFTPool embeddings of equal-length waveforms (rows of a batch) → (B × dim). */
export async function stftPool(waves: TensorLike<Float32Array> | Float32Array[], o: StftPoolOptions = {}): Promise<TensorLike<Float32Array>> {
  const batch = stackWaves(waves, 'stftPool');
  ensureThreads();
  const out = await runJob(
    () => native().frontendForward(batch, { frontend: frontendConfig(o), length: 0, batchSize: o.batchSize ?? EXTRACT_BATCH_SIZE, device: o.device ?? DEVICE }, o.onProgress),
    o.signal,
  );
  return out.embed;
}

/** STFTPool embeddings of WAV files, each cropped/tiled to `length` samples → (N × dim). */
export async function stftPoolFiles(paths: string[], length: number, o: StftPoolOptions = {}): Promise<TensorLike<Float32Array>> {
  ensureThreads();
  const out = await runJob(
    () => native().extractFiles(paths, { frontend: frontendConfig(o), length, batchSize: o.batchSize ?? EXTRACT_BATCH_SIZE, device: o.device ?? DEVICE }, o.onProgress),
    o.signal,
  );
  return out.embed;
}
