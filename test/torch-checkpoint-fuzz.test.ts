/**
 * Seeded mutation fuzzing of the checkpoint reader: byte flips, truncations and insertions in the
 * pickle stream (re-zipped) and in the raw zip of a real BEATs file and a synthetic EAT one.
 * Every case must either parse or be refused with a CheckpointError, and the unpickler must
 * never call a global outside its whitelist.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
import { PyObject, TensorRef, WHITELIST } from '../src/io/pickle.js';
import { CheckpointError, readTorchCheckpoint, type TorchCheckpoint } from '../src/io/torch-checkpoint.js';
import { readBeatsCheckpoint, readEatCheckpoint } from '../src/pretrained/official.js';
import { fairseqEatRoot, tensor, torchSave, zipStored } from './helpers/torch-pickle-writer.js';

const CASES = 2000;
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** mulberry32: a small seeded generator, so a failing case can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}

function mutate(b: Uint8Array, r: ReturnType<typeof rng>): { bytes: Uint8Array; how: string } {
  const kind = r.int(3);
  const at = r.int(b.length);
  if (kind === 0) {
    const out = b.slice();
    const n = 1 + r.int(4);
    for (let i = 0; i < n; i++) out[(at + r.int(64)) % out.length] = r.int(256);
    return { bytes: out, how: `flip ${n} near ${at}` };
  }
  if (kind === 1) return { bytes: b.slice(0, at), how: `truncate at ${at}` };
  const ins = Uint8Array.from({ length: 1 + r.int(8) }, () => r.int(256));
  const out = new Uint8Array(b.length + ins.length);
  out.set(b.subarray(0, at)), out.set(ins, at), out.set(b.subarray(at), at + ins.length);
  return { bytes: out, how: `insert ${ins.length} at ${at}` };
}

/** Reads every tensor reachable from the root (cycles and depth bounded). */
async function readAll(ck: TorchCheckpoint): Promise<number> {
  const seen = new Set<unknown>();
  let n = 0;
  const walk = async (v: unknown, depth: number): Promise<void> => {
    if (depth > 100 || typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (v instanceof TensorRef) (await ck.tensor(v), n++);
    else if (v instanceof Map) for (const [k, x] of v) await walk(k, depth + 1), await walk(x, depth + 1);
    else if (Array.isArray(v)) for (const x of v) await walk(x, depth + 1);
    else if (v instanceof PyObject) for (const x of [v.args, v.state, v.items]) await walk(x, depth + 1);
  };
  await walk(ck.root, 0);
  return n;
}

test(`fuzz: ${CASES} mutated checkpoints either parse or are refused with CheckpointError, nothing is called`, async (t) => {
  t.timeout(120_000);
  const beats = new Uint8Array(await fs.readFile(path.join(fixtures, 'beats_small_ckpt.pt')));
  const r0 = rng(7);
  const eatState: Array<[string, ReturnType<typeof tensor>]> = [
    ['modality_encoders.IMAGE.extra_tokens', tensor(Float32Array.from({ length: 8 }, () => r0.next()), [1, 1, 8])],
    ['blocks.0.norm1.weight', tensor(Float32Array.from({ length: 8 }, () => r0.next()), [8])],
    ['blocks.0.attn.qkv.weight', tensor(Float32Array.from({ length: 192 }, () => r0.next()), [24, 8])],
  ];
  const eat = torchSave(fairseqEatRoot(eatState), 'EAT-base_epoch10_pt');
  const bases = [
    { name: 'beats_small_ckpt.pt', zip: beats, read: readBeatsCheckpoint },
    { name: 'EAT-base_fuzz.pt', zip: eat, read: readEatCheckpoint },
  ].map((b) => ({ ...b, entries: Object.entries(unzipSync(b.zip)) }));

  const r = rng(20240601);
  const counts = { parsed: 0, refused: 0, pickle: 0, zip: 0, tensors: 0, calls: 0, executions: 0 };
  const others: string[] = [];
  const started = Date.now();
  let slowest = 0;
  for (let i = 0; i < CASES; i++) {
    const base = bases[i % bases.length];
    let bytes: Uint8Array, how: string;
    if (r.next() < 0.5) {
      // Mutate data.pkl and zip it again with the untouched storages.
      const [pklName, pkl] = base.entries.find(([n]) => n.endsWith('data.pkl'))!;
      const m = mutate(pkl, r);
      bytes = zipStored(base.entries.map(([n, d]) => [n, n === pklName ? m.bytes : d]));
      how = `data.pkl: ${m.how}`;
      counts.pickle++;
    } else {
      ({ bytes, how } = mutate(base.zip, r));
      how = `zip: ${how}`;
      counts.zip++;
    }
    const file = { name: base.name, bytes };
    const onCall = (name: string) => {
      counts.calls++;
      if (!WHITELIST.includes(name)) counts.executions++;
    };
    const caseStart = Date.now();
    try {
      const ck = await readTorchCheckpoint(file, { onCall });
      try {
        counts.tensors += await readAll(ck);
      } finally {
        await ck.close();
      }
      await base.read(file, { onCall });
      counts.parsed++;
    } catch (e) {
      if (e instanceof CheckpointError && e.message.startsWith(`${base.name}: `)) counts.refused++;
      else if (others.push(`case ${i} (${base.name}, ${how}): ${(e as Error)?.stack ?? String(e)}`) > 5) break;
    }
    slowest = Math.max(slowest, Date.now() - caseStart);
  }
  const seconds = (Date.now() - started) / 1000;
  const summary = `${CASES} cases (${counts.pickle} pickle, ${counts.zip} zip): ${counts.parsed} parsed, ${counts.refused} refused, ${others.length} other errors; ${counts.tensors} tensors read, ${counts.calls} whitelisted calls, ${counts.executions} executions; ${seconds.toFixed(1)} s (slowest case ${slowest} ms)`;
  t.log(summary);
  console.log(`fuzz: ${summary}`);
  t.deepEqual(others, []);
  t.is(counts.parsed + counts.refused, CASES);
  t.is(counts.executions, 0);
  t.true(counts.parsed > 0 && counts.refused > 0);
  // Generous hang guards: about 10 s alone, more when the suite runs other tests in parallel.
  t.true(slowest < 2000, `slowest case ${slowest} ms`);
  t.true(seconds < 60, `took ${seconds} s`);
});
