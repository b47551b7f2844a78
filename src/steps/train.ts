/**
 * The train step (spec frontends-and-training §3, §7): the dis_* recipes' one model on the
 * training clips of all machines, labelled from the label set, and the AE's model per machine;
 * per epoch it writes ASDKit's checkpoints (best / interval / last), per-step metrics to
 * `metrics.jsonl`, validation (AE) to `valid.jsonl`, and both to TensorBoard.
 * A rerun resumes from `last.ckpt` (an interruption loses at most the running epoch) and skips a
 * finished model unless `overwrite`; both only when the model was trained from the same inputs
 * (its fingerprint). A non-finite loss stops training with an error (last.ckpt records the stop).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { cropSamples, machineSec, resolveSec } from '../dcase/index.js';
import { listClips } from '../data/clips.js';
import { LABEL_PRESETS, makeLabels, writeLabels, type LabelFile, type LabelPreset } from '../data/label.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { auc } from '../metrics/auc.js';
import type { ChannelMode, NativeEpochResult, NativeTrainOptions, StepMetrics } from '../native/index.js';
import { bestCheckpoints, bestName, intervalName, LAST_CKPT, parseCheckpointInfo } from '../train/checkpoint.js';
import { AeModel, DisModel, loadModel, type AeConfig, type AnyModel, type CheckpointInfo, type ModelConfig } from '../train/model.js';
import { PretrainedModel, type PretrainedConfig } from '../train/pretrained-model.js';
import { TensorBoardWriter } from '../train/tensorboard.js';
import {
  AE_BATCH_SIZE, AE_INTERVAL_EPOCHS, checkFingerprint, checkpointDir, EXTRACT_BATCH_SIZE, formattedDir, INTERVAL_EPOCHS, modelDir, skipped, stampClips, stampFiles, TRAIN_BATCH_SIZE, writeFingerprint,
  type Fingerprint, type ModelIds, type Skipped, type StepControl,
} from '../run/index.js';
import { appendText, exists, readText, sweepStaleTemps, writeAtomic } from '../util/files.js';
import { refreshTrainingCurves } from './curves.js';
import { checkChannelFor } from './from-config.js';

export interface TrainStepOptions extends ModelIds, StepControl {
  /** Folder under `model/` (`all`: one model for every machine). */
  modelVer?: string;
  dataDir: string;
  /** Machines whose training clips form the dataset. */
  machines: string[];
  /** The architecture; `numClasses` and `secSamples` come from the label set and `sec`. */
  model: DisArchitecture | PretrainedArchitecture;
  /** Training window: seconds or a dcase name (default: the run's dcase). */
  sec?: number | string;
  labelDir?: string;
  labelSet?: string;
  maxEpochs: number;
  intervalEpochs?: number;
  /** Optimiser/loader settings; `seed` also seeds the initialisation. */
  settings: NativeTrainOptions;
  /**
   * Which channel(s) of the clips to train on (default near). subtract and both need the model
   * built for them (`model.channel`, as modelConfigOf sets it); BEATs / EAT refuse subtract.
   */
  channel?: ChannelMode;
  overwrite?: boolean;
  onStep?: (m: StepMetrics) => void;
  onEpoch?: (e: { epoch: number; loss: number; checkpoint: string }) => void;
}

/** A two-channel model trains on the clips it was built for, a one-channel one on near, far or mean. */
function checkModelChannel(model: 'subtract' | 'both' | undefined, channel: ChannelMode | undefined): void {
  const read = channel === 'subtract' || channel === 'both' ? channel : undefined;
  if (model === read) return;
  throw new Error(
    model === undefined
      ? `channel ${read}: the model config must say channel ${read} (modelConfigOf does with the run's settings)`
      : `a model built for channel ${model} cannot train on channel ${channel ?? 'near'}`,
  );
}

/** `{ channel }` for the fingerprints and the loader; nothing for near (the default), so older fingerprints still match. */
const channelSetting = (channel: ChannelMode | undefined): { channel?: ChannelMode } =>
  channel === undefined || channel === 'near' ? {} : { channel };

