// Tests for the EAT encoder (nn/eat.h, spec pretrained §1.4, §3, §4, §5.3, §5.5, §8): parity with
// ASDKit's EAT on the eat_small vectors (every intermediate, preprocess, LoRA + linear head, the
// cls and seq prediction modes), the sin-cos table, parameter counts of EAT-base/large, DropPath,
// the loader and HF key names.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cstdint>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "expect.h"
#include "nn/eat.h"
#include "npz_fixture.h"
#include "train/pretrained_model.h"

using asd::nn::EatConfig;
using asd::nn::EatEncoder;
using asd::nn::Intermediates;

namespace {

const auto& fixture() {
  static const auto z = load_npz(fixture_path("eat_small.npz"));
  return z;
}

const torch::Tensor& arr(const std::string& name) { return npz_get(fixture(), name); }

// The `sd.` arrays with the prefix removed: the encoder's fairseq state dict.
std::map<std::string, torch::Tensor> state_dict() {
  std::map<std::string, torch::Tensor> sd;
  for (const auto& [k, v] : fixture())
    if (k.rfind("sd.", 0) == 0) sd[k.substr(3)] = v;
  return sd;
}

EatConfig small_config() {
  EatConfig c;
  c.depth = 2;
  c.embed_dim = 64;
  c.num_heads = 4;
  c.max_length = 16;
  c.drop_path_rate = 0.1;
  c.target_length = EatConfig::target_length_for(1.0);
  return c;
}

EatEncoder loaded_small(const EatConfig& c = small_config()) {
  EatEncoder m(c);
  asd::nn::load_eat_state(*m, state_dict());
  m->eval();
  return m;
}

int64_t count(const std::vector<torch::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

int64_t count_lora(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.named_parameters())
    if (p.key().find(".lora_") != std::string::npos) n += p.value().numel();
  return n;
}

double report(const std::string& name, const torch::Tensor& a, const torch::Tensor& b) {
  const double d = max_abs_diff(a, b);
  std::cout << "  " << name << " max |diff| = " << d << "\n";
  return d;
}

void test_names_match_checkpoint() {
  EatEncoder m(small_config());
  std::set<std::string> ours, theirs;
  for (const auto& p : m->named_parameters()) ours.insert(p.key());
  for (const auto& b : m->named_buffers()) ours.insert(b.key());
  for (const auto& [k, v] : state_dict()) theirs.insert(k);
  EXPECT(ours == theirs);
  EXPECT(m->dim() == 64 && m->kind() == "eat");
  EXPECT(small_config().target_length == 128);
}

void test_sincos_positions() {
  const torch::Tensor ref = arr("sd.modality_encoders.IMAGE.fixed_positional_encoder.positions");
  EXPECT(report("sin-cos table", asd::nn::eat_sincos_positions(16, 64), ref) <= 1e-6);
  EXPECT(max_abs_diff(EatEncoder(small_config())->positions(), ref) <= 1e-6);
  EXPECT_THROWS(std::invalid_argument, "multiple of 4", asd::nn::eat_sincos_positions(16, 66));
}

void test_forward_parity() {
  torch::NoGradGuard no_grad;
  EatEncoder m = loaded_small();
  Intermediates mid;
  const torch::Tensor x = m->encode(arr("pre.fbank"), &mid);
  std::set<std::string> compared;
  double worst = 0;
  for (const auto& [name, t] : mid) {
    const std::string key = "mid." + name;
    if (!fixture().count(key)) continue;
    worst = std::max(worst, report(key, t, arr(key)));
    compared.insert(name);
  }
  EXPECT(compared.size() == 6);  // patch_embed, tokens_pre_norm, enc_in, block0.attn_out, block0/1.out
  worst = std::max(worst, report("out.x", x, arr("out.x")));
  worst = std::max(worst, report("out.cls", m->raw_embedding(x), arr("out.cls")));
  EXPECT(worst <= 1e-4);
  EXPECT(m->head_tokens(x).sizes() == torch::IntArrayRef({2, 1, 64}));
}

// prediction_mode seq (§3.4): the raw embedding is the mean of the sequence tokens (padded-frame
// patches included), and the projection gets all 64 of them.
void test_seq_mode() {
  torch::NoGradGuard no_grad;
  EatConfig c = small_config();
  c.prediction_mode = EatConfig::PredictionMode::kSeq;
  EatEncoder m = loaded_small(c);
  const torch::Tensor x = m->encode(arr("pre.fbank"));
  EXPECT(report("out.seq_mean", m->raw_embedding(x), arr("out.seq_mean")) <= 1e-4);
  EXPECT(max_abs_diff(m->raw_embedding(x), arr("out.cls")) > 1e-2);  // not the CLS token
  EXPECT(m->head_tokens(x).sizes() == torch::IntArrayRef({2, 64, 64}));
  EXPECT(m->head_tokens(x).equal(x.slice(1, 1)));
  EXPECT(asd::nn::eat_prediction_mode("seq") == EatConfig::PredictionMode::kSeq);
  EXPECT_THROWS(std::invalid_argument, "prediction_mode must be \"cls\" or \"seq\"", asd::nn::eat_prediction_mode("mean"));
}

asd::train::PretrainedModel seq_model(const std::string& projection, EatConfig::PredictionMode mode) {
  asd::train::PretrainedModelConfig c;
  c.encoder = asd::train::PretrainedModelConfig::Encoder::kEat;
  c.eat = small_config();
  c.eat.prediction_mode = mode;
  c.sec_samples = 16000;
  c.lora_rank = 4;
  c.lora_alpha = 8.0;
  c.projection = projection;
  c.embed_size = 16;
  c.n_classes = 3;
  asd::train::PretrainedModel m(c);
  m->load_encoder_state(state_dict());
  m->eval();
  return m;
}

// The LoRA frontend with seq: fresh adapters (B = 0) leave the encoder as it is, so the linear
// projection's input is the vectors' seq mean and attn_stat_pool pools x[:, 1:]. attn_stat_pool
// on the CLS token is refused.
void test_seq_projection() {
  torch::NoGradGuard no_grad;
  const torch::Tensor wave = arr("in.wave");
  auto lin = seq_model("linear", EatConfig::PredictionMode::kSeq);
  lin->extractor->linear_projection->weight.copy_(arr("lora.projection_net.weight"));
  lin->extractor->linear_projection->bias.copy_(arr("lora.projection_net.bias"));
  const torch::Tensor embed = lin->embed(wave);
  EXPECT(embed.sizes() == torch::IntArrayRef({2, 16}));
  const torch::Tensor want = torch::nn::functional::linear(arr("out.seq_mean"), arr("lora.projection_net.weight"),
                                                           arr("lora.projection_net.bias"));
  EXPECT(report("seq + linear vs linear(out.seq_mean)", embed, want) <= 1e-4);

  auto pool = seq_model("attn_stat_pool", EatConfig::PredictionMode::kSeq);
  const torch::Tensor pooled = pool->embed(wave);
  EXPECT(pooled.sizes() == torch::IntArrayRef({2, 16}));
  EXPECT(report("seq + attn_stat_pool vs pool(out.x[:, 1:])", pooled,
                pool->extractor->pooled_projection->forward(arr("out.x").slice(1, 1))) <= 1e-4);
  EXPECT_THROWS(std::invalid_argument, "attn_stat_pool needs prediction_mode \"seq\"",
                seq_model("attn_stat_pool", EatConfig::PredictionMode::kCls));
}

void test_preprocess() {
  EatEncoder m(small_config());
  const torch::Tensor in = m->preprocess(arr("in.wave"));
  EXPECT(in.sizes() == torch::IntArrayRef({2, 1, 128, 128}));
  EXPECT(report("preprocess vs pre.fbank", in, arr("pre.fbank")) <= 2e-4);
  // Padded rows are 4.268 / 9.138 (§1.4).
  EXPECT(std::abs(in[0][0][127][5].item<float>() - 0.467060f) < 1e-5f);
  // 21000 samples → 129 frames > 128.
  EXPECT_THROWS(std::invalid_argument, "129 fbank frames, more than target_length 128", m->preprocess(torch::zeros({1, 21000})));
}

void test_lora_parity() {
  torch::NoGradGuard no_grad;
  EatEncoder m = loaded_small();
  m->add_lora(4, 8.0);
  EXPECT(m->blocks[0]->attn->qkv->scaling() == 2.0);
  for (int i = 0; i < 2; ++i) {
    const std::string p = "lora.model.base_model.model.blocks." + std::to_string(i) + ".attn.qkv.";
    m->blocks[i]->attn->qkv->lora_A.copy_(arr(p + "lora_A.default.weight"));
    m->blocks[i]->attn->qkv->lora_B.copy_(arr(p + "lora_B.default.weight"));
  }
  const torch::Tensor x = m->encode(m->preprocess(arr("in.wave")));
  const double dx = report("lora.out.x", x, arr("lora.out.x"));
  // §4.3 `linear` projection: mean over the head tokens, then Linear(D → 16).
  const torch::Tensor embed = torch::nn::functional::linear(m->head_tokens(x).mean(1), arr("lora.projection_net.weight"),
                                                            arr("lora.projection_net.bias"));
  const double de = report("lora.out.embed", embed, arr("lora.out.embed"));
  EXPECT(dx <= 1e-4 && de <= 1e-4);

  // Only the adapters stay trainable under peft's rule.
  asd::nn::freeze_all_but_lora(*m);
  std::set<std::string> trainable;
  for (const auto& p : m->named_parameters())
    if (p.value().requires_grad()) trainable.insert(p.key());
  EXPECT(trainable == std::set<std::string>({"blocks.0.attn.qkv.lora_A", "blocks.0.attn.qkv.lora_B",
                                             "blocks.1.attn.qkv.lora_A", "blocks.1.attn.qkv.lora_B"}));
}

void test_parameter_counts() {
  {
    EatEncoder base(EatConfig::base(10.0));
    EXPECT(base->config().target_length == 1024);
    EXPECT(count(base->parameters()) == 85254144);
    EXPECT(count(base->buffers()) == 4718592);
    EXPECT(count(base->blocks[0]->parameters()) == 7087872);
    base->add_lora(64, 8.0);
    EXPECT(count_lora(*base) == 2359296);
    EXPECT(base->blocks[0]->attn->qkv->scaling() == 0.125);
  }
  EatEncoder large(EatConfig::large(12.0));
  EXPECT(large->config().target_length == 1216);
  EXPECT(count(large->parameters()) + count(large->buffers()) == 308867072);
  EXPECT(count(large->buffers()) == 6291456);
  large->add_lora(64, 8.0);
  EXPECT(count_lora(*large) == 6291456);
  EXPECT(EatConfig::target_length_for(11.0) == 1120 && EatConfig::target_length_for(18.0) == 1824);
}

void test_drop_path() {
  torch::NoGradGuard no_grad;
  const torch::Tensor in = arr("pre.fbank");
  EatEncoder m = loaded_small();
  const torch::Tensor eval_out = m->encode(in);
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(5);
  EXPECT(m->encode(in, nullptr, &g1).equal(eval_out));  // eval: identity, no draws

  EatConfig zero = small_config();
  zero.drop_path_rate = 0.0;
  EatEncoder mz = loaded_small(zero);
  mz->train();
  EXPECT(mz->encode(in).equal(eval_out));

  // depth 2, rate 0.9: block 0 has p = 0, block 1 p = 0.9. Seeded runs repeat exactly.
  EatConfig high = small_config();
  high.drop_path_rate = 0.9;
  EatEncoder mh = loaded_small(high);
  mh->train();
  auto ga = at::make_generator<at::CPUGeneratorImpl>(17), gb = at::make_generator<at::CPUGeneratorImpl>(17);
  const torch::Tensor a = mh->encode(in, nullptr, &ga);
  EXPECT(a.equal(mh->encode(in, nullptr, &gb)));

  // Block 1 by hand: independent per-sample masks for the attention and MLP branches (in that
  // order), kept samples divided by 1 − p.
  auto blk = mh->blocks[1];
  const torch::Tensor x = mh->blocks[0]->forward(mh->context_norm(
      torch::cat({mh->extra_tokens.expand({2, -1, -1}),
                  mh->patch_proj(in).flatten(2).transpose(1, 2) + mh->positions().slice(1, 0, 64)},
                 1)));
  auto gc = at::make_generator<at::CPUGeneratorImpl>(17), gd = at::make_generator<at::CPUGeneratorImpl>(17);
  const torch::Tensor m1 = torch::empty({2, 1, 1}).bernoulli_(1.0 - 0.9, gc) / (1.0 - 0.9);
  const torch::Tensor m2 = torch::empty({2, 1, 1}).bernoulli_(1.0 - 0.9, gc) / (1.0 - 0.9);
  const torch::Tensor r = blk->norm1(x + blk->attn(x) * m1);
  const torch::Tensor expected = blk->norm2(r + blk->mlp(r) * m2);
  EXPECT(max_abs_diff(blk->forward(x, &gd), expected) <= 1e-6);
}

void test_loader() {
  auto sd = state_dict();
  // Pre-training leftovers are skipped.
  auto with_extra = sd;
  with_extra["_ema"] = torch::zeros({1});
  with_extra["_ema.blocks.0.norm1.weight"] = torch::zeros({64});
  with_extra["modality_encoders.IMAGE.decoder.proj.weight"] = torch::zeros({64, 64});
  EatEncoder m(small_config());
  asd::nn::load_eat_state(*m, with_extra);
  EXPECT(m->blocks[1]->mlp->fc2->bias.equal(sd.at("blocks.1.mlp.fc2.bias")));

  auto missing = sd;
  missing.erase("blocks.1.mlp.fc2.bias");
  EXPECT_THROWS(std::invalid_argument, "missing key blocks.1.mlp.fc2.bias", asd::nn::load_eat_state(*m, missing));
  auto unexpected = sd;
  unexpected["blocks.2.norm1.weight"] = torch::zeros({64});
  EXPECT_THROWS(std::invalid_argument, "unexpected key blocks.2.norm1.weight", asd::nn::load_eat_state(*m, unexpected));
  auto wrong = sd;
  wrong["blocks.0.attn.qkv.weight"] = torch::zeros({191, 64});
  EatEncoder fresh(small_config());
  const torch::Tensor before = fresh->blocks[0]->norm1->weight.clone();
  EXPECT_THROWS(std::invalid_argument, "shape mismatch for blocks.0.attn.qkv.weight",
                asd::nn::load_eat_state(*fresh, wrong));
  EXPECT(fresh->blocks[0]->norm1->weight.equal(before));  // nothing copied on error

  // A longer stored table replaces ours; one shorter than the 64 patches needed is refused.
  auto longer = sd;
  longer["modality_encoders.IMAGE.fixed_positional_encoder.positions"] = asd::nn::eat_sincos_positions(40, 64);
  asd::nn::load_eat_state(*m, longer);
  EXPECT(m->positions().size(1) == 320);
  EXPECT(m->named_buffers()["modality_encoders.IMAGE.fixed_positional_encoder.positions"].size(1) == 320);
  m->eval();
  torch::NoGradGuard no_grad;
  EXPECT(max_abs_diff(m->encode(arr("pre.fbank")), arr("out.x")) <= 1e-4);
  auto shorter = sd;
  shorter["modality_encoders.IMAGE.fixed_positional_encoder.positions"] = torch::zeros({1, 63, 64});
  EXPECT_THROWS(std::invalid_argument, "shape mismatch for modality_encoders.IMAGE.fixed_positional_encoder.positions",
                asd::nn::load_eat_state(*m, shorter));
}

void test_hf_names() {
  using asd::nn::eat_fairseq_to_hf_key;
  using asd::nn::eat_hf_to_fairseq_key;
  EXPECT(eat_hf_to_fairseq_key("model.pre_norm.weight") == std::string("modality_encoders.IMAGE.context_encoder.norm.weight"));
  EXPECT(eat_hf_to_fairseq_key("model.local_encoder.proj.bias") ==
         std::string("modality_encoders.IMAGE.local_encoder.proj.bias"));
  EXPECT(eat_hf_to_fairseq_key("model.blocks.3.attn.qkv.weight") == std::string("blocks.3.attn.qkv.weight"));
  EXPECT(!eat_hf_to_fairseq_key("model.fc_norm.weight").has_value());
  EXPECT(!eat_hf_to_fairseq_key("model.head.bias").has_value());

  // Round trip over every encoder key, and a renamed state dict (plus the finetune head) loads.
  std::map<std::string, torch::Tensor> hf;
  for (const auto& [k, v] : state_dict()) {
    const std::string h = eat_fairseq_to_hf_key(k);
    EXPECT(h.rfind("model.", 0) == 0);
    EXPECT(eat_hf_to_fairseq_key(h) == k);
    hf[h] = v;
  }
  hf["model.fc_norm.weight"] = torch::zeros({64});
  hf["model.head.weight"] = torch::zeros({527, 64});
  EatEncoder m(small_config());
  asd::nn::load_eat_state(*m, asd::nn::eat_state_from_hf(hf));
  EXPECT(m->extra_tokens.equal(arr("sd.modality_encoders.IMAGE.extra_tokens")));
}

}  // namespace

int main() {
  return run_tests({
      {"names_match_checkpoint", test_names_match_checkpoint},
      {"sincos_positions", test_sincos_positions},
      {"forward_parity", test_forward_parity},
      {"seq_mode", test_seq_mode},
      {"seq_projection", test_seq_projection},
      {"preprocess", test_preprocess},
      {"lora_parity", test_lora_parity},
      {"drop_path", test_drop_path},
      {"loader", test_loader},
      {"hf_names", test_hf_names},
      {"parameter_counts", test_parameter_counts},
  });
}
