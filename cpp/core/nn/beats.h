// The BEATs audio encoder (spec pretrained §1.3, §2): patch embedding, convolutional position
// embedding, post-LN DeepNorm transformer with a gated relative position bias, optional LoRA on
// q_proj / v_proj (§4.1).
//
// Module and parameter names are the official checkpoint keys (§5.3), e.g. `patch_embedding.weight`,
// `encoder.pos_conv.0.weight_g`, `encoder.layers.3.self_attn.q_proj.weight`; adapters add
// `…q_proj.lora_A` / `…q_proj.lora_B`. The relative position embedding is one module, registered
// only as `encoder.layers.0.self_attn.relative_attention_bias`; the checkpoint repeats it under
// every layer, so a loader must skip (or verify) the copies of layers 1..L−1 — load_beats_state
// does that.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "nn/lora.h"
#include "nn/pretrained_encoder.h"

namespace asd::nn {

// BEATsConfig (§2.1): the class defaults; the checkpoint's `cfg` overrides field by field.
struct BeatsConfig {
  int64_t input_patch_size = -1;
  int64_t embed_dim = 512;  // patch width
  bool conv_bias = false;
  int64_t encoder_layers = 12;
  int64_t encoder_embed_dim = 768;  // D
  int64_t encoder_ffn_embed_dim = 3072;
  int64_t encoder_attention_heads = 12;
  std::string activation_fn = "gelu";
  bool layer_norm_first = false;
  bool deep_norm = false;
  double layer_wise_gradient_decay_ratio = 1.0;
  double dropout = 0.1;
  double attention_dropout = 0.1;
  double activation_dropout = 0.0;
  double dropout_input = 0.0;
  double encoder_layerdrop = 0.0;
  int64_t conv_pos = 128;
  int64_t conv_pos_groups = 16;
  bool relative_position_embedding = false;
  int64_t num_buckets = 320;
  int64_t max_distance = 1280;
  bool gru_rel_pos = false;
  bool finetuned_model = false;
  double predictor_dropout = 0.1;
  int64_t predictor_class = 527;

  // The published BEATs_iter3 `cfg` (§2.1, right column).
  static BeatsConfig iter3();
};

// Inverted dropout (zero with probability p, scale the rest by 1/(1−p)) in training mode, its mask
// drawn on the CPU from `gen` (or the default generator) so runs replay from their seed.
torch::Tensor seeded_dropout(const torch::Tensor& x, double p, bool training, at::Generator* gen);

// Bucket index of relative positions r = key − query (any integer tensor) for a bidirectional
// bias with `num_buckets` buckets (§2.3 step 3), evaluated in float32 like the reference. int64.
torch::Tensor beats_relative_bucket(const torch::Tensor& rel, int64_t num_buckets, int64_t max_distance);

// Multi-head self-attention with the gated relative position bias (§2.3).
class BeatsAttentionImpl : public torch::nn::Module {
 public:
  // `shared_bias`: the relative position embedding of layer 0, held but not registered here
  // (empty holder for layer 0, which creates and registers its own, or without relative bias).
  BeatsAttentionImpl(const BeatsConfig& c, torch::nn::Embedding shared_bias);
  // x (B, N, D); P the ungated bias (H, N, N) or undefined; `gen` feeds attention dropout in training.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& P, at::Generator* gen = nullptr);
  // Bucket matrix (N, N) of key j relative to query i, and the ungated bias E[bucket] (H, N, N).
  torch::Tensor bucket_matrix(int64_t n) const;
  torch::Tensor position_bias(const torch::Tensor& buckets);

  int64_t heads, head_dim;
  bool gated;  // gru_rel_pos: grep_linear / grep_a exist; the gate applies when P is given
  LoraLinear q_proj{nullptr}, v_proj{nullptr};
  torch::nn::Linear k_proj{nullptr}, out_proj{nullptr}, grep_linear{nullptr};
  torch::Tensor grep_a;
  torch::nn::Embedding relative_attention_bias{nullptr};

