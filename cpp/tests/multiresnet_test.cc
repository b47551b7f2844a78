// Tests for the MultiResNet extractor (nn/multiresnet.h): parameter/buffer counts against the
// spec's measured table (frontends-and-training §4.6), state-dict names, output shapes, the
// skip-after-BN residual structure, train/eval BatchNorm behaviour and seeded determinism.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "expect.h"
#include "nn/multiresnet.h"

using asd::nn::BranchSpec;
using asd::nn::MultiResNet;
using asd::nn::MultiResNetConfig;

namespace {

constexpr int64_t kSr = 16000;
constexpr int64_t kShort = 72000;  // 4.5 s: shortest clip with T >= 36 for the 4096 branch

int64_t count_params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

int64_t count_buffers(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& b : m.buffers()) n += b.numel();
  return n;
}

std::map<std::string, torch::Tensor> snapshot(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().detach().clone();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().clone();
  return out;
}

void test_parameter_counts() {
  const int64_t secs[] = {10, 11, 12, 18};
  const int64_t l3[] = {6, 7, 8, 14};
  const int64_t dual[] = {2495568, 2511952, 2528336, 2626640};
  const int64_t multi[] = {5000432, 5016816, 5033200, 5131504};
  for (int i = 0; i < 4; ++i) {
    MultiResNet d(MultiResNetConfig::dual_branch(secs[i] * kSr));
    MultiResNet m(MultiResNetConfig::multi_branch(secs[i] * kSr));
    EXPECT(count_params(*d) == dual[i]);
    EXPECT(count_params(*m) == multi[i]);
    EXPECT(d->fft_layer->layer->flat_length == l3[i]);
    EXPECT(count_params(*d->fft_layer) == 1431552 + 16384 * l3[i]);
    EXPECT(d->config().embed_size() == 256 && m->config().embed_size() == 512);
    if (secs[i] == 18) {  // buffers (BN stats incl. counters, STFT windows) are length-independent
      EXPECT(count_buffers(*d) == 9152);
      EXPECT(count_buffers(*m) == 38394);
    }
    // STFT branches: 703,568 conv weights + 16,384·F' aggregate, F' = 4 / 16 / 63.
    const int64_t f_red[] = {4, 16, 63};
    const int64_t stft_params[] = {769104, 965712, 1735760};
    for (int b = 0; b < 3; ++b) {
      auto branch = m->stft_layer_list[b]->as<asd::nn::StftBranchImpl>();
      EXPECT(branch->layer->reduced_freq == f_red[b]);
      EXPECT(count_params(*branch) == stft_params[b]);
    }
  }
}

// The reference's state-dict keys for the dual-branch model with use_bias = false, transcribed
// from asdkit/models/multiresnet/ (Sequential indices included).
std::set<std::string> reference_keys_dual() {
  std::set<std::string> k;
  auto bn = [&](const std::string& p) {
    for (const char* s : {"running_mean", "running_var", "num_batches_tracked"}) k.insert(p + "." + s);
  };
  auto se = [&](const std::string& p) {
    k.insert(p + ".layer1.0.weight");
    k.insert(p + ".layer2.0.weight");
  };
  const std::string f = "fft_layer.layer.";
  for (int i = 0; i < 3; ++i) {
    k.insert(f + "conv1d_layer." + std::to_string(3 * i) + ".weight");
    se(f + "conv1d_layer." + std::to_string(3 * i + 2));
  }
  k.insert(f + "aggregate_layer.1.weight");
  bn(f + "aggregate_layer.2");
  for (int j = 0; j < 4; ++j) {
    k.insert(f + "last_layer." + std::to_string(3 * j) + ".weight");
    bn(f + "last_layer." + std::to_string(3 * j + 1));
  }
  k.insert(f + "last_layer.12.weight");
  const std::string s = "stft_layer_list.0.";
  k.insert(s + "stft.stft.window");
  bn(s + "layer.bn_freq");
  k.insert(s + "layer.layers.0.layer.0.weight");
  bn(s + "layer.layers.0.layer.1");
  for (int stage = 1; stage <= 4; ++stage) {
    for (int r = 0; r < 2; ++r) {
      const std::string p = s + "layer.layers." + std::to_string(stage) + "." + std::to_string(r) + ".";
      bn(p + "bn");
      if (stage >= 2 && r == 0) k.insert(p + "skip_connect.1.weight");
      k.insert(p + "layer.1.weight");
      bn(p + "layer.2");
      k.insert(p + "layer.4.weight");
      se(p + "additional_layer");
    }
  }
  bn(s + "layer.aggregate_layer.1");
  k.insert(s + "layer.aggregate_layer.2.weight");
  return k;
}

