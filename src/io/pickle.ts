/**
 * A restricted unpickler for the pickle streams `torch.save` writes (protocol 2, spec
 * pretrained §5.4): a small stack machine over a byte buffer that knows only the opcodes the
 * Python 3 pickler emits at protocol 2 for state dicts and trainer checkpoints. Nothing is ever
 * imported or executed: a handful of whitelisted globals (OrderedDict, tensor/parameter
 * rebuilding, storage dtype tags, torch.device, `_codecs.encode`) are interpreted by code
 * written here, and every other global becomes an opaque placeholder that absorbs
 * REDUCE/NEWOBJ/BUILD/SETITEMS/APPENDS. Every failure is a CheckpointError naming the file.
 */

/** The one error type of the checkpoint readers; the message starts with the file path. */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'CheckpointError';
  }
}

export type TorchDtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** `torch.<X>Storage` as a value: only a dtype tag for persistent ids. */
export class StorageType {
  constructor(
    readonly name: string,
    readonly dtype: TorchDtype,
    readonly itemSize: number,
  ) {}
}

const STORAGE_TYPES = new Map<string, StorageType>(
  (
    [
      ['FloatStorage', 'float32', 4],
      ['DoubleStorage', 'float64', 8],
      ['HalfStorage', 'float16', 2],
      ['BFloat16Storage', 'bfloat16', 2],
      ['LongStorage', 'int64', 8],
      ['IntStorage', 'int32', 4],
      ['ShortStorage', 'int16', 2],
      ['CharStorage', 'int8', 1],
      ['ByteStorage', 'uint8', 1],
      ['BoolStorage', 'bool', 1],
    ] as const
  ).map(([n, d, s]) => [`torch.${n}`, new StorageType(`torch.${n}`, d, s)]),
);

/** What the persistent-id callback resolves `('storage', type, key, location, numel)` to. */
export interface StorageRef {
  key: string;
  dtype: TorchDtype;
  itemSize: number;
  /** Elements (of `dtype`) in the storage. */
  numel: number;
}

/** A tensor as pickled: a bounds-checked view of a storage; its data is read separately. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  get dtype(): TorchDtype {
    return this.storage.dtype;
  }
  get numel(): number {
    return this.shape.reduce((n, d) => n * d, 1);
  }
}

/** A global that is not whitelisted, as a value (a class or function that is never called). */
export class PyGlobal {
  constructor(readonly name: string) {}
}

/** What REDUCE/NEWOBJ of an opaque callable produce: the call, recorded but never made. */
export class PyObject {
  state: unknown = undefined;
  /** What SETITEM(S)/APPEND(S) added (dict and list subclasses). */
  items: unknown[] = [];
  constructor(
    readonly callee: PyGlobal | PyObject,
    readonly args: readonly unknown[],
  ) {}
  /** The dotted name of the global this object came from. */
  get global(): string {
    return this.callee instanceof PyGlobal ? this.callee.name : this.callee.global;
  }
}

export interface UnpickleLimits {
  /** Memo entries. */
  memo: number;
  /** Items on the stack, all MARK frames together. */
  stack: number;
  /** MARK nesting. */
  depth: number;
  /** Bytes of one LONG1/LONG4 integer. */
  longBytes: number;
}

export const DEFAULT_LIMITS: UnpickleLimits = { memo: 1 << 22, stack: 1 << 20, depth: 1000, longBytes: 64 };

export interface UnpickleOptions {
  /** Names the file in every error. */
  file: string;
  /** Resolves `('storage', StorageType, key, location, numel)` (already validated) to its storage. */
  persistentLoad: (type: StorageType, key: string, numel: number) => StorageRef;
  limits?: Partial<UnpickleLimits>;
  /** Test hook: called with the name of every global the VM actually calls (only whitelisted ones can be). */
  onCall?: (name: string) => void;
}

type Callable = (args: readonly unknown[], fail: (msg: string) => never) => unknown;

const isTuple = (v: unknown): v is readonly unknown[] => Array.isArray(v) && Object.isFrozen(v);
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** A whitelisted callable as a stack value. */
class Builtin {
  constructor(
    readonly name: string,
    readonly fn: Callable,
  ) {}
}

