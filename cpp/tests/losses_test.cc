// Tests for the margin heads (losses/margin_heads.h) against independent float64 references
// written with plain loops. Plain executable: exit code 0 = all checks passed.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "expect.h"
#include "losses/margin_heads.h"

using namespace asd::losses;
using Vec = std::vector<double>;
using Mat = std::vector<Vec>;

namespace {

constexpr int64_t B = 5, E = 8, C = 4, K = 3, D = 3;
constexpr double kEps = 1e-7;
double g_max_dev = 0;  // largest float32-vs-float64 deviation seen, reported at the end

Mat to_mat(const torch::Tensor& t) {
  auto d = t.detach().cpu().to(torch::kFloat64).contiguous();
  Mat m(d.size(0), Vec(d.size(1)));
  auto a = d.accessor<double, 2>();
  for (int64_t i = 0; i < d.size(0); ++i)
    for (int64_t j = 0; j < d.size(1); ++j) m[i][j] = a[i][j];
  return m;
}

Vec to_vec(const torch::Tensor& t) {
  auto d = t.detach().cpu().to(torch::kFloat64).contiguous();
  return Vec(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

// |got − want| ≤ tol·max(1, |want|) for every entry; records the deviation.
bool close(const Vec& got, const Vec& want, double tol = 2e-5) {
  if (got.size() != want.size()) return false;
  bool ok = true;
  for (size_t i = 0; i < got.size(); ++i) {
    const double dev = std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i]));
    g_max_dev = std::max(g_max_dev, dev);
    ok = ok && dev <= tol;
  }
  return ok;
}
bool close(double got, double want, double tol = 2e-5) { return close(Vec{got}, Vec{want}, tol); }

