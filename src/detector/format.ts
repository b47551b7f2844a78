/**
 * The detector folder (format `asdkit.detector`, version MAJOR.MINOR): `detector.json` describes
 * everything and lists a sha256 of every other file; `backend.safetensors` holds the fitted
 * backend state; `model.safetensors` the trained frontend (dis_*, ae, LoRA BEATs/EAT). A reader
 * accepts any minor version of its major and refuses a newer major, a missing file or a hash
 * mismatch, naming the file.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readText } from '../util/files.js';

export const DETECTOR_FORMAT = 'asdkit.detector';
export const DETECTOR_FORMAT_VERSION = '1.0';
export const MANIFEST_FILE = 'detector.json';
export const BACKEND_FILE = 'backend.safetensors';
export const MODEL_FILE = 'model.safetensors';

const stftPool = z.object({
  type: z.literal('stft_pool'),
  pool: z.string(),
  nFft: z.number().optional(),
  hopLength: z.number().optional(),
  nMels: z.number().nullable().optional(),
  power: z.number().optional(),
  fMin: z.number().nullable().optional(),
  fMax: z.number().nullable().optional(),
  useLog: z.boolean().optional(),
  temporalNorm: z.boolean().optional(),
});

/** The official encoder file a BEATs/EAT detector needs (not shipped: its licence is its owner's). */
const encoderFile = z.object({ name: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() });

const frontendSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('features'), config: stftPool }),
  z.object({ type: z.literal('checkpoint'), kind: z.enum(['dis', 'ae']), file: z.string() }),
  z.object({
    type: z.literal('pretrained'),
    /** LoRA adapters, projection and head (dis_beats/eat); absent for the frozen raw_beats/raw_eat. */
    file: z.string().optional(),
    /** The frozen encoder's model config (raw_*), as PretrainedModel.create takes it, without the checkpoint path. */
    config: z.record(z.unknown()).optional(),
    encoder: encoderFile,
  }),
]);

const sectionSchema = z.object({
  section: z.number().int(),
  threshold: z.number(),
  /** Normal training clips the threshold was fitted to. */
  clips: z.number().int().nonnegative(),
  gamma: z.object({ shape: z.number(), loc: z.number(), scale: z.number() }).optional(),
});

export const manifestSchema = z.object({
  format: z.literal(DETECTOR_FORMAT),
  format_version: z.string().regex(/^\d+\.\d+$/),
  toolkit_version: z.string(),
  created: z.string(),
  recipe: z.string(),
  dcase: z.string(),
  machine: z.string(),
  run: z.object({ name: z.string(), version: z.string(), seed: z.union([z.number(), z.string()]), infer_ver: z.string() }),
  audio: z.object({
    sample_rate: z.number().int().positive(),
    /** Samples per clip: shorter clips are tiled, longer ones cropped (offset 0), as extraction does. */
    length: z.number().int().positive(),
    /**
     * How multi-channel audio is read (the run's `channel`): subtract/both score channels 0 and 1
     * of each file ([near, far]; a mono file is an error row).
     */
    channel: z.enum(['mean', 'near', 'far', 'subtract', 'both']),
    /** subtract: the run's α and floor (a raw-feature frontend applies them; checkpoints carry their own). */
    channel_alpha: z.number().optional(),
    channel_floor: z.number().optional(),
  }),
  frontend: frontendSchema,
  score: z.object({
    /** The score column of the run's `*_score.csv` this detector reproduces. */
    column: z.string(),
    /** The backend (ASDKit config mapping), or null for a score the frontend computes (the AE's AS-recon). */
    backend: z.record(z.union([z.string(), z.number(), z.boolean()])).nullable(),
    /** The frontend output the backend reads (`embed`) or that is the score. */
    key: z.string(),
  }),
  threshold: z.object({
    method: z.enum(['gamma', 'percentile']),
    quantile: z.number().gt(0).lt(1),
    /** Whether each training clip was left out of its own reference set when scored. */
    leave_one_out: z.boolean(),
  }),
  sections: z.array(sectionSchema).min(1),
  /** sha256 of every file in the folder but this one. */
  files: z.record(z.string().regex(/^[0-9a-f]{64}$/)),
});

export type DetectorManifest = z.infer<typeof manifestSchema>;
export type DetectorFrontend = DetectorManifest['frontend'];
export type SectionThreshold = DetectorManifest['sections'][number];

/** sha256 of a file, streamed (encoder files are hundreds of MB). */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Reads and checks `detector.json` and the hash of every file it lists; errors name the file. */
export async function readManifest(dir: string): Promise<DetectorManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  const stat = await fs.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new Error(`${dir}: not a detector folder (no such directory; make one with \`asdkit export\`)`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readText(file, 'detector manifest'));
  } catch (e) {
    throw new Error(`${file}: not a detector manifest (${(e as Error).message})`);
  }
  const head = raw as { format?: unknown; format_version?: unknown };
  if (head?.format !== DETECTOR_FORMAT) throw new Error(`${file}: not an asdkit detector (format ${JSON.stringify(head?.format)})`);
  const major = Number(String(head.format_version).split('.')[0]);
  const ours = Number(DETECTOR_FORMAT_VERSION.split('.')[0]);
  if (!(major <= ours)) {
    throw new Error(`${file}: detector format ${String(head.format_version)} is newer than this asdkit reads (${DETECTOR_FORMAT_VERSION}); upgrade asdkit`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: invalid detector manifest: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const m = parsed.data;
  for (const [name, want] of Object.entries(m.files)) {
    const f = path.join(dir, safeName(name, file));
    const got = await sha256File(f).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`${f}: ${e.code === 'ENOENT' ? 'missing' : e.message} (listed in ${file}); the detector folder is incomplete`);
    });
    if (got !== want) throw new Error(`${f}: content does not match its hash in ${file} (the file was changed or damaged); export the detector again`);
  }
  for (const needed of [BACKEND_FILE, ...('file' in m.frontend && m.frontend.file ? [m.frontend.file] : [])]) {
    if (m.score.backend === null && needed === BACKEND_FILE) continue;
    if (!(needed in m.files)) throw new Error(`${file}: ${needed} is not listed under "files"`);
  }
  return m;
}

/** A manifest file name must stay inside the folder. */
function safeName(name: string, manifest: string): string {
  if (name === '' || name.includes('/') || name.includes('\\') || name === '.' || name === '..' || name === MANIFEST_FILE) {
    throw new Error(`${manifest}: invalid file name ${JSON.stringify(name)} under "files"`);
  }
  return name;
}
