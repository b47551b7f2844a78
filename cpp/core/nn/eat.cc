#include "nn/eat.h"

#include <cmath>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "features/kaldi_fbank.h"

namespace asd::nn {
namespace {

constexpr double kFbankMean = -4.268;  // EAT's dataset statistics (§1.4)
constexpr double kFbankStd = 4.569;
constexpr int64_t kMelBins = 128;

const std::string kImage = "modality_encoders.IMAGE.";
const std::string kPositionsKey = kImage + "fixed_positional_encoder.positions";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string shape_str(torch::IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

void check(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("EAT: " + what);
}

// (HF prefix, fairseq prefix) pairs of §5.5; no prefix is a prefix of another.
const std::vector<std::pair<std::string, std::string>>& hf_prefixes() {
  static const std::vector<std::pair<std::string, std::string>> table = {
      {"model.local_encoder.proj.", kImage + "local_encoder.proj."},
      {"model.extra_tokens", kImage + "extra_tokens"},
      {"model.fixed_positional_encoder.positions", kPositionsKey},
      {"model.pre_norm.", kImage + "context_encoder.norm."},
      {"model.blocks.", "blocks."},
  };
  return table;
}

}  // namespace

int64_t EatConfig::target_length_for(double sec) {
  const int64_t frames = features::kaldi_num_frames(static_cast<int64_t>(sec * 16000.0));
  check(frames > 0, "a clip of " + std::to_string(sec) + " s is shorter than one fbank frame");
  return (frames + 31) / 32 * 32;
}

EatConfig EatConfig::base(double sec) {
  EatConfig c;
  c.drop_path_rate = 0.1;
  c.target_length = target_length_for(sec);
  return c;
}

EatConfig EatConfig::large(double sec) {
  EatConfig c = base(sec);
  c.depth = 24;
  c.embed_dim = 1024;
  c.num_heads = 16;
  return c;
}

torch::Tensor eat_sincos_positions(int64_t rows_time, int64_t D, int64_t freq_patches) {
  check(D > 0 && D % 4 == 0, "sin-cos positions need a positive multiple of 4 as width, got " + std::to_string(D));
  check(rows_time > 0 && freq_patches > 0, "sin-cos positions need positive grid sizes");
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t quarter = D / 4;
  const torch::Tensor omega = torch::pow(10000.0, -torch::arange(quarter, f64) / static_cast<double>(quarter));
  // Row n = h·F + w.
  const torch::Tensor h = torch::arange(rows_time, f64).repeat_interleave(freq_patches);
  const torch::Tensor w = torch::arange(freq_patches, f64).repeat({rows_time});
  const torch::Tensor hw = torch::outer(w, omega), hh = torch::outer(h, omega);
  return torch::cat({hw.sin(), hw.cos(), hh.sin(), hh.cos()}, 1).to(torch::kFloat32).unsqueeze(0);
}

EatAttentionImpl::EatAttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias) : num_heads_(num_heads) {
  qkv = register_module("qkv", LoraLinear(dim, 3 * dim, qkv_bias));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
}

torch::Tensor EatAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), d = C / num_heads_;
  // (3, B, H, N, d): the fused projection's rows are q | k | v, each split into heads.
  const torch::Tensor t = qkv(x).reshape({B, N, 3, num_heads_, d}).permute({2, 0, 3, 1, 4});
  // Scale q before the product, as the reference does (exact for power-of-two head widths).
  const torch::Tensor q = t[0] * std::pow(static_cast<double>(d), -0.5);
  const torch::Tensor attn = torch::matmul(q, t[1].transpose(-2, -1)).softmax(-1);
  return proj(torch::matmul(attn, t[2]).transpose(1, 2).reshape({B, N, C}));
}

EatMlpImpl::EatMlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
}

torch::Tensor EatMlpImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x))); }

EatBlockImpl::EatBlockImpl(const EatConfig& c, double drop_path) : drop_path_(drop_path) {
  const auto ln = torch::nn::LayerNormOptions({c.embed_dim}).eps(c.norm_eps);
  norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
  attn = register_module("attn", EatAttention(c.embed_dim, c.num_heads, c.qkv_bias));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  mlp = register_module("mlp", EatMlp(c.embed_dim, static_cast<int64_t>(c.embed_dim * c.mlp_ratio)));
}

// timm's per-sample stochastic depth. The keep mask is drawn on the CPU (B numbers) so a CPU
// generator works for any device and the draw does not depend on where the model runs.
torch::Tensor EatBlockImpl::drop_path(const torch::Tensor& x, at::Generator* gen) const {
  if (!is_training() || drop_path_ == 0.0) return x;
  const double keep = 1.0 - drop_path_;
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  torch::Tensor mask = torch::empty(shape, torch::TensorOptions().dtype(x.scalar_type()));
  mask.bernoulli_(keep, gen ? c10::optional<at::Generator>(*gen) : c10::nullopt);
  if (keep > 0.0) mask.div_(keep);
  return x * mask.to(x.device());
}

