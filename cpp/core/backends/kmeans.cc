#include "backends/kmeans.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "backends/mt19937.h"

namespace asd::backends {
namespace {

// (Q, R) float64 squared distances between every row of a and b, through the one kernel.
torch::Tensor squared_distances(const torch::Tensor& a, const torch::Tensor& b, const RunContext& ctx,
                                const DistanceOptions& dist) {
  const Neighbors nb = knn_smallest(a, b, b.size(0), ctx, dist);
  return torch::empty_like(nb.values).scatter_(1, nb.indices, nb.values.square());
}

// Greedy k-means++ (scikit-learn's _kmeans_plusplus): first centre uniform, then per centre
// 2 + floor(ln k) candidates drawn proportionally to the current squared distances; keep the
// candidate that lowers the potential most. The draws go through `rng` in scikit-learn's order.
torch::Tensor kmeans_plusplus(const torch::Tensor& x, int64_t k, Mt19937& rng,
                              const RunContext& ctx, const DistanceOptions& dist) {
  const int64_t n = x.size(0);
  const int64_t n_trials = 2 + static_cast<int64_t>(std::log(static_cast<double>(k)));
  torch::Tensor centers = torch::empty({k, x.size(1)}, x.options());

  // RandomState.choice(n, p=uniform): searchsorted(cumsum(p) / last, u, side="right").
  std::vector<double> cdf(n);
  for (int64_t i = 0; i < n; ++i) cdf[i] = (i ? cdf[i - 1] : 0) + 1.0 / n;
  const double u = rng.next_double();
  int64_t first = 0;
  while (first < n - 1 && cdf[first] / cdf[n - 1] <= u) ++first;
  centers[0].copy_(x[first]);

  torch::Tensor closest = squared_distances(x.narrow(0, first, 1), x, ctx, dist)[0];  // (n)
  double pot = closest.sum().item<double>();
  for (int64_t c = 1; c < k; ++c) {
    ctx.check();
    std::vector<double> rand_vals(n_trials);
    for (double& v : rand_vals) v = rng.next_double() * pot;
    const torch::Tensor cum = closest.cumsum(0);
    const torch::Tensor cand =
        torch::searchsorted(cum, torch::tensor(rand_vals, cum.options())).clamp_max(n - 1);
    const torch::Tensor d = torch::minimum(squared_distances(x.index_select(0, cand), x, ctx, dist),
                                           closest.unsqueeze(0));  // (trials, n)
    const torch::Tensor pots = d.sum(1);
    const int64_t best = pots.argmin().item<int64_t>();
    pot = pots[best].item<double>();
    closest = d[best];
    centers[c].copy_(x[cand[best].item<int64_t>()]);
  }
  return centers;
}

struct LloydResult {
  torch::Tensor centers;
  double inertia;
};

// Lloyd iterations as scikit-learn runs them: stop when the labels no longer change or when
// the total squared centre shift is <= tol; empty clusters take the points farthest from their
// centres (moved out of their old clusters).
LloydResult lloyd(const torch::Tensor& x, torch::Tensor centers, int64_t max_iter, double tol,
                  const RunContext& ctx, const DistanceOptions& dist) {
  const int64_t k = centers.size(0);
  torch::Tensor labels_old;
  for (int64_t it = 0; it < max_iter; ++it) {
    ctx.check();
    const Neighbors nb = knn_smallest(x, centers, 1, ctx, dist);
    const torch::Tensor labels = nb.indices.select(1, 0);
    torch::Tensor sums = torch::zeros_like(centers).index_add_(0, labels, x);
    torch::Tensor counts = torch::zeros({k}, x.options()).index_add_(0, labels, torch::ones_like(labels, x.options()));
    const torch::Tensor empty = torch::nonzero(counts == 0).flatten();
    if (empty.numel() > 0) {
      const torch::Tensor far = std::get<1>(nb.values.select(1, 0).topk(empty.numel()));
      const torch::Tensor old = labels.index_select(0, far);
      const torch::Tensor moved = x.index_select(0, far);
      sums.index_add_(0, old, -moved);
      counts.index_add_(0, old, -torch::ones({far.numel()}, x.options()));
      sums.index_copy_(0, empty, moved);
      counts.index_fill_(0, empty, 1);
    }
    const torch::Tensor updated = sums / counts.unsqueeze(1);
    const double shift = (updated - centers).square().sum().item<double>();
    centers = updated;
    if (labels_old.defined() && torch::equal(labels, labels_old)) break;
    if (shift <= tol) break;
    labels_old = labels;
  }
  const double inertia = knn_smallest(x, centers, 1, ctx, dist).values.square().sum().item<double>();
  return {centers, inertia};
}

}  // namespace

torch::Tensor kmeans_fit(const torch::Tensor& x, int64_t n_clusters, const KmeansFitOptions& opts,
                         const RunContext& ctx) {
  if (x.dim() != 2) throw std::invalid_argument("kmeans: x must be 2-D (rows, dims)");
  if (n_clusters < 1) throw std::invalid_argument("kmeans: n_clusters must be >= 1");
  if (x.size(0) < n_clusters) {
    throw std::invalid_argument("n_samples=" + std::to_string(x.size(0)) +
                                " should be >= n_clusters=" + std::to_string(n_clusters) + ".");
  }
  if (opts.n_init < 1 || opts.max_iter < 1) throw std::invalid_argument("kmeans: n_init and max_iter must be >= 1");
  DistanceOptions dist;
  dist.memory_budget_bytes = opts.memory_budget_bytes;
  // Centred float64 copy (scikit-learn centres the data too; distances do not change).
  const torch::Tensor x64 = x.to(torch::kFloat64);
  const torch::Tensor mean = x64.mean(0, /*keepdim=*/true);
  const torch::Tensor xc = x64 - mean;
  const double tol = x64.var(0, /*unbiased=*/false).mean().item<double>() * opts.tol;

  Mt19937 rng(opts.seed);
  LloydResult best{torch::Tensor(), std::numeric_limits<double>::infinity()};
  for (int64_t run = 0; run < opts.n_init; ++run) {
    LloydResult r = lloyd(xc, kmeans_plusplus(xc, n_clusters, rng, ctx, dist), opts.max_iter, tol, ctx, dist);
    if (!best.centers.defined() || r.inertia < best.inertia) best = r;
  }
  return (best.centers + mean).to(torch::kFloat32);
}

namespace {

// kmeans_score for rows already in the backend's space; a defined `own` leaves centre own[i] out
// for row i (leave-one-out).
torch::Tensor kmeans_score_rows(const torch::Tensor& q, const torch::Tensor& centers, const torch::Tensor& own,
                                Metric metric, const RunContext& ctx, int64_t memory_budget_bytes) {
  DistanceOptions dist;
  dist.memory_budget_bytes = memory_budget_bytes;
  const torch::Tensor d =
      own.defined() ? mean_or_inf(knn_smallest_without(q, centers.to(ctx.device), 1, own, ctx, dist))
                    : knn_smallest(q, centers.to(ctx.device), 1, ctx, dist).values.select(1, 0);
  // Cosine: squared distance / 2 = 1 − max cos (unlike Knn's plain distance / 2).
  return metric == Metric::Cosine ? d.square() / 2 : d;
}

}  // namespace

torch::Tensor kmeans_score(const torch::Tensor& queries, const torch::Tensor& centers,
                           Metric metric, const RunContext& ctx, int64_t memory_budget_bytes) {
  return kmeans_score_rows(metric_space(queries, metric, ctx), centers, {}, metric, ctx, memory_budget_bytes);
}

Kmeans::Kmeans(KmeansOptions opts) : GroupedBackend<KmeansCenters>(opts.sep_section), opts_(opts) {
  if (opts_.n_clusters < 1) {
    throw std::invalid_argument("Kmeans: n_clusters must be >= 1, got " + std::to_string(opts_.n_clusters));
  }
  if (opts_.fit.memory_budget_bytes < 1) throw std::invalid_argument("Kmeans: memory budget must be > 0");
}

KmeansCenters Kmeans::fit_group(const EmbedSet& group, const RunContext& ctx) {
  const DomainRows d = split_domains(group, opts_.metric, ctx, "Kmeans");
  torch::Tensor centers = kmeans_fit(d.embed.index_select(0, d.source_rows), opts_.n_clusters, opts_.fit, ctx);
  if (opts_.metric == Metric::Cosine) centers = l2_normalize(centers);
  if (d.target_rows.size(0) == 0) warnings.push_back("number of target data is 0.");
  return {torch::cat({centers, d.embed.index_select(0, d.target_rows)})};
}

torch::Tensor Kmeans::score_group(const KmeansCenters& state, const EmbedSet& group,
                                  const RunContext& ctx) const {
  return kmeans_score(group.embed, state.centers, opts_.metric, ctx, opts_.fit.memory_budget_bytes);
}

// Target rows are centre rows (after the n_clusters source centres, in row order) and leave
// themselves out; source rows meet centres, never themselves, so they score as usual.
torch::Tensor Kmeans::score_group_loo(const KmeansCenters& state, const EmbedSet& group,
                                      const RunContext& ctx) const {
  const DomainRows d = split_domains(group, opts_.metric, ctx, "Kmeans");
  const int64_t n_source = d.source_rows.size(0), n_target = d.target_rows.size(0), n = group.rows();
  if (state.centers.size(0) != opts_.n_clusters + n_target) {
    throw std::invalid_argument("Kmeans score_train_loo: train is not the set the backend was fitted on");
  }
  const int64_t budget = opts_.fit.memory_budget_bytes;
  torch::Tensor out = torch::empty({n}, d.embed.options().dtype(torch::kFloat64));
  out.index_copy_(0, d.source_rows,
                  kmeans_score_rows(d.embed.index_select(0, d.source_rows), state.centers, {}, opts_.metric,
                                    sub_context(ctx, 0, n_source, n), budget));
  out.index_copy_(0, d.target_rows,
                  kmeans_score_rows(d.embed.index_select(0, d.target_rows), state.centers,
                                    torch::arange(opts_.n_clusters, opts_.n_clusters + n_target,
                                                  d.target_rows.options()),
                                    opts_.metric, sub_context(ctx, n_source, n, n), budget));
  return out;
}

NamedTensors Kmeans::state_to_tensors(const KmeansCenters& state) const { return {{"centers", state.centers}}; }

KmeansCenters Kmeans::state_from_tensors(const NamedTensors& group, const std::string& where) const {
  detail::check_tensor_names(group, {"centers"}, where);
  KmeansCenters state{detail::state_tensor(group, "centers", torch::kFloat32, 2, where)};
  if (state.centers.size(0) < opts_.n_clusters) {
    throw std::invalid_argument(where + ": \"centers\" has " + std::to_string(state.centers.size(0)) +
                                " rows, fewer than n_clusters = " + std::to_string(opts_.n_clusters));
  }
  return state;
}

}  // namespace asd::backends
