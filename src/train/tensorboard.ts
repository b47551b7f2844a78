/**
 * Minimal TensorBoard event-file writer for scalar curves. An event file is a sequence of TFRecords
 * (u64 LE length, masked CRC-32C of the length, data, masked CRC-32C of the data), each holding a
 * serialized `tensorflow.Event` protobuf. The few protobuf fields needed are encoded by hand.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendText, fileError } from '../util/files.js';

const FILE_VERSION = 'brain.Event:2';

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; // reflected Castagnoli polynomial
    table[n] = c;
  }
  return table;
})();

/** CRC-32C (Castagnoli), as TFRecord uses; node:zlib only has the IEEE CRC-32. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord stores CRCs rotated and offset, so a CRC of data that itself contains CRCs is not degenerate. */
function maskedCrc(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** Append-only protobuf encoder for the handful of wire types used here. */
class ProtoWriter {
  private readonly bytes: number[] = [];
  private varint(v: bigint): void {
    v = BigInt.asUintN(64, v); // negative int64 is ten bytes of two's complement
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }
  private tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }
  int64(field: number, v: number): this {
    this.tag(field, 0);
    this.varint(BigInt(v));
    return this;
  }
  double(field: number, v: number): this {
    this.tag(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.bytes.push(...b);
    return this;
  }
  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.bytes.push(...b);
    return this;
  }
  bytesField(field: number, b: Uint8Array): this {
    this.tag(field, 2);
    this.varint(BigInt(b.length));
    for (const x of b) this.bytes.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

interface EventFields {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars?: Record<string, number>;
}

/** Event { double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5; } } */
function encodeEvent(e: EventFields): Uint8Array {
  const w = new ProtoWriter();
  // proto3 leaves zero scalars out; TensorFlow's writer does too.
  if (e.wallTime !== 0) w.double(1, e.wallTime);
  if (e.step !== 0) w.int64(2, e.step);
  if (e.fileVersion !== undefined) w.string(3, e.fileVersion);
  if (e.scalars) {
    // Summary { repeated Value value = 1 }, Value { string tag = 1; float simple_value = 2 }.
    // simple_value sits in a oneof, so it is written even when 0: without it TensorBoard sees no value.
    const summary = new ProtoWriter();
    for (const [tag, v] of Object.entries(e.scalars)) summary.bytesField(1, new ProtoWriter().string(1, tag).float(2, v).finish());
    w.bytesField(5, summary.finish());
  }
  return w.finish();
}

function encodeRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc(data), true);
  return out;
}

let fileCounter = 0; // keeps names unique for writers opened in the same second by one process

export class TensorBoardWriter {
  private pending: Uint8Array[] = [];
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  /** The file_version record, written in front of the first flushed events (the file does not exist before). */
  private header: Uint8Array | undefined;

  private constructor(readonly file: string) {}

  /**
   * Creates `logDir` and names a new event file in it. The file itself (file_version record first)
   * is created by the first flush that has events, so a run stopped before it logged anything
   * (Ctrl-C in the first epoch) leaves no empty event file behind.
   */
  static async open(logDir: string): Promise<TensorBoardWriter> {
    await fs.mkdir(logDir, { recursive: true });
    // TensorBoard picks up files whose names contain "tfevents".
    const name = `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${os.hostname()}.${process.pid}.${fileCounter++}`;
    const writer = new TensorBoardWriter(path.join(logDir, name));
    writer.header = encodeRecord(encodeEvent({ wallTime: Date.now() / 1000, step: 0, fileVersion: FILE_VERSION }));
    return writer;
  }

  /** Whether the event file exists on disk (false until the first flush with events). */
  get created(): boolean {
    return this.header === undefined;
  }

  /** Buffers one event holding every scalar of `step`; nothing reaches the disk before flush(). */
  addScalars(step: number, scalars: Record<string, number>, wallTime = Date.now() / 1000): void {
    if (this.closed) throw new Error(`tensorboard: ${this.file} is closed`);
    if (!Number.isSafeInteger(step)) throw new Error(`tensorboard: step must be an integer, got ${step}`);
    if (!Number.isFinite(wallTime)) throw new Error(`tensorboard: bad wall time ${wallTime}`);
    for (const [tag, v] of Object.entries(scalars)) {
      if (typeof v !== 'number') throw new Error(`tensorboard: scalar '${tag}' must be a number, got ${typeof v}`);
    }
    if (Object.keys(scalars).length === 0) return;
    this.pending.push(encodeRecord(encodeEvent({ wallTime, step, scalars })));
  }

