// ASDKit's Knn backend (spec §1.2): mean distance to the nearest source rows and to the nearest
// target rows, the smaller of the two wins.
#pragma once

#include <cstdint>
#include <string>

#include "backends/backend.h"
#include "backends/distance.h"

namespace asd::backends {

struct KnnOptions {
  int64_t n_neighbors_so = 1;  // source neighbours averaged (>= 1)
  int64_t n_neighbors_ta = 1;  // target neighbours averaged; <= 0 scores against source only
  Metric metric = Metric::Cosine;
  double smote_ratio = 0;       // != 0: SMOTE-oversample the target rows before fitting (§1.3)
  int64_t smote_neighbors = 2;  // SMOTE's k_neighbors
  bool sep_section = false;
  int64_t memory_budget_bytes = kDefaultMemoryBudgetBytes;  // per distance chunk
};

// Reference sets of one section group, already normalised in cosine mode.
struct KnnRefs {
  torch::Tensor source;  // (S, D) float32
  torch::Tensor target;  // (T, D) float32; undefined = source-only scoring
};

class Knn : public GroupedBackend<KnnRefs> {
 public:
  explicit Knn(KnnOptions opts);
  const KnnOptions& options() const { return opts_; }

 protected:
  KnnRefs fit_group(const EmbedSet& group, const RunContext& ctx) override;
  torch::Tensor score_group(const KnnRefs& refs, const EmbedSet& group,
                            const RunContext& ctx) const override;
  torch::Tensor score_group_loo(const KnnRefs& refs, const EmbedSet& group,
                                const RunContext& ctx) const override;
  NamedTensors state_to_tensors(const KnnRefs& refs) const override;
  KnnRefs state_from_tensors(const NamedTensors& group, const std::string& where) const override;

 private:
  // The score formula for rows already in the backend's space; a defined own_source / own_target
  // leaves ref own[i] of that set out for row i (leave-one-out).
  torch::Tensor score_rows(const KnnRefs& refs, const torch::Tensor& queries, const torch::Tensor& own_source,
                           const torch::Tensor& own_target, const RunContext& ctx) const;
  torch::Tensor oversample_target(const torch::Tensor& embed, const torch::Tensor& source_rows,
                                  const torch::Tensor& target, const RunContext& ctx) const;
  KnnOptions opts_;
};

}  // namespace asd::backends
