#include "train/ae_model.h"

#include <stdexcept>

#include "audio/wav.h"
#include "common/parallel.h"

namespace asd::train {

AeModelImpl::AeModelImpl(const AeModelConfig& config) : config_(config), feat_(config.stft, config.n_frames) {
  feat_.set_subtraction(config.subtract);
  feat_.set_both(config.both);
  // The reference nests torchaudio modules: audio_feat.stft(STFT).stft(MelSpectrogram) with
  // `spectrogram.window` and `mel_scale.fb` buffers. Our STFT's constants are exposed under those
  // names (the window is the normalised one the STFT applies). The buffers share the STFT's
  // tensors, so Module::to() moves both.
  auto audio_feat = register_module("audio_feat", std::make_shared<torch::nn::Module>());
  auto stft = audio_feat->register_module("stft", std::make_shared<torch::nn::Module>());
  auto mel = stft->register_module("stft", std::make_shared<torch::nn::Module>());
  mel->register_module("spectrogram", std::make_shared<torch::nn::Module>())->register_buffer("window", feat_.stft().window());
  if (feat_.stft().mel_filterbank().defined()) {
    mel->register_module("mel_scale", std::make_shared<torch::nn::Module>())->register_buffer("fb", feat_.stft().mel_filterbank());
  }
  network = register_module("network", nn::AeMlp(feat_.dim(), config.h_dim, config.z_dim));
}

LossTerms AeModelImpl::training_loss(const TrainBatch& batch, at::Generator) {
  auto [est, z] = network->forward(batch.input);
  return {{"main", torch::mse_loss(est, batch.input)}};
}

extract::Outputs AeModelImpl::extract(const torch::Tensor& wave) {
  const int64_t B = wave.size(0);
  const torch::Tensor x = feat_.forward(wave);
  auto [est, z] = network->forward(x);
  const torch::Tensor recon = (est - x).pow(2).view({B, -1}).mean(1);
  const torch::Tensor embed = z.view({B, -1, z.size(1)}).mean(1);
  return {{"embed", embed}, {"AS-recon", recon}};
}

torch::Tensor training_vectors(AeModelImpl& model, const std::vector<std::string>& paths, int io_threads, const RunContext& ctx,
                               audio::Channel channel) {
  if (paths.empty()) throw std::invalid_argument("AE training vectors: no clips");
  // The loader's channel and the model's input must agree: a both model on a subtract pair would
  // otherwise read its vectors at half width, and a one-stream model would subtract a both pair.
  if ((channel == audio::Channel::kBoth) != model.config().both) {
    throw std::invalid_argument(model.config().both ? "AE training vectors: this AE was built for channel both; read the clips with channel both"
                                                    : "AE training vectors: channel both needs an AE built for it (config channel both)");
  }
  torch::NoGradGuard no_grad;
  model.to(torch::kCPU);
  std::vector<torch::Tensor> parts(paths.size());
  parallel_for(
      static_cast<int64_t>(paths.size()), io_threads,
      [&](int64_t i) { parts[static_cast<size_t>(i)] = model.vectors(audio::read_wav(paths[static_cast<size_t>(i)], channel).unsqueeze(0)); },
      ctx);
  return torch::cat(parts);
}

}  // namespace asd::train
