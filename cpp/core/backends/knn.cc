#include "backends/knn.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "backends/smote.h"

namespace asd::backends {

Knn::Knn(KnnOptions opts) : GroupedBackend<KnnRefs>(opts.sep_section), opts_(opts) {
  if (opts_.n_neighbors_so < 1) {
    throw std::invalid_argument("Expected n_neighbors > 0. Got " +
                                std::to_string(opts_.n_neighbors_so));
  }
  if (opts_.memory_budget_bytes < 1) throw std::invalid_argument("Knn: memory budget must be > 0");
}

// §1.3: SMOTE on (source, target) as imblearn would, returning T = the original target rows
// followed by the synthetic ones (whole T re-normalised in cosine mode, as ASDKit re-normalises
// the resampled matrix). The minority class is oversampled; should it be the source class
// (never in DCASE) its synthetic rows are discarded, since S was fixed before SMOTE.
torch::Tensor Knn::oversample_target(const torch::Tensor& embed, const torch::Tensor& source_rows,
                                     const torch::Tensor& target, const RunContext& ctx) const {
  smote_validate(opts_.smote_ratio, opts_.smote_neighbors);
  const int64_t n_source = source_rows.size(0), n_target = target.size(0);
  const bool target_is_minority = n_target < n_source;  // tie: label 0 (source) is the majority
  const torch::Tensor minority = target_is_minority ? target : embed.index_select(0, source_rows);
  const int64_t n_new = smote_count(std::max(n_source, n_target), std::min(n_source, n_target),
                                    opts_.smote_ratio);
  const SmoteSamples s = smote_samples(minority, n_new, opts_.smote_neighbors, ctx);
  if (!target_is_minority) return target;
  const torch::Tensor resampled = torch::cat({target, s.synthetic.to(target.device())});
  return opts_.metric == Metric::Cosine ? l2_normalize(resampled) : resampled;
}

KnnRefs Knn::fit_group(const EmbedSet& group, const RunContext& ctx) {
  const DomainRows d = split_domains(group, opts_.metric, ctx, "Knn");
  if (d.source_rows.size(0) == 0) {
    throw std::invalid_argument("Knn fit: found 0 source rows (is_target == 0); at least 1 is required");
  }
  KnnRefs refs;
  refs.source = d.embed.index_select(0, d.source_rows);  // never affected by SMOTE
  if (d.target_rows.size(0) == 0) warnings.push_back("number of target data is 0.");
  if (d.target_rows.size(0) > 0 && opts_.n_neighbors_ta > 0) {
    refs.target = d.embed.index_select(0, d.target_rows);
    if (opts_.smote_ratio != 0) refs.target = oversample_target(d.embed, d.source_rows, refs.target, ctx);
  }
  return refs;
}

torch::Tensor Knn::score_group(const KnnRefs& refs, const EmbedSet& group,
                               const RunContext& ctx) const {
  return score_rows(refs, metric_space(group.embed, opts_.metric, ctx), {}, {}, ctx);
}

torch::Tensor Knn::score_rows(const KnnRefs& refs, const torch::Tensor& queries, const torch::Tensor& own_source,
                              const torch::Tensor& own_target, const RunContext& ctx) const {
  DistanceOptions dist;
  dist.memory_budget_bytes = opts_.memory_budget_bytes;
  const int64_t n = queries.size(0);
  const bool with_target = refs.target.defined();
  const int64_t split = with_target ? n / 2 : n;  // progress: source pass, then target pass

  auto mean_distance = [&](const torch::Tensor& ref, int64_t k, const torch::Tensor& own, const RunContext& sub) {
    if (own.defined()) return mean_or_inf(knn_smallest_without(queries, ref.to(ctx.device), k, own, sub, dist));
    return knn_smallest(queries, ref.to(ctx.device), k, sub, dist).values.mean(1);
  };
  torch::Tensor score = mean_distance(refs.source, opts_.n_neighbors_so, own_source, sub_context(ctx, 0, split, n));
  if (with_target) {
    const torch::Tensor d_target =
        mean_distance(refs.target, opts_.n_neighbors_ta, own_target, sub_context(ctx, split, n, n));
    score = torch::minimum(score, d_target);
  }
  // Cosine mode reports ‖â − b̂‖ / 2, in [0, 1].
  if (opts_.metric == Metric::Cosine) score = score / 2;
  return score;
}

// Source rows leave themselves out of S, target rows out of T (the original target rows lead T,
// SMOTE's synthetic rows follow and stay); the other domain's set is used whole.
torch::Tensor Knn::score_group_loo(const KnnRefs& refs, const EmbedSet& group, const RunContext& ctx) const {
  const DomainRows d = split_domains(group, opts_.metric, ctx, "Knn");
  const int64_t n_source = d.source_rows.size(0), n_target = d.target_rows.size(0);
  if (n_source != refs.source.size(0) || (refs.target.defined() && n_target > refs.target.size(0))) {
    throw std::invalid_argument("Knn score_train_loo: train is not the set the backend was fitted on");
  }
  const auto own = [&](int64_t n) { return torch::arange(n, d.source_rows.options()); };
  torch::Tensor out = torch::empty({group.rows()}, d.embed.options().dtype(torch::kFloat64));
  const int64_t n = group.rows();
  out.index_copy_(0, d.source_rows,
                  score_rows(refs, d.embed.index_select(0, d.source_rows), own(n_source), {},
                             sub_context(ctx, 0, n_source, n)));
  out.index_copy_(0, d.target_rows,
                  score_rows(refs, d.embed.index_select(0, d.target_rows), {},
                             refs.target.defined() ? own(n_target) : torch::Tensor(),
                             sub_context(ctx, n_source, n, n)));
  return out;
}

NamedTensors Knn::state_to_tensors(const KnnRefs& refs) const {
  NamedTensors out{{"source", refs.source}};
  if (refs.target.defined()) out["target"] = refs.target;
  return out;
}

KnnRefs Knn::state_from_tensors(const NamedTensors& group, const std::string& where) const {
  detail::check_tensor_names(group, {"source", "target"}, where);
  KnnRefs refs;
  refs.source = detail::state_tensor(group, "source", torch::kFloat32, 2, where);
  refs.target = detail::state_tensor(group, "target", torch::kFloat32, 2, where, /*required=*/false);
  if (refs.target.defined() && opts_.n_neighbors_ta <= 0) {
    throw std::invalid_argument(where + ": has a \"target\" tensor but n_neighbors_ta <= 0 scores source only");
  }
  return refs;
}

}  // namespace asd::backends
