#include "augment/mixup.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <regex>
#include <stdexcept>
#include <utility>
#include <vector>

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

namespace {

// The CPU float32 case in one pass over the batch, where the composite below makes five (the
// partner gather, two products, their sum, the select): about 29 ms of a dual-branch train
// step's 64 × 18 s waveforms in the op profile. The same float operations in the same order
// (λ·t, (1 − λ)·partner, their sum, each rounded to float), so the result is bit-identical to
// the composite's (contraction is off here for builds that have FMA).
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
torch::Tensor mix_rows_cpu(const torch::Tensor& t, const MixupDraw& draw) {
  RECORD_FUNCTION("asd::mixup", std::vector<c10::IValue>());
  const int64_t B = t.size(0), n = B ? t.numel() / B : 0;
  torch::Tensor out = torch::empty_like(t);
  const torch::Tensor lam = draw.lambda.to(torch::kFloat32).contiguous();
  const torch::Tensor perm = draw.perm.to(torch::kInt64).contiguous();
  const torch::Tensor mixed = draw.mixed.to(torch::kBool).contiguous();
  const float* src = t.data_ptr<float>();
  const float* lp = lam.data_ptr<float>();
  const int64_t* pp = perm.data_ptr<int64_t>();
  const bool* mp = mixed.data_ptr<bool>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, B * n, 1 << 15, [&](int64_t i0, int64_t i1) {
    while (i0 < i1) {
      const int64_t b = i0 / n, j0 = i0 - b * n, j1 = std::min(n, j0 + (i1 - i0));
      const float* x = src + b * n;
      float* o = dst + b * n;
      if (mp[b]) {
        const float l = lp[b], ol = 1.0f - l;
        const float* y = src + pp[b] * n;
        for (int64_t j = j0; j < j1; ++j) {
          const float a = l * x[j], c = ol * y[j];
          o[j] = a + c;
        }
      } else {
        std::copy(x + j0, x + j1, o + j0);
      }
      i0 += j1 - j0;
    }
  });
  return out;
}
#pragma GCC pop_options

}  // namespace

torch::Tensor apply_mixup(const torch::Tensor& t, const MixupDraw& draw) {
  if (!t.defined() || !t.is_floating_point())
    throw std::invalid_argument("mixup: target tensors must be floating point");
  if (t.dim() < 1 || t.size(0) != draw.lambda.size(0))
    throw std::invalid_argument("mixup: batch size mismatch");
  if (t.is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous() && !t.requires_grad()) {
    return mix_rows_cpu(t, draw);
  }
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
