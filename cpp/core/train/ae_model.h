// The AE recipe's model (ASDKit AEPLModel, spec frontends-and-training §3): FlattenSTFT vectors
// through AE_MLP; training loss = MSE of a batch of vectors; per clip, `AS-recon` = mean squared
// error over its vectors and dimensions and `embed` = its codes averaged over time.
// Names follow the reference: `audio_feat.stft.stft.spectrogram.window`,
// `audio_feat.stft.stft.mel_scale.fb`, `network.encoder.*`, `network.decoder.*`.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "common/runtime.h"
#include "extract/frontend.h"
#include "features/flatten_stft.h"
#include "nn/ae_mlp.h"
#include "train/trainable.h"

namespace asd::train {

struct AeModelConfig {
  features::StftOptions stft = features::FlattenStft::ae_options();
  int64_t n_frames = 5;
  int64_t h_dim = 128;
  int64_t z_dim = 8;
  features::SpectralSubtraction subtract;  // applied to (B, 2, L) waves (channel=subtract)
  // channel=both: a vector is [near's frames | far's frames] (input dimension 2·n_frames·n_mels)
  // and only (B, 2, L) waves are taken.
  bool both = false;
};

class AeModelImpl : public TrainableImpl {
 public:
  explicit AeModelImpl(const AeModelConfig& config);

  // Feature vectors of (B, L) waves, or (B, 2, L) ones for subtract/both (no gradient needed: the
  // features have no parameters).
  torch::Tensor vectors(const torch::Tensor& wave) const { return feat_.forward(wave); }
  // input: a batch of vectors; loss {"main": MSE}.
  LossTerms training_loss(const TrainBatch& batch, at::Generator gen) override;
  // (B, L) or (B, 2, L) waves → {"embed": (B, z), "AS-recon": (B)}.
  extract::Outputs extract(const torch::Tensor& wave);
  const AeModelConfig& config() const { return config_; }
  const features::FlattenStft& features() const { return feat_; }

  nn::AeMlp network{nullptr};

 private:
  AeModelConfig config_;
  features::FlattenStft feat_;
};
TORCH_MODULE(AeModel);

// The AE's training table (spec §3.1): every clip of `paths` decoded whole (no crop or tiling) on
// `io_threads` threads (parallel_for), its frame vectors stacked in clip order, on the CPU (the
// model is moved there). Progress in clips; throws std::invalid_argument for no clips, and the
// lowest-index failing clip's error.
// `channel` as audio::read_wav; both needs a model built for it (config.both) and the other
// modes one that is not (std::invalid_argument).
torch::Tensor training_vectors(AeModelImpl& model, const std::vector<std::string>& paths, int io_threads, const RunContext& ctx,
                               audio::Channel channel = audio::Channel::kNear);

// Extraction through an AeModel (eval mode).
class AeFrontend : public extract::Frontend {
 public:
  explicit AeFrontend(AeModel model) : model_(std::move(model)) {}
  extract::Outputs forward(const torch::Tensor& wave) override {
    model_->eval();
    return model_->extract(wave);
  }
  void to(torch::Device device) override { model_->to(device); }

 private:
  AeModel model_;
};

}  // namespace asd::train
