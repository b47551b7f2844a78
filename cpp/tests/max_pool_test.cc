// Tests for MaxPool3x3 (nn/max_pool.h) against at::max_pool2d (3×3, stride 2, padding 0/1):
// forward values, input gradients (bit for bit: the same argmax, summed in the same order),
// ties (quantised and post-ReLU data, ±0), ±inf and NaN, the no-grad kernel, the fallbacks and
// the double backward.
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "expect.h"
#include "nn/max_pool.h"

using asd::nn::MaxPool3x3;

namespace {

// Bitwise equality of float tensors: NaN == NaN (same payload) and +0 != −0, which torch::equal
// does not give.
bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
  return torch::equal(a.contiguous().view(torch::kInt32), b.contiguous().view(torch::kInt32));
}

// Forward and input gradient for upstream gradient g, through the module and through ATen.
struct Result {
  torch::Tensor y, gx;
  std::string grad_fn;
};
Result run_module(const torch::Tensor& x, int64_t pad, const torch::Tensor& g) {
  MaxPool3x3 pool(pad);
  auto xi = x.detach().clone().requires_grad_(true);
  auto y = pool->forward(xi);
  Result r{y.detach(), {}, y.grad_fn() ? y.grad_fn()->name() : ""};
  y.backward(g);
  r.gx = xi.grad();
  return r;
}
Result run_aten(const torch::Tensor& x, int64_t pad, const torch::Tensor& g) {
  auto xi = x.detach().clone().requires_grad_(true);
  auto y = torch::max_pool2d(xi, {3, 3}, {2, 2}, {pad, pad});
  Result r{y.detach(), {}, y.grad_fn()->name()};
  y.backward(g);
  r.gx = xi.grad();
  return r;
}

bool uses_fast_path(const Result& r) { return r.grad_fn.find("MaxPool3x3Function") != std::string::npos; }

// Checks one input under both paddings: grad path (values and gradient bitwise), no-grad path
// (values; ±0 may differ in sign there), ATen's shape.
void check(const torch::Tensor& x, const std::string& what) {
  for (int64_t pad : {0, 1}) {
    if (x.size(2) + 2 * pad < 3 || x.size(3) + 2 * pad < 3) continue;  // no window fits
    const int64_t ho = (x.size(2) + 2 * pad - 3) / 2 + 1, wo = (x.size(3) + 2 * pad - 3) / 2 + 1;
    const auto g = torch::randn({x.size(0), x.size(1), ho, wo});
    const auto ours = run_module(x, pad, g);
    const auto ref = run_aten(x, pad, g);
    const bool fast = uses_fast_path(ours), y_ok = same_bits(ours.y, ref.y), g_ok = same_bits(ours.gx, ref.gx);
    EXPECT(fast);
    EXPECT(y_ok);
    EXPECT(g_ok);
    torch::Tensor y_nograd;
    {
      torch::NoGradGuard no_grad;
      y_nograd = MaxPool3x3(pad)->forward(x);
    }
    // NaN-aware value equality (−0 == +0).
    const bool ng_ok = y_nograd.sizes() == ref.y.sizes() &&
                       torch::equal(torch::isnan(y_nograd), torch::isnan(ref.y)) &&
                       torch::equal(torch::nan_to_num(y_nograd, 0.0, 1e30, -1e30),
                                    torch::nan_to_num(ref.y, 0.0, 1e30, -1e30));
    EXPECT(ng_ok);
    if (!(fast && y_ok && g_ok && ng_ok)) {
      std::cerr << "  case: " << what << ", pad " << pad << ", x " << x.sizes() << ", fast " << fast
                << ", y " << y_ok << ", gx " << g_ok << ", no-grad y " << ng_ok << "\n";
    }
  }
}

const std::vector<std::vector<int64_t>> kShapes = {
    {2, 3, 3, 3}, {1, 2, 4, 4}, {2, 3, 5, 6}, {2, 2, 8, 7}, {1, 3, 9, 9}, {3, 2, 16, 17}, {2, 4, 37, 40}, {1, 2, 62, 71}};

void test_random() {
  torch::manual_seed(1);
  for (const auto& s : kShapes) check(torch::randn(s), "randn");
}

void test_ties() {
  torch::manual_seed(2);
  for (const auto& s : kShapes) {
    check(torch::randint(0, 3, s).to(torch::kFloat32), "quantised {0,1,2}");
    check(torch::relu(torch::randn(s) - 0.5), "post-ReLU (mostly zeros)");
    check(torch::zeros(s), "all zero");
    check(torch::full(s, 7.0), "constant");
    // ±0 ties: which element wins decides the sign of the output and where the gradient goes.
    auto pm0 = torch::where(torch::rand(s) < 0.5, torch::zeros(s), -torch::zeros(s));
    check(pm0, "±0 only");
    check(torch::where(torch::rand(s) < 0.3, torch::full(s, -1.0), pm0), "±0 and −1");
  }
}

