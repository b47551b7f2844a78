// The contract shared by the pretrained audio encoders (BEATs, EAT; spec pretrained §1–§3) so the
// frozen feature frontends, the LoRA training model and the addon treat them alike.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace asd::nn {

// Named intermediate tensors, recorded on request for parity tests. Names are the parity
// vectors' `mid.` names without the prefix (e.g. "patch_embed", "layer0.out", "block0.attn_out").
using Intermediates = std::vector<std::pair<std::string, torch::Tensor>>;

class PretrainedEncoderImpl : public torch::nn::Module {
 public:
  // (B, L) float32 waveform in [-1, 1] at 16 kHz → the encoder's input (BEATs: normalised fbank
  // (B, T, 128); EAT: padded, normalised fbank (B, 1, target_length, 128)). Rows independent.
  virtual torch::Tensor preprocess(const torch::Tensor& wave) const = 0;

  // Encoder input → last-layer tokens (B, N, D) (EAT: CLS first). In training mode the
  // stochastic layers (BEATs LayerDrop, EAT DropPath) draw from `gen` when given, else from
  // torch's default CPU generator. `mid`, when given, receives the intermediates.
  virtual torch::Tensor encode(const torch::Tensor& input, Intermediates* mid = nullptr,
                               at::Generator* gen = nullptr) = 0;

  // The frozen ("raw") embedding of the tokens: BEATs mean over tokens, EAT the CLS token or the
  // mean of the sequence tokens (its prediction_mode). (B, D)
  virtual torch::Tensor raw_embedding(const torch::Tensor& tokens) const = 0;

  // The tokens the LoRA projection head receives (§4.3): BEATs all tokens, EAT `x[:, :1]` (cls)
  // or `x[:, 1:]` (seq).
  virtual torch::Tensor head_tokens(const torch::Tensor& tokens) const = 0;

  // Wraps the recipe's target Linear layers (BEATs q_proj/v_proj, EAT qkv) with LoRA adapters.
  virtual void add_lora(int64_t r, double alpha) = 0;

  virtual int64_t dim() const = 0;            // D
  virtual std::string kind() const = 0;       // "beats" | "eat"

  torch::Tensor forward(const torch::Tensor& wave) { return encode(preprocess(wave)); }
};

}  // namespace asd::nn
