#include "train/pretrained_model.h"

#include <stdexcept>

#include "nn/attn_stat_pool.h"

namespace asd::train {

namespace {
void require(bool cond, const std::string& what) {
  if (!cond) throw std::invalid_argument("pretrained model: " + what);
}

std::shared_ptr<nn::PretrainedEncoderImpl> make_encoder(const PretrainedModelConfig& c) {
  if (c.encoder == PretrainedModelConfig::Encoder::kBeats) return std::make_shared<nn::BeatsEncoderImpl>(c.beats);
  return std::make_shared<nn::EatEncoderImpl>(c.eat);
}
}  // namespace

PretrainedExtractorImpl::PretrainedExtractorImpl(const PretrainedModelConfig& c) : embed_size_(c.embed_size) {
  model = register_module("model", make_encoder(c));
  if (c.lora_rank > 0) model->add_lora(c.lora_rank, c.lora_alpha);
  nn::freeze_all_but_lora(*model);
  const int64_t D = model->dim();
  if (c.projection == "linear") {
    linear_projection = register_module("projection_net", torch::nn::Linear(D, c.embed_size));
  } else if (c.projection == "attn_stat_pool") {
    // Pooling one CLS token is meaningless: ASDKit allows the pool with EAT only on `seq` (§3.4).
    require(c.encoder != PretrainedModelConfig::Encoder::kEat || c.eat.prediction_mode == nn::EatConfig::PredictionMode::kSeq,
            "projection attn_stat_pool needs prediction_mode \"seq\" with EAT (the CLS token alone cannot be pooled)");
    pooled_projection = register_module("projection_net", torch::nn::Sequential(nn::AttnStatPool(D), torch::nn::Linear(D, c.embed_size)));
  } else {
    require(c.projection == "none", "unknown projection \"" + c.projection + "\" (none, linear, attn_stat_pool)");
    embed_size_ = D;
  }
}

int64_t PretrainedExtractorImpl::embed_size() const { return embed_size_; }

torch::Tensor PretrainedExtractorImpl::forward(const torch::Tensor& wave, at::Generator* gen) {
  const torch::Tensor tokens = model->encode(model->preprocess(wave), nullptr, gen);
  // linear: mean over the head tokens (EAT cls: the CLS token alone) first (§4.3); the pool pools itself.
  if (!linear_projection.is_empty()) return linear_projection->forward(model->head_tokens(tokens).mean(1));
  if (!pooled_projection.is_empty()) return pooled_projection->forward(model->head_tokens(tokens));
  return model->raw_embedding(tokens);
}

PretrainedModelImpl::PretrainedModelImpl(const PretrainedModelConfig& config)
    : config_(config), mixup_(config.mixup_prob > 0 ? config.mixup_prob : 0.0) {
  require(config.sec_samples > 0, "sec_samples must be positive");
  require(config.n_classes == 0 || config.n_classes >= 2, "n_classes must be 0 (no head) or >= 2");
  require(config.lora_rank == 0 || config.n_classes >= 2, "LoRA adapters need a loss head (n_classes >= 2)");
  require(config.channels != ClipChannels::kSubtract,
          std::string("channel subtract is not possible with ") + (config.encoder == PretrainedModelConfig::Encoder::kBeats ? "BEATs" : "EAT") +
              ": its log-mel fbank frontend has no linear-magnitude stage to subtract in (use near, far, mean or both)");
  extractor = register_module("extractor", PretrainedExtractor(config));
  if (config.n_classes >= 2) {
    head_dict = register_module("head_dict", torch::nn::ModuleDict());
    head_dict->update({{"main", make_margin_head(config.head, config.n_classes, embed_size(), config.head.trainable)}});
  }
}

int64_t PretrainedModelImpl::embed_size() const {
  return extractor->embed_size() * (config_.channels == ClipChannels::kBoth ? 2 : 1);
}

torch::Tensor PretrainedModelImpl::extract(const torch::Tensor& wave, at::Generator* gen) {
  if (config_.channels != ClipChannels::kBoth) return extractor->forward(wave, gen);
  return embed_each_channel(wave, [&](const torch::Tensor& w) { return extractor->forward(w, gen); });
}

LossTerms PretrainedModelImpl::training_loss(const TrainBatch& batch, at::Generator gen) {
  require(!head_dict.is_empty(), "this model has no loss head (n_classes = 0): it cannot be trained");
  torch::Tensor w = batch.input, y = batch.target;
  if (config_.mixup_prob > 0) {
    auto mixed = mixup_.forward({{"wave", w}, {"onehot_main", y}}, gen, is_training());
    w = mixed.at("wave"), y = mixed.at("onehot_main");
  }
  const torch::Tensor e = extract(w, &gen);
  const torch::Tensor loss = std::dynamic_pointer_cast<losses::MarginHead>(head_dict["main"])->forward(e, y);
  return {{"dis_main", loss}, {"main", loss}};
}

void PretrainedModelImpl::load_encoder_state(const std::map<std::string, torch::Tensor>& sd) {
  if (config_.encoder == PretrainedModelConfig::Encoder::kBeats) {
    nn::load_beats_state(*std::dynamic_pointer_cast<nn::BeatsEncoderImpl>(extractor->model), sd);
  } else {
    nn::load_eat_state(*std::dynamic_pointer_cast<nn::EatEncoderImpl>(extractor->model), sd);
  }
}

}  // namespace asd::train
