#include "features/flatten_stft.h"

#include "features/stft_pool.h"

#include <stdexcept>
#include <string>

namespace asd::features {

StftOptions FlattenStft::ae_options() {
  StftOptions o = StftPool::raw_spec_options();  // 1024/512, 128 HTK mels 0–8000 Hz, power 1
  o.use_log = true;
  return o;
}

FlattenStft::FlattenStft(const StftOptions& options, int64_t n_frames) : stft_(options), n_frames_(n_frames) {
  if (n_frames < 1) throw std::invalid_argument("FlattenSTFT: n_frames must be >= 1");
}

torch::Tensor FlattenStft::forward(const torch::Tensor& wave) const {
  const bool pair = wave.dim() == 3 && wave.size(1) == 2;
  if (both_ && !pair) throw std::invalid_argument("FlattenSTFT: channel both takes (batch, 2, samples) input, [near, far]");
  if (wave.dim() != 2 && !pair) throw std::invalid_argument("FlattenSTFT: input must be (batch, samples) or (batch, 2, samples)");
  const int64_t samples = wave.size(-1);
  if (both_) {
    // Vector t of a clip: near's frames t … t+n−1, then far's same frames.
    return torch::cat({flatten(stft_.forward(wave.select(1, 0)), samples), flatten(stft_.forward(wave.select(1, 1)), samples)}, 1);
  }
  return flatten(pair ? stft_.forward_subtract(wave, subtract_) : stft_.forward(wave), samples);
}

torch::Tensor FlattenStft::flatten(const torch::Tensor& spec, int64_t samples) const {
  const int64_t B = spec.size(0), F = spec.size(1), T = spec.size(2);  // (B, F, T)
  const int64_t n = T - n_frames_ + 1;
  if (n <= 0) {
    throw std::invalid_argument("FlattenSTFT: a clip of " + std::to_string(samples) + " samples gives " +
                                std::to_string(T) + " frames, fewer than n_frames " + std::to_string(n_frames_));
  }
  // unfold over time: (B, F, n, n_frames) → (B, n, n_frames, F) → rows of frame-major vectors.
  return spec.unfold(2, n_frames_, 1).permute({0, 2, 3, 1}).reshape({B * n, n_frames_ * F});
}

}  // namespace asd::features
