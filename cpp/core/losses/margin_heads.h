// Angular-margin classification heads of ASDKit (spec §5): ArcFace, AdaCos, sub-cluster AdaCos
// (SCAdaCos, the loss of most recipes) and AdaProj. Each head owns its class centres `W` and
// scale state, takes an embedding batch (B, E) and a probability target per row (B, C) —
// one-hot or soft after Mixup/FeatEx — and returns the soft-target cross-entropy.
// Device-agnostic: move a head with `->to(device)` like any torch::nn::Module.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace asd::losses {

// How per-row losses are combined (the reference's `reduction`; "mean" in every recipe).
enum class Reduction { Mean, Sum, None };

// Common interface. `forward` may update a dynamic scale (training mode only);
// `calc_logits` and the anomaly scores never do.
class MarginHead : public torch::nn::Module {
 public:
  MarginHead(int64_t n_classes, int64_t embed_dim, Reduction reduction);

  // embed (B, E), y (B, C) → scalar loss (Mean/Sum) or (B) per-row loss (None).
  virtual torch::Tensor forward(const torch::Tensor& embed, const torch::Tensor& y) = 0;

  // The reference's calc_logits (spec §5.7), (B, C): softmax over them is the head's class
  // posterior. Differentiable; does not touch the scale state.
  virtual torch::Tensor calc_logits(const torch::Tensor& embed) = 0;

  // Head-based anomaly scores (an extension: the reference scores with back-ends, §5.7),
  // computed without gradient. With targets: −Σ_c y_c · ln softmax(logits)_c (the clip's own
  // class); without: −max_c ln softmax(logits)_c (the best-matching class). (B) each.
  torch::Tensor anomaly_score(const torch::Tensor& embed);
  torch::Tensor anomaly_score(const torch::Tensor& embed, const torch::Tensor& y);

  int64_t n_classes() const { return n_classes_; }
  int64_t embed_dim() const { return embed_dim_; }

 protected:
  // Throws std::invalid_argument unless embed is (B, E) and y (when given) is (B, C).
  void check_inputs(const char* head, const torch::Tensor& embed, const torch::Tensor* y) const;
  torch::Tensor reduce(const torch::Tensor& per_row) const;

  int64_t n_classes_;
  int64_t embed_dim_;
  Reduction reduction_;
};

struct ArcFaceOptions {
  int64_t n_classes = 0;
  int64_t embed_dim = 0;
  double m = 0.5;
  double s = 64.0;
  bool trainable = false;
  double eps = 1e-7;
  Reduction reduction = Reduction::Mean;
};

// logits s·cos(θ + m) on every column (not only the target — the reference's variant).
class ArcFace : public MarginHead {
 public:
  explicit ArcFace(const ArcFaceOptions& opts);
  torch::Tensor forward(const torch::Tensor& embed, const torch::Tensor& y) override;
  torch::Tensor calc_logits(const torch::Tensor& embed) override;

  torch::Tensor W;  // (E, C); requires grad iff trainable

 private:
  ArcFaceOptions opts_;
};

struct AdaCosOptions {
  int64_t n_classes = 0;
  int64_t embed_dim = 0;
  bool trainable = false;
  bool dynamic = true;  // reference default; every recipe sets false
  double eps = 1e-7;
  Reduction reduction = Reduction::Mean;
};

// z = s·cos with s = √2·ln(C − 1), re-estimated per training forward when dynamic.
class AdaCos : public MarginHead {
 public:
  explicit AdaCos(const AdaCosOptions& opts);
  torch::Tensor forward(const torch::Tensor& embed, const torch::Tensor& y) override;
  torch::Tensor calc_logits(const torch::Tensor& embed) override;
  // A plain attribute in the reference, not a parameter: not part of the state dict.
  double s() const { return s_; }

  torch::Tensor W;  // (E, C)

 private:
  torch::Tensor cosine(const torch::Tensor& embed) const;
  AdaCosOptions opts_;
  double s_;
};

struct SCAdaCosOptions {
  int64_t n_classes = 0;
  int64_t embed_dim = 0;
  int64_t n_subclusters = 16;
  bool trainable = false;
  bool dynamic = false;  // every recipe sets false
  double eps = 1e-7;
  Reduction reduction = Reduction::Mean;
};

// Class c owns columns c·K … c·K+K−1 of W; its probability is the sum of their softmax
// entries over all C·K columns; loss −Σ_c y_c ln P_c.
class SCAdaCos : public MarginHead {
 public:
  explicit SCAdaCos(const SCAdaCosOptions& opts);
  torch::Tensor forward(const torch::Tensor& embed, const torch::Tensor& y) override;
  // ln P (B, C).
  torch::Tensor calc_logits(const torch::Tensor& embed) override;
  int64_t n_subclusters() const { return opts_.n_subclusters; }

  torch::Tensor W;  // (E, C·K)
  torch::Tensor s;  // 0-dim non-trainable parameter: checkpointed, updated in place if dynamic

 private:
  torch::Tensor cosine(const torch::Tensor& embed) const;
  torch::Tensor log_class_probs(const torch::Tensor& cos) const;
  SCAdaCosOptions opts_;
};

struct AdaProjOptions {
  int64_t n_classes = 0;
  int64_t embed_dim = 0;
  int64_t subspace_dim = 32;
  bool trainable = false;
  bool dynamic = false;
  double eps = 1e-7;
  Reduction reduction = Reduction::Mean;
};

// Each class is the span of D unit (not orthonormalised) vectors; cos = cosine between the
// embedding and its projection onto that span.
class AdaProj : public MarginHead {
 public:
  explicit AdaProj(const AdaProjOptions& opts);
  torch::Tensor forward(const torch::Tensor& embed, const torch::Tensor& y) override;
  // ln softmax(s·cos) (B, C).
  torch::Tensor calc_logits(const torch::Tensor& embed) override;

  torch::Tensor W;  // (C, D, E)
  torch::Tensor s;  // 0-dim non-trainable parameter

 private:
  torch::Tensor cosine(const torch::Tensor& embed) const;
  AdaProjOptions opts_;
};

}  // namespace asd::losses
