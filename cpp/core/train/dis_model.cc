#include "train/dis_model.h"

#include <stdexcept>

namespace asd::train {

namespace {
void require(bool cond, const std::string& what) {
  if (!cond) throw std::invalid_argument("DisModel: " + what);
}
}  // namespace

DisModelImpl::DisModelImpl(const DisModelConfig& config)
    : config_(config),
      mixup_(config.mixup_prob > 0 ? config.mixup_prob : 0.0),
      featex_(config.featex_prob, config.subspace_embed_size) {
  require(config.n_classes >= 2, "n_classes must be >= 2");
  require((config.channels == ClipChannels::kSubtract) == config.extractor.subtract.has_value(),
          "channels subtract and the extractor's subtraction constants go together");
  extractor = register_module("extractor", nn::MultiResNet(config.extractor));
  const int64_t E = config.embed_size();
  head_dict = register_module("head_dict", torch::nn::ModuleDict());
  head_dict->update({{"main", make_margin_head(config_.head, config.n_classes, E, config.head.trainable)}});
  if (config.technique != DisModelConfig::Technique::kNone) {
    require(config.subspace_embed_size > 0 && E % config.subspace_embed_size == 0,
            "the embedding size " + std::to_string(E) + " is not a multiple of subspace_embed_size " +
                std::to_string(config.subspace_embed_size));
  }
  const int64_t n_sub = E / config.subspace_embed_size;
  if (config.technique == DisModelConfig::Technique::kFeatEx) {
    // Same loss class as the main head over (n+1)·C classes, always trainable (§6.3).
    featex_head_dict = register_module("featex_head_dict", torch::nn::ModuleDict());
    featex_head_dict->update({{"main", make_margin_head(config_.head, config.n_classes * (n_sub + 1), E, true)}});
  } else if (config.technique == DisModelConfig::Technique::kSubspace) {
    subspace_head_dict = register_module("subspace_head_dict", torch::nn::ModuleDict());
    torch::nn::ModuleList slices;
    for (int64_t i = 0; i < n_sub; ++i) slices->push_back(make_margin_head(config_.head, config.n_classes, config.subspace_embed_size, true));
    subspace_head_dict->update({{"main", slices.ptr()}});
  }
}

std::shared_ptr<losses::MarginHead> make_margin_head(const HeadConfig& h, int64_t n_classes, int64_t embed_dim, bool trainable) {
  if (h.type == "scadacos") {
    losses::SCAdaCosOptions o;
    o.n_classes = n_classes, o.embed_dim = embed_dim, o.n_subclusters = h.n_subclusters;
    o.trainable = trainable, o.dynamic = h.dynamic;
    return std::make_shared<losses::SCAdaCos>(o);
  }
  if (h.type == "adacos") {
    losses::AdaCosOptions o;
    o.n_classes = n_classes, o.embed_dim = embed_dim, o.trainable = trainable, o.dynamic = h.dynamic;
    return std::make_shared<losses::AdaCos>(o);
  }
  if (h.type == "arcface") {
    losses::ArcFaceOptions o;
    o.n_classes = n_classes, o.embed_dim = embed_dim, o.m = h.margin, o.s = h.scale, o.trainable = trainable;
    return std::make_shared<losses::ArcFace>(o);
  }
  if (h.type == "adaproj") {
    losses::AdaProjOptions o;
    o.n_classes = n_classes, o.embed_dim = embed_dim, o.subspace_dim = h.subspace_dim;
    o.trainable = trainable, o.dynamic = h.dynamic;
    return std::make_shared<losses::AdaProj>(o);
  }
  throw std::invalid_argument("unknown loss head \"" + h.type + "\" (scadacos, adacos, arcface, adaproj)");
}

torch::Tensor DisModelImpl::extract(const torch::Tensor& wave) {
  if (config_.channels != ClipChannels::kBoth) return extractor->forward(wave);
  // One batch of 2B rows: in training mode BatchNorm normalises over both channels' clips.
  return embed_each_channel(wave, [&](const torch::Tensor& w) { return extractor->forward(w); });
}

losses::MarginHead& DisModelImpl::head(torch::nn::ModuleDict& dict, const std::string& key) {
  return *std::dynamic_pointer_cast<losses::MarginHead>(dict[key]);
}

LossTerms DisModelImpl::training_loss(const torch::Tensor& wave, const torch::Tensor& onehot, at::Generator gen) {
  torch::Tensor w = wave, y = onehot;
  if (config_.mixup_prob > 0) {
    auto mixed = mixup_.forward({{"wave", wave}, {"onehot_main", onehot}}, gen, is_training());
    w = mixed.at("wave"), y = mixed.at("onehot_main");
  }
  // Mixup mixes a (B, 2, L) batch per clip: both channels with the clip's λ and partner.
  const torch::Tensor e = extract(w);
  const torch::Tensor main_main = head(head_dict, "main").forward(e, y);
  LossTerms terms;
  switch (config_.technique) {
    case DisModelConfig::Technique::kNone:
      terms.emplace_back("dis_main", main_main);
      terms.emplace_back("main", main_main);
      break;
    case DisModelConfig::Technique::kFeatEx: {
      auto fx = featex_.forward(e, {{"onehot_main", y}}, gen, is_training());
      const torch::Tensor aux = head(featex_head_dict, "main").forward(fx.embed, fx.labels.at("onehot_main"));
      terms.emplace_back("main_main", main_main);
      terms.emplace_back("main_featex", aux);
      // The reference doubles the per-label sum (§7.4); reproduced so logs and names compare.
      terms.emplace_back("main", 2.0 * (main_main + config_.aux_weight * aux));
      break;
    }
    case DisModelConfig::Technique::kSubspace: {
      auto slices = subspace_head_dict["main"]->as<torch::nn::ModuleList>();
      torch::Tensor sum = main_main;
      terms.emplace_back("main_main", main_main);
      const int64_t d = config_.subspace_embed_size;
      for (size_t i = 0; i < slices->size(); ++i) {
        auto& h = *std::dynamic_pointer_cast<losses::MarginHead>(slices->ptr(i));
        const torch::Tensor t = h.forward(e.slice(1, static_cast<int64_t>(i) * d, static_cast<int64_t>(i + 1) * d), y);
        terms.emplace_back("main_subspace_" + std::to_string(i), t);
        sum = sum + config_.aux_weight * t;
      }
      terms.emplace_back("main", 2.0 * sum);
      break;
    }
  }
  return terms;
}

ParamCounts count_parameters(const torch::nn::Module& m) {
  ParamCounts c;
  for (const auto& p : m.parameters()) {
    (p.requires_grad() ? c.trainable : c.frozen) += p.numel();
    c.bytes += static_cast<int64_t>(p.nbytes());
  }
  for (const auto& b : m.buffers()) {
    c.buffers += b.numel();
    c.bytes += static_cast<int64_t>(b.nbytes());
  }
  return c;
}

}  // namespace asd::train
