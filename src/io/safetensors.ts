/**
 * Hugging Face safetensors: u64 LE header length N, N bytes of JSON header, then the raw
 * little-endian tensor bytes packed back to back. The writer lays files out as the official
 * (Rust) writer does, so the same tensors give the same bytes: tensors ordered by descending dtype
 * size then name, `__metadata__` first, compact JSON padded with spaces to a multiple of 8.
 * Little-endian hosts only: data is copied as raw bytes.
 */
import { promises as fs } from 'node:fs';
import { writeAtomic } from '../util/files.js';

export type SafeDtype = 'F32' | 'F64' | 'I64' | 'I32' | 'U8';
export type SafeData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  data: SafeData;
}
export interface SafetensorsContents {
  tensors: Record<string, SafeTensor>;
  metadata: Record<string, string>;
}
export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** In file (offset) order; dtype may be any dtype of the format, including ones decode cannot return (F16, BF16, …). */
  entries: Record<string, { dtype: string; shape: number[] }>;
}

type Ctor = new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => SafeData;
const CTORS: Record<SafeDtype, Ctor & { BYTES_PER_ELEMENT: number }> = {
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  I32: Int32Array,
  U8: Uint8Array,
};
// Element sizes of the format's byte-sized dtypes, in the official enum order; the writer's sort
// key is this rank, descending, so wider types come first and every tensor lands aligned.
const DTYPES: Array<[string, number]> = [
  ['BOOL', 1], ['U8', 1], ['I8', 1], ['F8_E5M2', 1], ['F8_E4M3', 1], ['I16', 2], ['U16', 2], ['F16', 2],
  ['BF16', 2], ['I32', 4], ['U32', 4], ['F32', 4], ['F64', 8], ['I64', 8], ['U64', 8],
];
const DTYPE_SIZE = new Map(DTYPES);

/** The dtype of a typed array, for wrapping it as a SafeTensor. */
export function safeDtypeOf(d: SafeData): SafeDtype {
  for (const [dtype, ctor] of Object.entries(CTORS) as Array<[SafeDtype, Ctor]>) if (d instanceof ctor) return dtype;
  throw new TypeError('safetensors: unsupported typed array');
}

/** A typed array and its shape as a SafeTensor (no copy). */
export function toSafeTensor(t: { data: SafeData; shape: number[] }): SafeTensor {
  return { dtype: safeDtypeOf(t.data), shape: t.shape, data: t.data };
}
const DTYPE_RANK = new Map(DTYPES.map(([d], i) => [d, i]));
const MAX_HEADER = 100_000_000; // the official reader's limit; also stops absurd allocations
const METADATA_KEY = '__metadata__';

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('safetensors: big-endian hosts are not supported');

