/**
 * A shipped detector (see format.ts): load a folder made by `asdkit export`, score audio files
 * or waveforms, and decide "anomalous" when a score exceeds its section's threshold. Scores are
 * those of the run it came from: same frontend, same fitted backend state.
 */
import path from 'node:path';
import { scoreWithState } from '../backends/state.js';
import type { BackendConfig } from '../backends/config.js';
import { ensureThreads, native, runJob, type NativeBackendState, type NativeDecodedFile, type NativeFrontendConfig, type NativeJob, type TensorLike } from '../native/index.js';
import { stackWaves } from '../native/waves.js';
import { resolvePretrained } from '../pretrained/sources.js';
import { DEVICE, EXTRACT_BATCH_SIZE, IO_THREADS, type StepControl } from '../run/index.js';
import { loadModel, PretrainedModel, type AnyModel, type PretrainedConfig } from '../train/model.js';
import { readBackendState } from './backend-file.js';
import { BACKEND_FILE, readManifest, sha256File, type DetectorManifest, type SectionThreshold } from './format.js';

export interface DetectorLoadOptions {
  /** cpu, cuda or cuda:N (default cpu). */
  device?: string;
  /** BEATs/EAT detectors: the official encoder file (default: where `asdkit pretrained` puts it). */
  encoder?: string;
}

export interface ScoreOptions extends StepControl {
  /** The section every clip belongs to; default: the detector's only section, else read from DCASE-style names (`section_XX_…`). */
  section?: number;
  /** Per input, a section that overrides `section` (undefined entries fall back to it). */
  sections?: ReadonlyArray<number | undefined>;
  /** Clips per native batch (default 64). */
  batchSize?: number;
  /** After each batch, with the input range [from, to) now final in `r` (e.g. to write its rows). */
  onBatch?: (from: number, to: number, r: DetectorScores) => void | Promise<void>;
}

/** One score per input, in input order. A file that could not be scored has a NaN score, decision 0 and an `errors` entry. */
export interface DetectorScores {
  score: Float64Array;
  decision: Uint8Array;
  section: Int32Array;
  threshold: Float64Array;
  /** L2 norm of each clip's embedding (NaN where there is none). */
  norm: Float64Array;
  errors: Array<string | undefined>;
  /** Per file: what it was before conversion (rate, channels, frames, format); absent for waveforms. */
  files?: NativeDecodedFile[];
}

type Frontend = { features: NativeFrontendConfig; model?: undefined } | { model: AnyModel; features?: undefined };

export class Detector implements Disposable {
  private isDisposed = false;

  private constructor(
    readonly dir: string,
    readonly manifest: DetectorManifest,
    private readonly frontend: Frontend,
    private readonly backend: { config: BackendConfig; state: NativeBackendState } | undefined,
    /** Where it runs (cpu, cuda, cuda:N). */
    readonly device: string,
  ) {}

  /** Loads and checks a detector folder (format version, every file's hash); errors name the file. */
  static async load(dir: string, opts: DetectorLoadOptions = {}): Promise<Detector> {
    const m = await readManifest(dir);
    const device = opts.device ?? DEVICE;
    ensureThreads();
    if (device !== 'cpu') native().checkDevice(device);
    const backend = m.score.backend === null ? undefined : { config: m.score.backend as BackendConfig, state: await readBackendState(path.join(dir, BACKEND_FILE)) };
    const f = m.frontend;
    let frontend: Frontend;
    if (f.type === 'features') frontend = { features: f.config };
    else if (f.type === 'checkpoint') frontend = { model: (await loadModel(path.join(dir, f.file))).model };
    else {
      const encoder = await resolvePretrained(opts.encoder ?? f.encoder.name);
      const digest = await sha256File(encoder);
      if (digest !== f.encoder.sha256) {
        throw new Error(`${encoder}: not the encoder this detector was made with (sha256 ${digest.slice(0, 12)}…, expected ${f.encoder.name} with ${f.encoder.sha256.slice(0, 12)}…)`);
      }
      frontend = f.file
        ? { model: (await loadModel(path.join(dir, f.file), { encoderCheckpoint: encoder })).model }
        : { model: await PretrainedModel.create({ ...(f.config as unknown as PretrainedConfig), checkpoint: encoder }) };
    }
    return new Detector(dir, m, frontend, backend, device);
  }