double mean(const Vec& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

Vec unit(Vec v) {
  double n = 0;
  for (double x : v) n += x * x;
  n = std::max(std::sqrt(n), 1e-12);
  for (double& x : v) x /= n;
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// cos[b][j] between row b of x (B, E) and column j of W (E, M).
Mat ref_cos(const Mat& x, const Mat& W) {
  const size_t M = W[0].size();
  Mat out(x.size(), Vec(M));
  for (size_t b = 0; b < x.size(); ++b) {
    const Vec xb = unit(x[b]);
    for (size_t j = 0; j < M; ++j) {
      Vec w(W.size());
      for (size_t e = 0; e < W.size(); ++e) w[e] = W[e][j];
      out[b][j] = dot(xb, unit(w));
    }
  }
  return out;
}

// AdaProj cos: W given as (C, D·E) rows reshaped per class.
Mat ref_proj_cos(const Mat& x, const torch::Tensor& W3) {
  auto w = W3.detach().to(torch::kFloat64);
  Mat out(x.size(), Vec(w.size(0)));
  for (size_t b = 0; b < x.size(); ++b) {
    const Vec xb = unit(x[b]);
    for (int64_t c = 0; c < w.size(0); ++c) {
      Vec v(xb.size(), 0.0);
      for (int64_t d = 0; d < w.size(1); ++d) {
        const Vec wd = unit(to_vec(w[c][d]));
        const double a = dot(xb, wd);
        for (size_t e = 0; e < v.size(); ++e) v[e] += a * wd[e];
      }
      out[b][c] = dot(xb, unit(v));
    }
  }
  return out;
}

Vec log_softmax(const Vec& z) {
  const double m = *std::max_element(z.begin(), z.end());
  double s = 0;
  for (double v : z) s += std::exp(v - m);
  Vec out(z.size());
  for (size_t i = 0; i < z.size(); ++i) out[i] = z[i] - m - std::log(s);
  return out;
}

Vec ce_rows(const Mat& logp, const Mat& y) {
  Vec out(y.size(), 0.0);
  for (size_t b = 0; b < y.size(); ++b)
    for (size_t c = 0; c < y[b].size(); ++c) out[b] -= y[b][c] * logp[b][c];
  return out;
}

Mat scaled_log_softmax(const Mat& cos, double s) {
  Mat out;
  for (const auto& row : cos) {
    Vec z(row);
    for (double& v : z) v *= s;
    out.push_back(log_softmax(z));
  }
  return out;
}

// SCAdaCos ln P (B, C): softmax over all C·K columns, summed per contiguous group of K.
Mat ref_sc_logp(const Mat& cos, double s, int64_t k) {
  Mat out;
  for (const auto& row : cos) {
    Vec z(row);
    for (double& v : z) v *= s;
    const Vec lp = log_softmax(z);
    Vec P(row.size() / k, 0.0);
    for (size_t j = 0; j < row.size(); ++j) P[j / k] += std::exp(lp[j]);
    for (double& p : P) p = std::log(p);
    out.push_back(P);
  }
  return out;
}

Mat ref_arcface_logits(const Mat& cos, double s, double m) {
  Mat out(cos);
  for (auto& row : out)
    for (double& v : row) v = s * std::cos(std::acos(std::clamp(v, -1 + kEps, 1 - kEps)) + m);
  return out;
}

double lower_median(Vec v) {
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];
}

double theta(double cos) { return std::acos(std::clamp(cos, -1 + kEps, 1 - kEps)); }

// Rows 0..4: a one-hot batch, and a mixed one (λ·onehot(a) + (1−λ)·onehot(b); row 2 has a = b,
// row 4 stays one-hot so AdaCos's dynamic median is defined).
torch::Tensor one_hot_labels() {
  return torch::one_hot(torch::tensor({0, 1, 2, 3, 1}), C).to(torch::kFloat32);
}
torch::Tensor mixed_labels() {
  auto y = torch::zeros({B, C});
  const int a[B] = {0, 1, 2, 3, 2}, b[B] = {1, 3, 2, 0, 2};
  const float lam[B] = {0.7f, 0.25f, 0.6f, 0.5f, 1.0f};
  for (int64_t i = 0; i < B; ++i) {
    y[i][a[i]] += lam[i];
    y[i][b[i]] += 1 - lam[i];
  }
  return y;
}

torch::Tensor embeddings(int seed) {
  torch::manual_seed(seed);
  return torch::randn({B, E});
}

double item(const torch::Tensor& t) { return t.item<double>(); }

// ---------------------------------------------------------------------------------------------

void test_init_and_names() {
  torch::manual_seed(1);
  SCAdaCos sc({C, E, K});
  const double bound = std::sqrt(6.0 / (E + C * K));
  EXPECT(sc.W.sizes() == torch::IntArrayRef({E, C * K}));
  EXPECT(item(sc.W.abs().max()) <= bound && item(sc.W.abs().max()) > 0.5 * bound);
  EXPECT(close(item(sc.s), std::sqrt(2.0) * std::log(C * K - 1.0), 1e-6));
  EXPECT(!sc.W.requires_grad() && !sc.s.requires_grad());
  auto params = sc.named_parameters();
  EXPECT(params.size() == 2 && params.contains("W") && params.contains("s"));
  // The spec's recipe scales: dcase2023 (C = 187, K = 16).
  EXPECT(std::abs(item(SCAdaCos({187, 4, 16}).s) - 11.3185) < 1e-4);
  EXPECT(std::abs(AdaCos({187, 4}).s() - 7.3903) < 1e-4);

  AdaCos ada({C, E, /*trainable=*/true});
  EXPECT(ada.W.requires_grad() && ada.named_parameters().size() == 1);
  AdaProj proj({C, E, D});
  const double pbound = std::sqrt(6.0 / (D * E + C * E));
  EXPECT(proj.W.sizes() == torch::IntArrayRef({C, D, E}));
  EXPECT(item(proj.W.abs().max()) <= pbound && item(proj.W.abs().max()) > 0.5 * pbound);
  EXPECT(close(item(proj.s), std::sqrt(2.0) * std::log(C - 1.0), 1e-6));
}

void test_scadacos_fixed() {
  SCAdaCos head({C, E, K});
  const auto x = embeddings(2);
  const Mat cos = ref_cos(to_mat(x), to_mat(head.W));
  const double s = item(head.s);
  for (const auto& y : {one_hot_labels(), mixed_labels()}) {
    const Vec want = ce_rows(ref_sc_logp(cos, s, K), to_mat(y));
    EXPECT(close(item(head.forward(x, y)), mean(want)));
    EXPECT(close(to_vec(head.anomaly_score(x, y)), want));
  }
  // Fixed scale: training forwards leave s alone.
  head.train();
  head.forward(x, one_hot_labels());
  EXPECT(item(head.s) == static_cast<float>(s));
  // calc_logits = ln P, so its softmax is P, and the label-free score is −max_c ln P_c.
  const Mat logp = ref_sc_logp(cos, s, K);
  Vec best;
  for (const auto& row : logp) best.push_back(-*std::max_element(row.begin(), row.end()));
  EXPECT(close(to_vec(head.anomaly_score(x)), best));
  Vec flat;
  for (const auto& row : logp) flat.insert(flat.end(), row.begin(), row.end());
  EXPECT(close(to_vec(head.calc_logits(x)), flat));
}

void test_scadacos_dynamic() {
  SCAdaCos head({C, E, K, /*trainable=*/false, /*dynamic=*/true});
  const auto x = embeddings(3);
  const auto y = mixed_labels();
  const Mat cos = ref_cos(to_mat(x), to_mat(head.W));
  const Mat ym = to_mat(y);
  const double s_old = item(head.s);
  double M = -INFINITY;
  for (const auto& row : cos)
    for (double c : row) M = std::max(M, s_old * c);
  Vec bsum(B, 0.0), th(B, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < C * K; ++j) {
      bsum[b] += std::exp(s_old * cos[b][j] - M);
      th[b] += ym[b][j % C] * theta(cos[b][j]);  // the reference's tiled targets
    }
  const double s_new = (M + std::log(mean(bsum))) /
                       (std::cos(std::min(M_PI / 4, lower_median(th))) + kEps);
  const double loss = item(head.forward(x, y));
  EXPECT(close(item(head.s), s_new));
  EXPECT(std::abs(s_new - s_old) > 1e-3);  // the update is observable at all
  EXPECT(close(loss, mean(ce_rows(ref_sc_logp(cos, s_new, K), ym))));
  // Eval mode: no update.
  head.eval();
  const double s_kept = item(head.s);
  head.forward(x, one_hot_labels());
  EXPECT(item(head.s) == s_kept);
}

void test_adacos() {
  const auto x = embeddings(4);
  AdaCos fixed({C, E, false, /*dynamic=*/false});
  const Mat cos = ref_cos(to_mat(x), to_mat(fixed.W));
  const double s = std::sqrt(2.0) * std::log(C - 1.0);
  for (const auto& y : {one_hot_labels(), mixed_labels()}) {
    const Vec want = ce_rows(scaled_log_softmax(cos, s), to_mat(y));
    EXPECT(close(item(fixed.forward(x, y)), mean(want)));
    EXPECT(close(to_vec(fixed.anomaly_score(x, y)), want));
  }

  torch::manual_seed(5);
  AdaCos dyn({C, E, false, /*dynamic=*/true});
  const auto y = mixed_labels();
  const Mat dcos = ref_cos(to_mat(x), to_mat(dyn.W));
  const Mat ym = to_mat(y);
  double bavg = 0;
  Vec target;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < C; ++j) {
      if (ym[b][j] < 1) bavg += std::exp(s * dcos[b][j]);
      if (ym[b][j] == 1) target.push_back(theta(dcos[b][j]));
    }
  const double s_new = std::log(bavg / B) / std::cos(std::min(M_PI / 4, lower_median(target)));
  const double loss = item(dyn.forward(x, y));
  EXPECT(close(dyn.s(), s_new) && std::abs(s_new - s) > 1e-3);
  EXPECT(close(loss, mean(ce_rows(scaled_log_softmax(dcos, s_new), ym))));
  EXPECT(dyn.named_parameters().size() == 1);  // s is not checkpointed
  // A fully mixed batch leaves the median undefined.
  auto all_mixed = torch::full({B, C}, 0.25f);
  EXPECT_THROWS(std::invalid_argument, "one-hot", dyn.forward(x, all_mixed));
}

