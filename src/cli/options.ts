/** Option groups shared by the step commands (ASDKit's identifying options, kebab-case). */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { setThreads } from '../native/index.js';
import { exists } from '../util/files.js';
import { parseThreads } from '../util/threads.js';
import { RECIPES } from '../recipes/catalogue.js';
import { applyOverride, resolveRunConfig } from '../recipes/resolve.js';
import { CONFIG_FILE, findRunConfig, parseSeed, readRunConfig, runConfigSchema, runIdsOf, type RunConfig } from '../run/index.js';

export function runOptions<T>(y: Argv<T>) {
  return y
    .option('dcase', { type: 'string', demandOption: true, describe: 'DCASE edition (dcase2020 … dcase2026)' })
    .option('recipe', { type: 'string', describe: 'step commands: the recipe of a run that has no config.yaml yet (see `asdkit recipes`; an existing run\'s config.yaml names its own); `run` and `train` take the recipe as their argument, and a different --recipe is an error' })
    .option('data-dir', { type: 'string', describe: 'folder holding formatted/<dcase>/raw (default: data)' })
    .option('result-dir', { type: 'string', describe: 'result root (default: results)' })
    .option('name', { type: 'string', describe: 'run name (default: recipe)' })
    .option('version', { type: 'string', describe: 'run version (default: the recipe name)' })
    .option('seed', { type: 'string', describe: 'seed folder (default: the recipe seed)' })
    .option('infer-ver', { type: 'string', describe: 'inference version, names output/<infer_ver> (raw_spec: the pooling)' })
    .option('device', { type: 'string', describe: 'cpu, cuda or cuda:N (default: cpu)' })
    .option('threads', { type: 'string', describe: 'LibTorch threads: 1 … 4 × cores, or 0 = all cores (the default; env ASDKIT_THREADS)' })
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
  recipe?: string;
  dataDir?: string;
  resultDir?: string;
  name?: string;
  version?: string;
  seed?: string;
  inferVer?: string;
  device?: string;
  threads?: string | number;
  overwrite?: boolean;
  set: string[];
  backend?: string[];
  machine?: string | string[];
}

const applyThreads = (a: RunArgs) => {
  if (a.threads !== undefined) setThreads(parseThreads(a.threads));
};

/** CLI arguments → a validated run config (recipe defaults, then options, then --set). */
export function configFromArgs(a: RunArgs): RunConfig {
  applyThreads(a);
  const machines = a.machine === undefined ? undefined : ([] as string[]).concat(a.machine).flatMap((m) => m.split(','));
  return resolveRunConfig(
    a.recipe ?? 'raw_spec',
    {
      dcase: a.dcase,
      data_dir: a.dataDir,
      result_dir: a.resultDir,
      name: a.name,
      version: a.version,
      seed: a.seed === undefined ? undefined : parseSeed(a.seed),
      infer_ver: a.inferVer,
      device: a.device,
      overwrite: a.overwrite,
      machines,
    },
    overridesOf(a),
  );
}

const overridesOf = (a: RunArgs) => [...a.set, ...(a.backend?.length ? [`score.backend=[${a.backend.join(', ')}]`] : [])];

/** Fields that decide what a run's outputs are: a step command may not change them on an existing run. */
const IDENTITY: Array<(c: RunConfig) => unknown> = [
  (c) => c.recipe, (c) => c.version, (c) => c.seed, (c) => c.infer_ver, (c) => c.dcase,
  (c) => c.extract.frontend, (c) => c.extract.sec, (c) => c.model, (c) => c.ae, (c) => c.datamodule?.sec, (c) => c.trainer?.model_ver,
];
const IDENTITY_NAMES = ['recipe', 'version', 'seed', 'infer_ver', 'dcase', 'extract.frontend', 'extract.sec', 'model', 'ae', 'datamodule.sec', 'trainer.model_ver'];

