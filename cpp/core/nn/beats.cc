#include "nn/beats.h"

#include <cmath>
#include <regex>
#include <stdexcept>
#include <utility>

#include "features/kaldi_fbank.h"

namespace asd::nn {

namespace F = torch::nn::functional;

namespace {

void require(bool cond, const std::string& what) {
  if (!cond) throw std::invalid_argument("BEATs: " + what);
}

void record(Intermediates* mid, const std::string& name, const torch::Tensor& t) {
  if (mid) mid->emplace_back(name, t.detach());
}

torch::nn::LayerNorm make_layer_norm(int64_t width) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(1e-5));
}

// Identity forward, gradient × ratio backward: BEATs' layer-wise gradient decay (§2.4).
struct GradMultiply : public torch::autograd::Function<GradMultiply> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double ratio) {
    ctx->saved_data["ratio"] = ratio;
    return x;  // returned as-is: autograd turns it into a view carrying this node
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    return {grad[0] * ctx->saved_data["ratio"].toDouble(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor seeded_dropout(const torch::Tensor& x, double p, bool training, at::Generator* gen) {
  if (!training || p <= 0) return x;
  require(p < 1, "dropout probability must be below 1");
  const auto opts = torch::TensorOptions().dtype(torch::kFloat);
  const torch::Tensor u = gen ? torch::rand(x.sizes(), *gen, opts) : torch::rand(x.sizes(), opts);
  return x * (u >= p).to(x.device(), x.scalar_type()) / (1.0 - p);
}

BeatsConfig BeatsConfig::iter3() {
  BeatsConfig c;
  c.input_patch_size = 16;
  c.deep_norm = true;
  c.layer_wise_gradient_decay_ratio = 0.6;
  c.dropout = c.attention_dropout = c.activation_dropout = c.dropout_input = 0.0;
  c.encoder_layerdrop = 0.05;
  c.relative_position_embedding = true;
  c.num_buckets = 320;
  c.max_distance = 800;
  c.gru_rel_pos = true;
  return c;
}

torch::Tensor beats_relative_bucket(const torch::Tensor& rel, int64_t num_buckets, int64_t max_distance) {
  const int64_t half = num_buckets / 2;  // one half per sign: r ≤ 0 → [0, half), r > 0 → [half, 2·half)
  const int64_t exact = half / 2;        // |r| below this maps to itself
  const torch::Tensor a = rel.abs().to(torch::kLong);
  // Clamping to `exact` keeps log() finite; those entries take the exact branch anyway.
  const torch::Tensor log_ratio = torch::log(a.clamp_min(exact).to(torch::kFloat) / static_cast<double>(exact));
  const double denom = std::log(static_cast<double>(max_distance) / static_cast<double>(exact));
  torch::Tensor large = exact + (log_ratio / denom * static_cast<double>(half - exact)).to(torch::kLong);
  large = large.clamp_max(half - 1);
  return (rel > 0).to(torch::kLong) * half + torch::where(a < exact, a, large);
}

// ---------------------------------------------------------------------------------------------

BeatsAttentionImpl::BeatsAttentionImpl(const BeatsConfig& c, torch::nn::Embedding shared_bias)
    : heads(c.encoder_attention_heads),
      head_dim(c.encoder_embed_dim / c.encoder_attention_heads),
      gated(c.gru_rel_pos),
      num_buckets_(c.num_buckets),
      max_distance_(c.max_distance),
      attention_dropout_(c.attention_dropout) {
  const int64_t D = c.encoder_embed_dim;
  q_proj = register_module("q_proj", LoraLinear(D, D));
  k_proj = register_module("k_proj", torch::nn::Linear(D, D));
  v_proj = register_module("v_proj", LoraLinear(D, D));
  out_proj = register_module("out_proj", torch::nn::Linear(D, D));
  if (gated) {
    grep_linear = register_module("grep_linear", torch::nn::Linear(head_dim, 8));
    grep_a = register_parameter("grep_a", torch::ones({1, heads, 1, 1}));
  }
  if (c.relative_position_embedding) {
    if (shared_bias.is_empty()) {
      relative_attention_bias =
          register_module("relative_attention_bias", torch::nn::Embedding(c.num_buckets, heads));
    } else {
      relative_attention_bias = std::move(shared_bias);  // held, not registered: one tensor for all layers
    }
  }
}

torch::Tensor BeatsAttentionImpl::bucket_matrix(int64_t n) const {
  const auto pos = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(q_proj->weight.device()));
  return beats_relative_bucket(pos.unsqueeze(0) - pos.unsqueeze(1), num_buckets_, max_distance_);
}

torch::Tensor BeatsAttentionImpl::position_bias(const torch::Tensor& buckets) {
  return relative_attention_bias->forward(buckets).permute({2, 0, 1});  // (N, N, H) → (H, N, N)
}

torch::Tensor BeatsAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& P, at::Generator* gen) {
  const int64_t B = x.size(0), N = x.size(1);
  auto heads_of = [&](const torch::Tensor& t) { return t.view({B, N, heads, head_dim}).transpose(1, 2); };
  const torch::Tensor q = heads_of(q_proj(x));  // (B, H, N, d), unscaled (the gate needs it so)
  const torch::Tensor k = heads_of(k_proj(x));
  const torch::Tensor v = heads_of(v_proj(x));
  torch::Tensor scores = torch::matmul(q * std::pow(static_cast<double>(head_dim), -0.5), k.transpose(-2, -1));
  if (P.defined()) {
    torch::Tensor bias = P.unsqueeze(0);  // (1, H, N, N)
    if (gated) {
      const auto ab = torch::sigmoid(grep_linear(q).view({B, heads, N, 2, 4}).sum(-1));  // (B, H, N, 2)
      const auto a = ab.narrow(-1, 0, 1), b = ab.narrow(-1, 1, 1);
      bias = (a * (b * grep_a - 1.0) + 2.0) * bias;  // per-head, per-query gate
    }
    scores = scores + bias;
  }
  const torch::Tensor probs = seeded_dropout(torch::softmax(scores, -1), attention_dropout_, is_training(), gen);
  const torch::Tensor o = torch::matmul(probs, v);
  return out_proj(o.transpose(1, 2).reshape({B, N, heads * head_dim}));
}

// ---------------------------------------------------------------------------------------------

BeatsLayerImpl::BeatsLayerImpl(const BeatsConfig& c, torch::nn::Embedding shared_bias)
    : alpha(c.deep_norm ? std::pow(2.0 * static_cast<double>(c.encoder_layers), 0.25) : 1.0),
      dropout(c.dropout),
      activation_dropout(c.activation_dropout) {
  const int64_t D = c.encoder_embed_dim;
  self_attn = register_module("self_attn", BeatsAttention(c, std::move(shared_bias)));
  self_attn_layer_norm = register_module("self_attn_layer_norm", make_layer_norm(D));
  fc1 = register_module("fc1", torch::nn::Linear(D, c.encoder_ffn_embed_dim));
  fc2 = register_module("fc2", torch::nn::Linear(c.encoder_ffn_embed_dim, D));
  final_layer_norm = register_module("final_layer_norm", make_layer_norm(D));
}

torch::Tensor BeatsLayerImpl::forward(const torch::Tensor& x_in, const torch::Tensor& P, Intermediates* mid,
                                      const std::string& prefix, at::Generator* gen) {
  const bool train = is_training();
  const torch::Tensor a = self_attn->forward(x_in, P, gen);
  record(mid, prefix + "attn_out", a);
  const torch::Tensor x = self_attn_layer_norm(x_in * alpha + seeded_dropout(a, dropout, train, gen));
  const torch::Tensor h = seeded_dropout(F::gelu(fc1(x)), activation_dropout, train, gen);
  return final_layer_norm(x * alpha + seeded_dropout(fc2(h), dropout, train, gen));
}

// ---------------------------------------------------------------------------------------------

WeightNormConv1dImpl::WeightNormConv1dImpl(int64_t channels, int64_t kernel, int64_t groups_)
    : groups(groups_), padding(kernel / 2) {
  // Initial values only (checkpoints overwrite them): g starts as ‖v‖, i.e. W = v.
  weight_v = register_parameter("weight_v", torch::randn({channels, channels / groups, kernel}) *
                                                std::sqrt(4.0 / static_cast<double>(kernel * channels)));
  weight_g = register_parameter("weight_g", weight_v.detach().pow(2).sum(torch::IntArrayRef{0, 1}, true).sqrt());
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor WeightNormConv1dImpl::forward(const torch::Tensor& x) {
  // g · v / ‖v‖ with the norm over all dims but 2 (the tap), as torch.nn.utils.weight_norm(dim=2).
  const torch::Tensor w = torch::_weight_norm(weight_v, weight_g, 2);
  return F::conv1d(x, w, F::Conv1dFuncOptions().bias(bias).padding(padding).groups(groups));
}

BeatsTransformerImpl::BeatsTransformerImpl(const BeatsConfig& c) : c_(c) {
  const int64_t D = c.encoder_embed_dim;
  pos_conv = register_module("pos_conv", torch::nn::Sequential(WeightNormConv1d(D, c.conv_pos, c.conv_pos_groups)));
  layer_norm = register_module("layer_norm", make_layer_norm(D));
  layers = register_module("layers", torch::nn::ModuleList());
  torch::nn::Embedding shared{nullptr};
  for (int64_t i = 0; i < c.encoder_layers; ++i) {
    BeatsLayer layer(c, shared);
    if (i == 0) shared = layer->self_attn->relative_attention_bias;
    layers->push_back(layer);
  }
}

torch::Tensor BeatsTransformerImpl::forward(const torch::Tensor& x_in, Intermediates* mid, at::Generator* gen) {
  torch::Tensor pc = pos_conv->forward(x_in.transpose(1, 2));
  if (c_.conv_pos % 2 == 0) pc = pc.narrow(2, 0, pc.size(2) - 1);  // SamePad: an even kernel yields N + 1 steps
  pc = F::gelu(pc).transpose(1, 2);
  record(mid, "pos_conv", pc);
  torch::Tensor x = layer_norm(x_in + pc);  // post-LN model: the encoder LN comes before layer 0
  record(mid, "enc_in", x);
  x = seeded_dropout(x, c_.dropout, is_training(), gen);

  const double ratio = c_.layer_wise_gradient_decay_ratio;
  const bool layerdrop = is_training() && c_.encoder_layerdrop > 0;
  torch::Tensor P;  // ungated bias, computed by the first layer that runs and shared by the rest
  for (size_t k = 0; k < layers->size(); ++k) {
    // Layer-wise gradient decay; without a gradient to scale it would be a no-op.
    if (ratio != 1.0 && x.requires_grad()) x = GradMultiply::apply(x, ratio);
    if (layerdrop) {
      const auto opts = torch::TensorOptions().dtype(torch::kDouble).device(gen ? gen->device() : torch::kCPU);
      const auto draw = gen ? torch::rand({1}, *gen, opts) : torch::rand({1}, opts);
      if (draw.item<double>() <= c_.encoder_layerdrop) continue;
    }
    auto layer = layers[k]->as<BeatsLayerImpl>();
    if (!P.defined() && c_.relative_position_embedding) {
      const torch::Tensor buckets = layer->self_attn->bucket_matrix(x.size(1));
      P = layer->self_attn->position_bias(buckets);
      record(mid, "rel_bucket", buckets);
      record(mid, "pos_bias", P);
    }
    const std::string prefix = "layer" + std::to_string(k) + ".";
    x = layer->forward(x, P, mid, prefix, gen);
    record(mid, prefix + "out", x);
  }
  return x;
}

// ---------------------------------------------------------------------------------------------

BeatsEncoderImpl::BeatsEncoderImpl(const BeatsConfig& c) : c_(c) {
  require(c.input_patch_size > 0, "input_patch_size must be positive (the class default -1 is a placeholder)");
  require(c.embed_dim > 0 && c.encoder_embed_dim > 0 && c.encoder_ffn_embed_dim > 0 && c.encoder_layers > 0,
          "dimensions and layer count must be positive");
  require(c.encoder_attention_heads > 0 && c.encoder_embed_dim % c.encoder_attention_heads == 0,
          "encoder_embed_dim must be a multiple of encoder_attention_heads");
  require(c.conv_pos > 0 && c.conv_pos_groups > 0 && c.encoder_embed_dim % c.conv_pos_groups == 0,
          "encoder_embed_dim must be a multiple of conv_pos_groups");
  require(!c.relative_position_embedding || (c.num_buckets >= 4 && c.max_distance > c.num_buckets / 4),
          "relative bias needs num_buckets >= 4 and max_distance > num_buckets / 4");
  require(c.activation_fn == "gelu", "activation_fn \"" + c.activation_fn + "\" is not supported (only gelu)");
  require(!c.layer_norm_first, "layer_norm_first (pre-LN) is not supported");
  require(c.layer_wise_gradient_decay_ratio > 0, "layer_wise_gradient_decay_ratio must be positive");
  require(c.encoder_layerdrop >= 0 && c.encoder_layerdrop <= 1, "encoder_layerdrop must lie in [0, 1]");
  for (double p : {c.dropout, c.attention_dropout, c.activation_dropout, c.dropout_input})
    require(p >= 0 && p < 1, "dropout probabilities must lie in [0, 1)");

  const int64_t p = c.input_patch_size;
  patch_embedding = register_module(
      "patch_embedding", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, c.embed_dim, p).stride(p).bias(c.conv_bias)));
  layer_norm = register_module("layer_norm", make_layer_norm(c.embed_dim));
  if (c.embed_dim != c.encoder_embed_dim)
    post_extract_proj = register_module("post_extract_proj", torch::nn::Linear(c.embed_dim, c.encoder_embed_dim));
  encoder = register_module("encoder", BeatsTransformer(c));
}

