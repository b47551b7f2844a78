// The 3×3 stride-2 max pooling of MultiResNet's STFT branches (first layer and stride-2 skips).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace asd::nn {

// MaxPool 3×3, stride 2, the given −inf padding (0 or 1), floor mode. On contiguous float32 CPU
// input it runs direct kernels: on the CPU at::max_pool2d always goes through
// max_pool2d_with_indices (int64 argmax indices, a branch per element), ~35 % of a one-thread
// dual-branch inference batch and ~10× slower. Without grad: values only. With grad: a custom
// autograd function that records a one-byte argmax per output and scatters the gradient through
// it; it picks the element ATen picks (first maximum in row-major order, or the last NaN), so
// values and input gradients are bit-identical to max_pool2d's. Its backward under create_graph
// is ATen's differentiable one on the same indices. Anything else is at::max_pool2d, including
// channels-last input (the STFT branches on the CPU), for which ATen's kernel is vectorised over
// the channels and faster than these.
struct MaxPool3x3Impl : torch::nn::Module {
  explicit MaxPool3x3Impl(int64_t padding) : padding(padding) {}
  torch::Tensor forward(const torch::Tensor& x);
  int64_t padding;
};
TORCH_MODULE(MaxPool3x3);

}  // namespace asd::nn
