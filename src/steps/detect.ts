/**
 * The detect step: score audio files with a loaded detector, batch by batch, writing one row per
 * clip as each batch finishes — so memory stays bounded by one batch, an interruption leaves
 * every row scored so far, and `resume` continues an output, skipping clips already in it.
 * A file that cannot be scored is a row with an `error`, never the end of the run.
 */
import { promises as fs } from 'node:fs';
import type { Detector, DetectorScores } from '../detector/detector.js';
import type { NativeDecodedFile } from '../native/index.js';
import { EXTRACT_BATCH_SIZE, type StepControl } from '../run/index.js';
import { parseCsv, toCsv } from '../util/csv.js';
import { exists } from '../util/files.js';

export type DetectFormat = 'csv' | 'jsonl';

export const DETECT_COLUMNS = ['path', 'section', 'score', 'decision', 'error'];

export interface DetectOptions extends StepControl {
  detector: Detector;
  paths: readonly string[];
  /** Output file; without one, rows go to `write` (stdout in the CLI). */
  out?: string;
  write?: (text: string) => void;
  format?: DetectFormat;
  section?: number;
  batchSize?: number;
  /** Continue an existing `out`, skipping the clips already in it. */
  resume?: boolean;
  /** Replace an existing `out`. */
  overwrite?: boolean;
  /** Each kind of conversion (resampling, down-mixing, tiling, cropping), said once per run. */
  onNote?: (line: string) => void;
}

export interface DetectResult {
  scored: number;
  failed: number;
  anomalous: number;
  /** Clips already in the output (resume). */
  skipped: number;
  /** Conversions applied, with how many files each. */
  conversions: Record<string, number>;
}

/** Rows of one batch in the chosen format (complete lines). */
function formatRows(format: DetectFormat, paths: readonly string[], r: DetectorScores): string {
  if (format === 'jsonl') {
    return paths
      .map((p, i) => {
        const row: Record<string, unknown> = { path: p };
        if (r.errors[i] !== undefined) row.error = r.errors[i];
        else Object.assign(row, { section: r.section[i], score: finite(r.score[i]), decision: r.decision[i], threshold: r.threshold[i], embedding_norm: finite(r.norm[i]) });
        return `${JSON.stringify(row)}\n`;
      })
      .join('');
  }
  const rows = paths.map((p, i) => (r.errors[i] !== undefined ? [p, '', '', '', r.errors[i]!] : [p, r.section[i], r.score[i], r.decision[i], '']));
  return toCsv(DETECT_COLUMNS, rows).split('\n').slice(1).join('\n');
}

const finite = (v: number) => (Number.isFinite(v) ? v : null);

/** Rows [from, to) of a result, as a result of their own. */
function sliceScores(r: DetectorScores, from: number, to: number): DetectorScores {
  return {
    score: r.score.subarray(from, to), decision: r.decision.subarray(from, to), section: r.section.subarray(from, to),
    threshold: r.threshold.subarray(from, to), norm: r.norm.subarray(from, to), errors: r.errors.slice(from, to), files: r.files?.slice(from, to),
  };
}

/** The paths already in an output, after cutting off a last line that an interruption left half-written. */
async function resumeFrom(file: string, format: DetectFormat): Promise<Set<string>> {
  let text = await fs.readFile(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) {
    await fs.truncate(file, Buffer.byteLength(text.slice(0, end)));
    text = text.slice(0, end);
  }
  const done = new Set<string>();
  if (format === 'jsonl') {
    text.split('\n').forEach((line, i) => {
      if (!line) return;
      try {
        done.add((JSON.parse(line) as { path: string }).path);
      } catch {
        throw new Error(`${file}: line ${i + 1} is not a JSON row; not an output of asdkit detect --format jsonl`);
      }
    });
    return done;
  }
  if (!text) return done;
  const t = parseCsv(text, file);
  if (t.columns.join(',') !== DETECT_COLUMNS.join(',')) throw new Error(`${file}: columns ${t.columns.join(',')} are not those of asdkit detect (${DETECT_COLUMNS.join(',')})`);
  for (const row of t.rows) done.add(row[0]);
  return done;
}