torch::Tensor BeatsEncoderImpl::preprocess(const torch::Tensor& wave) const {
  features::KaldiFbankOptions o;
  o.window = features::KaldiFbankOptions::Window::kPovey;
  o.scale = 32768.0;  // int16 range, as BEATs.preprocess
  o.num_mel_bins = 128;
  return (features::kaldi_fbank(wave, o) - 15.41663) / (2 * 6.55582);
}

torch::Tensor BeatsEncoderImpl::encode(const torch::Tensor& fbank, Intermediates* mid, at::Generator* gen) {
  require(fbank.dim() == 3, "encode expects a (B, T, F) fbank");
  require(fbank.size(1) >= c_.input_patch_size && fbank.size(2) >= c_.input_patch_size,
          "fbank has fewer frames or bins than one patch");
  torch::Tensor x = patch_embedding(fbank.unsqueeze(1));  // (B, C, T/p, F/p); trailing T mod p frames dropped
  record(mid, "patch_embed", x);
  x = layer_norm(x.flatten(2).transpose(1, 2));  // tokens time-major: n = t·(F/p) + f
  record(mid, "patch_tokens_ln", x);
  if (!post_extract_proj.is_empty()) {
    x = post_extract_proj(x);
    record(mid, "post_extract_proj", x);
  }
  return encoder->forward(seeded_dropout(x, c_.dropout_input, is_training(), gen), mid, gen);
}

