import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import type { CaseInputs } from './helpers/metrics-fixture.js';
import { assertDcase } from '../src/dcase/index.js';
import {
  auc,
  compareCodePoints,
  evaluateMachine,
  hmean,
  makeTables,
  metricTableCsv,
  nanmean,
  numpySum,
  parseMetricTable,
  pauc,
  sectionMetric,
  tableJobs,
  type DomainMetric,
  type EvaluateInput,
  type MetricTable,
} from '../src/metrics/index.js';

// ---------------------------------------------------------------------------------------------
// Fixture (a copy of shared/vectors/metrics.json, structure in data-and-evaluation.md §9)

type Value = number | null;
interface ErrorValue {
  error_type: string;
  error_message: string;
}
interface ExpectedTable {
  columns: string[];
  rows: Array<Record<string, Value | string>>;
}
interface ExpectedFile extends ExpectedTable {
  csv: string; // the exact file text
}
interface Case {
  name: string;
  dcase: string;
  machine: string;
  inputs: CaseInputs;
  expected: {
    auc_types: string[];
    per_auc: Record<string, Record<string, Value | ErrorValue>>;
    evaluate: ({ ok: true } & ExpectedFile) | { ok: false; error_type: string; error_message: string };
  };
}
interface TableCase {
  name: string;
  dcase: string;
  metrics: string[];
  machines: Array<{
    machine: string;
    inputs: { section: number[]; is_normal: number[]; is_target: number[]; scores: Record<string, number[]> };
    evaluate: ExpectedTable;
  }>;
  expected: { files: Record<string, ExpectedFile>; not_written: string[] };
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/metrics.json', import.meta.url), 'utf8')) as {
  tolerance_abs: number;
  cases: Case[];
  table_cases: TableCase[];
};
const TOL = fixture.tolerance_abs;

function close(t: ExecutionContext, actual: number, expected: Value, what: string): void {
  if (expected === null) t.true(Number.isNaN(actual), `${what}: expected NaN, got ${actual}`);
  else t.true(Math.abs(actual - expected) <= TOL, `${what}: expected ${expected}, got ${actual}`);
}

/** Compares a computed table with a fixture table: same columns, backends and values. */
function sameTable(t: ExecutionContext, actual: MetricTable, expected: ExpectedTable, what: string): void {
  t.deepEqual(actual.columns, expected.columns, `${what}: columns`);
  t.deepEqual(
    actual.rows.map((r) => r.backend),
    expected.rows.map((r) => r.backend),
    `${what}: backends`,
  );
  actual.rows.forEach((row, i) => {
    expected.columns.slice(1).forEach((c, j) => {
      close(t, row.values[j], expected.rows[i][c] as Value, `${what} ${row.backend} ${c}`);
    });
  });
}

/** Score columns as the score step orders them in test_score.csv (code-point order). */
function scoreList(scores: Record<string, number[]>): EvaluateInput['scores'] {
  return Object.keys(scores)
    .sort(compareCodePoints)
    .map((backend) => ({ backend, values: Float64Array.from(scores[backend]) }));
}

function caseInput(c: Case): EvaluateInput {
  return {
    dcase: assertDcase(c.dcase),
    machine: c.machine,
    section: c.inputs.section,
    isNormal: c.inputs.is_normal,
    isTarget: c.inputs.is_target,
    scores: scoreList({ [c.inputs.backend]: c.inputs.anomaly_score, ...c.inputs.extra_scores }),
  };
}

const isError = (v: Value | ErrorValue): v is ErrorValue => v !== null && typeof v === 'object';