/** Wraps the persistent-load result so a forged tuple can never pass as a storage. */
class StorageRefBox {
  constructor(readonly ref: StorageRef) {}
}

function rebuildTensor(args: readonly unknown[], fail: (msg: string) => never): TensorRef {
  if (args.length !== 6 && args.length !== 7) fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRefBox)) fail('_rebuild_tensor_v2: the first argument is not a storage');
  const s = (storage as StorageRefBox).ref;
  if (!isIndex(offset)) fail(`_rebuild_tensor_v2: bad storage offset ${String(offset)}`);
  if (!isTuple(size) || !size.every(isIndex)) fail('_rebuild_tensor_v2: size is not a tuple of non-negative integers');
  if (!isTuple(stride) || !stride.every(isIndex) || stride.length !== (size as unknown[]).length) {
    fail('_rebuild_tensor_v2: stride is not a tuple of non-negative integers matching the size');
  }
  const shape = [...(size as number[])];
  const strides = [...(stride as number[])];
  const count = shape.includes(0) ? 0 : shape.reduce((n, d) => n * d, 1);
  if (count > 0) {
    // The last element addressed must lie inside the storage; stop as soon as it cannot, so the
    // sums stay exact (far below 2^53).
    let last = offset as number;
    for (let i = 0; i < shape.length && last < s.numel; i++) last += (shape[i] - 1) * strides[i];
    if (last >= s.numel) fail(`tensor [${shape.join(', ')}] with stride [${strides.join(', ')}] at offset ${offset} reaches past its storage '${s.key}' of ${s.numel} elements`);
    if (count > s.numel) fail(`tensor [${shape.join(', ')}] has more elements than its storage '${s.key}' (${s.numel}); expanded views are not supported`);
  }
  return new TensorRef(s, offset as number, shape, strides);
}

/** The only functions the VM can call; a Map so that names like `__proto__` find nothing. */
const CALLABLES = new Map<string, Callable>([
  [
    'collections.OrderedDict',
    (args, fail) => {
      // torch pickles OrderedDict() and adds the items with SETITEMS.
      if (args.length !== 0) fail('collections.OrderedDict with arguments is not supported');
      return new Map();
    },
  ],
  ['torch._utils._rebuild_tensor_v2', rebuildTensor],
  [
    'torch._utils._rebuild_parameter',
    (args, fail) => {
      if (args.length !== 3 || !(args[0] instanceof TensorRef)) fail('_rebuild_parameter expects (tensor, requires_grad, hooks)');
      return args[0];
    },
  ],
  [
    'torch.device',
    (args, fail) => {
      if (args.length < 1 || args.length > 2 || typeof args[0] !== 'string') fail('torch.device expects (type[, index])');
      return args.length === 2 ? `${args[0]}:${String(args[1])}` : args[0];
    },
  ],
  [
    '_codecs.encode',
    (args, fail) => {
      // Protocol 2 has no bytes opcode: Python 3 writes bytes as encode(latin-1 text, 'latin1').
      if (args.length !== 2 || typeof args[0] !== 'string' || (args[1] !== 'latin1' && args[1] !== 'latin-1')) fail("_codecs.encode expects (str, 'latin1')");
      return Buffer.from(args[0] as string, 'latin1');
    },
  ],
]);

