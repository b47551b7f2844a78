#include "augment/mixup.h"

#include <regex>
#include <stdexcept>
#include <utility>

namespace asd::augment {

MixupDraw draw_mixup(int64_t batch, double prob, at::Generator gen) {
  if (batch < 0) throw std::invalid_argument("mixup: batch size must be >= 0");
  if (!(prob >= 0.0 && prob <= 1.0)) throw std::invalid_argument("mixup: prob must be in [0, 1]");
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  MixupDraw d;
  d.lambda = torch::rand({batch}, gen, f64);
  d.perm = torch::randperm(batch, gen, torch::TensorOptions().dtype(torch::kInt64));
  d.mixed = torch::rand({batch}, gen, f64) < prob;
  return d;
}

torch::Tensor apply_mixup(const torch::Tensor& t, const MixupDraw& draw) {
  if (!t.defined() || !t.is_floating_point())
    throw std::invalid_argument("mixup: target tensors must be floating point");
  if (t.dim() < 1 || t.size(0) != draw.lambda.size(0))
    throw std::invalid_argument("mixup: batch size mismatch");
  std::vector<int64_t> shape(static_cast<size_t>(t.dim()), 1);
  shape[0] = t.size(0);
  const auto lam = draw.lambda.to(t.device(), t.scalar_type()).view(shape);
  const auto mixed = draw.mixed.to(t.device()).view(shape);
  const auto partner = t.index_select(0, draw.perm.to(t.device()));
  const auto mixture = lam * t + (1 - lam) * partner;
  return torch::where(mixed, mixture, t);
}

Mixup::Mixup(double prob, std::vector<std::string> targets)
    : prob_(prob), targets_(std::move(targets)) {
  if (!(prob >= 0.0 && prob <= 1.0)) throw std::invalid_argument("mixup: prob must be in [0, 1]");
}

bool Mixup::is_target(const std::string& key) const {
  for (const auto& pattern : targets_)
    if (std::regex_match(key, std::regex(pattern))) return true;
  return false;
}

Batch Mixup::forward(const Batch& batch, at::Generator gen, bool training,
                     MixupDraw* last_draw) const {
  if (!training) return batch;
  int64_t b = -1;
  for (const auto& [key, t] : batch) {
    if (!is_target(key)) continue;
    if (t.dim() < 1) throw std::invalid_argument("mixup: target '" + key + "' has no batch axis");
    if (b >= 0 && t.size(0) != b) throw std::invalid_argument("mixup: batch size mismatch");
    b = t.size(0);
  }
  if (b < 0) return batch;
  const MixupDraw draw = draw_mixup(b, prob_, gen);
  Batch out;
  for (const auto& [key, t] : batch) out[key] = is_target(key) ? apply_mixup(t, draw) : t;
  if (last_draw) *last_draw = draw;
  return out;
}

}  // namespace asd::augment