  /** Thresholds by section number. */
  get threshold(): ReadonlyMap<number, number> {
    return new Map(this.manifest.sections.map((s) => [s.section, s.threshold]));
  }

  get sections(): readonly SectionThreshold[] {
    return this.manifest.sections;
  }

  get sampleRate(): number {
    return this.manifest.audio.sample_rate;
  }

  /** Samples per clip the frontend sees. */
  get length(): number {
    return this.manifest.audio.length;
  }

  /** Waveform rows per clip: 2 ([near, far]) for channel subtract/both, else 1. */
  get channels(): 1 | 2 {
    return twoChannel(this.manifest.audio.channel) ? 2 : 1;
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  /** Frees the model's native memory now; later calls throw. */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.frontend.model?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Scores audio files (any format libsndfile reads; resampled, down-mixed and tiled/cropped as
   * the detector says) or equal-length waveforms at the detector's rate (Float32Arrays or a
   * (B, length) tensor; for a two-channel detector (`channels` 2) a (B, 2, length) tensor or
   * Float32Arrays of 2·length samples, channel 0 then channel 1). Files that cannot be read do
   * not fail the call: see `errors`.
   */
  async score(input: string[] | Float32Array[] | TensorLike, opts: ScoreOptions = {}): Promise<DetectorScores> {
    this.checkLive();
    const batch = opts.batchSize ?? EXTRACT_BATCH_SIZE;
    if (!(Number.isInteger(batch) && batch > 0)) throw new RangeError(`batchSize must be a positive integer, got ${batch}`);
    if (Array.isArray(input) && input.every((x) => typeof x === 'string')) return this.scoreFiles(input as string[], batch, opts);
    const wave = this.clipShape(stackWaves(input as Float32Array[] | TensorLike, 'Detector.score'));
    const n = wave.shape[0];
    const perClip = this.channels * this.length;
    const out = emptyScores(n);
    const sections = Array.from({ length: n }, (_, i) => this.sectionFor(undefined, opts.sections?.[i] ?? opts.section));
    for (let at = 0; at < n; at += batch) {
      const rows = Math.min(batch, n - at);
      const part = { data: wave.data.subarray(at * perClip, (at + rows) * perClip), shape: [rows, ...wave.shape.slice(1)] };
      await this.scoreWaves(part, sections.slice(at, at + rows), out, Array.from({ length: rows }, (_, i) => at + i), opts);
      await opts.onBatch?.(at, at + rows, out);
      opts.onProgress?.(at + rows, n);
    }
    return out;
  }

  /** Waveforms as the frontend takes them: [B, length], or [B, 2, length] for two channels (else a RangeError). */
  private clipShape(wave: TensorLike): TensorLike {
    const L = this.length;
    const want = this.channels === 2 ? `[batch, 2, ${L}] (channel 0 then channel 1, or Float32Arrays of ${2 * L} samples)` : `${L} samples`;
    const bad = () => new RangeError(`Detector.score: waveforms must have ${want} (the detector's clip length at ${this.sampleRate} Hz, channel ${this.manifest.audio.channel}), got shape [${wave.shape.join(', ')}]`);
    if (this.channels === 1) {
      if (wave.shape.length !== 2 || wave.shape[1] !== L) throw bad();
      return wave;
    }
    if (wave.shape.length === 3 && wave.shape[1] === 2 && wave.shape[2] === L) return wave;
    if (wave.shape.length === 2 && wave.shape[1] === 2 * L) return { data: wave.data, shape: [wave.shape[0], 2, L] };
    throw bad();
  }

