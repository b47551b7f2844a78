/**
 * Progress output: the formatting functions, when plain lines are printed without a terminal, the
 * CLI's lines on a tiny synthetic run (stderr is a pipe here, as under nohup / CI / Slurm), the bars
 * under a pseudo-terminal (`script`, when installed), and Ctrl-C during training.
 */
import test from 'ava';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { formatDuration, formatRate, LineThrottle, Meter, progressBar, progressLine, renderBar, RunProgress, trainText } from '../src/cli/progress.js';
import { synthesize } from '../src/data/synth/index.js';
import { readEventFile } from '../src/train/tensorboard.js';
import { cli } from './helpers/cli.js';

const CLI = ['--import', 'tsx', path.join('src', 'cli', 'main.ts')];

test('durations, rates and training text are formatted for people; unknown values never show as NaN/Infinity/NFs', (t) => {
  t.is(formatDuration(0), '0s');
  t.is(formatDuration(42.4), '42s');
  t.is(formatDuration(185), '3m05s');
  t.is(formatDuration(2 * 3600 + 7 * 60 + 20), '2h07m');
  for (const bad of [NaN, Infinity, -Infinity, -1]) t.is(formatDuration(bad), '--');
  t.is(formatRate(45.25, 'clip'), '45.3 clip/s');
  t.is(formatRate(1234.4, 'row'), '1234 row/s');
  t.is(formatRate(0.5), '0.50 it/s');
  for (const bad of [NaN, Infinity, 0]) t.is(formatRate(bad, 'step'), '-- step/s');
  t.is(trainText({ epoch: 2, epochs: 16, loss: 1.234567, lr: 0.001 }), 'epoch 2/16 loss 1.2346 lr 1.00e-3');
  t.is(trainText(undefined), '');
  t.is(renderBar(5, 10, 10), '█████░░░░░');
  t.is(renderBar(0, 0, 4), '░░░░');
  const early = progressLine({ title: 'run', label: 'extract fan', done: 0, total: 10, rate: NaN, eta: NaN });
  t.is(early, 'run extract fan 0/10 0% -- it/s ETA --');
  t.notRegex(early, /NaN|Infinity|NFs/);
  t.is(progressLine({ title: 'x', done: 10, total: 10, rate: 5, eta: 0, elapsed: 2, unit: 'clip' }), 'x 10/10 100% 5.00 clip/s in 2s');
});

test('plain lines: at most one per interval, a 25/50/75 % mark after the shortest gap, always the 100 % line, once', (t) => {
  let now = 0;
  const th = new LineThrottle({ now: () => now, intervalMs: 5000, minGapMs: 1000 });
  th.reset();
  const at = (ms: number, done: number) => ((now = ms), th.due(done, 100));
  t.false(at(100, 1), 'nothing right away');
  t.false(at(900, 30), 'a quarter mark inside the shortest gap');
  t.true(at(1200, 31), 'the quarter mark once the gap has passed');
  t.false(at(2000, 40));
  t.true(at(2500, 50), 'half way');
  t.false(at(7000, 60), 'no mark, not yet 5 s since the last line');
  t.true(at(7600, 61), '5 s since the last line');
  t.true(at(7700, 100), 'the end, at once');
  t.false(at(9000, 100), 'the end only once');

  const lines: string[] = [];
  let clock = 0;
  const bar = progressBar('extract', { tty: false, write: (s) => lines.push(s), now: () => clock, unit: 'clip' });
  for (let i = 1; i <= 200; i++) {
    clock = i * 100; // 20 s for 200 clips: 10 clip/s
    bar.update(i, 200, 'fan');
  }
  bar.stop();
  t.true(lines.length >= 4 && lines.length <= 8, lines.join(''));
  t.regex(lines.at(-1)!, /^extract fan 200\/200 100% 10\.0 clip\/s in 20s\n$/);
  t.regex(lines[0], /^extract fan \d+\/200 \d+% 10\.0 clip\/s ETA \d+s\n$/);
  t.true(lines.every((l) => !/NaN|Infinity|NFs/.test(l)));
});