void test_arcface() {
  const auto x = embeddings(6);
  ArcFace head({C, E});
  const Mat z = ref_arcface_logits(ref_cos(to_mat(x), to_mat(head.W)), 64.0, 0.5);
  Mat logp;
  for (const auto& row : z) logp.push_back(log_softmax(row));
  for (const auto& y : {one_hot_labels(), mixed_labels()}) {
    const Vec want = ce_rows(logp, to_mat(y));
    EXPECT(close(item(head.forward(x, y)), mean(want), 1e-5));
    EXPECT(close(to_vec(head.anomaly_score(x, y)), want, 1e-5));
  }
}

void test_adaproj() {
  const auto x = embeddings(7);
  AdaProj head({C, E, D});
  const Mat cos = ref_proj_cos(to_mat(x), head.W);
  const double s = item(head.s);
  for (const auto& y : {one_hot_labels(), mixed_labels()}) {
    const Vec want = ce_rows(scaled_log_softmax(cos, s), to_mat(y));
    EXPECT(close(item(head.forward(x, y)), mean(want)));
    EXPECT(close(to_vec(head.anomaly_score(x, y)), want));
  }

  AdaProj dyn({C, E, D, false, /*dynamic=*/true});
  const auto y = mixed_labels();
  const Mat dcos = ref_proj_cos(to_mat(x), dyn.W);
  const Mat ym = to_mat(y);
  double M = -INFINITY;
  for (const auto& row : dcos)
    for (double c : row) M = std::max(M, s * c);
  Vec bsum(B, 0.0), th(B, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      bsum[b] += ym[b][c] < 1 ? std::exp(s * dcos[b][c] - M) : std::exp(-M);
      th[b] += ym[b][c] * theta(dcos[b][c]);
    }
  const double s_new = (M + std::log(mean(bsum))) /
                       (std::cos(std::min(M_PI / 4, lower_median(th))) + kEps);
  const double loss = item(dyn.forward(x, y));
  EXPECT(close(item(dyn.s), s_new) && std::abs(s_new - s) > 1e-3);
  EXPECT(close(loss, mean(ce_rows(scaled_log_softmax(dcos, s_new), ym))));
}

