import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeWav16 } from '../src/data/wav.js';
import { native, type NativeDecodeOptions } from '../src/native/index.js';

async function tmpDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-decode-'));
}

function sine(sr: number, hz: number, amplitude: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / sr));
}

function decode(paths: string[], options: NativeDecodeOptions, onProgress?: (done: number, total: number) => void) {
  return native().decodeClips(paths, options, onProgress).promise;
}

// 20·log10 of the RMS relative to a sine of `amplitude`, and zero crossings, of x[from, from + n).
function levelDb(x: Float32Array, from: number, n: number, amplitude: number): number {
  let s = 0;
  for (let i = from; i < from + n; i++) s += x[i] * x[i];
  return 20 * Math.log10(Math.sqrt(s / n) / (amplitude / Math.SQRT2));
}
function zeroCrossings(x: Float32Array, from: number, n: number): number {
  let c = 0;
  for (let i = from + 1; i < from + n; i++) if (x[i - 1] < 0 !== x[i] < 0) c++;
  return c;
}

test('a 16 kHz mono 16-bit WAV decodes to exactly what readWav gives, cropped and tiled', async (t) => {
  const dir = await tmpDir();
  const file = path.join(dir, 'a.wav');
  await fs.writeFile(file, encodeWav16(sine(16000, 440, 0.3, 3000), 16000));
  const raw = await native().readWav(file, 7000).promise;
  const out = await decode([file], { sampleRate: 16000, length: 7000 });
  t.deepEqual(out.wave.shape, [1, 7000]);
  t.deepEqual(Array.from(out.wave.data), Array.from(raw.data));
  t.deepEqual(out.files, [{ ok: true, sampleRate: 16000, channels: 1, frames: 3000, format: 'WAV' }]);
  await fs.rm(dir, { recursive: true });
});

test('resampling a 1 kHz sine from 44.1 kHz to 16 kHz keeps its frequency and level (0.1 dB)', async (t) => {
  const dir = await tmpDir();
  const file = path.join(dir, 'sine44k.wav');
  await fs.writeFile(file, encodeWav16(sine(44100, 1000, 0.5, 3 * 44100), 44100));
  const out = await decode([file], { sampleRate: 16000, length: 48000 });
  t.true(out.files[0].ok);
  t.is(out.files[0].sampleRate, 44100);
  const x = out.wave.data;
  // The middle second, away from both ends of the signal.
  t.true(Math.abs(zeroCrossings(x, 16000, 16000) - 2000) <= 2);
  const db = levelDb(x, 16000, 16000, 0.5);
  t.true(Math.abs(db) < 0.1, `level ${db} dB`);
  await fs.rm(dir, { recursive: true });
});

test('stereo: mean, near and far channels; far on mono is an error entry naming the file', async (t) => {
  const dir = await tmpDir();
  const stereo = path.join(dir, 'stereo.wav');
  const left = sine(16000, 440, 0.5, 1000);
  const inter = new Float32Array(2000); // right channel silent
  for (let i = 0; i < 1000; i++) inter[2 * i] = left[i];
  await fs.writeFile(stereo, encodeWav16(inter, 16000, 2));
  const mono = path.join(dir, 'mono.wav');
  await fs.writeFile(mono, encodeWav16(left, 16000));
  const near = await decode([stereo], { sampleRate: 16000, length: 1000, channel: 'near' });
  const far = await decode([stereo], { sampleRate: 16000, length: 1000, channel: 'far' });
  const mean = await decode([stereo], { sampleRate: 16000, length: 1000 });
  t.true(far.wave.data.every((v) => v === 0));
  t.true(mean.wave.data.every((v, i) => v === near.wave.data[i] / 2));
  t.is(near.files[0].channels, 2);
  const bad = await decode([mono, stereo], { sampleRate: 16000, length: 1000, channel: 'far' });
  t.false(bad.files[0].ok);
  t.is(bad.files[0].error, `${mono}: mono audio has no far channel`);
  t.true(bad.files[1].ok);
  t.deepEqual(bad.wave.shape, [1, 1000]);
  await fs.rm(dir, { recursive: true });
});