 private:
  int64_t num_buckets_, max_distance_;
  double attention_dropout_;
};
TORCH_MODULE(BeatsAttention);

// Post-LN DeepNorm encoder layer (§2.3): x = LN(α·x + attn(x)); x = LN(α·x + fc2(GELU(fc1(x)))).
class BeatsLayerImpl : public torch::nn::Module {
 public:
  BeatsLayerImpl(const BeatsConfig& c, torch::nn::Embedding shared_bias);
  // `prefix` names this layer's intermediates ("layerK.") when `mid` is given; `gen` feeds dropout.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& P, Intermediates* mid, const std::string& prefix,
                        at::Generator* gen = nullptr);

  double alpha, dropout, activation_dropout;
  BeatsAttention self_attn{nullptr};
  torch::nn::LayerNorm self_attn_layer_norm{nullptr}, final_layer_norm{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(BeatsLayer);

// Grouped Conv1d whose kernel is weight-normalised over dims (0, 1) per tap (`weight_g` (1, 1, K),
// `weight_v` (D, D/groups, K)); the effective kernel is recomputed every forward.
class WeightNormConv1dImpl : public torch::nn::Module {
 public:
  WeightNormConv1dImpl(int64_t channels, int64_t kernel, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);  // (B, D, N) → (B, D, N + 1 − K mod 2)
  int64_t groups, padding;
  torch::Tensor weight_g, weight_v, bias;
};
TORCH_MODULE(WeightNormConv1d);

// `encoder`: position conv, LayerNorm, layers (§2.2 steps 4–6).
class BeatsTransformerImpl : public torch::nn::Module {
 public:
  explicit BeatsTransformerImpl(const BeatsConfig& c);
  torch::Tensor forward(const torch::Tensor& x, Intermediates* mid, at::Generator* gen);

  torch::nn::Sequential pos_conv{nullptr};  // [0] WeightNormConv1d (SamePad and GELU in forward)
  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::ModuleList layers{nullptr};

 private:
  BeatsConfig c_;
};
TORCH_MODULE(BeatsTransformer);

class BeatsEncoderImpl : public PretrainedEncoderImpl {
 public:
  // Throws std::invalid_argument for configurations outside the supported (iter3-like) family:
  // non-positive sizes, activation other than gelu, pre-LN (layer_norm_first).
  explicit BeatsEncoderImpl(const BeatsConfig& c);

  // (B, L) → (fbank(32768·w, povey) − 15.41663) / (2·6.55582), (B, T, 128) (§1.3).
  torch::Tensor preprocess(const torch::Tensor& wave) const override;
  // Normalised fbank (B, T, F) → tokens (B, N, D), N = ⌊T/p⌋·(F/p), time-major. In training
  // mode applies LayerDrop and the dropouts of the config (input, after the encoder LN, attention
  // weights, after attention, after GELU, after fc2), all drawn from `gen`.
  torch::Tensor encode(const torch::Tensor& input, Intermediates* mid = nullptr,
                       at::Generator* gen = nullptr) override;
  torch::Tensor raw_embedding(const torch::Tensor& tokens) const override { return tokens.mean(1); }
  torch::Tensor head_tokens(const torch::Tensor& tokens) const override { return tokens; }
  // LoRA on q_proj and v_proj of every layer.
  void add_lora(int64_t r, double alpha) override;
  int64_t dim() const override { return c_.encoder_embed_dim; }
  std::string kind() const override { return "beats"; }
  const BeatsConfig& config() const { return c_; }

  torch::nn::Conv2d patch_embedding{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::Linear post_extract_proj{nullptr};  // only when embed_dim ≠ D
  BeatsTransformer encoder{nullptr};

 private:
  BeatsConfig c_;
};
TORCH_MODULE(BeatsEncoder);

// Checkpoint keys that have no tensor of their own here: `predictor.*` (fine-tuned heads, unused
// by ASDKit) and the repeated `encoder.layers.i.self_attn.relative_attention_bias.weight`, i ≥ 1.
bool is_beats_ignored_key(const std::string& key);

// Copies an official BEATs state dict (§5.3) into `m` by name. Every parameter/buffer must be
// present except the LoRA adapters (which keep their values); the repeated relative-bias keys
// must equal layer 0's; `predictor.*` is skipped. Throws std::invalid_argument naming the first
// missing, unexpected, mis-shaped or inconsistent key.
void load_beats_state(BeatsEncoderImpl& m, const std::map<std::string, torch::Tensor>& sd);

}  // namespace asd::nn