test('rate: unknown while a step is young; exact once it has finished, however fast', (t) => {
  let now = 0;
  const m = new Meter(() => now);
  m.update('extract fan', 0, 84);
  now = 20;
  m.update('extract fan', 40, 84);
  t.true(Number.isNaN(m.rate()), '20 ms into a running step says nothing yet');
  now = 30;
  m.update('extract fan', 84, 84);
  t.is(m.rate(), 84 / 0.03, 'a finished step: 84 clips in 30 ms');
  const skipped = new Meter(() => now);
  skipped.update('score fan', 10, 10);
  now = 40;
  t.true(Number.isNaN(skipped.rate()), 'nothing moved: no rate');
});

test('run progress: the machine k/N and a total ETA on every plain line; training lines carry epoch, loss and lr', (t) => {
  const lines: string[] = [];
  let clock = 0;
  const p = new RunProgress('dis_x', ['fan', 'gearbox', 'valve'], { tty: false, write: (s) => lines.push(s), now: () => clock, intervalMs: 0, minGapMs: 0 });
  clock = 1000;
  p.update('train', 'all', 5, 10, { epoch: 1, epochs: 2, loss: 3.5, lr: 1e-3 });
  clock = 2000;
  p.update('extract', 'gearbox', 1, 4);
  clock = 6000;
  p.update('extract', 'gearbox', 3, 4);
  p.message('skip: score gearbox');
  t.regex(lines[0], /^dis_x train all 5\/10 50% .* epoch 1\/2 loss 3\.5000 lr 1\.00e-3\n$/);
  t.regex(lines[2], /^dis_x extract gearbox \(machine 2\/3\) 3\/4 75% 0\.50 clip\/s ETA 2s, total ETA \d+/);
  t.is(lines[3], 'skip: score gearbox\n');
  const o = p.overallText('extract', 'gearbox', 2, 4);
  t.true(o.fraction > 1 / 3 && o.fraction < 2 / 3, String(o.fraction));
  t.regex(o.text, /^dis_x: machine 2\/3 \(gearbox\), total ETA /);
});

// ---------------------------------------------------------------- the CLI

const data = (async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-progress-'));
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 0, machines: ['bandsaw', 'fan'], seconds: 2 });
  return { root, dataDir };
})();

test.serial('without a terminal, `asdkit run` and `asdkit train` print plain progress lines to stderr', async (t) => {
  const { root, dataDir } = await data;
  const results = path.join(root, 'results-run');
  const run = await cli(['run', 'raw_spec', '--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', results]);
  t.is(run.code, 0, run.stderr);
  const err = run.stderr.split('\n');
  for (const [k, m] of ['bandsaw', 'fan'].entries()) {
    t.true(
      err.some((l) => new RegExp(`^raw_spec extract ${m} \\(machine ${k + 1}/2\\) (\\d+)/\\1 100% [\\d.]+ clip/s in \\d+s$`).test(l)),
      `extract ${m} line in:\n${run.stderr}`,
    );
  }
  t.notRegex(run.stderr, /NaN|Infinity|NFs|\r|\x1b\[/);
  t.regex(run.stdout, /dev official score/);

  const train = await cli(['train', 'ae', '--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', path.join(root, 'results-train'), '--set', 'trainer.max_epochs=2', '--machine', 'fan']);
  t.is(train.code, 0, train.stderr);
  const done = train.stderr.split('\n').filter((l) => /^train fan \d+\/\d+ /.test(l));
  t.true(done.length >= 1, train.stderr);
  t.regex(done.at(-1)!, /^train fan (\d+)\/\1 100% [\d.]+ step\/s in \d+s epoch 2\/2 loss [\d.e+-]+ lr 1\.00e-3$/);
  t.regex(train.stderr, /^train fan: epoch 1\/2 done, loss /m);
});

(spawnSync('script', ['--version']).status === 0 ? test.serial : test.skip)('on a terminal (script -qc): the overall line and the step bar, no NaN or NFs ETA', async (t) => {
  const { root, dataDir } = await data;
  const cmd = [process.execPath, ...CLI, 'run', 'raw_spec', '--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', path.join(root, 'results-tty'), '--machine', 'fan']
    .map((a) => `'${a}'`)
    .join(' ');
  const { stdout } = await promisify(execFile)('script', ['-qec', cmd, '/dev/null'], { cwd: process.cwd(), maxBuffer: 16 << 20, env: { ...process.env, COLUMNS: '200' } });
  t.regex(stdout, /raw_spec: machine 1\/1 \(fan\), total ETA/);
  // The bars are redrawn 10 times a second: a step shorter than that (extract, here, now) may never be drawn.
  t.regex(stdout, /[█░]{30} raw_spec (extract|score|visualize) fan \(machine 1\/1\) \d+\/\d+/);
  t.notRegex(stdout, /NaN|Infinity|NFs/);
  t.regex(stdout, /dev official score/);
});

/** Starts `asdkit train ae …`, sends SIGINT when `when` matches stderr; resolves with the exit code and stderr. */
function interrupted(args: string[], when: RegExp): Promise<{ code: number | null; signal: string | null; stderr: string; sent: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, ASDKIT_PROGRESS_SECONDS: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (!sent && when.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr, sent }));
  });
}