void test_reductions() {
  const auto x = embeddings(8);
  const auto y = mixed_labels();
  SCAdaCos none({C, E, K, false, false, kEps, Reduction::None});
  SCAdaCos sum({C, E, K, false, false, kEps, Reduction::Sum});
  sum.W.detach().copy_(none.W);
  const Vec rows = to_vec(none.forward(x, y));
  const Vec want = ce_rows(ref_sc_logp(ref_cos(to_mat(x), to_mat(none.W)), item(none.s), K),
                           to_mat(y));
  EXPECT(close(rows, want));
  EXPECT(close(item(sum.forward(x, y)), mean(want) * B));
}

void test_gradients() {
  const auto y = mixed_labels();
  // Trainable centres: gradients reach the embedding and W; compare d loss / d x against a
  // central difference of the float64 reference.
  SCAdaCos tr({C, E, K, /*trainable=*/true});
  auto x = embeddings(9).requires_grad_(true);
  tr.forward(x, y).backward();
  EXPECT(x.grad().defined() && item(x.grad().abs().sum()) > 0);
  EXPECT(tr.W.grad().defined() && item(tr.W.grad().abs().sum()) > 0);
  EXPECT(!tr.s.grad().defined());
  const Mat W = to_mat(tr.W), ym = to_mat(y);
  const double s = item(tr.s), h = 1e-5;
  for (const auto& [b, e] : {std::pair<int, int>{0, 0}, {3, 5}}) {
    Mat xp = to_mat(x), xm = to_mat(x);
    xp[b][e] += h;
    xm[b][e] -= h;
    const double fd = (mean(ce_rows(ref_sc_logp(ref_cos(xp, W), s, K), ym)) -
                       mean(ce_rows(ref_sc_logp(ref_cos(xm, W), s, K), ym))) / (2 * h);
    EXPECT(close(item(x.grad()[b][e]), fd, 1e-4));
  }

  // Fixed centres: no gradient, and an optimiser step leaves them unchanged.
  for (int which = 0; which < 4; ++which) {
    std::shared_ptr<MarginHead> head;
    if (which == 0) head = std::make_shared<SCAdaCos>(SCAdaCosOptions{C, E, K});
    if (which == 1) head = std::make_shared<AdaCos>(AdaCosOptions{C, E, false, false});
    if (which == 2) head = std::make_shared<ArcFace>(ArcFaceOptions{C, E});
    if (which == 3) head = std::make_shared<AdaProj>(AdaProjOptions{C, E, D});
    auto W = head->named_parameters()["W"];
    const auto before = W.clone();
    torch::optim::AdamW opt(head->parameters(), torch::optim::AdamWOptions(1e-2));
    auto xi = embeddings(10 + which).requires_grad_(true);
    head->forward(xi, y).backward();
    opt.step();
    EXPECT(xi.grad().defined() && item(xi.grad().abs().sum()) > 0);
    EXPECT(!W.grad().defined() && torch::equal(W, before));
  }
}