/** Own-property assignment, so a tensor named `__proto__` stays an ordinary entry. */
function put<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function elementCount(shape: number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

export function encodeSafetensors(tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): Uint8Array {
  const enc = new TextEncoder();
  const list = Object.entries(tensors).map(([name, t]) => {
    const fail = (msg: string): never => {
      throw new Error(`safetensors: tensor '${name}': ${msg}`);
    };
    if (name === METADATA_KEY) fail(`the name ${METADATA_KEY} is reserved`);
    if (!Object.hasOwn(CTORS, t.dtype)) fail(`unsupported dtype ${JSON.stringify(t.dtype)} (supported: ${Object.keys(CTORS).join(', ')})`);
    const ctor = CTORS[t.dtype];
    if (!(t.data instanceof ctor)) fail(`dtype ${t.dtype} needs a ${ctor.name}, got ${t.data?.constructor?.name}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`bad shape ${JSON.stringify(t.shape)}`);
    if (elementCount(t.shape) !== t.data.length) fail(`${t.dtype} data has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${elementCount(t.shape)}`);
    return { name, key: enc.encode(name), ...t };
  });
  // Rust compares names as UTF-8 bytes, which differs from JS string order past the BMP.
  list.sort((a, b) => DTYPE_RANK.get(b.dtype)! - DTYPE_RANK.get(a.dtype)! || Buffer.compare(a.key, b.key));

  // The header is assembled by hand: a JS object would move integer-like names to the front.
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new Error(`safetensors: metadata '${k}' must be a string, got ${typeof v}`);
    parts.push(`"${METADATA_KEY}":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const t of list) {
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = enc.encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8; // space padding keeps the data section 8-byte aligned

  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let p = 8 + headerLen;
  for (const t of list) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and validates the header text against a data section of `dataLength` bytes. */
function parseHeader(headerBytes: Uint8Array, dataLength: number, fail: (msg: string) => never): { metadata: Record<string, string>; entries: Entry[] } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(`${METADATA_KEY} is not an object`);
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') fail(`${METADATA_KEY} value '${k}' is not a string`);
        put(metadata, k, v);
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (typeof info !== 'object' || info === null) fail(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string' || !DTYPE_SIZE.has(dtype)) fail(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`${where}: bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      fail(`${where}: bad data_offsets ${JSON.stringify(offsets)}`);
    }
    entries.push({ name, dtype: dtype as string, shape: shape as number[], begin: offsets![0], end: offsets![1] });
  }

  // Tensors must tile the data section exactly: no overlap, no gap, nothing past the end.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of entries) {
    const where = `tensor '${e.name}'`;
    if (e.begin < pos) fail(`${where}: data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ends at ${pos})`);
    if (e.begin > pos) fail(`${where}: gap before data_offsets [${e.begin}, ${e.end}] (previous tensor ends at ${pos})`);
    const nbytes = elementCount(e.shape) * DTYPE_SIZE.get(e.dtype)!;
    if (!Number.isSafeInteger(nbytes)) fail(`${where}: shape [${e.shape.join(', ')}] is too large`);
    if (e.end - e.begin !== nbytes) fail(`${where}: ${e.dtype} [${e.shape.join(', ')}] needs ${nbytes} bytes but data_offsets [${e.begin}, ${e.end}] span ${e.end - e.begin}`);
    pos = e.end;
  }
  if (pos > dataLength) fail(`truncated: tensors need ${pos} data bytes, the file has ${dataLength}`);
  if (pos < dataLength) fail(`${dataLength - pos} stray bytes after the last tensor`);
  return { metadata, entries };
}

/** Reads the 8-byte length field, checking it against the bytes available after it. */
function headerLength(prefix: Uint8Array, available: number, fail: (msg: string) => never): number {
  if (prefix.length < 8) return fail(`truncated: ${prefix.length} bytes, less than the 8-byte header length`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) fail(`bad header length ${n}, over the ${MAX_HEADER}-byte limit`);
  if (Number(n) > available) fail(`bad header length or truncated: header length ${n}, but only ${available} bytes follow`);
  return Number(n);
}

/** Decoded arrays view `bytes` where aligned for their element size (zero copy) and are copied otherwise. */
export function decodeSafetensors(bytes: Uint8Array, what = 'safetensors'): SafetensorsContents {
  const fail = (msg: string): never => {
    throw new Error(`${what}: not a safetensors file (${msg})`);
  };
  const n = headerLength(bytes, bytes.length - 8, fail);
  const dataStart = 8 + n;
  const { metadata, entries } = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, fail);
  const tensors: Record<string, SafeTensor> = {};
  for (const e of entries) {
    if (!Object.hasOwn(CTORS, e.dtype)) throw new Error(`${what}: tensor '${e.name}' has dtype ${e.dtype}, which is not supported (supported: ${Object.keys(CTORS).join(', ')})`);
    const ctor = CTORS[e.dtype as SafeDtype];
    const start = bytes.byteOffset + dataStart + e.begin;
    const count = (e.end - e.begin) / ctor.BYTES_PER_ELEMENT;
    const data = start % ctor.BYTES_PER_ELEMENT === 0 ? new ctor(bytes.buffer, start, count) : new ctor(bytes.slice(dataStart + e.begin, dataStart + e.end).buffer, 0, count);
    put(tensors, e.name, { dtype: e.dtype as SafeDtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

export async function writeSafetensors(file: string, tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): Promise<void> {
  await writeAtomic(file, encodeSafetensors(tensors, metadata));
}

function readError(file: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  return new Error(code === 'ENOENT' ? `safetensors file not found: ${file}` : `cannot read safetensors file ${file}: ${(e as Error).message}`);
}

export async function readSafetensors(file: string): Promise<SafetensorsContents> {
  let buf: Uint8Array;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    throw readError(file, e);
  }
  return decodeSafetensors(buf, file);
}

/** Names, dtypes, shapes and metadata without reading the tensor data (only the first 8 + N bytes). */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const fail = (msg: string): never => {
    throw new Error(`${file}: not a safetensors file (${msg})`);
  };
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (e) {
    throw readError(file, e);
  }
  try {
    const { size } = await fh.stat();
    const prefix = new Uint8Array(8);
    const { bytesRead } = await fh.read(prefix, 0, 8, 0);
    const n = headerLength(prefix.subarray(0, bytesRead), size - 8, fail);
    const headerBytes = new Uint8Array(n);
    if ((await fh.read(headerBytes, 0, n, 8)).bytesRead !== n) fail('truncated header');
    const { metadata, entries } = parseHeader(headerBytes, size - 8 - n, fail);
    const out: SafetensorsHeader['entries'] = {};
    for (const e of entries) put(out, e.name, { dtype: e.dtype, shape: e.shape });
    return { metadata, entries: out };
  } finally {
    await fh.close();
  }
}
