#include "nn/lora.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace asd::nn {

LoraLinearImpl::LoraLinearImpl(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  if (in < 1 || out < 1) throw std::invalid_argument("LoraLinear: in/out features must be positive");
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  weight = register_parameter("weight", torch::empty({out, in}).uniform_(-bound, bound));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}).uniform_(-bound, bound));
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  auto y = torch::nn::functional::linear(x, weight, bias);
  if (!has_lora()) return y;
  // Same association as peft: B(A x), then scale.
  return y + torch::matmul(torch::matmul(x, lora_A.t()), lora_B.t()) * scaling_;
}

void LoraLinearImpl::add_lora(int64_t r, double alpha) {
  if (r < 1) throw std::invalid_argument("LoRA rank must be >= 1, got " + std::to_string(r));
  if (has_lora()) throw std::logic_error("LoraLinear already has an adapter");
  const auto opts = weight.options().requires_grad(false);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  lora_A = register_parameter("lora_A", torch::empty({r, in_features}, opts).uniform_(-bound, bound));
  lora_B = register_parameter("lora_B", torch::zeros({out_features, r}, opts));
  scaling_ = alpha / static_cast<double>(r);
}

int64_t freeze_all_but_lora(torch::nn::Module& m) {
  int64_t n = 0;
  for (auto& p : m.named_parameters(/*recurse=*/true)) {
    const std::string& name = p.key();
    const bool is_lora = name.rfind("lora_", 0) == 0 || name.find(".lora_") != std::string::npos;
    if (!is_lora) {
      p.value().set_requires_grad(false);
      ++n;
    }
  }
  return n;
}

}  // namespace asd::nn
