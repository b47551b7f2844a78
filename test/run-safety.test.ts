/**
 * Runs that must not mix (issue 15): one process per run folder (a lock, taken over from a dead
 * process), a step is done only when all its outputs exist and were made from the same inputs
 * (fingerprints), config.yaml is not rewritten by a refused rerun, and a re-extraction makes the
 * scores stale.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe, type RunEvent } from '../src/recipes/run.js';
import { extract } from '../src/steps/extract.js';
import { frontendOf } from '../src/steps/extractor.js';
import { score } from '../src/steps/score.js';
import { cli } from './helpers/cli.js';
import { deadPid } from './helpers/dead-pid.js';
import { done, skippedOf } from './helpers/outcome.js';

const MACHINES = ['fan', 'ToyCar'];
const SET = ['visualize.enabled=false', 'score.backend=[{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}]'];

const setup = (async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-safety-'));
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 0, seconds: 2, machines: MACHINES, trainPerSection: { source: 12, target: 2 }, testPerSection: 4 });
  return { root, dataDir };
})();

/** A raw_spec config on the shared data, results under `root/<results>`. */
async function config(results: string, extra: string[] = [], overwrite?: boolean) {
  const { root, dataDir } = await setup;
  return resolveRunConfig('raw_spec', { dcase: 'dcase2023', data_dir: dataDir, result_dir: path.join(root, results), overwrite }, [...SET, ...extra]);
}

const versionOf = (resultDir: string) => path.join(resultDir, 'recipe', 'dcase2023', 'raw_spec', '0');
const statuses = (events: RunEvent[], status: RunEvent['status']) => events.filter((e) => e.status === status).map((e) => `${e.step}:${e.machine ?? ''}`);

