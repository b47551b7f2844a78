import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32c, readEventFile, TensorBoardWriter } from '../src/train/tensorboard.js';

const tmp = () => fs.mkdtemp(path.join(os.tmpdir(), 'tensorboard-'));

test('crc32c matches the standard check values', (t) => {
  t.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  t.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  t.is(crc32c(new Uint8Array(0)), 0);
});

test('scalars written over several flushes read back with steps, tags and float32 values', async (t) => {
  const dir = await tmp();
  const logDir = path.join(dir, 'runs', 'exp1');
  const w = await TensorBoardWriter.open(logDir);
  t.regex(path.basename(w.file), /^events\.out\.tfevents\.\d+\..+\.\d+\.\d+$/);
  t.is(path.dirname(w.file), logDir);

  const steps: Array<[number, Record<string, number>, number]> = [
    [0, { 'train/loss': 0.1, 'train/lr': 1e-3 }, 1700000000.25],
    [1, { 'train/loss': 0, 'val/auc': 0.875 }, 1700000001.5],
    [2 ** 40, { 'train/loss': -1.5e-8, big: 3e38 }, 1700000002],
  ];
  w.addScalars(...steps[0]);
  await w.flush();
  w.addScalars(...steps[1]);
  w.addScalars(...steps[2]);
  w.addScalars(3, {}); // nothing to plot: no event
  await Promise.all([w.flush(), w.flush()]);
  await w.close();
  t.throws(() => w.addScalars(4, { x: 1 }), { message: /is closed/ });

  const events = readEventFile(await fs.readFile(w.file));
  t.is(events.length, 1 + steps.length);
  t.is(events[0].fileVersion, 'brain.Event:2');
  t.deepEqual(events[0].scalars, {});
  t.true(Math.abs(events[0].wallTime - Date.now() / 1000) < 60);
  events.slice(1).forEach((e, i) => {
    const [step, scalars, wallTime] = steps[i];
    t.is(e.step, step);
    t.is(e.wallTime, wallTime);
    t.is(e.fileVersion, undefined);
    t.deepEqual(e.scalars, Object.fromEntries(Object.entries(scalars).map(([k, v]) => [k, Math.fround(v)])));
  });

  // A second writer in the same folder gets its own file.
  const w2 = await TensorBoardWriter.open(logDir);
  t.not(w2.file, w.file);
  await w2.close();
  await fs.rm(dir, { recursive: true });
});

test('readEventFile rejects corrupted and truncated files', async (t) => {
  const dir = await tmp();
  const w = await TensorBoardWriter.open(dir);
  w.addScalars(7, { loss: 0.5 }, 10);
  await w.close();
  const bytes = await fs.readFile(w.file);
  t.is(readEventFile(bytes).length, 2);

  const flip = (at: number) => {
    const b = Uint8Array.from(bytes);
    b[at] ^= 0x01;
    return b;
  };
  t.throws(() => readEventFile(flip(bytes.length - 8)), { message: /record 1 at byte 40: data CRC mismatch/ }); // a byte of the float
  t.throws(() => readEventFile(flip(40)), { message: /record 1 at byte 40: length CRC mismatch/ });
  t.throws(() => readEventFile(flip(bytes.length - 1)), { message: /data CRC mismatch/ }); // the stored CRC itself
  t.throws(() => readEventFile(bytes.subarray(0, bytes.length - 3)), { message: /record 1 at byte 40: truncated record/ });
  t.throws(() => readEventFile(bytes.subarray(0, 45)), { message: /truncated record header/ });
  await fs.rm(dir, { recursive: true });
});

test('one scalar event has the exact TFRecord + protobuf bytes', async (t) => {
  const dir = await tmp();
  const w = await TensorBoardWriter.open(dir);
  w.addScalars(300, { loss: 0.5 }, 1.5);
  await w.close();
  const file = await fs.readFile(w.file);

  // Built by hand: Value { tag "loss" (0x0a len 4), simple_value 0.5f (0x15, 00 00 00 3f) } = 11 bytes,
  // Summary { value (0x0a len 11) } = 13 bytes, Event { wall_time 1.5 (0x09 + f64), step 300 (0x10, varint ac 02),
  // summary (0x2a len 13) } = 9 + 3 + 2 + 13 = 27 bytes.
  const value = [0x0a, 4, ...Buffer.from('loss'), 0x15, 0x00, 0x00, 0x00, 0x3f];
  const summary = [0x0a, value.length, ...value];
  const event = Uint8Array.from([0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0xac, 0x02, 0x2a, summary.length, ...summary]);
  t.is(event.length, 27);
  const masked = (b: Uint8Array) => {
    const c = crc32c(b);
    return (((c >>> 15) | (c << 17)) + 0xa282ead8) % 2 ** 32;
  };
  const lenBytes = Uint8Array.from([27, 0, 0, 0, 0, 0, 0, 0]);
  const record = Buffer.alloc(8 + 4 + 27 + 4);
  record.set(lenBytes, 0);
  record.writeUInt32LE(masked(lenBytes), 8);
  record.set(event, 12);
  record.writeUInt32LE(masked(event), 12 + 27);

  // First record: Event { wall_time (9 bytes), file_version "brain.Event:2" (0x1a len 13) } = 24 bytes, 40 with framing.
  t.deepEqual([...file.subarray(0, 8)], [24, 0, 0, 0, 0, 0, 0, 0]);
  t.is(file[12], 0x09);
  t.deepEqual([...file.subarray(21, 36)], [0x1a, 13, ...Buffer.from('brain.Event:2')]);
  t.is(file.length, 40 + record.length);
  t.deepEqual(file.subarray(40), record);
  await fs.rm(dir, { recursive: true });
});

test('the event file is created by the first flush with events: a writer closed or dropped before that leaves no file', async (t) => {
  const dir = await tmp();
  const idle = await TensorBoardWriter.open(dir);
  t.false(idle.created);
  await idle.flush(); // nothing buffered: nothing written
  idle.addScalars(1, {}); // no scalars: no event
  await idle.close();
  t.deepEqual(await fs.readdir(dir), [], 'no header-only file');

  const w = await TensorBoardWriter.open(dir);
  w.addScalars(1, { loss: 2 }, 5);
  await w.flush();
  t.true(w.created);
  w.addScalars(2, { loss: 1 }, 6);
  await w.close();
  t.deepEqual(await fs.readdir(dir), [path.basename(w.file)]);
  const events = readEventFile(await fs.readFile(w.file));
  t.deepEqual(events.map((e) => [e.fileVersion, e.step, e.scalars]), [['brain.Event:2', 0, {}], [undefined, 1, { loss: 2 }], [undefined, 2, { loss: 1 }]]);
  await fs.rm(dir, { recursive: true });
});