void test_state_dict_names() {
  MultiResNet m(MultiResNetConfig::dual_branch(kShort));
  std::map<std::string, int64_t> keys;
  for (const auto& p : m->named_parameters()) keys[p.key()] = p.value().numel();
  for (const auto& b : m->named_buffers()) keys[b.key()] = b.value().numel();
  std::set<std::string> ours;
  for (const auto& [k, n] : keys) ours.insert(k);
  const auto ref = reference_keys_dual();
  for (const auto& k : ref) {
    if (!ours.count(k)) std::cerr << "  missing reference key " << k << "\n";
  }
  for (const auto& k : ours) {
    if (!ref.count(k)) std::cerr << "  key not in the reference " << k << "\n";
  }
  EXPECT(ours == ref);
  EXPECT(keys["stft_layer_list.0.stft.stft.window"] == 1024);
  EXPECT(keys["stft_layer_list.0.layer.bn_freq.running_mean"] == 500);
  EXPECT(keys["stft_layer_list.0.layer.aggregate_layer.2.weight"] == 128 * 2048);
  for (const auto& [k, n] : keys) {
    EXPECT(k.find(".bias") == std::string::npos);  // use_bias = false: no biases, no BN affine
    EXPECT(k.find("bn_freq.weight") == std::string::npos);
  }

  // The `window` buffer is the Stft's own tensor, so Module::to() (device or dtype) moves both.
  m->to(torch::kFloat64);
  auto front = m->stft_layer_list[0]->as<asd::nn::StftBranchImpl>()->stft;
  EXPECT(front->stft.window().scalar_type() == torch::kFloat64);
  EXPECT(front->stft.window().is_same(front->named_buffers()["stft.window"]));

  // use_bias = true adds conv/linear biases and BN affine parameters, but never SE biases.
  auto cfg = MultiResNetConfig::dual_branch(kShort);
  cfg.use_bias = true;
  MultiResNet b(cfg);
  std::map<std::string, int64_t> bkeys;
  for (const auto& p : b->named_parameters()) bkeys[p.key()] = p.value().numel();
  EXPECT(bkeys.count("fft_layer.layer.conv1d_layer.0.bias"));
  EXPECT(bkeys.count("stft_layer_list.0.layer.bn_freq.weight"));
  EXPECT(bkeys.count("stft_layer_list.0.layer.layers.2.0.skip_connect.1.bias"));
  EXPECT(!bkeys.count("fft_layer.layer.conv1d_layer.2.layer1.0.bias"));
  EXPECT(count_params(*b) > count_params(*m));
}

