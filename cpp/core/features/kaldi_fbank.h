// Kaldi-compatible log-mel filterbank as torchaudio.compliance.kaldi.fbank computes it with the
// arguments BEATs and EAT use (spec pretrained §1.2–§1.4): 16 kHz, 25 ms / 10 ms frames
// (400 / 160 samples) with snip_edges, no dither, per-frame DC removal, pre-emphasis 0.97,
// symmetric povey or hanning window, FFT size 512, power spectrum, 20 Hz–Nyquist mel bins,
// log(max(E, float32 eps)). Everything runs in float32 in torchaudio's op order, so the result
// matches torchaudio up to the rounding of the BLAS/SIMD kernels in use (~1e-6 with ATen's AVX2
// kernels; its AVX512 reductions round the frame means differently, up to ~5e-4 in the log
// domain, which is also the size of the float64-vs-float32 difference).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace asd::features {

struct KaldiFbankOptions {
  enum class Window { kPovey, kHanning } window = Window::kPovey;
  double scale = 1.0;               // multiplies the waveform first (BEATs: 32768)
  bool subtract_clip_mean = false;  // subtract each row's mean over time first (EAT)
  int64_t num_mel_bins = 128;
};

constexpr int64_t kKaldiWindow = 400;  // samples per frame (25 ms)
constexpr int64_t kKaldiShift = 160;   // frame shift (10 ms)
constexpr int64_t kKaldiFft = 512;     // padded FFT size

// (B, L) float waveform at 16 kHz → (B, T, num_mel_bins) float32 log-mel, T = kaldi_num_frames(L).
// Rows are independent. Runs on the input's device. Throws std::invalid_argument for a
// non-2-D or non-floating input, L < 400, or num_mel_bins < 1.
torch::Tensor kaldi_fbank(const torch::Tensor& wave, const KaldiFbankOptions& o);

// Frames kept with snip_edges: 1 + (samples − 400) / 160, or 0 when samples < 400.
int64_t kaldi_num_frames(int64_t samples);

// The triangular mel filterbank (bins × 257) in float32, evaluated in float32 like torchaudio;
// the last (Nyquist) column is zero.
torch::Tensor kaldi_mel_banks(int64_t bins);

}  // namespace asd::features
