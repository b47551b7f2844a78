// ASDKit's Kmeans backend (spec §1.4): distance to the k-means centres of the source rows and
// to every target row. The clustering follows scikit-learn's KMeans(n_clusters, random_state=0)
// recipe (greedy k-means++, Lloyd, relative tol) with the MT19937 port as its random stream;
// bit parity with scikit-learn is not a goal (the spec says it is not achievable).
#pragma once

#include <cstdint>
#include <string>

#include "backends/backend.h"
#include "backends/distance.h"

namespace asd::backends {

struct KmeansFitOptions {
  int64_t n_init = 1;     // runs from successive k-means++ draws; the lowest inertia wins
  int64_t max_iter = 300;
  double tol = 1e-4;      // times the mean per-feature variance of the data
  uint32_t seed = 0;
  int64_t memory_budget_bytes = kDefaultMemoryBudgetBytes;
};

struct KmeansOptions {
  int64_t n_clusters = 16;
  Metric metric = Metric::Cosine;
  bool sep_section = false;
  KmeansFitOptions fit;
};

// (n_clusters, D) float32 centres of x (rows, D) on x's device. Throws when x has fewer rows
// than clusters ("n_samples=… should be >= n_clusters=…").
torch::Tensor kmeans_fit(const torch::Tensor& x, int64_t n_clusters, const KmeansFitOptions& opts,
                         const RunContext& ctx);

// The Kmeans score of raw query rows against a given centre set (spec §1.4): cosine —
// queries normalised, min squared distance / 2; euclid — min distance. (rows) float64.
torch::Tensor kmeans_score(const torch::Tensor& queries, const torch::Tensor& centers,
                           Metric metric, const RunContext& ctx,
                           int64_t memory_budget_bytes = kDefaultMemoryBudgetBytes);

struct KmeansCenters {
  torch::Tensor centers;  // (n_clusters + T, D) float32: source centres, then the target rows
};

class Kmeans : public GroupedBackend<KmeansCenters> {
 public:
  explicit Kmeans(KmeansOptions opts);
  const KmeansOptions& options() const { return opts_; }

 protected:
  KmeansCenters fit_group(const EmbedSet& group, const RunContext& ctx) override;
  torch::Tensor score_group(const KmeansCenters& state, const EmbedSet& group,
                            const RunContext& ctx) const override;
  torch::Tensor score_group_loo(const KmeansCenters& state, const EmbedSet& group,
                                const RunContext& ctx) const override;
  NamedTensors state_to_tensors(const KmeansCenters& state) const override;
  KmeansCenters state_from_tensors(const NamedTensors& group, const std::string& where) const override;

 private:
  KmeansOptions opts_;
};

}  // namespace asd::backends
