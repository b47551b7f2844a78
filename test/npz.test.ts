import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync, zipSync } from 'fflate';
import {
  asNumberArray,
  decodeNpy,
  decodeNpz,
  encodeNpy,
  encodeNpz,
  f32,
  f64,
  getArray,
  i64FromNumbers,
  readNpz,
  unicodeArray,
  writeNpz,
  type NpyArray,
} from '../src/io/npz.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
/*
 * Fixtures written by numpy 2.4 (python3), not regenerated in CI:
 *   kw = dict(embed=np.arange(12, dtype=np.float32).reshape(3,4), path=np.array(['a/b.wav','cé','😀x']),
 *             section=np.array([0,1,-2**62]), score=np.array([0.5,-1.25,np.inf]), is_normal=np.array([True,False,True]),
 *             idx32=np.array([[1,-2],[3,4]], dtype=np.int32), scalar=np.array(3.5),
 *             empty=np.zeros((0,4), np.float32), empty_str=np.array(['','']))
 *   np.savez('test/fixtures/numpy_small.npz', **kw); np.savez_compressed('test/fixtures/numpy_small_compressed.npz', **kw)
 */
const FIXTURE_KEYS = ['embed', 'path', 'section', 'score', 'is_normal', 'idx32', 'scalar', 'empty', 'empty_str'];

const samples: Array<[string, NpyArray]> = [
  ['f32_2d', f32([2, 3], [1.5, -2, 3, Math.PI, 0, -0])],
  ['f64_1d', f64([4], [1e300, -1e-300, NaN, Infinity])],
  ['i64_empty', { dtype: 'int64', shape: [0], data: new BigInt64Array(0) }],
  ['i64', { dtype: 'int64', shape: [3], data: BigInt64Array.from([0n, -(2n ** 63n), 2n ** 63n - 1n]) }],
  ['i32_2d', { dtype: 'int32', shape: [2, 2], data: Int32Array.from([1, -2, 2 ** 31 - 1, -(2 ** 31)]) }],
  ['str', unicodeArray(['a/b.wav', 'é', '😀x', ''])],
  ['str_2d', unicodeArray(['ab', 'c', 'd', 'éé', 'f', ''], [2, 3])],
  ['str_empty', unicodeArray([])],
  ['bool', { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) }],
  ['scalar', f64([], [2.5])],
  ['f32_0x4', f32([0, 4], [])],
];

const ascii = (b: Uint8Array) => Buffer.from(b).toString('latin1');

test('npy round trip keeps dtype, shape and values for every dtype', (t) => {
  for (const [name, a] of samples) t.deepEqual(decodeNpy(encodeNpy(a), name), a, name);
});

test('npz round trip keeps keys in order', (t) => {
  const back = decodeNpz(encodeNpz(samples));
  t.deepEqual([...back.keys()], samples.map(([k]) => k));
  t.deepEqual([...back.entries()], samples);
});

