import path from 'node:path';
import YAML from 'yaml';
import { cropSamples, recipeMachines, resolveSec, type Dcase } from '../dcase/index.js';
import { machinesPresent } from '../data/clips.js';
import type { NativeFrontendConfig } from '../native/index.js';
import { evaluate } from '../steps/evaluate.js';
import { extract } from '../steps/extract.js';
import { outputDir, type RunIds } from '../steps/paths.js';
import { score } from '../steps/score.js';
import { table } from '../steps/table.js';
import { visualize } from '../steps/visualize.js';
import { checkpointDir, train, trainAe } from '../steps/train.js';
import { selectCheckpoint } from '../train/checkpoint.js';
import { loadModel, PretrainedModel, type AnyModel } from '../train/model.js';
import { SkipError, writeAtomic } from '../util/files.js';
import type { RunConfig } from './schema.js';
import { StepTimer, TIMINGS_FILE } from './timings.js';
import { aeTrainOptionsOf, trainOptionsOf } from './train_options.js';

export type StepName = 'train' | 'extract' | 'score' | 'evaluate' | 'visualize' | 'table';

export interface RunEvent {
  step: StepName;
  machine?: string;
  status: 'start' | 'done' | 'skipped' | 'failed';
  message?: string;
}

export interface RunHooks {
  onEvent?: (e: RunEvent) => void;
  /** Progress inside a step (clips or rows). */
  onProgress?: (step: StepName, machine: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface RunResult {
  outputDir: string;
  machines: string[];
  failed: Array<{ machine?: string; step: StepName; message: string }>;
  tables: string[];
}

export function runIds(c: RunConfig): RunIds {
  return { resultDir: c.result_dir, name: c.name, dcase: c.dcase as Dcase, version: c.version, seed: c.seed, inferVer: c.infer_ver };
}

/** The non-trained frontend of a recipe (undefined for trained recipes, which restore a model). */
export function frontendOf(c: RunConfig): NativeFrontendConfig | undefined {
  const f = c.extract.frontend;
  if (f.type !== 'stft_pool') return undefined;
  return {
    type: 'stft_pool',
    pool: f.pool ?? c.infer_ver,
    nFft: f.n_fft,
    hopLength: f.hop_length,
    nMels: f.n_mels,
    power: f.power,
    fMin: f.f_min,
    fMax: f.f_max,
    useLog: f.use_log,
    temporalNorm: f.temporal_norm,
  };
}

/**
 * Runs a recipe as ASDKit's recipe scripts do: dis_* recipes train one model for all machines
 * first; then per machine (the AE: train its own model) extract → score → evaluate → visualize; then the
 * table. A finished step is skipped (rerun = resume); a failing machine does not stop the others
 * but is reported. Aborting stops at once.
 */
export async function runRecipe(c: RunConfig, hooks: RunHooks = {}): Promise<RunResult> {
  const ids = runIds(c);
  const machines = await selectMachines(c);
  const out = outputDir(ids);
  await writeAtomic(path.join(out, 'config.yaml'), YAML.stringify(c));
  const timer = await StepTimer.open(path.join(out, TIMINGS_FILE));
  const failed: RunResult['failed'] = [];
  const emit = (e: RunEvent) => hooks.onEvent?.(e);

  const step = async (name: StepName, machine: string | undefined, fn: () => Promise<unknown>): Promise<boolean> => {
    emit({ step: name, machine, status: 'start' });
    try {
      await timer.time(name, machine, fn);
      emit({ step: name, machine, status: 'done' });
      return true;
    } catch (e) {
      if (hooks.signal?.aborted) throw e;
      if (e instanceof SkipError) {
        emit({ step: name, machine, status: 'skipped', message: e.message });
        return true;
      }
      const message = (e as Error).message;
      failed.push({ machine, step: name, message });
      emit({ step: name, machine, status: 'failed', message });
      return false;
    }
  };

  let model: AnyModel | undefined;
  let modelError: string | undefined;
  const f = c.extract.frontend;
  if (f.type === 'pretrained') {
    // raw_beats / raw_eat: one frozen encoder for every machine (no training, no checkpoint of ours).
    const sec = resolveSec(c.extract.sec ?? c.dcase);
    if (sec === null) throw new Error(`${c.recipe}: the pretrained encoders need a fixed clip length (extract.sec)`);
    try {
      model = await PretrainedModel.create({ encoder: f.encoder, checkpoint: f.checkpoint, secSamples: cropSamples(sec) });
    } catch (e) {
      modelError = (e as Error).message;
    }
  }
  const restore = async (dir: string) => {
    try {
      model = (await loadModel(await selectCheckpoint(dir, c.infer_ver))).model;
      modelError = undefined;
    } catch (e) {
      model = undefined;
      modelError = (e as Error).message;
    }
  };
  if (c.model) {
    const opts = { ...trainOptionsOf(c, machines), signal: hooks.signal };
    const progress = hooks.onProgress;
    if (progress) opts.onProgress = (d, t) => progress('train', opts.modelVer ?? 'all', d, t);
    if (await step('train', undefined, () => train(opts))) await restore(checkpointDir(opts, opts.modelVer));
    else modelError = 'training failed';
  }

  for (const machine of machines) {
    const common = { ...ids, machine, overwrite: c.overwrite, device: c.device, signal: hooks.signal };
    const progress = (s: StepName) => (hooks.onProgress ? (d: number, t: number) => hooks.onProgress!(s, machine, d, t) : undefined);
    if (c.ae) {
      const opts = { ...aeTrainOptionsOf(c, machine), signal: hooks.signal, onProgress: progress('train') };
      if (await step('train', machine, () => trainAe(opts))) await restore(checkpointDir(opts, machine));
      else modelError = 'training failed';
    }
    (await step('extract', machine, async () => {
      if (modelError) throw new Error(`no model to extract with: ${modelError}`);
      await extract({ ...common, dataDir: c.data_dir, frontend: frontendOf(c), model, sec: c.extract.sec, batchSize: c.extract.batch_size, precision: c.extract.precision, onProgress: progress('extract') });
    })) &&
      (await step('score', machine, () => score({ ...common, backends: c.score.backend, onProgress: progress('score') }))) &&
      (await step('evaluate', machine, () => evaluate(common))) &&
      c.visualize.enabled &&
      (await step('visualize', machine, () =>
        visualize({ ...common, metric: c.visualize.metric, embedKey: c.visualize.embed_key, onProgress: progress('visualize') }),
      ));
  }
  let tables: string[] = [];
  await step('table', undefined, async () => {
    tables = (await table({ ...ids, metrics: c.table.metrics, machines, overwrite: c.overwrite })).written;
  });
  return { outputDir: out, machines, failed, tables };
}

/** The recipe's machine loop, limited to the machines present in the data folder. */
export async function selectMachines(c: RunConfig): Promise<string[]> {
  const present = new Set(await machinesPresent(c.data_dir, c.dcase));
  if (c.machines) {
    const missing = c.machines.filter((m) => !present.has(m));
    if (missing.length) throw new Error(`machines not found in ${path.join(c.data_dir, 'formatted', c.dcase, 'raw')}: ${missing.join(', ')}`);
    return c.machines;
  }
  const list = recipeMachines(c.dcase as Dcase).filter((m) => present.has(m));
  if (list.length === 0) throw new Error(`no ${c.dcase} machine folders in ${path.join(c.data_dir, 'formatted', c.dcase, 'raw')}`);
  return list;
}
