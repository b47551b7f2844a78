// Tests for a backend's exported state (import → bit-identical scores) and its leave-one-out
// training scores (backends/backend.h) against brute-force float64 references.
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backends/distance.h"
#include "backends/kmeans.h"
#include "backends/knn.h"
#include "backends/knn_rescale.h"
#include "common/runtime.h"
#include "expect.h"

using namespace asd;
using namespace asd::backends;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// Two sections, both with source and target rows.
EmbedSet make_train(int64_t n, int64_t dim) {
  EmbedSet s;
  s.embed = torch::randn({n, dim}) + 0.3;
  s.is_target = (torch::arange(n) % 5 == 0).to(torch::kLong);
  s.section = (torch::arange(n) % 3 == 1).to(torch::kLong) * 7;  // sections 0 and 7
  return s;
}

EmbedSet make_queries(int64_t n, int64_t dim) {
  EmbedSet s;
  s.embed = torch::randn({n, dim});
  s.is_target = torch::zeros({n}, torch::kLong);
  s.section = (torch::arange(n) % 2).to(torch::kLong) * 7;
  return s;
}

// Mean of the k smallest distances from q to refs' rows other than `own` (−1: none), each
// divided by scale[j] when given; +inf when no other row exists.
double brute_mean(const torch::Tensor& q, const torch::Tensor& refs, int64_t k, int64_t own,
                  const torch::Tensor& scale = {}) {
  torch::Tensor d = (refs.to(torch::kFloat64) - q.to(torch::kFloat64).unsqueeze(0)).square().sum(1).sqrt();
  if (scale.defined()) d = d / scale;
  std::vector<double> v;
  for (int64_t j = 0; j < d.size(0); ++j) {
    if (j != own) v.push_back(d[j].item<double>());
  }
  std::sort(v.begin(), v.end());
  const size_t n = std::min<size_t>(static_cast<size_t>(k), v.size());
  if (n == 0) return kInf;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += v[i];
  return sum / static_cast<double>(n);
}

bool close(double got, double want) {
  if (std::isinf(want)) return got == want;
  return std::abs(got - want) <= 1e-9 * std::max(1.0, std::abs(want));
}

torch::Tensor space(const torch::Tensor& embed, Metric metric) {
  return metric == Metric::Cosine ? l2_normalize(embed.to(torch::kFloat32)) : embed.to(torch::kFloat32);
}

// Brute-force LOO for one backend, group by group (the state's groups follow the sections).
// `row_score(group_state, rows_in_space, is_target, i)` scores row i of one group.
using RowScore = std::function<double(const NamedTensors&, const torch::Tensor&, const torch::Tensor&, int64_t)>;

void check_loo(Backend& b, const EmbedSet& train, bool sep_section, Metric metric, const RowScore& row_score) {
  b.fit(train, RunContext{});
  const torch::Tensor loo = b.score_train_loo(train, RunContext{});
  EXPECT(loo.scalar_type() == torch::kFloat64 && loo.size(0) == train.rows());
  const BackendState state = b.export_state();
  EXPECT(state.groups.size() == (sep_section ? 2u : 1u));
  int bad = 0;
  for (size_t g = 0; g < state.groups.size(); ++g) {
    const torch::Tensor rows = sep_section ? torch::nonzero(train.section == state.sections[g]).flatten()
                                           : torch::arange(train.rows());
    const torch::Tensor x = space(train.embed.index_select(0, rows), metric);
    const torch::Tensor is_t = train.is_target.index_select(0, rows);
    for (int64_t i = 0; i < rows.size(0); ++i) {
      if (!close(loo[rows[i].item<int64_t>()].item<double>(), row_score(state.groups[g], x, is_t, i))) ++bad;
    }
  }
  EXPECT(bad == 0);
}

// Position of row i among the rows of its own domain.
int64_t domain_rank(const torch::Tensor& is_t, int64_t i) {
  return (is_t.narrow(0, 0, i) == is_t[i]).sum().item<int64_t>();
}

// ------------------------------------------------------------------------------------------

