"""Same-run PyTorch baseline of the raw_spec extraction path for `npm run bench -- --only extract`
(bench/run.ts runs it). Plain torch, no torchaudio, written from the spec
(frontends-and-training §2.2, §2.4): zero-padded centring, torch.stft 1024/512 with a periodic
Hann window, magnitude divided by sqrt(Σw²), power 1, 128-band HTK mel filterbank over
0–8000 Hz (norm None, built in float32), mean over time.

Reads N clips of L float32 samples from --waves (raw little-endian, row-major), times whole
passes over them in batches (1 warm-up pass dropped, median of --repeats) and writes the
(N, 128) embeddings to --out for the caller to compare with its own. Prints one JSON object.

  python3 bench/reference/raw_spec.py --waves W.f32 --clips 128 --samples 160000 --out E.f32
      [--batch 64] [--threads 2] [--repeats 3]
"""
import argparse
import json
import math
import os
import statistics
import time

import torch

SR, N_FFT, HOP, N_MELS, F_MIN, F_MAX = 16000, 1024, 512, 128, 0.0, 8000.0


def htk_mel_filterbank(n_freqs: int) -> torch.Tensor:
    """(n_freqs, n_mels) triangular filters, HTK mel scale, no area normalisation (§2.2 step 7)."""
    freqs = torch.linspace(0, SR // 2, n_freqs, dtype=torch.float32)
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)  # noqa: E731
    m_pts = torch.linspace(mel(F_MIN), mel(F_MAX), N_MELS + 2, dtype=torch.float32)
    f_pts = 700.0 * (torch.pow(10.0, m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - freqs.unsqueeze(1)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0)


class RawSpec(torch.nn.Module):
    def __init__(self):
        super().__init__()
        window = torch.hann_window(N_FFT, periodic=True)
        self.register_buffer('window', window)
        self.scale = float(window.pow(2).sum().sqrt())
        self.register_buffer('fb', htk_mel_filterbank(N_FFT // 2 + 1))

    def forward(self, wave):  # (B, L) -> (B, 128)
        x = torch.nn.functional.pad(wave, (N_FFT // 2, N_FFT // 2))
        spec = torch.stft(x, N_FFT, HOP, window=self.window, center=False, return_complex=True)  # (B, F, T)
        mag = spec.abs() / self.scale
        mel = torch.matmul(mag.transpose(1, 2), self.fb)  # (B, T, 128)
        return mel.mean(dim=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--waves', required=True)
    p.add_argument('--clips', type=int, required=True)
    p.add_argument('--samples', type=int, required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--repeats', type=int, default=3)
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    waves = torch.from_file(args.waves, shared=False, size=args.clips * args.samples, dtype=torch.float32)
    waves = waves.view(args.clips, args.samples)
    model = RawSpec().eval()

    def one_pass():
        return torch.cat([model(waves[i:i + args.batch]) for i in range(0, args.clips, args.batch)])

    times = []
    with torch.inference_mode():
        emb = one_pass()  # warm-up
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            emb = one_pass()
            times.append(time.perf_counter() - t0)
    with open(args.out, 'wb') as f:  # raw float32, no numpy needed
        f.write(bytes(emb.contiguous().view(torch.uint8).view(-1).tolist()))
    t = statistics.median(times)
    print(json.dumps({
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'ldPreload': os.environ.get('LD_PRELOAD', ''),
        'median': t, 'min': min(times), 'max': max(times), 'times': times,
        'clipsPerS': args.clips / t,
    }))


if __name__ == '__main__':
    main()
