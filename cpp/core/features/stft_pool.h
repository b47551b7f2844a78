// STFTPool, the non-trainable frontend of the raw_spec recipe (spec backends-recipes-outputs
// §2.2): a 128-band mel magnitude spectrogram pooled over time or frequency.
#pragma once

#include <torch/torch.h>

#include <string>

#include "features/stft.h"

namespace asd::features {

class StftPool {
 public:
  // raw_spec's spectrogram: n_fft 1024, hop 512, 128 HTK mels over 0–8000 Hz, power 1,
  // no log, no temporal norm.
  static StftOptions raw_spec_options();

  // `pool` is "<axis>_<agg>", axis time|freq, agg mean|max; anything else throws
  // std::invalid_argument.
  explicit StftPool(const std::string& pool = "time_mean", const StftOptions& options = raw_spec_options());

  // (B, L) → (B, dim): dim = n_mels for time pooling, T = 1 + L/hop for frequency pooling.
  torch::Tensor forward(const torch::Tensor& wave) const;
  // (B, 2, L) = [near, far] → (B, dim): the same pooling over Stft::forward_subtract.
  torch::Tensor forward_subtract(const torch::Tensor& wave, const SpectralSubtraction& sub) const;

  // Embedding width for clips of `length` samples.
  int64_t dim(int64_t length) const;

  StftPool& to(torch::Device device);
  const Stft& stft() const { return stft_; }

 private:
  Stft stft_;
  bool over_time_ = true;  // reduce the T axis (else the frequency axis)
  bool take_max_ = false;  // max instead of mean
};

}  // namespace asd::features