  /**
   * Scores audio files held in memory (e.g. HTTP uploads): each buffer is one file's bytes, in
   * any format `score` reads from disk; `names[i]` stands for its path in errors and in the
   * section lookup. Same results as `score` on the same bytes in files.
   */
  async scoreBuffers(buffers: Uint8Array[], opts: ScoreOptions & { names?: string[] } = {}): Promise<DetectorScores> {
    this.checkLive();
    const names = opts.names ?? buffers.map((_, i) => `buffer ${i}`);
    if (names.length !== buffers.length) throw new RangeError(`scoreBuffers: ${buffers.length} buffers but ${names.length} names`);
    const batch = opts.batchSize ?? EXTRACT_BATCH_SIZE;
    const audio = this.manifest.audio;
    return this.scoreDecoded(names, batch, opts, (at, n) =>
      native().decodeBuffers(buffers.slice(at, at + n), { sampleRate: audio.sample_rate, length: audio.length, channel: audio.channel, names: names.slice(at, at + n) }),
    );
  }

  private scoreFiles(paths: string[], batch: number, opts: ScoreOptions): Promise<DetectorScores> {
    const audio = this.manifest.audio;
    return this.scoreDecoded(paths, batch, opts, (at, n) =>
      native().decodeClips(paths.slice(at, at + n), { sampleRate: audio.sample_rate, length: audio.length, channel: audio.channel, ioThreads: IO_THREADS }),
    );
  }

  /** Decodes `names.length` clips batch by batch with `decode(at, n)` and scores those that decoded. */
  private async scoreDecoded(
    names: string[], batch: number, opts: ScoreOptions,
    decode: (at: number, n: number) => NativeJob<{ wave: TensorLike; files: NativeDecodedFile[] }>,
  ): Promise<DetectorScores> {
    const out = emptyScores(names.length);
    out.files = [];
    // The next batch decodes (its own limiter lane, its own threads) while this one is scored.
    const start = (at: number) => {
      const p = runJob(() => decode(at, Math.min(batch, names.length - at)), opts.signal);
      p.catch(() => {}); // awaited below; a failure while an earlier batch is scored is not unhandled
      return p;
    };
    let next = names.length > 0 ? start(0) : undefined;
    for (let at = 0; at < names.length; at += batch) {
      const chunk = names.slice(at, at + batch);
      const r = await next!;
      next = at + batch < names.length ? start(at + batch) : undefined;
      const okAt: number[] = []; // row r of r.wave is input okAt[r]
      const use: number[] = []; // rows to score (their section is known)
      const sections: number[] = [];
      r.files.forEach((f, i) => {
        out.files!.push(f);
        if (!f.ok) {
          out.errors[at + i] = f.error ?? `${chunk[i]}: cannot be decoded`;
          return;
        }
        const row = okAt.length;
        okAt.push(at + i);
        try {
          sections.push(this.sectionFor(chunk[i], opts.sections?.[at + i] ?? opts.section));
          use.push(row);
        } catch (e) {
          out.errors[at + i] = (e as Error).message;
        }
      });
      if (use.length > 0) {
        const wave = use.length === okAt.length ? r.wave : pickRows(r.wave, use);
        await this.scoreWaves(wave, sections, out, use.map((row) => okAt[row]), opts);
      }
      await opts.onBatch?.(at, at + chunk.length, out);
      opts.onProgress?.(at + chunk.length, names.length);
    }
    return out;
  }

