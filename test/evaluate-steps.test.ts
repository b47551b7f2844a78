import test from 'ava';
import type { CaseInputs } from './helpers/metrics-fixture.js';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertDcase, machinesOf, type Dcase } from '../src/dcase/index.js';
import { compareCodePoints, tableJobs } from '../src/metrics/index.js';
import { evaluate, evaluateScoreFile } from '../src/steps/evaluate.js';
import { machineDir, outputDir, type RunIds } from '../src/run/index.js';
import { table } from '../src/steps/table.js';
import { numericColumn, parseCsv, parseFloatCell, toCsv, type Cell } from '../src/util/csv.js';
import { done, skippedOf } from './helpers/outcome.js';
import { csvFloat } from '../src/util/pyfloat.js';

// ---------------------------------------------------------------------------------------------
// Fixture and helpers

interface ScoreInputs {
  section: number[];
  is_normal: number[];
  is_target: number[];
  scores: Record<string, number[]>;
}
interface Case {
  name: string;
  dcase: string;
  machine: string;
  inputs: CaseInputs;
  expected: { evaluate: { ok: true; csv: string } | { ok: false; error_message: string } };
}
interface TableCase {
  name: string;
  dcase: string;
  metrics: string[];
  machines: Array<{ machine: string; inputs: ScoreInputs }>;
  expected: { files: Record<string, { csv: string }>; not_written: string[] };
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/metrics.json', import.meta.url), 'utf8')) as {
  cases: Case[];
  table_cases: TableCase[];
};

async function tempDir(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-evaluate-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

function runIds(resultDir: string, dcase: Dcase): RunIds {
  return { resultDir, name: 'recipe', dcase, version: 'test', seed: 0, inferVer: 'last' };
}

/** A test_score.csv as the score step writes it: labels first, score columns in code-point order. */
function scoreCsv(dcase: string, machine: string, inp: ScoreInputs): string {
  const backends = Object.keys(inp.scores).sort(compareCodePoints);
  const rows: Cell[][] = inp.section.map((s, i) => [
    `../data/formatted/${dcase}/raw/${machine}/test/section_${String(s).padStart(2, '0')}_${i}.wav`,
    String(s),
    String(inp.is_normal[i]),
    String(inp.is_target[i]),
    ...backends.map((b) => inp.scores[b][i]),
  ]);
  return toCsv(['path', 'section', 'is_normal', 'is_target', ...backends], rows);
}

function caseScores(c: Case): ScoreInputs {
  const { section, is_normal, is_target, backend, anomaly_score, extra_scores } = c.inputs;
  return { section, is_normal, is_target, scores: { [backend]: anomaly_score, ...extra_scores } };
}

async function writeScores(ids: RunIds, machine: string, inp: ScoreInputs): Promise<string> {
  const dir = machineDir(ids, machine);
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, 'test_score.csv');
  await fs.writeFile(file, scoreCsv(ids.dcase, machine, inp));
  return file;
}

const okCases = fixture.cases.filter((c) => c.expected.evaluate.ok);
const failCases = fixture.cases.filter((c) => !c.expected.evaluate.ok);

// ---------------------------------------------------------------------------------------------
// evaluate step

test('evaluate step writes the exact test_evaluate.csv of every fixture case', async (t) => {
  const root = await tempDir(t);
  for (const c of okCases) {
    const ids = runIds(path.join(root, c.name), assertDcase(c.dcase));
    await writeScores(ids, c.machine, caseScores(c));
    const r = done(await evaluate({ ...ids, machine: c.machine }));
    t.is(r.outFile, path.join(machineDir(ids, c.machine), 'test_evaluate.csv'));
    t.is(await fs.readFile(r.outFile, 'utf8'), (c.expected.evaluate as { csv: string }).csv, c.name);
  }
});

test('evaluate step fails on an empty subset, naming the file, and writes nothing', async (t) => {
  t.true(failCases.length > 0);
  const root = await tempDir(t);
  for (const c of failCases) {
    const ids = runIds(root, assertDcase(c.dcase));
    const scoreFile = await writeScores(ids, c.machine, caseScores(c));
    const err = await t.throwsAsync(evaluate({ ...ids, machine: c.machine }));
    t.true(err!.message.includes(scoreFile) && err!.message.includes(c.machine), err!.message);
    t.false(existsSync(path.join(machineDir(ids, c.machine), 'test_evaluate.csv')));
  }
});

