#include "nn/attn_stat_pool.h"

#include <stdexcept>
#include <string>

namespace asd::nn {

namespace tnn = torch::nn;

AttnStatPoolImpl::AttnStatPoolImpl(int64_t d) : dim(d) {
  if (d < 16 || d % 16 != 0)
    throw std::invalid_argument("AttnStatPool: dim must be a positive multiple of 16, got " + std::to_string(d));
  const int64_t hidden = d / 16;
  attention = register_module("attention", tnn::Sequential(tnn::Conv1d(tnn::Conv1dOptions(3 * d, hidden, 1)),
                                                           tnn::ReLU(), tnn::BatchNorm1d(hidden), tnn::Tanh(),
                                                           tnn::Conv1d(tnn::Conv1dOptions(hidden, d, 1))));
  last_layer = register_module("last_layer",
                               tnn::Sequential(tnn::BatchNorm1d(2 * d), tnn::Linear(2 * d, d), tnn::BatchNorm1d(d)));
}

torch::Tensor AttnStatPoolImpl::forward(const torch::Tensor& tokens) {
  if (tokens.dim() != 3 || tokens.size(2) != dim)
    throw std::invalid_argument("AttnStatPool: expected (B, N, " + std::to_string(dim) + ") tokens");
  const torch::Tensor x = tokens.transpose(1, 2);  // (B, D, N)
  const int64_t n = x.size(2);
  // Global context: each frame sees the clip's mean and (unbiased, floored) std.
  const torch::Tensor mean = x.mean(2, /*keepdim=*/true);
  const torch::Tensor std = x.var(2, /*unbiased=*/true, /*keepdim=*/true).clamp_min(1e-4).sqrt();
  const torch::Tensor g = torch::cat({x, mean.expand({-1, -1, n}), std.expand({-1, -1, n})}, 1);
  const torch::Tensor w = torch::softmax(attention->forward(g), 2);  // per-channel weights over tokens
  const torch::Tensor mu = (x * w).sum(2);
  const torch::Tensor sg = ((x * x * w).sum(2) - mu * mu).clamp_min(1e-4).sqrt();
  return last_layer->forward(torch::cat({mu, sg}, 1));
}

}  // namespace asd::nn
