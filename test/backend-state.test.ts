import test from 'ava';
import type { BackendConfig } from '../src/backends/config.js';
import { fitScore, type EmbeddingSet } from '../src/backends/score.js';
import { fitBackend, scoreWithState } from '../src/backends/state.js';
import type { NativeBackendState } from '../src/native/index.js';
import { Rng } from '../src/util/rng.js';

const DIM = 6;

function randomSet(r: Rng, n: number, targetEvery: number): EmbeddingSet {
  const embed = Float32Array.from({ length: n * DIM }, () => r.uniform(-1, 1));
  return {
    embed,
    dim: DIM,
    section: Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 4 : 0)),
    isTarget: Array.from({ length: n }, (_, i) => (targetEvery > 0 && i % targetEvery === 0 ? 1 : 0)),
  };
}

/** Rows of a state tensor as float64 arrays. */
function rows(t: { data: ArrayLike<number>; shape: number[] }): number[][] {
  const [n, d] = t.shape;
  return Array.from({ length: n }, (_, i) => Array.from(t.data).slice(i * d, (i + 1) * d));
}

function dist(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

/** Mean of the k smallest distances from q to refs other than refs[own] (own < 0: none); +inf when none. */
function looMean(q: number[], refs: number[][], k: number, own: number, scale?: ArrayLike<number>): number {
  const d = refs.flatMap((r, j) => (j === own ? [] : [dist(q, r) / (scale ? scale[j] : 1)])).sort((a, b) => a - b);
  const n = Math.min(k, d.length);
  return n === 0 ? Infinity : d.slice(0, n).reduce((a, b) => a + b, 0) / n;
}

/** Where train row i sits: its state group, and its rank among the rows of its domain in that group. */
function placement(train: EmbeddingSet, state: NativeBackendState, i: number, byDomain: boolean) {
  const sections = Array.from(state.sections);
  const g = sections.length === 0 ? 0 : sections.indexOf(train.section[i]);
  let rank = 0;
  for (let j = 0; j < i; j++) {
    const sameGroup = sections.length === 0 || train.section[j] === train.section[i];
    if (sameGroup && (!byDomain || train.isTarget[j] === train.isTarget[i])) rank++;
  }
  return { group: state.groups[g], rank, target: train.isTarget[i] === 1 };
}

function assertClose(t: import('ava').ExecutionContext, got: Float64Array, want: number[], what: string) {
  let bad = 0;
  want.forEach((w, i) => {
    const g = got[i];
    if (!(w === Infinity ? g === Infinity : Math.abs(g - w) <= 1e-9 * Math.max(1, Math.abs(w)))) bad++;
  });
  t.is(bad, 0, `${what}: ${bad} of ${want.length} rows differ from brute force`);
}

const knnConfigs: BackendConfig[] = [];
for (const metric of ['cosine', 'euclid']) {
  for (const sep_section of [false, true]) {
    for (const smote_ratio of [0, 0.5]) {
      knnConfigs.push({ tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 2, n_neighbors_ta: 1, metric, smote_ratio, sep_section });
    }
    knnConfigs.push({ tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 3, n_neighbors_ta: 0, metric, sep_section });
  }
}
const otherConfigs: BackendConfig[] = [false, true].flatMap((sep_section): BackendConfig[] => [
  { tgt_class: 'asdkit.backends.Kmeans', n_clusters: 3, metric: 'cosine', sep_section },
  { tgt_class: 'asdkit.backends.Kmeans', n_clusters: 2, metric: 'euclid', sep_section },
  { tgt_class: 'asdkit.backends.KnnRescale', n_neighbors: 2, k_ref_normalize: 3, metric: 'cosine', sep_section },
  { tgt_class: 'asdkit.backends.KnnRescale', n_neighbors: 1, metric: 'euclid', sep_section },
]);

test('scoreWithState equals fitScore bit for bit', async (t) => {
  const r = new Rng(11);
  const train = randomSet(r, 70, 5);
  const queries = [randomSet(r, 25, 0), randomSet(r, 9, 0), train];
  for (const config of [...knnConfigs, ...otherConfigs]) {
    const fitted = await fitBackend(config, train);
    const viaState = await scoreWithState(config, fitted.state, queries);
    const direct = await fitScore(config, train, queries);
    t.is(viaState.column, direct.column);
    t.deepEqual(fitted.warnings, direct.warnings);
    viaState.scores.forEach((s, i) => t.deepEqual(Array.from(s), Array.from(direct.scores[i]), `${JSON.stringify(config)} set ${i}`));
    t.is(fitted.state.sections.length, config.sep_section ? 2 : 0);
  }
});

test('Knn leave-one-out train scores match brute force (no SMOTE)', async (t) => {
  const r = new Rng(5);
  const train = randomSet(r, 60, 4);
  for (const config of knnConfigs.filter((c) => !c.smote_ratio)) {
    const { state, trainScores } = await fitBackend(config, train);
    const kSo = config.n_neighbors_so as number;
    const kTa = config.n_neighbors_ta as number;
    t.is(trainScores.length, 60);
    const want = Array.from({ length: 60 }, (_, i) => {
      const { group, rank, target } = placement(train, state, i, true);
      const source = rows(group.source);
      const targetRefs = group.target ? rows(group.target) : undefined;
      t.is(group.target === undefined, kTa === 0);
      const q = target ? targetRefs?.[rank] : source[rank];
      // Without target refs a target row is not a reference row: its own (space) row is not in the state.
      if (!q) return NaN;
      let s = looMean(q, source, kSo, target ? -1 : rank);
      if (targetRefs) s = Math.min(s, looMean(q, targetRefs, kTa, target ? rank : -1));
      return config.metric === 'cosine' ? s / 2 : s;
    });
    const checked = want.map((w, i) => [w, i] as const).filter(([w]) => !Number.isNaN(w));
    assertClose(t, Float64Array.from(checked.map(([, i]) => trainScores[i])), checked.map(([w]) => w), JSON.stringify(config));
  }
});

test('KnnRescale leave-one-out train scores match brute force', async (t) => {
  const r = new Rng(6);
  const train = randomSet(r, 50, 4);
  for (const config of otherConfigs.filter((c) => c.tgt_class.endsWith('KnnRescale'))) {
    const { state, trainScores } = await fitBackend(config, train);
    const want = Array.from({ length: 50 }, (_, i) => {
      const { group, rank } = placement(train, state, i, false);
      const refs = rows(group.refs);
      return looMean(refs[rank], refs, config.n_neighbors as number, rank, group.scale.data);
    });
    assertClose(t, trainScores, want, JSON.stringify(config));
  }
});

test('Kmeans leave-one-out: target rows leave themselves out, source rows score as usual', async (t) => {
  const r = new Rng(8);
  const train = randomSet(r, 60, 4);
  for (const config of otherConfigs.filter((c) => c.tgt_class.endsWith('Kmeans'))) {
    const { state, trainScores } = await fitBackend(config, train);
    const direct = await fitScore(config, train, [train]);
    const nClusters = config.n_clusters as number;
    const targetRows: number[] = [];
    const want: number[] = [];
    for (let i = 0; i < 60; i++) {
      const { group, rank, target } = placement(train, state, i, true);
      if (!target) {
        t.is(trainScores[i], direct.scores[0][i]);
        continue;
      }
      const centers = rows(group.centers);
      const d = looMean(centers[nClusters + rank], centers, 1, nClusters + rank);
      targetRows.push(i);
      want.push(config.metric === 'cosine' ? (d * d) / 2 : d);
    }
    t.true(targetRows.length > 0);
    assertClose(t, Float64Array.from(targetRows.map((i) => trainScores[i])), want, JSON.stringify(config));
  }
});

test('Knn with SMOTE: a training row never meets its own copy', async (t) => {
  const r = new Rng(9);
  const train = randomSet(r, 60, 4);
  const config = { tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, metric: 'euclid', smote_ratio: 0.5 };
  const { trainScores, state } = await fitBackend(config, train);
  const direct = await fitScore(config, train, [train]);
  t.true(state.groups[0].target.shape[0] > 15, 'SMOTE added synthetic target rows');
  for (let i = 0; i < 60; i++) {
    t.true(trainScores[i] > 0, `row ${i}`);
    if (train.isTarget[i] === 1) t.is(direct.scores[0][i], 0);
  }
});

test('scoreWithState rejects broken states, naming the problem', async (t) => {
  const r = new Rng(10);
  const train = randomSet(r, 40, 4);
  const queries = [randomSet(r, 5, 0)];
  const knn = { tgt_class: 'asdkit.backends.Knn', n_neighbors_so: 1, n_neighbors_ta: 1, sep_section: true };
  const { state } = await fitBackend(knn, train);

  const missing: NativeBackendState = { sections: state.sections, groups: [state.groups[0], { target: state.groups[1].target }] };
  await t.throwsAsync(scoreWithState(knn, missing, queries), {
    instanceOf: RangeError,
    message: /state group 1 \(section 4\): missing tensor "source"/,
  });

  const flat = { ...state.groups[0], source: { data: state.groups[0].source.data, shape: [state.groups[0].source.data.length] } };
  await t.throwsAsync(scoreWithState(knn, { sections: state.sections, groups: [flat, state.groups[1]] }, queries), {
    instanceOf: RangeError,
    message: /"source" must be 2-D float32, got 1-D/,
  });

  const wide = { ...state.groups[1], target: { data: new Float32Array(3 * (DIM + 1)), shape: [3, DIM + 1] } };
  await t.throwsAsync(scoreWithState(knn, { sections: state.sections, groups: [state.groups[0], wide] }, queries), {
    instanceOf: RangeError,
    message: /"target" has dimension 7, expected 6/,
  });

  await t.throwsAsync(scoreWithState({ ...knn, sep_section: false }, state, queries), {
    instanceOf: RangeError,
    message: /one group and no sections/,
  });

  const rescale = { tgt_class: 'asdkit.backends.KnnRescale', n_neighbors: 1 };
  const fitted = await fitBackend(rescale, train);
  const badScale = { refs: fitted.state.groups[0].refs, scale: { data: new Float32Array(40), shape: [40] } };
  await t.throwsAsync(scoreWithState(rescale, { sections: new Int32Array(0), groups: [badScale] }, queries), {
    instanceOf: RangeError,
    message: /"scale" must be 1-D float64/,
  });

  // A query set of another width than the state's rows.
  const narrow: EmbeddingSet = { embed: new Float32Array(2 * (DIM - 1)), dim: DIM - 1, section: [0, 4], isTarget: [0, 0] };
  await t.throwsAsync(scoreWithState(knn, state, [narrow]), { instanceOf: RangeError, message: /dims/ });
});
