#include "features/kaldi_fbank.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace asd::features {
namespace {

constexpr double kSampleRate = 16000.0;
constexpr double kLowFreq = 20.0;
constexpr double kPreemphasis = 0.97;
constexpr double kPoveyPower = 0.85;

double mel_scale(double hz) { return 1127.0 * std::log(1.0 + hz / 700.0); }

}  // namespace

int64_t kaldi_num_frames(int64_t samples) {
  return samples < kKaldiWindow ? 0 : 1 + (samples - kKaldiWindow) / kKaldiShift;
}

torch::Tensor kaldi_mel_banks(int64_t bins) {
  if (bins < 1) throw std::invalid_argument("kaldi_mel_banks: bins must be >= 1, got " + std::to_string(bins));
  // The band edges are Python doubles in torchaudio; everything that involves a tensor is float32
  // (the doubles enter as float32 scalars), which is what makes the matrix bit-identical.
  const double mel_lo = mel_scale(kLowFreq);
  const double mel_hi = mel_scale(kSampleRate / 2);
  const double delta = (mel_hi - mel_lo) / static_cast<double>(bins + 1);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const torch::Tensor b = torch::arange(bins, f32).unsqueeze(1);
  const torch::Tensor left = b * delta + mel_lo;
  const torch::Tensor centre = (b + 1.0) * delta + mel_lo;
  const torch::Tensor right = (b + 2.0) * delta + mel_lo;
  const double bin_hz = kSampleRate / static_cast<double>(kKaldiFft);
  const torch::Tensor freq = torch::arange(kKaldiFft / 2, f32) * bin_hz;
  const torch::Tensor mel = ((freq / 700.0 + 1.0).log() * 1127.0).unsqueeze(0);
  const torch::Tensor up = (mel - left) / (centre - left);
  const torch::Tensor down = (right - mel) / (right - centre);
  const torch::Tensor banks = torch::clamp_min(torch::min(up, down), 0.0);
  return torch::constant_pad_nd(banks, {0, 1}, 0.0);  // Nyquist bin gets no weight
}

torch::Tensor kaldi_fbank(const torch::Tensor& wave, const KaldiFbankOptions& o) {
  if (wave.dim() != 2) {
    throw std::invalid_argument("kaldi_fbank: expected a (B, L) waveform, got " + std::to_string(wave.dim()) + " dims");
  }
  if (!wave.is_floating_point()) throw std::invalid_argument("kaldi_fbank: waveform must be floating point");
  if (wave.size(1) < kKaldiWindow) {
    throw std::invalid_argument("kaldi_fbank: need at least 400 samples, got " + std::to_string(wave.size(1)));
  }
  const torch::Tensor banks = kaldi_mel_banks(o.num_mel_bins).to(wave.device());
  torch::Tensor x = wave.to(torch::kFloat32);
  if (o.scale != 1.0) x = x * o.scale;
  if (o.subtract_clip_mean) x = x - x.mean(1, /*keepdim=*/true);

  // (B, T, 400) frames that fit entirely (snip_edges), each DC-free and pre-emphasised with its
  // first sample repeated on the left.
  torch::Tensor frames = x.unfold(1, kKaldiWindow, kKaldiShift);
  frames = frames - frames.mean(-1, /*keepdim=*/true);
  const torch::Tensor previous = torch::cat({frames.slice(-1, 0, 1), frames.slice(-1, 0, -1)}, -1);
  frames = frames - previous * kPreemphasis;

  const auto opts = frames.options();
  torch::Tensor window = torch::hann_window(kKaldiWindow, /*periodic=*/false, opts);
  if (o.window == KaldiFbankOptions::Window::kPovey) window = window.pow(kPoveyPower);
  frames = torch::constant_pad_nd(frames * window, {0, kKaldiFft - kKaldiWindow}, 0.0);

  // |X|² via abs then square (not re² + im²), as torchaudio does, to round identically.
  const torch::Tensor power = torch::fft::rfft(frames).abs().pow(2);
  const torch::Tensor energies = torch::matmul(power, banks.t());
  return torch::clamp_min(energies, std::numeric_limits<float>::epsilon()).log();
}

}  // namespace asd::features
