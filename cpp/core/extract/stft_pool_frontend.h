// The raw_spec frontend as an extract::Frontend: STFTPool output under the key `embed`.
#pragma once

#include "extract/frontend.h"
#include "features/stft_pool.h"

namespace asd::extract {

class StftPoolFrontend : public Frontend {
 public:
  StftPoolFrontend(const std::string& pool, const features::StftOptions& options) : pool_(pool, options) {}
  Outputs forward(const torch::Tensor& wave) override { return {{"embed", pool_.forward(wave)}}; }
  void to(torch::Device device) override { pool_.to(device); }

 private:
  features::StftPool pool_;
};

}  // namespace asd::extract
