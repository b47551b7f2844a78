/**
 * NumPy `.npz` (zip of `.npy` entries). The writer reproduces the zip layout of `np.savez`
 * (Python's zipfile with force_zip64: version 45, a ZIP64 extra in each local header, mode 0600,
 * DOS date 1980-01-01), so the same arrays give the same bytes as numpy. fflate's zip writer cannot
 * produce that layout, so the container is written here; fflate inflates `np.savez_compressed` entries.
 */
import { promises as fs } from 'node:fs';
import { crc32 } from 'node:zlib';
import { inflateSync } from 'fflate';
import { writeAtomic } from '../util/files.js';
import { decodeNpy, npyParts, type NpyArray } from './npy.js';

export * from './npy.js';

export type NpzInput = Array<[string, NpyArray]> | Record<string, NpyArray>;
export interface NpzWriteOptions {
  /** Entry timestamp (local time). Default 1980-01-01 00:00, which np.savez also writes (zipfile's ZipInfo default). */
  mtime?: Date;
}

const ZIP64_LIMIT = 2 ** 31 - 1; // Python zipfile switches to ZIP64 fields above this
const VERSION = 45; // "ZIP64": what Python records once force_zip64 is used
const SIG = { local: 0x04034b50, central: 0x02014b50, end: 0x06054b50, end64: 0x06064b50, locator64: 0x07064b50 };

