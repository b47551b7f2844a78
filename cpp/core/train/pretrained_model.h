// The pretrained-encoder models (spec pretrained §4, §6): BEATs or EAT, frozen for the raw_*
// recipes or with LoRA adapters plus a projection head and the SCAdaCos loss for the dis_*
// recipes. Submodule names follow ASDKit's Lightning state dict without peft's wrapping:
// `extractor.model.<official encoder key>` (adapters `…q_proj.lora_A`), `extractor.projection_net.*`,
// `head_dict.main.*`.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "augment/mixup.h"
#include "nn/beats.h"
#include "nn/eat.h"
#include "nn/pretrained_encoder.h"
#include "train/dis_model.h"
#include "train/trainable.h"

namespace asd::train {

struct PretrainedModelConfig {
  enum class Encoder { kBeats, kEat } encoder = Encoder::kBeats;
  nn::BeatsConfig beats;  // used when encoder = kBeats
  nn::EatConfig eat;      // used when encoder = kEat
  int64_t sec_samples = 0;
  int64_t lora_rank = 0;      // 0: frozen encoder without adapters (raw_beats / raw_eat)
  double lora_alpha = 8.0;    // peft's default: scaling alpha / r = 0.125 at r = 64
  std::string projection = "none";  // none | linear | attn_stat_pool
  int64_t embed_size = 256;   // projection output width
  int64_t n_classes = 0;      // 0: no loss head (extraction only)
  HeadConfig head;            // SCAdaCos, 16 sub-clusters, trainable centres in the recipes
  double mixup_prob = 0.5;
  // kBoth: (B, 2, L) input, each channel through the encoder, embeddings concatenated (head over
  // 2E). kSubtract is refused: the fbank frontend has no linear-magnitude stage to subtract in.
  ClipChannels channels = ClipChannels::kOne;
};

// `extractor`: the encoder (`model`) and the projection head (`projection_net`).
class PretrainedExtractorImpl : public torch::nn::Module {
 public:
  explicit PretrainedExtractorImpl(const PretrainedModelConfig& c);
  // (B, L) waveforms → embeddings (B, E): the raw embedding without a projection, else the
  // projection of the head tokens. `gen` feeds LayerDrop/DropPath in training mode.
  torch::Tensor forward(const torch::Tensor& wave, at::Generator* gen = nullptr);
  int64_t embed_size() const;

  std::shared_ptr<nn::PretrainedEncoderImpl> model;
  // `projection_net`: Linear (linear) or [AttnStatPool, Linear] (attn_stat_pool); neither for none.
  torch::nn::Linear linear_projection{nullptr};
  torch::nn::Sequential pooled_projection{nullptr};

 private:
  int64_t embed_size_;
};
TORCH_MODULE(PretrainedExtractor);

class PretrainedModelImpl : public TrainableImpl {
 public:
  // Throws std::invalid_argument for an unusable config (unknown projection, LoRA without a
  // head, a head without classes, attn_stat_pool on EAT's CLS token).
  explicit PretrainedModelImpl(const PretrainedModelConfig& config);

  // Mixup on wave and labels, embedding, SCAdaCos (§4.5). Terms: `dis_main`, `main`.
  LossTerms training_loss(const TrainBatch& batch, at::Generator gen) override;
  // (B, L) → (B, E); channels kBoth: (B, 2, L) → (B, 2E) = [near | far].
  torch::Tensor embed(const torch::Tensor& wave) { return extract(wave, nullptr); }
  // The head's input width: E, or 2E for kBoth.
  int64_t embed_size() const;

  // Loads the official encoder weights (BEATs / EAT key names, spec §5.3); adapters keep their
  // values. Throws std::invalid_argument naming a missing, unexpected or mis-shaped key.
  void load_encoder_state(const std::map<std::string, torch::Tensor>& sd);

  const PretrainedModelConfig& config() const { return config_; }

  PretrainedExtractor extractor{nullptr};
  torch::nn::ModuleDict head_dict{nullptr};

 private:
  torch::Tensor extract(const torch::Tensor& wave, at::Generator* gen);
  PretrainedModelConfig config_;
  augment::Mixup mixup_;
};
TORCH_MODULE(PretrainedModel);

}  // namespace asd::train
