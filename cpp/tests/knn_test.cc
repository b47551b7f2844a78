// Tests for the distance kernel (backends/distance.h) and the Knn backend (backends/knn.h)
// against brute-force float64 references. Plain executable: exit code 0 = all checks passed.
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backends/distance.h"
#include "backends/knn.h"
#include "common/runtime.h"
#include "expect.h"

using namespace asd;
using namespace asd::backends;

namespace {

RunContext cpu_ctx() { return RunContext{}; }

bool same_indices(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && torch::equal(a.cpu(), b.cpu());
}

// Reference: every distance in float64 by direct differences, stable sort (ties by index).
std::pair<torch::Tensor, torch::Tensor> brute_knn(const torch::Tensor& q, const torch::Tensor& r,
                                                  int64_t k, const torch::Tensor& scale = {}) {
  torch::Tensor d = q.to(torch::kFloat64).unsqueeze(1) - r.to(torch::kFloat64).unsqueeze(0);
  d = d.mul(d).sum(2).sqrt();
  if (scale.defined()) d = d / scale.to(torch::kFloat64).unsqueeze(0);
  auto [v, i] = d.sort(/*stable=*/true, 1, false);
  return {v.narrow(1, 0, k), i.narrow(1, 0, k)};
}

torch::Tensor brute_normalize(const torch::Tensor& x) {
  const torch::Tensor x64 = x.to(torch::kFloat64);
  return x64 / x64.norm(2, {1}, true).clamp_min(1e-12);
}

// Reference Knn score (spec §1.2), pooled sections, no SMOTE.
torch::Tensor brute_knn_score(const EmbedSet& train, const torch::Tensor& query, int64_t so,
                              int64_t ta, Metric metric) {
  const bool cosine = metric == Metric::Cosine;
  const torch::Tensor e = cosine ? brute_normalize(train.embed) : train.embed.to(torch::kFloat64);
  const torch::Tensor q = cosine ? brute_normalize(query) : query.to(torch::kFloat64);
  const torch::Tensor src = e.index({train.is_target == 0});
  const torch::Tensor tgt = e.index({train.is_target == 1});
  torch::Tensor s = brute_knn(q, src, so).first.mean(1);
  if (ta > 0 && tgt.size(0) > 0) s = torch::minimum(s, brute_knn(q, tgt, ta).first.mean(1));
  return cosine ? s / 2 : s;
}

EmbedSet make_set(int64_t n_source, int64_t n_target, int64_t dim, double offset = 0) {
  EmbedSet s;
  s.embed = torch::randn({n_source + n_target, dim}, torch::kFloat32) + offset;
  s.is_target = torch::cat({torch::zeros({n_source}, torch::kLong), torch::ones({n_target}, torch::kLong)});
  s.is_target = s.is_target.index_select(0, torch::randperm(n_source + n_target, torch::kLong));
  s.section = torch::zeros({n_source + n_target}, torch::kLong);
  return s;
}

// ------------------------------------------------------------------------------------------

void test_knn_smallest_random() {
  struct Case { int64_t q, r, d, k; double offset; };
  for (const Case& c : {Case{37, 53, 16, 1, 0}, Case{37, 53, 16, 5, 0}, Case{20, 13, 7, 13, 0},
                        Case{64, 200, 1, 3, 0}, Case{10, 500, 32, 1, 3}, Case{1, 1, 4, 1, 0},
                        Case{50, 80, 512, 2, 0}}) {
    const torch::Tensor q = torch::randn({c.q, c.d}) + c.offset;
    const torch::Tensor r = torch::randn({c.r, c.d}) + c.offset;
    const Neighbors got = knn_smallest(q, r, c.k, cpu_ctx());
    const auto [v, i] = brute_knn(q, r, c.k);
    EXPECT(got.values.scalar_type() == torch::kFloat64);
    EXPECT(got.indices.scalar_type() == torch::kLong);
    EXPECT(max_abs_diff(got.values, v) <= 1e-12);
    EXPECT(same_indices(got.indices, i));
  }
}

void test_ties_and_duplicates() {
  // Exact duplicates among refs: equal distances are ordered by lower ref index.
  const torch::Tensor base = torch::randn({10, 6});
  const torch::Tensor refs = torch::cat({base, base, base.narrow(0, 0, 3)});
  const torch::Tensor queries = torch::cat({base.narrow(0, 0, 5), torch::randn({7, 6})});
  for (int64_t k : {1, 2, 3, 5}) {
    const Neighbors got = knn_smallest(queries, refs, k, cpu_ctx());
    const auto [v, i] = brute_knn(queries, refs, k);
    EXPECT(max_abs_diff(got.values, v) <= 1e-12);
    EXPECT(same_indices(got.indices, i));
  }
  // A query identical to a reference: exactly 0 (float64 recomputation), first copy first.
  const Neighbors self = knn_smallest(queries.narrow(0, 0, 5), refs, 3, cpu_ctx());
  EXPECT(torch::equal(self.values.select(1, 0), torch::zeros({5}, torch::kFloat64)));
  EXPECT(torch::equal(self.values.select(1, 1), torch::zeros({5}, torch::kFloat64)));
  EXPECT(torch::equal(self.indices.select(1, 0), torch::arange(5, torch::kLong)));
  EXPECT(torch::equal(self.indices.select(1, 1), torch::arange(10, 15, torch::kLong)));

  // D = 1 with heavy ties (small integers): values must match; indices are free among ties.
  const torch::Tensor qi = torch::randint(0, 5, {10, 1}).to(torch::kFloat32);
  const torch::Tensor ri = torch::randint(0, 5, {40, 1}).to(torch::kFloat32);
  const Neighbors gi = knn_smallest(qi, ri, 7, cpu_ctx());
  EXPECT(max_abs_diff(gi.values, brute_knn(qi, ri, 7).first) == 0);
  EXPECT(torch::equal((qi.to(torch::kFloat64) - ri.to(torch::kFloat64).index_select(0, gi.indices.flatten())
                                                   .view({10, 7}))
                         .abs(),
                     gi.values));
}

void test_near_duplicates_far_from_origin() {
  // Clustered rows with norms ~1e3 and neighbour gaps ~1e-3: float32 ‖q‖²+‖r‖²−2q·r alone
  // cannot rank these; centring + the float64 re-ranking must.
  const torch::Tensor centre = torch::randn({1, 24}) * 1000;
  const torch::Tensor refs = centre + torch::randn({300, 24}) * 1e-3;
  const torch::Tensor queries = centre + torch::randn({40, 24}) * 1e-3;
  for (int64_t k : {1, 4}) {
    const Neighbors got = knn_smallest(queries, refs, k, cpu_ctx());
    const auto [v, i] = brute_knn(queries, refs, k);
    EXPECT(max_abs_diff(got.values, v) <= 1e-12);
    EXPECT(same_indices(got.indices, i));
  }
}

void test_ref_scale() {
  const torch::Tensor q = torch::randn({30, 8}), r = torch::randn({90, 8});
  DistanceOptions opts;
  opts.ref_scale = torch::rand({90}, torch::kFloat64) * 1.5 + 0.5;
  for (int64_t budget : {int64_t{1}, kDefaultMemoryBudgetBytes}) {
    opts.memory_budget_bytes = budget;
    const Neighbors got = knn_smallest(q, r, 3, cpu_ctx(), opts);
    const auto [v, i] = brute_knn(q, r, 3, opts.ref_scale);
    EXPECT(max_abs_diff(got.values, v) <= 1e-12);
    EXPECT(same_indices(got.indices, i));
  }
}

void test_knn_within() {
  const torch::Tensor r = torch::randn({40, 5});
  const Neighbors got = knn_within(r, 3, cpu_ctx());
  const auto [v, i] = brute_knn(r, r, 4);
  EXPECT(max_abs_diff(got.values, v.narrow(1, 1, 3)) <= 1e-12);
  EXPECT(same_indices(got.indices, i.narrow(1, 1, 3)));
  EXPECT(knn_within(r, 0, cpu_ctx()).values.sizes() == torch::IntArrayRef({40, 0}));
  // SMOTE with 2 minority rows and k_neighbors = 2 must fail like scikit-learn.
  EXPECT_THROWS(std::invalid_argument, "Expected n_neighbors <= n_samples, but n_samples = 2, n_neighbors = 3",
               knn_within(torch::randn({2, 5}), 2, cpu_ctx()));
}

void test_chunking() {
  const torch::Tensor q = torch::randn({60, 24}), r = torch::randn({150, 24});
  const Neighbors whole = knn_smallest(q, r, 4, cpu_ctx());
  for (int64_t budget : {int64_t{1}, int64_t{1000}, int64_t{20000}, int64_t{1} << 20}) {
    DistanceOptions opts;
    opts.memory_budget_bytes = budget;
    std::vector<std::pair<int64_t, int64_t>> reports;
    RunContext ctx;
    ctx.progress = [&reports](int64_t done, int64_t total) { reports.emplace_back(done, total); };
    const Neighbors got = knn_smallest(q, r, 4, ctx, opts);
    EXPECT(torch::equal(got.values, whole.values));
    EXPECT(torch::equal(got.indices, whole.indices));
    EXPECT(!reports.empty() && reports.back() == std::make_pair(int64_t{60}, int64_t{60}));
    bool monotone = true;
    for (size_t j = 1; j < reports.size(); ++j) monotone &= reports[j].first > reports[j - 1].first;
    EXPECT(monotone);
    if (budget == 1) EXPECT(reports.size() == 60);  // one query row per chunk
  }
}

void test_l2_normalize() {
  torch::Tensor x = torch::randn({6, 9});
  x[2].zero_();
  const torch::Tensor n = l2_normalize(x);
  EXPECT(n.scalar_type() == torch::kFloat32);
  EXPECT(torch::equal(n[2], torch::zeros({9})));
  const torch::Tensor norms = n.to(torch::kFloat64).norm(2, {1});
  EXPECT(std::abs(norms[0].item<double>() - 1) < 1e-6);
  EXPECT(max_abs_diff(n, brute_normalize(x)) < 1e-6);
}

void test_knn_backend_vs_brute() {
  EmbedSet train = make_set(80, 5, 12, 0.5);
  EmbedSet one_target = make_set(40, 1, 12, 0.5);
  torch::Tensor test = torch::randn({30, 12}) + 0.5;
  test[3].zero_();                     // all-zero query (cosine: distance 1 to everything)
  test[4].copy_(train.embed[7]);       // query identical to a training row
  struct Case { const EmbedSet* set; int64_t so, ta; Metric m; };
  for (const Case& c : {Case{&train, 1, 1, Metric::Cosine}, Case{&train, 3, 2, Metric::Cosine},
                        Case{&train, 3, 2, Metric::Euclid}, Case{&train, 2, 0, Metric::Cosine},
                        Case{&train, 1, 5, Metric::Euclid}, Case{&one_target, 1, 1, Metric::Cosine},
                        Case{&one_target, 4, 1, Metric::Euclid}}) {
    Knn knn({c.so, c.ta, c.m});
    knn.fit(*c.set, cpu_ctx());
    EXPECT(knn.warnings.empty());
    const torch::Tensor got_test = knn.score({test, {}, {}}, cpu_ctx());
    const torch::Tensor got_train = knn.score(*c.set, cpu_ctx());
    EXPECT(got_test.scalar_type() == torch::kFloat64 && got_test.dim() == 1);
    EXPECT(max_abs_diff(got_test, brute_knn_score(*c.set, test, c.so, c.ta, c.m)) <= 1e-6);
    EXPECT(max_abs_diff(got_train, brute_knn_score(*c.set, c.set->embed, c.so, c.ta, c.m)) <= 1e-6);
    if (c.so == 1 && c.ta == 1) EXPECT(got_train.abs().max().item<double>() <= 1e-6);  // self-match
    if (c.m == Metric::Cosine) EXPECT(std::abs(got_test[3].item<double>() - 0.5) <= 1e-6);
  }
}

void test_warnings_and_source_only() {
  EmbedSet no_target = make_set(30, 0, 6);
  Knn knn({1, 1, Metric::Cosine});
  knn.fit(no_target, cpu_ctx());
  EXPECT(knn.warnings == std::vector<std::string>{"number of target data is 0."});
  const torch::Tensor q = torch::randn({9, 6});
  EXPECT(max_abs_diff(knn.score({q, {}, {}}, cpu_ctx()), brute_knn_score(no_target, q, 1, 0, Metric::Cosine)) <= 1e-6);

  // SMOTE configured but no target rows: SMOTE is skipped, same as plain Knn.
  KnnOptions smote{1, 1, Metric::Cosine, 0.2, 2};
  Knn with_smote(smote);
  with_smote.fit(no_target, cpu_ctx());
  EXPECT(torch::equal(with_smote.score({q, {}, {}}, cpu_ctx()), knn.score({q, {}, {}}, cpu_ctx())));

  // n_neighbors_ta = 0 with target rows: source only, no warning.
  EmbedSet with_target = make_set(30, 4, 6);
  Knn source_only({2, 0, Metric::Euclid});
  source_only.fit(with_target, cpu_ctx());
  EXPECT(source_only.warnings.empty());
  EXPECT(max_abs_diff(source_only.score({q, {}, {}}, cpu_ctx()),
                     brute_knn_score(with_target, q, 2, 0, Metric::Euclid)) <= 1e-6);

  // One warning per section group with sep_section.
  EmbedSet three = make_set(30, 0, 6);
  three.section = torch::arange(30, torch::kLong) % 3;
  Knn sep({1, 1, Metric::Cosine, 0, 2, /*sep_section=*/true});
  sep.fit(three, cpu_ctx());
  EXPECT(sep.warnings.size() == 3);
}

void test_sep_section() {
  EmbedSet train = make_set(90, 9, 10);
  train.section = torch::tensor({2, 0, 1}, torch::kLong).repeat({33});
  EmbedSet test{torch::randn({25, 10}), torch::randint(0, 3, {25}, torch::kLong), {}};
  test.section[0] = 1;  // make sure every section occurs
  test.section[1] = 2;
  test.section[2] = 0;
  Knn knn({2, 1, Metric::Euclid, 0, 2, /*sep_section=*/true});
  knn.fit(train, cpu_ctx());
  const torch::Tensor got = knn.score(test, cpu_ctx());
  torch::Tensor expected = torch::empty({25}, torch::kFloat64);
  for (int64_t s = 0; s < 3; ++s) {
    const torch::Tensor tr = torch::nonzero(train.section == s).flatten();
    const torch::Tensor te = torch::nonzero(test.section == s).flatten();
    EmbedSet sub{train.embed.index_select(0, tr), {}, train.is_target.index_select(0, tr)};
    expected.index_copy_(0, te, brute_knn_score(sub, test.embed.index_select(0, te), 2, 1, Metric::Euclid));
  }
  EXPECT(max_abs_diff(got, expected) <= 1e-6);

  EmbedSet unknown = test;
  unknown.section = test.section.clone();
  unknown.section[5] = 7;
  EXPECT_THROWS(std::invalid_argument, "section 7", knn.score(unknown, cpu_ctx()));

  // Pooled (default): section values are ignored, an unseen section is fine.
  Knn pooled({2, 1, Metric::Euclid});
  pooled.fit(train, cpu_ctx());
  EXPECT(max_abs_diff(pooled.score(unknown, cpu_ctx()), brute_knn_score(train, test.embed, 2, 1, Metric::Euclid)) <= 1e-6);
}

void test_errors() {
  EXPECT(parse_metric("cosine") == Metric::Cosine);
  EXPECT(parse_metric("euclid") == Metric::Euclid);
  EXPECT_THROWS(std::invalid_argument, "Unexpected metric: euclidean", parse_metric("euclidean"));
  EXPECT_THROWS(std::invalid_argument, "Unexpected metric: ", parse_metric(""));

  const torch::Tensor r = torch::randn({4, 3});
  EXPECT_THROWS(std::invalid_argument, "Expected n_neighbors <= n_samples, but n_samples = 4, n_neighbors = 5",
               knn_smallest(torch::randn({2, 3}), r, 5, cpu_ctx()));
  EXPECT_THROWS(std::invalid_argument, "Expected n_neighbors > 0", knn_smallest(r, r, 0, cpu_ctx()));
  EXPECT_THROWS(std::invalid_argument, "dims", knn_smallest(torch::randn({2, 4}), r, 1, cpu_ctx()));
  EXPECT_THROWS(std::invalid_argument, "Expected n_neighbors > 0", Knn({0, 1}));

  // Too few source / target rows: fit succeeds, scoring fails (as in ASDKit).
  EmbedSet small = make_set(3, 2, 4);
  Knn too_many_so({5, 1});
  too_many_so.fit(small, cpu_ctx());
  EXPECT_THROWS(std::invalid_argument, "n_samples = 3, n_neighbors = 5", too_many_so.score(small, cpu_ctx()));
  Knn too_many_ta({1, 3});
  too_many_ta.fit(small, cpu_ctx());
  EXPECT_THROWS(std::invalid_argument, "n_samples = 2, n_neighbors = 3", too_many_ta.score(small, cpu_ctx()));

  Knn knn({1, 1});
  EXPECT_THROWS(std::logic_error, "not been fitted", knn.score(small, cpu_ctx()));
  EXPECT_THROWS(std::invalid_argument, "0 source rows", knn.fit(make_set(0, 3, 4), cpu_ctx()));
  EmbedSet bad = make_set(5, 1, 4);
  bad.is_target[0] = 2;
  EXPECT_THROWS(std::invalid_argument, "is_target values", knn.fit(bad, cpu_ctx()));

  Knn smote({1, 1, Metric::Cosine, 0.2, 2});
  // 20 × 0.2 − 4 = 0 new rows: imblearn refuses (SMOTE itself is tested in backends_test.cc).
  EXPECT_THROWS(std::invalid_argument, "Please increase the ratio",
               smote.fit(make_set(20, 4, 4), cpu_ctx()));
}

void test_cancellation() {
  const torch::Tensor q = torch::randn({100, 8}), r = torch::randn({200, 8});
  CancelToken token;
  token.cancel();
  RunContext ctx;
  ctx.cancel = &token;
  EXPECT_THROWS(Cancelled, "aborted", knn_smallest(q, r, 1, ctx));

  Knn knn({1, 1});
  knn.fit(make_set(50, 5, 8), cpu_ctx());
  EXPECT_THROWS(Cancelled, "aborted", knn.score({q, {}, {}}, ctx));
  EXPECT_THROWS(Cancelled, "aborted", knn.fit(make_set(50, 5, 8), ctx));

  // Cancelled mid-run from the progress callback: stops at the next chunk.
  CancelToken later;
  int calls = 0;
  RunContext mid;
  mid.cancel = &later;
  mid.progress = [&](int64_t, int64_t) {
    if (++calls == 3) later.cancel();
  };
  DistanceOptions tiny;
  tiny.memory_budget_bytes = 1;
  EXPECT_THROWS(Cancelled, "aborted", knn_smallest(q, r, 1, mid, tiny));
  EXPECT(calls == 3);
}

void test_backend_progress() {
  EmbedSet train = make_set(60, 6, 8);
  train.section = torch::arange(66, torch::kLong) % 2;
  const EmbedSet test{torch::randn({40, 8}), torch::arange(40, torch::kLong) % 2, {}};
  for (bool sep : {false, true}) {
    KnnOptions opts{1, 1, Metric::Cosine, 0, 2, sep};
    opts.memory_budget_bytes = 1;  // many chunks, many reports
    Knn knn(opts);
    knn.fit(train, cpu_ctx());
    std::vector<int64_t> done;
    bool totals_ok = true;
    RunContext ctx;
    ctx.progress = [&](int64_t d, int64_t t) {
      done.push_back(d);
      totals_ok &= t == 40;
    };
    knn.score(test, ctx);
    EXPECT(totals_ok);
    EXPECT(done.size() > 2 && done.back() == 40);
    bool monotone = true;
    for (size_t j = 1; j < done.size(); ++j) monotone &= done[j] >= done[j - 1];
    EXPECT(monotone);
  }
}

void test_cuda_matches_cpu() {
  if (!torch::cuda::is_available()) {
    std::cout << "  (no CUDA device: skipped)\n";
    return;
  }
  const torch::Tensor q = torch::randn({300, 64}), r = torch::randn({2000, 64});
  RunContext ctx;
  ctx.device = torch::Device(torch::kCUDA, 0);
  DistanceOptions opts;
  opts.memory_budget_bytes = 1 << 20;
  const Neighbors gpu = knn_smallest(q.to(ctx.device), r.to(ctx.device), 5, ctx, opts);
  const Neighbors cpu = knn_smallest(q, r, 5, cpu_ctx(), opts);
  EXPECT(gpu.values.device() == ctx.device);
  EXPECT(max_abs_diff(gpu.values, cpu.values) <= 1e-12);
  EXPECT(same_indices(gpu.indices, cpu.indices));

  EmbedSet train = make_set(200, 10, 64);
  Knn knn({3, 2, Metric::Cosine});
  knn.fit(train, ctx);
  const torch::Tensor s = knn.score({q, {}, {}}, ctx);
  EXPECT(s.device() == ctx.device);
  EXPECT(max_abs_diff(s, brute_knn_score(train, q, 3, 2, Metric::Cosine)) <= 1e-6);
}

}  // namespace

int main() {
  torch::manual_seed(1234);
  const std::vector<std::pair<const char*, std::function<void()>>> tests = {
      {"knn_smallest_random", test_knn_smallest_random},
      {"ties_and_duplicates", test_ties_and_duplicates},
      {"near_duplicates_far_from_origin", test_near_duplicates_far_from_origin},
      {"ref_scale", test_ref_scale},
      {"knn_within", test_knn_within},
      {"chunking", test_chunking},
      {"l2_normalize", test_l2_normalize},
      {"knn_backend_vs_brute", test_knn_backend_vs_brute},
      {"warnings_and_source_only", test_warnings_and_source_only},
      {"sep_section", test_sep_section},
      {"errors", test_errors},
      {"cancellation", test_cancellation},
      {"backend_progress", test_backend_progress},
      {"cuda_matches_cpu", test_cuda_matches_cpu},
  };
  return run_tests(tests);
}
