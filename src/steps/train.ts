/**
 * The train step of the discriminative recipes (spec frontends-and-training §7): one model on the
 * training clips of all machines, labelled from the label set; per epoch it writes ASDKit's
 * checkpoints (best / interval / last), per-step metrics to `metrics.jsonl` and TensorBoard.
 * A rerun resumes from `last.ckpt` (an interruption loses at most the running epoch) and skips a
 * finished model unless `overwrite`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { cropSamples, resolveSec } from '../dcase/index.js';
import { listClips } from '../data/clips.js';
import { writeLabels, type LabelFile } from '../data/label.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import type { NativeTrainOptions, StepMetrics } from '../native/index.js';
import { bestCheckpoints, bestName, intervalName, LAST_CKPT } from '../train/checkpoint.js';
import { DisModel, type CheckpointInfo, type ModelConfig } from '../train/model.js';
import { TensorBoardWriter } from '../train/tensorboard.js';
import { readText, SkipError } from '../util/files.js';
import type { StepControl } from './common.js';
import { versionDir, type RunIds } from './paths.js';

export interface TrainStepOptions extends Omit<RunIds, 'inferVer'>, StepControl {
  /** Folder under `model/` (`all`: one model for every machine). */
  modelVer?: string;
  dataDir: string;
  /** Machines whose training clips form the dataset. */
  machines: string[];
  /** The architecture; `numClasses` and `secSamples` come from the label set and `sec`. */
  model: Omit<ModelConfig, 'numClasses' | 'secSamples'>;
  /** Training window: seconds or a dcase name (default: the run's dcase). */
  sec?: number | string;
  labelDir?: string;
  labelSet?: string;
  maxEpochs: number;
  intervalEpochs?: number;
  /** Optimiser/loader settings; `seed` also seeds the initialisation. */
  settings: NativeTrainOptions;
  overwrite?: boolean;
  onStep?: (m: StepMetrics) => void;
  onEpoch?: (e: { epoch: number; loss: number; checkpoint: string }) => void;
}

export interface TrainStepResult {
  modelDir: string;
  checkpointDir: string;
  /** First epoch trained by this call (> 0 when it resumed). */
  startEpoch: number;
  epochsRun: number;
  lastLoss: number;
  stopped?: 'non_finite';
}

export const modelDir = (ids: Omit<RunIds, 'inferVer'>, modelVer = 'all') => path.join(versionDir(ids), 'model', modelVer);
export const checkpointDir = (ids: Omit<RunIds, 'inferVer'>, modelVer = 'all') => path.join(modelDir(ids, modelVer), 'checkpoints');

/** The label set `<labelDir>/<dcase>/<set>.json`, made from the formatted data when missing. */
export async function loadLabelSet(dataDir: string, dcase: RunIds['dcase'], labelDir: string, set: string): Promise<{ file: string; labels: LabelFile }> {
  const file = path.join(labelDir, dcase, `${set}.json`);
  const exists = await fs.access(file).then(() => true, () => false);
  if (!exists) {
    if (set !== 'main' && set !== 'machine_section') throw new Error(`label set not found: ${file}`);
    return writeLabels({ dataDir, dcase, preset: set, outDir: labelDir });
  }
  let labels: LabelFile;
  try {
    labels = JSON.parse(await readText(file, 'label set')) as LabelFile;
  } catch (e) {
    throw new Error(`${file}: malformed label set (${(e as Error).message})`);
  }
  if (!Number.isInteger(labels.num_class) || typeof labels.path2idx_dict !== 'object' || labels.path2idx_dict === null) {
    throw new Error(`${file}: malformed label set (needs num_class and path2idx_dict)`);
  }
  return { file, labels };
}

/** A clip's label key: the last five path components (`<dcase>/raw/<machine>/<split>/<file>`). */
export const labelKey = (p: string) => p.split(/[\\/]/).slice(-5).join('/');

