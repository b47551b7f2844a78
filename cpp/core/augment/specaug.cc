#include "augment/specaug.h"

#include <regex>
#include <stdexcept>
#include <utility>

namespace asd::augment {

namespace F = torch::nn::functional;

AxisMaskDraw draw_axis_mask(int64_t n, int64_t size, double max_width, double prob, bool iid,
                            at::Generator gen) {
  if (n < 0 || size < 0) throw std::invalid_argument("specaug: negative mask shape");
  if (!(max_width >= 0)) throw std::invalid_argument("specaug: mask width must be >= 0");
  if (!(prob >= 0.0 && prob <= 1.0)) throw std::invalid_argument("specaug: prob must be in [0, 1]");
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t m = iid ? n : 1;
  const auto v = torch::rand({m}, gen, f64) * max_width;
  const auto u = torch::rand({m}, gen, f64) * (static_cast<double>(size) - v);
  AxisMaskDraw d;
  d.width = v.to(torch::kInt64).expand({n}).contiguous();
  d.start = u.to(torch::kInt64).expand({n}).contiguous();
  d.apply = torch::rand({n}, gen, f64) < prob;
  return d;
}

torch::Tensor apply_axis_mask(const torch::Tensor& x, const AxisMaskDraw& draw, int64_t axis) {
  if (x.dim() < 2) throw std::invalid_argument("specaug: mask input needs >= 2 dims");
  const int64_t ax = axis < 0 ? axis + x.dim() : axis;
  if (ax < 1 || ax >= x.dim()) throw std::invalid_argument("specaug: bad mask axis");
  const int64_t n = x.size(0);
  if (draw.start.size(0) != n) throw std::invalid_argument("specaug: batch size mismatch");
  const auto dev = x.device();
  const auto pos = torch::arange(x.size(ax), torch::TensorOptions().dtype(torch::kInt64).device(dev));
  const auto start = draw.start.to(dev).view({n, 1});
  const auto end = start + draw.width.to(dev).view({n, 1});
  auto masked = (pos.view({1, -1}) >= start) & (pos.view({1, -1}) < end);  // (N, size)
  masked = masked & draw.apply.to(dev).view({n, 1});
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = n;
  shape[static_cast<size_t>(ax)] = x.size(ax);
  return x.masked_fill(masked.view(shape), 0);
}

torch::Tensor stft_complex(const torch::Tensor& wave, int64_t n_fft, int64_t hop,
                           const torch::Tensor& window) {
  const int64_t pad = n_fft / 2;
  const auto x = F::pad(wave.unsqueeze(1), F::PadFuncOptions({pad, pad})).squeeze(1);
  if (x.size(-1) < n_fft) throw std::invalid_argument("specaug: waveform too short for n_fft");
  const auto frames = x.unfold(-1, n_fft, hop) * window.to(x.device(), x.scalar_type());
  return torch::fft::rfft(frames, n_fft, -1).transpose(1, 2);  // (B, F, T)
}

torch::Tensor istft_complex(const torch::Tensor& spec, int64_t n_fft, int64_t hop,
                            const torch::Tensor& window, int64_t length) {
  const int64_t b = spec.size(0), t = spec.size(2);
  const auto w = window.to(spec.device(), torch::real(spec).scalar_type());
  auto frames = torch::fft::irfft(spec.transpose(1, 2), n_fft, -1) * w;  // (B, T, n_fft)
  const int64_t total = n_fft + hop * (t - 1);
  const auto fold = F::FoldFuncOptions({1, total}, {1, n_fft}).stride({1, hop});
  auto y = F::fold(frames.transpose(1, 2), fold).view({b, total});
  auto env = F::fold((w * w).view({1, n_fft, 1}).expand({1, n_fft, t}).contiguous(), fold)
                 .view({total});
  const int64_t begin = n_fft / 2;
  const int64_t end = begin + length;
  if (end > total) {
    y = F::pad(y.unsqueeze(1), F::PadFuncOptions({0, end - total})).squeeze(1);
    env = F::pad(env.view({1, 1, total}), F::PadFuncOptions({0, end - total})).view({end});
  }
  y = y.slice(1, begin, end);
  env = env.slice(0, begin, end);
  if (length > 0 && env.abs().min().item<double>() < 1e-11)
    throw std::invalid_argument("specaug: window overlap-add envelope is zero (istft)");
  return y / env;
}

SpecAug::SpecAug(SpecAugOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  if (!(o.time_width >= 0) || !(o.freq_width >= 0))
    throw std::invalid_argument("specaug: mask width must be >= 0");
  if (!(o.time_prob >= 0 && o.time_prob <= 1) || !(o.freq_prob >= 0 && o.freq_prob <= 1))
    throw std::invalid_argument("specaug: prob must be in [0, 1]");
  if (o.n_fft < 2) throw std::invalid_argument("specaug: n_fft must be >= 2");
  hop_ = o.hop.value_or(o.n_fft / 4);
  if (hop_ < 1 || hop_ > o.n_fft) throw std::invalid_argument("specaug: hop must be in [1, n_fft]");
}

torch::Tensor SpecAug::window(const torch::TensorOptions& opts) const {
  return options_.window == SpecAugWindow::Hann ? torch::hann_window(options_.n_fft, true, opts)
                                                : torch::hamming_window(options_.n_fft, true, opts);
}

torch::Tensor SpecAug::mask_spec(const torch::Tensor& spec, at::Generator gen,
                                 SpecAugDraw* draw) const {
  const auto& o = options_;
  const int64_t fdim = spec.size(-2), tdim = spec.size(-1);
  auto flat = spec.reshape({-1, fdim, tdim});
  const int64_t n = flat.size(0);
  SpecAugDraw d;
  d.time = draw_axis_mask(n, tdim, o.time_width, o.time_prob, o.iid, gen);
  flat = apply_axis_mask(flat, d.time, -1);
  d.freq = draw_axis_mask(n, fdim, o.freq_width, o.freq_prob, o.iid, gen);
  flat = apply_axis_mask(flat, d.freq, -2);
  if (draw) *draw = d;
  return flat.view(spec.sizes());
}

torch::Tensor SpecAug::augment(const torch::Tensor& x, at::Generator gen, SpecAugDraw* draw) const {
  if (!x.defined() || !x.is_floating_point())
    throw std::invalid_argument("specaug: input must be floating point");
  if (x.dim() > 2) return mask_spec(x, gen, draw);
  if (x.dim() != 2) throw std::invalid_argument("specaug: expected (B, L) or (..., F, T)");
  const auto win = window(torch::TensorOptions().dtype(x.scalar_type()).device(x.device()));
  const auto spec = stft_complex(x, options_.n_fft, hop_, win);
  const auto mag = spec.abs();
  const auto phase = torch::angle(spec);
  const auto masked = mask_spec(mag, gen, draw);
  const auto recombined = torch::polar(masked, phase);
  return istft_complex(recombined, options_.n_fft, hop_, win, x.size(1));
}

std::map<std::string, torch::Tensor> SpecAug::forward(
    const std::map<std::string, torch::Tensor>& batch, at::Generator gen, bool training) const {
  if (!training) return batch;
  std::map<std::string, torch::Tensor> out;
  for (const auto& [key, t] : batch) {
    bool match = false;
    for (const auto& p : options_.targets) match = match || std::regex_match(key, std::regex(p));
    out[key] = match ? augment(t, gen) : t;
  }
  return out;
}

}  // namespace asd::augment
