/**
 * The export step: one machine of a finished run → a self-contained detector folder (format in
 * src/detector/format.ts). The backend is fitted once more on the run's own `train_extract.npz`
 * (the same arrays and code as the score step, so the same state), its state is stored as
 * arrays, and a threshold per section is fitted to the detector's scores of the normal training
 * clips — leave-one-out for the reference-set backends, so a clip is not its own neighbour.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { resolveBackend, type BackendConfig } from '../backends/config.js';
import { fitBackend } from '../backends/state.js';
import { cropSamples, machineSec, SAMPLE_RATE } from '../dcase/index.js';
import { writeBackendState } from '../detector/backend-file.js';
import { BACKEND_FILE, DETECTOR_FORMAT, DETECTOR_FORMAT_VERSION, MANIFEST_FILE, MODEL_FILE, sha256File, type DetectorFrontend, type DetectorManifest, type SectionThreshold } from '../detector/format.js';
import { fitThreshold, type ThresholdMethod } from '../detector/threshold.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { readNpz, type NpyArray } from '../io/npz.js';
import type { NativeBackendState } from '../native/index.js';
import { resolvePretrained } from '../pretrained/sources.js';
import { machineDir, runIdsOf, type RunConfig, type StepControl } from '../run/index.js';
import { asdkitVersion } from '../run/timings.js';
import { exists, writeAtomic } from '../util/files.js';
import { checkpointFileOf, frontendOf, frozenEncoderOf } from './extractor.js';
import { channelOf } from './from-config.js';
import { embeddingSet } from './score.js';

export interface ThresholdOptions {
  /** `gamma` (default; the DCASE baseline) or `percentile`. */
  thresholdMethod?: ThresholdMethod;
  /** Quantile of the normal training scores (default 0.9). */
  thresholdQuantile?: number;
}

export interface ExportOptions extends StepControl, ThresholdOptions {
  /** The run's resolved configuration (its config.yaml). */
  config: RunConfig;
  machine: string;
  /** The score column to reproduce (default: the run's first backend column, else its first extract-time score). */
  backend?: string;
  out: string;
  /** Replace an existing detector folder. */
  overwrite?: boolean;
}

/** What a detector decides with: the backend and its fitted state (or a frontend score), and thresholds per section. */
export interface FittedScorer {
  column: string;
  backend: BackendConfig | null;
  key: string;
  state?: NativeBackendState;
  sections: SectionThreshold[];
  leaveOneOut: boolean;
  warnings: string[];
}

const DEFAULT_QUANTILE = 0.9;

/** The score columns a run has for a machine: its backends' columns, then the extract-time `AS*` arrays. */
function columnsOf(c: RunConfig, train: Map<string, NpyArray>): Array<{ column: string; backend: BackendConfig | null; key: string }> {
  const fromBackends = c.score.backend.map((b, i) => {
    const r = resolveBackend(b, `score backend #${i + 1}`);
    return { column: r.column, backend: b, key: r.embedKey };
  });
  const fromExtract = [...train.keys()].filter((k) => /^AS/.test(k)).map((k) => ({ column: k, backend: null, key: k }));
  return [...fromBackends, ...fromExtract];
}

/**
 * Fits the scorer of one machine of a run: the chosen column's backend on `train_extract.npz`
 * (or the frontend's own score), and a threshold per section of the normal training clips.
 */
export async function fitScorer(c: RunConfig, machine: string, column: string | undefined, o: ThresholdOptions & StepControl = {}): Promise<FittedScorer> {
  const dir = machineDir(runIdsOf(c), machine);
  const file = path.join(dir, 'train_extract.npz');
  if (!(await exists(file))) throw new Error(`${file}: missing; run the extract step of this run for ${machine} first`);
  const train = await readNpz(file);
  const columns = columnsOf(c, train);
  const chosen = column === undefined ? columns[0] : columns.find((x) => x.column === column);
  if (!chosen) {
    const list = columns.map((x) => x.column).join(', ') || '(none)';
    throw new Error(column === undefined ? `${c.recipe}: the run has no score column to export` : `--backend ${column}: not a score column of this run (its columns: ${list})`);
  }
  const method = o.thresholdMethod ?? 'gamma';
  const q = o.thresholdQuantile ?? DEFAULT_QUANTILE;
  if (!(q > 0 && q < 1)) throw new RangeError(`threshold quantile must be in (0, 1), got ${q}`);
  const sectionOf = numbers(train.get('section'), 'section', file);
  const normal = numbers(train.get('is_normal'), 'is_normal', file);
  let scores: ArrayLike<number>;
  let state: NativeBackendState | undefined;
  const warnings: string[] = [];
  if (chosen.backend) {
    const r = await fitBackend(chosen.backend, embeddingSet(train, chosen.key, file), o);
    scores = r.trainScores;
    state = r.state;
    warnings.push(...r.warnings.map((w: string) => `${chosen.column}: ${w}`));
  } else {
    scores = numbers(train.get(chosen.key), chosen.key, file);
  }
  const sections: SectionThreshold[] = [];
  for (const s of [...new Set(sectionOf)].sort((a, b) => a - b)) {
    const own = Array.from(scores).filter((v, i) => sectionOf[i] === s && normal[i] === 1 && Number.isFinite(v));
    try {
      const t = fitThreshold(own, method, q);
      sections.push({ section: s, threshold: t.threshold, clips: own.length, ...(t.gamma ? { gamma: t.gamma } : {}) });
    } catch (e) {
      throw new Error(`${machine} section ${String(s).padStart(2, '0')}: cannot fit a ${method} threshold to ${own.length} normal training scores (${(e as Error).message})`);
    }
  }
  return { column: chosen.column, backend: chosen.backend, key: chosen.key, state, sections, leaveOneOut: chosen.backend !== null, warnings };
}

