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
  const torch::Tensor queries = metric_space(group.embed, opts_.metric, ctx);

  DistanceOptions dist;
  dist.memory_budget_bytes = opts_.memory_budget_bytes;
  const int64_t n = queries.size(0);
  const bool with_target = refs.target.defined();
  const int64_t split = with_target ? n / 2 : n;  // progress: source pass, then target pass

  torch::Tensor score = knn_smallest(queries, refs.source.to(ctx.device), opts_.n_neighbors_so,
                                     sub_context(ctx, 0, split, n), dist)
                            .values.mean(1);
  if (with_target) {
    const torch::Tensor d_target =
        knn_smallest(queries, refs.target.to(ctx.device), opts_.n_neighbors_ta,
                     sub_context(ctx, split, n, n), dist)
            .values.mean(1);
    score = torch::minimum(score, d_target);
  }
  // Cosine mode reports ‖â − b̂‖ / 2, in [0, 1].
  if (opts_.metric == Metric::Cosine) score = score / 2;
  return score;
}

}  // namespace asd::backends
