#include "features/stft.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>

#include "common/runtime.h"
#include "features/fftw_magnitude.h"
#include "features/stft_avx512.h"

namespace asd::features {
namespace {

// |z| of bins [begin, end) of the last axis of a contiguous complex64 CPU tensor, as float32
// (..., end - begin). at::abs on a complex tensor goes through a complex-typed temporary and a
// copy (three passes where this is one, and the linear branch skips the dropped bins);
// sqrt(re² + im²) differs from its hypot by at most an ulp. Other dtypes/devices: at::abs.
torch::Tensor magnitude(const torch::Tensor& z, int64_t begin, int64_t end) {
  if (!z.device().is_cpu() || z.scalar_type() != torch::kComplexFloat || !z.is_contiguous() || z.dim() == 0) {
    return z.narrow(-1, begin, end - begin).abs();
  }
  const int64_t n = z.size(-1), width = end - begin, rows = n > 0 ? z.numel() / n : 0;
  std::vector<int64_t> shape = z.sizes().vec();
  shape.back() = width;
  torch::Tensor out = torch::empty(shape, z.options().dtype(torch::kFloat32));
  const float* in = reinterpret_cast<const float*>(z.data_ptr<c10::complex<float>>());
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, width)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* zi = in + 2 * (r * n + begin);
      float* oi = o + r * width;
      for (int64_t k = 0; k < width; ++k) {
        const float re = zi[2 * k], im = zi[2 * k + 1];
        oi[k] = std::sqrt(re * re + im * im);
      }
    }
  });
  return out;
}

constexpr double kLogEps = 2.220446049250313e-16;  // float64 machine epsilon, as the reference

double hz_to_mel(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }

// Bin centre frequencies exactly as the reference builds them: float32 linspace(0, sr//2, n).
torch::Tensor bin_frequencies(int64_t sr, int64_t n_freqs) {
  return torch::linspace(0.0, static_cast<double>(sr / 2), n_freqs, torch::kFloat32);
}

// torchaudio.functional.melscale_fbanks(mel_scale="htk", norm=None), reproduced op by op in
// float32 so the weights round the same way: (n_freqs, n_mels).
torch::Tensor htk_mel_filterbank(int64_t sr, int64_t n_freqs, double f_min, double f_max, int64_t n_mels) {
  const torch::Tensor all_freqs = bin_frequencies(sr, n_freqs);
  const torch::Tensor m_pts = torch::linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2, torch::kFloat32);
  const torch::Tensor f_pts = 700.0 * (torch::pow(10.0, m_pts / 2595.0) - 1.0);
  const torch::Tensor f_diff = f_pts.slice(0, 1) - f_pts.slice(0, 0, -1);
  const torch::Tensor slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1);
  const torch::Tensor down = (-1.0 * slopes.slice(1, 0, -2)) / f_diff.slice(0, 0, -1);
  const torch::Tensor up = slopes.slice(1, 2) / f_diff.slice(0, 1);
  return torch::clamp_min(torch::min(down, up), 0.0);
}

}  // namespace

Stft::Stft(const StftOptions& options) : options_(options) {
  const auto& o = options_;
  if (o.sr <= 0 || o.n_fft <= 0 || o.hop_length <= 0) {
    throw std::invalid_argument("STFT: sr, n_fft and hop_length must be positive");
  }
  if (!(o.power > 0.0)) throw std::invalid_argument("STFT: power must be positive");

  // Folding the 1/sqrt(Σw²) normalisation into the window is exact up to rounding, since the
  // FFT is linear, and saves a pass over the complex spectrum.
  const torch::Tensor hann = torch::hann_window(o.n_fft, /*periodic=*/true, torch::kFloat32);
  window_ = hann / hann.pow(2).sum().sqrt();

  const int64_t n_freqs = o.n_fft / 2 + 1;
  if (o.n_mels) {
    if (*o.n_mels <= 0) throw std::invalid_argument("STFT: n_mels must be positive");
    const double f_min = o.f_min.value_or(0.0);
    const double f_max = o.f_max.value_or(static_cast<double>(o.sr / 2));
    if (!(f_min >= 0.0 && f_min < f_max)) {
      throw std::invalid_argument("STFT: mel band needs 0 <= f_min < f_max, got " + std::to_string(f_min) + "–" +
                                  std::to_string(f_max) + " Hz");
    }
    filterbank_ = htk_mel_filterbank(o.sr, n_freqs, f_min, f_max, *o.n_mels);
    bin_end_ = n_freqs;
  } else {
    // Left/right search-sort of the float32 grid: keep bins with f_min <= freq <= f_max.
    const torch::Tensor freqs = bin_frequencies(o.sr, n_freqs);
    const float* f = freqs.data_ptr<float>();
    bin_begin_ = 0;
    bin_end_ = n_freqs;
    if (o.f_min) {
      const float lo = static_cast<float>(*o.f_min);
      while (bin_begin_ < n_freqs && f[bin_begin_] < lo) ++bin_begin_;
    }
    if (o.f_max) {
      const float hi = static_cast<float>(*o.f_max);
      bin_end_ = 0;
      while (bin_end_ < n_freqs && f[bin_end_] <= hi) ++bin_end_;
    }
    if (bin_end_ <= bin_begin_) throw std::invalid_argument("STFT: no frequency bin lies in [f_min, f_max]");
  }
}

