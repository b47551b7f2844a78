#include "nn/ae_mlp.h"

#include <stdexcept>

namespace asd::nn {

namespace tnn = torch::nn;

namespace {
// [Linear, BN(momentum 0.01, eps 1e-3), ReLU] appended to `s`.
void block(tnn::Sequential& s, int64_t in, int64_t out) {
  s->push_back(tnn::Linear(in, out));
  s->push_back(tnn::BatchNorm1d(tnn::BatchNormOptions(out).momentum(0.01).eps(1e-3)));
  s->push_back(tnn::ReLU());
}
}  // namespace

AeMlpImpl::AeMlpImpl(int64_t input_dim, int64_t h_dim, int64_t z_dim) {
  if (input_dim <= 0 || h_dim <= 0 || z_dim <= 0) throw std::invalid_argument("AE_MLP: dimensions must be positive");
  tnn::Sequential enc, dec;
  block(enc, input_dim, h_dim);
  for (int i = 0; i < 3; ++i) block(enc, h_dim, h_dim);
  block(enc, h_dim, z_dim);
  block(dec, z_dim, h_dim);
  for (int i = 0; i < 3; ++i) block(dec, h_dim, h_dim);
  dec->push_back(tnn::Linear(h_dim, input_dim));
  encoder = register_module("encoder", enc);
  decoder = register_module("decoder", dec);
}

std::pair<torch::Tensor, torch::Tensor> AeMlpImpl::forward(const torch::Tensor& x) {
  auto z = encoder->forward(x);
  return {decoder->forward(z), z};
}

}  // namespace asd::nn
