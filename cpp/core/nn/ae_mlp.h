// ASDKit's AE_MLP (spec frontends-and-training §3.2; asdkit/models/autoencoder/mlp.py): encoder
// 640→128 (×4 with BN, ReLU)→8 and decoder 8→128 (×4)→640; BatchNorm momentum 0.01, eps 1e-3.
// Module names are the reference's state-dict keys (`encoder.<i>.*`, `decoder.<i>.*`).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <utility>

namespace asd::nn {

struct AeMlpImpl : torch::nn::Module {
  AeMlpImpl(int64_t input_dim, int64_t h_dim = 128, int64_t z_dim = 8);
  // x (N, D) → (reconstruction (N, D), code (N, z)); the code is post-ReLU.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);
  torch::nn::Sequential encoder{nullptr}, decoder{nullptr};
};
TORCH_MODULE(AeMlp);

}  // namespace asd::nn
