/**
 * `asdkit detect` as users run it: rows equal the run's test scores; audio at another rate and
 * with two channels is converted and said once; hostile inputs become error rows (exit 1) without
 * losing the others; Ctrl-C leaves every row scored so far; `--resume` after a kill finishes the
 * output with each clip exactly once.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { encodeWav16 } from '../src/data/wav.js';
import { KNN_PLAIN } from '../src/run/index.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { exportDetector } from '../src/steps/export.js';
import { numericColumn, parseCsv, readCsvFile } from '../src/util/csv.js';
import { cli } from './helpers/cli.js';

const MACHINE = 'fan';

const setup = (async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-detect-'));
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 3, seconds: 1, machines: [MACHINE], trainPerSection: { source: 12, target: 3 }, testPerSection: 4 });
  // A 1 s clip length keeps the many-clip runs below short.
  const config = resolveRunConfig('raw_spec', { dcase: 'dcase2023', data_dir: dataDir, result_dir: path.join(root, 'results'), machines: [MACHINE], score: { backend: [KNN_PLAIN] } }, ['visualize.enabled=false', 'extract.sec=1']);
  const run = await runRecipe(config);
  const detector = path.join(root, 'detector');
  await exportDetector({ config, machine: MACHINE, out: detector });
  const scores = await readCsvFile(path.join(run.outputDir, MACHINE, 'test_score.csv'), 'scores');
  return { root, detector, scores, column: scores.columns.find((c) => c.startsWith('AS-'))! };
})();

test('rows equal the run\'s test scores; CSV to stdout, JSONL with threshold and norm', async (t) => {
  const { root, detector, scores, column } = await setup;
  const paths = scores.rows.map((r) => r[0]);
  const list = path.join(root, 'list.txt');
  await fs.writeFile(list, paths.join('\n') + '\n');
  const r = await cli(['detect', detector, '--files-from', list]);
  t.is(r.code, 0, r.stderr);
  const rows = parseCsv(r.stdout, 'stdout');
  t.deepEqual(rows.columns, ['path', 'section', 'score', 'decision', 'error']);
  t.deepEqual(rows.rows.map((x) => x[0]), paths);
  t.deepEqual(Array.from(numericColumn(rows, 'score', 'stdout')), Array.from(numericColumn(scores, column, 'test_score.csv')));

  const j = await cli(['detect', detector, ...paths.slice(0, 3), '--format', 'jsonl']);
  t.is(j.code, 0, j.stderr);
  const objs = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; score: number; decision: number; threshold: number; embedding_norm: number });
  t.is(objs.length, 3);
  for (const o of objs) {
    t.is(o.decision, o.score > o.threshold ? 1 : 0);
    t.true(o.embedding_norm > 0);
  }
});

test('other rates and channels are converted and reported once; hostile files are error rows', async (t) => {
  const { root, detector } = await setup;
  const dir = path.join(root, 'hostile');
  await fs.mkdir(dir, { recursive: true });
  const sine = (rate: number, channels: number, seconds: number) => {
    const n = Math.round(rate * seconds);
    const x = new Float32Array(n * channels);
    for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) x[i * channels + c] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate);
    return encodeWav16(x, rate, channels);
  };
  const ok = [path.join(dir, 'a44k-stereo.wav'), path.join(dir, 'b44k-stereo.wav'), path.join(dir, 'c8k-short.wav')];
  await fs.writeFile(ok[0], sine(44100, 2, 1.5));
  await fs.writeFile(ok[1], sine(44100, 2, 1.5));
  await fs.writeFile(ok[2], sine(8000, 1, 0.3));
  const whole = sine(16000, 1, 1);
  const truncated = path.join(dir, 'truncated.wav');
  await fs.writeFile(truncated, whole.subarray(0, 44 + 1000));
  // Its header still announces the whole data chunk.
  const empty = path.join(dir, 'empty.wav');
  await fs.writeFile(empty, new Uint8Array(0));
  const folder = path.join(dir, 'folder.wav');
  await fs.mkdir(folder, { recursive: true });
  const garbage = path.join(dir, 'garbage.wav');
  await fs.writeFile(garbage, Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251));
  // Three hours at 16 kHz (345 MB of silence, sparse on disk): only the first clip is read.
  const long = path.join(dir, 'three-hours.wav');
  const header = encodeWav16(new Float32Array(0), 16000);
  const dataBytes = 3 * 3600 * 16000 * 2;
  const v = new DataView(header.buffer);
  v.setUint32(4, 36 + dataBytes, true);
  v.setUint32(40, dataBytes, true);
  await fs.writeFile(long, header);
  await fs.truncate(long, 44 + dataBytes);
  const missing = path.join(dir, 'missing.wav');

  const list = path.join(root, 'hostile.txt');
  const all = [ok[0], truncated, empty, folder, ok[1], garbage, long, missing, ok[2]];
  await fs.writeFile(list, all.join('\n'));
  const out = path.join(root, 'hostile.csv');
  const started = Date.now();
  const r = await cli(['detect', detector, '--files-from', list, '--out', out, '--batch-size', '4']);
  t.is(r.code, 1, r.stderr);
  t.true(Date.now() - started < 60_000, 'the three-hour file is not decoded whole');
  const rows = parseCsv(await fs.readFile(out, 'utf8'), out);
  t.deepEqual(rows.rows.map((x) => x[0]), all, 'one row per input, in order');
  const error = new Map(rows.rows.map((x) => [x[0], x[4]]));
  for (const p of [...ok, long]) t.is(error.get(p), '', `${p} scores`);
  for (const p of [truncated, empty, folder, garbage, missing]) t.true(error.get(p)!.includes(p), `${p}: ${error.get(p)}`);
  t.regex(r.stderr, /could not be scored/);
  // Each conversion once, naming the first file.
  t.is(r.stderr.match(/note: resampled 44100 Hz → 16000 Hz/g)?.length, 1, r.stderr);
  // The detector reads the channel its run used: near (channel 0) by default, as the DCASE 2026 baseline.
  t.is(r.stderr.match(/note: took the near channel of 2/g)?.length, 1, r.stderr);
  t.regex(r.stderr, /note: resampled 8000 Hz → 16000 Hz/);
  t.regex(r.stderr, /note: tiled clips shorter than/);
  t.regex(r.stderr, /note: cropped clips longer than/);
});

/** Starts `asdkit detect` and resolves once `file` holds at least `lines` lines. */
function startUntil(args: string[], file: string, lines: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join('src', 'cli', 'main.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = (async () => {
    for (;;) {
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      if (text.split('\n').length > lines) return;
      if (child.exitCode !== null) throw new Error(`detect ended before ${lines} lines: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return { child, exited, ready, stderr: () => stderr };
}

test('Ctrl-C keeps every row scored so far; --resume after a kill scores the rest once', async (t) => {
  const { root, detector, scores } = await setup;
  // Many paths (links to the test clips) scored one per batch, so there is time to interrupt.
  const dir = path.join(root, 'many');
  await fs.mkdir(dir, { recursive: true });
  const sources = scores.rows.map((r) => r[0]);
  const paths: string[] = [];
  for (let i = 0; i < 300; i++) {
    const p = path.join(dir, `clip_${String(i).padStart(4, '0')}.wav`);
    await fs.symlink(sources[i % sources.length], p);
    paths.push(p);
  }
  const args = ['detect', detector, dir, '--batch-size', '1'];

  const interrupted = path.join(root, 'interrupted.csv');
  const a = startUntil([...args, '--out', interrupted], interrupted, 5);
  await a.ready;
  a.child.kill('SIGINT');
  t.is(await a.exited, 130, a.stderr());
  const kept = await fs.readFile(interrupted, 'utf8');
  t.true(kept.endsWith('\n'));
  const keptRows = parseCsv(kept, interrupted).rows;
  t.true(keptRows.length >= 4 && keptRows.length < paths.length);
  t.deepEqual(keptRows.map((r) => r[0]), paths.slice(0, keptRows.length));

  const killed = path.join(root, 'killed.csv');
  const b = startUntil([...args, '--out', killed], killed, 5);
  await b.ready;
  b.child.kill('SIGKILL');
  await b.exited;
  // A kill in the middle of a write leaves half a line: resume cuts it off.
  await fs.appendFile(killed, `${paths[paths.length - 1]},0,0.12`);
  const resumed = await cli([...args, '--out', killed, '--resume']);
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stderr, /already in/);
  const full = await cli(args);
  t.is(full.code, 0, full.stderr);
  const got = parseCsv(await fs.readFile(killed, 'utf8'), killed).rows;
  t.deepEqual(got.map((r) => r[0]), paths, 'each clip exactly once, in order');
  t.deepEqual(got, parseCsv(full.stdout, 'stdout').rows);

  const refused = await cli([...args, '--out', killed]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /already exists \(--resume continues it, --overwrite replaces it\)/);
});
