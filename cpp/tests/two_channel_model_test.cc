// Two-channel clip models (run setting channel, DCASE 2026 near/far microphones): MultiResNet
// with spectral subtraction against the one-channel branch bodies fed with spectra subtracted
// here; DisModel / PretrainedModel with channel both against the one extractor run on each
// channel; Mixup of (B, 2, L) batches keeping a clip's channels together.
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "augment/mixup.h"
#include "expect.h"
#include "nn/beats.h"
#include "nn/multiresnet.h"
#include "train/dis_model.h"
#include "train/pretrained_model.h"

using asd::features::SpectralSubtraction;
using asd::nn::BranchSpec;
using asd::nn::MultiResNet;
using asd::nn::MultiResNetConfig;
using asd::train::ClipChannels;
using asd::train::DisModel;
using asd::train::DisModelConfig;

namespace {

constexpr int64_t kLen = 16000;

double max_abs(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }
double scale(const torch::Tensor& a) { return a.abs().max().item<double>(); }

// A 1 s model: an FFT branch with shorter convolutions (the defaults need 4.5 s) and one STFT branch.
MultiResNetConfig small_extractor() {
  MultiResNetConfig c;
  c.sec_samples = kLen;
  BranchSpec fft = BranchSpec::fft();
  fft.fft_kernel = {64, 16, 4};
  fft.fft_stride = {16, 4, 2};
  c.branches = {fft, BranchSpec::linear_stft(256, 128)};
  return c;
}

// Near = a tone plus noise, far = a weaker copy plus its own noise, so the subtraction bites in
// some bins and hits the floor in others.
torch::Tensor two_channel_wave(int64_t batch) {
  torch::manual_seed(21);
  const auto t = torch::arange(kLen, torch::kFloat32) / 16000.0;
  const auto tone = torch::sin(2 * M_PI * 440.0 * t);
  auto near = 0.3 * tone.unsqueeze(0) + 0.05 * torch::randn({batch, kLen});
  auto far = 0.5 * near + 0.05 * torch::randn({batch, kLen});
  return torch::stack({near, far}, 1);  // (B, 2, L)
}

torch::Tensor subtracted(const torch::Tensor& near, const torch::Tensor& far, const SpectralSubtraction& s) {
  return torch::max(near - s.alpha * far, s.floor * near);
}

void test_multiresnet_subtract() {
  torch::NoGradGuard no_grad;
  const SpectralSubtraction sub{0.8, 0.1};
  auto cfg = small_extractor();
  cfg.subtract = sub;
  torch::manual_seed(3);
  MultiResNet m(cfg);
  m->eval();
  const auto x = two_channel_wave(3);
  const auto got = m->forward(x);
  EXPECT(got.sizes() == torch::IntArrayRef({3, 256}));

  // Independent: |rfft| of each channel, and each channel's one-channel STFT (power 1, linear
  // bins, no log: forward() is the linear magnitude), subtracted here, through the branch bodies.
  const auto near = x.select(1, 0), far = x.select(1, 1);
  const auto fft_in = subtracted(torch::fft::rfft(near).abs(), torch::fft::rfft(far).abs(), sub);
  auto* branch = m->stft_layer_list[0]->as<asd::nn::StftBranchImpl>();
  const auto& stft = branch->stft->stft;
  const auto stft_in = subtracted(stft.forward(near), stft.forward(far), sub);
  const auto want = torch::cat({m->fft_layer->layer->forward(fft_in), branch->layer->forward(stft_in)}, 1);
  const double err = max_abs(got, want);
  std::cout << "  subtract vs manual: max |diff| " << err << " (scale " << scale(want) << ")\n";
  EXPECT(err <= 1e-4 * std::max(1.0, scale(want)));

  // The subtraction matters: the near channel alone gives another embedding.
  auto one = small_extractor();
  torch::manual_seed(3);
  MultiResNet plain(one);
  plain->eval();
  EXPECT(max_abs(plain->forward(near), got) > 1e-3);
  // alpha 0, floor 0 leaves |X_near|: the one-channel model on the near channel, same weights.
  auto keep = small_extractor();
  keep.subtract = SpectralSubtraction{0.0, 0.0};
  torch::manual_seed(3);
  MultiResNet identity(keep);
  identity->eval();
  EXPECT(max_abs(identity->forward(x), plain->forward(near)) <= 1e-5 * std::max(1.0, scale(got)));

  EXPECT_THROWS(std::invalid_argument, "expected a (B, 2, 16000) wave", m->forward(near));
  EXPECT_THROWS(std::invalid_argument, "expected a (B, 16000) wave", plain->forward(x));
}

DisModelConfig small_dis(ClipChannels ch, DisModelConfig::Technique tech = DisModelConfig::Technique::kNone) {
  DisModelConfig c;
  c.extractor.sec_samples = kLen;
  c.extractor.branches = {BranchSpec::linear_stft(256, 128), BranchSpec::linear_stft(1024, 256)};
  c.n_classes = 3;
  c.head.type = "scadacos";
  c.head.n_subclusters = 2;
  c.head.trainable = true;
  c.technique = tech;
  c.channels = ch;
  if (ch == ClipChannels::kSubtract) c.extractor.subtract = SpectralSubtraction{};
  return c;
}

void test_dis_both_embedding() {
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  DisModel m(small_dis(ClipChannels::kBoth));
  EXPECT(m->config().embed_size() == 512);
  m->eval();
  const auto x = two_channel_wave(3);
  const auto e = m->embed(x);
  EXPECT(e.sizes() == torch::IntArrayRef({3, 512}));
  const auto want = torch::cat({m->extractor->forward(x.select(1, 0).contiguous()), m->extractor->forward(x.select(1, 1).contiguous())}, 1);
  const double err = max_abs(e, want);
  std::cout << "  both vs cat(near, far): max |diff| " << err << " (scale " << scale(want) << ")\n";
  EXPECT(err <= 1e-5 * std::max(1.0, scale(want)));
  EXPECT(max_abs(e.slice(1, 0, 256), e.slice(1, 256, 512)) > 1e-3);  // near and far differ
  EXPECT_THROWS(c10::Error, "channel both: expected a (B, 2, L) wave", m->embed(x.select(1, 0)));
}

// Heads over 2E: the centres W of the main head (E, C·K), FeatEx over 2E with (2E/d + 1)·C
// classes, subspace slices 2E/d of them.
void test_dis_both_heads() {
  using T = DisModelConfig::Technique;
  auto width = [](const torch::nn::Module& m) {
    return dynamic_cast<const asd::losses::SCAdaCos&>(m).W.size(0);
  };
  DisModel plain(small_dis(ClipChannels::kOne));
  DisModel both(small_dis(ClipChannels::kBoth));
  EXPECT(width(*plain->head_dict["main"]) == 256);
  EXPECT(width(*both->head_dict["main"]) == 512);
  DisModel fx(small_dis(ClipChannels::kBoth, T::kFeatEx));
  const auto& fh = dynamic_cast<const asd::losses::SCAdaCos&>(*fx->featex_head_dict["main"]);
  EXPECT(fh.W.size(0) == 512 && fh.W.size(1) == 3 * (4 + 1) * 2);
  DisModel ss(small_dis(ClipChannels::kBoth, T::kSubspace));
  EXPECT(ss->subspace_head_dict["main"]->as<torch::nn::ModuleList>()->size() == 4);
  auto bad = small_dis(ClipChannels::kSubtract);
  bad.extractor.subtract.reset();
  EXPECT_THROWS(std::invalid_argument, "go together", DisModel{bad});
}

void test_dis_training_step() {
  for (ClipChannels ch : {ClipChannels::kBoth, ClipChannels::kSubtract}) {
    torch::manual_seed(6);
    DisModel m(small_dis(ch, DisModelConfig::Technique::kFeatEx));
    m->train();
    const auto x = two_channel_wave(4);
    const auto y = torch::eye(3).index_select(0, torch::tensor({0, 1, 2, 1}));
    auto terms = m->training_loss(x, y, at::make_generator<at::CPUGeneratorImpl>(11));
    const auto loss = terms.back().second;
    EXPECT(terms.back().first == "main" && std::isfinite(loss.item<double>()));
    loss.backward();
    double g = 0;
    for (const auto& p : m->extractor->parameters()) {
      if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
    }
    EXPECT(std::isfinite(g) && g > 0);
  }
}

// Mixup on (B, 2, L): one λ and one partner per clip, the same for both channels.
void test_mixup_pairs_channels() {
  const auto x = torch::randn({6, 2, 50}, torch::kFloat64);
  asd::augment::Mixup mixup(1.0);
  asd::augment::MixupDraw draw;
  auto out = mixup.forward({{"wave", x}}, at::make_generator<at::CPUGeneratorImpl>(2), true, &draw).at("wave");
  EXPECT(out.sizes() == x.sizes());
  int moved = 0;
  for (int64_t b = 0; b < 6; ++b) {
    const double lam = draw.lambda[b].item<double>();
    const int64_t p = draw.perm[b].item<int64_t>();
    for (int64_t c = 0; c < 2; ++c) {
      const auto want = lam * x[b][c] + (1 - lam) * x[p][c];
      EXPECT(max_abs(out[b][c], want) <= 1e-12);
    }
    if (p != b) ++moved;
  }
  EXPECT(moved > 0);
}

asd::nn::BeatsConfig tiny_beats() {
  asd::nn::BeatsConfig c;
  c.input_patch_size = 16;
  c.embed_dim = 32;
  c.conv_bias = false;
  c.encoder_layers = 1;
  c.encoder_embed_dim = 32;
  c.encoder_ffn_embed_dim = 64;
  c.encoder_attention_heads = 4;
  c.layer_norm_first = false;
  c.deep_norm = true;
  c.dropout = c.attention_dropout = c.activation_dropout = c.dropout_input = 0.0;
  c.encoder_layerdrop = 0.0;
  c.conv_pos = 16;
  c.conv_pos_groups = 4;
  c.relative_position_embedding = true;
  c.num_buckets = 32;
  c.max_distance = 40;
  c.gru_rel_pos = true;
  return c;
}

asd::train::PretrainedModelConfig tiny_pretrained(ClipChannels ch) {
  asd::train::PretrainedModelConfig c;
  c.encoder = asd::train::PretrainedModelConfig::Encoder::kBeats;
  c.beats = tiny_beats();
  c.sec_samples = kLen;
  c.lora_rank = 4;
  c.projection = "linear";
  c.embed_size = 16;
  c.n_classes = 3;
  c.channels = ch;
  return c;
}

void test_pretrained_channels() {
  torch::manual_seed(8);
  asd::train::PretrainedModel m(tiny_pretrained(ClipChannels::kBoth));
  EXPECT(m->embed_size() == 32);
  const auto& head = dynamic_cast<const asd::losses::SCAdaCos&>(*m->head_dict["main"]);
  EXPECT(head.W.size(0) == 32);
  m->eval();
  const auto x = two_channel_wave(2);
  {
    torch::NoGradGuard no_grad;
    const auto e = m->embed(x);
    EXPECT(e.sizes() == torch::IntArrayRef({2, 32}));
    const auto want = torch::cat({m->extractor->forward(x.select(1, 0).contiguous()), m->extractor->forward(x.select(1, 1).contiguous())}, 1);
    const double err = max_abs(e, want);
    std::cout << "  pretrained both vs cat(near, far): max |diff| " << err << "\n";
    EXPECT(err <= 1e-4 * std::max(1.0, scale(want)));
  }
  m->train();
  const auto y = torch::eye(3).index_select(0, torch::tensor({0, 2}));
  asd::train::TrainBatch batch{x, y, {0, 1}};
  const auto loss = m->training_loss(batch, at::make_generator<at::CPUGeneratorImpl>(3)).back().second;
  EXPECT(std::isfinite(loss.item<double>()));

  EXPECT_THROWS(std::invalid_argument, "channel subtract is not possible with BEATs",
                asd::train::PretrainedModel{tiny_pretrained(ClipChannels::kSubtract)});
  auto eat = tiny_pretrained(ClipChannels::kSubtract);
  eat.encoder = asd::train::PretrainedModelConfig::Encoder::kEat;
  EXPECT_THROWS(std::invalid_argument, "channel subtract is not possible with EAT", asd::train::PretrainedModel{eat});
}

}  // namespace

int main() {
  torch::set_num_threads(2);
  return run_tests({
      {"multiresnet_subtract", test_multiresnet_subtract},
      {"dis_both_embedding", test_dis_both_embedding},
      {"dis_both_heads", test_dis_both_heads},
      {"dis_training_step", test_dis_training_step},
      {"mixup_pairs_channels", test_mixup_pairs_channels},
      {"pretrained_channels", test_pretrained_channels},
  });
}
