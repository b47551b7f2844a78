import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fitScore, type EmbeddingSet } from '../src/backends/score.js';
import { resolveBackend } from '../src/backends/config.js';
import { decodeNpz, writeNpz, type NpyArray } from '../src/io/npz.js';
import { native } from '../src/native/index.js';
import { DEFAULT_BACKENDS } from '../src/run/index.js';
import { score } from '../src/steps/score.js';
import { parseCsv } from '../src/util/csv.js';
import { centreScoreReference, knnReference, knnRescaleReference, rng } from './helpers/reference.js';

const TOL = (exp: number) => 1e-5 + 1e-5 * Math.abs(exp);

function set(rows: number[][], isTarget: number[], section?: number[]): EmbeddingSet {
  const dim = rows[0]?.length ?? 0;
  return { embed: Float32Array.from(rows.flat()), dim, isTarget, section: section ?? rows.map(() => 0) };
}

function randomRows(r: () => number, n: number, d: number, dup = 0): number[][] {
  const rows = Array.from({ length: n }, () => Array.from({ length: d }, () => Math.fround(r() * 2 - 1)));
  for (let i = 0; i < dup && i + 1 < n; i++) rows[n - 1 - i] = [...rows[i]]; // exact duplicates
  return rows;
}

test('Knn agrees with brute force on random inputs (cosine/euclid, k, ties, D = 1, one target row)', async (t) => {
  const r = rng(42);
  let worst = 0;
  for (let trial = 0; trial < 40; trial++) {
    const d = trial % 5 === 0 ? 1 : 1 + Math.floor(r() * 24);
    const nSo = 3 + Math.floor(r() * 60);
    const nTa = trial % 4 === 0 ? 1 : Math.floor(r() * 6);
    const train = randomRows(r, nSo + nTa, d, trial % 3);
    const isT = train.map((_, i) => (i >= nSo ? 1 : 0));
    // Queries include copies of training rows (distance 0) and fresh rows.
    const queries = [...randomRows(r, 20, d), train[0], train[nSo + nTa - 1]];
    const metric = trial % 2 === 0 ? 'cosine' : 'euclid';
    const kSo = 1 + Math.floor(r() * Math.min(3, nSo));
    const kTa = nTa === 0 ? 1 : Math.floor(r() * Math.min(3, nTa)) + (trial % 7 === 0 ? 0 : 1);
    const want = knnReference(train, isT, queries, { kSo, kTa: nTa === 0 ? 0 : kTa, metric });
    const got = await fitScore(
      { tgt_class: 'asdkit.backends.Knn', n_neighbors_so: kSo, n_neighbors_ta: kTa, metric },
      set(train, isT),
      [set(queries, queries.map(() => 0))],
    );
    got.scores[0].forEach((g, i) => {
      worst = Math.max(worst, Math.abs(g - want[i]));
    });
    if (nTa === 0) t.true(got.warnings.some((w) => /number of target data is 0/.test(w)), 'warns without target rows');
  }
  t.true(worst <= 1e-6, `max |native - brute force| = ${worst}`);
});

test('Knn with a memory budget that forces many chunks gives the same scores', async (t) => {
  const r = rng(7);
  const train = randomRows(r, 300, 16);
  const isT = train.map((_, i) => (i % 30 === 0 ? 1 : 0));
  const queries = randomRows(r, 200, 16);
  const cfg = { tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 2, n_neighbors_ta: 1 };
  const a = await fitScore(cfg, set(train, isT), [set(queries, queries.map(() => 0))]);
  const b = await fitScore(cfg, set(train, isT), [set(queries, queries.map(() => 0))], { memoryBudgetBytes: 4096 });
  t.deepEqual(Array.from(b.scores[0]), Array.from(a.scores[0]));
});

test('Knn errors: more neighbours than rows, bad metric, unknown backend', async (t) => {
  const train = set([[1, 0], [0, 1]], [0, 0]);
  await t.throwsAsync(fitScore({ tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 3, n_neighbors_ta: 1 }, train, [train]), {
    message: /n_neighbors <= n_samples/,
  });
  t.throws(() => resolveBackend({ tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, metric: 'euclidean' }), {
    message: /Unexpected metric/,
  });
  t.throws(() => resolveBackend({ tgt_class: 'asdkit.backends.Nope' }), { message: /unknown backend class/ });
});

