/**
 * NumPy `.npy` encoding/decoding (format versions 1.0–3.0), matching the bytes `np.save` writes.
 * Little-endian hosts only: numeric data is copied as raw bytes, never element by element.
 */

export type NpyArray =
  | { dtype: 'float32'; shape: number[]; data: Float32Array }
  | { dtype: 'float64'; shape: number[]; data: Float64Array }
  | { dtype: 'int64'; shape: number[]; data: BigInt64Array }
  | { dtype: 'int32'; shape: number[]; data: Int32Array }
  /** numpy '<U{n}': UTF-32LE code points, NUL-padded to the longest string (n ≥ 1). */
  | { dtype: 'unicode'; shape: number[]; data: string[] }
  /** numpy '|b1': one byte per element, 0 or 1. */
  | { dtype: 'bool'; shape: number[]; data: Uint8Array };

export type NpyDtype = NpyArray['dtype'];
export type NpyOf<D extends NpyDtype> = Extract<NpyArray, { dtype: D }>;

type NumericCtor = Float32ArrayConstructor | Float64ArrayConstructor | BigInt64ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor;

/** descr written by numpy and the typed array holding each fixed-size dtype. */
const FIXED: Record<Exclude<NpyDtype, 'unicode'>, { descr: string; ctor: NumericCtor }> = {
  float32: { descr: '<f4', ctor: Float32Array },
  float64: { descr: '<f8', ctor: Float64Array },
  int64: { descr: '<i8', ctor: BigInt64Array },
  int32: { descr: '<i4', ctor: Int32Array },
  bool: { descr: '|b1', ctor: Uint8Array },
};
const BY_CODE: Record<string, Exclude<NpyDtype, 'unicode'>> = { f4: 'float32', f8: 'float64', i8: 'int64', i4: 'int32', b1: 'bool' };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ARRAY_ALIGN = 64; // numpy pads headers so data starts 64-byte aligned
const GROWTH_AXIS_MAX_DIGITS = 21; // numpy leaves room to rewrite shape[0] in place

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('npy: big-endian hosts are not supported');

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** The header and a view of the data bytes, kept separate so npz can write both without an extra copy. */
export function npyParts(a: NpyArray, name = 'array'): { header: Uint8Array; body: Uint8Array } {
  const fail = (msg: string): never => {
    throw new Error(`npy ${name}: ${msg}`);
  };
  for (const d of a.shape) {
    if (!Number.isSafeInteger(d) || d < 0) fail(`invalid shape [${a.shape.join(', ')}]`);
  }
  const count = elementCount(a.shape);
  if (a.data.length !== count) {
    fail(`${a.dtype} data has ${a.data.length} elements but shape [${a.shape.join(', ')}] needs ${count}`);
  }
  if (a.dtype === 'unicode') {
    const { width, body } = encodeUtf32(a.data, fail);
    return { header: npyHeader(`<U${width}`, a.shape), body };
  }
  const { descr, ctor } = FIXED[a.dtype];
  if (!(a.data instanceof ctor)) fail(`dtype ${a.dtype} needs a ${ctor.name}`);
  let body = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  if (a.dtype === 'bool' && body.some((v) => v > 1)) body = body.map((v) => (v ? 1 : 0));
  return { header: npyHeader(descr, a.shape), body };
}

export function encodeNpy(a: NpyArray, name?: string): Uint8Array {
  const { header, body } = npyParts(a, name);
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  return out;
}

/** Header exactly as numpy's `_write_array_header` builds it (sorted keys, repr() values, growth spaces). */
function npyHeader(descr: string, shape: readonly number[]): Uint8Array {
  const shapeRepr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeRepr}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  // numpy pads with a full extra block when already aligned; v2 (u32 length) only when v1's u16 overflows.
  for (const [major, lenBytes] of [[1, 2], [2, 4]] as const) {
    const hlen = dict.length + 1;
    const padlen = ARRAY_ALIGN - ((MAGIC.length + 2 + lenBytes + hlen) % ARRAY_ALIGN);
    const total = hlen + padlen;
    if (lenBytes === 2 && total > 0xffff) continue;
    const prefix = MAGIC.length + 2 + lenBytes;
    const out = new Uint8Array(prefix + total);
    out.set(MAGIC);
    out[6] = major;
    const dv = new DataView(out.buffer);
    if (lenBytes === 2) dv.setUint16(8, total, true);
    else dv.setUint32(8, total, true);
    for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
    out.fill(0x20, prefix + dict.length, out.length - 1);
    out[out.length - 1] = 0x0a;
    return out;
  }
  throw new Error('npy: header too large');
}

function encodeUtf32(strings: readonly string[], fail: (m: string) => never): { width: number; body: Uint8Array } {
  // Two passes over code units (count, then write) instead of building a code-point array per string.
  let width = 1;
  for (const s of strings) {
    if (typeof s !== 'string') fail(`unicode data must be strings, got ${typeof s}`);
    let n = 0;
    for (let j = 0; j < s.length; j++, n++) if (isPair(s, j)) j++;
    if (n > width) width = n;
  }
  const out = new Uint32Array(strings.length * width); // zero-filled = NUL padding
  strings.forEach((s, i) => {
    for (let j = 0, k = i * width; j < s.length; j++, k++) {
      out[k] = s.codePointAt(j)!;
      if (isPair(s, j)) j++;
    }
  });
  return { width, body: new Uint8Array(out.buffer) };
}

