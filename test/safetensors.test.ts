import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  type SafeTensor,
} from '../src/io/safetensors.js';

const samples: Record<string, SafeTensor> = {
  f32_2d: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3, Math.fround(Math.PI), 0, -0]) },
  f64: { dtype: 'F64', shape: [4], data: Float64Array.from([1e300, -1e-300, NaN, Infinity]) },
  i64: { dtype: 'I64', shape: [3], data: BigInt64Array.from([0n, -(2n ** 63n), 2n ** 63n - 1n]) },
  i32_2d: { dtype: 'I32', shape: [2, 2], data: Int32Array.from([1, -2, 2 ** 31 - 1, -(2 ** 31)]) },
  u8: { dtype: 'U8', shape: [5], data: Uint8Array.from([0, 1, 127, 128, 255]) },
  u8_odd: { dtype: 'U8', shape: [1, 3], data: Uint8Array.from([7, 8, 9]) }, // leaves later tensors unaligned unless sorted
  scalar_f64: { dtype: 'F64', shape: [], data: Float64Array.from([2.5]) },
  scalar_i32: { dtype: 'I32', shape: [], data: Int32Array.from([-7]) },
  empty_f32: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
  empty_i64: { dtype: 'I64', shape: [2, 0, 3], data: new BigInt64Array(0) },
  empty_u8: { dtype: 'U8', shape: [0, 4], data: new Uint8Array(0) },
};

const enc = (s: string) => new TextEncoder().encode(s);
const u64le = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
/** A file from header text and raw data, with no padding unless the text has it. */
const rawFile = (header: string, data: Uint8Array = new Uint8Array(0)) => concat(u64le(enc(header).length), enc(header), data);
const tmp = () => fs.mkdtemp(path.join(os.tmpdir(), 'safetensors-'));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

test('round trip keeps dtype, shape, values and metadata for every dtype, scalars and empty tensors', (t) => {
  const meta = { format: 'pt', note: 'é "quoted" \n' };
  const back = decodeSafetensors(encodeSafetensors(samples, meta));
  t.deepEqual(back.metadata, meta);
  t.deepEqual(Object.keys(back.tensors).sort(), Object.keys(samples).sort());
  for (const [name, s] of Object.entries(samples)) t.deepEqual(back.tensors[name], s, name);
  t.deepEqual(decodeSafetensors(encodeSafetensors({})), { tensors: {}, metadata: {} });
});

test('byte layout of a small file: length field, padded JSON header, packed data in dtype-then-name order', (t) => {
  const w = Float32Array.from([1, -2]);
  const bytes = encodeSafetensors(
    { n: { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 3]) }, w: { dtype: 'F32', shape: [2], data: w }, a: { dtype: 'F32', shape: [], data: Float32Array.from([0.5]) } },
    { format: 'torch' },
  );
  // Wider dtypes first (F32 before U8), names ascending within a dtype; __metadata__ leads.
  const json =
    '{"__metadata__":{"format":"torch"},' +
    '"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},' +
    '"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},' +
    '"n":{"dtype":"U8","shape":[3],"data_offsets":[12,15]}}';
  t.is(json.length, 195);
  const header = json + ' '.repeat(5); // padded to 200 = 25 * 8
  const data = concat(new Uint8Array(Float32Array.from([0.5]).buffer), new Uint8Array(w.buffer), Uint8Array.from([1, 2, 3]));
  t.deepEqual(data, Uint8Array.from([0, 0, 0, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 1, 2, 3]));
  const expected = concat(Uint8Array.from([200, 0, 0, 0, 0, 0, 0, 0]), enc(header), data);
  t.is(bytes.length, 8 + 200 + 15);
  t.deepEqual(bytes, expected);

  // Same layout rule as the format's reference writer for a single tensor: no metadata key, 7 spaces of padding.
  const one = encodeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) } });
  const oneJson = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  t.is(oneJson.length, 65);
  t.deepEqual(one.subarray(0, 8), Uint8Array.from([72, 0, 0, 0, 0, 0, 0, 0]));
  t.is(Buffer.from(one.subarray(8, 80)).toString('latin1'), oneJson + '       ');
});