for (const c of fixture.cases) {
  test(`per_auc: ${c.name}`, (t) => {
    const input = caseInput(c);
    for (const { backend, values } of input.scores) {
      t.deepEqual(Object.keys(c.expected.per_auc[backend]), c.expected.auc_types);
      for (const [name, expected] of Object.entries(c.expected.per_auc[backend])) {
        const [sec, ...rest] = name.split('_');
        const metric = rest.join('_') as DomainMetric;
        const compute = () => sectionMetric(input, values, Number(sec), metric);
        if (isError(expected)) {
          const err = t.throws(compute, undefined, `${backend} ${name} should fail`);
          t.regex(err?.message ?? '', new RegExp(`${c.machine}.*\\b${name}\\b`));
        } else {
          close(t, compute(), expected, `${backend} ${name}`);
        }
      }
    }
  });

  test(`evaluate: ${c.name}`, (t) => {
    const input = caseInput(c);
    const ev = c.expected.evaluate;
    if (!ev.ok) {
      // ASDKit fails at the first undefined metric, in column order.
      const first = c.expected.auc_types.find((a) => isError(c.expected.per_auc[input.scores[0].backend][a]));
      t.truthy(first);
      const err = t.throws(() => evaluateMachine(input));
      t.true(err?.message.includes(c.machine) && err.message.includes(`${first}`), err?.message);
      return;
    }
    const result = evaluateMachine(input);
    t.deepEqual(result.columns.slice(1, 1 + c.expected.auc_types.length), c.expected.auc_types);
    sameTable(t, result, ev, c.name);
    t.is(metricTableCsv(result), ev.csv);
  });
}

for (const tc of fixture.table_cases) {
  test(`table: ${tc.name}`, (t) => {
    const dcase = assertDcase(tc.dcase);
    const evals = new Map<string, MetricTable>();
    for (const m of tc.machines) {
      const result = evaluateMachine({
        dcase,
        machine: m.machine,
        section: m.inputs.section,
        isNormal: m.inputs.is_normal,
        isTarget: m.inputs.is_target,
        scores: scoreList(m.inputs.scores),
      });
      sameTable(t, result, m.evaluate, `${tc.name} ${m.machine} evaluate`);
      // The table step reads test_evaluate.csv back, with pandas' float reader.
      evals.set(m.machine, parseMetricTable(metricTableCsv(result), `${m.machine}/test_evaluate.csv`));
    }
    const { files, notWritten, warnings } = makeTables(dcase, tc.metrics, evals);
    t.deepEqual([...files.keys()].sort(), Object.keys(tc.expected.files).sort());
    for (const [name, expected] of Object.entries(tc.expected.files)) {
      const table = files.get(name)!;
      sameTable(t, table, expected, `${tc.name} ${name}`);
      t.is(metricTableCsv(table), expected.csv, `${tc.name} ${name} csv`);
    }
    for (const name of tc.expected.not_written) {
      t.true(notWritten.includes(name), `${name} reported as not written`);
      t.false(files.has(name));
    }
    // A differing backend set is the only warning these cases can produce.
    const sets = tc.machines.map((m) => Object.keys(m.inputs.scores).sort().join('|'));
    t.is(warnings.length > 0, new Set(sets).size > 1, warnings.join('; '));
  });
}

// ---------------------------------------------------------------------------------------------
// Property tests against independent, straightforward definitions

/** mulberry32: small seeded PRNG so failures are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Brute-force pair count of spec §5.4 (O(P·N)). */
function pairAuc(scores: number[], labels: number[]): number {
  let wins = 0;
  let p = 0;
  let n = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] === 1) p++;
    else n++;
  }
  if (p === 0 || n === 0) return NaN;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / (p * n);
}

/** Spec §5.5 literally: ROC point per distinct score, interpolate at p, trapezoid, McClish. */
function rocPointsPauc(scores: number[], labels: number[], p = 0.1): number {
  const P = labels.filter((l) => l === 1).length;
  const N = labels.length - P;
  if (P === 0 || N === 0) return NaN;
  const distinct = [...new Set(scores.map((s) => (s === 0 ? 0 : s)))].sort((a, b) => b - a);
  const xs = [0];
  const ys = [0];
  for (const v of distinct) {
    let tp = 0;
    let fp = 0;
    scores.forEach((s, i) => {
      if (s >= v) labels[i] === 1 ? tp++ : fp++;
    });
    xs.push(fp / N);
    ys.push(tp / P);
  }
  let j = 0;
  while (xs[j + 1] <= p) j++;
  const yp = ys[j] + ((ys[j + 1] - ys[j]) * (p - xs[j])) / (xs[j + 1] - xs[j]);
  const px = [...xs.slice(0, j + 1), p];
  const py = [...ys.slice(0, j + 1), yp];
  let area = 0;
  for (let i = 0; i + 1 < px.length; i++) area += ((px[i + 1] - px[i]) * (py[i + 1] + py[i])) / 2;
  const m = 0.5 * p * p;
  return 0.5 * (1 + (area - m) / (p - m));
}

