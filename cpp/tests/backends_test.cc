// Tests for SMOTE and its MT19937 stream (backends/smote.h, backends/mt19937.h), KnnRescale
// (backends/knn_rescale.h) and Kmeans (backends/kmeans.h) against constants from numpy and
// brute-force float64 references. Plain executable: exit code 0 = all checks passed.
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "backends/distance.h"
#include "backends/kmeans.h"
#include "backends/knn.h"
#include "backends/knn_rescale.h"
#include "backends/mt19937.h"
#include "backends/smote.h"
#include "common/runtime.h"
#include "expect.h"

using namespace asd;
using namespace asd::backends;

namespace {

RunContext cpu_ctx() { return RunContext{}; }

torch::Tensor brute_normalize(const torch::Tensor& x) {
  const torch::Tensor x64 = x.to(torch::kFloat64);
  return x64 / x64.norm(2, {1}, true).clamp_min(1e-12);
}

// (Q, R) float64 distances by direct differences.
torch::Tensor brute_dist(const torch::Tensor& q, const torch::Tensor& r) {
  const torch::Tensor d = q.to(torch::kFloat64).unsqueeze(1) - r.to(torch::kFloat64).unsqueeze(0);
  return d.mul(d).sum(2).sqrt();
}

EmbedSet make_set(int64_t n_source, int64_t n_target, int64_t dim) {
  EmbedSet s;
  s.embed = torch::randn({n_source + n_target, dim}) + 0.5;
  s.is_target = torch::cat({torch::zeros({n_source}, torch::kLong), torch::ones({n_target}, torch::kLong)});
  s.section = torch::zeros({n_source + n_target}, torch::kLong);
  return s;
}

// ------------------------------------------------------------------------------------------

void test_mt19937_matches_numpy() {
  // np.random.RandomState(0): raw outputs, random_sample(), randint (masked rejection).
  Mt19937 raw(0);
  EXPECT(raw.next_u32() == 2357136044U);
  EXPECT(raw.next_u32() == 2546248239U);
  EXPECT(raw.next_u32() == 3071714933U);
  Mt19937 u(0);
  EXPECT(u.next_double() == 0.5488135039273248);
  EXPECT(u.next_double() == 0.7151893663724195);
  EXPECT(u.next_double() == 0.6027633760716439);
  // randint(0, 10, 8), randint(0, 1, 3) (consumes nothing), then random_sample().
  Mt19937 r(0);
  std::vector<int64_t> got;
  for (int i = 0; i < 8; ++i) got.push_back(r.randint(10));
  EXPECT((got == std::vector<int64_t>{5, 0, 3, 3, 7, 9, 3, 5}));
  for (int i = 0; i < 3; ++i) EXPECT(r.randint(1) == 0);
  EXPECT(r.next_double() == 0.3843817072926998);
  // randint(0, 2**20 + 3, 2000): many rejections and several state regenerations.
  Mt19937 big(0);
  std::vector<int64_t> tail;
  for (int i = 0; i < 2000; ++i) {
    const int64_t v = big.randint((1 << 20) + 3);
    if (i >= 1997) tail.push_back(v);
  }
  EXPECT((tail == std::vector<int64_t>{530282, 272931, 1030493}));
  EXPECT_THROWS(std::invalid_argument, "randint", r.randint(0));
}

void test_smote_counts_and_validation() {
  // Spec §1.3 examples (ratio 0.2).
  EXPECT(smote_count(990, 10, 0.2) == 188);
  EXPECT(smote_count(5940, 60, 0.2) == 1128);
  EXPECT(smote_count(6000, 18, 0.2) == 1182);
  EXPECT(smote_count(120, 6, 0.2) == 18);
  EXPECT(smote_count(16, 2, 0.2) == 1);
  EXPECT_THROWS(std::invalid_argument, "Please increase the ratio", smote_count(50, 10, 0.2));
  EXPECT_THROWS(std::invalid_argument, "Please increase the ratio", smote_count(50, 11, 0.2));
  smote_validate(1.0, 1);
  EXPECT_THROWS(std::invalid_argument, "range (0, 1]", smote_validate(1.5, 2));
  EXPECT_THROWS(std::invalid_argument, "range (0, 1]", smote_validate(-0.2, 2));
  EXPECT_THROWS(std::invalid_argument, "k_neighbors", smote_validate(0.2, 0));
}

void test_smote_samples() {
  const torch::Tensor m = torch::randn({7, 5});
  const SmoteSamples s = smote_samples(m, 40, 3, cpu_ctx());
  EXPECT(s.synthetic.sizes() == torch::IntArrayRef({40, 5}) && s.synthetic.scalar_type() == torch::kFloat32);
  // Neighbour table: the 3 nearest other rows, ascending.
  const torch::Tensor d = brute_dist(m, m) + torch::eye(7, torch::kFloat64) * 1e9;
  EXPECT(torch::equal(s.neighbors, std::get<1>(d.sort(true, 1, false)).narrow(1, 0, 3)));
  // Draws: the same stream as numpy (integers first, then doubles).
  Mt19937 rng(0);
  bool draws_ok = true;
  for (int64_t i = 0; i < 40; ++i) {
    const int64_t f = rng.randint(21);
    draws_ok &= s.rows[i].item<int64_t>() == f / 3 && s.cols[i].item<int64_t>() == f % 3;
  }
  for (int64_t i = 0; i < 40; ++i) draws_ok &= s.steps[i].item<double>() == rng.next_double();
  EXPECT(draws_ok);
  // Each synthetic row is base + step · (neighbour − base), rounded to float32.
  const torch::Tensor base = m.index_select(0, s.rows);
  const torch::Tensor nb = m.index_select(0, s.neighbors.index({s.rows, s.cols}));
  const torch::Tensor want = (base.to(torch::kFloat64) + s.steps.unsqueeze(1) * (nb - base).to(torch::kFloat64)).to(torch::kFloat32);
  EXPECT(torch::equal(s.synthetic, want));
  EXPECT_THROWS(std::invalid_argument, "Expected n_neighbors <= n_samples, but n_samples = 2, n_neighbors = 3",
               smote_samples(torch::randn({2, 5}), 1, 2, cpu_ctx()));
}

void test_knn_with_smote() {
  for (Metric metric : {Metric::Cosine, Metric::Euclid}) {
    const EmbedSet train = make_set(60, 5, 8);
    const torch::Tensor q = torch::randn({20, 8});
    KnnOptions o{1, 2, metric, 0.3, 2};
    Knn knn(o);
    knn.fit(train, cpu_ctx());
    EXPECT(knn.warnings.empty());
    // Reference: S and T built by hand, T = target rows + 60·0.3 − 5 = 13 synthetic rows.
    const bool cos = metric == Metric::Cosine;
    torch::Tensor e = train.embed;
    if (cos) e = l2_normalize(e);
    const torch::Tensor src = e.narrow(0, 0, 60), tgt = e.narrow(0, 60, 5);
    const SmoteSamples s = smote_samples(tgt, 13, 2, cpu_ctx());
    torch::Tensor t_all = torch::cat({tgt, s.synthetic});
    if (cos) t_all = l2_normalize(t_all);
    const torch::Tensor qq = cos ? brute_normalize(q) : q.to(torch::kFloat64);
    const torch::Tensor ds = std::get<0>(brute_dist(qq, src).sort(1)).narrow(1, 0, 1).mean(1);
    const torch::Tensor dt = std::get<0>(brute_dist(qq, t_all).sort(1)).narrow(1, 0, 2).mean(1);
    torch::Tensor want = torch::minimum(ds, dt);
    if (cos) want = want / 2;
    EXPECT(max_abs_diff(knn.score({q, {}, {}}, cpu_ctx()), want) <= 1e-6);
  }
  // Errors appear only when SMOTE runs: too few target rows for k + 1, bad ratio / neighbours.
  Knn few({1, 1, Metric::Cosine, 0.2, 2});
  EXPECT_THROWS(std::invalid_argument, "n_samples = 2, n_neighbors = 3", few.fit(make_set(16, 2, 4), cpu_ctx()));
  Knn bad_ratio({1, 1, Metric::Cosine, 1.5, 2});
  EXPECT_THROWS(std::invalid_argument, "range (0, 1]", bad_ratio.fit(make_set(40, 4, 4), cpu_ctx()));
  Knn bad_k({1, 1, Metric::Cosine, 0.2, 0});
  EXPECT_THROWS(std::invalid_argument, "k_neighbors", bad_k.fit(make_set(40, 4, 4), cpu_ctx()));
  bad_k.fit(make_set(40, 0, 4), cpu_ctx());  // no target rows: SMOTE never runs, no validation
  Knn no_ta({1, 0, Metric::Cosine, 1.5, 0});
  no_ta.fit(make_set(40, 4, 4), cpu_ctx());  // n_neighbors_ta = 0: likewise
  EXPECT(no_ta.warnings.empty());
}

// KnnRescale reference: c_j = mean of sorted column j entries 1..k of the full distance matrix.
torch::Tensor brute_rescale(const torch::Tensor& train, const torch::Tensor& q, int64_t n, int64_t k, Metric m) {
  const bool cos = m == Metric::Cosine;
  const torch::Tensor r = cos ? brute_normalize(train) : train.to(torch::kFloat64);
  const torch::Tensor qq = cos ? brute_normalize(q) : q.to(torch::kFloat64);
  const torch::Tensor sorted = std::get<0>(brute_dist(r, r).sort(0));
  const int64_t kk = std::min<int64_t>(k, r.size(0) - 1);
  const torch::Tensor c = sorted.narrow(0, 1, kk).mean(0);
  const torch::Tensor scaled = brute_dist(qq, r) / c.unsqueeze(0);
  return std::get<0>(scaled.sort(1)).narrow(1, 0, std::min<int64_t>(n, r.size(0))).mean(1);
}

void test_knn_rescale_vs_brute() {
  struct Case { int64_t rows, n, k; Metric m; };
  for (const Case& c : {Case{50, 1, 4, Metric::Cosine}, Case{50, 3, 4, Metric::Euclid}, Case{3, 2, 4, Metric::Euclid},
                        Case{30, 40, 2, Metric::Cosine}}) {
    EmbedSet train = make_set(c.rows - c.rows / 5, c.rows / 5, 6);
    torch::Tensor q = torch::randn({25, 6});
    q[0].zero_();
    KnnRescale b({c.n, c.k, c.m});
    b.fit(train, cpu_ctx());
    EXPECT(b.warnings.empty());
    EXPECT(max_abs_diff(b.score({q, {}, {}}, cpu_ctx()), brute_rescale(train.embed, q, c.n, c.k, c.m)) <= 1e-6);
    const torch::Tensor self = b.score(train, cpu_ctx());
    EXPECT(max_abs_diff(self, brute_rescale(train.embed, train.embed, c.n, c.k, c.m)) <= 1e-6);
    if (c.n == 1) EXPECT(self.abs().max().item<double>() <= 1e-6);  // each row matches itself
  }
  // One reference row: empty mean → NaN scores (not guarded, as in ASDKit).
  KnnRescale one({1, 4});
  one.fit(make_set(1, 0, 3), cpu_ctx());
  EXPECT(torch::isnan(one.score({torch::randn({2, 3}), {}, {}}, cpu_ctx())).all().item<bool>());
  EXPECT_THROWS(std::invalid_argument, "k_ref_normalize", KnnRescale({1, 0}));
  EXPECT_THROWS(std::invalid_argument, "n_neighbors", KnnRescale({0, 4}));
}

// Tight, well separated clusters: k-means must recover the cluster means whatever its init.
void test_kmeans_recovers_clusters() {
  const int64_t k = 16, per = 10, dim = 12;
  const torch::Tensor means = torch::randn({k, dim}) * 10;
  const torch::Tensor x = (means.repeat_interleave(per, 0) + torch::randn({k * per, dim}) * 0.01)
                              .index_select(0, torch::randperm(k * per, torch::kLong));
  const torch::Tensor centers = kmeans_fit(x, k, {}, cpu_ctx());
  EXPECT(centers.sizes() == torch::IntArrayRef({k, dim}) && centers.scalar_type() == torch::kFloat32);
  // Every true mean has one fitted centre next to it, and vice versa.
  const torch::Tensor d = brute_dist(means, centers);
  EXPECT(std::get<0>(d.min(1)).max().item<double>() < 0.05);
  EXPECT(std::get<0>(d.min(0)).max().item<double>() < 0.05);
  EXPECT(std::get<0>(at::_unique(std::get<1>(d.min(1)))).numel() == k);
  EXPECT(torch::equal(centers, kmeans_fit(x, k, {}, cpu_ctx())));  // deterministic
  KmeansFitOptions three;
  three.n_init = 3;
  EXPECT(std::get<0>(brute_dist(means, kmeans_fit(x, k, three, cpu_ctx())).min(1)).max().item<double>() < 0.05);
  // Exactly k distinct rows: the centres are those rows.
  const torch::Tensor rows = torch::randn({k, dim});
  const torch::Tensor c2 = kmeans_fit(rows, k, {}, cpu_ctx());
  EXPECT(std::get<0>(brute_dist(rows, c2).min(1)).max().item<double>() < 1e-6);
  EXPECT_THROWS(std::invalid_argument, "n_samples=5 should be >= n_clusters=16", kmeans_fit(torch::randn({5, 3}), 16, {}, cpu_ctx()));
}

void test_kmeans_backend() {
  const EmbedSet train = make_set(40, 3, 6);
  const torch::Tensor q = torch::randn({30, 6});
  for (Metric m : {Metric::Cosine, Metric::Euclid}) {
    KmeansOptions o;
    o.n_clusters = 4;
    o.metric = m;
    Kmeans km(o);
    km.fit(train, cpu_ctx());
    EXPECT(km.warnings.empty());
    // Reference: the same clustering, then the §1.4 formula by brute force.
    const bool cos = m == Metric::Cosine;
    const torch::Tensor e = cos ? l2_normalize(train.embed) : train.embed;
    torch::Tensor c = kmeans_fit(e.narrow(0, 0, 40), 4, {}, cpu_ctx());
    if (cos) c = l2_normalize(c);
    const torch::Tensor all = torch::cat({c, e.narrow(0, 40, 3)});
    const torch::Tensor qq = cos ? brute_normalize(q) : q.to(torch::kFloat64);
    const torch::Tensor dmin = std::get<0>(brute_dist(qq, all).min(1));
    const torch::Tensor want = cos ? dmin.square() / 2 : dmin;
    EXPECT(max_abs_diff(km.score({q, {}, {}}, cpu_ctx()), want) <= 1e-6);
    EXPECT(max_abs_diff(kmeans_score(q, all, m, cpu_ctx()), want) <= 1e-6);
    // Target training rows are centres: score ≈ 0.
    EXPECT(km.score(train, cpu_ctx()).narrow(0, 40, 3).abs().max().item<double>() <= 1e-6);
    if (cos) {
      // Cosine: score <= 1 − max cos to the target rows, and a zero query scores 0.5.
      const torch::Tensor cos_t = std::get<0>(qq.matmul(brute_normalize(train.embed.narrow(0, 40, 3)).t()).max(1));
      EXPECT((km.score({q, {}, {}}, cpu_ctx()) <= 1 - cos_t + 1e-6).all().item<bool>());
      EXPECT(std::abs(kmeans_score(torch::zeros({1, 6}), all, m, cpu_ctx())[0].item<double>() - 0.5) <= 1e-6);
    }
  }
  KmeansOptions o;
  o.n_clusters = 4;
  Kmeans no_target(o);
  no_target.fit(make_set(20, 0, 5), cpu_ctx());
  EXPECT(no_target.warnings == std::vector<std::string>{"number of target data is 0."});
  Kmeans too_few(o);
  EXPECT_THROWS(std::invalid_argument, "n_samples=3 should be >= n_clusters=4", too_few.fit(make_set(3, 10, 5), cpu_ctx()));
  o.n_clusters = 0;
  EXPECT_THROWS(std::invalid_argument, "n_clusters", Kmeans{o});
}

void test_cuda_matches_cpu() {
  if (!torch::cuda::is_available()) {
    std::cout << "  (no CUDA device: skipped)\n";
    return;
  }
  RunContext gpu;
  gpu.device = torch::Device(torch::kCUDA, 0);
  const EmbedSet train = make_set(200, 10, 16);
  const torch::Tensor q = torch::randn({50, 16});
  const SmoteSamples a = smote_samples(train.embed.narrow(0, 200, 10), 30, 2, cpu_ctx());
  const SmoteSamples b = smote_samples(train.embed.narrow(0, 200, 10).to(gpu.device), 30, 2, gpu);
  EXPECT(b.synthetic.device() == gpu.device && torch::equal(a.synthetic, b.synthetic.cpu()));
  KnnRescale kr({3, 4});
  kr.fit(train, gpu);
  EXPECT(max_abs_diff(kr.score({q, {}, {}}, gpu), brute_rescale(train.embed, q, 3, 4, Metric::Cosine)) <= 1e-6);
  const torch::Tensor x = torch::randn({300, 8});
  EXPECT(max_abs_diff(kmeans_fit(x.to(gpu.device), 8, {}, gpu), kmeans_fit(x, 8, {}, cpu_ctx())) <= 1e-4);
}

}  // namespace

int main() {
  torch::manual_seed(4321);
  const std::vector<std::pair<const char*, std::function<void()>>> tests = {
      {"mt19937_matches_numpy", test_mt19937_matches_numpy},
      {"smote_counts_and_validation", test_smote_counts_and_validation},
      {"smote_samples", test_smote_samples},
      {"knn_with_smote", test_knn_with_smote},
      {"knn_rescale_vs_brute", test_knn_rescale_vs_brute},
      {"kmeans_recovers_clusters", test_kmeans_recovers_clusters},
      {"kmeans_backend", test_kmeans_backend},
      {"cuda_matches_cpu", test_cuda_matches_cpu},
  };
  return run_tests(tests);
}