torch::Tensor EatBlockImpl::forward(const torch::Tensor& x, at::Generator* gen, torch::Tensor* attn_out) {
  const torch::Tensor a = attn(x);
  if (attn_out) *attn_out = a;
  const torch::Tensor r = norm1(x + drop_path(a, gen));
  return norm2(r + drop_path(mlp(r), gen));
}

EatEncoderImpl::EatEncoderImpl(const EatConfig& c) : config_(c) {
  check(c.depth > 0 && c.embed_dim > 0 && c.num_heads > 0 && c.embed_dim % c.num_heads == 0,
        "embed_dim must be a positive multiple of num_heads");
  check(c.patch_size > 0 && kMelBins % c.patch_size == 0, "patch_size must divide 128");
  check(c.target_length > 0 && c.target_length % c.patch_size == 0,
        "target_length must be a positive multiple of patch_size, got " + std::to_string(c.target_length));
  check(c.max_length >= c.target_length / c.patch_size,
        "max_length " + std::to_string(c.max_length) + " covers fewer time patches than target_length " +
            std::to_string(c.target_length) + " needs");
  check(c.mlp_ratio > 0 && c.drop_path_rate >= 0 && c.drop_path_rate < 1, "invalid mlp_ratio or drop_path_rate");

  // Plain modules reproduce the fairseq nesting, so parameter names equal the checkpoint keys.
  auto modality = register_module("modality_encoders", std::make_shared<torch::nn::Module>());
  auto image = modality->register_module("IMAGE", std::make_shared<torch::nn::Module>());
  auto local = image->register_module("local_encoder", std::make_shared<torch::nn::Module>());
  patch_proj = local->register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, c.embed_dim, c.patch_size).stride(c.patch_size)));
  extra_tokens = image->register_parameter("extra_tokens", torch::randn({1, 1, c.embed_dim}) * 0.02);
  auto fixed = image->register_module("fixed_positional_encoder", std::make_shared<torch::nn::Module>());
  positions_ = fixed->register_buffer("positions", eat_sincos_positions(c.max_length, c.embed_dim, c.freq_patches()));
  auto context = image->register_module("context_encoder", std::make_shared<torch::nn::Module>());
  context_norm = context->register_module(
      "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.embed_dim}).eps(c.norm_eps)));

  auto list = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) {
    const double p = c.depth > 1 ? c.drop_path_rate * static_cast<double>(i) / static_cast<double>(c.depth - 1) : 0.0;
    blocks.push_back(EatBlock(c, p));
    list->push_back(blocks.back());
  }
}

torch::Tensor EatEncoderImpl::preprocess(const torch::Tensor& wave) const {
  features::KaldiFbankOptions o;
  o.window = features::KaldiFbankOptions::Window::kHanning;
  o.subtract_clip_mean = true;
  o.num_mel_bins = kMelBins;
  const torch::Tensor fb = features::kaldi_fbank(wave, o);
  const int64_t frames = fb.size(1);
  if (frames > config_.target_length) {
    throw std::invalid_argument("EAT: the clip gives " + std::to_string(frames) + " fbank frames, more than target_length " +
                                std::to_string(config_.target_length));
  }
  // Zeros in the log domain, appended before normalisation (padded rows become 0.467).
  const torch::Tensor padded = torch::constant_pad_nd(fb, {0, 0, 0, config_.target_length - frames}, 0.0);
  return ((padded - kFbankMean) / (2.0 * kFbankStd)).unsqueeze(1);
}

torch::Tensor EatEncoderImpl::encode(const torch::Tensor& input, Intermediates* mid, at::Generator* gen) {
  check(input.dim() == 4 && input.size(1) == 1 && input.size(3) == kMelBins,
        "encode expects (B, 1, T, 128), got " + shape_str(input.sizes()));
  auto record = [&](const std::string& name, const torch::Tensor& t) {
    if (mid) mid->emplace_back(name, t);
  };
  // (B, D, T/16, F) → (B, N, D) with token n = t·F + f (time-major).
  torch::Tensor x = patch_proj(input).flatten(2).transpose(1, 2);
  record("patch_embed", x);
  const int64_t n = x.size(1);
  check(n <= positions_.size(1), std::to_string(n) + " patches exceed the positions table (" +
                                     std::to_string(positions_.size(1)) + " rows)");
  x = x + positions_.slice(1, 0, n);
  x = torch::cat({extra_tokens.expand({x.size(0), -1, -1}), x}, 1);  // CLS gets no position
  record("tokens_pre_norm", x);
  x = context_norm(x);
  record("enc_in", x);
  for (size_t i = 0; i < blocks.size(); ++i) {
    torch::Tensor attn_out;
    x = blocks[i]->forward(x, gen, mid ? &attn_out : nullptr);
    record("block" + std::to_string(i) + ".attn_out", attn_out);
    record("block" + std::to_string(i) + ".out", x);
  }
  return x;
}

