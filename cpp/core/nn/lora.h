// A Linear layer that can carry a LoRA adapter (spec pretrained §4.1): y = W x + b + s·B(A x) with
// A (r × in), B (out × r), s = alpha / r, no adapter biases. Used for BEATs q_proj/v_proj and
// EAT's fused qkv. State-dict keys: `weight`, `bias`, and once an adapter is added `lora_A`,
// `lora_B` (peft's `<path>.lora_A.default.weight` / `base_layer.weight` map onto these).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace asd::nn {

class LoraLinearImpl : public torch::nn::Module {
 public:
  // Initialised like torch.nn.Linear (weights are normally loaded from a checkpoint).
  LoraLinearImpl(int64_t in_features, int64_t out_features, bool bias = true);

  torch::Tensor forward(const torch::Tensor& x);

  // Adds the adapter with peft's initialisation: A ~ kaiming_uniform(a = √5) = U(±1/√in),
  // B = 0, so the layer's output is unchanged until B is trained. Throws if r < 1 or an adapter
  // is already present.
  void add_lora(int64_t r, double alpha);
  bool has_lora() const { return lora_A.defined(); }
  double scaling() const { return scaling_; }
  int64_t rank() const { return has_lora() ? lora_A.size(0) : 0; }

  int64_t in_features, out_features;
  torch::Tensor weight, bias, lora_A, lora_B;

 private:
  double scaling_ = 0.0;
};
TORCH_MODULE(LoraLinear);

// peft's freezing rule (§4.2): every parameter of `m` whose name has no `lora_` component stops
// requiring gradients; adapters stay trainable. Returns the number of frozen tensors.
int64_t freeze_all_but_lora(torch::nn::Module& m);

}  // namespace asd::nn
