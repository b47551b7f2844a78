// ASDKit's KnnRescale backend (spec §1.5, "Keeping the balance", ICASSP 2025): k-NN over all
// training rows, each distance divided by its reference row's local density constant.
#pragma once

#include <cstdint>
#include <string>

#include "backends/backend.h"
#include "backends/distance.h"

namespace asd::backends {

struct KnnRescaleOptions {
  int64_t n_neighbors = 1;      // rescaled distances averaged per query (>= 1)
  int64_t k_ref_normalize = 4;  // neighbours behind each reference row's constant (> 0)
  Metric metric = Metric::Cosine;
  bool sep_section = false;
  int64_t memory_budget_bytes = kDefaultMemoryBudgetBytes;
};

// One section group's reference rows (normalised in cosine mode) and their constants.
struct KnnRescaleRefs {
  torch::Tensor refs;   // (R, D) float32
  torch::Tensor scale;  // (R) float64: c_j, mean distance to the k nearest other rows
};

class KnnRescale : public GroupedBackend<KnnRescaleRefs> {
 public:
  explicit KnnRescale(KnnRescaleOptions opts);
  const KnnRescaleOptions& options() const { return opts_; }

 protected:
  KnnRescaleRefs fit_group(const EmbedSet& group, const RunContext& ctx) override;
  torch::Tensor score_group(const KnnRescaleRefs& refs, const EmbedSet& group,
                            const RunContext& ctx) const override;
  torch::Tensor score_group_loo(const KnnRescaleRefs& refs, const EmbedSet& group,
                                const RunContext& ctx) const override;
  NamedTensors state_to_tensors(const KnnRescaleRefs& refs) const override;
  KnnRescaleRefs state_from_tensors(const NamedTensors& group, const std::string& where) const override;

 private:
  // The score formula for rows already in the backend's space; a defined `own` leaves ref own[i]
  // out for row i (leave-one-out; the scale constants stay as fitted).
  torch::Tensor score_rows(const KnnRescaleRefs& refs, const torch::Tensor& queries, const torch::Tensor& own,
                           const RunContext& ctx) const;
  KnnRescaleOptions opts_;
};

}  // namespace asd::backends