EatConfig::PredictionMode eat_prediction_mode(const std::string& name) {
  if (name == "cls") return EatConfig::PredictionMode::kCls;
  if (name == "seq") return EatConfig::PredictionMode::kSeq;
  throw std::invalid_argument("EAT: prediction_mode must be \"cls\" or \"seq\", got \"" + name + "\"");
}

torch::Tensor EatEncoderImpl::raw_embedding(const torch::Tensor& tokens) const {
  if (config_.prediction_mode == EatConfig::PredictionMode::kSeq) return tokens.slice(1, 1).mean(1);
  return tokens.select(1, 0);
}

torch::Tensor EatEncoderImpl::head_tokens(const torch::Tensor& tokens) const {
  if (config_.prediction_mode == EatConfig::PredictionMode::kSeq) return tokens.slice(1, 1);
  return tokens.slice(1, 0, 1);
}

void EatEncoderImpl::add_lora(int64_t r, double alpha) {
  for (auto& b : blocks) b->attn->qkv->add_lora(r, alpha);
}

void load_eat_state(EatEncoderImpl& model, const std::map<std::string, torch::Tensor>& sd) {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) targets[p.key()] = p.value();
  for (const auto& b : model.named_buffers(/*recurse=*/true)) targets[b.key()] = b.value();
  const EatConfig& c = model.config();
  const int64_t needed_rows = c.target_length / c.patch_size * c.freq_patches();

  // Validate everything before copying anything.
  std::set<std::string> seen;
  for (const auto& [key, value] : sd) {
    if (starts_with(key, "_ema") || starts_with(key, kImage + "decoder.")) continue;
    const auto it = targets.find(key);
    if (it == targets.end()) throw std::invalid_argument("EAT state: unexpected key " + key);
    if (key == kPositionsKey) {
      if (value.dim() != 3 || value.size(0) != 1 || value.size(2) != c.embed_dim || value.size(1) < needed_rows) {
        throw std::invalid_argument("EAT state: shape mismatch for " + key + ": expected [1, >= " +
                                    std::to_string(needed_rows) + ", " + std::to_string(c.embed_dim) + "], got " +
                                    shape_str(value.sizes()));
      }
    } else if (value.sizes() != it->second.sizes()) {
      throw std::invalid_argument("EAT state: shape mismatch for " + key + ": expected " +
                                  shape_str(it->second.sizes()) + ", got " + shape_str(value.sizes()));
    }
    seen.insert(key);
  }
  for (const auto& [key, value] : targets) {
    const bool lora = key.find(".lora_") != std::string::npos;
    if (!lora && !seen.count(key)) throw std::invalid_argument("EAT state: missing key " + key);
  }

  torch::NoGradGuard no_grad;
  for (const auto& key : seen) {
    torch::Tensor target = targets.at(key);
    const torch::Tensor& value = sd.at(key);
    if (key == kPositionsKey) {
      // The stored table may be longer or shorter than ours; adopt it (set_ keeps the registered
      // buffer and positions() pointing at the same tensor).
      target.set_(value.to(target.device(), target.scalar_type(), false, /*copy=*/true).contiguous());
    } else {
      target.copy_(value);
    }
  }
}

std::optional<std::string> eat_hf_to_fairseq_key(const std::string& hf_key) {
  if (starts_with(hf_key, "model.fc_norm.") || starts_with(hf_key, "model.head.")) return std::nullopt;
  for (const auto& [hf, fs] : hf_prefixes()) {
    if (starts_with(hf_key, hf)) return fs + hf_key.substr(hf.size());
  }
  return hf_key;
}

std::string eat_fairseq_to_hf_key(const std::string& key) {
  for (const auto& [hf, fs] : hf_prefixes()) {
    if (starts_with(key, fs)) return hf + key.substr(fs.size());
  }
  return key;
}

std::map<std::string, torch::Tensor> eat_state_from_hf(const std::map<std::string, torch::Tensor>& hf) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [key, value] : hf) {
    if (auto mapped = eat_hf_to_fairseq_key(key)) out[*mapped] = value;
  }
  return out;
}

}  // namespace asd::nn
