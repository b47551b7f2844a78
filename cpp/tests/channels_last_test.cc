// MultiResNet's channels-last CPU path (common/runtime.h cpu_channels_last) against the planar
// one with the same weights and input: training-mode outputs and every parameter's gradient,
// eval-mode outputs, that the 2-D activations really are channels-last, and the max-pool's
// ATen fallback for channels-last input (values and input gradients bit-identical to planar
// max_pool2d). Tolerances: the two layouts sum convolutions and BatchNorm statistics in different
// orders, so training outputs and gradients are judged against the same weights in float64: the
// channels-last error must stay within 3× the planar one (they come out equal); eval outputs
// agree within 1e-4 relative.
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include "common/runtime.h"
#include "expect.h"
#include "nn/max_pool.h"
#include "nn/multiresnet.h"

using asd::nn::BranchSpec;
using asd::nn::MultiResNet;
using asd::nn::MultiResNetConfig;

namespace {

constexpr int64_t kLen = 72000;  // 4.5 s: long enough for the FFT branch's three strided convs

struct Pass {
  torch::Tensor out;
  std::map<std::string, torch::Tensor> grads;
};

Pass train_pass(MultiResNet& net, const torch::Tensor& wave, const torch::Tensor& upstream) {
  net->train();
  net->zero_grad();
  Pass p;
  auto y = net->forward(wave);
  y.backward(upstream);
  p.out = y.detach();
  for (const auto& kv : net->named_parameters()) p.grads[kv.key()] = kv.value().grad().detach().clone();
  return p;
}

// ‖a − b‖ / ‖b‖ (Frobenius; 0 when both are zero): steadier than the max for rounding noise.
double norm_rel(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.norm().item<double>();
  const double d = (a - b).norm().item<double>();
  return scale > 0 ? d / scale : d;
}

// max |a − b| relative to max |b| (0 when both are zero).
double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  const double d = (a - b).abs().max().item<double>();
  return scale > 0 ? d / scale : d;
}

void test_network_agrees() {
  torch::manual_seed(3);
  auto config = MultiResNetConfig::dual_branch(kLen);
  config.branches = {BranchSpec::fft(), BranchSpec::linear_stft(256, 128), BranchSpec::linear_stft(1024, 512)};
  MultiResNet net(config);
  const auto wave = torch::randn({3, kLen}) * 0.1;
  const auto upstream = torch::randn({3, config.embed_size()});

  asd::set_cpu_channels_last(false);
  const Pass planar = train_pass(net, wave, upstream);
  asd::set_cpu_channels_last(true);
  const Pass nhwc = train_pass(net, wave, upstream);
  EXPECT(planar.grads.size() == nhwc.grads.size() && !planar.grads.empty());

  // The yardstick: the same weights in float64 (planar). Both float32 layouts round differently
  // (the summation orders differ), so each one's error against float64 is measured and the
  // channels-last error must stay within a small multiple of the planar one's; a wrong layout
  // (a transposed tensor, a misplaced gradient) would be off by O(1).
  net->to(torch::kFloat64);
  asd::set_cpu_channels_last(false);
  const Pass exact = train_pass(net, wave.to(torch::kFloat64), upstream.to(torch::kFloat64));
  net->to(torch::kFloat32);
  const double out_planar = norm_rel(planar.out, exact.out.to(torch::kFloat32));
  const double out_nhwc = norm_rel(nhwc.out, exact.out.to(torch::kFloat32));
  EXPECT(out_nhwc <= 3 * out_planar + 1e-6);
  // All gradients as one vector (single parameters with tiny gradients are ill-conditioned and
  // swing either way), and each parameter's own error as a sanity bound.
  std::vector<torch::Tensor> all_planar, all_nhwc, all_exact;
  double worst_nhwc = 0;
  for (const auto& [name, g] : exact.grads) {
    const auto g32 = g.to(torch::kFloat32);
    all_planar.push_back(planar.grads.at(name).flatten());
    all_nhwc.push_back(nhwc.grads.at(name).flatten());
    all_exact.push_back(g32.flatten());
    worst_nhwc = std::max(worst_nhwc, norm_rel(nhwc.grads.at(name), g32));
  }
  const double grad_planar = norm_rel(torch::cat(all_planar), torch::cat(all_exact));
  const double grad_nhwc = norm_rel(torch::cat(all_nhwc), torch::cat(all_exact));
  EXPECT(grad_nhwc <= 3 * grad_planar + 1e-6);
  EXPECT(worst_nhwc < 5e-2);
  std::cout << "  train, error against float64: outputs planar " << out_planar << ", channels-last " << out_nhwc
            << "; gradients planar " << grad_planar << ", channels-last " << grad_nhwc
            << " (worst single parameter " << worst_nhwc << ")\n";

  // Eval mode (running statistics), no grad, under InferenceMode as extraction runs it.
  net->eval();
  torch::Tensor e_planar, e_nhwc;
  {
    c10::InferenceMode guard;
    asd::set_cpu_channels_last(false);
    e_planar = net->forward(wave);
    asd::set_cpu_channels_last(true);
    e_nhwc = net->forward(wave);
  }
  EXPECT(rel_diff(e_nhwc, e_planar) < 1e-4);
  std::cout << "  eval: rel " << rel_diff(e_nhwc, e_planar) << "\n";
}

void test_activations_are_channels_last() {
  torch::manual_seed(4);
  auto config = MultiResNetConfig::dual_branch(kLen);
  MultiResNet net(config);
  auto& encoder = *net->stft_layer_list[0]->as<asd::nn::StftBranchImpl>()->layer;
  const auto spec = torch::rand({2, encoder.bn_freq->options.num_features(), 47});
  bool seen = false;
  // The first conv's output: the layout every later 2-D layer inherits.
  auto first = encoder.layers[0]->as<asd::nn::FirstConvImpl>();
  asd::set_cpu_channels_last(true);
  {
    auto x = encoder.bn_freq->forward(spec).unsqueeze(-1).permute({0, 3, 1, 2});
    auto y = first->forward(x);
    seen = y.is_contiguous(torch::MemoryFormat::ChannelsLast) && !y.is_contiguous();
  }
  EXPECT(seen);
  (void)net->forward(torch::randn({2, kLen}));  // runs end to end in this layout
}

void test_max_pool_channels_last_fallback() {
  torch::manual_seed(5);
  for (int64_t pad : {0, 1}) {
    const auto x = torch::randn({2, 16, 11, 13});
    const auto g = torch::randn_like(torch::max_pool2d(x, 3, 2, pad));
    asd::nn::MaxPool3x3 pool(pad);
    auto xa = x.clone().requires_grad_(true);
    auto xb = x.contiguous(torch::MemoryFormat::ChannelsLast).requires_grad_(true);
    auto ya = pool->forward(xa);
    auto yb = pool->forward(xb);
    EXPECT(yb.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT(torch::equal(ya, yb.contiguous()));
    ya.backward(g);
    yb.backward(g);
    EXPECT(torch::equal(xa.grad(), xb.grad().contiguous()));
  }
}

}  // namespace

int main() {
  torch::set_num_threads(2);
  return run_tests({
      {"network_agrees", test_network_agrees},
      {"activations_are_channels_last", test_activations_are_channels_last},
      {"max_pool_channels_last_fallback", test_max_pool_channels_last_fallback},
  });
}
