/**
 * The CLI's exit-status rule: 0 when the work is done or was already done (a skipped step), 1 on
 * an error; a skip says `--overwrite`, never Python's `overwrite=True`. And `asdkit demo` on data
 * that is already there counts the clips that are there.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { cli } from './helpers/cli.js';

const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-exit-'));
const DCASE = 'dcase2023';

/** Every .wav under `dir`, at any depth. */
async function countWavs(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) n += await countWavs(path.join(dir, e.name));
    else if (e.name.endsWith('.wav')) n++;
  }
  return n;
}

test.serial('a skipped step exits 0 from every command, and says --overwrite', async (t) => {
  const root = await tmp;
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: DCASE, size: 'tiny', seed: 1, machines: ['fan'], seconds: 1, trainPerSection: { source: 20, target: 3 }, testPerSection: 4 });
  const where = ['--dcase', DCASE, '--data-dir', dataDir, '--result-dir', path.join(root, 'results')];
  const first = await cli(['run', 'raw_spec', ...where, '--set', 'visualize.enabled=false']);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /results: /);

  const again = await cli(['run', 'raw_spec', ...where, '--set', 'visualize.enabled=false']);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /skip: extract fan \(already done; --overwrite recomputes\)/);
  t.regex(again.stderr, /skip: table/);

  for (const step of ['extract', 'score', 'evaluate']) {
    const r = await cli([step, ...where, '--version', 'raw_spec', '--machine', 'fan']);
    t.is(r.code, 0, `${step}: ${r.stderr}`);
    t.regex(r.stderr, /^skip: \[Skip this process\] .* already exists \(already done; --overwrite recomputes it\)$/m, step);
    t.notRegex(r.stderr, /overwrite=True|error/, step);
  }
  const table = await cli(['table', ...where, '--version', 'raw_spec', '--machine', 'fan']);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stderr, /skip: \[Skip this process\] .*\*\.csv already exists/);

  const labelArgs = ['label', '--dcase', DCASE, '--data-dir', dataDir, '--out-dir', path.join(root, 'labels')];
  t.is((await cli(labelArgs)).code, 0);
  const label = await cli(labelArgs);
  t.is(label.code, 0, label.stderr);
  t.regex(label.stderr, /skip: \[Skip this process\] .*main\.json already exists \(already done; --overwrite recomputes it\)/);

  // An error is 1.
  const bad = await cli(['score', ...where, '--version', 'raw_spec', '--machine', 'fan', '--device', 'gpu']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /^asdkit: error: invalid device "gpu"/);
});

test.serial('demo on data that is already there counts the clips there', async (t) => {
  const root = await tmp;
  const dataDir = path.join(root, 'demo-data');
  // What `demo` synthesizes (its defaults), made beforehand: the demo writes no clip itself.
  await synthesize({ dataDir, dcase: DCASE, size: 'tiny' });
  const clips = await countWavs(path.join(dataDir, 'formatted', DCASE, 'raw'));
  t.true(clips > 0);
  const r = await cli(['demo', '--data-dir', dataDir, '--result-dir', path.join(root, 'demo-results')]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`synthetic ${DCASE} data: ${clips} clips under .* \\(already there\\)`));
  t.regex(r.stdout, /dev official score/);
});