void test_round_trip_bit_identical() {
  const EmbedSet train = make_train(90, 6);
  const EmbedSet queries = make_queries(40, 6);
  for (bool sep : {false, true}) {
    std::vector<std::pair<std::shared_ptr<Backend>, std::shared_ptr<Backend>>> pairs;
    KnnOptions ko;
    ko.n_neighbors_so = 2;
    ko.n_neighbors_ta = 1;
    ko.sep_section = sep;
    ko.smote_ratio = 0.5;
    pairs.emplace_back(std::make_shared<Knn>(ko), std::make_shared<Knn>(ko));
    ko.smote_ratio = 0;
    ko.n_neighbors_ta = 0;
    ko.metric = Metric::Euclid;
    pairs.emplace_back(std::make_shared<Knn>(ko), std::make_shared<Knn>(ko));
    KmeansOptions mo;
    mo.n_clusters = 3;
    mo.sep_section = sep;
    pairs.emplace_back(std::make_shared<Kmeans>(mo), std::make_shared<Kmeans>(mo));
    KnnRescaleOptions ro;
    ro.n_neighbors = 2;
    ro.k_ref_normalize = 3;
    ro.sep_section = sep;
    pairs.emplace_back(std::make_shared<KnnRescale>(ro), std::make_shared<KnnRescale>(ro));
    for (auto& [fitted, imported] : pairs) {
      fitted->fit(train, RunContext{});
      BackendState state = fitted->export_state();
      EXPECT(state.sections == (sep ? std::vector<int64_t>{0, 7} : std::vector<int64_t>{}));
      for (auto& g : state.groups) {
        for (auto& [name, t] : g) t = t.clone();  // no sharing with the fitted backend
      }
      imported->import_state(state);
      EXPECT(torch::equal(fitted->score(queries, RunContext{}), imported->score(queries, RunContext{})));
    }
  }
  // Knn's target tensor is absent for source-only scoring.
  KnnOptions ko;
  ko.n_neighbors_ta = 0;
  Knn knn(ko);
  knn.fit(train, RunContext{});
  EXPECT(knn.export_state().groups[0].count("target") == 0);
  EXPECT(knn.export_state().groups[0].at("source").size(0) == (train.is_target == 0).sum().item<int64_t>());
}

void test_import_validation() {
  const EmbedSet train = make_train(60, 4);
  KnnOptions ko;
  ko.sep_section = true;
  Knn fitted(ko);
  fitted.fit(train, RunContext{});
  const BackendState good = fitted.export_state();
  Knn b(ko);

  BackendState s = good;
  s.groups[1].erase("source");
  EXPECT_THROWS(std::invalid_argument, "missing tensor \"source\"", b.import_state(s));
  s = good;
  s.groups[0]["source"] = s.groups[0]["source"].flatten();
  EXPECT_THROWS(std::invalid_argument, "\"source\" must be 2-D float32", b.import_state(s));
  s = good;
  s.groups[1]["target"] = torch::randn({3, 5});
  EXPECT_THROWS(std::invalid_argument, "has dimension 5, expected 4", b.import_state(s));
  s = good;
  s.groups[0]["extra"] = torch::randn({3, 4});
  EXPECT_THROWS(std::invalid_argument, "unexpected tensor \"extra\"", b.import_state(s));
  s = good;
  s.sections = {7, 0};
  EXPECT_THROWS(std::invalid_argument, "ascending", b.import_state(s));
  s = good;
  s.sections.clear();
  EXPECT_THROWS(std::invalid_argument, "one group per section", b.import_state(s));
  ko.sep_section = false;
  EXPECT_THROWS(std::invalid_argument, "one group and no sections", Knn(ko).import_state(good));
  EXPECT_THROWS(std::logic_error, "not been fitted", Knn(ko).export_state());

  KnnRescale kr({1, 2});
  EXPECT_THROWS(std::invalid_argument, "\"scale\" must be 1-D float64",
                kr.import_state({{}, {{{"refs", torch::randn({4, 2})}, {"scale", torch::rand({4})}}}}));
  EXPECT_THROWS(std::invalid_argument, "\"scale\" has 3 values",
                kr.import_state({{}, {{{"refs", torch::randn({4, 2})}, {"scale", torch::rand({3}, torch::kFloat64)}}}}));
  KmeansOptions mo;
  mo.n_clusters = 5;
  EXPECT_THROWS(std::invalid_argument, "fewer than n_clusters",
                Kmeans(mo).import_state({{}, {{{"centers", torch::randn({4, 2})}}}}));
}

