import test from 'ava';
import { readFileSync } from 'node:fs';
import { fitScore, type EmbeddingSet } from '../src/backends/score.js';
import { resolveBackend } from '../src/backends/config.js';
import { decodeNpz, type NpyArray } from '../src/io/npz.js';
import { knnReference, rng } from './helpers/reference.js';

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

// Reference vectors computed with ASDKit's own classes (plain Knn columns; SMOTE, Kmeans and
// KnnRescale belong to the backends issue).
const vectors = JSON.parse(readFileSync(new URL('./fixtures/backends.json', import.meta.url), 'utf8'));
const npz = decodeNpz(new Uint8Array(readFileSync(new URL('./fixtures/backends.npz', import.meta.url))), 'backends.npz');
const nums = (a: NpyArray | undefined): number[] => Array.from((a!.data as ArrayLike<number | bigint>), Number);

function npzSet(caseName: string, split: string): EmbeddingSet {
  const e = npz.get(`${caseName}/${split}/embed`)!;
  return { embed: e.data as Float32Array, dim: e.shape[1], section: nums(npz.get(`${caseName}/${split}/section`)), isTarget: nums(npz.get(`${caseName}/${split}/is_target`)) };
}

for (const c of vectors.cases) {
  for (const b of c.backends) {
    const cfg = b.config;
    if (!cfg.tgt_class.endsWith('.Knn') || (cfg.smote_ratio ?? 0) !== 0 || b.status !== 'ok') continue;
    test(`reference vectors: ${c.name} ${b.column}`, async (t) => {
      const train = npzSet(c.name, 'train');
      const testSet = npzSet(c.name, 'test');
      const r = await fitScore(cfg, train, [train, testSet]);
      t.is(r.column, b.column);
      for (const [k, split] of ['train', 'test'].entries()) {
        const want = nums(npz.get(`${c.name}/scores/${b.column}/${split}`));
        t.is(r.scores[k].length, want.length);
        want.forEach((w, i) => t.true(Math.abs(r.scores[k][i] - w) <= TOL(w), `${split}[${i}]: ${r.scores[k][i]} vs ${w}`));
      }
    });
  }
}
