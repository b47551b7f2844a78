// A trained clip model (DisModel, PretrainedModel: anything with `embed(wave)`) as an
// extract::Frontend (spec frontends-and-training §8): eval mode (BN running statistics, no
// augmentation, no stochastic layers), `embed` only — the loss heads are not used at extraction.
#pragma once

#include <utility>

#include "extract/frontend.h"

namespace asd::extract {

template <class Model>
class ModelFrontend : public Frontend {
 public:
  explicit ModelFrontend(Model model) : model_(std::move(model)) {}
  Outputs forward(const torch::Tensor& wave) override {
    model_->eval();
    return {{"embed", model_->embed(wave)}};
  }
  void to(torch::Device device) override { model_->to(device); }

 private:
  Model model_;
};

}  // namespace asd::extract