Stft& Stft::to(torch::Device device) {
  window_ = window_.to(device);
  if (filterbank_.defined()) filterbank_ = filterbank_.to(device);
  return *this;
}

int64_t Stft::num_bins() const { return options_.n_mels ? *options_.n_mels : bin_end_ - bin_begin_; }

int64_t Stft::num_frames(int64_t length) const {
  return 1 + (length + 2 * (options_.n_fft / 2) - options_.n_fft) / options_.hop_length;
}

torch::Tensor Stft::forward(const torch::Tensor& wave) const {
  TORCH_CHECK(wave.dim() == 1 || wave.dim() == 2, "STFT: expected a (B, L) or (L) wave, got ", wave.dim(),
              " dimensions");
  TORCH_CHECK(wave.is_floating_point(), "STFT: expected a floating-point wave");
  const torch::Tensor x = wave.dim() == 1 ? wave.unsqueeze(0) : wave;
  torch::Tensor y;
  if (use_fast(x)) {
    y = fast_stft_magnitude(x.contiguous(), window_, options_.hop_length, bin_begin_, bin_end_, /*time_mean=*/false);
    finish_spectrogram(y);
    return wave.dim() == 1 ? y.squeeze(0) : y;
  }
  const int64_t batch = x.size(0);

  // On the CPU, a whole batch's frames (64 × 10 s at n_fft 1024 = 82 MB, the complex spectrum
  // as much again) fall out of cache and cost fresh page faults per op; slices whose frames fit
  // in ~8 MB ran 2–3× faster. Every step is per clip, so slicing changes no value. A GPU gets
  // the whole batch in one pass.
  int64_t chunk = batch;
  if (x.device().is_cpu()) {
    const int64_t frame_elems = num_frames(x.size(1)) * options_.n_fft;
    chunk = std::max<int64_t>(1, (int64_t{1} << 21) / std::max<int64_t>(1, frame_elems));
  }
  if (chunk >= batch) {
    y = forward_batch(x).contiguous();
  } else {
    // Each slice's (F, T) transpose is copied straight into its rows of the output: no
    // per-slice contiguous copy and no concatenation pass.
    for (int64_t start = 0; start < batch; start += chunk) {
      const torch::Tensor part = forward_batch(x.narrow(0, start, std::min(chunk, batch - start)));
      if (!y.defined()) y = torch::empty({batch, part.size(1), part.size(2)}, part.options());
      y.narrow(0, start, part.size(0)).copy_(part);
    }
  }
  return wave.dim() == 1 ? y.squeeze(0) : y;
}

