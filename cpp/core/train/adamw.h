// AdamW with decoupled weight decay (PyTorch's formula, spec frontends-and-training §7.2) whose
// state is addressable by parameter name, so checkpoints can store and restore it as plain
// named tensors (`<param>.exp_avg`, `<param>.exp_avg_sq`, `<param>.step`).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace asd::train {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class AdamW {
 public:
  // All named parameters go in one group, as in the reference; those that never get a gradient
  // (frozen centres, scales) are skipped by step() and get no state.
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options);

  // One update with learning rate `lr`: θ ← θ·(1 − lr·wd), then the bias-corrected Adam step.
  void step(double lr);
  void zero_grad();

  // The state as named tensors (moments on the parameters' device, `step` as a 0-dim float64).
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Restores a state() result (values are copied onto the parameters' device). Throws
  // std::invalid_argument naming the entry on an unknown name or a shape mismatch.
  void load_state(const std::map<std::string, torch::Tensor>& state);

  // Bytes held by the moments (0 before the first step).
  int64_t state_bytes() const;

  const AdamWOptions& options() const { return options_; }

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, exp_avg, exp_avg_sq;
    int64_t step = 0;
  };
  std::vector<Slot> slots_;
  AdamWOptions options_;
};

// lr at optimiser step t (0-based) for timm's cosine schedule with linear warm-up from 0 — the
// BEATs/EAT setting — or a constant lr when warmup_steps and cosine_steps are 0 (dis_* recipes).
double scheduled_lr(double lr, int64_t t, int64_t warmup_steps, int64_t cosine_steps, double lr_min);

}  // namespace asd::train