test('evaluate step skips when test_evaluate.csv exists, unless overwrite', async (t) => {
  const root = await tempDir(t);
  const c = okCases[0];
  const ids = runIds(root, assertDcase(c.dcase));
  await writeScores(ids, c.machine, caseScores(c));
  const first = done(await evaluate({ ...ids, machine: c.machine }));
  const expected = await fs.readFile(first.outFile, 'utf8');

  const skip = skippedOf(await evaluate({ ...ids, machine: c.machine }));
  t.true(skip.message.includes(path.join(machineDir(ids, c.machine), '*_evaluate.csv')));

  await fs.writeFile(first.outFile, 'stale');
  await evaluate({ ...ids, machine: c.machine, overwrite: true });
  t.is(await fs.readFile(first.outFile, 'utf8'), expected);

  // Done means its own output exists: another *_evaluate.csv does not count (ASDKit's glob did).
  const other = { ...ids, name: 'other' };
  await writeScores(other, c.machine, caseScores(c));
  await fs.writeFile(path.join(machineDir(other, c.machine), 'train_evaluate.csv'), '');
  done(await evaluate({ ...other, machine: c.machine }));
  t.is(await fs.readFile(path.join(machineDir(other, c.machine), 'test_evaluate.csv'), 'utf8'), expected);

  // A test_evaluate.csv made from another test_score.csv is refused, not taken for done.
  const rescored = await writeScores(ids, c.machine, caseScores(c));
  const later = new Date(Date.now() + 60_000);
  await fs.utimes(rescored, later, later);
  const stale = await t.throwsAsync(evaluate({ ...ids, machine: c.machine }));
  t.regex(stale!.message, /test_score\.csv changed.*--overwrite recomputes/);
});

test('evaluateScoreFile evaluates one file to any path and respects overwrite', async (t) => {
  const root = await tempDir(t);
  const c = okCases[okCases.length - 1];
  const scoreFile = path.join(root, 'in', 'scores.csv');
  await fs.mkdir(path.dirname(scoreFile), { recursive: true });
  await fs.writeFile(scoreFile, scoreCsv(c.dcase, c.machine, caseScores(c)));
  const outFile = path.join(root, 'out', 'nested', 'result.csv');
  const o = { scoreFile, dcase: assertDcase(c.dcase), machine: c.machine, outFile };
  const r = done(await evaluateScoreFile(o));
  const text = await fs.readFile(outFile, 'utf8');
  t.is(text, (c.expected.evaluate as { csv: string }).csv);
  t.deepEqual(r.columns, parseCsv(text, outFile).columns);
  t.is(skippedOf(await evaluateScoreFile(o)).existing, outFile);
  done(await evaluateScoreFile({ ...o, overwrite: true }));
});

test('malformed score files give errors that name the file and the problem', async (t) => {
  const root = await tempDir(t);
  const c = okCases[0];
  const good = scoreCsv(c.dcase, c.machine, caseScores(c));
  const lines = good.split('\n');
  const header = lines[0].split(',');
  const edit = (col: string, row: number, value: string) =>
    lines
      .map((l, i) => (i === row ? l.split(',').map((v, j) => (header[j] === col ? value : v)).join(',') : l))
      .join('\n');
  const dropColumn = (col: string) =>
    lines.map((l) => l && l.split(',').filter((_, j) => header[j] !== col).join(',')).join('\n');
  const scoreCol = header.find((h) => h.startsWith('AS-'))!;
  const bad: Array<[string, string, RegExp]> = [
    ['missing-column', dropColumn('is_target'), /is_target/],
    ['non-numeric', edit(scoreCol, 3, 'abc'), new RegExp(`${scoreCol}.*row 3.*abc`)],
    ['non-finite', edit(scoreCol, 2, ''), /row 2.*not finite/],
    ['ragged', lines.map((l, i) => (i === 4 ? `${l},1` : l)).join('\n'), /line 5/],
    ['section', edit('section', 1, '1.5'), /section.*row 1.*integer/],
    ['label', edit('is_normal', 2, '2'), /is_normal.*row 2.*0 or 1/],
    ['no-backend', dropColumn(scoreCol), /no score column/],
    ['duplicate', lines.map((l, i) => (i === 0 ? l.replace('is_normal', 'section') : l)).join('\n'), /duplicate/],
    ['empty', '', /empty/],
  ];
  for (const [name, text, re] of bad) {
    const scoreFile = path.join(root, `${name}.csv`);
    await fs.writeFile(scoreFile, text);
    const outFile = path.join(root, `${name}_evaluate.csv`);
    const err = await t.throwsAsync(evaluateScoreFile({ scoreFile, dcase: assertDcase(c.dcase), machine: c.machine, outFile }));
    t.true(err!.message.includes(scoreFile), `${name}: ${err!.message}`);
    t.regex(err!.message, re, name);
    t.false(existsSync(outFile));
  }
  const missing = path.join(root, 'nope.csv');
  const err = await t.throwsAsync(
    evaluateScoreFile({ scoreFile: missing, dcase: assertDcase(c.dcase), machine: c.machine, outFile: path.join(root, 'x.csv') }),
  );
  t.true(err!.message.includes(missing));
});

