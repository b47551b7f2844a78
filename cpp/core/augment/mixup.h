// Mixup on the batch dict (ASDKit `Mixup`, spec frontends-and-training §6.1 and §5.6):
// per-sample λ ~ U(0,1), one batch permutation π, per-sample Bernoulli(prob) selection d;
//   t'_b = d_b·(λ_b·t_b + (1−λ_b)·t_{π(b)}) + (1−d_b)·t_b
// applied with the same draws to the waveform and to every label tensor.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace asd::augment {

// One batch's draws, all on the CPU: lambda (B) float64, perm (B) int64, mixed (B) bool.
struct MixupDraw {
  torch::Tensor lambda;
  torch::Tensor perm;
  torch::Tensor mixed;
};

// Draws in the reference order: λ (B uniforms), π (randperm B), d (B uniforms < prob).
// Throws std::invalid_argument for batch < 0 or prob outside [0, 1].
MixupDraw draw_mixup(int64_t batch, double prob, at::Generator gen);

// Applies one draw to a floating tensor whose first axis is the batch (any device/dtype).
// Rows with mixed = false are returned bit-exactly. Throws std::invalid_argument for a
// non-floating tensor or a batch-size mismatch.
torch::Tensor apply_mixup(const torch::Tensor& t, const MixupDraw& draw);

using Batch = std::map<std::string, torch::Tensor>;

class Mixup {
 public:
  // `targets`: full-match regular expressions on batch keys (default `wave`, `onehot_.*`).
  explicit Mixup(double prob = 0.5,
                 std::vector<std::string> targets = {"wave", "onehot_.*"});

  // Training mode: one draw per call, applied to every matching key (other keys copied
  // through untouched). Eval mode: the batch is returned unchanged and nothing is drawn.
  // `last_draw` (optional) receives the draw used. Throws std::invalid_argument when the
  // matching tensors disagree on the batch size.
  Batch forward(const Batch& batch, at::Generator gen, bool training = true,
                MixupDraw* last_draw = nullptr) const;

  double prob() const { return prob_; }
  bool is_target(const std::string& key) const;

 private:
  double prob_;
  std::vector<std::string> targets_;
};

}  // namespace asd::augment
