import path from 'node:path';
import { recipeMachines, type Dcase } from '../dcase/index.js';
import { machinesPresent } from '../data/clips.js';
import { formattedDir, isSkipped, outputDir, type Skipped, runConfigFile, runIdsOf, versionDir, withRunLock, writeRunConfig, type RunConfig } from '../run/index.js';
import { exists } from '../util/files.js';
import { preflight, type PreflightResult } from './preflight.js';
import { evaluate } from '../steps/evaluate.js';
import { extract } from '../steps/extract.js';
import { extractorPerMachine, resolveExtractor, type Extractor } from '../steps/extractor.js';
import { aeTrainOptionsOf, trainOptionsOf } from '../steps/from-config.js';
import { score } from '../steps/score.js';
import { table } from '../steps/table.js';
import { resumeText, train, trainAe, type TrainStepResult } from '../steps/train.js';
import { visualize } from '../steps/visualize.js';
import { currentProvenance, StepTimer, TIMINGS_FILE, type Provenance } from '../run/timings.js';
import { ensureThreads, native } from '../native/index.js';

export type StepName = 'train' | 'extract' | 'score' | 'evaluate' | 'visualize' | 'table';
type Outcome = 'worked' | 'kept' | 'failed';

export interface RunEvent {
  step: StepName;
  machine?: string;
  status: 'start' | 'done' | 'skipped' | 'failed';
  message?: string;
}

export interface RunHooks {
  onEvent?: (e: RunEvent) => void;
  /** Progress inside a step (clips or rows; training steps, with the epoch, loss and lr in `train`). */
  onProgress?: (step: StepName, machine: string, done: number, total: number, train?: TrainProgress) => void;
  signal?: AbortSignal;
  /** The checks made before any work: settings that will be ignored, the files it will use. */
  onPreflight?: (r: PreflightResult) => void;
}

/** The latest training step behind a `train` progress call (epoch counted from 1). */
export interface TrainProgress {
  epoch: number;
  epochs: number;
  loss: number;
  lr: number;
}

/** What a run records about where it ran (timings.json, per session). */
function runProvenance(c: RunConfig): Provenance {
  let known: Provenance = {};
  try {
    ensureThreads(); // the count the steps will use (ASDKIT_THREADS / --threads), not the addon's start-up value
    const info = native().info();
    known = { libtorchVersion: info.torchVersion, cudaDevices: info.cudaAvailable ? info.cudaDeviceCount : 0, threads: info.numThreads };
  } catch {
    // no addon: the steps will say so
  }
  return currentProvenance({ ...known, device: c.device ?? 'cpu', dataDir: c.data_dir });
}

export interface RunResult {
  outputDir: string;
  machines: string[];
  failed: Array<{ machine?: string; step: StepName; message: string }>;
  tables: string[];
}

/**
 * Runs a recipe as ASDKit's recipe scripts do: dis_* recipes train one model for all machines
 * first; then per machine (the AE: train its own model) extract → score → evaluate → visualize; then the
 * table. A finished step is skipped (rerun = resume); a failing machine does not stop the others
 * but is reported. Aborting stops at once. The run holds its folder's lock throughout: a second
 * run on the same folder is refused.
 */
export async function runRecipe(c: RunConfig, hooks: RunHooks = {}): Promise<RunResult> {
  const ids = runIdsOf(c);
  const dir = versionDir(ids); // refuses ids that are not one path component each
  const machines = await selectMachines(c);
  // Device, infer_ver, channel, checkpoints, labels, metrics: one error before any work. Called
  // apart from the hook: `hooks.onPreflight?.(await preflight(…))` skips preflight without a hook.
  const checked = await preflight(c, { machines });
  hooks.onPreflight?.(checked);
  return withRunLock(dir, () => runLocked(c, machines, hooks));
}

