/**
 * Multiply-accumulates of one clip's forward pass through a MultiResNet's convolutions and linear
 * layers, counted from the architecture (spec frontends-and-training §2.2–§4.4) — the check on the
 * PyTorch reference's hook count (bench/reference/multiresnet.py forward_macs). FFTs, BatchNorm,
 * pooling and elementwise work are left out on both sides. FLOPs = 2 × MACs; a training step is
 * taken as 3 × the forward (the backward computes a gradient for both inputs and weights).
 */
import type { NativeModelConfig } from '../src/native/index.js';

const SR = 16000;
const conv = (n: number, k: number, s: number, pad = 0) => Math.floor((n + 2 * pad - k) / s) + 1;

/** Squeeze-and-excitation: c → c/16 → c, two bias-free linear layers on the channel means. */
const seMacs = (c: number) => 2 * c * Math.floor(c / 16);

/** Bins kept by the linear STFT branch: 200–8000 Hz of n_fft/2+1 evenly spaced bins (searchsorted left / right). */
function stftBins(nFft: number, fMin = 200, fMax = 8000): number {
  const n = nFft / 2 + 1;
  const freqs = Array.from({ length: n }, (_, i) => Math.fround((i * (SR / 2)) / (n - 1)));
  const lo = freqs.findIndex((f) => f >= fMin);
  let hi = freqs.findIndex((f) => f > fMax);
  if (hi < 0) hi = n;
  return hi - lo;
}

function fftBranchMacs(samples: number, kernel: number[], stride: number[], emb: number): number {
  let len = Math.floor(samples / 2) + 1;
  let cIn = 1;
  let macs = 0;
  for (let i = 0; i < 3; i++) {
    len = conv(len, kernel[i], stride[i]);
    macs += 128 * len * cIn * kernel[i] + seMacs(128);
    cIn = 128;
  }
  return macs + 128 * len * 128 + 4 * 128 * 128 + 128 * emb; // MLP: flatten → 128, 4 × 128 → 128, 128 → emb
}

function stftBranchMacs(samples: number, nFft: number, hop: number, emb: number): number {
  let h = stftBins(nFft);
  let w = Math.floor(samples / hop) + 1; // centred frames
  h = conv(h, 7, 2);
  w = conv(w, 7, 2);
  let macs = 16 * h * w * 49; // stem 7×7/2
  h = conv(h, 3, 2);
  w = conv(w, 3, 2); // max pool 3/2
  const stages: [number, number, number][] = [
    [16, 16, 1],
    [16, 16, 1],
    [16, 32, 2],
    [32, 32, 1],
    [32, 64, 2],
    [64, 64, 1],
    [64, 128, 2],
    [128, 128, 1],
  ];
  for (const [cIn, cOut, s] of stages) {
    const ho = conv(h, 3, s, 1);
    const wo = conv(w, 3, s, 1);
    macs += ho * wo * 9 * (cIn * cOut + cOut * cOut) + seMacs(cOut);
    if (s === 2) macs += ho * wo * cIn * cOut; // skip: max pool 3/2 (pad 1) then 1×1
    h = ho;
    w = wo;
  }
  return macs + 128 * h * emb; // max over time, then (128·F') → emb
}

/** Forward MACs per clip of `config`'s extractor at `samples` per clip. */
export function forwardMacs(config: Pick<NativeModelConfig, 'branches' | 'embedSizePerBranch'>, samples: number): number {
  const emb = config.embedSizePerBranch ?? 128;
  let macs = 0;
  for (const b of config.branches) {
    if (b.kind === 'fft') {
      if (b.dilation && b.dilation.some((d) => d !== 1)) throw new Error('forwardMacs: dilated FFT branches are not counted');
      macs += fftBranchMacs(samples, b.kernel ?? [256, 64, 16], b.stride ?? [64, 32, 4], emb);
    } else {
      macs += stftBranchMacs(samples, b.nFft, b.hopLength, emb);
    }
  }
  return macs;
}
