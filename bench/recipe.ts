/**
 * A whole recipe, end to end, against a plain-PyTorch program doing the same work in the same run:
 * `asdkit run dis_spec_scac_trainable` (2 epochs; visualize off, since the baseline draws nothing)
 * as a child process on a synthetic dcase2023 `small` set of 10 s clips, wall time from spawn to
 * exit (startup, decoding, training, checkpoints, extraction, scoring, evaluation and tables all
 * included), against bench/reference/recipe.py (decode, train the same network and loss for the
 * same epochs and batch, embed, k-NN score, AUC) with jemalloc preloaded. Both use the same
 * thread count and clip length.
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { synthesize } from '../src/data/synth/index.js';
import { native } from '../src/native/index.js';
import { INSTALL_HINT, jemallocPath, referencePython, referenceUnavailable, runRecipeReference } from './reference.js';
import { row } from './util.js';

const EPOCHS = 2;
const SEC = 18; // dcase2023's clip length: the dis_* networks tile the 10 s clips to it

export async function benchRecipe({ quick, noRef }: { quick: boolean; noRef?: boolean }): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-bench-recipe-'));
  try {
    const dataDir = path.join(root, 'data');
    const machines = quick ? ['fan'] : ['bearing', 'fan', 'gearbox', 'slider', 'ToyCar', 'ToyTrain', 'valve']; // the dev machines
    const synth = await synthesize({ dataDir, dcase: 'dcase2023', size: 'small', seed: 3, seconds: 10, machines });
    const threads = native().info().numThreads;
    const cli = [process.execPath, '--import', 'tsx', path.join('src', 'cli', 'main.ts')];
    const args = ['run', 'dis_spec_scac_trainable', '--dcase', 'dcase2023', '--data-dir', dataDir, '--result-dir', path.join(root, 'results'),
      '--threads', String(threads), '--set', `trainer.max_epochs=${EPOCHS}`, '--set', 'visualize.enabled=false',
      '--set', `datamodule.label_dir=${path.join(root, 'labels')}`]; // not ./labels in the checkout
    const t0 = performance.now();
    const r = spawnSync(cli[0], [...cli.slice(1), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const ours = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`asdkit run failed: ${r.stderr}`);
    const rawRoot = synth.root;
    const clips = Object.values(synth.perMachine).reduce((n, c) => n + c.train + c.test, 0);
    console.log(`whole recipe: dis_spec_scac_trainable, ${EPOCHS} epochs, synthetic dcase2023 small (${clips} × 10 s clips, tiled to ${SEC} s), batch 64, ${threads} threads:`);
    console.log(row('ours', `${ours.toFixed(1)} s (\`asdkit run\` child process, spawn to exit; visualize off)`));
    if (noRef) return;
    const python = referencePython();
    const missing = referenceUnavailable(python);
    const jemalloc = jemallocPath();
    if (missing || !jemalloc) {
      console.log(row('PyTorch', `skipped: ${missing ?? 'no libjemalloc.so.2'} (${INSTALL_HINT})`));
      return;
    }
    const t1 = performance.now();
    const ref = runRecipeReference(python, { root: rawRoot, epochs: EPOCHS, sec: SEC, batch: 64, threads }, jemalloc);
    const refWall = (performance.now() - t1) / 1000;
    const s = ref.seconds;
    console.log(row('PyTorch', `${refWall.toFixed(1)} s with jemalloc (torch ${ref.torch}, ${ref.threads} threads; decode ${s.decode.toFixed(1)}, train ${s.train.toFixed(1)}, embed ${s.extract.toFixed(1)}, score ${s.score.toFixed(2)} s)`));
    console.log(row('ratio', `ours / PyTorch + jemalloc: ${(ours / refWall).toFixed(2)}× (< 1: ours faster)`));
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}