export type DisArchitecture = Omit<ModelConfig, 'numClasses' | 'secSamples'>;
export type PretrainedArchitecture = Omit<PretrainedConfig, 'numClasses' | 'secSamples'>;
export const isPretrainedArchitecture = (m: TrainStepOptions['model']): m is PretrainedArchitecture => 'encoder' in m;

export interface TrainStepResult {
  modelDir: string;
  checkpointDir: string;
  /** First epoch trained by this call (> 0 when it resumed). */
  startEpoch: number;
  /** The last.ckpt state this call resumed from: epochs done and global step. */
  resumed?: { epochsDone: number; globalStep: number; checkpoint: string };
  epochsRun: number;
  lastLoss: number;
}

/** "resumed from …/last.ckpt: 2 of 16 epochs done, global step 42", or '' for a fresh start. */
export function resumeText(r: TrainStepResult, maxEpochs?: number): string {
  if (!r.resumed) return '';
  const of = maxEpochs === undefined ? '' : ` of ${maxEpochs}`;
  return `resumed from ${r.resumed.checkpoint}: ${r.resumed.epochsDone}${of} epoch(s) done, global step ${r.resumed.globalStep}`;
}

/**
 * The label set `<labelDir>/<dcase>/<set>.json` (ASDKit's location), made from the formatted data
 * when missing (`made`). With `machines`, an existing file is checked against the data: it must
 * give every training clip of those machines a class, and for the `main` / `machine_section`
 * presets the classes `makeLabels` derives from the data now, so a file left from another
 * dataset is refused (naming the file and how to regenerate it) instead of training a head of
 * the wrong size.
 */
