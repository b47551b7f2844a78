/** Option groups shared by the step commands (ASDKit's identifying options, kebab-case). */
import type { Argv } from 'yargs';
import { setThreads } from '../native/index.js';
import { resolveRunConfig } from '../recipes/registry.js';
import type { RunConfig } from '../recipes/schema.js';

export function runOptions<T>(y: Argv<T>) {
  return y
    .option('dcase', { type: 'string', demandOption: true, describe: 'DCASE edition (dcase2020 … dcase2025)' })
    .option('recipe', { type: 'string', default: 'raw_spec', describe: 'recipe giving the defaults (see `asdkit recipes`)' })
    .option('data-dir', { type: 'string', describe: 'folder holding formatted/<dcase>/raw (default: data)' })
    .option('result-dir', { type: 'string', describe: 'result root (default: results)' })
    .option('name', { type: 'string', describe: 'run name (default: recipe)' })
    .option('version', { type: 'string', describe: 'run version (default: the recipe name)' })
    .option('seed', { type: 'string', describe: 'seed folder (default: the recipe seed)' })
    .option('infer-ver', { type: 'string', describe: 'inference version, names output/<infer_ver> (raw_spec: the pooling)' })
    .option('device', { type: 'string', describe: 'cpu, cuda or cuda:N (default: cpu)' })
    .option('threads', { type: 'number', describe: 'LibTorch threads (default: all cores; env ASDKIT_THREADS)' })
    .option('overwrite', { type: 'boolean', describe: 'recompute outputs that already exist' })
    .option('set', { type: 'string', array: true, default: [] as string[], describe: 'override any config field: key.path=value' })
    .option('backend', {
      type: 'string',
      array: true,
      describe: 'score backends replacing the recipe\'s, one YAML mapping each, e.g. "{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}"',
    })
    .version(false);
}

export interface RunArgs {
  dcase: string;
  recipe: string;
  dataDir?: string;
  resultDir?: string;
  name?: string;
  version?: string;
  seed?: string;
  inferVer?: string;
  device?: string;
  threads?: number;
  overwrite?: boolean;
  set: string[];
  backend?: string[];
  machine?: string | string[];
}

/** CLI arguments → a validated run config (recipe defaults, then options, then --set). */
export function configFromArgs(a: RunArgs): RunConfig {
  if (a.threads !== undefined) setThreads(a.threads);
  const machines = a.machine === undefined ? undefined : ([] as string[]).concat(a.machine).flatMap((m) => m.split(','));
  return resolveRunConfig(
    a.recipe,
    {
      dcase: a.dcase,
      data_dir: a.dataDir,
      result_dir: a.resultDir,
      name: a.name,
      version: a.version,
      seed: a.seed === undefined ? undefined : /^\d+$/.test(a.seed) ? Number(a.seed) : a.seed,
      infer_ver: a.inferVer,
      device: a.device,
      overwrite: a.overwrite,
      machines,
    },
    [...a.set, ...(a.backend?.length ? [`score.backend=[${a.backend.join(', ')}]`] : [])],
  );
}
