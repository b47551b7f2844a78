// Attentive statistics pooling (spec pretrained §4.4), the projection head of the BEATs LoRA
// recipe: tokens (B, N, D) → (B, D). Hidden width D/16. Submodule indices reproduce ASDKit's
// state-dict keys: `attention.{0,2,4}.*` (Conv1d, BatchNorm1d, Conv1d; ReLU at 1, Tanh at 3) and
// `last_layer.{0,1,2}.*` (BatchNorm1d(2D), Linear(2D → D), BatchNorm1d(D)).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace asd::nn {

class AttnStatPoolImpl : public torch::nn::Module {
 public:
  // Throws std::invalid_argument unless D is a positive multiple of 16.
  explicit AttnStatPoolImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& tokens);

  int64_t dim;
  torch::nn::Sequential attention{nullptr};
  torch::nn::Sequential last_layer{nullptr};
};
TORCH_MODULE(AttnStatPool);

}  // namespace asd::nn