void test_output_shapes() {
  torch::manual_seed(0);
  const auto wave = torch::randn({2, kShort}) * 0.1;
  MultiResNet d(MultiResNetConfig::dual_branch(kShort));
  MultiResNet m(MultiResNetConfig::multi_branch(kShort));
  d->eval();  // eval: batch-independent BN, so branches can be compared one by one
  m->eval();
  torch::NoGradGuard no_grad;
  const auto em = m->forward(wave);
  EXPECT(em.sizes() == torch::IntArrayRef({2, 512}));
  EXPECT(torch::isfinite(em).all().item<bool>());
  // Dims 0–127 are the FFT branch, 128–255 the STFT branch.
  const auto fft = d->fft_layer->forward(wave);
  const auto stft = d->stft_layer_list[0]->as<asd::nn::StftBranchImpl>()->forward(wave);
  EXPECT(fft.sizes() == torch::IntArrayRef({2, 128}) && stft.sizes() == fft.sizes());
  EXPECT(torch::allclose(d->forward(wave), torch::cat({fft, stft}, 1)));
  EXPECT_THROWS(std::invalid_argument, "expected a (B, 72000)", d->forward(torch::randn({2, 1000})));
}

// With conv2 zeroed the residual branch is SE(0) = 0, so the block output is its skip path
// alone, which must start from bn(x) (eval: (x − mean)/sqrt(var + eps)) with no final ReLU.
void test_skip_after_bn() {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 16, 9, 7});
  const double eps = 1e-5;
  const auto xb = (x - 3.0) / std::sqrt(4.0 + eps);

  asd::nn::ResNetBlock same(16, 16, 1, false);
  same->eval();
  same->bn->running_mean.fill_(3.0);
  same->bn->running_var.fill_(4.0);
  same->layer[4]->as<torch::nn::Conv2dImpl>()->weight.zero_();  // the second conv
  EXPECT(torch::allclose(same->forward(x), xb, 1e-5, 1e-6));

  asd::nn::ResNetBlock down(16, 32, 2, false);
  down->eval();
  down->bn->running_mean.fill_(3.0);
  down->bn->running_var.fill_(4.0);
  down->layer[4]->as<torch::nn::Conv2dImpl>()->weight.zero_();
  auto skip_conv = down->skip_connect[1]->as<torch::nn::Conv2dImpl>();
  skip_conv->weight.zero_();
  for (int64_t c = 0; c < 16; ++c) skip_conv->weight[c][c][0][0] = 1.0;  // copy channel c
  const auto y = down->forward(x);
  EXPECT(y.sizes() == torch::IntArrayRef({2, 32, 5, 4}));  // ceil(9/2), ceil(7/2)
  EXPECT(torch::allclose(y.slice(1, 0, 16), torch::max_pool2d(xb, 3, 2, 1), 1e-5, 1e-6));
  EXPECT(y.slice(1, 16, 32).abs().max().item<double>() == 0.0);
  EXPECT(y.min().item<double>() < 0.0);  // no ReLU after the addition
}

void test_train_vs_eval() {
  torch::manual_seed(1);
  MultiResNet m(MultiResNetConfig::dual_branch(kShort));
  const auto wave = torch::randn({2, kShort}) * 0.1;
  torch::NoGradGuard no_grad;
  const auto fresh = snapshot(*m);
  const auto train_out = m->forward(wave);  // modules start in training mode
  const auto after = snapshot(*m);
  EXPECT(!torch::equal(after.at("stft_layer_list.0.layer.bn_freq.running_mean"),
                       fresh.at("stft_layer_list.0.layer.bn_freq.running_mean")));
  EXPECT(after.at("fft_layer.layer.aggregate_layer.2.num_batches_tracked").item<int64_t>() == 1);
  EXPECT(torch::equal(after.at("fft_layer.layer.conv1d_layer.0.weight"),
                      fresh.at("fft_layer.layer.conv1d_layer.0.weight")));

  m->eval();
  const auto e1 = m->forward(wave);
  EXPECT(!torch::allclose(e1, train_out, 1e-3, 1e-3));  // running stats, not batch stats
  const auto after_eval = snapshot(*m);
  for (const auto& [k, v] : after) EXPECT(torch::equal(v, after_eval.at(k)));
}