void test_knn_loo_vs_brute() {
  const EmbedSet train = make_train(80, 5);
  for (bool sep : {false, true}) {
    for (Metric metric : {Metric::Cosine, Metric::Euclid}) {
      for (double smote : {0.0, 0.5}) {
        for (int64_t k_ta : {int64_t{0}, int64_t{1}, int64_t{3}}) {
          KnnOptions o;
          o.n_neighbors_so = 2;
          o.n_neighbors_ta = k_ta;
          o.metric = metric;
          o.smote_ratio = smote;
          o.sep_section = sep;
          Knn b(o);
          check_loo(b, train, sep, metric, [&](const NamedTensors& g, const torch::Tensor& x, const torch::Tensor& is_t, int64_t i) {
            const bool target = is_t[i].item<int64_t>() == 1;
            const int64_t own = domain_rank(is_t, i);
            double s = brute_mean(x[i], g.at("source"), o.n_neighbors_so, target ? -1 : own);
            if (g.count("target")) s = std::min(s, brute_mean(x[i], g.at("target"), k_ta, target ? own : -1));
            return metric == Metric::Cosine ? s / 2 : s;
          });
        }
      }
    }
  }
  // One source row per group: its own domain empties, so the target side decides (or +inf).
  EmbedSet tiny;
  tiny.embed = torch::randn({3, 2});
  tiny.is_target = torch::tensor({0, 1, 1}, torch::kLong);
  tiny.section = torch::zeros({3}, torch::kLong);
  Knn b({});
  b.fit(tiny, RunContext{});
  const torch::Tensor loo = b.score_train_loo(tiny, RunContext{});
  EXPECT(std::isfinite(loo[0].item<double>()) && loo[0].item<double>() > 0);
  KnnOptions so;
  so.n_neighbors_ta = 0;
  Knn source_only(so);
  source_only.fit(tiny, RunContext{});
  EXPECT(source_only.score_train_loo(tiny, RunContext{})[0].item<double>() == kInf);
}

void test_knn_loo_smote_skips_own_copy() {
  // With SMOTE a target row's own copy sits in T; LOO must not meet it (fit-score would give 0).
  const EmbedSet train = make_train(60, 4);
  KnnOptions o;
  o.smote_ratio = 0.5;
  o.metric = Metric::Euclid;
  Knn b(o);
  b.fit(train, RunContext{});
  const torch::Tensor plain = b.score(train, RunContext{});
  const torch::Tensor loo = b.score_train_loo(train, RunContext{});
  const torch::Tensor t = torch::nonzero(train.is_target == 1).flatten();
  EXPECT(plain.index_select(0, t).abs().max().item<double>() == 0);
  EXPECT(loo.index_select(0, t).min().item<double>() > 0);
}

void test_knn_rescale_loo_vs_brute() {
  const EmbedSet train = make_train(70, 5);
  for (bool sep : {false, true}) {
    for (Metric metric : {Metric::Cosine, Metric::Euclid}) {
      KnnRescaleOptions o;
      o.n_neighbors = 3;
      o.k_ref_normalize = 2;
      o.metric = metric;
      o.sep_section = sep;
      KnnRescale b(o);
      check_loo(b, train, sep, metric, [&](const NamedTensors& g, const torch::Tensor& x, const torch::Tensor&, int64_t i) {
        return brute_mean(x[i], g.at("refs"), o.n_neighbors, i, g.at("scale"));
      });
    }
  }
}

void test_kmeans_loo_vs_brute() {
  const EmbedSet train = make_train(90, 4);
  for (bool sep : {false, true}) {
    for (Metric metric : {Metric::Cosine, Metric::Euclid}) {
      KmeansOptions o;
      o.n_clusters = 3;
      o.metric = metric;
      o.sep_section = sep;
      Kmeans b(o);
      check_loo(b, train, sep, metric, [&](const NamedTensors& g, const torch::Tensor& x, const torch::Tensor& is_t, int64_t i) {
        const bool target = is_t[i].item<int64_t>() == 1;
        const double d = brute_mean(x[i], g.at("centers"), 1, target ? o.n_clusters + domain_rank(is_t, i) : -1);
        return metric == Metric::Cosine ? d * d / 2 : d;
      });
    }
  }
}

}  // namespace

int main() {
  torch::manual_seed(977);
  const std::vector<std::pair<const char*, std::function<void()>>> tests = {
      {"round_trip_bit_identical", test_round_trip_bit_identical},
      {"import_validation", test_import_validation},
      {"knn_loo_vs_brute", test_knn_loo_vs_brute},
      {"knn_loo_smote_skips_own_copy", test_knn_loo_smote_skips_own_copy},
      {"knn_rescale_loo_vs_brute", test_knn_rescale_loo_vs_brute},
      {"kmeans_loo_vs_brute", test_kmeans_loo_vs_brute},
  };
  return run_tests(tests);
}