void test_argument_errors() {
  SCAdaCos head({C, E, K});
  const auto x = embeddings(11);
  EXPECT_THROWS(std::invalid_argument, "embed must be", head.forward(torch::randn({B, E + 1}),
                                                                     one_hot_labels()));
  EXPECT_THROWS(std::invalid_argument, "embed must be", head.forward(torch::randn({E}),
                                                                     one_hot_labels()));
  EXPECT_THROWS(std::invalid_argument, "y must be", head.forward(x, torch::zeros({B, C + 1})));
  EXPECT_THROWS(std::invalid_argument, "y must be", head.forward(x, torch::zeros({B - 1, C})));
  EXPECT_THROWS(std::invalid_argument, "y must be", head.anomaly_score(x, torch::zeros({C})));
  EXPECT_THROWS(std::invalid_argument, "embed must be", head.anomaly_score(torch::zeros({B, 2})));
  EXPECT_THROWS(std::invalid_argument, "n_classes must be >= 2", AdaCos({1, E}));
  EXPECT_THROWS(std::invalid_argument, "n_subclusters", SCAdaCos({C, E, 0}));
  EXPECT_THROWS(std::invalid_argument, "embed_dim", ArcFace({C, 0}));
  EXPECT_THROWS(std::invalid_argument, "subspace_dim", AdaProj({C, E, 0}));
}

}  // namespace

int main() {
  torch::manual_seed(0);
  const int rc = run_tests({
      {"init and parameter names", test_init_and_names},
      {"SCAdaCos fixed scale", test_scadacos_fixed},
      {"SCAdaCos dynamic scale", test_scadacos_dynamic},
      {"AdaCos fixed and dynamic", test_adacos},
      {"ArcFace", test_arcface},
      {"AdaProj fixed and dynamic", test_adaproj},
      {"reductions", test_reductions},
      {"gradients", test_gradients},
      {"argument errors", test_argument_errors},
  });
  std::cout << "max relative deviation vs float64: " << g_max_dev << "\n";
  return rc;
}