// ---------------------------------------------------------------------------------------------
// table step

async function evaluateAll(tc: TableCase, ids: RunIds): Promise<void> {
  for (const m of tc.machines) {
    await writeScores(ids, m.machine, m.inputs);
    await evaluate({ ...ids, machine: m.machine });
  }
}

for (const tc of fixture.table_cases) {
  test(`table step reproduces ${tc.name}`, async (t) => {
    const ids = runIds(await tempDir(t), assertDcase(tc.dcase));
    await evaluateAll(tc, ids);
    const out = outputDir(ids);
    const r = done(await table({ ...ids, metrics: tc.metrics }));
    t.deepEqual([...r.written].sort(), Object.keys(tc.expected.files).map((f) => path.join(out, f)).sort());
    for (const [name, { csv }] of Object.entries(tc.expected.files)) {
      t.is(await fs.readFile(path.join(out, name), 'utf8'), csv, name);
    }
    for (const name of tc.expected.not_written) t.false(existsSync(path.join(out, name)), name);

    skippedOf(await table({ ...ids, metrics: tc.metrics }));
    const again = done(await table({ ...ids, metrics: tc.metrics, overwrite: true }));
    t.deepEqual(again.written, r.written);
  });
}

test('table step uses the default metrics', async (t) => {
  const tc = fixture.table_cases[0];
  const ids = runIds(await tempDir(t), assertDcase(tc.dcase));
  await evaluateAll(tc, ids);
  const r = done(await table(ids));
  const expected = tableJobs(ids.dcase, ['official', 's_auc', 't_auc', 'mix_auc']).jobs.map((j) => path.join(outputDir(ids), j.file));
  t.deepEqual(r.written, expected);
});

test('table step aborts on a missing test_evaluate.csv, keeping earlier tables', async (t) => {
  const tc = fixture.table_cases.find((x) => machinesOf(assertDcase(x.dcase), 'dev')[0] !== machinesOf(assertDcase(x.dcase), 'eval')[0])!;
  t.truthy(tc, 'a case with different dev and eval machines');
  const ids = runIds(await tempDir(t), assertDcase(tc.dcase));
  await evaluateAll(tc, ids);
  const gone = machinesOf(ids.dcase, 'eval')[0];
  const goneFile = path.join(machineDir(ids, gone), 'test_evaluate.csv');
  await fs.rm(goneFile);
  const err = await t.throwsAsync(table({ ...ids, metrics: tc.metrics }));
  t.true(err!.message.includes(goneFile), err!.message);
  const jobs = tableJobs(ids.dcase, tc.metrics).jobs;
  const firstBroken = jobs.findIndex((j) => j.machines.includes(gone));
  t.true(firstBroken > 0);
  jobs.forEach((j, i) => t.is(existsSync(path.join(outputDir(ids), j.file)), i < firstBroken, j.file));
});

test('table step: a machine lacking the column skips that table with a warning', async (t) => {
  const tc = fixture.table_cases[0];
  const ids = runIds(await tempDir(t), assertDcase(tc.dcase));
  await evaluateAll(tc, ids);
  const r = done(await table({ ...ids, metrics: ['s_pauc', 'no_such_metric'] }));
  t.deepEqual(r.written.map((f) => path.basename(f)), ['dev_s_pauc.csv', 'eval_s_pauc.csv']);
  t.true(r.warnings.some((w) => w.includes('dev_no_such_metric.csv')));
});

test('table step can be limited to some machines (ASDKit order kept)', async (t) => {
  const tc = fixture.table_cases[0];
  const ids = runIds(await tempDir(t), assertDcase(tc.dcase));
  await evaluateAll(tc, ids);
  const all = machinesOf(ids.dcase, 'dev');
  const some = [all[3], all[0]];
  const r = done(await table({ ...ids, metrics: ['s_auc'], machines: some }));
  t.is(r.written.length, 2);
  for (const f of r.written) {
    const cols = parseCsv(await fs.readFile(f, 'utf8'), f).columns;
    t.deepEqual(cols, ['backend', all[0], all[3], 'total']);
  }
});

test('table step skips only when every table it writes is there', async (t) => {
  const tc = fixture.table_cases[0];
  const ids = runIds(await tempDir(t), assertDcase(tc.dcase));
  await evaluateAll(tc, ids);
  // A stray csv is not "done" (ASDKit's *.csv glob took it for done).
  await fs.writeFile(path.join(outputDir(ids), 'anything.csv'), '');
  const r = done(await table(ids));
  // One table missing: redone.
  await fs.rm(r.written[1]);
  t.deepEqual(done(await table(ids)).written, r.written);
  const skip = skippedOf(await table(ids));
  t.true(skip.message.includes(path.join(outputDir(ids), '*.csv')));
});

// ---------------------------------------------------------------------------------------------
// CSV layer