// Inference (eval, no grad) folds the mid BatchNorm into the first conv; the result must equal
// the layers run one by one (eval with grad enabled), in float64 to separate rounding from
// error, for both block kinds, with and without affine BatchNorm, on a channels-last input.
void test_folded_batch_norm() {
  torch::manual_seed(5);
  for (const bool use_bias : {false, true}) {
    for (const int64_t stride : {1, 2}) {
      asd::nn::ResNetBlock block(16, stride == 1 ? 16 : 32, stride, use_bias);
      block->to(torch::kFloat64);
      auto& mid = *block->layer[2]->as<torch::nn::BatchNorm2dImpl>();
      {
        torch::NoGradGuard no_grad;
        mid.running_mean.uniform_(-2.0, 2.0);
        mid.running_var.uniform_(0.1, 5.0);
        if (use_bias) {
          mid.weight.uniform_(0.5, 2.0);
          mid.bias.uniform_(-1.0, 1.0);
        }
      }
      block->eval();
      const auto x = torch::randn({2, 16, 11, 9}, torch::kFloat64).contiguous(at::MemoryFormat::ChannelsLast);
      const auto layered = block->forward(x).detach();  // grad mode on: conv, BN, ReLU, conv
      torch::NoGradGuard no_grad;
      const auto folded = block->forward(x);
      EXPECT(folded.sizes() == layered.sizes());
      const double err = (folded - layered).abs().max().item<double>();
      EXPECT(err < 1e-12 * (1.0 + layered.abs().max().item<double>()));
      EXPECT(!torch::equal(block->forward(x * 2.0), folded));  // the input matters
    }
  }
}

// Same seed → same initial state (parameters and buffers) and same output; another seed differs.
void test_determinism() {
  const auto wave = torch::randn({2, kShort}) * 0.1;
  auto build = [](uint64_t seed) {
    torch::manual_seed(seed);
    MultiResNet m(MultiResNetConfig::dual_branch(kShort));
    m->eval();
    return m;
  };
  auto a = build(42), b = build(42), c = build(43);
  const auto sa = snapshot(*a), sb = snapshot(*b), sc = snapshot(*c);
  for (const auto& [k, v] : sa) EXPECT(torch::equal(v, sb.at(k)));
  EXPECT(!torch::equal(sa.at("fft_layer.layer.conv1d_layer.0.weight"),
                       sc.at("fft_layer.layer.conv1d_layer.0.weight")));
  torch::NoGradGuard no_grad;
  EXPECT(torch::equal(a->forward(wave), b->forward(wave)));
}

void test_config_errors() {
  EXPECT_THROWS(std::invalid_argument, "min(F, T) >= 36",
                MultiResNet(MultiResNetConfig::multi_branch(71000)));
  EXPECT_THROWS(std::invalid_argument, "clip too short",
                MultiResNet(MultiResNetConfig::dual_branch(60000)));
  auto cfg = MultiResNetConfig::dual_branch(kShort);
  std::swap(cfg.branches[0], cfg.branches[1]);
  EXPECT_THROWS(std::invalid_argument, "must be the first", MultiResNet{cfg});
  cfg = MultiResNetConfig::dual_branch(kShort);
  cfg.embed_size_per_branch = 12;
  EXPECT_THROWS(std::invalid_argument, "multiple of 8", MultiResNet{cfg});
  cfg.branches.clear();
  cfg.embed_size_per_branch = 128;
  EXPECT_THROWS(std::invalid_argument, "at least one branch", MultiResNet{cfg});
}

}  // namespace

int main() {
  torch::set_num_threads(2);
  return run_tests({
      {"parameter_counts", test_parameter_counts},
      {"state_dict_names", test_state_dict_names},
      {"output_shapes", test_output_shapes},
      {"skip_after_bn", test_skip_after_bn},
      {"train_vs_eval", test_train_vs_eval},
      {"folded_batch_norm", test_folded_batch_norm},
      {"determinism", test_determinism},
      {"config_errors", test_config_errors},
  });
}
