// The squeeze-and-excitation gate applied in training: out = base + h · s(h), with
// s = sigmoid(W2 · relu(W1 · mean(h))) per (clip, channel) and mean over every axis after the
// channels. ATen's autograd makes about six passes over h-sized tensors in the backward (the
// gate product, its spatial sum, the mean's expanded gradient, its division and the
// accumulation into h's gradient); this autograd function makes two: Σ g·h per channel, then
// dL/dh = g·s + dL/dmean / S in one write.
// It applies on AVX-512 CPUs to float32 h that is planar-contiguous (B, C, ...) or channels-last
// (B, C, H, W), with bias-free linears; anything else runs the ATen composite it replaces.
#pragma once

#include <torch/torch.h>

namespace asd::nn {

// base (undefined: none) + h · sigmoid(relu(mean(h) · W1ᵀ) · W2ᵀ) broadcast over h's spatial
// axes. W1: (C/r, C), W2: (C, C/r). Differentiable in base, h, W1 and W2.
torch::Tensor se_gate(const torch::Tensor& base, const torch::Tensor& h, const torch::Tensor& w1,
                      const torch::Tensor& w2);

// The ATen composite (the reference the fused path is tested against, and the fallback).
torch::Tensor se_gate_reference(const torch::Tensor& base, const torch::Tensor& h, const torch::Tensor& w1,
                                const torch::Tensor& w2);

}  // namespace asd::nn
