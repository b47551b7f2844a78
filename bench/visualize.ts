/**
 * UMAP visualization at scale: the visualize step on a synthetic machine with N train + test
 * embeddings (default 20 000 × 128-d, --quick 2 000) in 8 clusters, split into UMAP time and
 * drawing time; in-run baseline: the same step on a tenth of the rows (how the cost grows).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Rng } from '../src/util/rng.js';
import { writeNpz, type NpyArray } from '../src/io/npz.js';
import { machineDir } from '../src/run/index.js';
import { visualize } from '../src/steps/visualize.js';
import { row } from './util.js';

const ids = { name: 'bench', dcase: 'dcase2023' as const, version: 'umap', seed: 0, inferVer: 'x' };

async function writeSet(root: string, rows: number, dim: number): Promise<void> {
  const rng = new Rng(3);
  const centres = Array.from({ length: 8 }, () => Array.from({ length: dim }, () => rng.uniform(-1, 1)));
  const half = rows / 2;
  const split = (n: number, test: boolean): Array<[string, NpyArray]> => {
    const embed = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) embed[i * dim + k] = centres[i % 8][k] + rng.uniform(-0.4, 0.4);
    const ints = (f: (i: number) => number) => ({ dtype: 'int64' as const, shape: [n], data: BigInt64Array.from({ length: n }, (_, i) => BigInt(f(i))) });
    return [
      ['embed', { dtype: 'float32', shape: [n, dim], data: embed }],
      ['path', { dtype: 'unicode', shape: [n], data: Array.from({ length: n }, (_, i) => `${test ? 'test' : 'train'}/${i}.wav`) }],
      ['section', ints((i) => i % 3)],
      ['is_normal', ints((i) => (test && i % 5 === 0 ? 0 : 1))],
      ['is_target', ints((i) => (i % 10 === 0 ? 1 : 0))],
    ];
  };
  const dir = machineDir({ ...ids, resultDir: root }, `m${rows}`);
  await writeNpz(path.join(dir, 'train_extract.npz'), split(half, false));
  await writeNpz(path.join(dir, 'test_extract.npz'), split(half, true));
}

async function timeVisualize(root: string, rows: number): Promise<{ umap: number; draw: number }> {
  const t0 = performance.now();
  await visualize({ ...ids, resultDir: root, machine: `m${rows}`, overwrite: true });
  const total = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await visualize({ ...ids, resultDir: root, machine: `m${rows}` }); // npz reused: drawing only
  const draw = (performance.now() - t1) / 1000;
  return { umap: total - draw, draw };
}

export async function benchVisualize(opts: { quick: boolean }): Promise<void> {
  const rows = opts.quick ? 2000 : 20000;
  const dim = 128;
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-bench-umap-'));
  try {
    await writeSet(root, rows, dim);
    await writeSet(root, rows / 10, dim);
    console.log(`visualize (UMAP ${dim}-d → 2-d with umap-js, 15 neighbours, ${rows <= 10000 ? 500 : 200} epochs; 3 sections → 4 PNGs):`);
    const small = await timeVisualize(root, rows / 10);
    const big = await timeVisualize(root, rows);
    console.log(row(`${rows / 10} rows`, `UMAP ${small.umap.toFixed(1)} s, drawing ${small.draw.toFixed(2)} s`));
    console.log(row(`${rows} rows`, `UMAP ${big.umap.toFixed(1)} s, drawing ${big.draw.toFixed(2)} s → ${(big.umap / small.umap).toFixed(1)}× the time for 10× the rows`));
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}