/** A high surrogate followed by a low one: one code point (lone surrogates are kept as-is, like Python). */
function isPair(s: string, j: number): boolean {
  const c = s.charCodeAt(j);
  return c >= 0xd800 && c <= 0xdbff && j + 1 < s.length && (s.charCodeAt(j + 1) & 0xfc00) === 0xdc00;
}

/** Decodes one `.npy`; `name` (array or file) is put in every error so a bad entry can be found. */
export function decodeNpy(buf: Uint8Array, name = 'array'): NpyArray {
  const fail = (msg: string): never => {
    throw new Error(`npy ${name}: ${msg}`);
  };
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) fail('not a .npy file (bad magic)');
  const major = buf[6];
  if (major !== 1 && major !== 2 && major !== 3) fail(`unsupported format version ${major}.${buf[7]}`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (buf.length < prefix) fail('truncated header');
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const dataStart = prefix + hlen;
  if (buf.length < dataStart) fail('truncated header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(prefix, dataStart));

  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1] ?? fail(`unsupported or missing descr in header ${header.trim()}`);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1] ?? fail(`missing fortran_order in header ${header.trim()}`);
  if (fortran === 'True') fail('fortran_order=True arrays are not supported (save a C-contiguous array)');
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? fail(`missing shape in header ${header.trim()}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, '')) // Python 2 longs: (3L, 4L)
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : fail(`bad shape (${shapeText})`)));

  if (/^[<>|=]?O/.test(descr)) fail(`object arrays are not supported (dtype '${descr}')`);
  const [, order, kind, sizeText] = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr) ?? fail(`unsupported dtype '${descr}'`);
  const size = Number(sizeText);
  const itemSize = kind === 'U' ? 4 * size : size;
  if (order === '>' && itemSize > 1) fail(`big-endian dtype '${descr}' is not supported`);
  const dtype = kind === 'U' ? 'unicode' : (BY_CODE[kind + sizeText] ?? fail(`unsupported dtype '${descr}'`));
  const count = elementCount(shape);
  const bytes = buf.subarray(dataStart);
  if (bytes.length < count * itemSize) fail(`truncated data: need ${count * itemSize} bytes for ${descr} [${shape.join(', ')}], have ${bytes.length}`);

  if (dtype === 'unicode') return { dtype, shape, data: decodeUtf32(bytes, count, size, fail) };
  const { ctor } = FIXED[dtype];
  // Copy into a fresh buffer: npz entries are rarely aligned for typed-array views, and a private buffer is safe to hand to native code.
  const data = new ctor(count);
  new Uint8Array(data.buffer).set(bytes.subarray(0, count * itemSize));
  return { dtype, shape, data } as NpyArray;
}

function decodeUtf32(bytes: Uint8Array, count: number, width: number, fail: (m: string) => never): string[] {
  const points = new Uint32Array(count * width);
  new Uint8Array(points.buffer).set(bytes.subarray(0, points.byteLength));
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    let end = (i + 1) * width;
    while (end > i * width && points[end - 1] === 0) end--; // numpy strips trailing NULs
    try {
      out[i] = String.fromCodePoint(...points.subarray(i * width, end));
    } catch {
      fail(`invalid UTF-32 code point in element ${i}`);
    }
  }
  return out;
}

// ---- helpers for callers ----

export function f32(shape: number[], data: Float32Array | ArrayLike<number>): NpyOf<'float32'> {
  return { dtype: 'float32', shape, data: data instanceof Float32Array ? data : Float32Array.from(data) };
}

export function f64(shape: number[], data: Float64Array | ArrayLike<number>): NpyOf<'float64'> {
  return { dtype: 'float64', shape, data: data instanceof Float64Array ? data : Float64Array.from(data) };
}

/** int64 array from JS numbers (e.g. labels, section ids); rejects non-integers instead of truncating. */
export function i64FromNumbers(numbers: ArrayLike<number>, shape: number[] = [numbers.length]): NpyOf<'int64'> {
  const data = new BigInt64Array(numbers.length);
  for (let i = 0; i < numbers.length; i++) {
    if (!Number.isSafeInteger(numbers[i])) throw new Error(`i64FromNumbers: element ${i} (${numbers[i]}) is not a safe integer`);
    data[i] = BigInt(numbers[i]);
  }
  return { dtype: 'int64', shape, data };
}

export function unicodeArray(strings: string[], shape: number[] = [strings.length]): NpyOf<'unicode'> {
  return { dtype: 'unicode', shape, data: strings };
}

/** Numeric contents as plain numbers (bool → 0/1); int64 beyond 2^53 would lose precision, so it throws. */
export function asNumberArray(a: NpyArray): number[] {
  if (a.dtype === 'unicode') throw new Error('asNumberArray: unicode array has no numeric value');
  if (a.dtype !== 'int64') return Array.from(a.data);
  return Array.from(a.data, (v) => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`asNumberArray: int64 ${v} exceeds 2^53`);
    return Number(v);
  });
}

/** Looks up `key` and checks its dtype, with an error that names the source and the keys present. */
export function getArray<D extends NpyDtype>(arrays: Map<string, NpyArray>, key: string, dtype: D, source = 'npz'): NpyOf<D> {
  const a = arrays.get(key);
  if (!a) throw new Error(`${source}: no array '${key}' (has: ${[...arrays.keys()].join(', ') || 'none'})`);
  if (a.dtype !== dtype) throw new Error(`${source}: array '${key}' is ${a.dtype}, expected ${dtype}`);
  return a as NpyOf<D>;
}