test('toCsv quotes only where needed and round-trips through parseCsv', (t) => {
  const strings = ['plain', 'a,b', 'say "hi"', 'two\nlines', 'cr\rhere', '', ' spaced '];
  const numbers = [1, 0.1, 1e-5, -2.5e16, NaN, -0];
  const columns = ['s', 'n', 'x,y'];
  const rows: Cell[][] = strings.map((s, i) => [s, numbers[i % numbers.length], `c${i}`]);
  const text = toCsv(columns, rows);
  t.true(text.endsWith('\n') && !text.includes('\r\n'));
  t.true(text.startsWith('s,n,"x,y"\n'));
  const back = parseCsv(text, 'mem.csv');
  t.deepEqual(back.columns, columns);
  t.deepEqual(
    back.rows,
    rows.map((r) => r.map((c) => (typeof c === 'number' ? csvFloat(c) : c))),
  );
  t.true(text.split('\n')[1].startsWith('plain,'));
  // A one-column row holding '' or NaN must not turn into a blank line (which readers skip).
  const single = parseCsv(toCsv(['v'], [[NaN], [''], [2]]), 'single.csv');
  t.deepEqual(single.rows, [[''], [''], [csvFloat(2)]]);
});

test('parseCsv accepts CRLF, CR, a BOM and a missing final newline', (t) => {
  const lf = 'a,b\n1,2\n3,4\n';
  const expected = parseCsv(lf, 'lf');
  t.deepEqual(parseCsv(lf.replace(/\n/g, '\r\n'), 'crlf'), expected);
  t.deepEqual(parseCsv('\ufeff' + lf.replace(/\n/g, '\r').trimEnd(), 'cr'), expected);
  t.throws(() => parseCsv('a,"b\n1,2\n', 'q.csv'), { message: /^q\.csv: malformed/ });
});

test('numericColumn: pandas missing values are NaN, text is an error naming file/column/row', (t) => {
  const tab = parseCsv('v\n1.5\n\nNaN\n-inf\n', 'f.csv');
  const v = numericColumn(tab, 'v', 'f.csv');
  t.is(v.length, 3); // the empty line is not a row
  t.is(v[0], 1.5);
  t.true(Number.isNaN(v[1]));
  t.is(v[2], -Infinity);
  const blank = parseCsv('v,w\n,1\n', 'g.csv');
  t.true(Number.isNaN(numericColumn(blank, 'v', 'g.csv')[0]));
  t.throws(() => numericColumn(parseCsv('v\n1\n0x10\n', 'h.csv'), 'v', 'h.csv'), { message: /h\.csv.*"v".*row 2/ });
  t.throws(() => numericColumn(tab, 'w', 'f.csv'), { message: /f\.csv.*missing column "w"/ });
});

test('parseFloatCell equals correct rounding when pandas keeps every digit', (t) => {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const mismatches: string[] = [];
  for (let trial = 0; trial < 5000; trial++) {
    // Up to 15 digits, decimal point anywhere: integer part and power of ten are exact.
    const digits = Array.from({ length: 1 + Math.floor(rand() * 15) }, () => Math.floor(rand() * 10)).join('');
    const dot = Math.floor(rand() * (digits.length + 1));
    const exp = Math.floor(rand() * 15) - 7;
    const s = `${rand() < 0.5 ? '-' : ''}${digits.slice(0, dot)}.${digits.slice(dot)}e${exp}`.replace(/^(-?)\.e/, '$10.e');
    if (parseFloatCell(s) !== Number(s)) mismatches.push(`${s}: ${parseFloatCell(s)} vs ${Number(s)}`);
  }
  t.deepEqual(mismatches, []);
});

test('parseFloatCell keeps only 17 digits (leading zeros included), like pandas', (t) => {
  let seed = 777;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const mismatches: string[] = [];
  let checked = 0;
  for (let trial = 0; trial < 5000; trial++) {
    const x = rand() * 10 ** (Math.floor(rand() * 6) - 5);
    const s = String(x);
    if (s.includes('e')) continue;
    const [int, frac = ''] = s.split('.');
    const all = int + frac;
    // With ≤ 15 kept digits as an integer below 2^53 and a power of ten ≤ 1e22, one division
    // by 10^k is correctly rounded, so Number() of the truncated text is the reference.
    const kept = all.slice(0, 17);
    if (kept.length - int.length > 22 || Number(kept) > 2 ** 53) continue;
    const truncated = `${kept.slice(0, int.length)}.${kept.slice(int.length)}`;
    checked++;
    if (parseFloatCell(s) !== Number(truncated)) mismatches.push(`${s}: ${parseFloatCell(s)} vs ${truncated}`);
  }
  t.deepEqual(mismatches, []);
  t.true(checked > 1000, `only ${checked} values checked`);
});