async function runLocked(c: RunConfig, machines: string[], hooks: RunHooks): Promise<RunResult> {
  const ids = runIdsOf(c);
  const out = outputDir(ids);
  // config.yaml describes the outputs: replaced only once a step has worked with these settings
  // (a rerun that every step refuses or skips leaves it as it was).
  let configWritten = false;
  const commitConfig = async () => {
    if (!configWritten) await writeRunConfig(c, ids);
    configWritten = true;
  };
  if (c.overwrite || !(await exists(runConfigFile(ids)))) await commitConfig();
  const timer = await StepTimer.open(path.join(out, TIMINGS_FILE), runProvenance(c));
  const failed: RunResult['failed'] = [];
  const emit = (e: RunEvent) => hooks.onEvent?.(e);

  /**
   * Runs one step: 'worked' when it wrote its outputs, 'kept' when it found them (or visualize
   * only redrew the PNGs of a reused projection), 'failed'. `note` gives the done event's message.
   */
  const step = async <T>(name: StepName, machine: string | undefined, fn: () => Promise<T>, note?: (r: T) => string | undefined): Promise<Outcome> => {
    emit({ step: name, machine, status: 'start' });
    try {
      const r = await timer.time(name, machine, fn);
      if (isSkipped(r)) {
        emit({ step: name, machine, status: 'skipped', message: r.message });
        return 'kept';
      }
      const worked = (r as { computed?: boolean }).computed !== false;
      if (worked) await commitConfig();
      emit({ step: name, machine, status: 'done', message: note?.(r) || undefined });
      return worked ? 'worked' : 'kept';
    } catch (e) {
      if (hooks.signal?.aborted) throw e;
      const message = (e as Error).message;
      failed.push({ machine, step: name, message });
      emit({ step: name, machine, status: 'failed', message });
      return 'failed';
    }
  };

  // The extractor: one for every machine (raw features, a frozen encoder, the dis_* model), or
  // one per machine (the AE). A model is disposed as soon as it is replaced or done with.
  let extractor: Extractor | undefined;
  let extractorError: string | undefined;
  const dropExtractor = (reason: string) => {
    extractor?.model?.dispose();
    extractor = undefined;
    extractorError = reason;
  };
  const useExtractor = async (machine?: string) => {
    dropExtractor('not resolved');
    try {
      extractor = await resolveExtractor(c, machine);
      extractorError = undefined;
    } catch (e) {
      extractorError = (e as Error).message;
    }
  };

  // What this run recomputes makes everything after it stale, so that is recomputed too (as
  // --overwrite would); a step whose inputs the user changed is refused by its fingerprint instead.
  let modelChanged = false;
  let anyChanged = false;
  const trainNote = (max: number) => (r: TrainStepResult | Skipped) => (isSkipped(r) ? undefined : resumeText(r, max));
  try {
    if (c.model) {
      const opts = { ...trainOptionsOf(c, machines), signal: hooks.signal };
      const progress = hooks.onProgress;
      if (progress) {
        let last: TrainProgress | undefined;
        opts.onStep = (m) => (last = { epoch: m.epoch + 1, epochs: opts.maxEpochs, loss: m.losses.main, lr: m.lr });
        opts.onProgress = (d, t) => progress('train', opts.modelVer ?? 'all', d, t, last);
      }
      const trained = await step('train', undefined, () => train(opts), trainNote(opts.maxEpochs));
      if (trained === 'failed') dropExtractor('training failed');
      modelChanged = trained === 'worked';
    }
    if (!extractorPerMachine(c) && !extractorError) await useExtractor();

    for (const machine of machines) {
      let changed = modelChanged;
      const ok = (o: Outcome) => {
        if (o === 'worked') changed = true;
        return o !== 'failed';
      };
      const common = () => ({ ...ids, machine, overwrite: c.overwrite || changed, device: c.device, signal: hooks.signal });
      const progress = (s: StepName) => (hooks.onProgress ? (d: number, t: number) => hooks.onProgress!(s, machine, d, t) : undefined);
      if (extractorPerMachine(c)) {
        const opts = { ...aeTrainOptionsOf(c, machine), signal: hooks.signal, onProgress: progress('train') };
        if (hooks.onProgress) {
          let last: TrainProgress | undefined;
          opts.onStep = (m) => (last = { epoch: m.epoch + 1, epochs: opts.maxEpochs, loss: m.losses.main, lr: m.lr });
          opts.onProgress = (d, t) => hooks.onProgress!('train', machine, d, t, last);
        }
        const trained = await step('train', machine, () => trainAe(opts), trainNote(opts.maxEpochs));
        changed = trained === 'worked';
        if (trained !== 'failed') await useExtractor(machine);
        else dropExtractor('training failed');
      }
      ok(await step('extract', machine, async () => {
        if (!extractor) throw new Error(`no model to extract with: ${extractorError}`);
        return extract({ ...common(), dataDir: c.data_dir, ...extractor, sec: c.extract.sec, batchSize: c.extract.batch_size, precision: c.extract.precision, onProgress: progress('extract') });
      }, (r) => (isSkipped(r) ? undefined : r.warnings.join('\n')))) &&
        ok(await step('score', machine, () => score({ ...common(), backends: c.score.backend, onProgress: progress('score') }))) &&
        ok(await step('evaluate', machine, () => evaluate(common()))) &&
        c.visualize.enabled &&
        ok(await step('visualize', machine, () =>
          visualize({ ...common(), metric: c.visualize.metric, embedKey: c.visualize.embed_key, onProgress: progress('visualize') }),
        ));
      anyChanged ||= changed;
    }
  } finally {
    extractor?.model?.dispose();
  }
  let tables: string[] = [];
  await step('table', undefined, async () => {
    const r = await table({ ...ids, metrics: c.table.metrics, machines, overwrite: c.overwrite || anyChanged });
    if (!isSkipped(r)) tables = r.written;
    return r;
  });
  return { outputDir: out, machines, failed, tables };
}

/** The recipe's machine loop, limited to the machines present in the data folder. */
export async function selectMachines(c: RunConfig): Promise<string[]> {
  const present = new Set(await machinesPresent(c.data_dir, c.dcase));
  if (c.machines) {
    const missing = c.machines.filter((m) => !present.has(m));
    if (missing.length) throw new Error(`machines not found in ${formattedDir(c.data_dir, c.dcase)}: ${missing.join(', ')}`);
    return c.machines;
  }
  const list = recipeMachines(c.dcase as Dcase).filter((m) => present.has(m));
  if (list.length === 0) throw new Error(`no ${c.dcase} machine folders in ${formattedDir(c.data_dir, c.dcase)}`);
  return list;
}
