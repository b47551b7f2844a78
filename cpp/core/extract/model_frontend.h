// A trained DisModel as an extract::Frontend (spec frontends-and-training §8): eval mode (BN
// running statistics, no augmentation), `embed` only — the heads are not used at extraction.
#pragma once

#include "extract/frontend.h"
#include "train/dis_model.h"

namespace asd::extract {

class ModelFrontend : public Frontend {
 public:
  explicit ModelFrontend(train::DisModel model) : model_(std::move(model)) {}
  Outputs forward(const torch::Tensor& wave) override {
    model_->eval();
    return {{"embed", model_->embed(wave)}};
  }
  void to(torch::Device device) override { model_->to(device); }

 private:
  train::DisModel model_;
};

}  // namespace asd::extract
