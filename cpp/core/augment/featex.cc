#include "augment/featex.h"

#include <regex>
#include <stdexcept>

namespace asd::augment {

FeatExDraw draw_featex(int64_t batch, int64_t n, double prob, bool training, at::Generator gen) {
  if (batch < 0) throw std::invalid_argument("featex: batch size must be >= 0");
  if (n < 1) throw std::invalid_argument("featex: need at least one sub-embedding");
  if (!(prob >= 0.0 && prob <= 1.0)) throw std::invalid_argument("featex: prob must be in [0, 1]");
  FeatExDraw d;
  d.exchanged = torch::rand({batch}, gen, torch::TensorOptions().dtype(torch::kFloat64)) < prob;
  if (!training) d.exchanged = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kBool));
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  d.perms.push_back(torch::arange(batch, i64));
  for (int64_t i = 1; i < n; ++i) d.perms.push_back(torch::randperm(batch, gen, i64));
  return d;
}

torch::Tensor exchange_embedding(const torch::Tensor& embed, const FeatExDraw& draw) {
  const int64_t n = static_cast<int64_t>(draw.perms.size());
  if (embed.dim() != 2) throw std::invalid_argument("featex: embedding must be (B, E)");
  if (n < 1 || embed.size(1) % n != 0)
    throw std::invalid_argument("featex: embedding size not divisible by the sub-embedding count");
  if (embed.size(0) != draw.exchanged.size(0))
    throw std::invalid_argument("featex: batch size mismatch");
  const int64_t sub = embed.size(1) / n;
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < n; ++i)
    parts.push_back(
        embed.slice(1, i * sub, (i + 1) * sub).index_select(0, draw.perms[i].to(embed.device())));
  const auto swapped = torch::cat(parts, 1);
  return torch::where(draw.exchanged.to(embed.device()).view({-1, 1}), swapped, embed);
}

torch::Tensor extend_labels(const torch::Tensor& labels, const FeatExDraw& draw) {
  if (!labels.defined() || !labels.is_floating_point() || labels.dim() != 2)
    throw std::invalid_argument("featex: labels must be floating (B, C)");
  if (labels.size(0) != draw.exchanged.size(0))
    throw std::invalid_argument("featex: batch size mismatch");
  const int64_t n = static_cast<int64_t>(draw.perms.size());
  std::vector<torch::Tensor> kept{labels}, swapped{torch::zeros_like(labels)};
  for (int64_t i = 0; i < n; ++i) {
    kept.push_back(torch::zeros_like(labels));
    swapped.push_back(labels.index_select(0, draw.perms[i].to(labels.device())) /
                      static_cast<double>(n));
  }
  return torch::where(draw.exchanged.to(labels.device()).view({-1, 1}), torch::cat(swapped, 1),
                      torch::cat(kept, 1));
}

FeatEx::FeatEx(double prob, int64_t subspace_embed_size)
    : prob_(prob), subspace_(subspace_embed_size) {
  if (!(prob >= 0.0 && prob <= 1.0)) throw std::invalid_argument("featex: prob must be in [0, 1]");
  if (subspace_embed_size < 1) throw std::invalid_argument("featex: subspace_embed_size must be >= 1");
}

FeatExOutput FeatEx::forward(const torch::Tensor& embed,
                             const std::map<std::string, torch::Tensor>& labels,
                             at::Generator gen, bool training) const {
  if (!embed.defined() || embed.dim() != 2)
    throw std::invalid_argument("featex: embedding must be (B, E)");
  if (embed.size(1) % subspace_ != 0 || embed.size(1) == 0)
    throw std::invalid_argument("featex: embedding size not divisible by subspace_embed_size");
  FeatExOutput out;
  out.draw = draw_featex(embed.size(0), embed.size(1) / subspace_, prob_, training, gen);
  out.embed = exchange_embedding(embed, out.draw);
  static const std::regex onehot("onehot_.*");
  for (const auto& [key, y] : labels)
    if (std::regex_match(key, onehot)) out.labels[key] = extend_labels(y, out.draw);
  return out;
}

}  // namespace asd::augment
