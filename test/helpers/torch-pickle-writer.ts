/**
 * A small protocol-2 pickle writer and torch.save zip builder for tests: it emits the opcodes
 * Python's pickler writes for the values below (memo puts/gets included), so synthetic
 * checkpoints in the BEATs, EAT (fairseq) and Lightning layouts can be built without Python,
 * and `raw` splices hostile opcode bytes in anywhere.
 */
import { crc32 } from 'node:zlib';

export type WDtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'uint8' | 'bool';
type WData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;
const STORAGE_NAME: Record<WDtype, string> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

export class Tuple {
  constructor(readonly items: unknown[]) {}
}
export class PyFloat {
  constructor(readonly value: number) {}
}
/** `module.name(*args)` (REDUCE, or NEWOBJ), then optional SETITEMS items and BUILD state. */
export class Call {
  constructor(
    readonly global: string,
    readonly args: unknown[],
    readonly opts: { newobj?: boolean; state?: unknown; items?: Array<[unknown, unknown]> } = {},
  ) {}
}
/** A bare GLOBAL (a class or function as a value). */
export class Global {
  constructor(readonly name: string) {}
}
/** Bytes spliced into the stream as they are. */
export class Raw {
  constructor(readonly bytes: Uint8Array) {}
}
export class Storage {
  constructor(
    readonly dtype: WDtype,
    readonly data: WData,
    /** Overrides the element count written in the persistent id. */
    readonly numel = data.length,
  ) {}
}
export class TensorView {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly parameter = false,
  ) {}
}

export const tuple = (...items: unknown[]) => new Tuple(items);
export const float = (v: number) => new PyFloat(v);
export const call = (global: string, args: unknown[] = [], opts?: Call['opts']) => new Call(global, args, opts);
export const raw = (...bytes: number[]) => new Raw(Uint8Array.from(bytes));
/** `collections.OrderedDict` as torch pickles a state dict (with its `_metadata` BUILD state). */
export const ordered = (entries: Array<[string, unknown]> | Map<string, unknown>) =>
  call('collections.OrderedDict', [], { items: [...entries], state: new Map([['_metadata', call('collections.OrderedDict', [], { items: [['', new Map([['version', 1]])]] })]]) });
/** Python 3 bytes at protocol 2: `_codecs.encode(latin-1 text, 'latin1')`. */
export const pyBytes = (b: Uint8Array) => call('_codecs.encode', [Buffer.from(b).toString('latin1'), 'latin1']);
/** A numpy float64 scalar as fairseq's meters leave them in `extra_state`. */
export const npScalar = (v: number) => {
  const b = new Uint8Array(new Float64Array([v]).buffer);
  const dtype = call('numpy.dtype', ['f8', false, true], { state: tuple(3, '<', null, null, null, -1, -1, 0) });
  return call('numpy.core.multiarray.scalar', [dtype, pyBytes(b)]);
};

const dtypeOf = (d: WData): WDtype =>
  d instanceof Float32Array ? 'float32' : d instanceof Float64Array ? 'float64' : d instanceof Uint16Array ? 'float16' : d instanceof BigInt64Array ? 'int64' : d instanceof Int32Array ? 'int32' : 'uint8';

/** A contiguous tensor over a fresh storage. */
export function tensor(data: WData, shape: number[] = [data.length], opts: { parameter?: boolean; dtype?: WDtype } = {}): TensorView {
  return view(new Storage(opts.dtype ?? dtypeOf(data), data), 0, shape, undefined, opts.parameter);
}

/** A view of a storage (row-major strides by default). */
export function view(storage: Storage, offset: number, shape: number[], stride?: number[], parameter = false): TensorView {
  const s = stride ?? shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return new TensorView(storage, offset, shape, s, parameter);
}

class Writer {
  private readonly out: number[] = [];
  private readonly memo = new Map<unknown, number>();
  readonly storages: Storage[] = [];

