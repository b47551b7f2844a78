// Tests for the BEATs encoder (nn/beats.h) and the AttnStatPool head (nn/attn_stat_pool.h):
// parity with ASDKit's outputs on the small preset (test/fixtures/beats_small.{npz,json}, spec
// pretrained §9), LoRA and the projection head, the iter3 parameter counts of §8 and the key set
// of §5.3, training-mode LayerDrop and layer-wise gradient decay (§2.4), and load errors.
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "expect.h"
#include "features/kaldi_fbank.h"
#include "nn/attn_stat_pool.h"
#include "nn/beats.h"
#include "nn/lora.h"
#include "npz_fixture.h"

using asd::nn::AttnStatPool;
using asd::nn::BeatsConfig;
using asd::nn::BeatsEncoder;
using asd::nn::Intermediates;
using Dict = std::map<std::string, torch::Tensor>;

namespace {

constexpr double kTol = 1e-4;  // spec §9: token features and embeddings

const Dict& vectors() {
  static const Dict z = load_npz(fixture_path("beats_small.npz"));
  return z;
}

// The "small" preset of beats_small.json.
BeatsConfig small_config() {
  BeatsConfig c;
  c.input_patch_size = 16;
  c.embed_dim = 32;
  c.conv_bias = false;
  c.encoder_layers = 2;
  c.encoder_embed_dim = 64;
  c.encoder_ffn_embed_dim = 128;
  c.encoder_attention_heads = 4;
  c.activation_fn = "gelu";
  c.layer_wise_gradient_decay_ratio = 0.6;
  c.layer_norm_first = false;
  c.deep_norm = true;
  c.dropout = c.attention_dropout = c.activation_dropout = c.dropout_input = 0.0;
  c.encoder_layerdrop = 0.05;
  c.conv_pos = 16;
  c.conv_pos_groups = 4;
  c.relative_position_embedding = true;
  c.num_buckets = 32;
  c.max_distance = 40;
  c.gru_rel_pos = true;
  return c;
}
constexpr double kLoraScaling = 2.0;  // json `lora_scaling` (r 4, peft's alpha 8)

// Arrays whose name starts with `prefix`, with the prefix removed.
Dict with_prefix(const Dict& z, const std::string& prefix) {
  Dict out;
  for (const auto& [k, v] : z)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = v;
  return out;
}

BeatsEncoder loaded_small(const BeatsConfig& c = small_config()) {
  BeatsEncoder m(c);
  asd::nn::load_beats_state(*m, with_prefix(vectors(), "sd."));
  return m;
}

// peft's names `<path>.lora_A.default.weight` → our `<path>.lora_A`.
void load_lora(BeatsEncoder& m) {
  const Dict adapters = with_prefix(vectors(), "lora.model.base_model.model.");
  auto params = m->named_parameters();
  torch::NoGradGuard no_grad;
  int n = 0;
  for (const auto& [k, v] : adapters) {
    const std::string ours = k.substr(0, k.size() - std::string(".default.weight").size());
    params[ours].copy_(v);
    ++n;
  }
  EXPECT(n == 8);
}

// Copies every parameter and buffer of `m` from `sd` (all must be present with equal shapes).
void load_all(torch::nn::Module& m, const Dict& sd) {
  torch::NoGradGuard no_grad;
  int n = 0;
  for (auto& p : m.named_parameters()) p.value().copy_(npz_get(sd, p.key())), ++n;
  for (auto& b : m.named_buffers()) b.value().copy_(npz_get(sd, b.key())), ++n;
  EXPECT(n == static_cast<int>(sd.size()));
}

const torch::Tensor* find(const Intermediates& mid, const std::string& name) {
  for (const auto& [k, v] : mid)
    if (k == name) return &v;
  return nullptr;
}

int64_t count_params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// ---------------------------------------------------------------------------------------------

void test_parity() {
  const Dict& z = vectors();
  BeatsEncoder m = loaded_small();
  m->eval();
  torch::NoGradGuard no_grad;
  Intermediates mid;
  const torch::Tensor out = m->encode(npz_get(z, "pre.fbank"), &mid);
  int compared = 0;
  for (const auto& [k, ref] : with_prefix(z, "mid.")) {
    const torch::Tensor* ours = find(mid, k);
    EXPECT(ours != nullptr);
    if (!ours) {
      std::cerr << "  no intermediate " << k << "\n";
      continue;
    }
    const double d = max_abs_diff(*ours, ref);
    std::cout << "  mid." << k << " max |diff| " << d << "\n";
    if (k == "rel_bucket") EXPECT(ours->dtype() == torch::kLong && d == 0);
    else EXPECT(d <= kTol);
    ++compared;
  }
  EXPECT(compared == 10);
  const double df = max_abs_diff(out, npz_get(z, "out.features"));
  const double de = max_abs_diff(m->raw_embedding(out), npz_get(z, "out.embed_mean"));
  std::cout << "  out.features max |diff| " << df << "\n  out.embed_mean max |diff| " << de << "\n";
  EXPECT(df <= kTol && de <= kTol);
  EXPECT(m->head_tokens(out).equal(out));
  EXPECT(m->dim() == 64 && m->kind() == "beats");

  // The bucket table of the real setting (320 buckets, max distance 800), r = −1023..1023.
  const auto rel = torch::arange(-1023, 1024, torch::kLong);
  EXPECT(asd::nn::beats_relative_bucket(rel, 320, 800).equal(npz_get(z, "ref.rel_bucket_320_800")));
}

void test_preprocess() {
  const Dict& z = vectors();
  BeatsEncoder m = loaded_small();
  const double d = max_abs_diff(m->preprocess(npz_get(z, "in.wave")), npz_get(z, "pre.fbank"));
  std::cout << "  preprocess(in.wave) vs pre.fbank max |diff| " << d << "\n";
  EXPECT(d <= 2e-4);
}

void test_lora_and_pool() {
  const Dict& z = vectors();
  BeatsEncoder m = loaded_small();
  m->add_lora(4, 8.0);
  auto q0 = m->encoder->layers[0]->as<asd::nn::BeatsLayerImpl>()->self_attn->q_proj;
  EXPECT(q0->has_lora() && q0->rank() == 4 && q0->scaling() == kLoraScaling);
  load_lora(m);
  m->eval();

  torch::nn::Sequential head(AttnStatPool(64), torch::nn::Linear(64, 16));
  load_all(*head, with_prefix(z, "lora.projection_net."));
  head->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor feats = m->encode(npz_get(z, "pre.fbank"));
  const double df = max_abs_diff(feats, npz_get(z, "lora.out.features"));
  const double de = max_abs_diff(head->forward(m->head_tokens(feats)), npz_get(z, "lora.out.embed"));
  std::cout << "  lora.out.features max |diff| " << df << "\n  lora.out.embed max |diff| " << de << "\n";
  EXPECT(df <= kTol && de <= kTol);
}

void test_lora_linear() {
  torch::manual_seed(3);
  asd::nn::LoraLinear l(5, 3);
  l->add_lora(2, 4.0);
  EXPECT(l->scaling() == 2.0 && l->lora_B.abs().max().item<double>() == 0);
  {
    torch::NoGradGuard no_grad;
    l->lora_B.normal_();
  }
  const torch::Tensor x = torch::randn({4, 7, 5});
  const torch::Tensor want = torch::matmul(x, l->weight.t()) + l->bias +
                             2.0 * torch::matmul(torch::matmul(x, l->lora_A.t()), l->lora_B.t());
  EXPECT(max_abs_diff(l->forward(x), want) <= 1e-5);

  BeatsEncoder m(small_config());
  m->add_lora(4, 8.0);
  const int64_t frozen = asd::nn::freeze_all_but_lora(*m);
  int trainable = 0;
  for (const auto& p : m->named_parameters()) {
    const bool lora = p.key().find(".lora_") != std::string::npos;
    EXPECT(p.value().requires_grad() == lora);
    trainable += lora;
  }
  EXPECT(trainable == 8 && frozen == static_cast<int64_t>(m->named_parameters().size()) - 8);
}

// ---------------------------------------------------------------------------------------------

// Official BEATs_iter3 keys (§5.3), the relative bias repeated in every layer: 250.
std::set<std::string> iter3_checkpoint_keys() {
  std::set<std::string> k = {"patch_embedding.weight", "layer_norm.weight", "layer_norm.bias",
                             "post_extract_proj.weight", "post_extract_proj.bias", "encoder.pos_conv.0.weight_g",
                             "encoder.pos_conv.0.weight_v", "encoder.pos_conv.0.bias", "encoder.layer_norm.weight",
                             "encoder.layer_norm.bias"};
  for (int i = 0; i < 12; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    for (const char* s : {"q_proj", "k_proj", "v_proj", "out_proj", "grep_linear"})
      for (const char* w : {".weight", ".bias"}) k.insert(p + "self_attn." + s + w);
    k.insert(p + "self_attn.grep_a");
    k.insert(p + "self_attn.relative_attention_bias.weight");
    for (const char* s : {"self_attn_layer_norm", "fc1", "fc2", "final_layer_norm"})
      for (const char* w : {".weight", ".bias"}) k.insert(p + s + w);
  }
  return k;
}

void test_iter3_counts_and_keys() {
  BeatsEncoder m(BeatsConfig::iter3());
  EXPECT(count_params(*m) == 90311792);
  EXPECT(count_params(*m->patch_embedding) == 131072);
  EXPECT(count_params(*m->layer_norm) == 1024);
  EXPECT(count_params(*m->post_extract_proj) == 393984);
  EXPECT(count_params(*m->encoder->pos_conv) == 4719488);
  EXPECT(count_params(*m->encoder->layer_norm) == 1536);
  const auto layer = [&](int i) { return m->encoder->layers[i]->as<asd::nn::BeatsLayerImpl>(); };
  EXPECT(count_params(*layer(0)->self_attn->relative_attention_bias) == 3840);
  EXPECT(count_params(*layer(0)) == 7088404 + 3840);  // layer 0 owns the shared bias
  for (int i = 1; i < 12; ++i) {
    EXPECT(count_params(*layer(i)) == 7088404);
    EXPECT(layer(i)->self_attn->relative_attention_bias.get() == layer(0)->self_attn->relative_attention_bias.get());
  }
  EXPECT(std::abs(layer(0)->alpha - 2.2133638) < 1e-7);

  // Our keys plus the 11 repeated bias keys are exactly the official 250.
  std::set<std::string> ours;
  for (const auto& p : m->named_parameters()) ours.insert(p.key());
  EXPECT(ours.size() == 239 && m->named_buffers().size() == 0);
  std::set<std::string> expected = iter3_checkpoint_keys();
  EXPECT(expected.size() == 250);
  for (const auto& k : expected) EXPECT(ours.count(k) || asd::nn::is_beats_ignored_key(k));
  for (const auto& k : ours) EXPECT(expected.count(k) && !asd::nn::is_beats_ignored_key(k));
  EXPECT(asd::nn::is_beats_ignored_key("predictor.weight"));

  m->add_lora(64, 8.0);
  int64_t lora = 0;
  for (const auto& p : m->named_parameters())
    if (p.key().find(".lora_") != std::string::npos) lora += p.value().numel();
  EXPECT(lora == 2359296);

  AttnStatPool pool(768);
  int64_t buffers = 0;
  for (const auto& b : pool->buffers()) buffers += b.numel();
  EXPECT(count_params(*pool) == 1333392 && buffers == 4707);
  std::set<std::string> pool_keys;
  for (const auto& p : pool->named_parameters()) pool_keys.insert(p.key());
  for (const auto& b : pool->named_buffers()) pool_keys.insert(b.key());
  std::set<std::string> want_pool;
  for (const char* s : {"attention.0", "attention.4", "last_layer.1"})
    for (const char* w : {".weight", ".bias"}) want_pool.insert(std::string(s) + w);
  for (const char* s : {"attention.2", "last_layer.0", "last_layer.2"})
    for (const char* w : {".weight", ".bias", ".running_mean", ".running_var", ".num_batches_tracked"})
      want_pool.insert(std::string(s) + w);
  EXPECT(pool_keys == want_pool);
}

// ---------------------------------------------------------------------------------------------

// Gradients of the adapters after one backward pass of a fixed loss.
std::map<std::string, torch::Tensor> adapter_grads(double ratio) {
  BeatsConfig c = small_config();
  c.encoder_layerdrop = 0.0;
  c.layer_wise_gradient_decay_ratio = ratio;
  BeatsEncoder m = loaded_small(c);
  m->add_lora(4, 8.0);
  load_lora(m);
  asd::nn::freeze_all_but_lora(*m);
  m->train();
  const torch::Tensor out = m->encode(npz_get(vectors(), "pre.fbank"));
  (out * torch::linspace(-1, 1, out.numel()).view(out.sizes())).sum().backward();
  std::map<std::string, torch::Tensor> g;
  for (const auto& p : m->named_parameters())
    if (p.value().requires_grad()) g[p.key()] = p.value().grad().clone();
  return g;
}

void test_gradient_decay() {
  const auto decayed = adapter_grads(0.6), plain = adapter_grads(1.0);
  EXPECT(decayed.size() == 8 && plain.size() == 8);
  for (const auto& [k, g] : plain) {
    const double factor = k.rfind("encoder.layers.0.", 0) == 0 ? 0.6 : 1.0;  // 0.6^(L−1−k), L = 2
    const double scale = g.abs().max().item<double>();
    EXPECT(scale > 0);
    EXPECT(max_abs_diff(decayed.at(k), factor * g) <= 1e-5 * scale);
  }
}

void test_layerdrop() {
  const Dict& z = vectors();
  const torch::Tensor fbank = npz_get(z, "pre.fbank");
  torch::NoGradGuard no_grad;

  // p = 1: every layer is dropped in training; eval disables LayerDrop.
  BeatsConfig all = small_config();
  all.encoder_layerdrop = 1.0;
  BeatsEncoder m = loaded_small(all);
  m->train();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  Intermediates mid;
  const torch::Tensor out = m->encode(fbank, &mid, &gen);
  EXPECT(max_abs_diff(out, npz_get(z, "mid.enc_in")) <= kTol && !find(mid, "layer0.out") && !find(mid, "pos_bias"));
  m->eval();
  EXPECT(max_abs_diff(m->encode(fbank, nullptr, &gen), npz_get(z, "out.features")) <= kTol);

  // p = 0.5: a seed fixes the pattern; when layer 0 is dropped, layer 1 computes the same bias.
  BeatsConfig half = small_config();
  half.encoder_layerdrop = 0.5;
  BeatsEncoder h = loaded_small(half);
  h->train();
  std::set<std::string> patterns;
  bool checked_first_layer_skip = false;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    at::Generator g1 = at::make_generator<at::CPUGeneratorImpl>(seed);
    at::Generator g2 = at::make_generator<at::CPUGeneratorImpl>(seed);
    Intermediates m1;
    const torch::Tensor o1 = h->encode(fbank, &m1, &g1);
    EXPECT(h->encode(fbank, nullptr, &g2).equal(o1));
    const bool ran0 = find(m1, "layer0.out"), ran1 = find(m1, "layer1.out");
    patterns.insert(std::string(ran0 ? "1" : "0") + (ran1 ? "1" : "0"));
    if (!ran0 && ran1 && !checked_first_layer_skip) {
      checked_first_layer_skip = true;
      EXPECT(max_abs_diff(*find(m1, "pos_bias"), npz_get(z, "mid.pos_bias")) <= kTol);
      auto layer1 = h->encoder->layers[1]->as<asd::nn::BeatsLayerImpl>();
      const torch::Tensor want = layer1->forward(npz_get(z, "mid.enc_in"), npz_get(z, "mid.pos_bias"), nullptr, "");
      EXPECT(max_abs_diff(o1, want) <= kTol);
    }
  }
  EXPECT(patterns.size() == 4 && checked_first_layer_skip);
}

