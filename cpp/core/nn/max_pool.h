// The 3×3 stride-2 max pooling of MultiResNet's STFT branches (first layer and stride-2 skips).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace asd::nn {

// MaxPool 3×3, stride 2, the given −inf padding (0 or 1), floor mode. When no gradient is needed
// it runs a direct kernel: on the CPU at::max_pool2d always goes through max_pool2d_with_indices
// (argmax indices, a branch per element), ~35 % of a one-thread dual-branch inference batch and
// ~10× slower than this kernel. Max is exact, so the values are identical (NaN propagates the
// same way); with grad it is at::max_pool2d.
struct MaxPool3x3Impl : torch::nn::Module {
  explicit MaxPool3x3Impl(int64_t padding) : padding(padding) {}
  torch::Tensor forward(const torch::Tensor& x);
  int64_t padding;
};
TORCH_MODULE(MaxPool3x3);

}  // namespace asd::nn