test('backend column names follow ASDKit (class + values in config order, Python text)', (t) => {
  t.is(resolveBackend({ tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, smote_ratio: 0, smote_neighbors: 0 }).column, 'AS-Knn-1-1-0.0-0-main');
  t.is(resolveBackend({ tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 3, n_neighbors_ta: 2, metric: 'euclid' }).column, 'AS-Knn-3-2-euclid-main');
  t.is(
    resolveBackend({ tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, metric: 'euclid', smote_ratio: 0.2, smote_neighbors: 2 }).column,
    'AS-Knn-1-1-euclid-0.2-2-main',
  );
  t.is(resolveBackend({ tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, sep_section: true }).column, 'AS-Knn-1-1-True-main');
});

// Reference vectors computed with ASDKit's own classes (spec backends-recipes-outputs §8).
const vectors = JSON.parse(readFileSync(new URL('./fixtures/backends.json', import.meta.url), 'utf8'));
const npz = decodeNpz(new Uint8Array(readFileSync(new URL('./fixtures/backends.npz', import.meta.url))), 'backends.npz');
const nums = (a: NpyArray | undefined): number[] => Array.from((a!.data as ArrayLike<number | bigint>), Number);

const diag = native();

function npzSet(caseName: string, split: string): EmbeddingSet {
  const e = npz.get(`${caseName}/${split}/embed`)!;
  return { embed: e.data as Float32Array, dim: e.shape[1], section: nums(npz.get(`${caseName}/${split}/section`)), isTarget: nums(npz.get(`${caseName}/${split}/is_target`)) };
}

function normalizeRows(e: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(e.length);
  for (let r = 0; r < e.length / dim; r++) {
    let sq = 0;
    for (let j = 0; j < dim; j++) sq += e[r * dim + j] * e[r * dim + j];
    const n = Math.max(Math.sqrt(sq), 1e-12);
    for (let j = 0; j < dim; j++) out[r * dim + j] = Math.fround(e[r * dim + j] / n);
  }
  return out;
}

const compared = new Map<string, number>(); // "<case> <column>" → max |got − expected|

function expectClose(t: import('ava').ExecutionContext, got: ArrayLike<number>, want: number[], what: string): number {
  t.is(got.length, want.length, `${what}: length`);
  let worst = 0;
  let bad = 0;
  want.forEach((w, i) => {
    const d = Math.abs(got[i] - w);
    worst = Math.max(worst, d);
    if (!(d <= TOL(w)) && bad++ < 5) t.fail(`${what}[${i}]: ${got[i]} vs ${w}`);
  });
  t.true(bad === 0, `${what}: ${bad} values outside tolerance (max deviation ${worst})`);
  return worst;
}