  /** Frontend → backend → decisions for one batch; results land at `at[i]` of `out`. */
  private async scoreWaves(wave: TensorLike, sections: number[], out: DetectorScores, at: number[], opts: ScoreOptions): Promise<void> {
    const key = this.manifest.score.key;
    // Two-channel waves are [B, 2, L]: a model takes them as its config says (subtract/both); the
    // raw-feature frontend is told the channel mode (and α/floor) as the run's extraction was.
    const audio = this.manifest.audio;
    const channel = twoChannel(audio.channel)
      ? { channel: audio.channel, ...(audio.channel_alpha === undefined ? {} : { channelAlpha: audio.channel_alpha }), ...(audio.channel_floor === undefined ? {} : { channelFloor: audio.channel_floor }) }
      : {};
    const outputs = this.frontend.model
      ? await this.frontend.model.extract(wave, { device: this.device, signal: opts.signal, batchSize: wave.shape[0] })
      : await runJob(() => native().frontendForward(wave, { frontend: this.frontend.features!, length: 0, batchSize: wave.shape[0], device: this.device, ...channel }), opts.signal);
    const embed = outputs.embed;
    let scores: ArrayLike<number>;
    if (!this.backend) {
      const s = outputs[key];
      if (!s) throw new Error(`${this.dir}: the frontend gives no "${key}" output`);
      scores = s.data;
    } else {
      const e = outputs[key];
      if (!e || e.shape.length !== 2) throw new Error(`${this.dir}: the frontend gives no "${key}" embedding`);
      const r = await scoreWithState(this.backend.config, this.backend.state, [{ embed: e.data, dim: e.shape[1], section: sections, isTarget: new Int32Array(sections.length) }], {
        device: this.device,
        signal: opts.signal,
      });
      scores = r.scores[0];
    }
    const thresholds = this.threshold;
    for (let i = 0; i < at.length; i++) {
      const t = thresholds.get(sections[i])!;
      const k = at[i];
      out.score[k] = scores[i];
      out.section[k] = sections[i];
      out.threshold[k] = t;
      out.decision[k] = scores[i] > t ? 1 : 0;
      if (embed?.shape.length === 2) {
        const d = embed.shape[1];
        let s = 0;
        for (let j = i * d; j < (i + 1) * d; j++) s += embed.data[j] * embed.data[j];
        out.norm[k] = Math.sqrt(s);
      }
    }
  }

  /** The section of one clip: the option, the only section, or the DCASE name; else an error naming the file. */
  private sectionFor(file: string | undefined, given: number | undefined): number {
    const known = this.manifest.sections.map((s) => s.section);
    const pad = (s: number) => String(s).padStart(2, '0');
    if (given !== undefined) {
      if (!known.includes(given)) throw new RangeError(`section ${given} is not one of this detector's sections (${known.map(pad).join(', ')})`);
      return given;
    }
    if (known.length === 1) return known[0];
    const m = file ? /(?:^|_)section_(\d+)_/.exec(path.basename(file)) : null;
    const s = m ? Number(m[1]) : undefined;
    if (s !== undefined && known.includes(s)) return s;
    const what = file ?? 'a waveform';
    throw new RangeError(`${what}: which section? This detector has sections ${known.map(pad).join(', ')}; name one with --section (or the section option)${s !== undefined ? ` (the name says section ${pad(s)}, which it does not have)` : ''}`);
  }

  private checkLive(): void {
    if (this.isDisposed) {
      const e = new Error(`the detector from ${this.dir} was disposed`) as Error & { code: string };
      e.code = 'ASDKIT_DISPOSED';
      throw e;
    }
  }
}

function emptyScores(n: number): DetectorScores {
  return {
    score: new Float64Array(n).fill(Number.NaN),
    decision: new Uint8Array(n),
    section: new Int32Array(n).fill(-1),
    threshold: new Float64Array(n).fill(Number.NaN),
    norm: new Float64Array(n).fill(Number.NaN),
    errors: new Array<string | undefined>(n).fill(undefined),
  };
}

/** Rows (first axis) of a [B, …] tensor. */
function pickRows(t: TensorLike, rows: number[]): TensorLike {
  const d = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(rows.length * d);
  rows.forEach((r, i) => data.set(t.data.subarray(r * d, (r + 1) * d), i * d));
  return { data, shape: [rows.length, ...t.shape.slice(1)] };
}

const twoChannel = (c: DetectorManifest['audio']['channel']): c is 'subtract' | 'both' => c === 'subtract' || c === 'both';
