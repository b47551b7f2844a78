// Tests for the augmentations (augment/mixup.h, specaug.h, featex.h) against independent
// plain-loop computations from the exposed draws. Plain executable: exit code 0 = pass.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "augment/featex.h"
#include "augment/mixup.h"
#include "augment/specaug.h"
#include "expect.h"

using namespace asd::augment;

namespace {

at::Generator gen(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

torch::Tensor onehot(const std::vector<int64_t>& cls, int64_t c) {
  auto y = torch::zeros({static_cast<int64_t>(cls.size()), c});
  for (size_t i = 0; i < cls.size(); ++i) y[static_cast<int64_t>(i)][cls[i]] = 1.0;
  return y;
}

double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

bool is_perm(const torch::Tensor& p) {
  std::set<int64_t> s;
  for (int64_t i = 0; i < p.size(0); ++i) s.insert(p[i].item<int64_t>());
  return static_cast<int64_t>(s.size()) == p.size(0) && (s.empty() || (*s.begin() == 0 && *s.rbegin() == p.size(0) - 1));
}

// ---- Mixup --------------------------------------------------------------------------------

void mixup_formula() {
  const int64_t B = 7, L = 30, C = 4;
  auto g0 = gen(1);
  Batch batch{{"wave", torch::randn({B, L}, g0, torch::TensorOptions())},
              {"onehot_main", onehot({0, 1, 2, 3, 0, 1, 2}, C)},
              {"idx_main", torch::arange(B)},
              {"other", torch::randn({B, 3}, g0, torch::TensorOptions())}};
  Mixup mix(0.5);
  MixupDraw d;
  auto out = mix.forward(batch, gen(5), true, &d);
  EXPECT(is_perm(d.perm));
  EXPECT(d.lambda.min().item<double>() >= 0 && d.lambda.max().item<double>() < 1);
  for (const char* key : {"wave", "onehot_main"}) {
    auto t = batch[key].to(torch::kFloat64);
    auto o = out[key].to(torch::kFloat64);
    double dev = 0;
    for (int64_t b = 0; b < B; ++b) {
      const double lam = d.lambda[b].item<double>();
      const int64_t p = d.perm[b].item<int64_t>();
      const double m = d.mixed[b].item<bool>() ? 1.0 : 0.0;
      for (int64_t j = 0; j < t.size(1); ++j) {
        const double ref = m * (lam * t[b][j].item<double>() + (1 - lam) * t[p][j].item<double>()) +
                           (1 - m) * t[b][j].item<double>();
        dev = std::max(dev, std::abs(ref - o[b][j].item<double>()));
      }
    }
    EXPECT(dev < 1e-6);
  }
  EXPECT(max_abs(out["onehot_main"].sum(1), torch::ones({B})) < 1e-6);
  EXPECT(torch::equal(out["idx_main"], batch["idx_main"]));
  EXPECT(torch::equal(out["other"], batch["other"]));
  // Same draw when drawn directly from the same seed.
  auto d2 = draw_mixup(B, 0.5, gen(5));
  EXPECT(torch::equal(d.lambda, d2.lambda) && torch::equal(d.perm, d2.perm) &&
         torch::equal(d.mixed, d2.mixed));
}

// The CPU float32 one-pass kernel against the ATen composite it replaces (gather, products, sum,
// select): bit-identical, for rows longer than one parallel chunk (2^15 floats, so chunks start
// and end inside rows) and for short rows; other dtypes and layouts take the composite.
void mixup_one_pass_matches_composite() {
  auto composite = [](const torch::Tensor& t, const MixupDraw& d) {
    std::vector<int64_t> shape(static_cast<size_t>(t.dim()), 1);
    shape[0] = t.size(0);
    const auto lam = d.lambda.to(t.scalar_type()).view(shape);
    const auto mixture = lam * t + (1 - lam) * t.index_select(0, d.perm);
    return torch::where(d.mixed.view(shape), mixture, t);
  };
  for (const auto& shape : std::vector<std::vector<int64_t>>{{5, 40001}, {9, 2, 7}, {64, 187}}) {
    auto g0 = gen(21);
    const auto t = torch::randn(shape, g0, torch::TensorOptions());
    const auto d = draw_mixup(shape[0], 0.5, gen(22));
    EXPECT(d.mixed.any().item<bool>() && !d.mixed.all().item<bool>());
    const auto out = apply_mixup(t, d);
    EXPECT(torch::equal(out, composite(t, d)));
    EXPECT(!torch::equal(out, t));
  }
  // A transposed (non-contiguous) float32 tensor and a float64 one: the composite, same values.
  auto g1 = gen(23);
  const auto tt = torch::randn({30, 6}, g1, torch::TensorOptions()).t();
  const auto d = draw_mixup(6, 0.7, gen(24));
  EXPECT(torch::equal(apply_mixup(tt, d), composite(tt, d)));
  EXPECT(torch::equal(apply_mixup(tt.contiguous(), d), composite(tt, d)));
  EXPECT(torch::equal(apply_mixup(tt.to(torch::kFloat64), d), composite(tt.to(torch::kFloat64), d)));
}

void mixup_identity_and_determinism() {
  const int64_t B = 16;
  auto g0 = gen(2);
  Batch batch{{"wave", torch::randn({B, 40}, g0, torch::TensorOptions())}, {"onehot_x", onehot(std::vector<int64_t>(B, 1), 3)}};
  auto p0 = Mixup(0.0).forward(batch, gen(3));
  EXPECT(torch::equal(p0["wave"], batch["wave"]) && torch::equal(p0["onehot_x"], batch["onehot_x"]));
  auto ev = Mixup(1.0).forward(batch, gen(3), false);
  EXPECT(torch::equal(ev["wave"], batch["wave"]));
  auto a = Mixup(0.5).forward(batch, gen(11));
  auto b = Mixup(0.5).forward(batch, gen(11));
  auto c = Mixup(0.5).forward(batch, gen(12));
  EXPECT(torch::equal(a["wave"], b["wave"]) && torch::equal(a["onehot_x"], b["onehot_x"]));
  EXPECT(!torch::equal(a["wave"], c["wave"]));
  // prob 1: every row mixed; soft labels still sum to 1 (all the same class → unchanged).
  MixupDraw d;
  auto all = Mixup(1.0).forward(batch, gen(4), true, &d);
  EXPECT(d.mixed.all().item<bool>());
  EXPECT(max_abs(all["onehot_x"], batch["onehot_x"]) < 1e-6);
  // Bernoulli fraction.
  auto big = draw_mixup(20000, 0.5, gen(9));
  const double frac = big.mixed.to(torch::kFloat64).mean().item<double>();
  EXPECT(frac > 0.48 && frac < 0.52);
  // Works on float64 and on 3-D tensors; device/dtype preserved.
  auto w3 = torch::randn({B, 2, 5}, torch::kFloat64);
  auto o3 = apply_mixup(w3, d);
  EXPECT(o3.scalar_type() == torch::kFloat64 && o3.sizes() == w3.sizes());
  EXPECT(max_abs(o3[0], d.lambda[0].item<double>() * w3[0] +
                            (1 - d.lambda[0].item<double>()) * w3[d.perm[0].item<int64_t>()]) < 1e-12);
}

void mixup_errors() {
  EXPECT_THROWS(std::invalid_argument, "prob", Mixup(1.5));
  EXPECT_THROWS(std::invalid_argument, "prob", draw_mixup(3, -0.1, gen(0)));
  Batch bad{{"wave", torch::zeros({3, 4})}, {"onehot_a", torch::zeros({4, 2})}};
  EXPECT_THROWS(std::invalid_argument, "batch size", Mixup().forward(bad, gen(0)));
  auto d = draw_mixup(3, 0.5, gen(0));
  EXPECT_THROWS(std::invalid_argument, "floating", apply_mixup(torch::zeros({3, 2}, torch::kInt64), d));
  EXPECT_THROWS(std::invalid_argument, "batch size", apply_mixup(torch::zeros({2, 2}), d));
}

// ---- SpecAug ------------------------------------------------------------------------------

void specaug_spectrogram_masks() {
  SpecAugOptions o;
  o.time_width = 6, o.freq_width = 4, o.time_prob = 0.7, o.freq_prob = 0.7;
  SpecAug aug(o);
  const int64_t B = 12, Fq = 9, T = 15;
  auto x = torch::rand({B, Fq, T}, gen(1), torch::TensorOptions()) + 0.5;  // strictly positive
  SpecAugDraw d;
  auto y = aug.augment(x, gen(7), &d);
  EXPECT(y.sizes() == x.sizes());
  int64_t dev = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t ts = d.time.start[b].item<int64_t>(), tw = d.time.width[b].item<int64_t>();
    const int64_t fs = d.freq.start[b].item<int64_t>(), fw = d.freq.width[b].item<int64_t>();
    EXPECT(tw >= 0 && tw < 6 && fw >= 0 && fw < 4 && ts >= 0 && ts + tw <= T && fs + fw <= Fq);
    const bool ta = d.time.apply[b].item<bool>(), fa = d.freq.apply[b].item<bool>();
    for (int64_t f = 0; f < Fq; ++f)
      for (int64_t t = 0; t < T; ++t) {
        const bool zero = (ta && t >= ts && t < ts + tw) || (fa && f >= fs && f < fs + fw);
        const float ref = zero ? 0.f : x[b][f][t].item<float>();
        dev += ref != y[b][f][t].item<float>();
      }
  }
  EXPECT(dev == 0);
  // iid: masks differ between samples.
  EXPECT(!torch::equal(d.time.start, d.time.start[0].expand({B})) ||
         !torch::equal(d.time.width, d.time.width[0].expand({B})));
  // Non-iid: one shared (start, width).
  o.iid = false;
  SpecAugDraw ds;
  SpecAug(o).augment(x, gen(7), &ds);
  EXPECT(torch::equal(ds.time.start, ds.time.start[0].expand({B})));
  // Determinism, identity at prob 0, eval passthrough, 4-D input.
  EXPECT(torch::equal(aug.augment(x, gen(7)), y));
  SpecAugOptions z;
  z.time_prob = 0, z.freq_prob = 0;
  EXPECT(torch::equal(SpecAug(z).augment(x, gen(3)), x));
  std::map<std::string, torch::Tensor> batch{{"wave", x}};
  EXPECT(torch::equal(aug.forward(batch, gen(1), false)["wave"], x));
  auto x4 = torch::rand({2, 3, Fq, T}, gen(2), torch::TensorOptions());
  SpecAugDraw d4;
  auto y4 = aug.augment(x4, gen(8), &d4);
  EXPECT(y4.sizes() == x4.sizes() && d4.time.start.size(0) == 6);
  EXPECT(torch::equal(y4.reshape({6, Fq, T}), [&] {
    auto r = apply_axis_mask(x4.reshape({6, Fq, T}), d4.time, -1);
    return apply_axis_mask(r, d4.freq, -2);
  }()));
}

void specaug_stft_roundtrip() {
  const int64_t n_fft = 16, hop = 4, L = 70;
  auto x = torch::randn({2, L}, gen(3), torch::TensorOptions().dtype(torch::kFloat64));
  auto win = torch::hann_window(n_fft, true, torch::TensorOptions().dtype(torch::kFloat64));
  auto s = stft_complex(x, n_fft, hop, win);
  EXPECT(s.size(1) == n_fft / 2 + 1 && s.size(2) == 1 + L / hop);
  // Direct DFT of frame t (zero centre padding), bin k.
  double dev = 0;
  const double pi = std::acos(-1.0);
  for (int64_t t : {0, 5, 17})
    for (int64_t k : {0, 3, 8}) {
      std::complex<double> acc = 0;
      for (int64_t n = 0; n < n_fft; ++n) {
        const int64_t idx = t * hop + n - n_fft / 2;
        const double v = (idx >= 0 && idx < L) ? x[1][idx].item<double>() : 0.0;
        acc += v * win[n].item<double>() * std::polar(1.0, -2 * pi * k * n / n_fft);
      }
      const auto got = std::complex<double>(torch::real(s[1][k][t]).item<double>(),
                                            torch::imag(s[1][k][t]).item<double>());
      dev = std::max(dev, std::abs(got - acc));
    }
  EXPECT(dev < 1e-10);
  EXPECT(max_abs(istft_complex(s, n_fft, hop, win, L), x) < 1e-10);
  // Waveform SpecAug with no masking ≈ identity (Hann and Hamming), shape kept.
  SpecAugOptions o;
  o.time_prob = 0, o.freq_prob = 0, o.n_fft = 64;
  auto w = torch::randn({3, 1000}, gen(4), torch::TensorOptions());
  EXPECT(max_abs(SpecAug(o).augment(w, gen(0)), w) < 1e-4);
  o.window = SpecAugWindow::Hamming;
  EXPECT(max_abs(SpecAug(o).augment(w, gen(0)), w) < 1e-4);
  // With masks: equals iSTFT(mask(|X|)·e^{i∠X}) from the exposed draw.
  SpecAugOptions m;
  m.n_fft = 64, m.time_width = 10, m.freq_width = 10, m.time_prob = 1, m.freq_prob = 1;
  SpecAug aug(m);
  SpecAugDraw d;
  auto out = aug.augment(w, gen(9), &d);
  EXPECT(out.sizes() == w.sizes());
  auto wn = aug.window({});
  auto X = stft_complex(w, 64, 16, wn);
  auto mag = apply_axis_mask(apply_axis_mask(X.abs(), d.time, -1), d.freq, -2);
  auto ref = istft_complex(torch::polar(mag, torch::angle(X)), 64, 16, wn, 1000);
  EXPECT(max_abs(out, ref) < 1e-5);
  EXPECT(max_abs(aug.augment(w, gen(9)), out) == 0.0);
}

void specaug_errors() {
  SpecAugOptions o;
  o.time_prob = 2;
  EXPECT_THROWS(std::invalid_argument, "prob", (void)SpecAug(o));
  SpecAugOptions h;
  h.hop = 0;
  EXPECT_THROWS(std::invalid_argument, "hop", (void)SpecAug(h));
  SpecAugOptions w;
  w.freq_width = -1;
  EXPECT_THROWS(std::invalid_argument, "width", (void)SpecAug(w));
  EXPECT_THROWS(std::invalid_argument, "floating", SpecAug().augment(torch::zeros({2, 3}, torch::kInt64), gen(0)));
  EXPECT_THROWS(std::invalid_argument, "expected", SpecAug().augment(torch::zeros({5}), gen(0)));
}

// ---- FeatEx -------------------------------------------------------------------------------

void featex_exchange_and_labels() {
  const int64_t B = 9, sub = 3, n = 2, E = sub * n, C = 4;
  auto e = torch::randn({B, E}, gen(1), torch::TensorOptions()).requires_grad_(true);
  auto y_hard = onehot({0, 1, 2, 3, 0, 1, 2, 3, 0}, C);
  auto y_soft = Mixup(1.0).forward({{"onehot_main", y_hard}}, gen(2))["onehot_main"];
  FeatEx fx(0.5, sub);
  auto out = fx.forward(e, {{"onehot_main", y_soft}, {"idx_main", torch::arange(B)}}, gen(3));
  const auto& d = out.draw;
  EXPECT(d.perms.size() == 2 && torch::equal(d.perms[0], torch::arange(B)) && is_perm(d.perms[1]));
  EXPECT(out.labels.count("idx_main") == 0);
  const auto& yl = out.labels.at("onehot_main");
  EXPECT(yl.size(0) == B && yl.size(1) == 3 * C);
  double dev = 0;
  for (int64_t b = 0; b < B; ++b) {
    const bool x = d.exchanged[b].item<bool>();
    const int64_t p = d.perms[1][b].item<int64_t>();
    for (int64_t j = 0; j < E; ++j) {
      const int64_t src = (x && j >= sub) ? p : b;
      dev = std::max(dev, std::abs(out.embed[b][j].item<double>() - e[src][j].item<double>()));
    }
    for (int64_t k = 0; k < 3 * C; ++k) {
      const int64_t blk = k / C, c = k % C;
      double ref;
      if (!x) ref = blk == 0 ? y_soft[b][c].item<double>() : 0.0;
      else if (blk == 0) ref = 0.0;
      else ref = y_soft[blk == 1 ? b : p][c].item<double>() / 2.0;
      dev = std::max(dev, std::abs(ref - yl[b][k].item<double>()));
    }
  }
  EXPECT(dev < 1e-7);
  EXPECT(max_abs(yl.sum(1), torch::ones({B})) < 1e-6);
  const int64_t nx = d.exchanged.sum().item<int64_t>();
  EXPECT(nx > 0 && nx < B);
  // Gradients flow through both sources: d(Σe')/de counts how often each entry is used.
  out.embed.sum().backward();
  EXPECT(max_abs(e.grad().sum(0), torch::full({E}, static_cast<double>(B))) < 1e-6);
  // Determinism.
  auto again = fx.forward(e, {{"onehot_main", y_soft}}, gen(3));
  EXPECT(torch::equal(again.embed, out.embed) && torch::equal(again.labels.at("onehot_main"), yl));
}

void featex_eval_and_prob0() {
  const int64_t B = 6;
  auto e = torch::randn({B, 8}, gen(4), torch::TensorOptions());
  auto y = onehot({0, 1, 2, 0, 1, 2}, 3);
  FeatEx fx(1.0, 4);
  auto g = gen(5);
  auto ev = fx.forward(e, {{"onehot_a", y}}, g, false);
  EXPECT(torch::equal(ev.embed, e));
  EXPECT(torch::equal(ev.labels.at("onehot_a"), torch::cat({y, torch::zeros({B, 6})}, 1)));
  // Eval still draws the same numbers as training (the next draw matches).
  auto g2 = gen(5);
  fx.forward(e, {}, g2, true);
  EXPECT(torch::equal(torch::rand({4}, g, torch::TensorOptions()), torch::rand({4}, g2, torch::TensorOptions())));
  auto p0 = FeatEx(0.0, 4).forward(e, {{"onehot_a", y}}, gen(1));
  EXPECT(torch::equal(p0.embed, e));
  // prob 1, three sub-embeddings: every row exchanged, labels [0, y/3, y_π1/3, y_π2/3].
  auto e3 = torch::randn({B, 6}, gen(6), torch::TensorOptions());
  auto o3 = FeatEx(1.0, 2).forward(e3, {{"onehot_a", y}}, gen(7));
  EXPECT(o3.draw.exchanged.all().item<bool>() && o3.draw.perms.size() == 3);
  EXPECT(o3.labels.at("onehot_a").size(1) == 12);
  EXPECT(max_abs(o3.labels.at("onehot_a").slice(1, 9, 12),
                 y.index_select(0, o3.draw.perms[2]) / 3.0) < 1e-7);
  EXPECT(max_abs(o3.embed.slice(1, 4, 6), e3.slice(1, 4, 6).index_select(0, o3.draw.perms[2])) == 0);
}

void featex_errors() {
  EXPECT_THROWS(std::invalid_argument, "prob", FeatEx(-0.5));
  EXPECT_THROWS(std::invalid_argument, "subspace", FeatEx(0.5, 0));
  FeatEx fx(0.5, 4);
  EXPECT_THROWS(std::invalid_argument, "divisible", fx.forward(torch::zeros({3, 6}), {}, gen(0)));
  EXPECT_THROWS(std::invalid_argument, "(B, E)", fx.forward(torch::zeros({8}), {}, gen(0)));
  EXPECT_THROWS(std::invalid_argument, "batch size",
                fx.forward(torch::zeros({3, 8}), {{"onehot_a", torch::zeros({2, 3})}}, gen(0)));
  auto d = draw_featex(3, 2, 0.5, true, gen(0));
  EXPECT_THROWS(std::invalid_argument, "floating", extend_labels(torch::zeros({3, 2}, torch::kInt64), d));
}

}  // namespace

int main() {
  torch::manual_seed(0);
  return run_tests({{"mixup_formula", mixup_formula},
                    {"mixup_identity_and_determinism", mixup_identity_and_determinism},
                    {"mixup_one_pass_matches_composite", mixup_one_pass_matches_composite},
                    {"mixup_errors", mixup_errors},
                    {"specaug_spectrogram_masks", specaug_spectrogram_masks},
                    {"specaug_stft_roundtrip", specaug_stft_roundtrip},
                    {"specaug_errors", specaug_errors},
                    {"featex_exchange_and_labels", featex_exchange_and_labels},
                    {"featex_eval_and_prob0", featex_eval_and_prob0},
                    {"featex_errors", featex_errors}});
}