test('two runs on one folder at once: one is refused with the folder, PID and host; the lock is released after', async (t) => {
  const c = await config('concurrent');
  const results = await Promise.allSettled([runRecipe(c), runRecipe(c)]);
  const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  const ran = results.filter((r) => r.status === 'fulfilled') as Array<PromiseFulfilledResult<Awaited<ReturnType<typeof runRecipe>>>>;
  t.is(refused.length, 1, 'exactly one run is refused');
  t.is(ran.length, 1);
  t.deepEqual(ran[0].value.failed, []);
  const msg = (refused[0].reason as Error).message;
  t.true(msg.includes(versionOf(c.result_dir)), msg);
  t.regex(msg, new RegExp(`PID ${process.pid} on host ${os.hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  await t.throwsAsync(fs.access(path.join(versionOf(c.result_dir), '.asdkit.lock')), undefined, 'released');

  // The CLI step commands take the same lock.
  const { lockRunDir } = await import('../src/run/lock.js');
  const lock = await lockRunDir(versionOf(c.result_dir));
  try {
    const r = await cli(['extract', '--dcase', 'dcase2023', '--data-dir', c.data_dir, '--result-dir', c.result_dir, '--machine', 'fan', '--overwrite']);
    t.is(r.code, 1);
    t.regex(r.stderr, new RegExp(`asdkit: error: .*raw_spec.0 is in use by asdkit PID ${process.pid}`));
  } finally {
    await lock.release();
  }
});

test('a lock whose process is gone is taken over; temp files that killed processes left are swept', async (t) => {
  const c = await config('stale-lock');
  const vdir = versionOf(c.result_dir);
  const dead = await deadPid();
  await fs.mkdir(path.join(vdir, 'output', 'time_mean', 'fan'), { recursive: true });
  await fs.writeFile(path.join(vdir, '.asdkit.lock'), JSON.stringify({ pid: dead, host: os.hostname(), started: '2020-01-01T00:00:00Z', token: 'x' }));
  const temp = path.join(vdir, 'output', 'time_mean', 'fan', `.train_extract.npz.${dead}.0123abcd.asdkit-tmp`);
  await fs.writeFile(temp, 'half an npz');
  const r = await runRecipe(c);
  t.deepEqual(r.failed, []);
  await t.throwsAsync(fs.access(temp), undefined, 'the stale temp file is gone');
  await t.throwsAsync(fs.access(path.join(vdir, '.asdkit.lock')), undefined, 'the lock is released');
});

test('a half-written extract pair is redone, not skipped; later steps follow it', async (t) => {
  const c = await config('half-pair');
  t.deepEqual((await runRecipe(c)).failed, []);
  const dir = path.join(versionOf(c.result_dir), 'output', 'time_mean', 'fan');
  await fs.rm(path.join(dir, 'test_extract.npz'));
  const events: RunEvent[] = [];
  const r = await runRecipe(c, { onEvent: (e) => events.push(e) });
  t.deepEqual(r.failed, []);
  t.deepEqual(statuses(events, 'done'), ['extract:fan', 'score:fan', 'evaluate:fan', 'table:']);
  t.deepEqual(statuses(events, 'skipped'), ['extract:ToyCar', 'score:ToyCar', 'evaluate:ToyCar']);
  await t.notThrowsAsync(fs.access(path.join(dir, 'test_extract.npz')));

  // The step on its own: a pair missing one file is not done.
  const ids = { resultDir: c.result_dir, name: c.name, dcase: c.dcase, version: c.version, seed: c.seed, inferVer: c.infer_ver };
  const step = { ...ids, machine: 'fan', dataDir: c.data_dir, frontend: frontendOf(c)!, sec: c.extract.sec };
  await fs.rm(path.join(dir, 'train_extract.npz'));
  t.deepEqual(done(await extract(step)).files.map((f) => path.basename(f)), ['train_extract.npz', 'test_extract.npz']);
  t.regex(skippedOf(await extract(step)).message, /^\[Skip this process\] .*\*_extract\.npz already exists/);
  // … and the scores made from the previous extract files are now stale.
  const e = await t.throwsAsync(score({ ...ids, machine: 'fan', backends: c.score.backend }));
  t.regex(e!.message, /train_extract\.npz changed; test_extract\.npz changed.*--overwrite recomputes/);
});

test('a rerun with other settings or changed clips is refused with the difference; config.yaml is kept; --overwrite recomputes', async (t) => {
  const c = await config('changed');
  t.deepEqual((await runRecipe(c)).failed, []);
  const out = path.join(versionOf(c.result_dir), 'output', 'time_mean');
  const configBefore = await fs.readFile(path.join(out, 'config.yaml'), 'utf8');
  const npzBefore = await fs.readFile(path.join(out, 'fan', 'test_extract.npz'));

  // Other settings: every machine's extract refuses, naming the setting.
  const other = await config('changed', ['extract.frontend.n_mels=64']);
  const r1 = await runRecipe(other);
  t.deepEqual(r1.failed.map((f) => `${f.step}:${f.machine}`), ['extract:fan', 'extract:ToyCar']);
  t.regex(r1.failed[0].message, /frontend\.nMels: 128 -> 64.*--overwrite recomputes/);
  t.is(await fs.readFile(path.join(out, 'config.yaml'), 'utf8'), configBefore, 'config.yaml still describes the outputs');
  t.true(npzBefore.equals(await fs.readFile(path.join(out, 'fan', 'test_extract.npz'))));

  // Changed clips (new mtimes): that machine refuses, counting them.
  const trainDir = path.join(c.data_dir, 'formatted', 'dcase2023', 'raw', 'fan', 'train');
  const later = new Date(Date.now() + 60_000);
  for (const f of (await fs.readdir(trainDir)).slice(0, 3)) await fs.utimes(path.join(trainDir, f), later, later);
  const r2 = await runRecipe(c);
  t.deepEqual(r2.failed.map((f) => `${f.step}:${f.machine}`), ['extract:fan']);
  t.regex(r2.failed[0].message, /3 clip\(s\) changed \(fan\/train\/section_00/);

  // --overwrite recomputes with the new settings, and config.yaml says so.
  const r3 = await runRecipe(await config('changed', ['extract.frontend.n_mels=64'], true));
  t.deepEqual(r3.failed, []);
  t.regex(await fs.readFile(path.join(out, 'config.yaml'), 'utf8'), /n_mels: 64/);
  t.deepEqual((await runRecipe(other)).failed, [], 'and a plain rerun with them is done');
});