export async function train(o: TrainStepOptions): Promise<TrainStepResult> {
  const ids = { resultDir: o.resultDir, name: o.name, dcase: o.dcase, version: o.version, seed: o.seed };
  const mdir = modelDir(ids, o.modelVer);
  const cdir = checkpointDir(ids, o.modelVer);
  if (o.overwrite) await fs.rm(mdir, { recursive: true, force: true });

  // Resume or skip according to last.ckpt.
  const lastFile = path.join(cdir, LAST_CKPT);
  let previous: CheckpointInfo | undefined;
  if (await fs.access(lastFile).then(() => true, () => false)) {
    const header = await readSafetensorsHeader(lastFile);
    previous = JSON.parse(header.metadata.info ?? 'null') as CheckpointInfo;
    if (!previous) throw new Error(`${lastFile}: not an asdkit model checkpoint (use --overwrite to retrain)`);
    if (previous.extra?.stopped || previous.epoch + 1 >= o.maxEpochs) throw new SkipError(cdir);
  }

  const sec = resolveSec(o.sec ?? o.dcase);
  if (sec === null) throw new Error('training needs a fixed clip length (sec "all" is not possible)');
  const secSamples = cropSamples(sec);
  const { file: labelFile, labels } = await loadLabelSet(o.dataDir, o.dcase, o.labelDir ?? 'labels', o.labelSet ?? 'main');
  const paths: string[] = [];
  const classes: number[] = [];
  for (const m of o.machines) {
    for (const p of (await listClips(o.dataDir, o.dcase, m, 'train')).paths) {
      const idx = labels.path2idx_dict[labelKey(p)];
      if (idx === undefined) throw new Error(`${labelFile}: no label for ${labelKey(p)} (regenerate the label set: asdkit label --overwrite)`);
      paths.push(p);
      classes.push(idx);
    }
  }
  if (paths.length === 0) throw new Error(`no training clips for ${o.machines.join(', ')} in ${o.dataDir}`);

  const config: ModelConfig = { ...o.model, secSamples, numClasses: labels.num_class };
  const seed = o.settings.seed ?? 0;
  let model: DisModel;
  let startEpoch = 0;
  if (previous) {
    const loaded = await DisModel.load(lastFile, { withOptimizer: true });
    if (JSON.stringify(loaded.model.config) !== JSON.stringify(config)) {
      throw new Error(`${lastFile} holds a model with a different configuration; use --overwrite to retrain`);
    }
    model = loaded.model;
    startEpoch = previous.epoch + 1;
  } else {
    model = DisModel.create(config, seed);
  }

  await fs.mkdir(cdir, { recursive: true });
  const metricsFile = path.join(mdir, 'metrics.jsonl');
  await keepMetricsBefore(metricsFile, startEpoch);
  const tb = await TensorBoardWriter.open(mdir);
  const data = { paths, labels: classes, numClasses: labels.num_class, length: secSamples };
  const steps = Math.ceil(paths.length / (o.settings.batchSize ?? 64));
  const total = steps * (o.maxEpochs - startEpoch);
  let best = (await bestCheckpoints(cdir)).sort((a, b) => a.loss - b.loss)[0];
  const result: TrainStepResult = { modelDir: mdir, checkpointDir: cdir, startEpoch, epochsRun: 0, lastLoss: NaN };
  const extra = { maxEpochs: o.maxEpochs, dcase: o.dcase, machines: o.machines, labels: { file: labelFile, num_class: labels.num_class, path2idx_dict: labels.path2idx_dict } };

  try {
    for (let epoch = startEpoch; epoch < o.maxEpochs; epoch++) {
      const done = (epoch - startEpoch) * steps;
      const r = await model.trainEpoch(data, epoch, {
        ...o.settings,
        device: o.device,
        signal: o.signal,
        onStep: (m) => {
          o.onStep?.(m);
          o.onProgress?.(done + m.batch + 1, total);
        },
      });
      const now = Date.now() / 1000;
      await fs.appendFile(metricsFile, r.metrics.map((m) => JSON.stringify(m) + '\n').join(''));
      for (const m of r.metrics) tb.addScalars(m.globalStep, scalarsOf(m), now);
      await tb.flush();

      const stopped = r.nonFinite ? ('non_finite' as const) : undefined;
      const info: CheckpointInfo = { epoch, globalStep: r.globalStep, loss: r.lastLoss, train: o.settings, extra: { ...extra, ...(stopped ? { stopped } : {}) } };
      // Best and interval files first: last.ckpt is the commit point a resume reads.
      if (Number.isFinite(r.lastLoss) && (!best || r.lastLoss < best.loss)) {
        const file = path.join(cdir, bestName(epoch, r.lastLoss));
        await model.save(file, info);
        if (best && best.file !== file) await fs.rm(best.file, { force: true });
        best = { file, epoch, loss: r.lastLoss };
      }
      if ((epoch + 1) % (o.intervalEpochs ?? 4) === 0) await model.save(path.join(cdir, intervalName(epoch, r.lastLoss)), info);
      await model.save(lastFile, info, { withOptimizer: true });
      result.epochsRun += 1;
      result.lastLoss = r.lastLoss;
      o.onEpoch?.({ epoch, loss: r.lastLoss, checkpoint: lastFile });
      if (stopped) {
        result.stopped = stopped;
        break;
      }
    }
  } finally {
    await tb.close();
  }
  return result;
}

function scalarsOf(m: StepMetrics): Record<string, number> {
  const s: Record<string, number> = { 'train/batch_size': m.batchSize };
  for (const [k, v] of Object.entries(m.losses)) s[`train/${k}`] = v;
  s['grad/norm'] = m.gradNorm;
  s['grad/lr'] = m.lr;
  s['grad/step_size'] = m.lr * m.gradNorm;
  return s;
}

/** Drops log lines of epochs that a resume is about to redo (and any half-written line). */
async function keepMetricsBefore(file: string, epoch: number): Promise<void> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  if (!text) return;
  const kept = text.split('\n').filter((line) => {
    try {
      return line !== '' && (JSON.parse(line) as StepMetrics).epoch < epoch;
    } catch {
      return false;
    }
  });
  await fs.writeFile(file, kept.map((l) => l + '\n').join(''));
}