/** The conversions one decoded file went through, as note keys. */
function conversionsOf(f: NativeDecodedFile, rate: number, length: number, channel: string): string[] {
  if (!f.ok) return [];
  const out: string[] = [];
  if (f.sampleRate !== rate) out.push(`resampled ${f.sampleRate} Hz → ${rate} Hz`);
  if (channel === 'subtract' || channel === 'both') {
    // Channels 0 and 1 are the detector's input as they are; only further ones are left out.
    if (f.channels > 2) out.push(`took channels 0 and 1 (near, far) of ${f.channels}`);
  } else if (f.channels > 1) out.push(channel === 'mean' ? `down-mixed ${f.channels} channels to their mean` : `took the ${channel} channel of ${f.channels}`);
  const frames = Math.round((f.frames * rate) / f.sampleRate);
  if (frames < length) out.push(`tiled clips shorter than ${length / rate} s`);
  else if (frames > length) out.push(`cropped clips longer than ${length / rate} s to their first ${length / rate} s`);
  return out;
}

export async function detect(o: DetectOptions): Promise<DetectResult> {
  const format = o.format ?? 'csv';
  const batch = o.batchSize ?? EXTRACT_BATCH_SIZE;
  const result: DetectResult = { scored: 0, failed: 0, anomalous: 0, skipped: 0, conversions: {} };
  let done = new Set<string>();
  let write: (text: string) => Promise<void> | void;
  let close = async () => {};
  if (o.out) {
    const had = await exists(o.out);
    if (had && !o.resume && !o.overwrite) throw new Error(`${o.out}: already exists (--resume continues it, --overwrite replaces it)`);
    if (had && o.resume) done = await resumeFrom(o.out, format);
    const fh = await fs.open(o.out, had && o.resume ? 'a' : 'w');
    // Whole batches of complete lines, synced: a kill leaves at most a half line, which resume cuts.
    write = async (text) => {
      await fh.write(text);
      await fh.datasync();
    };
    close = () => fh.close();
    if (!(had && o.resume) || (await fs.stat(o.out)).size === 0) if (format === 'csv') await write(`${DETECT_COLUMNS.join(',')}\n`);
  } else {
    if (o.resume) throw new Error('--resume needs --out (an output file to continue)');
    write = o.write ?? ((t) => void process.stdout.write(t));
    if (format === 'csv') await write(`${DETECT_COLUMNS.join(',')}\n`);
  }
  const todo = o.paths.filter((p) => !done.has(p));
  result.skipped = o.paths.length - todo.length;
  const { sample_rate: rate, length, channel } = o.detector.manifest.audio;
  // Windows of several batches: inside one, the detector decodes the next batch while it scores
  // this one; rows are written batch by batch as they become final.
  const window = batch * 16;
  const onBatch = async (chunk: readonly string[], base: number, from: number, to: number, r: DetectorScores) => {
    await write(formatRows(format, chunk.slice(from, to), sliceScores(r, from, to)));
    for (let i = from; i < to; i++) {
      const f = r.files?.[i];
      if (r.errors[i] !== undefined) result.failed++;
      else {
        result.scored++;
        result.anomalous += r.decision[i];
        for (const c of f ? conversionsOf(f, rate, length, channel) : []) {
          if (!result.conversions[c]) o.onNote?.(`${c} (first: ${chunk[i]})`);
          result.conversions[c] = (result.conversions[c] ?? 0) + 1;
        }
      }
    }
    o.onProgress?.(result.skipped + base + to, o.paths.length);
  };
  try {
    for (let at = 0; at < todo.length; at += window) {
      if (o.signal?.aborted) break;
      const chunk = todo.slice(at, at + window);
      await o.detector.score(chunk, { section: o.section, batchSize: batch, signal: o.signal, onBatch: (from, to, r) => onBatch(chunk, at, from, to, r) });
    }
  } finally {
    await close();
  }
  return result;
}
