// ASDKit's FlattenSTFT (spec frontends-and-training §3.1): a log-mel spectrogram (B, F, T) turned
// into T − n + 1 vectors per clip of n consecutive frames, frame-major ([frame t | frame t+1 | …]),
// clip 0's vectors first: (B·(T − n + 1), F·n); channel both: (B·(T − n + 1), 2·F·n).
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "features/stft.h"

namespace asd::features {

class FlattenStft {
 public:
  // `options` default: the AE's STFT (1024/512, 128 HTK mels 0–8000 Hz, power 1, log).
  explicit FlattenStft(const StftOptions& options = ae_options(), int64_t n_frames = 5);
  static StftOptions ae_options();

  // wave (B, L) → (B·n_vectors, dim()); a (B, 2, L) = [near, far] wave goes through the spectral
  // subtraction set by set_subtraction, or with set_both(true) gives each channel's vector side by
  // side ([near vector | far vector], the same frames; then only (B, 2, L) is taken). Throws
  // std::invalid_argument when a clip has fewer than n_frames frames.
  torch::Tensor forward(const torch::Tensor& wave) const;
  int64_t n_vectors(int64_t length) const { return stft_.num_frames(length) - n_frames_ + 1; }
  int64_t dim() const { return stft_.num_bins() * n_frames_ * (both_ ? 2 : 1); }
  int64_t n_frames() const { return n_frames_; }
  void set_subtraction(const SpectralSubtraction& sub) { subtract_ = sub; }
  void set_both(bool both) { both_ = both; }
  bool both() const { return both_; }
  Stft& stft() { return stft_; }
  const Stft& stft() const { return stft_; }

 private:
  Stft stft_;
  int64_t n_frames_;
  SpectralSubtraction subtract_;
  bool both_ = false;

  torch::Tensor flatten(const torch::Tensor& spec, int64_t samples) const;
};

}  // namespace asd::features
