import { promises as fs } from 'node:fs';

/**
 * Minimal 16-bit PCM WAV writing (canonical 44-byte RIFF header) and header reading.
 * DCASE audio is 16 kHz mono 16-bit, so nothing more is needed here.
 */

/** Encodes float samples (interleaved when channels > 1) as 16-bit PCM; clips to [-1, 1]. */
export function encodeWav16(samples: Float32Array, sampleRate: number, channels = 1): Uint8Array {
  if (!Number.isInteger(channels) || channels < 1) throw new Error(`invalid channel count ${channels}`);
  if (!Number.isInteger(sampleRate) || sampleRate < 1) throw new Error(`invalid sample rate ${sampleRate}`);
  if (samples.length % channels !== 0) {
    throw new Error(`${samples.length} samples are not a whole number of ${channels}-channel frames`);
  }
  const dataBytes = samples.length * 2;
  const out = new Uint8Array(44 + dataBytes);
  const v = new DataView(out.buffer);
  const ascii = (off: number, s: string) => {
    for (let i = 0; i < s.length; i++) out[off + i] = s.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  v.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, 16, true); // fmt chunk size
  v.setUint16(20, 1, true); // PCM
  v.setUint16(22, channels, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * channels * 2, true); // byte rate
  v.setUint16(32, channels * 2, true); // block align
  v.setUint16(34, 16, true);
  ascii(36, 'data');
  v.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i];
    // NaN becomes silence; halves round away from zero so the scale is symmetric.
    const c = x > 1 ? 1 : x < -1 ? -1 : x === x ? x : 0;
    v.setInt16(44 + 2 * i, c < 0 ? -Math.round(-c * 32767) : Math.round(c * 32767), true);
  }
  return out;
}

export interface WavHeader {
  format: number; // 1 = PCM
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  dataOffset: number; // byte offset of the first sample
  dataBytes: number;
  frames: number;
}

/** Reads the RIFF header, walking chunks until `data` (so files with extra chunks also work). */
export function decodeWavHeader(buf: Uint8Array): WavHeader {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (off: number) => String.fromCharCode(buf[off], buf[off + 1], buf[off + 2], buf[off + 3]);
  if (buf.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let fmt: Omit<WavHeader, 'dataOffset' | 'dataBytes' | 'frames'> | undefined;
  for (let off = 12; off + 8 <= buf.length; ) {
    const id = tag(off);
    const size = v.getUint32(off + 4, true);
    if (id === 'fmt ') {
      if (size < 16) throw new Error('WAV fmt chunk is too short');
      fmt = {
        format: v.getUint16(off + 8, true),
        channels: v.getUint16(off + 10, true),
        sampleRate: v.getUint32(off + 12, true),
        bitsPerSample: v.getUint16(off + 22, true),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('WAV data chunk before fmt chunk');
      const dataBytes = Math.min(size, buf.length - off - 8);
      const frameBytes = fmt.channels * (fmt.bitsPerSample / 8);
      if (!(frameBytes > 0)) throw new Error(`WAV header has ${fmt.channels} channels of ${fmt.bitsPerSample} bits`);
      return { ...fmt, dataOffset: off + 8, dataBytes, frames: Math.floor(dataBytes / frameBytes) };
    }
    off += 8 + size + (size & 1); // chunks are word aligned
  }
  throw new Error('WAV file has no data chunk');
}

/** Frames a WAV file holds, from its header (the first 64 KiB) and its size; no decoding. */
export async function wavFrames(file: string): Promise<number> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const buf = new Uint8Array(Math.min(size, 1 << 16));
    await fh.read(buf, 0, buf.length, 0);
    const h = decodeWavHeader(buf);
    const declared = new DataView(buf.buffer).getUint32(h.dataOffset - 4, true);
    return Math.floor(Math.min(declared, size - h.dataOffset) / (h.channels * (h.bitsPerSample / 8)));
  } finally {
    await fh.close();
  }
}

/**
 * One warning for the clips longer than the crop `length` (only their first `length` samples are
 * used), or undefined. Unreadable headers are left to the decoder, which names the problem.
 */
export async function croppedClipsWarning(paths: string[], length: number, sampleRate: number): Promise<string | undefined> {
  if (length <= 0) return undefined;
  const long: Array<[string, number]> = [];
  for (let i = 0; i < paths.length; i += 64) {
    const frames = await Promise.all(paths.slice(i, i + 64).map((p) => wavFrames(p).catch(() => 0)));
    frames.forEach((n, k) => n > length && long.push([paths[i + k], n]));
  }
  if (long.length === 0) return undefined;
  const [file, n] = long.reduce((a, b) => (b[1] > a[1] ? b : a));
  const sec = (x: number) => `${(x / sampleRate).toFixed(x % sampleRate ? 2 : 0)} s`;
  return `${long.length} clip(s) longer than the clip length ${sec(length)} are cropped to it (longest: ${file}, ${sec(n)}); set extract.sec to use more`;
}