test('integer-like and odd tensor names keep their byte order and survive decoding', (t) => {
  const one = (v: number): SafeTensor => ({ dtype: 'I32', shape: [1], data: Int32Array.from([v]) });
  const tensors = { b: one(1), '10': one(2), '9': one(3), __proto__x: one(4), 'é': one(5) };
  const bytes = encodeSafetensors(tensors);
  const text = Buffer.from(bytes).toString('utf8');
  const order = ['"10"', '"9"', '"__proto__x"', '"b"', '"é"'].map((k) => text.indexOf(k));
  t.deepEqual([...order].sort((x, y) => x - y), order);
  const protoFile = rawFile('{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', Uint8Array.from([9]));
  const back = decodeSafetensors(protoFile).tensors;
  t.true(Object.hasOwn(back, '__proto__'));
  t.deepEqual(Object.getPrototypeOf(back), Object.prototype);
});

test('decoded arrays are aligned: views where the data is aligned, copies where it is not', (t) => {
  const bytes = encodeSafetensors(samples);
  const aligned = decodeSafetensors(bytes).tensors;
  t.is(aligned.f64.data.buffer, bytes.buffer); // zero copy

  // Shift the whole file by one byte inside a larger buffer: every wide tensor is now misaligned.
  const host = new Uint8Array(bytes.length + 1);
  host.set(bytes, 1);
  const shifted = decodeSafetensors(host.subarray(1)).tensors;
  for (const [name, s] of Object.entries(samples)) {
    const d = shifted[name].data;
    t.is(d.byteOffset % d.BYTES_PER_ELEMENT, 0, name);
    t.deepEqual(shifted[name], s, name);
  }
  t.not(shifted.f64.data.buffer, host.buffer);

  // Headers need not be padded: an F64 right after a 61-byte header starts at byte 69.
  const header = '{"x":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}      ';
  t.is((8 + header.length) % 8, 5);
  const x = decodeSafetensors(rawFile(header, new Uint8Array(Float64Array.from([1.25, -3]).buffer))).tensors.x;
  t.is(x.data.byteOffset % 8, 0);
  t.deepEqual(x, { dtype: 'F64', shape: [2], data: Float64Array.from([1.25, -3]) });
});

test('malformed files give errors naming the file', async (t) => {
  const good = encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) }, b: { dtype: 'U8', shape: [2], data: Uint8Array.from([1, 2]) } });
  const tensor = (dtype: string, shape: unknown, offsets: unknown) => JSON.stringify({ dtype, shape, data_offsets: offsets });
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['truncated data', good.subarray(0, good.length - 1), /truncated: tensors need 10 data bytes, the file has 9/],
    ['truncated length field', good.subarray(0, 5), /truncated: 5 bytes/],
    ['truncated header', good.subarray(0, 40), /bad header length or truncated: header length \d+, but only 32 bytes follow/],
    ['bad header length', concat(u64le(2 ** 40), good.subarray(8)), /bad header length 1099511627776/],
    ['header length too long', concat(u64le(good.length), good.subarray(8)), /bad header length or truncated/],
    ['header not JSON', rawFile('{"a": nope}'), /header is not valid JSON/],
    ['header not an object', rawFile('[1, 2]'), /header is not a JSON object/],
    ['overlapping offsets', rawFile(`{"a":${tensor('U8', [4], [0, 4])},"b":${tensor('U8', [2], [2, 4])}}`, new Uint8Array(4)), /tensor 'b': data_offsets \[2, 4\] overlap/],
    ['gap between tensors', rawFile(`{"a":${tensor('U8', [1], [0, 1])},"b":${tensor('U8', [1], [2, 3])}}`, new Uint8Array(3)), /tensor 'b': gap before/],
    ['out of range offsets', rawFile(`{"a":${tensor('U8', [8], [0, 8])}}`, new Uint8Array(4)), /truncated: tensors need 8 data bytes, the file has 4/],
    ['reversed offsets', rawFile(`{"a":${tensor('U8', [0], [4, 0])}}`, new Uint8Array(4)), /tensor 'a': bad data_offsets \[4,0\]/],
    ['dtype/byte size mismatch', rawFile(`{"a":${tensor('F32', [3], [0, 8])}}`, new Uint8Array(8)), /tensor 'a': F32 \[3\] needs 12 bytes but data_offsets \[0, 8\] span 8/],
    ['unknown dtype', rawFile(`{"a":${tensor('F128', [1], [0, 16])}}`, new Uint8Array(16)), /tensor 'a': unknown dtype "F128"/],
    ['bad shape', rawFile(`{"a":${tensor('U8', [-1], [0, 0])}}`), /tensor 'a': bad shape \[-1\]/],
    ['stray bytes', concat(good, Uint8Array.from([0])), /1 stray bytes after the last tensor/],
    ['non-string metadata', rawFile('{"__metadata__":{"epochs":3}}'), /__metadata__ value 'epochs' is not a string/],
    ['bad UTF-8', concat(u64le(4), Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])), /header is not valid UTF-8/],
  ];
  const dir = await tmp();
  for (const [label, bytes, re] of cases) {
    t.throws(() => decodeSafetensors(bytes, 'model.safetensors'), { message: new RegExp(`^model\\.safetensors: not a safetensors file \\(.*${re.source}`) }, label);
    const file = path.join(dir, `${label.replace(/\W+/g, '_')}.safetensors`);
    await fs.writeFile(file, bytes);
    await t.throwsAsync(readSafetensors(file), { message: new RegExp(`^${escape(file)}: not a safetensors file \\(.*${re.source}`) }, label);
    await t.throwsAsync(readSafetensorsHeader(file), { message: new RegExp(`^${escape(file)}: not a safetensors file \\(`) }, label);
  }
  await fs.rm(dir, { recursive: true });
});