/** The names of the callable globals. */
export const WHITELIST: readonly string[] = [...CALLABLES.keys()];

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Interprets `data` (the bytes of `data.pkl`) and returns the object it describes. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions): unknown {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  let opPos = 0;
  let op = 0;
  const fail = (msg: string): never => {
    throw new CheckpointError(opts.file, `data.pkl: ${msg} (opcode 0x${op.toString(16).padStart(2, '0')} at offset ${opPos})`);
  };

  // Python 3's layout: MARK moves the current stack onto the metastack and starts a new one.
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  let below = 0; // items in the frames on the metastack
  const memo = new Map<number, unknown>();
  const storages = new Map<string, StorageRefBox>();

  const take = (n: number): number => {
    if (n > data.length - pos) fail(`truncated: needs ${n} more bytes, ${data.length - pos} left`);
    const p = pos;
    pos += n;
    return p;
  };
  const push = (v: unknown) => {
    if (below + stack.length >= limits.stack) fail(`stack exceeds ${limits.stack} items`);
    stack.push(v);
  };
  const pop = (): unknown => (stack.length ? stack.pop() : fail('stack underflow'));
  const top = (): unknown => (stack.length ? stack[stack.length - 1] : fail('stack underflow'));
  const popMark = (): unknown[] => {
    const items = stack;
    if (!metastack.length) fail('no MARK to pop to');
    stack = metastack.pop()!;
    below -= stack.length;
    return items;
  };
  const put = (i: number) => {
    if (!memo.has(i) && memo.size >= limits.memo) fail(`memo exceeds ${limits.memo} entries`);
    memo.set(i, top());
  };
  const get = (i: number) => (memo.has(i) ? memo.get(i) : fail(`memo index ${i} was never stored`));
  const text = (n: number): string => {
    const p = take(n);
    try {
      return utf8.decode(data.subarray(p, p + n));
    } catch {
      return fail('invalid UTF-8 in a string');
    }
  };
  const line = (): string => {
    const end = data.subarray(pos, pos + 257).indexOf(0x0a) + pos;
    if (end < pos) fail('GLOBAL name is unterminated or too long');
    const s = Buffer.from(data.subarray(pos, end)).toString('latin1');
    pos = end + 1;
    if (!/^[A-Za-z_][\w.]*$/.test(s)) fail(`bad GLOBAL name ${JSON.stringify(s)}`);
    return s;
  };
  /** Little-endian two's complement; exact integers beyond 2^53 stay BigInt (sizes must be numbers). */
  const long = (n: number): number | bigint => {
    if (n > limits.longBytes) fail(`integer of ${n} bytes exceeds the ${limits.longBytes}-byte limit`);
    const p = take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + i]);
    if (n > 0 && data[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (target: unknown, kv: unknown[]) => {
    if (kv.length % 2) fail('odd number of items for a dict');
    if (target instanceof Map) for (let i = 0; i < kv.length; i += 2) target.set(kv[i], kv[i + 1]);
    else if (target instanceof PyObject) target.items.push(...kv);
    else fail(`SETITEM on ${typeName(target)}`);
  };
  const append = (target: unknown, items: unknown[]) => {
    if (Array.isArray(target) && !Object.isFrozen(target)) target.push(...items);
    else if (target instanceof PyObject) target.items.push(...items);
    else fail(`APPEND on ${typeName(target)}`);
  };
  const call = (callee: unknown, args: unknown, how: string): unknown => {
    if (!isTuple(args)) fail(`${how} arguments are not a tuple`);
    if (callee instanceof PyGlobal || callee instanceof PyObject) return new PyObject(callee, args as unknown[]);
    if (callee instanceof Builtin && how === 'REDUCE') {
      opts.onCall?.(callee.name);
      return callee.fn(args as unknown[], fail);
    }
    return fail(`${how} on ${typeName(callee)}`);
  };
  const persistentLoad = (pid: unknown): StorageRefBox => {
    if (!isTuple(pid) || pid.length !== 5 || pid[0] !== 'storage') fail("persistent id is not ('storage', type, key, location, numel)");
    const [, type, key, , numel] = pid as unknown[];
    if (!(type instanceof StorageType)) fail(`persistent id names ${typeName(type)}, not a torch storage type`);
    if (typeof key !== 'string' || !/^\w{1,64}$/.test(key)) fail(`bad storage key ${JSON.stringify(key)}`);
    if (!isIndex(numel)) fail(`bad storage size ${String(numel)}`);
    const t = type as StorageType;
    const seen = storages.get(key as string);
    if (seen) {
      if (seen.ref.dtype !== t.dtype || seen.ref.numel !== numel) fail(`storage '${key}' is referenced with two different types or sizes`);
      return seen;
    }
    const box = new StorageRefBox(opts.persistentLoad(t, key as string, numel as number));
    storages.set(key as string, box);
    return box;
  };

  while (true) {
    opPos = pos;
    if (pos >= data.length) {
      op = 0;
      fail('truncated: no STOP');
    }
    op = data[pos++];
    switch (op) {
      case 0x80: {
        const v = data[take(1)]; // PROTO
        if (v > 2) fail(`pickle protocol ${v} is not supported (torch.save writes protocol 2)`);
        break;
      }
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        if (metastack.length >= limits.depth) fail(`nesting deeper than ${limits.depth} levels`);
        metastack.push(stack);
        below += stack.length;
        stack = [];
        break;
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(Object.freeze([]));
        break;
      case 0x64: {
        const kv = popMark(); // DICT
        const m = new Map();
        setItems(m, kv);
        push(m);
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x74: // TUPLE
        push(Object.freeze(popMark()));
        break;
      case 0x85: // TUPLE1
        push(Object.freeze([pop()]));
        break;
      case 0x86: {
        const b = pop(); // TUPLE2
        push(Object.freeze([pop(), b]));
        break;
      }
      case 0x87: {
        const c = pop(); // TUPLE3
        const b = pop();
        push(Object.freeze([pop(), b, c]));
        break;
      }
      case 0x73: {
        const v = pop(); // SETITEM
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        const kv = popMark(); // SETITEMS
        setItems(top(), kv);
        break;
      }
      case 0x61: {
        const v = pop(); // APPEND
        append(top(), [v]);
        break;
      }
      case 0x65: {
        const items = popMark(); // APPENDS
        append(top(), items);
        break;
      }
      case 0x71: // BINPUT
        put(data[take(1)]);
        break;
      case 0x72: // LONG_BINPUT
        put(dv.getUint32(take(4), true));
        break;
      case 0x68: // BINGET
        push(get(data[take(1)]));
        break;
      case 0x6a: // LONG_BINGET
        push(get(dv.getUint32(take(4), true)));
        break;
      case 0x63: {
        const name = `${line()}.${line()}`; // GLOBAL
        const storage = STORAGE_TYPES.get(name);
        const fn = CALLABLES.get(name);
        push(storage ?? (fn ? new Builtin(name, fn) : new PyGlobal(name)));
        break;
      }
      case 0x52: {
        const args = pop(); // REDUCE
        push(call(pop(), args, 'REDUCE'));
        break;
      }
      case 0x81: {
        const args = pop(); // NEWOBJ
        push(call(pop(), args, 'NEWOBJ'));
        break;
      }
      case 0x62: {
        const state = pop(); // BUILD
        const inst = top();
        // An OrderedDict's state is the state dict's `_metadata` (version numbers): not needed.
        if (inst instanceof PyObject) inst.state = state;
        else if (!(inst instanceof Map)) fail(`BUILD on ${typeName(inst)}`);
        break;
      }
      case 0x51: // BINPERSID
        push(persistentLoad(pop()));
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(dv.getInt32(take(4), true));
        break;
      case 0x4b: // BININT1
        push(data[take(1)]);
        break;
      case 0x4d: // BININT2
        push(dv.getUint16(take(2), true));
        break;
      case 0x8a: // LONG1
        push(long(data[take(1)]));
        break;
      case 0x8b: {
        const n = dv.getInt32(take(4), true); // LONG4
        if (n < 0) fail(`negative LONG4 length ${n}`);
        push(long(n));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        push(dv.getFloat64(take(8), false));
        break;
      case 0x58: // BINUNICODE
        push(text(dv.getUint32(take(4), true)));
        break;
      default:
        fail('unsupported opcode (not one torch.save writes at protocol 2)');
    }
  }
}

/** A short description of a value for error messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (v instanceof TensorRef) return `a tensor [${v.shape.join(', ')}]`;
  if (v instanceof PyObject) return `an opaque ${v.global} object`;
  if (v instanceof PyGlobal) return `the global ${v.name}`;
  if (v instanceof Builtin) return `the function ${v.name}`;
  if (v instanceof StorageType) return `the type ${v.name}`;
  if (v instanceof StorageRefBox) return 'a storage';
  if (v instanceof Map) return 'a dict';
  if (isTuple(v)) return 'a tuple';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'bytes';
  return `a ${typeof v}`;
}