  bytes(...b: ArrayLike<number>[]) {
    for (const x of b) for (let i = 0; i < x.length; i++) this.out.push(x[i]);
  }
  u32(v: number) {
    this.bytes([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
  }
  result() {
    return Uint8Array.from(this.out);
  }

  private put(key: unknown) {
    const i = this.memo.size;
    this.memo.set(key, i);
    if (i < 256) this.bytes([0x71, i]);
    else this.bytes([0x72]), this.u32(i);
  }
  /** BINGET/LONG_BINGET when `key` was memoized; true if it was. */
  private get(key: unknown): boolean {
    const i = this.memo.get(key);
    if (i === undefined) return false;
    if (i < 256) this.bytes([0x68, i]);
    else this.bytes([0x6a]), this.u32(i);
    return true;
  }

  global(name: string) {
    if (this.get(`global:${name}`)) return;
    const dot = name.lastIndexOf('.');
    this.bytes([0x63], Buffer.from(`${name.slice(0, dot)}\n${name.slice(dot + 1)}\n`, 'latin1'));
    this.put(`global:${name}`);
  }

  value(v: unknown): void {
    if (v === null || v === undefined) this.bytes([0x4e]);
    else if (v === true) this.bytes([0x88]);
    else if (v === false) this.bytes([0x89]);
    else if (typeof v === 'number' && Number.isInteger(v) && !Object.is(v, -0)) this.int(BigInt(v));
    else if (typeof v === 'bigint') this.int(v);
    else if (typeof v === 'number' || v instanceof PyFloat) {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(typeof v === 'number' ? v : v.value);
      this.bytes([0x47], b);
    } else if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8');
      this.bytes([0x58]), this.u32(b.length), this.bytes(b);
    } else if (v instanceof Raw) this.bytes(v.bytes);
    else if (v instanceof Tuple) this.tuple(v.items);
    else if (v instanceof Global) this.global(v.name);
    else if (this.get(v)) return;
    else if (Array.isArray(v)) {
      this.bytes([0x5d]), this.put(v);
      this.items(v, 0x61, 0x65, (x) => this.value(x));
    } else if (v instanceof Map || (typeof v === 'object' && v.constructor === Object)) {
      this.bytes([0x7d]), this.put(v);
      this.setItems(v instanceof Map ? [...v] : Object.entries(v as object));
    } else if (v instanceof Call) {
      this.global(v.global);
      this.tuple(v.args);
      this.bytes([v.opts.newobj ? 0x81 : 0x52]), this.put(v);
      if (v.opts.items) this.setItems(v.opts.items);
      if (v.opts.state !== undefined) this.value(v.opts.state), this.bytes([0x62]);
    } else if (v instanceof TensorView) this.tensor(v);
    else throw new Error(`torch-pickle-writer: cannot pickle ${String(v)}`);
  }

  private int(v: bigint) {
    if (v >= 0n && v < 256n) this.bytes([0x4b, Number(v)]);
    else if (v >= 0n && v < 65536n) this.bytes([0x4d, Number(v) & 0xff, Number(v) >> 8]);
    else if (v >= -(2n ** 31n) && v < 2n ** 31n) this.bytes([0x4a]), this.u32(Number(BigInt.asUintN(32, v)));
    else {
      const b: number[] = [];
      for (let x = v; ; x >>= 8n) {
        b.push(Number(x & 0xffn));
        if ((x >= -128n && x < 128n) && (b[b.length - 1] & 0x80) === (x < 0n ? 0x80 : 0)) break;
      }
      this.bytes([0x8a, b.length], b);
    }
  }

  private tuple(items: unknown[]) {
    if (items.length === 0) return this.bytes([0x29]);
    if (items.length <= 3) {
      for (const x of items) this.value(x);
      return this.bytes([0x84 + items.length]);
    }
    this.bytes([0x28]);
    for (const x of items) this.value(x);
    this.bytes([0x74]);
  }

  /** APPEND/SETITEM for one element, MARK … APPENDS/SETITEMS for more (as Python batches). */
  private items<T>(xs: T[], one: number, many: number, emit: (x: T) => void) {
    if (xs.length === 1) emit(xs[0]), this.bytes([one]);
    else if (xs.length > 1) {
      this.bytes([0x28]);
      for (const x of xs) emit(x);
      this.bytes([many]);
    }
  }
  private setItems(kv: Array<[unknown, unknown]>) {
    this.items(kv, 0x73, 0x75, ([k, v]) => (this.value(k), this.value(v)));
  }

  private tensor(t: TensorView) {
    if (t.parameter) this.global('torch._utils._rebuild_parameter'), this.bytes([0x28]);
    this.global('torch._utils._rebuild_tensor_v2');
    this.bytes([0x28]);
    let key = this.storages.indexOf(t.storage);
    if (key < 0) key = this.storages.push(t.storage) - 1;
    this.tuple(['storage', new Global(`torch.${STORAGE_NAME[t.storage.dtype]}`), String(key), 'cpu', t.storage.numel]);
    this.bytes([0x51]);
    this.value(t.offset);
    this.tuple(t.shape);
    this.tuple(t.stride);
    this.value(false);
    this.value(call('collections.OrderedDict'));
    this.bytes([0x74, 0x52]);
    if (t.parameter) this.value(false), this.value(call('collections.OrderedDict')), this.bytes([0x74, 0x52]);
    this.put(t);
  }
}

/** The pickle of `v` (PROTO 2 … STOP) and the storages it references, keys '0', '1', … in order. */
export function pickle(v: unknown): { pkl: Uint8Array; storages: Storage[] } {
  const w = new Writer();
  w.bytes([0x80, 2]);
  w.value(v);
  w.bytes([0x2e]);
  return { pkl: w.result(), storages: w.storages };
}

const storageBytes = (s: Storage) => new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength);

