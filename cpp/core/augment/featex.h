// FeatEx feature exchange (ASDKit `FeatEx`, spec frontends-and-training §6.3): the embedding
// (B, E) is split into n = E / subspace consecutive sub-embeddings; a Bernoulli(prob) subset of
// rows takes sub-embedding i from row π_i(b) (π_0 = identity), and each label (B, C) becomes
// (B, (n+1)·C): [y_b, 0, …, 0] for kept rows, [0, y_{π_0(b)}/n, …, y_{π_{n−1}(b)}/n] for
// exchanged rows. The FeatEx head itself lives with the losses.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace asd::augment {

// CPU draws: exchanged (B) bool; perms: n permutations (B) int64, perms[0] = identity.
struct FeatExDraw {
  torch::Tensor exchanged;
  std::vector<torch::Tensor> perms;
};

// Reference order: d (B uniforms < prob; all false when !training, but drawn anyway), then
// π_1 … π_{n−1} (randperm B each). Throws std::invalid_argument for batch < 0, n < 1 or
// prob outside [0, 1].
FeatExDraw draw_featex(int64_t batch, int64_t n, double prob, bool training, at::Generator gen);

// e'_b = exchanged_b ? concat_i e_{π_i(b)}[i-th slice] : e_b. Differentiable w.r.t. e.
torch::Tensor exchange_embedding(const torch::Tensor& embed, const FeatExDraw& draw);

// (B, C) floating labels → (B, (n+1)·C) as above; row sums are preserved.
torch::Tensor extend_labels(const torch::Tensor& labels, const FeatExDraw& draw);

struct FeatExOutput {
  torch::Tensor embed;                          // e'
  std::map<std::string, torch::Tensor> labels;  // extended labels for each onehot_* key
  FeatExDraw draw;
};

class FeatEx {
 public:
  // Throws std::invalid_argument for prob outside [0, 1] or subspace_embed_size < 1.
  explicit FeatEx(double prob = 0.5, int64_t subspace_embed_size = 128);

  // embed (B, E) with E a multiple of subspace_embed_size; labels: the batch's label tensors
  // (only keys fully matching `onehot_.*` are extended, others are ignored).
  FeatExOutput forward(const torch::Tensor& embed,
                       const std::map<std::string, torch::Tensor>& labels, at::Generator gen,
                       bool training = true) const;

  double prob() const { return prob_; }
  int64_t subspace_embed_size() const { return subspace_; }

 private:
  double prob_;
  int64_t subspace_;
};

}  // namespace asd::augment