  /** Appends the buffered events. Writes are chained so concurrent flushes keep records in order. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return this.writing;
    const header = this.header;
    this.header = undefined;
    const data = Buffer.concat(header ? [header, ...this.pending] : this.pending);
    this.pending = [];
    // The first write creates the file ('wx': never another writer's); later ones append, and a
    // failed append is cut back, naming the file.
    const write = this.writing.then(() => (header ? createFile(this.file, data) : appendText(this.file, data)));
    this.writing = write.catch(() => {}); // one failed append must not block later ones; its caller sees the error
    return write;
  }

  /** Flushes what is buffered; a writer that never got an event leaves no file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
  }
}

/** Creates `file` holding `data`; a partial write (disk full) removes it again, so no broken file is left. */
async function createFile(file: string, data: Uint8Array): Promise<void> {
  try {
    await fs.writeFile(file, data, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') await fs.rm(file, { force: true }).catch(() => {});
    throw fileError(file, e);
  }
}

export interface ScalarEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Record<string, number>;
}

/** Minimal protobuf reader: fields as [number, wire type, value]; skips nothing, the caller ignores unknown fields. */
function* protoFields(b: Uint8Array, fail: (msg: string) => never): Generator<[number, number, bigint | Uint8Array]> {
  let p = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (p >= b.length || shift > 63n) fail('bad varint');
      const x = b[p++];
      v |= BigInt(x & 0x7f) << shift;
      if (!(x & 0x80)) return v;
    }
  };
  const take = (n: number): Uint8Array => {
    if (p + n > b.length) fail('truncated protobuf field');
    return b.subarray(p, (p += n));
  };
  while (p < b.length) {
    const key = Number(varint());
    const wire = key & 7;
    const field = key >>> 3;
    if (wire === 0) yield [field, wire, varint()];
    else if (wire === 1) yield [field, wire, take(8)];
    else if (wire === 2) yield [field, wire, take(Number(varint()))];
    else if (wire === 5) yield [field, wire, take(4)];
    else fail(`unsupported protobuf wire type ${wire}`);
  }
}

/** Parses an event file, checking every record's CRCs. Only `simple_value` scalars are returned. */
export function readEventFile(bytes: Uint8Array): ScalarEvent[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const events: ScalarEvent[] = [];
  let p = 0;
  for (let i = 0; p < bytes.length; i++) {
    const fail = (msg: string): never => {
      throw new Error(`tensorboard event file: record ${i} at byte ${p}: ${msg}`);
    };
    if (p + 12 > bytes.length) fail('truncated record header');
    const len = Number(dv.getBigUint64(p, true));
    if (dv.getUint32(p + 8, true) !== maskedCrc(bytes.subarray(p, p + 8))) fail('length CRC mismatch (corrupt file)');
    if (p + 12 + len + 4 > bytes.length) fail(`truncated record (${len} data bytes announced)`);
    const data = bytes.subarray(p + 12, p + 12 + len);
    if (dv.getUint32(p + 12 + len, true) !== maskedCrc(data)) fail('data CRC mismatch (corrupt file)');

    const event: ScalarEvent = { wallTime: 0, step: 0, scalars: {} };
    for (const [field, wire, v] of protoFields(data, fail)) {
      if (field === 1 && wire === 1) event.wallTime = new DataView((v as Uint8Array).buffer, (v as Uint8Array).byteOffset, 8).getFloat64(0, true);
      else if (field === 2 && wire === 0) event.step = Number(BigInt.asIntN(64, v as bigint));
      else if (field === 3 && wire === 2) event.fileVersion = new TextDecoder().decode(v as Uint8Array);
      else if (field === 5 && wire === 2) {
        for (const [sf, sw, value] of protoFields(v as Uint8Array, fail)) {
          if (sf !== 1 || sw !== 2) continue;
          let tag: string | undefined;
          let simple: number | undefined;
          for (const [vf, vw, x] of protoFields(value as Uint8Array, fail)) {
            if (vf === 1 && vw === 2) tag = new TextDecoder().decode(x as Uint8Array);
            else if (vf === 2 && vw === 5) simple = new DataView((x as Uint8Array).buffer, (x as Uint8Array).byteOffset, 4).getFloat32(0, true);
          }
          if (tag !== undefined && simple !== undefined) Object.defineProperty(event.scalars, tag, { value: simple, enumerable: true, writable: true, configurable: true });
        }
      }
    }
    events.push(event);
    p += 12 + len + 4;
  }
  return events;
}
