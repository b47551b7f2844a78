/**
 * Every file is complete or absent (issue 15, full disk): on a 1 MiB tmpfs an npz and a
 * safetensors checkpoint that do not fit fail with an error naming the file and the full disk,
 * leave no temp file and keep the previous version byte for byte; appends are cut back; temp files
 * of dead processes are swept.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeNpz } from '../src/io/npz.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { appendText, sweepStaleTemps, writeAtomic } from '../src/util/files.js';
import { deadPid } from './helpers/dead-pid.js';

const run = promisify(execFile);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A fresh 1 MiB tmpfs, unmounted after the test. Where mounting is not allowed the test is
 * skipped with the reason logged — and only then: any other mount failure fails the test.
 */
async function smallDisk(t: ExecutionContext): Promise<string | undefined> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-full-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { timeout: 10_000 });
  } catch (e) {
    const reason = (e as Error).message.split('\n').slice(0, 2).join(' ');
    t.log(`skipped: cannot mount a tmpfs (${reason}); needs root`);
    t.regex(reason, /permission denied|not permitted|only root|must be superuser/i, 'the only accepted reason to skip is a lack of privilege');
    return undefined;
  }
  t.teardown(async () => {
    await run('umount', [dir], { timeout: 10_000 }).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  });
  return dir;
}

const floats = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i));

test.serial('a checkpoint that does not fit keeps the previous one byte for byte; an npz that does not fit is absent', async (t) => {
  const disk = await smallDisk(t);
  if (!disk) return;
  // A complete checkpoint (600 kB), then a larger one over it: the temp file cannot fit beside it.
  const ckpt = path.join(disk, 'last.ckpt');
  await writeSafetensors(ckpt, { w: { dtype: 'F32', shape: [150_000], data: floats(150_000) } }, { epoch: '1' });
  const before = await fs.readFile(ckpt);
  const e1 = await t.throwsAsync(writeSafetensors(ckpt, { w: { dtype: 'F32', shape: [200_000], data: floats(200_000) } }, { epoch: '2' }));
  t.regex(e1!.message, new RegExp(`${escape(ckpt)}.*disk is full`));
  t.true(before.equals(await fs.readFile(ckpt)), 'the previous checkpoint is intact');

  // An extract file larger than the space left: no file under its name.
  const npz = path.join(disk, 'train_extract.npz');
  const e2 = await t.throwsAsync(writeNpz(npz, { embed: { dtype: 'float32', shape: [150_000], data: floats(150_000) } }));
  t.regex(e2!.message, new RegExp(`${escape(npz)}.*disk is full`));
  t.deepEqual(await fs.readdir(disk), ['last.ckpt'], 'no truncated file, no temp file');

  // What fits is written whole.
  await writeAtomic(path.join(disk, 'small.txt'), 'x'.repeat(1000));
  t.is((await fs.stat(path.join(disk, 'small.txt'))).size, 1000);
});

test.serial('an append that does not fit fails naming the file and leaves the file as it was', async (t) => {
  const disk = await smallDisk(t);
  if (!disk) return;
  const log = path.join(disk, 'metrics.jsonl');
  await appendText(log, '{"epoch":0}\n');
  const e = await t.throwsAsync(appendText(log, 'y'.repeat(2 << 20)));
  t.regex(e!.message, new RegExp(`${escape(log)}.*disk is full`));
  t.is(await fs.readFile(log, 'utf8'), '{"epoch":0}\n');
});

test('temp files of dead processes are swept; those of live ones and other files are kept', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-sweep-'));
  const dead = await deadPid();
  const stale = path.join(dir, `.last.ckpt.${dead}.0a1b2c3d.asdkit-tmp`);
  const live = path.join(dir, `.last.ckpt.${process.pid}.0a1b2c3d.asdkit-tmp`);
  const nested = path.join(dir, 'checkpoints', `.x.npz.${dead}.ff.asdkit-tmp`);
  const other = path.join(dir, 'last.ckpt.12345'); // not our naming: never touched
  await fs.mkdir(path.dirname(nested));
  for (const f of [stale, live, nested, other]) await fs.writeFile(f, 'partial');
  t.deepEqual(await sweepStaleTemps(dir), [stale]);
  t.deepEqual(await sweepStaleTemps(dir, { recursive: true }), [nested]);
  t.deepEqual((await fs.readdir(dir)).sort(), [path.basename(live), 'checkpoints', 'last.ckpt.12345'].sort());
  t.deepEqual(await sweepStaleTemps(path.join(dir, 'absent')), []);
});