test('dtypes of the format that decode cannot return are named; the header reader still lists them', async (t) => {
  const bytes = rawFile('{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(4));
  t.throws(() => decodeSafetensors(bytes, 'half.safetensors'), { message: /^half\.safetensors: tensor 'h' has dtype F16, which is not supported/ });
  const dir = await tmp();
  const file = path.join(dir, 'half.safetensors');
  await fs.writeFile(file, bytes);
  t.deepEqual(await readSafetensorsHeader(file), { metadata: {}, entries: { h: { dtype: 'F16', shape: [2] } } });
  await fs.rm(dir, { recursive: true });
});

test('writeSafetensors/readSafetensors round trip through a file; header reader and missing files', async (t) => {
  const dir = await tmp();
  const file = path.join(dir, 'sub', 'model.safetensors');
  await writeSafetensors(file, samples, { epoch: '3' });
  const back = await readSafetensors(file);
  t.deepEqual(back.metadata, { epoch: '3' });
  for (const [name, s] of Object.entries(samples)) t.deepEqual(back.tensors[name], s, name);
  const header = await readSafetensorsHeader(file);
  t.deepEqual(header.metadata, { epoch: '3' });
  t.deepEqual(header.entries.f32_2d, { dtype: 'F32', shape: [2, 3] });
  t.deepEqual(Object.keys(header.entries).sort(), Object.keys(samples).sort());

  const missing = path.join(dir, 'missing.safetensors');
  await t.throwsAsync(readSafetensors(missing), { message: `safetensors file not found: ${missing}` });
  await t.throwsAsync(readSafetensorsHeader(missing), { message: `safetensors file not found: ${missing}` });
  await fs.rm(dir, { recursive: true });
});

test('encodeSafetensors rejects bad input naming the tensor', (t) => {
  t.throws(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(2) } }), { message: /^safetensors: tensor 'w': F32 data has 2 elements but shape \[2, 3\] needs 6$/ });
  t.throws(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) } }), { message: /tensor 'w': dtype F32 needs a Float32Array, got Float64Array/ });
  t.throws(() => encodeSafetensors({ w: { dtype: 'F16' as 'F32', shape: [2], data: new Float32Array(2) } }), { message: /tensor 'w': unsupported dtype "F16"/ });
  t.throws(() => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), { message: /reserved/ });
  t.throws(() => encodeSafetensors({}, { epochs: 3 as unknown as string }), { message: /metadata 'epochs' must be a string/ });
});