/**
 * A zip of STORED entries, in the given order (written here rather than with fflate because
 * node's native crc32 keeps the fuzz test fast).
 */
export function zipStored(entries: Array<[string, Uint8Array]>): Uint8Array {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [n, data] of entries) {
    const name = Buffer.from(n, 'utf8');
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0), h.writeUInt16LE(20, 4), h.writeUInt16LE(0x800, 6);
    h.writeUInt32LE(crc32(data), 14), h.writeUInt32LE(data.length, 18), h.writeUInt32LE(data.length, 22), h.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0), c.writeUInt16LE(20, 4), c.writeUInt16LE(20, 6), c.writeUInt16LE(0x800, 8);
    h.copy(c, 16, 14, 26), c.writeUInt16LE(name.length, 28), c.writeUInt32LE(offset, 42);
    local.push(h, name, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    central.push(c, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0), end.writeUInt16LE(entries.length, 8), end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12), end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...local, cd, end]));
}

/** The torch.save zip layout around a pickle and its storages. */
export function torchZip(pkl: Uint8Array, storages: Storage[], root = 'archive'): Uint8Array {
  return zipStored([
    [`${root}/data.pkl`, pkl],
    ...storages.map((s, i): [string, Uint8Array] => [`${root}/data/${i}`, storageBytes(s)]),
    [`${root}/version`, Buffer.from('3\n')],
  ]);
}

/** `torch.save(v)` as bytes. */
export function torchSave(v: unknown, root = 'archive'): Uint8Array {
  const { pkl, storages } = pickle(v);
  return torchZip(pkl, storages, root);
}

/**
 * A fairseq trainer checkpoint (spec pretrained §5.2) around an EAT state dict: `args` None,
 * nested `cfg.model`, `model` with an `_ema` copy and decoder tensors, meters holding numpy
 * scalars in `extra_state`, optimizer state.
 */
export function fairseqEatRoot(model: Array<[string, TensorView]>, cfgModel?: unknown): Record<string, unknown> {
  const ema = ordered(model.map(([k, t]) => [k, tensor((t.storage.data as Float32Array).map((x) => x * 0.5), t.shape)]));
  const D = model.find(([k]) => k.endsWith('norm1.weight'))?.[1].shape[0] ?? 8;
  const decoder: Array<[string, unknown]> = [
    ['modality_encoders.IMAGE.decoder.blocks.0.0.weight', tensor(new Float32Array(D * 16 * 9), [D, 16, 3, 3])],
    ['modality_encoders.IMAGE.decoder.blocks.0.0.bias', tensor(new Float32Array(D))],
    ['modality_encoders.IMAGE.decoder.proj.weight', tensor(new Float32Array(D * D), [D, D])],
  ];
  const meter = call('fairseq.logging.meters.AverageMeter', [], { newobj: true, state: { val: npScalar(1.5), sum: npScalar(3), count: 2, round: 3 } });
  return {
    args: null,
    cfg: {
      common: { seed: 1 },
      model: cfgModel ?? {
        _name: 'data2vec_multi',
        depth: 2,
        embed_dim: D,
        num_heads: 4,
        mlp_ratio: float(4),
        norm_eps: 1e-6,
        layer_norm_first: false,
        modalities: { _name: null, image: { patch_size: 16, in_chans: 1, num_extra_tokens: 1, max_length: 16, type: 'IMAGE' } },
      },
      task: { _name: 'mae_image_pretraining' },
    },
    model: ordered([...model, ['_ema', ema], ...decoder]),
    criterion: null,
    optimizer_history: [{ criterion_name: 'ModelCriterion', optimizer_name: 'FairseqAdam', lr_scheduler_state: { best: null }, num_updates: 1000 }],
    task_state: {},
    extra_state: {
      metrics: { train: [tuple('loss', 0, call('collections.OrderedDict', [], { items: [['loss', meter]] }))] },
      train_iterator: { epoch: 10, iterations_in_epoch: 0, shuffle: true },
      previous_training_time: float(1234.5),
      note: call('builtins.set', [[1, 2]]),
    },
    last_optimizer_state: { state: { 0: { step: 5, exp_avg: tensor(new Float32Array(4)) } }, param_groups: [{ lr: float(1e-4), params: [0] }] },
  };
}