torch::Tensor Stft::forward_time_mean(const torch::Tensor& wave) const {
  const auto& o = options_;
  if (o.use_log || o.temporal_norm || wave.dim() != 2) return forward(wave).mean(-1);
  if (o.power == 1.0 && use_fast(wave)) {
    torch::Tensor m = fast_stft_magnitude(wave.contiguous(), window_, o.hop_length, bin_begin_, bin_end_, /*time_mean=*/true);
    return filterbank_.defined() ? torch::matmul(m, filterbank_.to(m.options())) : m;
  }
  const int64_t batch = wave.size(0);
  const int64_t pad = o.n_fft / 2;
  // Per-clip slices as in forward() (frames of a whole batch fall out of cache).
  int64_t chunk = batch;
  if (wave.device().is_cpu()) {
    const int64_t frame_elems = num_frames(wave.size(1)) * o.n_fft;
    chunk = std::max<int64_t>(1, (int64_t{1} << 21) / std::max<int64_t>(1, frame_elems));
  }
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < batch; start += chunk) {
    const torch::Tensor x = wave.narrow(0, start, std::min(chunk, batch - start));
    const torch::Tensor frames = torch::constant_pad_nd(x, {pad, pad}, 0.0).unfold(-1, o.n_fft, o.hop_length);
    torch::Tensor y = magnitude(torch::fft::rfft(frames * window_.to(x.options())), bin_begin_, bin_end_);
    if (o.power != 1.0) y = y.pow(o.power);
    parts.push_back(y.mean(1));  // (chunk, bins): mean over T
  }
  torch::Tensor m = parts.size() == 1 ? parts[0] : torch::cat(parts);
  if (filterbank_.defined()) m = torch::matmul(m, filterbank_.to(m.options()));  // (B, n_mels)
  return m;
}

bool Stft::use_fast(const torch::Tensor& x) const {
  return cpu_fast_stft() && x.dim() == 2 && x.is_cpu() && x.scalar_type() == torch::kFloat32 &&
         fast_stft_supported(options_.n_fft);
}

// The steps after the magnitude, on a (B, F, T) magnitude spectrogram (a fresh tensor or view).
void Stft::finish_spectrogram(torch::Tensor& y) const {
  const auto& o = options_;
  if (o.power != 1.0) y.pow_(o.power);
  if (filterbank_.defined()) y = torch::matmul(filterbank_.to(y.options()).t(), y);  // (B, n_mels, T)
  if (o.use_log) y = torch::clamp_min(y, kLogEps).log10_().mul_(20.0 / o.power);
  if (o.temporal_norm) y = y - y.mean(-1, /*keepdim=*/true);
}

torch::Tensor Stft::forward_batch(const torch::Tensor& x) const {
  const auto& o = options_;
  const auto opts = x.options();
  const int64_t pad = o.n_fft / 2;
  const torch::Tensor frames = torch::constant_pad_nd(x, {pad, pad}, 0.0).unfold(-1, o.n_fft, o.hop_length);
  const torch::Tensor spec = torch::fft::rfft(frames * window_.to(opts));  // (B, T, n_fft/2+1)
  // The linear branch only takes the magnitude of the kept bins.
  torch::Tensor y = magnitude(spec, bin_begin_, bin_end_).transpose(1, 2);  // (B, F, T)
  finish_spectrogram(y);
  return y;
}

torch::Tensor Stft::forward_subtract(const torch::Tensor& wave, const SpectralSubtraction& sub) const {
  TORCH_CHECK(wave.dim() == 3 && wave.size(1) == 2, "STFT: spectral subtraction needs a (B, 2, L) wave, got ",
              wave.sizes());
  TORCH_CHECK(wave.is_floating_point(), "STFT: expected a floating-point wave");
  const auto& o = options_;
  const auto opts = wave.options();
  const int64_t pad = o.n_fft / 2;
  // The same framing, window and kept bins as forward(), once per channel: (B, bins, T).
  auto linear = [&](const torch::Tensor& x) {
    if (use_fast(x)) return fast_stft_magnitude(x.contiguous(), window_, o.hop_length, bin_begin_, bin_end_, false);
    const torch::Tensor frames = torch::constant_pad_nd(x, {pad, pad}, 0.0).unfold(-1, o.n_fft, o.hop_length);
    return magnitude(torch::fft::rfft(frames * window_.to(opts)), bin_begin_, bin_end_).transpose(1, 2);
  };
  const torch::Tensor near = linear(wave.select(1, 0));
  const torch::Tensor far = linear(wave.select(1, 1));
  torch::Tensor y = torch::max(near - sub.alpha * far, sub.floor * near);
  finish_spectrogram(y);
  return y.contiguous();
}

torch::Tensor fft_magnitude(const torch::Tensor& wave) {
  TORCH_CHECK(wave.dim() == 1 || wave.dim() == 2, "FFT: expected a (B, L) or (L) wave, got ", wave.dim(),
              " dimensions");
  if (cpu_fast_stft()) {
    const torch::Tensor m = fftw_magnitude(wave);
    if (m.defined()) return m;
  }
  const torch::Tensor spec = torch::fft::rfft(wave);
  return magnitude(spec, 0, spec.size(-1));
}

}  // namespace asd::features