// ---------------------------------------------------------------------------------------------

void test_load_errors() {
  const Dict sd = with_prefix(vectors(), "sd.");
  BeatsEncoder m(small_config());
  const std::string key = "encoder.layers.1.fc1.bias";

  Dict missing = sd;
  missing.erase(key);
  EXPECT_THROWS(std::invalid_argument, key, asd::nn::load_beats_state(*m, missing));

  Dict wrong = sd;
  wrong[key] = torch::zeros({7});
  EXPECT_THROWS(std::invalid_argument, key, asd::nn::load_beats_state(*m, wrong));

  Dict extra = sd;
  extra["encoder.bogus"] = torch::zeros({1});
  EXPECT_THROWS(std::invalid_argument, "encoder.bogus", asd::nn::load_beats_state(*m, extra));

  const std::string copy = "encoder.layers.1.self_attn.relative_attention_bias.weight";
  Dict inconsistent = sd;
  inconsistent[copy] = sd.at(copy) + 1;
  EXPECT_THROWS(std::invalid_argument, copy, asd::nn::load_beats_state(*m, inconsistent));

  Dict finetuned = sd;  // fine-tuned checkpoints carry a predictor, which is skipped
  finetuned["predictor.weight"] = torch::zeros({527, 64});
  asd::nn::load_beats_state(*m, finetuned);
  EXPECT(m->layer_norm->weight.equal(sd.at("layer_norm.weight")));

  EXPECT_THROWS(std::invalid_argument, "input_patch_size", BeatsEncoder(BeatsConfig{}));
  EXPECT_THROWS(std::invalid_argument, "(B, N, 64)", AttnStatPool(64)->forward(torch::zeros({2, 3, 32})));
}

}  // namespace