export async function loadLabelSet(
  dataDir: string,
  dcase: ModelIds['dcase'],
  labelDir: string,
  set: string,
  machines?: readonly string[],
): Promise<{ file: string; labels: LabelFile; made: boolean }> {
  const file = path.join(labelDir, dcase, `${set}.json`);
  if (!(await exists(file))) {
    if (!isPreset(set)) throw new Error(`label set not found: ${file} (only the presets ${LABEL_PRESETS.join(' and ')} are made from the data)`);
    const made = await writeLabels({ dataDir, dcase, preset: set, outDir: labelDir });
    if (!('skipped' in made)) return { ...made, made: true }; // else another process wrote it meanwhile: read it below
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
  if (machines) await checkLabelSet(file, labels, { dataDir, dcase, labelDir, set, machines });
  return { file, labels, made: false };
}

const isPreset = (set: string): set is LabelPreset => (LABEL_PRESETS as readonly string[]).includes(set);

/** Refuses a label set that does not describe the training clips of `machines` in the data as it is now. */
async function checkLabelSet(
  file: string,
  labels: LabelFile,
  o: { dataDir: string; dcase: ModelIds['dcase']; labelDir: string; set: string; machines: readonly string[] },
): Promise<void> {
  const expected = isPreset(o.set) ? await makeLabels({ dataDir: o.dataDir, dcase: o.dcase, preset: o.set }) : undefined;
  const data = formattedDir(o.dataDir, o.dcase);
  const fix = expected
    ? `regenerate it with \`asdkit label --dcase ${o.dcase} --data-dir ${o.dataDir} --out-dir ${o.labelDir} --preset ${o.set} --overwrite\`, or delete it (a missing ${o.set} set is made from the data)`
    : 'fix or replace it';
  if (expected && labels.num_class !== expected.num_class) {
    throw new Error(
      `${file}: the label set has ${labels.num_class} classes, but the data in ${data} gives ${expected.num_class} ` +
        `(a label set made from another dataset?); ${fix}`,
    );
  }
  let missing = 0;
  let wrong = 0;
  let example = '';
  for (const m of o.machines) {
    for (const p of (await listClips(o.dataDir, o.dcase, m, 'train')).paths) {
      const key = labelKey(p);
      const idx = Object.hasOwn(labels.path2idx_dict, key) ? labels.path2idx_dict[key] : undefined;
      const bad = idx === undefined || !Number.isInteger(idx) || idx < 0 || idx >= labels.num_class;
      if (bad) missing++;
      else if (expected && expected.path2idx_dict[key] !== idx) wrong++;
      else continue;
      example ||= bad ? `no valid class for ${key}` : `${key} has class ${idx}, the data gives ${expected!.path2idx_dict[key]}`;
    }
  }
  if (missing + wrong > 0) {
    const counts = [missing && `${missing} training clip(s) without a valid class`, wrong && `${wrong} with another class than the data gives`].filter(Boolean).join(', ');
    throw new Error(`${file} does not match the training clips in ${data} (${counts}; e.g. ${example}); ${fix}`);
  }
}

/** A clip's label key: the last five path components (`<dcase>/raw/<machine>/<split>/<file>`). */
export const labelKey = (p: string) => p.split(/[\\/]/).slice(-5).join('/');

interface ModelDirState {
  mdir: string;
  cdir: string;
  lastFile: string;
  /** last.ckpt's state, when there is one. */
  previous?: CheckpointInfo;
  finished: boolean;
}

/** Where a model's files go, and whether it is finished, resumes or starts (overwrite clears the folder). */
async function prepareModelDir(ids: ModelIds, modelVer: string, maxEpochs: number, overwrite?: boolean): Promise<ModelDirState> {
  const mdir = modelDir(ids, modelVer);
  const cdir = checkpointDir(ids, modelVer);
  if (overwrite) await fs.rm(mdir, { recursive: true, force: true });
  await sweepStaleTemps(mdir);
  await sweepStaleTemps(cdir);
  const lastFile = path.join(cdir, LAST_CKPT);
  if (!(await exists(lastFile))) return { mdir, cdir, lastFile, finished: false };
  const header = await readSafetensorsHeader(lastFile);
  if (header.metadata.info === undefined) throw new Error(`${lastFile}: not an asdkit model checkpoint (use --overwrite to retrain)`);
  const previous = parseCheckpointInfo(lastFile, header.metadata.info);
  if (previous.extra?.stopped) throw nonFiniteError(lastFile, previous.epoch, previous.globalStep);
  return { mdir, cdir, lastFile, previous, finished: previous.epoch + 1 >= maxEpochs };
}

function nonFiniteError(lastFile: string, epoch: number, globalStep: number): Error {
  return new Error(
    `training stopped: the loss became non-finite (NaN or inf) in epoch ${epoch} (global step ${globalStep}); ` +
      `${lastFile} records the stop. Lower trainer.lr or check the data, then retrain with --overwrite`,
  );
}

/**
 * The train step's fingerprint rule: a finished model is skipped and a started one resumed only
 * if it was trained from these inputs; a fresh start records them.
 */
async function settleInputs(d: ModelDirState, fingerprint: () => Promise<Fingerprint>): Promise<Skipped | undefined> {
  if (d.previous) await checkFingerprint(d.mdir, 'train', fingerprint);
  if (d.finished) return skipped(d.cdir);
  if (!d.previous) await writeFingerprint(d.mdir, 'train', await fingerprint());
  return undefined;
}

const resumedFrom = (checkpoint: string, p?: CheckpointInfo): TrainStepResult['resumed'] =>
  p && { epochsDone: p.epoch + 1, globalStep: p.globalStep, checkpoint };

/** Optimiser settings that change the weights (threads and prefetch do not). */
function weightSettings(s: NativeTrainOptions): NativeTrainOptions {
  const { ioThreads: _io, prefetch: _pf, ...rest } = s;
  return rest;
}

/** Resumes `fresh`'s kind from last.ckpt, refusing a checkpoint of another configuration. */
async function resumeFrom(lastFile: string, fresh: AnyModel): Promise<AnyModel> {
  const { model } = await loadModel(lastFile, { withOptimizer: true });
  if (model.kind !== fresh.kind || JSON.stringify(model.config) !== JSON.stringify(fresh.config)) {
    throw new Error(`${lastFile} holds a model with a different configuration; use --overwrite to retrain`);
  }
  return model;
}

interface LoopOptions extends StepControl {
  model: AnyModel;
  mdir: string;
  cdir: string;
  lastFile: string;
  startEpoch: number;
  resumed?: TrainStepResult['resumed'];
  maxEpochs: number;
  intervalEpochs: number;
  stepsPerEpoch: number;
  settings: NativeTrainOptions;
  extra: Record<string, unknown>;
  epoch: (epoch: number, onStep: (m: StepMetrics) => void) => Promise<NativeEpochResult>;
  /** Per-epoch validation scalars (`valid/...`), logged only (they select nothing, spec §3.5). */
  validate?: (epoch: number) => Promise<Record<string, number>>;
  onStep?: (m: StepMetrics) => void;
  onEpoch?: (e: { epoch: number; loss: number; checkpoint: string; valid?: Record<string, number> }) => void;
}

/** The epoch loop every trained recipe shares: train, log, validate, checkpoint (spec §7.5). */
async function trainingLoop(o: LoopOptions): Promise<TrainStepResult> {
  await fs.mkdir(o.cdir, { recursive: true });
  const metricsFile = path.join(o.mdir, 'metrics.jsonl');
  const validFile = path.join(o.mdir, 'valid.jsonl');
  await keepLinesBefore(metricsFile, o.startEpoch);
  await keepLinesBefore(validFile, o.startEpoch);
  const tb = await TensorBoardWriter.open(o.mdir);
  const total = o.stepsPerEpoch * (o.maxEpochs - o.startEpoch);
  let best = (await bestCheckpoints(o.cdir)).sort((a, b) => a.loss - b.loss)[0];
  const result: TrainStepResult = { modelDir: o.mdir, checkpointDir: o.cdir, startEpoch: o.startEpoch, resumed: o.resumed, epochsRun: 0, lastLoss: NaN };
  try {
    for (let epoch = o.startEpoch; epoch < o.maxEpochs; epoch++) {
      const done = (epoch - o.startEpoch) * o.stepsPerEpoch;
      const r = await o.epoch(epoch, (m) => {
        o.onStep?.(m);
        o.onProgress?.(done + m.batch + 1, total);
      });
      const now = Date.now() / 1000;
      await appendText(metricsFile, r.metrics.map((m) => JSON.stringify(m) + '\n').join(''));
      for (const m of r.metrics) tb.addScalars(m.globalStep, scalarsOf(m), now);
      let valid: Record<string, number> | undefined;
      if (o.validate) {
        valid = await o.validate(epoch);
        await appendText(validFile, JSON.stringify({ epoch, globalStep: r.globalStep, ...valid }) + '\n');
        tb.addScalars(r.globalStep, valid, now);
      }
      await tb.flush();

      const stopped = r.nonFinite ? ('non_finite' as const) : undefined;
      const info: CheckpointInfo = { epoch, globalStep: r.globalStep, loss: r.lastLoss, train: o.settings, extra: { ...o.extra, ...(stopped ? { stopped } : {}) } };
      // Best and interval files first: last.ckpt is the commit point a resume reads.
      if (Number.isFinite(r.lastLoss) && (!best || r.lastLoss < best.loss)) {
        const file = path.join(o.cdir, bestName(epoch, r.lastLoss));
        await o.model.save(file, info);
        if (best && best.file !== file) await fs.rm(best.file, { force: true });
        best = { file, epoch, loss: r.lastLoss };
      }
      if ((epoch + 1) % o.intervalEpochs === 0) await o.model.save(path.join(o.cdir, intervalName(epoch, r.lastLoss)), info);
      await o.model.save(o.lastFile, info, { withOptimizer: true });
      await refreshTrainingCurves(o.mdir, epoch + 1 === o.maxEpochs || r.nonFinite);
      result.epochsRun += 1;
      result.lastLoss = r.lastLoss;
      o.onEpoch?.({ epoch, loss: r.lastLoss, checkpoint: o.lastFile, valid });
      if (stopped) throw nonFiniteError(o.lastFile, epoch, r.globalStep);
    }
  } finally {
    await tb.close();
  }
  return result;
}

/** Trains a dis_* model (MultiResNet, or BEATs / EAT with LoRA) on the training clips of all machines (one model, `model/all`). */
export async function train(o: TrainStepOptions): Promise<TrainStepResult | Skipped> {
  const dirs = await prepareModelDir(o, o.modelVer ?? 'all', o.maxEpochs, o.overwrite);
  const { mdir, cdir, lastFile, previous } = dirs;

  // One length for every machine (datamodule.sec, else the year's longest: 16 s for DCASE 2026),
  // not the machine's own: the MultiResNet's FFT branch is sized by it; shorter clips are tiled.
  const sec = resolveSec(o.sec ?? o.dcase);
  if (sec === null) throw new Error('training needs a fixed clip length (sec "all" is not possible)');
  const secSamples = cropSamples(sec);
  checkChannelFor(o.channel, isPretrainedArchitecture(o.model) ? o.model.encoder : 'multiresnet');
  checkModelChannel(o.model.channel, o.channel);
  const load = async () => {
    const { file: labelFile, labels } = await loadLabelSet(o.dataDir, o.dcase, o.labelDir ?? 'labels', o.labelSet ?? 'main', o.machines);
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
    const fingerprint: Fingerprint = {
      settings: {
        data_dir: path.resolve(o.dataDir), dcase: o.dcase, machines: o.machines, model: o.model, secSamples,
        labels: createHash('sha256').update(JSON.stringify(labels)).digest('hex').slice(0, 16), train: weightSettings(o.settings),
        ...channelSetting(o.channel),
      },
      clips: await stampClips(formattedDir(o.dataDir, o.dcase), paths),
      files: isPretrainedArchitecture(o.model) ? await stampFiles({ encoder: o.model.checkpoint }) : {},
    };
    return { labelFile, labels, paths, classes, fingerprint };
  };
  let loaded: ReturnType<typeof load> | undefined;
  const dataset = () => (loaded ??= load());
  const finished = await settleInputs(dirs, async () => (await dataset()).fingerprint);
  if (finished) return finished;
  const { labelFile, labels, paths, classes } = await dataset();

  const seed = o.settings.seed ?? 0;
  const fresh = isPretrainedArchitecture(o.model)
    ? await PretrainedModel.create({ ...o.model, secSamples, numClasses: labels.num_class }, seed)
    : DisModel.create({ ...o.model, secSamples, numClasses: labels.num_class }, seed);
  const model = (previous ? await resumeFrom(lastFile, fresh) : fresh) as DisModel | PretrainedModel;
  const data = { paths, labels: classes, numClasses: labels.num_class, length: secSamples, ...channelSetting(o.channel) };
  return trainingLoop({
    ...o,
    model,
    mdir,
    cdir,
    lastFile,
    startEpoch: previous ? previous.epoch + 1 : 0,
    resumed: resumedFrom(lastFile, previous),
    intervalEpochs: o.intervalEpochs ?? INTERVAL_EPOCHS,
    stepsPerEpoch: Math.ceil(paths.length / (o.settings.batchSize ?? TRAIN_BATCH_SIZE)),
    extra: { maxEpochs: o.maxEpochs, dcase: o.dcase, machines: o.machines, labels: { file: labelFile, num_class: labels.num_class, path2idx_dict: labels.path2idx_dict } },
    epoch: (epoch, onStep) => model.trainEpoch(data, epoch, { ...o.settings, device: o.device, signal: o.signal, onStep }),
  });
}

export interface AeTrainStepOptions extends ModelIds, StepControl {
  /** The machine whose model this is (`model/<machine>`). */
  machine: string;
  dataDir: string;
  model: AeConfig;
  /** Validation clip length: seconds or a dcase name (default: the run's dcase). */
  sec?: number | string;
  maxEpochs: number;
  intervalEpochs?: number;
  /** Optimiser settings; batchSize counts vectors (default AE_BATCH_SIZE). */
  settings: NativeTrainOptions;
  /** Which channel(s) of the clips (default near; subtract uses the model config's channelAlpha/channelFloor; both needs `model.channel` both). */
  channel?: ChannelMode;
  /** Validate on the machine's test clips after every epoch (default true). */
  validate?: boolean;
  overwrite?: boolean;
  onStep?: (m: StepMetrics) => void;
  onEpoch?: LoopOptions['onEpoch'];
}

/**
 * Trains the AE of one machine (spec §3): frame vectors of its whole training clips, MSE; after
 * each epoch the test clips' MSE and AUCs of AS-recon are logged as `valid/main` and
 * `valid/auc/all_<d>_auc/AS-recon` (d = s, t, smix, tmix, mix; skipped when one class only).
 */
export async function trainAe(o: AeTrainStepOptions): Promise<TrainStepResult | Skipped> {
  const dirs = await prepareModelDir(o, o.machine, o.maxEpochs, o.overwrite);
  const { mdir, cdir, lastFile, previous } = dirs;
  const settings = { batchSize: AE_BATCH_SIZE, ...o.settings };
  checkChannelFor(o.channel, 'ae');
  // A both AE is built for [near | far] vectors: its config and the clips read must agree.
  if ((o.channel === 'both') !== (o.model.channel === 'both')) {
    throw new Error(o.channel === 'both' ? 'channel both: the AE config must say channel both (aeConfigOf does)' : `an AE built for channel both cannot train on channel ${o.channel ?? 'near'}`);
  }
  const channel = channelSetting(o.channel);
  let clips: Promise<Awaited<ReturnType<typeof listClips>>> | undefined;
  const trainList = () => (clips ??= listClips(o.dataDir, o.dcase, o.machine, 'train'));
  const finished = await settleInputs(dirs, async () => ({
    settings: { data_dir: path.resolve(o.dataDir), dcase: o.dcase, machine: o.machine, model: o.model, train: weightSettings(settings), ...channel },
    clips: await stampClips(formattedDir(o.dataDir, o.dcase), (await trainList()).paths),
  }));
  if (finished) return finished;
  const fresh = AeModel.create(o.model, settings.seed ?? 0);
  const model = (previous ? await resumeFrom(lastFile, fresh) : fresh) as AeModel;
  const trainClips = await trainList();
  const { rows } = await model.prepareVectors(trainClips.paths, { signal: o.signal, ...channel });

  let validate: LoopOptions['validate'];
  if (o.validate ?? true) {
    const sec = machineSec(o.dcase, o.machine, o.sec);
    const test = await listClips(o.dataDir, o.dcase, o.machine, 'test');
    validate = async () => {
      const out = await model.extractFiles(test.paths, { length: sec === null ? undefined : cropSamples(sec), batchSize: EXTRACT_BATCH_SIZE, ...channel, device: o.device, signal: o.signal });
      return validationScalars(out['AS-recon'].data, test.info.map((c) => c.isNormal), test.info.map((c) => c.isTarget));
    };
  }
  return trainingLoop({
    ...o,
    settings,
    model,
    mdir,
    cdir,
    lastFile,
    startEpoch: previous ? previous.epoch + 1 : 0,
    resumed: resumedFrom(lastFile, previous),
    intervalEpochs: o.intervalEpochs ?? AE_INTERVAL_EPOCHS,
    stepsPerEpoch: Math.ceil(rows / settings.batchSize),
    extra: { maxEpochs: o.maxEpochs, dcase: o.dcase, machine: o.machine, vectors: rows },
    epoch: (epoch, onStep) => model.trainEpoch(epoch, { ...settings, device: o.device, signal: o.signal, onStep }),
    validate,
  });
}

/** `valid/main` (mean per-clip MSE) and the AUCs of AS-recon on the five clip subsets (spec §3.5). */
export function validationScalars(scores: ArrayLike<number>, isNormal: number[], isTarget: number[]): Record<string, number> {
  const n = isNormal.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += scores[i];
  const out: Record<string, number> = { 'valid/main': sum / n };
  const subsets: Record<string, (i: number) => boolean> = {
    s: (i) => isTarget[i] === 0,
    t: (i) => isTarget[i] === 1,
    smix: (i) => (isTarget[i] === 0 && isNormal[i] === 1) || isNormal[i] === 0,
    tmix: (i) => (isTarget[i] === 1 && isNormal[i] === 1) || isNormal[i] === 0,
    mix: () => true,
  };
  for (const [d, keep] of Object.entries(subsets)) {
    const idx = [...Array(n).keys()].filter(keep);
    const labels = idx.map((i) => 1 - isNormal[i]);
    if (new Set(labels).size < 2) continue;
    out[`valid/auc/all_${d}_auc/AS-recon`] = auc(idx.map((i) => scores[i]), labels);
  }
  return out;
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
async function keepLinesBefore(file: string, epoch: number): Promise<void> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  if (!text) return;
  const kept = text.split('\n').filter((line) => {
    try {
      return line !== '' && (JSON.parse(line) as { epoch: number }).epoch < epoch;
    } catch {
      return false;
    }
  });
  await writeAtomic(file, kept.map((l) => l + '\n').join(''));
}