/**
 * The configuration of one step command on a run. An existing run is described by the
 * config.yaml that `run` (or an earlier step command) wrote; the flags may change how the step
 * runs (data folder, device, threads, batch size, back-ends) but not what the run is, and
 * `--recipe` must agree with it. Without a config.yaml the recipe (`--recipe`, else the recipe
 * `--version` names, else raw_spec) gives the configuration.
 */
export async function stepConfigFromArgs(a: RunArgs): Promise<{ config: RunConfig; stored?: string }> {
  applyThreads(a);
  const recipe = a.recipe ?? (a.version === undefined ? 'raw_spec' : RECIPES[a.version] ? a.version : undefined);
  const ids = recipe ? runIdsOf(configFromArgs({ ...a, recipe })) : undefined;
  const found = ids ? await findRunConfig(ids) : await searchRunConfig(a);
  if (!found) {
    if (!recipe) throw new Error(`no run "${a.version}" with a config.yaml under ${versionRoot(a)}; name its recipe with --recipe`);
    // Another infer_ver or seed of the same run folder made by another recipe: not ours to add to.
    for (const file of await runConfigFiles({ ...a, version: ids!.version }, {})) {
      const other = await readRunConfig(file);
      if (other.recipe !== recipe) throw new Error(`--recipe ${recipe} disagrees with the run's configuration (recipe ${other.recipe}): ${file}`);
    }
    return { config: configFromArgs({ ...a, recipe }) };
  }
  const stored = found.config;
  if (a.recipe !== undefined && a.recipe !== stored.recipe) {
    throw new Error(`--recipe ${a.recipe} disagrees with the run's configuration (recipe ${stored.recipe}): ${found.file}`);
  }
  // The run folder may have moved since: its result_dir is where it was found.
  const merged = structuredClone({ ...stored, result_dir: ids?.resultDir ?? resultRoot(a) }) as Record<string, unknown>;
  const machines = a.machine === undefined ? undefined : ([] as string[]).concat(a.machine).flatMap((m) => m.split(','));
  const flags = { data_dir: a.dataDir, device: a.device, overwrite: a.overwrite, machines };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  for (const o of overridesOf(a)) applyOverride(merged, o);
  const parsed = runConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid configuration: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const config = parsed.data;
  IDENTITY.forEach((get, i) => {
    if (JSON.stringify(get(config)) !== JSON.stringify(get(stored))) {
      throw new Error(`--set ${IDENTITY_NAMES[i]} disagrees with the run's configuration (${found.file}); its outputs were made with the stored value`);
    }
  });
  return { config, stored: found.file };
}

const resultRoot = (a: RunArgs) => a.resultDir ?? (runConfigSchema.shape.result_dir.parse(undefined) as string);
const versionRoot = (a: RunArgs) => path.join(resultRoot(a), a.name ?? (runConfigSchema.shape.name.parse(undefined) as string), a.dcase, a.version ?? '');

/** The config.yaml files under the version folder, for the given seed / infer_ver or all of them. */
async function runConfigFiles(a: RunArgs, only: { seed?: string; inferVer?: string }): Promise<string[]> {
  const root = versionRoot(a);
  const dirs = async (p: string) => (await fs.readdir(p, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name);
  const files: string[] = [];
  for (const seed of only.seed !== undefined ? [only.seed] : await dirs(root)) {
    const out = path.join(root, seed, 'output');
    for (const iv of only.inferVer !== undefined ? [only.inferVer] : await dirs(out)) {
      const f = path.join(out, iv, CONFIG_FILE);
      if (await exists(f)) files.push(f);
    }
  }
  return files;
}

/** A run whose version names no recipe: its one config.yaml for the given (or only) seed and infer_ver. */
async function searchRunConfig(a: RunArgs): Promise<{ file: string; config: RunConfig } | undefined> {
  const root = versionRoot(a);
  const files = await runConfigFiles(a, a);
  if (files.length > 1) throw new Error(`several runs match under ${root} (${files.map((f) => path.relative(root, path.dirname(f))).join(', ')}); choose with --seed and --infer-ver`);
  if (files.length === 0) return undefined;
  return { file: files[0], config: await readRunConfig(files[0]) };
}