for (const c of vectors.cases) {
  const train = npzSet(c.name, 'train');
  const testSet = npzSet(c.name, 'test');
  for (const b of c.backends) {
    const cfg = b.config;
    const kmeans = cfg.tgt_class.endsWith('.Kmeans');
    if (b.status === 'error') {
      test(`reference vectors: ${c.name} ${b.column} fails like ASDKit (${b.error_type})`, async (t) => {
        // The wording is version dependent: match the failure (scikit-learn's n_neighbors check).
        await t.throwsAsync(fitScore(cfg, train, [train, testSet]), { message: /Expected n_neighbors <= n_samples/ });
      });
      continue;
    }
    if (kmeans && b.parity === 'init_dependent_random') {
      test(`reference vectors: ${c.name} ${b.column} formula on the stored centres + properties`, async (t) => {
        const centers = npz.get(`${c.name}/kmeans/${b.column}/group0/centers`)!;
        const ct = { data: centers.data as Float32Array, shape: centers.shape };
        let worst = 0;
        for (const split of ['train', 'test']) {
          const s = split === 'train' ? train : testSet;
          const got = diag.kmeansScore({ data: s.embed, shape: [s.embed.length / s.dim, s.dim] }, ct, cfg.metric ?? 'cosine');
          worst = Math.max(worst, expectClose(t, got, nums(npz.get(`${c.name}/scores/${b.column}/${split}`)), `${split} (stored centres)`));
        }
        compared.set(`${c.name} ${b.column} (stored centres)`, worst);
        // Our own clustering: scores >= 0 and <= 1 − max cos to any target training row.
        const r = await fitScore(cfg, train, [testSet]);
        const unitTest = normalizeRows(testSet.embed, testSet.dim);
        const unitTrain = normalizeRows(train.embed, train.dim);
        const targets = Array.from(train.isTarget).flatMap((v, i) => (v === 1 ? [i] : []));
        r.scores[0].forEach((g, i) => {
          t.true(g >= 0 && g <= 2, `score ${g} in [0, 2]`);
          let maxCos = -Infinity;
          for (const j of targets) {
            let dot = 0;
            for (let d = 0; d < train.dim; d++) dot += unitTest[i * train.dim + d] * unitTrain[j * train.dim + d];
            maxCos = Math.max(maxCos, dot);
          }
          if (targets.length > 0) t.true(g <= 1 - maxCos + 1e-6, `score ${g} <= 1 − max cos ${maxCos}`);
        });
      });
      continue;
    }
    test(`reference vectors: ${c.name} ${b.column}`, async (t) => {
      const r = await fitScore(cfg, train, [train, testSet]);
      t.is(r.column, b.column);
      let worst = 0;
      for (const [k, split] of ['train', 'test'].entries()) {
        worst = Math.max(worst, expectClose(t, r.scores[k], nums(npz.get(`${c.name}/scores/${b.column}/${split}`)), split));
      }
      compared.set(`${c.name} ${b.column}`, worst);
      const warned = r.warnings.some((w) => /number of target data is 0/.test(w));
      t.is(warned, b.log_records.some((l: string) => /number of target data is 0/.test(l)), 'target warning as ASDKit logs it');
    });
  }

  // SMOTE draws and synthetic rows, bit for bit (the MT19937 port against imblearn).
  for (const b of c.backends.filter((x: { column: string }) => npz.has(`${c.name}/smote/${x.column}/group0/rows`))) {
    test(`reference vectors: ${c.name} ${b.column} SMOTE draws (bitwise) and synthetic rows`, (t) => {
      const key = (k: string) => `${c.name}/smote/${b.column}/group0/${k}`;
      const targets = Array.from(train.isTarget).flatMap((v, i) => (v === 1 ? [i] : []));
      const minority = new Float32Array(targets.length * train.dim);
      targets.forEach((r, i) => minority.set(train.embed.subarray(r * train.dim, (r + 1) * train.dim), i * train.dim));
      const want = npz.get(key('synthetic'))!;
      const shape = [targets.length, train.dim];
      const got = diag.smoteSamples({ data: minority, shape }, want.shape[0], b.config.smote_neighbors, b.config.metric ?? 'cosine');
      t.is(want.shape[0], b.smote[0].n_synthetic);
      t.deepEqual(nums(got.neighbors as NpyArray), nums(npz.get(key('minority_neighbors'))));
      t.deepEqual(nums(got.rows as NpyArray), nums(npz.get(key('rows'))));
      t.deepEqual(nums(got.cols as NpyArray), nums(npz.get(key('cols'))));
      t.deepEqual(Array.from(got.steps.data as Float64Array), nums(npz.get(key('steps'))));
      // The synthetic rows are bitwise imblearn's given bitwise-equal inputs (the float32/float64
      // arithmetic is checked bit for bit in backends_test.cc), but the cosine inputs come from our
      // float32 normalisation, whose summation order differs from numpy's by an ulp here and there.
      const syn = got.synthetic.data as Float32Array;
      let worst = 0;
      (want.data as Float32Array).forEach((w, i) => (worst = Math.max(worst, Math.abs(syn[i] - w))));
      t.deepEqual(got.synthetic.shape, want.shape);
      t.true(worst <= 1.2e-7, `synthetic rows: max |got − imblearn| = ${worst}`);
      compared.set(`${c.name} ${b.column} (SMOTE synthetic rows)`, worst);
    });
  }

  // The whole default score step against the CSV text ASDKit wrote.
  if (c.expected_csv) {
    test(`reference vectors: ${c.name} default score step CSVs`, async (t) => {
      const ids = { resultDir: mkdtempSync(path.join(os.tmpdir(), 'asdkit-score-')), name: 'vec', dcase: 'dcase2023' as const, version: 'v', seed: 0, inferVer: 'i' };
      try {
        const dir = path.join(ids.resultDir, 'vec', 'dcase2023', 'v', '0', 'output', 'i', 'm');
        for (const split of ['train', 'test']) {
          const keys = ['embed', 'path', 'section', 'is_normal', 'is_target'];
          await writeNpz(path.join(dir, `${split}_extract.npz`), keys.map((k) => [k, npz.get(`${c.name}/${split}/${k}`)!] as [string, NpyArray]));
        }
        await score({ ...ids, machine: 'm', backends: DEFAULT_BACKENDS });
        const kmeansExact = c.backends.find((x: { column: string }) => x.column.startsWith('AS-Kmeans')).parity === 'exact_init_independent';
        for (const split of ['train', 'test']) {
          const file = `${split}_score.csv`;
          const want = parseCsv(c.expected_csv[file], `expected ${file}`);
          const got = parseCsv(readFileSync(path.join(dir, file), 'utf8'), file);
          t.deepEqual(got.columns, want.columns, `${file} header`);
          t.is(got.rows.length, want.rows.length);
          want.columns.forEach((col, j) => {
            if (col.startsWith('AS-Kmeans') && !kmeansExact) return; // init dependent: checked above
            const wantCol = want.rows.map((r) => r[j]);
            const gotCol = got.rows.map((r) => r[j]);
            if (!col.startsWith('AS-')) return t.deepEqual(gotCol, wantCol, `${file} ${col}`);
            expectClose(t, gotCol.map(Number), wantCol.map(Number), `${file} ${col}`);
          });
        }
      } finally {
        rmSync(ids.resultDir, { recursive: true, force: true });
      }
    });
  }
}