test('npy header text, padding and data offset match numpy', (t) => {
  // [shape, dict text numpy writes, header length numpy writes (= data offset)]
  const cases: Array<[number[], string, number]> = [
    [[3, 4], "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 128],
    [[3], "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 128],
    [[], "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 128],
    // 128 bytes would fit exactly; numpy then pads a whole extra 64-byte block.
    [[0, 10, 10, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2], "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 10, 10, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2), }", 192],
  ];
  for (const [shape, dict, offset] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = encodeNpy(f32(shape, new Float32Array(n)));
    t.is(bytes.length, offset + 4 * n);
    t.is(ascii(bytes.subarray(0, 8)), '\x93NUMPY\x01\x00');
    t.is(new DataView(bytes.buffer).getUint16(8, true), offset - 10);
    t.is(ascii(bytes.subarray(10, offset)), dict + ' '.repeat(offset - 11 - dict.length) + '\n');
  }
});

test('unicode is stored as NUL-padded UTF-32LE code points', (t) => {
  const bytes = encodeNpy(unicodeArray(['é', '😀a']));
  t.true(ascii(bytes).includes("'descr': '<U2'"));
  const body = new Uint32Array(bytes.slice(128).buffer);
  t.deepEqual([...body], [0xe9, 0, 0x1f600, 0x61]);
  t.true(ascii(encodeNpy(unicodeArray(['', ''])).subarray(0, 128)).includes("'<U1'")); // numpy's minimum width
});

test('bool data is normalised to 0/1', (t) => {
  const bytes = encodeNpy({ dtype: 'bool', shape: [3], data: Uint8Array.from([0, 2, 255]) });
  t.true(ascii(bytes).includes("'descr': '|b1'"));
  t.deepEqual([...bytes.subarray(128)], [0, 1, 1]);
});

test('npz entries are STORED <key>.npy files in the given order', (t) => {
  const zip = encodeNpz({ z: f32([1], [1]), a: unicodeArray(['x']), 'case0/train/embed': f32([2], [1, 2]) });
  const seen: Array<[string, number]> = [];
  const files = unzipSync(zip, { filter: (f) => (seen.push([f.name, f.compression]), true) });
  t.deepEqual(seen, [['z.npy', 0], ['a.npy', 0], ['case0/train/embed.npy', 0]]);
  t.deepEqual(files['z.npy'], encodeNpy(f32([1], [1])));
});

test('reads numpy np.savez and np.savez_compressed fixtures', async (t) => {
  for (const name of ['numpy_small.npz', 'numpy_small_compressed.npz']) {
    const m = await readNpz(path.join(fixtures, name));
    t.deepEqual([...m.keys()], FIXTURE_KEYS, name);
    t.deepEqual(m.get('embed'), f32([3, 4], Array.from({ length: 12 }, (_, i) => i)));
    t.deepEqual(m.get('path'), unicodeArray(['a/b.wav', 'cé', '😀x']));
    t.deepEqual(m.get('section'), { dtype: 'int64', shape: [3], data: BigInt64Array.from([0n, 1n, -(2n ** 62n)]) });
    t.deepEqual(m.get('score'), f64([3], [0.5, -1.25, Infinity]));
    t.deepEqual(m.get('is_normal'), { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) });
    t.deepEqual(m.get('idx32'), { dtype: 'int32', shape: [2, 2], data: Int32Array.from([1, -2, 3, 4]) });
    t.deepEqual(m.get('scalar'), f64([], [3.5]));
    t.deepEqual(m.get('empty'), f32([0, 4], []));
    t.deepEqual(m.get('empty_str'), unicodeArray(['', '']));
  }
});

test('encodeNpz reproduces np.savez output byte for byte', async (t) => {
  const file = await fs.readFile(path.join(fixtures, 'numpy_small.npz'));
  const ours = encodeNpz([...decodeNpz(file)]);
  t.true(Buffer.from(ours).equals(file));
});

test('mtime option sets the DOS timestamp; default is numpy/zipfile 1980-01-01', (t) => {
  const dos = (zip: Uint8Array) => [new DataView(zip.buffer).getUint16(10, true), new DataView(zip.buffer).getUint16(12, true)];
  t.deepEqual(dos(encodeNpz({ a: f32([1], [1]) })), [0, (1 << 5) | 1]);
  const zip = encodeNpz({ a: f32([1], [1]) }, { mtime: new Date(2024, 4, 17, 13, 45, 31) });
  t.deepEqual(dos(zip), [(13 << 11) | (45 << 5) | 15, (44 << 9) | (5 << 5) | 17]);
  t.deepEqual(decodeNpz(zip).get('a'), f32([1], [1]));
});

test('writeNpz/readNpz round trip through a file', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'npz-'));
  const file = path.join(dir, 'sub', 'train_extract.npz');
  await writeNpz(file, Object.fromEntries(samples));
  t.deepEqual([...(await readNpz(file)).entries()], samples);
  await fs.rm(dir, { recursive: true });
});

test('decodeNpy reads format versions 2.0 and 3.0', (t) => {
  const v1 = encodeNpy(unicodeArray(['é']));
  const hlen = new DataView(v1.buffer).getUint16(8, true);
  for (const major of [2, 3]) {
    const v = new Uint8Array(v1.length + 2);
    v.set(v1.subarray(0, 6));
    v[6] = major;
    new DataView(v.buffer).setUint32(8, hlen, true);
    v.set(v1.subarray(10), 12);
    t.deepEqual(decodeNpy(v), unicodeArray(['é']));
  }
});

/** encodeNpy output with part of the header text replaced by a same-length string. */
function patchHeader(a: NpyArray, from: string, to: string): Uint8Array {
  const bytes = encodeNpy(a);
  const at = ascii(bytes).indexOf(from);
  if (at < 0 || from.length !== to.length) throw new Error('bad patch');
  bytes.set(Buffer.from(to, 'latin1'), at);
  return bytes;
}