void test_infinities_and_nan() {
  torch::manual_seed(3);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (const auto& s : kShapes) {
    check(torch::full(s, -inf), "all −inf");
    auto x = torch::randint(0, 2, s).to(torch::kFloat32);
    check(torch::where(torch::rand(s) < 0.6, torch::full(s, -inf), x), "−inf and ties");
    check(torch::where(torch::rand(s) < 0.2, torch::full(s, inf), x), "+inf ties");
    check(torch::where(torch::rand(s) < 0.05, torch::full(s, nan), torch::randn(s)), "sparse NaN");
    check(torch::where(torch::rand(s) < 0.5, torch::full(s, nan), x), "dense NaN (several per window)");
  }
  // One NaN per plane, everything else in NaN-free planes of the same batch.
  auto x = torch::randn({4, 2, 11, 12});
  x[1][0][5][6] = nan;
  x[3][1][0][0] = nan;
  check(x, "one NaN per plane");
}

void test_gradient_sums() {
  // Overlapping windows: one input element is the argmax of four outputs; its gradient is their
  // sum, added in output order (checked bitwise by check(); here against hand arithmetic).
  auto x = torch::zeros({1, 1, 5, 5});
  x[0][0][2][2] = 1.0;  // shared by all four windows of padding 0
  auto g = torch::tensor({1.0f, 2.0f, 4.0f, 8.0f}).view({1, 1, 2, 2});
  const auto r = run_module(x, 0, g);
  EXPECT(uses_fast_path(r));
  EXPECT(r.gx[0][0][2][2].item<float>() == 15.0f);
  EXPECT(r.gx.sum().item<float>() == 15.0f);
  EXPECT(r.y.eq(1.0).all().item<bool>());
}

void test_fallbacks() {
  torch::manual_seed(4);
  const auto x = torch::relu(torch::randn({2, 3, 9, 10}));
  const auto g = torch::randn({2, 3, 5, 5});
  // float64, channels-last and a non-contiguous view go through ATen and still agree with it.
  const auto d = run_module(x.to(torch::kFloat64), 1, g.to(torch::kFloat64));
  const auto dr = run_aten(x.to(torch::kFloat64), 1, g.to(torch::kFloat64));
  EXPECT(!uses_fast_path(d));
  EXPECT(torch::equal(d.y, dr.y) && torch::equal(d.gx, dr.gx));
  const auto cl = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const auto c = run_module(cl, 1, g), cr = run_aten(cl, 1, g);
  EXPECT(!uses_fast_path(c));
  EXPECT(torch::equal(c.y, cr.y) && torch::equal(c.gx, cr.gx));
  const auto t = torch::relu(torch::randn({2, 3, 10, 9})).transpose(2, 3);
  const auto tv = run_module(t, 1, g), tr = run_aten(t, 1, g);
  EXPECT(torch::equal(tv.y, tr.y) && torch::equal(tv.gx, tr.gx));
  // Too small for a window: ATen's error, with and without grad.
  EXPECT_THROWS(c10::Error, "too small", MaxPool3x3(0)->forward(torch::zeros({1, 1, 2, 5})));
  EXPECT_THROWS(c10::Error, "too small",
                MaxPool3x3(0)->forward(torch::zeros({1, 1, 5, 2}).requires_grad_(true)));
  // The smallest inputs that fit: with padding 1, a 1×1 plane gives one output.
  check(torch::randn({1, 2, 1, 1}), "1×1");
  check(torch::randn({1, 2, 3, 1}), "3×1");
}

void test_double_backward() {
  // Under create_graph the input gradient is differentiable in the upstream gradient (it is a
  // scatter of it); both paths must give the same first and second derivatives.
  torch::manual_seed(5);
  const auto x0 = torch::randint(0, 3, {2, 2, 8, 9}).to(torch::kFloat32);
  const auto w = torch::randn({2, 2, 8, 9});
  for (int64_t pad : {0, 1}) {
    std::vector<torch::Tensor> gx(2), gg(2);
    for (int path = 0; path < 2; ++path) {
      auto x = x0.clone().requires_grad_(true);
      auto y = path == 0 ? MaxPool3x3(pad)->forward(x) : torch::max_pool2d(x, {3, 3}, {2, 2}, {pad, pad});
      auto g = torch::arange(y.numel()).view(y.sizes()).to(torch::kFloat32).requires_grad_(true);
      auto first = torch::autograd::grad({y}, {x}, {g}, /*retain_graph=*/true, /*create_graph=*/true)[0];
      gx[path] = first.detach();
      gg[path] = torch::autograd::grad({(first * w).sum()}, {g})[0];
    }
    EXPECT(same_bits(gx[0], gx[1]));
    EXPECT(same_bits(gg[0], gg[1]));
  }
}

}  // namespace

int main() {
  torch::set_num_threads(2);  // exercise the plane split across threads
  return run_tests({
      {"random", test_random},
      {"ties", test_ties},
      {"infinities and NaN", test_infinities_and_nan},
      {"gradient sums", test_gradient_sums},
      {"fallbacks", test_fallbacks},
      {"double backward", test_double_backward},
  });
}
