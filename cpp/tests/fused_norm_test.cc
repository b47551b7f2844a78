// nn/fused_norm.h: the STFT stem's BatchNorm + ReLU + 3×3/2 max pool computed pool-first, against
// the three layers run in their order (torch::nn::BatchNorm2d, ReLU, max_pool2d).
// - training (the fused autograd function: CPU float32 channels-last): outputs and dL/dy judged
//   against the layers in float64; its float32 error must stay within 3× the float32 layers' own
//   error (+1e-6 of the reference's scale) — a wrong statistic or a misplaced gradient would be off by O(1);
//   the running statistics and the batch counter after two steps equal the layers' within 1e-5;
// - a large common offset (|mean| = 1000σ) leaves the statistics accurate (shifted sums);
// - eval: bit-identical to the layers in either layout (non-decreasing maps commute with max);
// - an affine BatchNorm and planar training take the layers as they are (bit-identical).
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

#include "expect.h"
#include "nn/max_pool.h"
#include "nn/fused_norm.h"

using asd::nn::bn_relu_max_pool;
using asd::nn::MaxPool3x3;

namespace {

namespace tnn = torch::nn;

struct Result {
  torch::Tensor out, grad;
};

// The layers in their order on y (any dtype/layout), with upstream gradient g.
Result layers(const torch::Tensor& y, tnn::BatchNorm2d& bn, const torch::Tensor& g) {
  auto x = y.detach().clone().requires_grad_(true);
  auto out = torch::max_pool2d(torch::relu(bn->forward(x)), {3, 3}, {2, 2});
  out.backward(g.to(out.dtype()));
  return {out.detach(), x.grad().detach()};
}

Result fused(const torch::Tensor& y, tnn::BatchNorm2d& bn, MaxPool3x3& pool, const torch::Tensor& g) {
  auto x = y.detach().clone(at::MemoryFormat::ChannelsLast).requires_grad_(true);
  auto out = bn_relu_max_pool(x, *bn, *pool);
  out.backward(g);
  return {out.detach(), x.grad().detach()};
}

double rel_err(const torch::Tensor& a, const torch::Tensor& ref) {
  const auto r = ref.to(torch::kFloat64);
  return (a.to(torch::kFloat64) - r).norm().item<double>() / std::max(1e-300, r.norm().item<double>());
}

tnn::BatchNorm2d make_bn(int64_t c, bool affine = false) {
  return tnn::BatchNorm2d(tnn::BatchNormOptions(c).affine(affine));
}

void check_training(double offset, int seed) {
  torch::manual_seed(seed);
  const auto y = torch::randn({3, 16, 29, 37}) * 2.0 + offset;
  const auto g = torch::randn({3, 16, 14, 18});
  auto bn_ref = make_bn(16), bn_f32 = make_bn(16), bn_fused = make_bn(16);
  MaxPool3x3 pool(0);
  bn_ref->to(torch::kFloat64);
  const Result exact = layers(y.to(torch::kFloat64), bn_ref, g.to(torch::kFloat64));
  const Result plain = layers(y, bn_f32, g);
  const Result mine = fused(y, bn_fused, pool, g);
  EXPECT(mine.out.sizes() == exact.out.sizes() && mine.grad.sizes() == y.sizes());
  EXPECT(mine.out.is_contiguous(at::MemoryFormat::ChannelsLast));
  const double out_plain = rel_err(plain.out, exact.out), out_mine = rel_err(mine.out, exact.out);
  const double grad_plain = rel_err(plain.grad, exact.grad), grad_mine = rel_err(mine.grad, exact.grad);
  std::cerr << "  offset " << offset << ": error against float64, outputs layers " << out_plain << ", fused "
            << out_mine << "; dL/dy layers " << grad_plain << ", fused " << grad_mine << "\n";
  EXPECT(out_mine <= 3 * out_plain + 1e-6);
  EXPECT(grad_mine <= 3 * grad_plain + 1e-6);

  // A second step: the running averages and the counter follow BatchNorm2d's.
  const auto y2 = torch::randn({3, 16, 29, 37}) + offset;
  layers(y2.to(torch::kFloat64), bn_ref, g.to(torch::kFloat64));
  fused(y2, bn_fused, pool, g);
  EXPECT(bn_fused->num_batches_tracked.item<int64_t>() == 2);
  EXPECT(rel_err(bn_fused->running_mean, bn_ref->running_mean) < 1e-5);
  EXPECT(rel_err(bn_fused->running_var, bn_ref->running_var) < 1e-5);
}

void test_training_matches_layers() {
  for (int seed : {1, 2, 3}) check_training(0.0, seed);
}

void test_training_large_offset() { check_training(1000.0, 4); }

void test_eval_bit_identical() {
  torch::manual_seed(5);
  auto bn = make_bn(16);
  MaxPool3x3 pool(0);
  bn->train();
  for (int i = 0; i < 3; ++i) bn->forward(torch::randn({4, 16, 20, 20}) * 3 + 1);  // running stats ≠ 0/1
  bn->eval();
  const auto y = torch::randn({2, 16, 31, 26}) * 2;
  torch::NoGradGuard no_grad;
  const auto want = torch::max_pool2d(torch::relu(bn->forward(y)), {3, 3}, {2, 2});
  EXPECT(torch::equal(bn_relu_max_pool(y, *bn, *pool), want));
  const auto y_cl = y.contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT(torch::equal(bn_relu_max_pool(y_cl, *bn, *pool).contiguous(), want));
}

void test_other_cases_take_the_layers() {
  torch::manual_seed(6);
  const auto y = torch::randn({2, 16, 15, 17});
  const auto g = torch::randn({2, 16, 7, 8});
  MaxPool3x3 pool(0);
  {  // affine: the scale may be negative, so the layers in order
    auto bn_a = make_bn(16, true), bn_b = make_bn(16, true);
    {
      torch::NoGradGuard no_grad;
      bn_a->weight.uniform_(-1, 1);
      bn_b->weight.copy_(bn_a->weight);
    }
    const Result want = layers(y, bn_a, g);
    auto x = y.clone().requires_grad_(true);
    auto out = bn_relu_max_pool(x, *bn_b, *pool);
    out.backward(g);
    EXPECT(torch::equal(out.detach(), want.out) && torch::equal(x.grad(), want.grad));
  }
  {  // planar training: the layers
    auto bn_a = make_bn(16), bn_b = make_bn(16);
    const Result want = layers(y, bn_a, g);
    auto x = y.clone().requires_grad_(true);
    auto out = bn_relu_max_pool(x, *bn_b, *pool);
    out.backward(g);
    EXPECT(torch::equal(out.detach(), want.out) && torch::equal(x.grad(), want.grad));
  }
}

}  // namespace

int main() {
  torch::set_num_threads(2);
  return run_tests({
      {"training_matches_layers", test_training_matches_layers},
      {"training_large_offset", test_training_large_offset},
      {"eval_bit_identical", test_eval_bit_identical},
      {"other_cases_take_the_layers", test_other_cases_take_the_layers},
  });
}