function numbers(a: NpyArray | undefined, key: string, file: string): number[] {
  if (!a || a.dtype === 'unicode') throw new Error(`${file}: no numeric "${key}" array`);
  return Array.from(a.data as ArrayLike<number | bigint>, Number);
}

/** The frontend entry of the manifest, the file to copy as model.safetensors, and the clip length. */
async function frontendFor(c: RunConfig, machine: string): Promise<{ frontend: DetectorFrontend; model?: string; length: number }> {
  const fixedLength = () => {
    const sec = machineSec(c.dcase, machine, c.extract.sec);
    if (sec === null) throw new Error(`${c.recipe}: extract.sec is "all" (every clip at its own length); a detector needs a fixed clip length`);
    return cropSamples(sec);
  };
  const features = frontendOf(c);
  if (features) return { frontend: { type: 'features', config: features }, length: fixedLength() };
  const frozen = frozenEncoderOf(c);
  if (frozen) {
    const { checkpoint, ...config } = frozen;
    return { frontend: { type: 'pretrained', config, encoder: await encoderEntry(checkpoint) }, length: frozen.secSamples };
  }
  const file = await checkpointFileOf(c, machine);
  if (c.ae) return { frontend: { type: 'checkpoint', kind: 'ae', file: MODEL_FILE }, model: file, length: fixedLength() };
  const meta = (await readSafetensorsHeader(file)).metadata ?? {};
  const secSamples = Number((JSON.parse(meta.model_config ?? '{}') as { secSamples?: number }).secSamples);
  if (!(secSamples > 0)) throw new Error(`${file}: the checkpoint does not say its clip length (model_config.secSamples)`);
  const x = c.model!.extractor;
  if ('checkpoint' in x) return { frontend: { type: 'pretrained', file: MODEL_FILE, encoder: await encoderEntry(x.checkpoint) }, model: file, length: secSamples };
  return { frontend: { type: 'checkpoint', kind: 'dis', file: MODEL_FILE }, model: file, length: secSamples };
}

/** The manifest's channel fields: the run's channel, and α/floor for subtract (channelOf's reading of the config). */
function channelEntry(c: RunConfig): Pick<DetectorManifest['audio'], 'channel' | 'channel_alpha' | 'channel_floor'> {
  const { channelAlpha, channelFloor } = channelOf(c);
  return { channel: c.channel, ...(channelAlpha === undefined ? {} : { channel_alpha: channelAlpha, channel_floor: channelFloor }) };
}

async function encoderEntry(configured: string) {
  const file = await resolvePretrained(configured);
  return { name: path.basename(file), sha256: await sha256File(file), bytes: (await fs.stat(file)).size };
}

/**
 * Writes the detector folder `out` for one machine of a finished run. The folder appears whole
 * or not at all (written beside it, then renamed); an existing one is replaced only with `overwrite`.
 */
export async function exportDetector(o: ExportOptions): Promise<{ dir: string; manifest: DetectorManifest; warnings: string[] }> {
  const c = o.config;
  const out = path.resolve(o.out);
  if ((await exists(out)) && !o.overwrite) throw new Error(`${out}: already exists (use --overwrite to replace it)`);
  const testScores = path.join(machineDir(runIdsOf(c), o.machine), 'test_score.csv');
  if (!(await exists(testScores))) throw new Error(`${testScores}: missing; a detector is exported from a finished run (run its score step for ${o.machine} first)`);
  const { frontend, model, length } = await frontendFor(c, o.machine);
  const scorer = await fitScorer(c, o.machine, o.backend, o);

  const tmp = `${out}.tmp-${process.pid}`;
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  try {
    const files: Record<string, string> = {};
    if (model) {
      await fs.copyFile(model, path.join(tmp, MODEL_FILE));
      files[MODEL_FILE] = await sha256File(path.join(tmp, MODEL_FILE));
    }
    if (scorer.state) {
      await writeBackendState(path.join(tmp, BACKEND_FILE), scorer.state);
      files[BACKEND_FILE] = await sha256File(path.join(tmp, BACKEND_FILE));
    }
    const manifest: DetectorManifest = {
      format: DETECTOR_FORMAT,
      format_version: DETECTOR_FORMAT_VERSION,
      toolkit_version: asdkitVersion() ?? 'unknown',
      created: new Date().toISOString(),
      recipe: c.recipe,
      dcase: c.dcase,
      machine: o.machine,
      run: { name: c.name, version: c.version, seed: c.seed, infer_ver: c.infer_ver },
      // The channel the run was trained and extracted with, so stereo input is scored alike.
      audio: { sample_rate: SAMPLE_RATE, length, ...channelEntry(c) },
      frontend,
      score: { column: scorer.column, backend: scorer.backend as DetectorManifest['score']['backend'], key: scorer.key },
      threshold: { method: o.thresholdMethod ?? 'gamma', quantile: o.thresholdQuantile ?? DEFAULT_QUANTILE, leave_one_out: scorer.leaveOneOut },
      sections: scorer.sections,
      files,
    };
    await writeAtomic(path.join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    if (await exists(out)) await fs.rm(out, { recursive: true, force: true });
    await fs.rename(tmp, out);
    return { dir: out, manifest, warnings: scorer.warnings };
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