function dosDateTime(d: Date | undefined): [date: number, time: number] {
  if (!d) return [(1 << 5) | 1, 0];
  if (d.getFullYear() < 1980) throw new Error('npz: zip timestamps cannot be before 1980');
  return [((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(), (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1)];
}

/** Zip archive of `<key>.npy` entries, STORED, in the given order (like `np.savez`). */
export function encodeNpz(arrays: NpzInput, opts: NpzWriteOptions = {}): Uint8Array {
  const list = Array.isArray(arrays) ? arrays : Object.entries(arrays);
  const seen = new Set<string>();
  const enc = new TextEncoder();
  const entries = list.map(([key, arr]) => {
    if (seen.has(key)) throw new Error(`npz: duplicate key '${key}'`);
    if (key.includes('\0')) throw new Error(`npz: key ${JSON.stringify(key)} contains NUL`);
    seen.add(key);
    const name = enc.encode(`${key}.npy`);
    const parts = npyParts(arr, key);
    const size = parts.header.length + parts.body.length;
    // Non-ASCII names get the UTF-8 flag, as Python sets it.
    const flags = /[^\x00-\x7f]/.test(key) ? 0x800 : 0;
    // Skip empty bodies: Node's crc32 returns 0 instead of the running value for a zero-length ArrayBuffer.
    const crc = parts.body.length ? crc32(parts.body, crc32(parts.header)) : crc32(parts.header);
    return { name, flags, ...parts, size, crc, offset: 0 };
  });

  const [dosDate, dosTime] = dosDateTime(opts.mtime);
  let cdStart = 0;
  for (const e of entries) {
    e.offset = cdStart;
    cdStart += 30 + e.name.length + 20 + e.size;
  }
  // Central records carry a ZIP64 extra only for values past Python's limit (files > 2 GiB).
  const cdExtra = entries.map((e) => [...(e.size > ZIP64_LIMIT ? [e.size, e.size] : []), ...(e.offset > ZIP64_LIMIT ? [e.offset] : [])]);
  const cdSize = entries.reduce((n, e, i) => n + 46 + e.name.length + (cdExtra[i].length ? 4 + 8 * cdExtra[i].length : 0), 0);
  const needEnd64 = entries.length > 0xffff || cdStart > ZIP64_LIMIT || cdSize > ZIP64_LIMIT;
  const w = new ByteWriter(cdStart + cdSize + (needEnd64 ? 56 + 20 : 0) + 22);
  const small = (v: number) => (v > ZIP64_LIMIT ? 0xffffffff : v);

  for (const e of entries) {
    w.u32(SIG.local).u16(VERSION).u16(e.flags).u16(0).u16(dosTime).u16(dosDate).u32(e.crc);
    w.u32(0xffffffff).u32(0xffffffff).u16(e.name.length).u16(20).bytes(e.name);
    w.u16(1).u16(16).u64(e.size).u64(e.size); // ZIP64 extra (sizes), always present with force_zip64
    w.bytes(e.header).bytes(e.body);
  }
  entries.forEach((e, i) => {
    const extra = cdExtra[i];
    w.u32(SIG.central).u16((3 << 8) | VERSION /* made by: unix */).u16(VERSION).u16(e.flags).u16(0).u16(dosTime).u16(dosDate);
    w.u32(e.crc).u32(small(e.size)).u32(small(e.size)).u16(e.name.length).u16(extra.length ? 4 + 8 * extra.length : 0);
    w.u16(0).u16(0).u16(0).u32(0o600 << 16 /* ?rw------- */).u32(small(e.offset)).bytes(e.name);
    if (extra.length) {
      w.u16(1).u16(8 * extra.length);
      for (const v of extra) w.u64(v);
    }
  });
  if (needEnd64) {
    const end64 = w.pos;
    w.u32(SIG.end64).u64(44).u16(VERSION).u16(VERSION).u32(0).u32(0).u64(entries.length).u64(entries.length).u64(cdSize).u64(cdStart);
    w.u32(SIG.locator64).u32(0).u64(end64).u32(1);
  }
  const count = Math.min(entries.length, 0xffff);
  w.u32(SIG.end).u16(0).u16(0).u16(count).u16(count).u32(Math.min(cdSize, 0xffffffff)).u32(Math.min(cdStart, 0xffffffff)).u16(0);
  return w.out;
}

class ByteWriter {
  readonly out: Uint8Array;
  private readonly dv: DataView;
  pos = 0;
  constructor(size: number) {
    this.out = new Uint8Array(size);
    this.dv = new DataView(this.out.buffer);
  }
  u16(v: number): this {
    this.dv.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
    return this;
  }
  u64(v: number): this {
    this.dv.setBigUint64(this.pos, BigInt(v), true);
    this.pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.out.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
}

/** Arrays keyed by entry name without '.npy', in archive order; STORED and DEFLATED entries, ZIP64 aware. */
export function decodeNpz(buf: Uint8Array, file = 'npz'): Map<string, NpyArray> {
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const need = (p: number, n: number, what: string) => {
    if (p < 0 || p + n > buf.length) fail(`truncated or corrupt zip (${what} out of range)`);
  };
  const u16 = (p: number) => dv.getUint16(p, true);
  const u32 = (p: number) => dv.getUint32(p, true);
  const u64 = (p: number) => Number(dv.getBigUint64(p, true));

  let end = -1;
  for (let p = buf.length - 22; p >= Math.max(0, buf.length - 22 - 0xffff); p--) {
    if (u32(p) === SIG.end) {
      end = p;
      break;
    }
  }
  if (end < 0) fail('not a zip/npz archive, or truncated (no end-of-central-directory record)');
  let count = u16(end + 10);
  let cdStart = u32(end + 16);
  if (count === 0xffff || cdStart === 0xffffffff) {
    const loc = end - 20;
    if (loc < 0 || u32(loc) !== SIG.locator64) fail('corrupt zip (missing ZIP64 locator)');
    const e64 = u64(loc + 8);
    need(e64, 56, 'ZIP64 end record');
    if (u32(e64) !== SIG.end64) fail('corrupt zip (bad ZIP64 end record)');
    count = u64(e64 + 32);
    cdStart = u64(e64 + 48);
  }

  const out = new Map<string, NpyArray>();
  let p = cdStart;
  for (let i = 0; i < count; i++) {
    need(p, 46, 'central directory');
    if (u32(p) !== SIG.central) fail('corrupt zip (bad central directory entry)');
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let csize = u32(p + 20);
    let usize = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    let offset = u32(p + 42);
    need(p + 46, nameLen + extraLen, 'central directory');
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extra holds, in this order, only the fields saturated at 0xffffffff.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen; x += 4 + u16(x + 2)) {
      if (u16(x) !== 1) continue;
      let q = x + 4;
      if (usize === 0xffffffff) (usize = u64(q)), (q += 8);
      if (csize === 0xffffffff) (csize = u64(q)), (q += 8);
      if (offset === 0xffffffff) offset = u64(q);
    }
    p += 46 + nameLen + extraLen + u16(p + 32);

    const where = `entry '${name}'`;
    if (flags & 1) fail(`${where} is encrypted`);
    need(offset, 30, where);
    if (u32(offset) !== SIG.local) fail(`corrupt zip (bad local header for ${where})`);
    const dataStart = offset + 30 + u16(offset + 26) + u16(offset + 28);
    need(dataStart, csize, where);
    const data = entryData(buf.subarray(dataStart, dataStart + csize), method, usize, (m) => fail(`${where}: ${m}`));
    if (crc32(data) !== crc) fail(`${where}: CRC mismatch (corrupt file)`);
    const key = name.endsWith('.npy') ? name.slice(0, -4) : name;
    out.set(key, decodeNpy(data!, `${file}:${key}`));
  }
  return out;
}

function entryData(raw: Uint8Array, method: number, usize: number, fail: (m: string) => never): Uint8Array {
  let data: Uint8Array;
  if (method === 0) data = raw;
  else if (method === 8) {
    try {
      data = inflateSync(raw, { out: new Uint8Array(usize) });
    } catch (e) {
      return fail(`corrupt deflate data (${(e as Error).message})`);
    }
  } else return fail(`unsupported compression method ${method}`);
  if (data.length !== usize) fail(`size mismatch (${data.length} bytes, directory says ${usize})`);
  return data;
}

export async function writeNpz(file: string, arrays: NpzInput, opts?: NpzWriteOptions): Promise<void> {
  await writeAtomic(file, encodeNpz(arrays, opts));
}

export async function readNpz(file: string): Promise<Map<string, NpyArray>> {
  let buf: Uint8Array;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `npz file not found: ${file}` : `cannot read npz file ${file}: ${(e as Error).message}`);
  }
  return decodeNpz(buf, file);
}
