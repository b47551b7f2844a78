/**
 * A tiny trained run for the report tests: the ae recipe (per-machine models with validation
 * logs) on one dev and one eval machine of a small synthetic dcase2023 set, 2 epochs.
 */
import path from 'node:path';
import { synthesize } from '../../src/data/synth/index.js';
import { resolveRunConfig } from '../../src/recipes/resolve.js';
import { runRecipe, type RunResult } from '../../src/recipes/run.js';

export async function tinyAeRun(root: string): Promise<{ resultDir: string; runDir: string; result: RunResult }> {
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 0, machines: ['bandsaw', 'fan'], trainPerSection: { source: 16, target: 2 }, testPerSection: 4 });
  const resultDir = path.join(root, 'results');
  const result = await runRecipe(resolveRunConfig('ae', { dcase: 'dcase2023', data_dir: dataDir, result_dir: resultDir }, ['trainer.max_epochs=2']));
  return { resultDir, runDir: path.join(resultDir, 'recipe', 'dcase2023', 'ae', '0'), result };
}
