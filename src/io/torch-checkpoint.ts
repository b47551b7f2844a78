/**
 * Reads `torch.save` checkpoints (the zip format, spec pretrained §5.2) without Python and without
 * executing anything: the zip directory is parsed here, `<root>/data.pkl` goes through the
 * restricted unpickler of pickle.ts, and tensor data is read on demand from the stored
 * `<root>/data/<key>` entries (only what a reader asks for: an EAT file's EMA copy, decoder and
 * optimizer state are never read). Also ASDKit's Lightning `.ckpt` reader. The BEATs / EAT
 * layouts are read in src/pretrained/official.ts, and checked in src/pretrained/check.ts.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { readSafetensors, type SafeDtype } from './safetensors.js';
import { CheckpointError, TensorRef, typeName, unpickle, type StorageRef, type TorchDtype, type UnpickleLimits } from './pickle.js';

export { CheckpointError, type TorchDtype } from './pickle.js';

export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
/** A contiguous tensor; float16/bfloat16 data are the raw 16-bit patterns. */
export interface Tensor {
  dtype: TorchDtype;
  shape: number[];
  data: TensorData;
  /** The storage it was read from: contiguous views of one storage share its memory (identical views are one object). */
  storage: string;
}
export type StateDict = Map<string, Tensor>;

/** The dtypes torch and safetensors files share, both ways. */
export const SAFE_OF_TORCH: Partial<Record<TorchDtype, SafeDtype>> = { float32: 'F32', float64: 'F64', int64: 'I64', int32: 'I32', uint8: 'U8' };
export const TORCH_OF_SAFE = Object.fromEntries(Object.entries(SAFE_OF_TORCH).map(([t, s]) => [s, t])) as Record<SafeDtype, TorchDtype>;

/** A checkpoint already in memory (tests, fuzzing); `name` stands for the path in messages. */
export interface CheckpointBytes {
  name: string;
  bytes: Uint8Array;
}
export type CheckpointSource = string | CheckpointBytes;

export interface ReadOptions {
  limits?: Partial<UnpickleLimits>;
  /** Test hook of the unpickler: every global it calls. */
  onCall?: (name: string) => void;
}

type ArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData; new (length: number): TensorData };
const ARRAYS: Record<TorchDtype, ArrayCtor> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

const MAX_PICKLE_BYTES = 256 * 2 ** 20;
const MAX_STORAGE_BYTES = 2 ** 31 - 1; // the largest typed array every supported Node allocates
const MAX_DIRECTORY_BYTES = 256 * 2 ** 20;
const SIG = { local: 0x04034b50, central: 0x02014b50, end: 0x06054b50, end64: 0x06064b50, locator64: 0x07064b50 };
// The legacy (pre-1.6) format starts with the pickled magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC = Buffer.from('80028a0a6cfc9c46f9206aa85019', 'hex');

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('torch checkpoints: big-endian hosts are not supported');

