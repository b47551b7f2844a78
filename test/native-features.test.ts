import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeWav16 } from '../src/data/wav.js';
import { readWav, stftPool, stftPoolFiles } from '../src/features/index.js';
import { native } from '../src/native/index.js';
import { melSpectrogram, pool, RAW_SPEC, rng } from './helpers/reference.js';

async function tmpDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-feat-'));
}

function noise(n: number, seed: number): Float32Array {
  const r = rng(seed);
  // A tone plus noise, so both mel and time structure are non-trivial.
  return Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / 16000) + 0.2 * (r() * 2 - 1));
}

function maxRelErr(got: ArrayLike<number>, want: number[]): number {
  const scale = Math.max(...want.map(Math.abs));
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / scale);
  return m;
}

for (const mode of ['time_mean', 'time_max', 'freq_mean', 'freq_max']) {
  test(`STFTPool ${mode} matches an independent float64 DFT within 1e-5`, async (t) => {
    const wave = noise(8000, 1);
    const out = await stftPool([wave], { pool: mode });
    const want = pool(melSpectrogram(wave, RAW_SPEC), mode);
    t.deepEqual(out.shape, [1, want.length]);
    const err = maxRelErr(out.data, want);
    t.true(err < 1e-5, `max error relative to scale ${err}`);
  });
}

test('STFTPool output sizes follow the spec (128 mels; T = 1 + floor(L/512) frames)', async (t) => {
  const waves = [noise(160000, 2), noise(160000, 3)];
  t.deepEqual((await stftPool(waves, { pool: 'time_mean' })).shape, [2, 128]);
  t.deepEqual((await stftPool(waves, { pool: 'freq_mean' })).shape, [2, 313]);
});

test('an invalid pool string is refused', async (t) => {
  await t.throwsAsync(stftPool([noise(1024, 1)], { pool: 'time_median' }), { message: /invalid pool/ });
});

test('files: 16-bit decoding is exact and short clips are tiled, long clips cropped', async (t) => {
  const dir = await tmpDir();
  const clip = noise(3000, 4);
  const file = path.join(dir, 'a.wav');
  await fs.writeFile(file, encodeWav16(clip, 16000));
  const raw = await readWav(file);
  t.is(raw.length, 3000);
  const q = Float32Array.from(clip, (x) => Math.max(-32768, Math.min(32767, Math.round(x * 32768))) / 32768);
  for (let i = 0; i < raw.length; i++) t.true(Math.abs(raw[i] - q[i]) <= 1 / 32768, `sample ${i}`);
  const tiled = await readWav(file, 7000);
  t.is(tiled.length, 7000);
  t.is(tiled[3000], raw[0]);
  t.is(tiled[6999], raw[999]);
  const cropped = await readWav(file, 1000);
  t.deepEqual(Array.from(cropped), Array.from(raw.slice(0, 1000)));
  // File extraction equals waveform extraction of the tiled samples.
  const fromFile = await stftPoolFiles([file], 7000);
  const fromWave = await stftPool([tiled]);
  t.deepEqual(Array.from(fromFile.data), Array.from(fromWave.data));
});

/** A 32-bit float mono 16 kHz WAV of `x` with x[at] = value. */
function floatWav(x: Float32Array, at: number, value: number): Uint8Array {
  const y = Float32Array.from(x);
  y[at] = value;
  const out = new Uint8Array(44 + y.byteLength);
  const v = new DataView(out.buffer);
  const ascii = (o: number, s: string) => [...s].forEach((c, i) => v.setUint8(o + i, c.charCodeAt(0)));
  ascii(0, 'RIFF'); v.setUint32(4, 36 + y.byteLength, true); ascii(8, 'WAVE');
  ascii(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, 3, true); v.setUint16(22, 1, true);
  v.setUint32(24, 16000, true); v.setUint32(28, 64000, true); v.setUint16(32, 4, true); v.setUint16(34, 32, true);
  ascii(36, 'data'); v.setUint32(40, y.byteLength, true);
  out.set(new Uint8Array(y.buffer), 44);
  return out;
}