// Dropout (all four kinds) in training: replayed from a seed, different across seeds, off in eval;
// the seeded mask keeps about 1 − p of the entries and scales them by 1/(1 − p).
void test_dropout() {
  const Dict& z = vectors();
  const torch::Tensor fbank = npz_get(z, "pre.fbank");
  torch::NoGradGuard no_grad;
  BeatsConfig c = small_config();
  c.dropout = c.attention_dropout = c.activation_dropout = c.dropout_input = 0.1;
  BeatsEncoder m = loaded_small(c);
  m->train();
  auto run = [&](uint64_t seed) {
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
    return m->encode(fbank, nullptr, &g);
  };
  const torch::Tensor a = run(1);
  EXPECT(run(1).equal(a));
  EXPECT(max_abs_diff(run(2), a) > 1e-3);
  EXPECT(max_abs_diff(a, npz_get(z, "out.features")) > 1e-3);
  m->eval();
  EXPECT(max_abs_diff(m->encode(fbank), npz_get(z, "out.features")) <= kTol);

  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(3);
  const torch::Tensor ones = torch::ones({200, 500});
  const torch::Tensor d = asd::nn::seeded_dropout(ones, 0.25, true, &g);
  const double kept = (d != 0).to(torch::kDouble).mean().item<double>();
  EXPECT(std::abs(kept - 0.75) < 0.01);
  EXPECT(max_abs_diff(d.masked_select(d != 0), torch::full({(d != 0).sum().item<int64_t>()}, 1.0 / 0.75)) <= 1e-6);
  EXPECT(asd::nn::seeded_dropout(ones, 0.25, false, &g).equal(ones));
  c.dropout = 1.0;
  EXPECT_THROWS(std::invalid_argument, "dropout probabilities", BeatsEncoder{c});
}

int main() {
  return run_tests({
      {"parity", test_parity},
      {"preprocess", test_preprocess},
      {"lora_and_pool", test_lora_and_pool},
      {"lora_linear", test_lora_linear},
      {"iter3_counts_and_keys", test_iter3_counts_and_keys},
      {"gradient_decay", test_gradient_decay},
      {"layerdrop", test_layerdrop},
      {"dropout", test_dropout},
      {"load_errors", test_load_errors},
  });
}