interface ByteSource {
  size: number;
  /** Exactly `len` bytes at `pos`, in a fresh buffer (so typed arrays over it are aligned). */
  read(pos: number, len: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

async function openSource(source: CheckpointSource): Promise<{ file: string; src: ByteSource }> {
  if (typeof source !== 'string') {
    const b = source.bytes;
    // Uint8Array's slice copies (a Buffer's would share memory and keep its offset into a pool).
    return { file: source.name, src: { size: b.length, read: async (p, n) => Uint8Array.prototype.slice.call(b, p, p + n), close: async () => {} } };
  }
  let fh: fs.FileHandle;
  let size: number;
  try {
    fh = await fs.open(source, 'r');
    size = (await fh.stat()).size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(source, code === 'ENOENT' ? 'file not found' : `cannot read: ${(e as Error).message}`);
  }
  const read = async (pos: number, len: number) => {
    const out = new Uint8Array(len);
    for (let done = 0; done < len; ) {
      const { bytesRead } = await fh.read(out, done, len - done, pos + done);
      if (bytesRead === 0) throw new CheckpointError(source, 'file shrank while being read');
      done += bytesRead;
    }
    return out;
  };
  return { file: source, src: { size, read, close: () => fh.close() } };
}

interface ZipEntry {
  name: string;
  offset: number;
  size: number;
  crc: number;
}

/** The central directory of a zip of STORED entries (what torch.save writes), checked entry by entry. */
async function readDirectory(src: ByteSource, fail: (msg: string) => never): Promise<{ entries: Map<string, ZipEntry>; dataEnd: number }> {
  const head = await src.read(0, Math.min(src.size, LEGACY_MAGIC.length));
  if (head.length < 4 || new DataView(head.buffer).getUint32(0, true) !== SIG.local) {
    if (Buffer.from(head).equals(LEGACY_MAGIC)) {
      fail('legacy (pre-1.6, non-zip) torch.save format, which is not supported; re-save it with a current PyTorch: torch.save(torch.load(f), f)');
    }
    fail(head.length === 0 ? 'empty file' : 'not a torch.save zip checkpoint (no zip signature at the start)');
  }
  const tailLen = Math.min(src.size, 22 + 0xffff);
  const tailStart = src.size - tailLen;
  const tail = await src.read(tailStart, tailLen);
  const tv = new DataView(tail.buffer);
  let end = -1;
  // The end record is the last one whose comment runs exactly to the end of the file.
  for (let p = tailLen - 22; p >= 0; p--) {
    if (tv.getUint32(p, true) === SIG.end && p + 22 + tv.getUint16(p + 20, true) === tailLen) {
      end = p;
      break;
    }
  }
  if (end < 0) fail('truncated or corrupt zip (no end-of-central-directory record)');
  let count = tv.getUint16(end + 10, true);
  let cdSize = tv.getUint32(end + 12, true);
  let cdStart = tv.getUint32(end + 16, true);
  let dataEnd = tailStart + end;
  if (count === 0xffff || cdSize === 0xffffffff || cdStart === 0xffffffff) {
    if (end < 20 || tv.getUint32(end - 20, true) !== SIG.locator64) fail('corrupt zip (missing ZIP64 locator)');
    const at = safe(tv.getBigUint64(end - 12, true), fail);
    if (at + 56 > dataEnd) fail('corrupt zip (ZIP64 end record out of range)');
    const z = new DataView((await src.read(at, 56)).buffer);
    if (z.getUint32(0, true) !== SIG.end64) fail('corrupt zip (bad ZIP64 end record)');
    count = safe(z.getBigUint64(32, true), fail);
    cdSize = safe(z.getBigUint64(40, true), fail);
    cdStart = safe(z.getBigUint64(48, true), fail);
    dataEnd = at;
  }
  if (cdStart + cdSize > dataEnd) fail('truncated or corrupt zip (central directory out of range)');
  if (cdSize > MAX_DIRECTORY_BYTES || count > cdSize / 46) fail(`corrupt zip (${count} entries in a ${cdSize}-byte directory)`);
  const cd = await src.read(cdStart, cdSize);
  const dv = new DataView(cd.buffer);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || dv.getUint32(p, true) !== SIG.central) fail('corrupt zip (bad central directory entry)');
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let csize = dv.getUint32(p + 20, true);
    let usize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    let offset = dv.getUint32(p + 42, true);
    const next = p + 46 + nameLen + extraLen + dv.getUint16(p + 32, true);
    if (next > cdSize) fail('corrupt zip (central directory entry out of range)');
    const name = Buffer.from(cd.subarray(p + 46, p + 46 + nameLen)).toString('utf8');
    // The ZIP64 extra holds, in this order, only the fields saturated at 0xffffffff.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen; x += 4 + dv.getUint16(x + 2, true)) {
      if (dv.getUint16(x, true) !== 1) continue;
      let q = x + 4;
      const field = () => {
        if (q + 8 > p + 46 + nameLen + extraLen) fail(`entry '${name}': corrupt ZIP64 extra field`);
        q += 8;
        return safe(dv.getBigUint64(q - 8, true), fail);
      };
      if (usize === 0xffffffff) usize = field();
      if (csize === 0xffffffff) csize = field();
      if (offset === 0xffffffff) offset = field();
    }
    p = next;
    const where = `entry '${name}'`;
    if (flags & 0x41) fail(`${where} is encrypted`);
    if (method !== 0) fail(`${where} is compressed (method ${method}); torch.save stores entries uncompressed`);
    if (csize !== usize) fail(`${where}: stored size ${csize} differs from its size ${usize}`);
    if (entries.has(name)) fail(`duplicate ${where}`);
    if (offset + 30 + usize > cdStart) fail(`${where} lies beyond the data area of the file`);
    entries.set(name, { name, offset, size: usize, crc });
  }
  return { entries, dataEnd: cdStart };
}

function safe(v: bigint, fail: (msg: string) => never): number {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : fail('corrupt zip (size or offset beyond 2^53)');
}

/** An opened checkpoint: the unpickled `root` (tensors as TensorRef) and on-demand tensor reads. Call close(). */
export class TorchCheckpoint {
  private readonly storageData = new Map<string, Promise<Uint8Array>>();
  private readonly views = new Map<string, Tensor>();

  /** The unpickled object: dicts are Maps, lists and tuples arrays (tuples frozen), tensors TensorRef, other objects PyObject placeholders. */
  root: unknown;

