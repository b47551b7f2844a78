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
  return score_rows(refs, metric_space(group.embed, opts_.metric, ctx), {}, ctx);
}

torch::Tensor KnnRescale::score_rows(const KnnRescaleRefs& refs, const torch::Tensor& queries,
                                     const torch::Tensor& own, const RunContext& ctx) const {
  DistanceOptions dist;
  dist.memory_budget_bytes = opts_.memory_budget_bytes;
  dist.ref_scale = refs.scale;
  // No halving in cosine mode (unlike Knn).
  if (own.defined()) {
    return mean_or_inf(knn_smallest_without(queries, refs.refs.to(ctx.device), opts_.n_neighbors, own, ctx, dist));
  }
  const int64_t k = std::min(opts_.n_neighbors, refs.refs.size(0));
  return knn_smallest(queries, refs.refs.to(ctx.device), k, ctx, dist).values.mean(1);
}

// Every training row is a reference row (in row order).
torch::Tensor KnnRescale::score_group_loo(const KnnRescaleRefs& refs, const EmbedSet& group,
                                          const RunContext& ctx) const {
  const torch::Tensor queries = metric_space(group.embed, opts_.metric, ctx);
  if (queries.size(0) != refs.refs.size(0)) {
    throw std::invalid_argument("KnnRescale score_train_loo: train is not the set the backend was fitted on");
  }
  return score_rows(refs, queries, torch::arange(queries.size(0), torch::dtype(torch::kLong).device(queries.device())),
                    ctx);
}

NamedTensors KnnRescale::state_to_tensors(const KnnRescaleRefs& refs) const {
  return {{"refs", refs.refs}, {"scale", refs.scale}};
}

KnnRescaleRefs KnnRescale::state_from_tensors(const NamedTensors& group, const std::string& where) const {
  detail::check_tensor_names(group, {"refs", "scale"}, where);
  KnnRescaleRefs refs;
  refs.refs = detail::state_tensor(group, "refs", torch::kFloat32, 2, where);
  refs.scale = detail::state_tensor(group, "scale", torch::kFloat64, 1, where);
  if (refs.scale.size(0) != refs.refs.size(0)) {
    throw std::invalid_argument(where + ": \"scale\" has " + std::to_string(refs.scale.size(0)) +
                                " values but \"refs\" has " + std::to_string(refs.refs.size(0)) + " rows");
  }
  return refs;
}

}  // namespace asd::backends
