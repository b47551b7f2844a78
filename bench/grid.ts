/**
 * Grid throughput: cells per hour of a raw_spec grid (one machine, 10 s clips, one k-NN backend)
 * through the local executor at --jobs 1 and --jobs 2 in the same run, each cell a child process
 * as `asdkit grid run` starts them (threads per cell: cores / jobs). The same cells are timed on
 * both sides (the results are removed in between).
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import YAML from 'yaml';
import { synthesize } from '../src/data/synth/index.js';
import { row } from './util.js';

export async function benchGrid({ quick }: { quick: boolean }): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-bench-grid-'));
  try {
    const dataDir = path.join(root, 'data');
    const seeds = quick ? 4 : 8;
    await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 1, seconds: 10, machines: ['fan'], trainPerSection: { source: 60, target: 6 }, testPerSection: 25 });
    const file = path.join(root, 'grid.yaml');
    await fs.writeFile(
      file,
      YAML.stringify({
        name: 'bench', data_dir: dataDir, result_dir: path.join(root, 'results'), recipes: ['raw_spec'], years: ['dcase2023'], seeds: `0-${seeds - 1}`,
        set: ['visualize.enabled=false', 'score.backend=[{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}]'],
      }),
    );
    console.log(`grid: raw_spec × dcase2023 fan (166 train + 100 test × 10 s clips) × ${seeds} seeds = ${seeds} cells, local executor, each cell a child process; ${os.availableParallelism()} cores`);
    const cli = [process.execPath, '--import', 'tsx', path.join('src', 'cli', 'main.ts')];
    const rates: Record<number, number> = {};
    for (const jobs of [1, 2]) {
      await fs.rm(path.join(root, 'results'), { recursive: true, force: true });
      const t0 = performance.now();
      const r = spawnSync(cli[0], [...cli.slice(1), 'grid', 'run', file, '--jobs', String(jobs)], { encoding: 'utf8' });
      const s = (performance.now() - t0) / 1000;
      if (r.status !== 0) throw new Error(`grid run --jobs ${jobs} failed: ${r.stderr}`);
      rates[jobs] = (seeds / s) * 3600;
      console.log(row(`--jobs ${jobs}`, `${s.toFixed(1)} s for ${seeds} cells → ${rates[jobs].toFixed(0)} cells/h (${(s / seeds).toFixed(1)} s per cell, ${Math.max(1, Math.floor(os.availableParallelism() / jobs))} thread(s) each)`));
    }
    console.log(row('ratio', `--jobs 2 / --jobs 1: ${(rates[2] / rates[1]).toFixed(2)}× the cells per hour`));
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}