  constructor(
    readonly file: string,
    readonly fileSize: number,
    private readonly src: ByteSource,
    private readonly entries: Map<string, ZipEntry>,
    private readonly dataEnd: number,
    private readonly prefix: string,
  ) {}

  fail(msg: string): never {
    throw new CheckpointError(this.file, msg);
  }

  close(): Promise<void> {
    return this.src.close();
  }

  /** An entry's bytes, checked against its local header, the data area and its CRC. */
  async entry(e: ZipEntry, limit: number): Promise<Uint8Array> {
    const where = `entry '${e.name}'`;
    if (e.size > limit) this.fail(`${where} is ${e.size} bytes, over the ${limit}-byte limit`);
    const lh = await this.src.read(e.offset, 30);
    const dv = new DataView(lh.buffer);
    if (dv.getUint32(0, true) !== SIG.local) this.fail(`corrupt zip (bad local header for ${where})`);
    const nameLen = dv.getUint16(26, true);
    const start = e.offset + 30 + nameLen + dv.getUint16(28, true);
    if (start + e.size > this.dataEnd) this.fail(`${where} lies beyond the data area of the file`);
    if (Buffer.from(await this.src.read(e.offset + 30, nameLen)).toString('utf8') !== e.name) this.fail(`corrupt zip (local name of ${where} differs)`);
    const data = await this.src.read(start, e.size);
    if (crc32(data) !== e.crc) this.fail(`${where}: CRC mismatch (corrupt file)`);
    return data;
  }

  storageEntry(key: string): ZipEntry | undefined {
    return this.entries.get(`${this.prefix}data/${key}`);
  }

  private bytesOf(s: StorageRef): Promise<Uint8Array> {
    let p = this.storageData.get(s.key);
    if (!p) {
      p = this.entry(this.storageEntry(s.key)!, MAX_STORAGE_BYTES);
      this.storageData.set(s.key, p);
    }
    return p;
  }

  /** A tensor's data as a contiguous array; one Tensor object per distinct view of a storage. */
  async tensor(ref: TensorRef): Promise<Tensor> {
    const id = `${ref.storage.key}@${ref.offset}:${ref.shape.join(',')}:${ref.stride.join(',')}`;
    const seen = this.views.get(id);
    if (seen) return seen;
    const bytes = await this.bytesOf(ref.storage);
    const Ctor = ARRAYS[ref.dtype];
    const all = new Ctor(bytes.buffer, bytes.byteOffset, ref.storage.numel);
    const n = ref.numel;
    let contiguous = true;
    for (let d = ref.shape.length - 1, expect = 1; d >= 0; expect *= ref.shape[d--]) {
      if (ref.shape[d] !== 1 && ref.stride[d] !== expect) contiguous = false;
    }
    let data: TensorData;
    if (n === 0) data = new Ctor(0);
    else if (contiguous) data = all.subarray(ref.offset, ref.offset + n);
    else data = gather(all, ref, new Ctor(n));
    const t: Tensor = { dtype: ref.dtype, shape: [...ref.shape], data, storage: ref.storage.key };
    this.views.set(id, t);
    return t;
  }

  /** Every tensor of a name → tensor dict (names `skip` accepts are left out, unread). */
  async stateDict(value: unknown, what: string, skip: (name: string) => boolean = () => false): Promise<StateDict> {
    const dict = this.dict(value, what);
    const out: StateDict = new Map();
    for (const [k, v] of dict) {
      if (typeof k !== 'string') this.fail(`${what} has a non-string key (${typeName(k)})`);
      if (skip(k)) continue;
      if (!(v instanceof TensorRef)) this.fail(`${what}['${k}'] is ${typeName(v)}, not a tensor`);
      out.set(k, await this.tensor(v));
    }
    return out;
  }

  /** `value` as a dict, or a clear error saying what it is instead. */
  dict(value: unknown, what: string): Map<unknown, unknown> {
    return value instanceof Map ? value : this.fail(`${what} is ${typeName(value)}, not a dict`);
  }

  /** `dict[key]`, or an error listing the keys that are there. */
  field(dict: Map<unknown, unknown>, key: string, what: string): unknown {
    if (!dict.has(key)) this.fail(`${what} has no '${key}' entry (it has: ${[...dict.keys()].map(String).slice(0, 20).join(', ') || 'nothing'})`);
    return dict.get(key);
  }
}

