// The EAT audio encoder (data2vec-2.0 "data2vec_multi", IMAGE modality; spec pretrained §1.4,
// §3): fbank → 16×16 patch conv → time-major tokens + fixed 2-D sin-cos positions → CLS →
// LayerNorm → post-LN AltBlocks. Only the inference / LoRA fine-tuning path exists here; the
// pre-training decoder, EMA teacher and masking are not modelled.
//
// Parameter names are the fairseq state-dict keys (§5.3), e.g.
// `modality_encoders.IMAGE.local_encoder.proj.weight`, `blocks.3.attn.qkv.bias`, so a converted
// checkpoint loads by name. The positions table is a buffer (it is frozen in fairseq too).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nn/lora.h"
#include "nn/pretrained_encoder.h"

namespace asd::nn {

struct EatConfig {
  int64_t depth = 12;
  int64_t embed_dim = 768;
  int64_t num_heads = 12;
  double mlp_ratio = 4.0;
  double norm_eps = 1e-6;
  int64_t patch_size = 16;
  int64_t max_length = 768;  // time patches covered by the positions table (rows = max_length · 8)
  bool qkv_bias = true;
  double drop_path_rate = 0.0;  // block i uses drop_path_rate · i / (depth − 1) in training
  int64_t target_length = 0;    // fbank frames after padding (§1.4), a multiple of patch_size
  // ASDKit's `prediction_mode` (§3.4): which tokens leave the encoder. kCls (the recipes): the
  // CLS token — raw x[:, 0], to the LoRA projection x[:, :1]. kSeq: the sequence tokens x[:, 1:],
  // padded-frame patches included — raw their mean, to the projection all of them.
  enum class PredictionMode { kCls, kSeq } prediction_mode = PredictionMode::kCls;

  // ceil(T₀ / 32) · 32 with T₀ the fbank frames of int(sec · 16000) samples (§1.4).
  static int64_t target_length_for(double sec);
  // EAT-base / EAT-large (§3.1) with ASDKit's fine-tuning drop-path rate 0.1.
  static EatConfig base(double sec);
  static EatConfig large(double sec);

  int64_t freq_patches() const { return 128 / patch_size; }  // 8 for 128 mel bins
};

// "cls" | "seq" → the mode; throws std::invalid_argument for anything else.
EatConfig::PredictionMode eat_prediction_mode(const std::string& name);

// The fixed 2-D sin-cos table (§3.2), (1, rows_time · freq_patches, D) float32: row n = h·F + w;
// columns [0, D/2) encode w, [D/2, D) encode h, each half [sin | cos] over ω_k = 10000^(−k/(D/4)).
// Throws std::invalid_argument unless D is a positive multiple of 4.
torch::Tensor eat_sincos_positions(int64_t rows_time, int64_t D, int64_t freq_patches = 8);

class EatAttentionImpl : public torch::nn::Module {
 public:
  EatAttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias);
  torch::Tensor forward(const torch::Tensor& x);
  LoraLinear qkv{nullptr};  // rows [0,D) q, [D,2D) k, [2D,3D) v
  torch::nn::Linear proj{nullptr};

 private:
  int64_t num_heads_;
};
TORCH_MODULE(EatAttention);

class EatMlpImpl : public torch::nn::Module {
 public:
  EatMlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);  // fc2(GELU(fc1(x))), exact GELU
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(EatMlp);

// Post-LN AltBlock (§3.3): x += DropPath(Attn(x)); r = LN1(x); x = LN2(r + DropPath(Mlp(r))).
class EatBlockImpl : public torch::nn::Module {
 public:
  EatBlockImpl(const EatConfig& c, double drop_path);
  // `attn_out`, when given, receives the attention branch before the residual.
  torch::Tensor forward(const torch::Tensor& x, at::Generator* gen = nullptr, torch::Tensor* attn_out = nullptr);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  EatAttention attn{nullptr};
  EatMlp mlp{nullptr};

 private:
  torch::Tensor drop_path(const torch::Tensor& x, at::Generator* gen) const;
  double drop_path_;
};
TORCH_MODULE(EatBlock);

class EatEncoderImpl : public PretrainedEncoderImpl {
 public:
  // Weights start random (positions: the sin-cos table); load a checkpoint with load_eat_state.
  // Throws std::invalid_argument for an inconsistent configuration.
  explicit EatEncoderImpl(const EatConfig& config);

  // (B, L) → (B, 1, target_length, 128): clip mean removed, hanning fbank, zero-padded at the end
  // in the log domain, then (x + 4.268) / (2 · 4.569). Throws if the clip has more frames than
  // target_length (ASDKit never crops).
  torch::Tensor preprocess(const torch::Tensor& wave) const override;
  // (B, 1, T, 128) → (B, 1 + N, D), N = (T / 16) · 8, CLS first. Intermediates: patch_embed,
  // tokens_pre_norm, enc_in, blockK.attn_out, blockK.out.
  torch::Tensor encode(const torch::Tensor& input, Intermediates* mid = nullptr,
                       at::Generator* gen = nullptr) override;
  // cls: x[:, 0]; seq: x[:, 1:].mean(1).
  torch::Tensor raw_embedding(const torch::Tensor& tokens) const override;
  // cls: x[:, :1]; seq: x[:, 1:].
  torch::Tensor head_tokens(const torch::Tensor& tokens) const override;
  void add_lora(int64_t r, double alpha) override;  // on every blocks.i.attn.qkv
  int64_t dim() const override { return config_.embed_dim; }
  std::string kind() const override { return "eat"; }

  const EatConfig& config() const { return config_; }
  // The positions table (1, rows, D); load_eat_state may replace it with a table of other size.
  torch::Tensor positions() const { return positions_; }

  torch::nn::Conv2d patch_proj{nullptr};  // modality_encoders.IMAGE.local_encoder.proj
  torch::Tensor extra_tokens;             // modality_encoders.IMAGE.extra_tokens (1, 1, D)
  torch::nn::LayerNorm context_norm{nullptr};  // modality_encoders.IMAGE.context_encoder.norm
  std::vector<EatBlock> blocks;

 private:
  EatConfig config_;
  torch::Tensor positions_;  // modality_encoders.IMAGE.fixed_positional_encoder.positions
};
TORCH_MODULE(EatEncoder);

// Copies a fairseq-named state dict into `model` by name, with shape checks. Skips `_ema*` and
// `modality_encoders.IMAGE.decoder.*`. The positions table may have any row count that covers
// the model's target_length (it replaces the model's table). LoRA tensors (`…qkv.lora_A/B`) are
// loaded when present and not required. Throws std::invalid_argument naming the first
// missing/unexpected key or shape mismatch; nothing is modified then.
void load_eat_state(EatEncoderImpl& model, const std::map<std::string, torch::Tensor>& sd);

// Hugging Face EAT key → fairseq key (§5.5); std::nullopt for tensors the encoder does not use
// (`model.fc_norm.*`, `model.head.*`). Unknown keys come back unchanged, so the loader names them.
std::optional<std::string> eat_hf_to_fairseq_key(const std::string& hf_key);
// The inverse for the encoder's keys; unknown keys come back unchanged.
std::string eat_fairseq_to_hf_key(const std::string& key);
// Renames a whole Hugging Face state dict, dropping the unused tensors.
std::map<std::string, torch::Tensor> eat_state_from_hf(const std::map<std::string, torch::Tensor>& hf);

}  // namespace asd::nn