test.serial('Ctrl-C during training: one "interrupted" line, exit 130, no empty event file; a rerun resumes and logs every step', async (t) => {
  const { root, dataDir } = await data;
  const resultDir = path.join(root, 'results-sigint');
  const args = ['train', 'ae', '--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', resultDir, '--machine', 'bandsaw', '--set', 'trainer.max_epochs=4'];
  const mdir = path.join(resultDir, 'recipe', 'dcase2023', 'ae', '0', 'model', 'bandsaw');
  const eventFiles = async () => (await fs.readdir(mdir).catch(() => [] as string[])).filter((f) => f.includes('tfevents')).sort();

  // 1. Stopped in the first epoch, before anything was logged.
  const first = await interrupted(args, /^train bandsaw 1\/\d+ /m);
  t.true(first.sent, first.stderr);
  t.is(first.code, 130, first.stderr);
  t.is(first.stderr.match(/interrupted/g)?.length, 1, first.stderr);
  t.notRegex(first.stderr, /error/i);
  // Normally nothing was logged yet (stopped inside epoch 1): then there must be no event file at
  // all. Should the epoch have ended first on a slow machine, its file must hold its events.
  const logged = (await fs.readFile(path.join(mdir, 'metrics.jsonl'), 'utf8').catch(() => '')).trim();
  if (!logged) t.deepEqual(await eventFiles(), [], 'no event file from an attempt that logged nothing');
  for (const f of await eventFiles()) t.true(readEventFile(await fs.readFile(path.join(mdir, f))).length > 1, `${f} is not header-only`);

  // 2. Stopped after an epoch.
  const second = await interrupted(args, /epoch 1\/4 done/);
  t.is(second.code, 130, second.stderr);
  t.is(second.stderr.match(/interrupted/g)?.length, 1, second.stderr);
  t.notRegex(second.stderr, /error/i);

  // 3. The rerun resumes and finishes.
  const third = await cli(args);
  t.is(third.code, 0, third.stderr);
  t.regex(third.stdout, /resumed from/);
  const files = await eventFiles();
  t.true(files.length >= 2, files.join(', '));
  const steps = new Set<number>();
  for (const f of files) {
    const events = readEventFile(await fs.readFile(path.join(mdir, f)));
    t.is(events[0].fileVersion, 'brain.Event:2', f);
    t.true(events.length > 1, `${f} holds events beyond the header`);
    for (const e of events.slice(1)) if ('train/main' in e.scalars) steps.add(e.step);
  }
  const metrics = (await fs.readFile(path.join(mdir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { globalStep: number });
  t.is(metrics.at(-1)!.globalStep, metrics.length, 'metrics.jsonl: every step once');
  for (const m of metrics) t.true(steps.has(m.globalStep), `step ${m.globalStep} in the event files`);
});
