// nn/se_gate.h: the fused squeeze-and-excitation gate of CPU training against the ATen composite.
// - outputs and the gradients of base, h, W1 and W2, judged against the composite in float64:
//   the fused float32 error must stay within 3× the float32 composite's own (+1e-6), for planar
//   4-D, channels-last 4-D and planar 3-D h, with and without a base, and for a spatial size
//   past one summation block; a wrong sum or a misplaced term would be off by O(1);
// - the fused autograd function really runs where it applies (AVX-512 CPU, grad enabled), and the
//   composite runs otherwise (no grad; a layout it does not cover), with equal outputs.
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "common/runtime.h"
#include "expect.h"
#include "nn/se_gate.h"

using asd::nn::se_gate;
using asd::nn::se_gate_reference;

namespace {

using Fn = torch::Tensor (*)(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&);

struct Run {
  torch::Tensor out;
  std::vector<torch::Tensor> grads;  // base (if any), h, W1, W2
  std::string node;                  // the output's autograd node
};

Run run(Fn fn, const torch::Tensor& base, const torch::Tensor& h, const torch::Tensor& w1, const torch::Tensor& w2,
        const torch::Tensor& g, torch::ScalarType dtype, at::MemoryFormat format) {
  std::vector<torch::Tensor> leaves;
  auto leaf = [&](const torch::Tensor& t, bool layout) {
    auto x = t.detach().to(dtype);
    x = (layout ? x.contiguous(format) : x.contiguous()).requires_grad_(true);
    leaves.push_back(x);
    return x;
  };
  const torch::Tensor b = base.defined() ? leaf(base, true) : torch::Tensor();
  const torch::Tensor x = leaf(h, true), a = leaf(w1, false), c = leaf(w2, false);
  torch::Tensor out = fn(b, x, a, c);
  const std::string node = out.grad_fn() ? out.grad_fn()->name() : "";
  out.backward(g.to(dtype).contiguous(format));
  Run r{out.detach(), {}, node};
  for (const auto& t : leaves) r.grads.push_back(t.grad().detach());
  return r;
}

double rel_err(const torch::Tensor& a, const torch::Tensor& ref) {
  const auto r = ref.to(torch::kFloat64);
  return (a.to(torch::kFloat64) - r).norm().item<double>() / std::max(1e-300, r.norm().item<double>());
}

void check(std::vector<int64_t> shape, bool channels_last, bool with_base, int seed) {
  torch::manual_seed(seed);
  const int64_t C = shape[1], hidden = C / 16;
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const auto h = torch::randn(shape).relu() + 0.1 * torch::randn(shape);  // post-ReLU-like, mean ≠ 0
  const auto base = with_base ? torch::randn(shape) : torch::Tensor();
  auto w1 = torch::randn({hidden, C}) / std::sqrt(static_cast<double>(C));
  w1[0] = w1[0].abs();  // h's mean is positive: hidden unit 0 stays active (else W1, W2 get no gradient)
  const auto w2 = torch::randn({C, hidden}) / std::sqrt(static_cast<double>(hidden));
  const auto g = torch::randn(shape);

  const Run exact = run(se_gate_reference, base, h, w1, w2, g, torch::kFloat64, format);
  const Run plain = run(se_gate_reference, base, h, w1, w2, g, torch::kFloat32, format);
  const Run mine = run(se_gate, base, h, w1, w2, g, torch::kFloat32, format);
  if (asd::cpu_has_avx512()) EXPECT(mine.node.find("SeGateFunction") != std::string::npos);
  EXPECT(mine.out.is_contiguous(format));
  EXPECT(mine.grads.size() == exact.grads.size());
  const char* names[] = {"base", "h", "W1", "W2"};
  std::cerr << "  " << (channels_last ? "channels-last " : "planar ") << shape.size() << "-D S="
            << h.numel() / (shape[0] * C) << (with_base ? " base" : "") << ": out " << rel_err(mine.out, exact.out)
            << " (composite " << rel_err(plain.out, exact.out) << ")";
  EXPECT(rel_err(mine.out, exact.out) <= 3 * rel_err(plain.out, exact.out) + 1e-6);
  for (size_t i = 0; i < mine.grads.size(); ++i) {
    const double e_mine = rel_err(mine.grads[i], exact.grads[i]), e_plain = rel_err(plain.grads[i], exact.grads[i]);
    std::cerr << ", d" << names[i + (with_base ? 0 : 1)] << " " << e_mine << " (" << e_plain << ")";
    EXPECT(e_mine <= 3 * e_plain + 1e-6);
    if (i < mine.grads.size() - 2) EXPECT(mine.grads[i].is_contiguous(format));
  }
  std::cerr << "\n";
}

void test_planar_4d() {
  check({3, 32, 9, 11}, false, true, 1);
  check({3, 32, 9, 11}, false, false, 2);
}

void test_channels_last_4d() {
  check({3, 32, 9, 11}, true, true, 3);
  check({2, 16, 7, 5}, true, false, 4);
}

void test_planar_3d() { check({4, 128, 69}, false, false, 5); }

void test_past_one_block() {
  check({2, 16, 123, 139}, true, true, 6);   // 17 097 pixels per clip
  check({2, 16, 123, 139}, false, true, 7);  // rows of 17 097 floats: five blocks of 4 096 and a tail
}

void test_composite_where_it_does_not_apply() {
  torch::manual_seed(8);
  const auto h = torch::randn({2, 32, 6, 7}), base = torch::randn({2, 32, 6, 7});
  const auto w1 = torch::randn({2, 32}), w2 = torch::randn({32, 2});
  {  // no grad (inference): the composite, bit-identical
    torch::NoGradGuard no_grad;
    EXPECT(torch::equal(se_gate(base, h, w1, w2), se_gate_reference(base, h, w1, w2)));
  }
  {  // a transposed (neither planar nor channels-last) h: the composite's autograd nodes
    auto x = h.transpose(2, 3).requires_grad_(true);
    auto out = se_gate(base.transpose(2, 3), x, w1, w2);
    EXPECT(out.grad_fn() && out.grad_fn()->name().find("SeGateFunction") == std::string::npos);
    EXPECT(torch::allclose(out, se_gate_reference(base.transpose(2, 3), x, w1, w2)));
  }
}

}  // namespace

int main() {
  torch::set_num_threads(2);
  return run_tests({
      {"planar_4d", test_planar_4d},
      {"channels_last_4d", test_channels_last_4d},
      {"planar_3d", test_planar_3d},
      {"past_one_block", test_past_one_block},
      {"composite_where_it_does_not_apply", test_composite_where_it_does_not_apply},
  });
}