test.after.always('max deviation per reference column', () => {
  for (const [k, v] of compared) console.log(`  max |got − expected| ${k}: ${v.toExponential(2)}`);
});

test('KnnRescale agrees with brute force on random inputs (duplicates-free, D = 1 included)', async (t) => {
  const r = rng(11);
  let worst = 0;
  for (let trial = 0; trial < 20; trial++) {
    const d = trial % 4 === 0 ? 1 : 2 + Math.floor(r() * 16);
    const train = randomRows(r, 6 + Math.floor(r() * 40), d);
    const queries = [...randomRows(r, 15, d), train[2]];
    // 1-D cosine rows are all ±1: duplicates make c_j = 0, which ASDKit leaves unguarded (inf/NaN).
    const metric = trial % 2 === 0 && d > 1 ? 'cosine' : 'euclid';
    const k = 1 + Math.floor(r() * 3);
    const kRef = 1 + Math.floor(r() * 4);
    const want = knnRescaleReference(train, queries, { k, kRef, metric });
    const got = await fitScore(
      { tgt_class: 'asdkit.backends.KnnRescale', n_neighbors: k, k_ref_normalize: kRef, metric },
      set(train, train.map((_, i) => (i % 5 === 0 ? 1 : 0))),
      [set(queries, queries.map(() => 0))],
    );
    got.scores[0].forEach((g, i) => (worst = Math.max(worst, Math.abs(g - want[i]) / Math.max(1, Math.abs(want[i])))));
  }
  t.true(worst <= 1e-5, `max relative deviation ${worst}`);
});

test('Kmeans with as many clusters as distinct source rows scores against those rows and every target row', async (t) => {
  const r = rng(5);
  for (const metric of ['cosine', 'euclid'] as const) {
    const source = randomRows(r, 4, 6);
    const target = randomRows(r, 2, 6);
    const train = [...source, ...source, ...target]; // duplicates: k-means must still find the 4 points
    const isT = train.map((_, i) => (i >= 8 ? 1 : 0));
    const queries = randomRows(r, 12, 6);
    const got = await fitScore({ tgt_class: 'asdkit.backends.Kmeans', n_clusters: 4, metric }, set(train, isT), [set(queries, queries.map(() => 0))]);
    const want = centreScoreReference([...source, ...target], queries, metric);
    got.scores[0].forEach((g, i) => t.true(Math.abs(g - want[i]) <= 1e-5 + 1e-5 * Math.abs(want[i]), `${metric}[${i}]: ${g} vs ${want[i]}`));
  }
});