test('bad WAV files give errors that name the file and the problem', async (t) => {
  const dir = await tmpDir();
  const good = encodeWav16(noise(1600, 5), 16000);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['rate.wav', encodeWav16(noise(4410, 6), 44100), /44100/],
    ['truncated.wav', good.slice(0, good.length - 1000), /truncated/],
    ['text.wav', new TextEncoder().encode('this is not audio at all, just text in a file'), /not a WAV|truncated/i],
    ['nan.wav', floatWav(noise(1600, 9), 100, NaN), /NaN sample at frame 100 of 1600/],
    ['inf.wav', floatWav(noise(1600, 9), 5, Infinity), /infinite sample at frame 5/],
    ['huge.wav', floatWav(noise(1600, 9), 5, 1e30), /sample at frame 5 is 1e\+30, beyond/],
  ];
  for (const [name, bytes, problem] of cases) {
    const file = path.join(dir, name);
    await fs.writeFile(file, bytes);
    const err = await t.throwsAsync(readWav(file));
    t.true(err!.message.includes(file), `${name}: ${err!.message}`);
    t.regex(err!.message, problem, name);
    // The batched extraction path reports the same problem.
    await t.throwsAsync(stftPoolFiles([file], 1600), { message: problem });
  }
  // Two channels are a choice, not an error (DCASE 2026): the default reads the near one, channel 0.
  const stereo = path.join(dir, 'stereo.wav');
  const bytes = encodeWav16(noise(3200, 7), 16000, 2);
  await fs.writeFile(stereo, bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset + 44);
  t.deepEqual(Array.from(await readWav(stereo)), Array.from({ length: 1600 }, (_, i) => view.getInt16(4 * i, true) / 32768));
  const missing = path.join(dir, 'missing.wav');
  await t.throwsAsync(readWav(missing), { message: new RegExp(`${missing}.*(no such|not found|exist)`, 'i') });
});

test('extraction reports progress and can be aborted', async (t) => {
  const dir = await tmpDir();
  const file = path.join(dir, 'long.wav');
  await fs.writeFile(file, encodeWav16(noise(16000 * 4, 8), 16000));
  const paths = Array.from({ length: 400 }, () => file);
  const seen: number[] = [];
  const ac = new AbortController();
  const p = stftPoolFiles(paths, 16000 * 10, {
    batchSize: 8,
    signal: ac.signal,
    onProgress: (done) => {
      seen.push(done);
      if (done >= 16) ac.abort();
    },
  });
  const err = await t.throwsAsync(p);
  t.is(err!.name, 'AbortError');
  t.true(seen.length > 0 && seen[seen.length - 1] < 400, `progress ${seen.join(',')}`);
  // An already-aborted signal never starts the job.
  await t.throwsAsync(stftPoolFiles(paths, 16000, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('the event loop stays free while native work runs', async (t) => {
  const waves = Array.from({ length: 32 }, (_, i) => noise(160000, 10 + i));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  await stftPool(waves);
  clearInterval(timer);
  t.true(ticks > 0, 'timers fired during the native call');
});

test('devices: cpu works, CUDA on a CPU build and malformed devices fail clearly', async (t) => {
  t.is(native().checkDevice('cpu'), 'cpu');
  t.throws(() => native().checkDevice('tpu'), { message: /invalid device "tpu"/ });
  if (!native().info().cudaAvailable) {
    t.throws(() => native().checkDevice('cuda:0'), { message: /CUDA is not available/ });
    await t.throwsAsync(stftPool([noise(1024, 1)], { device: 'cuda' }), { message: /CUDA is not available/ });
  } else {
    t.regex(native().checkDevice('cuda:0'), /^cuda/);
  }
});

test('thread count is settable and defaults to all cores', (t) => {
  const n = native().setNumThreads(0);
  t.is(n, os.availableParallelism());
  t.is(native().setNumThreads(1), 1);
  t.is(native().setNumThreads(0), n);
});