test('hostile files become error entries naming them; the other files of the call still decode', async (t) => {
  const dir = await tmpDir();
  const good = path.join(dir, 'good.wav');
  await fs.writeFile(good, encodeWav16(sine(16000, 440, 0.3, 2000), 16000));
  const truncated = path.join(dir, 'truncated.wav');
  await fs.writeFile(truncated, encodeWav16(sine(16000, 440, 0.3, 20000), 16000).subarray(0, 5000));
  const empty = path.join(dir, 'empty.wav');
  await fs.writeFile(empty, new Uint8Array(0));
  const directory = path.join(dir, 'x.wav');
  await fs.mkdir(directory);
  const random = path.join(dir, 'random.wav');
  let seed = 12345;
  await fs.writeFile(random, Uint8Array.from({ length: 8192 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
  const missing = path.join(dir, 'missing.wav');
  const paths = [truncated, good, empty, directory, random, missing, good];
  const seen: number[] = [];
  const out = await decode(paths, { sampleRate: 16000, length: 4000, ioThreads: 3 }, (done) => seen.push(done));
  t.deepEqual(
    out.files.map((f) => f.ok),
    [false, true, false, false, false, false, true],
  );
  for (const [i, f] of out.files.entries()) {
    if (!f.ok) t.true(f.error!.startsWith(`${paths[i]}: `), f.error);
  }
  t.regex(out.files[0].error!, /truncated/);
  t.regex(out.files[2].error!, /empty/);
  t.regex(out.files[3].error!, /directory/);
  t.regex(out.files[5].error!, /no such file/);
  t.deepEqual(out.wave.shape, [2, 4000]);
  t.deepEqual(Array.from(out.wave.data.subarray(0, 4000)), Array.from(out.wave.data.subarray(4000)));
  t.is(seen[seen.length - 1], paths.length);
  await fs.rm(dir, { recursive: true });
});

test('a 3-hour WAV costs what a clip costs: only the needed samples are read', async (t) => {
  const dir = await tmpDir();
  const file = path.join(dir, 'long.wav');
  const sr = 16000;
  const frames = 3 * 3600 * sr;
  // A valid 16-bit WAV: a real header and 1 s of tone, the rest of the data zeros (silence) left
  // sparse by truncate, so the test writes ~32 kB, not 345 MB.
  const head = encodeWav16(sine(sr, 440, 0.3, sr), sr);
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  v.setUint32(4, 36 + frames * 2, true);
  v.setUint32(40, frames * 2, true);
  await fs.writeFile(file, head);
  await fs.truncate(file, 44 + frames * 2);
  const t0 = performance.now();
  const out = await decode([file], { sampleRate: 16000, length: 32000 });
  const ms = performance.now() - t0;
  t.true(out.files[0].ok);
  t.is(out.files[0].frames, frames);
  t.deepEqual(out.wave.shape, [1, 32000]);
  t.true(out.wave.data.subarray(16000).every((x) => x === 0));
  t.true(ms < 2000, `${ms} ms`);
  // Resampled (44.1 kHz target) it is still cheap.
  const t1 = performance.now();
  const up = await decode([file], { sampleRate: 44100, length: 44100 });
  t.true(up.files[0].ok);
  t.true(performance.now() - t1 < 2000);
  await fs.rm(dir, { recursive: true });
});

test('invalid options are RangeErrors; a wrong type is a TypeError', async (t) => {
  const addon = native();
  t.throws(() => addon.decodeClips([], { sampleRate: 0, length: 10 }), { instanceOf: RangeError });
  t.throws(() => addon.decodeClips([], { sampleRate: 16000, length: 0 }), { instanceOf: RangeError });
  t.throws(() => addon.decodeClips([], { sampleRate: 16000, length: 10, channel: 'left' as 'mean' }), { instanceOf: RangeError });
  t.throws(() => addon.decodeClips([1 as unknown as string], { sampleRate: 16000, length: 10 }), { instanceOf: TypeError });
  const empty = await addon.decodeClips([], { sampleRate: 16000, length: 10 }).promise;
  t.deepEqual(empty.wave.shape, [0, 10]);
  t.deepEqual(empty.files, []);
});

function decodeBuffers(buffers: Uint8Array[], options: NativeDecodeOptions & { names?: string[] }) {
  return native().decodeBuffers(buffers, options).promise;
}

test('decodeBuffers: a Buffer and a Uint8Array view at a non-zero byteOffset decode exactly as decodeClips on the same bytes', async (t) => {
  const dir = await tmpDir();
  const mono = encodeWav16(sine(16000, 440, 0.3, 3000), 16000);
  const inter = new Float32Array(2 * 44100);
  const tone = sine(44100, 1000, 0.5, 44100);
  for (let i = 0; i < 44100; i++) [inter[2 * i], inter[2 * i + 1]] = [tone[i], -0.5 * tone[i]];
  const stereo = encodeWav16(inter, 44100, 2);
  const monoFile = path.join(dir, 'mono.wav');
  const stereoFile = path.join(dir, 'stereo.wav');
  await fs.writeFile(monoFile, mono);
  await fs.writeFile(stereoFile, stereo);
  // The stereo bytes inside a larger allocation, 7 bytes in (an odd offset, as a slice of an upload).
  const backing = new Uint8Array(stereo.byteLength + 20).fill(0xab);
  backing.set(stereo, 7);
  const view = new Uint8Array(backing.buffer, 7, stereo.byteLength);
  for (const options of [
    { sampleRate: 16000, length: 7000 },
    { sampleRate: 16000, length: 40000, channel: 'far' as const },
    { sampleRate: 22050, length: 5000, channel: 'near' as const },
  ]) {
    const mem = await decodeBuffers([Buffer.from(mono), view], options);
    if (options.channel === 'far') {
      t.false(mem.files[0].ok);
      t.is(mem.files[0].error, 'buffer 0: mono audio has no far channel');
      const files = await decode([stereoFile], options);
      t.deepEqual(mem.files[1], files.files[0]);
      t.deepEqual(Array.from(mem.wave.data), Array.from(files.wave.data));
      continue;
    }
    const files = await decode([monoFile, stereoFile], options);
    t.deepEqual(mem.files, files.files);
    t.deepEqual(mem.wave.shape, [2, options.length]);
    t.deepEqual(Array.from(mem.wave.data), Array.from(files.wave.data));
  }
  await fs.rm(dir, { recursive: true });
});

test('decodeBuffers: bad entries are named by names[i] (default "buffer <i>"); the others decode', async (t) => {
  const good = encodeWav16(sine(16000, 440, 0.3, 2000), 16000);
  const truncated = encodeWav16(sine(16000, 440, 0.3, 20000), 16000).subarray(0, 5000);
  let seed = 777;
  const random = Uint8Array.from({ length: 8192 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  const buffers = [truncated, good, new Uint8Array(0), random, Buffer.from(good)];
  const names = ['upload-1.wav', 'ok.wav', 'empty.wav', 'noise.bin', 'ok again'];
  const seen: number[] = [];
  const out = await native().decodeBuffers(buffers, { sampleRate: 16000, length: 4000, names, ioThreads: 3 }, (done) => seen.push(done)).promise;
  t.deepEqual(
    out.files.map((f) => f.ok),
    [false, true, false, false, true],
  );
  t.regex(out.files[0].error!, /^upload-1\.wav: truncated/);
  t.regex(out.files[2].error!, /^empty\.wav: empty/);
  t.regex(out.files[3].error!, /^noise\.bin: /);
  t.deepEqual(out.wave.shape, [2, 4000]);
  t.deepEqual(Array.from(out.wave.data.subarray(0, 4000)), Array.from(out.wave.data.subarray(4000)));
  t.is(seen[seen.length - 1], buffers.length);
  // The job holds its buffers: emptying the caller's array after the call changes nothing.
  const list = [good, random];
  const job = native().decodeBuffers(list, { sampleRate: 16000, length: 100 });
  list.length = 0;
  const unnamed = await job.promise;
  t.true(unnamed.files[0].ok);
  t.regex(unnamed.files[1].error!, /^buffer 1: /);
});

test('decodeBuffers: argument errors', async (t) => {
  const addon = native();
  const o = { sampleRate: 16000, length: 10 };
  t.throws(() => addon.decodeBuffers('x' as unknown as Uint8Array[], o), { instanceOf: TypeError });
  t.throws(() => addon.decodeBuffers([new Float32Array(4) as unknown as Uint8Array], o), { instanceOf: TypeError });
  t.throws(() => addon.decodeBuffers([new ArrayBuffer(4) as unknown as Uint8Array], o), { instanceOf: TypeError });
  t.throws(() => addon.decodeBuffers([new Uint8Array(4)], { ...o, names: 'a' as unknown as string[] }), { instanceOf: TypeError });
  t.throws(() => addon.decodeBuffers([new Uint8Array(4)], { ...o, names: [1 as unknown as string] }), { instanceOf: TypeError });
  t.throws(() => addon.decodeBuffers([new Uint8Array(4)], { ...o, names: ['a', 'b'] }), { instanceOf: RangeError });
  t.throws(() => addon.decodeBuffers([new Uint8Array(4)], { sampleRate: 0, length: 10 }), { instanceOf: RangeError });
  const empty = await addon.decodeBuffers([], o).promise;
  t.deepEqual(empty.wave.shape, [0, 10]);
  t.deepEqual(empty.files, []);
});
