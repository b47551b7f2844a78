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
