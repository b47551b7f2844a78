/**
 * Configuration and paths (issue 15): `--set` cannot reach Object.prototype, every id used in a
 * path is one path component (API and CLI), `--threads` is a checked number.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { machineDir, modelDir, versionDir } from '../src/run/index.js';
import { parseThreads } from '../src/util/threads.js';
import { cli } from './helpers/cli.js';

const proto = Object.prototype as Record<string, unknown>;

test.serial('--set keys that reach a prototype are refused and Object.prototype stays untouched', (t) => {
  t.teardown(() => {
    delete proto.polluted; // keep the other tests of this worker sane if the check ever fails
  });
  for (const o of ['__proto__.polluted=1', 'constructor.prototype.polluted=1', 'extract.prototype.polluted=1', 'score={__proto__: {polluted: 1}}']) {
    const e = t.throws(() => resolveRunConfig('raw_spec', { dcase: 'dcase2023' }, [o]));
    t.regex(e!.message, /"(__proto__|constructor|prototype)" is not a configuration key/, o);
  }
  t.false('polluted' in {}, 'no object inherits the value');
  t.false(Object.hasOwn(Object.prototype, 'polluted'));
  // A later resolution works and sees only its own fields.
  const c = resolveRunConfig('raw_spec', { dcase: 'dcase2023' }, ['extract.batch_size=7']);
  t.is(c.extract.batch_size, 7);
  t.false('polluted' in c);
});

test('every id used in a path is one path component: the API refuses, naming the field', async (t) => {
  const ids = { resultDir: 'results', name: 'recipe', dcase: 'dcase2023' as const, version: 'raw_spec', seed: 0, inferVer: 'time_mean' };
  for (const [field, bad] of [['name', '../../x'], ['version', 'a/b'], ['seed', '..'], ['name', ''], ['version', '.'], ['name', 'a\\b'], ['name', 'a\0b']] as const) {
    t.throws(() => versionDir({ ...ids, [field]: bad }), { message: new RegExp(`^invalid ${field} "`) }, `${field}=${JSON.stringify(bad)}`);
  }
  t.throws(() => machineDir({ ...ids, inferVer: '../x' }, 'fan'), { message: /^invalid infer_ver/ });
  t.throws(() => machineDir(ids, '../fan'), { message: /^invalid machine/ });
  t.throws(() => modelDir(ids, '..'), { message: /^invalid model_ver/ });
  t.is(machineDir(ids, 'fan'), path.join('results', 'recipe', 'dcase2023', 'raw_spec', '0', 'output', 'time_mean', 'fan'));

  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-ids-'));
  const c = resolveRunConfig('raw_spec', { dcase: 'dcase2023', data_dir: path.join(root, 'data'), result_dir: path.join(root, 'results'), version: '../../../escaped' });
  await t.throwsAsync(runRecipe(c), { message: /^invalid version "..\/..\/..\/escaped"/ });
  t.deepEqual(await fs.readdir(root), [], 'nothing written');
});

test('CLI: --name ../../x is refused and nothing is written outside --result-dir', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-name-'));
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 0, seconds: 1, machines: ['fan'], trainPerSection: { source: 4, target: 1 }, testPerSection: 2 });
  const resultDir = path.join(root, 'a', 'b', 'results');
  const r = await cli(['run', 'raw_spec', '--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', resultDir, '--name', '../../x', '--set', 'visualize.enabled=false']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^asdkit: error: invalid name "\.\.\/\.\.\/x"/);
  t.deepEqual(await fs.readdir(root), ['data'], 'no result folder anywhere, inside --result-dir or out of it');
});

test('CLI: --threads takes 0 … 4 × cores; abc and 10000 are clear errors', async (t) => {
  const args = ['run', 'raw_spec', '--dcase', 'dcase2023', '--print-config', '--threads'];
  for (const bad of ['abc', '10000', '-1', '2.5', '']) {
    const r = await cli([...args, bad]);
    t.is(r.code, 1, bad);
    t.regex(r.stderr, /asdkit: error: --threads .*expected a whole number from 1 to \d+/, bad);
  }
  for (const good of ['1', '0']) t.is((await cli([...args, good])).code, 0, good);
});

test('ASDKIT_THREADS is checked like --threads', async (t) => {
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', path.join('src', 'cli', 'main.ts'), 'doctor'], { env: { ...process.env, ASDKIT_THREADS: '99999' } });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stderr }));
  });
  t.is(r.code, 1);
  t.regex(r.stderr, /asdkit: error: ASDKIT_THREADS "99999": expected a whole number from 1 to \d+/);
  t.is(parseThreads(' 3 '), 3);
  t.throws(() => parseThreads('abc', 'ASDKIT_THREADS'), { instanceOf: RangeError });
});
