/**
 * Checks, once and before any work, what a run needs and can be known without doing the work:
 * the device, `infer_ver`, the channel mode, the pretrained checkpoints, the label set of a dis_* recipe, the table
 * metrics, and settings the recipe does not use (a warning). `runRecipe` calls it first; the CLI
 * calls it before a step command works, with the steps it is about to run. An error throws (one
 * message, with what to do); warnings and notes (which label file is used) are returned.
 */
import { yearSuffix, type Dcase } from '../dcase/index.js';
import { DOMAIN_METRICS } from '../metrics/index.js';
import { native } from '../native/index.js';
import { resolvePretrained } from '../pretrained/sources.js';
import { aeSchema, datamoduleSchema, trainerSchema, type RunConfig } from '../run/index.js';
import { channelExtractorOf, checkChannelFor } from '../steps/from-config.js';
import { loadLabelSet } from '../steps/train.js';
import { nearest } from '../util/nearest.js';

export type PreflightStep = 'train' | 'extract' | 'score' | 'evaluate' | 'visualize' | 'table';
export const ALL_STEPS: readonly PreflightStep[] = ['train', 'extract', 'score', 'evaluate', 'visualize', 'table'];

export interface PreflightOptions {
  /** The machines the run will work on (the label set is checked against their training clips). */
  machines?: readonly string[];
  /** The steps about to run (default: all of a run). */
  steps?: readonly PreflightStep[];
}

export interface PreflightResult {
  /** Settings that will be ignored, and the like: the run goes on. */
  warnings: string[];
  /** What the run will use (e.g. which label file). */
  notes: string[];
}

/** `<time|freq>_<mean|max>`: the stft_pool poolings. */
export const POOLINGS = ['time_mean', 'time_max', 'freq_mean', 'freq_max'] as const;
/** A trained model's `ckpt_ver` (see train/checkpoint.ts selectCheckpoint): last, min, max or epoch_<n>, n from 1. */
const CKPT_VER = /^(last|min|max|epoch_[1-9]\d*)$/;

const hint = (word: string, valid: readonly string[]) => {
  const near = nearest(word, valid);
  return near ? ` (did you mean ${near}?)` : '';
};

/** The table metric names of a year: `official` (= `official<yy>`) and the per-domain AUC / pAUC columns. */
export function tableMetricNames(dcase: Dcase): string[] {
  return ['official', `official${yearSuffix(dcase)}`, ...DOMAIN_METRICS];
}

/** Refuses unknown table metrics with the valid names and the nearest one. */
export function checkTableMetrics(metrics: readonly string[], dcase: Dcase): void {
  const valid = tableMetricNames(dcase);
  if (metrics.length === 0) throw new Error(`no table metrics given; valid: ${valid.join(', ')}`);
  for (const m of metrics) {
    if (!valid.includes(m)) throw new Error(`unknown table metric "${m}"${hint(m, valid)}; valid for ${dcase}: ${valid.join(', ')}`);
  }
}

/** Refuses an `infer_ver` (or stft_pool `pool`) that extraction would reject machine by machine. */
export function checkInferVer(c: RunConfig): void {
  const f = c.extract.frontend;
  if (f.type === 'stft_pool') {
    const pool = f.pool ?? c.infer_ver;
    const what = f.pool === undefined ? `infer_ver "${pool}" (it names the pooling of ${c.recipe})` : `extract.frontend.pool "${pool}"`;
    if (!(POOLINGS as readonly string[]).includes(pool)) {
      throw new Error(`invalid ${what}${hint(pool, POOLINGS)}: expected ${POOLINGS.join(', ')}`);
    }
  } else if (f.type === 'restore' && !CKPT_VER.test(c.infer_ver)) {
    throw new Error(
      `invalid infer_ver "${c.infer_ver}": it names the checkpoint ${c.recipe} extracts with: last (last.ckpt), min / max (the epoch=*.ckpt ` +
        `of the lowest / highest loss) or epoch_<n> (interval_epoch=<n-1>-*.ckpt, n ≥ 1)`,
    );
  }
}

/** Refuses a device this build or machine cannot use (the addon's message says what to do). */
export function checkDevice(device: string): void {
  native().checkDevice(device);
}

/** Which config sections the recipe's steps read. */
function usedSections(c: RunConfig): Set<string> {
  const trained = c.extract.frontend.type === 'restore';
  const used = new Set<string>();
  if (trained && c.model) used.add('model').add('trainer').add('datamodule');
  if (trained && c.ae) used.add('ae').add('trainer').add('datamodule');
  return used;
}

const SECTION_DEFAULTS: Record<string, () => unknown> = {
  trainer: () => trainerSchema.parse({}),
  datamodule: () => datamoduleSchema.parse({}),
  ae: () => aeSchema.parse({}),
};

/** `section.key` of the fields that differ from the section's defaults (all of its keys when it has none). */
function givenKeys(section: string, value: Record<string, unknown>): string[] {
  const defaults = SECTION_DEFAULTS[section]?.() as Record<string, unknown> | undefined;
  const keys = Object.keys(value).filter((k) => !defaults || JSON.stringify(value[k]) !== JSON.stringify(defaults[k]));
  return keys.length ? keys.map((k) => `${section}.${k}`) : [section];
}

/** Warnings for the trainer / datamodule / model / ae sections a recipe carries but never reads. */
export function unusedSettings(c: RunConfig): string[] {
  const used = usedSections(c);
  const why = c.extract.frontend.type === 'restore' ? `it trains ${c.ae ? 'an autoencoder per machine' : 'one classifier'}` : `it trains nothing; its frontend is ${c.extract.frontend.type}`;
  const out: string[] = [];
  for (const section of ['model', 'ae', 'trainer', 'datamodule'] as const) {
    const value = c[section] as Record<string, unknown> | undefined;
    if (value === undefined || used.has(section)) continue;
    out.push(`${givenKeys(section, value).join(', ')}: not used by recipe ${c.recipe} (${why}), ignored`);
  }
  return out;
}

/**
 * Checks a run before its first step; throws the first problem. `steps` limits the checks to
 * what those steps need (a step command passes its own).
 */
export async function preflight(c: RunConfig, o: PreflightOptions = {}): Promise<PreflightResult> {
  const steps = new Set(o.steps ?? ALL_STEPS);
  const trains = steps.has('train') && (c.model !== undefined || c.ae !== undefined);
  const result: PreflightResult = { warnings: unusedSettings(c), notes: [] };
  if (trains || steps.has('extract') || steps.has('score')) checkDevice(c.device);
  if (steps.has('extract')) checkInferVer(c);
  if (steps.has('table')) checkTableMetrics(c.table.metrics, c.dcase as Dcase);
  // A channel mode the extractor cannot take (BEATs / EAT and subtract), before any file is looked for.
  if (trains || steps.has('extract')) checkChannelFor(c.channel, channelExtractorOf(c), c.recipe);
  // Pretrained encoders: a missing official file is one error with its download instructions.
  const f = c.extract.frontend;
  if (steps.has('extract') && f.type === 'pretrained') await resolvePretrained(f.checkpoint);
  const x = c.model?.extractor;
  if (trains && x && 'checkpoint' in x) await resolvePretrained(x.checkpoint);
  if (trains && c.model && c.datamodule && o.machines) {
    const d = c.datamodule;
    const { file, labels, made } = await loadLabelSet(c.data_dir, c.dcase, d.label_dir, d.label_set, o.machines);
    result.notes.push(`labels: ${made ? 'wrote' : 'using'} ${file} (${labels.num_class} classes${made ? ', made from the data' : ', checked against the data'})`);
  }
  return result;
}
