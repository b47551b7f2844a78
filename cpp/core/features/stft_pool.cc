#include "features/stft_pool.h"

#include <stdexcept>

namespace asd::features {

StftOptions StftPool::raw_spec_options() {
  StftOptions o;
  o.sr = 16000;
  o.n_fft = 1024;
  o.hop_length = 512;
  o.power = 1.0;
  o.f_min = 0.0;
  o.f_max = 8000.0;
  o.n_mels = 128;
  return o;
}

StftPool::StftPool(const std::string& pool, const StftOptions& options) : stft_(options) {
  const auto sep = pool.find('_');
  const std::string axis = pool.substr(0, sep);
  const std::string agg = sep == std::string::npos ? "" : pool.substr(sep + 1);
  if ((axis != "time" && axis != "freq") || (agg != "mean" && agg != "max")) {
    throw std::invalid_argument("invalid pool \"" + pool + "\": expected time_mean, time_max, freq_mean or freq_max");
  }
  over_time_ = axis == "time";
  take_max_ = agg == "max";
}

torch::Tensor StftPool::forward(const torch::Tensor& wave) const {
  TORCH_CHECK(wave.dim() == 2, "STFTPool: expected a (B, L) wave, got ", wave.dim(), " dimensions");
  if (over_time_ && !take_max_) return stft_.forward_time_mean(wave);  // time_mean, raw_spec's default
  const torch::Tensor spec = stft_.forward(wave);  // (B, F, T)
  const int64_t axis = over_time_ ? 2 : 1;
  return take_max_ ? spec.amax(axis) : spec.mean(axis);
}

torch::Tensor StftPool::forward_subtract(const torch::Tensor& wave, const SpectralSubtraction& sub) const {
  const torch::Tensor spec = stft_.forward_subtract(wave, sub);  // (B, F, T)
  const int64_t axis = over_time_ ? 2 : 1;
  return take_max_ ? spec.amax(axis) : spec.mean(axis);
}

int64_t StftPool::dim(int64_t length) const { return over_time_ ? stft_.num_bins() : stft_.num_frames(length); }

StftPool& StftPool::to(torch::Device device) {
  stft_.to(device);
  return *this;
}

}  // namespace asd::features