/** Random scored subset: integer scores (heavy ties, ±0), continuous, or all equal. */
function randomSubset(rand: () => number): { scores: number[]; labels: number[] } {
  const n = 1 + Math.floor(rand() * 120);
  const pPos = rand();
  const mode = Math.floor(rand() * 4);
  const levels = 1 + Math.floor(rand() * 8);
  const constant = rand() * 10 - 5;
  const labels = Array.from({ length: n }, () => (rand() < pPos ? 1 : 0));
  const scores = labels.map((l) => {
    switch (mode) {
      case 0:
        return Math.floor(rand() * levels) - Math.floor(levels / 2) + l * Math.floor(rand() * 2);
      case 1:
        return (rand() - 0.5) * 1e3 + l * rand() * 300;
      case 2:
        return constant;
      default:
        return rand() < 0.5 ? (rand() < 0.5 ? -0 : 0) : Math.round(rand() * 4) / 4;
    }
  });
  return { scores, labels };
}

test('auc equals the brute-force pair count on random subsets with ties', (t) => {
  const rand = prng(20240601);
  let twoClass = 0;
  for (let trial = 0; trial < 3000; trial++) {
    const { scores, labels } = randomSubset(rand);
    const expected = pairAuc(scores, labels);
    const actual = auc(scores, labels);
    if (Number.isNaN(expected)) {
      t.true(Number.isNaN(actual), `trial ${trial}: one class must give NaN`);
      continue;
    }
    twoClass++;
    if (Math.abs(actual - expected) > TOL) t.fail(`trial ${trial}: auc ${actual} vs pair count ${expected}`);
  }
  t.true(twoClass > 2000, 'enough two-class trials');
});

test('pauc equals the straightforward ROC-point construction on random subsets with ties', (t) => {
  const rand = prng(7);
  let checked = 0;
  for (let trial = 0; trial < 3000; trial++) {
    const { scores, labels } = randomSubset(rand);
    const expected = rocPointsPauc(scores, labels);
    const actual = pauc(scores, labels);
    if (Number.isNaN(expected)) {
      t.true(Number.isNaN(actual), `trial ${trial}: one class must give NaN`);
      continue;
    }
    checked++;
    if (Math.abs(actual - expected) > TOL) t.fail(`trial ${trial}: pauc ${actual} vs ROC points ${expected}`);
    if (!(actual >= 0.5 * (1 + (0 - 0.005) / 0.095) - TOL && actual <= 1 + TOL)) t.fail(`trial ${trial}: ${actual} out of range`);
  }
  t.true(checked > 2000);
});

test('auc and pauc do not depend on row order (bit-identical)', (t) => {
  const rand = prng(99);
  for (let trial = 0; trial < 500; trial++) {
    const { scores, labels } = randomSubset(rand);
    const idx = scores.map((_, i) => i).sort(() => rand() - 0.5);
    const s2 = idx.map((i) => scores[i]);
    const l2 = idx.map((i) => labels[i]);
    t.is(Object.is(auc(scores, labels), auc(s2, l2)), true);
    t.is(Object.is(pauc(scores, labels), pauc(s2, l2)), true);
  }
});

test('auc/pauc reject empty subsets and non-finite scores', (t) => {
  t.throws(() => auc([], []), { message: /empty/ });
  t.throws(() => pauc([], []), { message: /empty/ });
  for (const bad of [NaN, Infinity, -Infinity]) {
    t.throws(() => auc([0.1, bad], [0, 1]), { message: /finite/ });
    t.throws(() => pauc([0.1, bad], [0, 1]), { message: /finite/ });
  }
  t.throws(() => auc([0.1, 0.2], [0, 2]), { message: /0\/1/ });
});

test('perfect and inverted detectors bound auc and pauc', (t) => {
  const rand = prng(3);
  for (let trial = 0; trial < 200; trial++) {
    const n = 2 + Math.floor(rand() * 60);
    const labels = Array.from({ length: n }, (_, i) => (i === 0 ? 0 : i === 1 ? 1 : rand() < 0.5 ? 1 : 0));
    const perfect = labels.map((l) => l * 10 + rand());
    const inverted = perfect.map((s) => -s);
    t.is(auc(perfect, labels), 1);
    t.is(pauc(perfect, labels), 1);
    t.is(auc(inverted, labels), 0);
    // McClish minimum: ROC at y = 0 up to fpr p gives ½(1 + (0 − p²/2)/(p − p²/2)).
    t.true(Math.abs(pauc(inverted, labels) - 0.5 * (1 + (0 - 0.005) / 0.095)) <= TOL);
    t.is(pauc(labels.map(() => 1), labels), 0.5);
  }
});

