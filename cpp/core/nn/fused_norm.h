// The STFT branches' stem after its 7×7 convolution — BatchNorm, ReLU, 3×3 / stride-2 max
// pooling — on the branch's largest tensor, where ATen runs three separate passes (CPU,
// float32, channels-last). It applies to a non-affine BatchNorm (every recipe: use_bias false)
// that tracks running statistics, updates them and the batch counter as torch::nn::BatchNorm2d
// does, and runs the layers as they are for anything else (an affine BatchNorm, another device,
// dtype or layout, a channel count other than 16, a CPU without AVX-512).
// (Fusing the residual blocks' BatchNorm + ReLU the same way was measured slower than ATen's
// own vectorised passes on these CPUs, so they stay ATen's.)
#pragma once

#include <torch/torch.h>

#include "nn/max_pool.h"

namespace asd::nn {

// The stem after its 7×7 convolution: pool(relu(bn(y))) with pool = MaxPool3x3(0), computed as
// relu(bn(maxpool(y))): a non-affine BatchNorm (scale 1/σ > 0) and ReLU are non-decreasing, so
// they commute with the max (the same values; the same argmax except where rounding makes two
// inputs' normalised values equal), and normalising the pooled tensor touches a quarter of the
// elements.
// - eval: `bn` with its running statistics on the pooled tensor (any device, dtype or layout;
//   the pooling is our values-only kernel where the training kernels apply);
// - training, 16 channels: one autograd function — a pass over y for the window maxima, their
//   positions (one byte each) and the batch statistics, the normalisation on the pooled tensor,
//   and a backward that writes dL/dy in one pass plus a scatter through the argmax (ATen's
//   BatchNorm + ReLU + pool forward and backward make ~10 passes over y).
torch::Tensor bn_relu_max_pool(const torch::Tensor& y, torch::nn::BatchNorm2dImpl& bn, MaxPool3x3Impl& pool);

}  // namespace asd::nn