void BeatsEncoderImpl::add_lora(int64_t r, double alpha) {
  for (const auto& m : *encoder->layers) {
    auto attn = m->as<BeatsLayerImpl>()->self_attn;
    attn->q_proj->add_lora(r, alpha);
    attn->v_proj->add_lora(r, alpha);
  }
}

// ---------------------------------------------------------------------------------------------

namespace {
const std::regex kRepeatedBias(R"(encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.weight)");
const char* kLayer0Bias = "encoder.layers.0.self_attn.relative_attention_bias.weight";

bool is_lora_key(const std::string& k) { return k.find(".lora_") != std::string::npos || k.rfind("lora_", 0) == 0; }

std::string shape_str(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}
}  // namespace

bool is_beats_ignored_key(const std::string& key) {
  std::smatch m;
  if (std::regex_match(key, m, kRepeatedBias)) return m[1] != "0";
  return key.rfind("predictor.", 0) == 0;
}

void load_beats_state(BeatsEncoderImpl& m, const std::map<std::string, torch::Tensor>& sd) {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& p : m.named_parameters()) targets[p.key()] = p.value();
  for (const auto& b : m.named_buffers()) targets[b.key()] = b.value();

  for (const auto& [key, t] : sd) {
    if (targets.count(key)) continue;
    if (!is_beats_ignored_key(key)) throw std::invalid_argument("BEATs state: unexpected key " + key);
    if (key.rfind("predictor.", 0) == 0) continue;
    // A repeated copy of the shared relative bias: accept it only if it is the same tensor.
    const auto first = sd.find(kLayer0Bias);
    const bool same = first != sd.end() && first->second.sizes().equals(t.sizes()) &&
                      torch::equal(first->second, t.to(first->second.dtype()));
    if (!same)
      throw std::invalid_argument("BEATs state: " + key + " differs from " + kLayer0Bias +
                                  " (the relative position bias is shared by all layers)");
  }
  torch::NoGradGuard no_grad;
  for (auto& [key, dst] : targets) {
    const auto it = sd.find(key);
    if (it == sd.end()) {
      if (is_lora_key(key)) continue;  // adapters are not part of the official checkpoint
      throw std::invalid_argument("BEATs state: missing key " + key);
    }
    if (!it->second.sizes().equals(dst.sizes()))
      throw std::invalid_argument("BEATs state: " + key + " has shape " + shape_str(it->second) + ", expected " +
                                  shape_str(dst));
  }
  for (auto& [key, dst] : targets) {
    const auto it = sd.find(key);
    if (it != sd.end()) dst.copy_(it->second);
  }
}

}  // namespace asd::nn
