// The raw_spec frontend as an extract::Frontend: STFTPool output under the key `embed`.
#pragma once

#include "extract/frontend.h"
#include "features/stft_pool.h"

namespace asd::extract {

class StftPoolFrontend : public Frontend {
 public:
  // `both`: a (B, 2, L) wave is embedded per channel and the two embeddings concatenated
  // ([near | far], twice the width); otherwise a (B, 2, L) wave goes through `sub`.
  StftPoolFrontend(const std::string& pool, const features::StftOptions& options, bool both = false,
                   const features::SpectralSubtraction& sub = {})
      : pool_(pool, options), both_(both), sub_(sub) {}
  Outputs forward(const torch::Tensor& wave) override {
    if (wave.dim() != 3) return {{"embed", pool_.forward(wave)}};
    if (!both_) return {{"embed", pool_.forward_subtract(wave, sub_)}};
    return {{"embed", torch::cat({pool_.forward(wave.select(1, 0)), pool_.forward(wave.select(1, 1))}, 1)}};
  }
  void to(torch::Device device) override { pool_.to(device); }

 private:
  features::StftPool pool_;
  bool both_;
  features::SpectralSubtraction sub_;
};

}  // namespace asd::extract