test('decodeNpy rejects unsupported arrays with errors naming the array', (t) => {
  const a = f32([2], [1, 2]);
  const cases: Array<[Uint8Array, RegExp]> = [
    [patchHeader(a, 'False', 'True '), /npy embed: fortran_order=True/],
    [patchHeader(a, "'<f4'", "'>f4'"), /npy embed: big-endian dtype '>f4'/],
    [patchHeader(a, "'<f4'", "'|O' "), /npy embed: object arrays/],
    [patchHeader(a, "'<f4'", "'<c8'"), /npy embed: unsupported dtype '<c8'/],
    [patchHeader(a, '\x93NUMPY', '\x93NUMPZ'), /npy embed: not a .npy file \(bad magic\)/],
    [encodeNpy(a).subarray(0, 128 + 7), /npy embed: truncated data: need 8 bytes/],
    [encodeNpy(a).subarray(0, 60), /npy embed: truncated header/],
  ];
  for (const [bytes, re] of cases) t.throws(() => decodeNpy(bytes, 'embed'), { message: re });
});

test('decodeNpz errors name the file and entry', (t) => {
  const zip = encodeNpz({ embed: f32([3], [1, 2, 3]) });
  t.throws(() => decodeNpz(zip.subarray(0, zip.length - 10), 'x.npz'), { message: /^x\.npz: not a zip\/npz archive, or truncated/ });
  t.throws(() => decodeNpz(new TextEncoder().encode('hello'), 'x.npz'), { message: /^x\.npz: not a zip/ });
  const flipped = zip.slice();
  flipped[30 + 'embed.npy'.length + 20 + 128] ^= 0xff; // first data byte
  t.throws(() => decodeNpz(flipped, 'x.npz'), { message: /^x\.npz: entry 'embed\.npy': CRC mismatch/ });
  const notNpy = zipSync({ 'junk.npy': new TextEncoder().encode('hello world') }, { level: 0 });
  t.throws(() => decodeNpz(notNpy, 'x.npz'), { message: /npy x\.npz:junk: not a \.npy file/ });
  const fortran = zipSync({ 'm.npy': patchHeader(f32([1], [1]), 'False', 'True ') }, { level: 6 });
  t.throws(() => decodeNpz(fortran, 'x.npz'), { message: /npy x\.npz:m: fortran_order=True/ });
});

test('readNpz names the file when missing or not a zip', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'npz-'));
  const missing = path.join(dir, 'missing.npz');
  await t.throwsAsync(readNpz(missing), { message: `npz file not found: ${missing}` });
  const text = path.join(dir, 'text.npz');
  await fs.writeFile(text, 'not a zip at all, just some text');
  await t.throwsAsync(readNpz(text), { message: new RegExp(`^${text.replace(/[.\\/]/g, '\\$&')}: not a zip`) });
  await fs.rm(dir, { recursive: true });
});

test('encodeNpz rejects bad input naming the key', (t) => {
  t.throws(() => encodeNpz({ embed: f32([2, 3], [1, 2]) }), { message: /^npy embed: float32 data has 2 elements but shape \[2, 3\] needs 6$/ });
  t.throws(() => encodeNpz([['a', f32([1], [1])], ['a', f32([1], [1])]]), { message: /duplicate key 'a'/ });
  t.throws(() => encodeNpz({ x: { dtype: 'float32', shape: [2], data: new Float64Array(2) } as unknown as NpyArray }), { message: /^npy x: dtype float32 needs a Float32Array$/ });
  t.throws(() => encodeNpz({ x: f32([-1], []) }), { message: /^npy x: invalid shape \[-1\]$/ });
});

test('helpers convert and check arrays', (t) => {
  t.deepEqual(i64FromNumbers([1, -2]).data, BigInt64Array.from([1n, -2n]));
  t.throws(() => i64FromNumbers([1.5]), { message: /element 0 \(1.5\) is not a safe integer/ });
  t.deepEqual(asNumberArray(i64FromNumbers([3, 4])), [3, 4]);
  t.deepEqual(asNumberArray({ dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) }), [1, 0]);
  t.throws(() => asNumberArray({ dtype: 'int64', shape: [1], data: BigInt64Array.from([2n ** 60n]) }), { message: /exceeds 2\^53/ });
  t.throws(() => asNumberArray(unicodeArray(['a'])), { message: /unicode/ });
  const m = decodeNpz(encodeNpz({ embed: f32([1], [1]) }));
  t.is(getArray(m, 'embed', 'float32').data[0], 1);
  t.throws(() => getArray(m, 'path', 'unicode', 'a.npz'), { message: "a.npz: no array 'path' (has: embed)" });
  t.throws(() => getArray(m, 'embed', 'int64', 'a.npz'), { message: "a.npz: array 'embed' is float32, expected int64" });
});
