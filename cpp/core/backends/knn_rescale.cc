#include "backends/knn_rescale.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace asd::backends {

KnnRescale::KnnRescale(KnnRescaleOptions opts)
    : GroupedBackend<KnnRescaleRefs>(opts.sep_section), opts_(opts) {
  if (opts_.n_neighbors < 1) {
    throw std::invalid_argument("Expected n_neighbors > 0. Got " + std::to_string(opts_.n_neighbors));
  }
  if (opts_.k_ref_normalize < 1) {
    throw std::invalid_argument("KnnRescale: k_ref_normalize must be > 0, got " +
                                std::to_string(opts_.k_ref_normalize));
  }
  if (opts_.memory_budget_bytes < 1) throw std::invalid_argument("KnnRescale: memory budget must be > 0");
}

KnnRescaleRefs KnnRescale::fit_group(const EmbedSet& group, const RunContext& ctx) {
  ctx.check();
  // is_target is ignored: source and target rows form one reference set (no target warning).
  const torch::Tensor refs = metric_space(group.embed, opts_.metric, ctx);
  if (refs.size(0) == 0) throw std::invalid_argument("KnnRescale fit: no training rows");
  DistanceOptions dist;
  dist.memory_budget_bytes = opts_.memory_budget_bytes;
  // ASDKit averages sorted column entries 1..k: with fewer other rows than k it averages what
  // exists, and a single row gives an empty mean (NaN), which is kept.
  const int64_t k = std::min(opts_.k_ref_normalize, refs.size(0) - 1);
  const torch::Tensor scale = knn_within(refs, k, ctx, dist).values.mean(1);
  return {refs, scale};
}

torch::Tensor KnnRescale::score_group(const KnnRescaleRefs& refs, const EmbedSet& group,
                                      const RunContext& ctx) const {
  const torch::Tensor queries = metric_space(group.embed, opts_.metric, ctx);
  DistanceOptions dist;
  dist.memory_budget_bytes = opts_.memory_budget_bytes;
  dist.ref_scale = refs.scale;
  const int64_t k = std::min(opts_.n_neighbors, refs.refs.size(0));
  // No halving in cosine mode (unlike Knn).
  return knn_smallest(queries, refs.refs.to(ctx.device), k, ctx, dist).values.mean(1);
}

}  // namespace asd::backends