/** Copies a strided view element by element (row-major order). */
function gather(all: TensorData, ref: TensorRef, out: TensorData): TensorData {
  const { shape, stride } = ref;
  const idx = new Array<number>(shape.length).fill(0);
  const src = all as unknown as ArrayLike<number> & Record<number, number>;
  const dst = out as unknown as Record<number, number>;
  let pos = ref.offset;
  for (let i = 0; i < out.length; i++) {
    dst[i] = src[pos];
    for (let d = shape.length - 1; d >= 0; d--) {
      pos += stride[d];
      if (++idx[d] < shape[d]) break;
      pos -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** Opens a torch.save zip and unpickles its `data.pkl`; tensor data is read later, on demand. */
export async function readTorchCheckpoint(source: CheckpointSource, opts: ReadOptions = {}): Promise<TorchCheckpoint> {
  const { file, src } = await openSource(source);
  try {
    const fail = (msg: string): never => {
      throw new CheckpointError(file, msg);
    };
    const { entries, dataEnd } = await readDirectory(src, fail);
    const pkls = [...entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
    if (pkls.length !== 1) fail(pkls.length ? `several data.pkl entries (${pkls.join(', ')})` : 'no data.pkl entry: not a torch.save checkpoint');
    const prefix = pkls[0].slice(0, -'data.pkl'.length);
    const order = entries.get(`${prefix}byteorder`);
    const ck = new TorchCheckpoint(file, src.size, src, entries, dataEnd, prefix);
    if (order && Buffer.from(await ck.entry(order, 16)).toString() !== 'little') fail('big-endian checkpoints are not supported');
    const pkl = await ck.entry(entries.get(pkls[0])!, MAX_PICKLE_BYTES);
    ck.root = unpickle(pkl, {
      file,
      limits: opts.limits,
      onCall: opts.onCall,
      persistentLoad: (type, key, numel) => {
        const e = ck.storageEntry(key);
        if (!e) fail(`storage '${key}' has no entry ${prefix}data/${key}`);
        if (e!.size !== numel * type.itemSize) fail(`storage '${key}': entry holds ${e!.size} bytes, ${numel} × ${type.dtype} needs ${numel * type.itemSize}`);
        return { key, dtype: type.dtype, itemSize: type.itemSize, numel };
      },
    });
    return ck;
  } catch (e) {
    await src.close();
    throw e;
  }
}

export async function withCheckpoint<T>(source: CheckpointSource, fn: (ck: TorchCheckpoint) => Promise<T>, opts?: ReadOptions): Promise<T> {
  const ck = await readTorchCheckpoint(source, opts);
  try {
    return await fn(ck);
  } finally {
    await ck.close();
  }
}

const WIDENED = new Set<TorchDtype>(['float16', 'bfloat16', 'float64']);

/**
 * float16/bfloat16/float64 tensors as float32 (what copying them into the float32 model does);
 * a tensor under several names stays one object. Replaces the entries of `state` in place.
 */
export function toFloat32(state: StateDict, converted: string[]): StateDict {
  const done = new Map<Tensor, Tensor>();
  for (const [k, t] of state) {
    if (!WIDENED.has(t.dtype)) continue;
    let f = done.get(t);
    if (!f) done.set(t, (f = { ...t, dtype: 'float32', data: widen(t) }));
    state.set(k, f);
    converted.push(k);
  }
  return state;
}

function widen(t: Tensor): Float32Array {
  if (t.dtype === 'float64') return Float32Array.from(t.data as Float64Array);
  const bits = t.data as Uint16Array;
  // bfloat16 is the top half of a float32.
  if (t.dtype === 'bfloat16') return new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
  return Float32Array.from(bits, (h) => {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) return sign * m * 2 ** -24;
    if (e === 31) return m ? NaN : sign * Infinity;
    return sign * (1024 + m) * 2 ** (e - 25);
  });
}

// ---------------------------------------------------------------------------------------------
// ASDKit Lightning checkpoints

export interface LightningCheckpoint {
  file: string;
  state: StateDict;
  epoch?: number;
  globalStep?: number;
  /** The names in `hyper_parameters` (their values may be opaque omegaconf objects). */
  hyperParameterNames: string[];
}

/** A Lightning `.ckpt` (torch.save zip): `state_dict` plus epoch/global_step; nothing else is read. */
export async function readLightningCheckpoint(source: CheckpointSource, opts?: ReadOptions): Promise<LightningCheckpoint> {
  return withCheckpoint(
    source,
    async (ck) => {
      const root = ck.dict(ck.root, 'the checkpoint');
      const state = await ck.stateDict(ck.field(root, 'state_dict', 'the checkpoint'), "'state_dict'");
      const num = (k: string) => (typeof root.get(k) === 'number' ? (root.get(k) as number) : undefined);
      const hp = root.get('hyper_parameters');
      return { file: ck.file, state, epoch: num('epoch'), globalStep: num('global_step'), hyperParameterNames: hp instanceof Map ? [...hp.keys()].map(String) : [] };
    },
    opts,
  );
}