test('numpySum adds every value (exact where any order is exact, close otherwise)', (t) => {
  const rand = prng(11);
  for (let trial = 0; trial < 300; trial++) {
    const n = Math.floor(rand() * 600);
    const a = Float64Array.from({ length: n }, () => rand());
    // Integers scaled by 2^-20 sum exactly in float64 whatever the order.
    const ints = a.map((x) => Math.floor(x * 1000) / 2 ** 20);
    t.is(numpySum(ints), ints.reduce((s, x) => s + x, 0));
    t.true(Math.abs(numpySum(a) - a.reduce((s, x) => s + x, 0)) <= 1e-12 * Math.max(1, n));
  }
});

test('hmean: scipy semantics (NaN propagates, any 0 gives 0)', (t) => {
  const rand = prng(5);
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + Math.floor(rand() * 200);
    const a = Array.from({ length: n }, () => 0.01 + rand());
    const direct = n / a.reduce((s, x) => s + 1 / x, 0);
    t.true(Math.abs(hmean(a) - direct) <= 1e-12);
    const k = Math.floor(rand() * n);
    t.is(hmean(a.map((x, i) => (i === k ? 0 : x))), 0);
    t.true(Number.isNaN(hmean(a.map((x, i) => (i === k ? NaN : x)))));
    t.true(Number.isNaN(hmean(a.map((x, i) => (i === k ? NaN : i === 0 ? 0 : x)))));
  }
});

test('nanmean: pandas semantics (NaN skipped, all-NaN gives NaN)', (t) => {
  const rand = prng(6);
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + Math.floor(rand() * 40);
    const a = Array.from({ length: n }, () => (rand() < 0.3 ? NaN : rand()));
    const kept = a.filter((x) => !Number.isNaN(x));
    const result = nanmean(a);
    if (kept.length === 0) t.true(Number.isNaN(result));
    else t.true(Math.abs(result - kept.reduce((s, x) => s + x, 0) / kept.length) <= 1e-12);
  }
  t.true(Number.isNaN(nanmean([])));
});

// The 2025 task paper (arXiv:2506.10097) defines the official score exactly as 2024's.
test('dcase2025 official score: the sub-metrics, pooling and table columns of dcase2024', (t) => {
  const cases = fixture.cases.filter((c) => c.dcase === 'dcase2024' && c.expected.evaluate.ok);
  t.true(cases.length > 0);
  for (const c of cases) {
    const y24 = evaluateMachine(caseInput(c));
    const y25 = evaluateMachine({ ...caseInput(c), dcase: 'dcase2025' });
    t.true(y24.columns.includes('0_official24'), c.name);
    t.deepEqual(y25.columns, y24.columns.map((col) => col.replace('official24', 'official25')), c.name);
    t.deepEqual(y25.rows, y24.rows, c.name);
  }
  const columns = (dcase: 'dcase2024' | 'dcase2025') => tableJobs(dcase, ['official', 's_auc']).jobs.map((j) => j.column);
  t.deepEqual(columns('dcase2025'), columns('dcase2024').map((col) => col.replace('official24', 'official25')));
});

test('evaluate: a section lacking a domain fails naming machine, section and metric', (t) => {
  const input: EvaluateInput = {
    dcase: 'dcase2023',
    machine: 'fan',
    section: [0, 0, 0, 0, 1, 1],
    isNormal: [1, 0, 1, 0, 1, 0],
    isTarget: [0, 0, 1, 1, 0, 0],
    scores: [{ backend: 'AS-x', values: [1, 2, 3, 4, 5, 6] }],
  };
  t.throws(() => evaluateMachine(input), { message: /fan.*\b1_t_auc\b/ });
  const bad = { ...input, section: [0, 0, 0, 0, 0, 0], scores: [{ backend: 'AS-x', values: [1, 2, NaN, 4, 5, 6] }] };
  t.throws(() => evaluateMachine(bad), { message: /row 3.*AS-x/ });
});
