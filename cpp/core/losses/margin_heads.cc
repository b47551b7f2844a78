// The MarginHead base (input checks, reduction, head-based anomaly scores) and the helpers of
// head_common.h.
#include "losses/margin_heads.h"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "losses/head_common.h"

namespace asd::losses {
namespace detail {

torch::Tensor l2_normalize(const torch::Tensor& v, int64_t dim) {
  namespace F = torch::nn::functional;
  return F::normalize(v, F::NormalizeFuncOptions().p(2).dim(dim).eps(1e-12));
}

torch::Tensor xavier_centres(torch::IntArrayRef shape) {
  torch::NoGradGuard no_grad;
  auto w = torch::empty(shape, torch::kFloat32);
  torch::nn::init::xavier_uniform_(w, 1.0);
  return w;
}

double adacos_scale(int64_t n) { return std::sqrt(2.0) * std::log(static_cast<double>(n - 1)); }

torch::Tensor angles(const torch::Tensor& cos, double eps) {
  return torch::acos(torch::clamp(cos, -1.0 + eps, 1.0 - eps));
}

torch::Tensor soft_cross_entropy(const torch::Tensor& logp, const torch::Tensor& y) {
  return -(y.to(logp.dtype()) * logp).sum(1);
}

torch::Tensor dynamic_scale(const torch::Tensor& M, const torch::Tensor& B_avg,
                            const torch::Tensor& theta_rows, double eps) {
  // torch's median of an even count is the lower middle value, as in the reference.
  const auto theta_med = theta_rows.median();
  return (M + torch::log(B_avg)) / (torch::cos(torch::clamp_max(theta_med, M_PI / 4)) + eps);
}

void require(bool cond, const std::string& what) {
  if (!cond) throw std::invalid_argument(what);
}

}  // namespace detail

MarginHead::MarginHead(int64_t n_classes, int64_t embed_dim, Reduction reduction)
    : n_classes_(n_classes), embed_dim_(embed_dim), reduction_(reduction) {
  detail::require(n_classes >= 1, "margin head: n_classes must be >= 1");
  detail::require(embed_dim >= 1, "margin head: embed_dim must be >= 1");
}

void MarginHead::check_inputs(const char* head, const torch::Tensor& embed,
                              const torch::Tensor* y) const {
  std::ostringstream msg;
  if (!embed.defined() || embed.dim() != 2 || embed.size(1) != embed_dim_ ||
      !embed.is_floating_point()) {
    msg << head << ": embed must be a floating (B, " << embed_dim_ << ") tensor, got ";
    if (embed.defined()) msg << embed.sizes(); else msg << "undefined";
    throw std::invalid_argument(msg.str());
  }
  if (y && (!y->defined() || y->dim() != 2 || y->size(0) != embed.size(0) ||
            y->size(1) != n_classes_)) {
    msg << head << ": y must be (" << embed.size(0) << ", " << n_classes_ << ") targets, got ";
    if (y->defined()) msg << y->sizes(); else msg << "undefined";
    throw std::invalid_argument(msg.str());
  }
}

torch::Tensor MarginHead::reduce(const torch::Tensor& per_row) const {
  switch (reduction_) {
    case Reduction::Mean: return per_row.mean();
    case Reduction::Sum: return per_row.sum();
    case Reduction::None: return per_row;
  }
  throw std::invalid_argument("margin head: unknown reduction");
}

torch::Tensor MarginHead::anomaly_score(const torch::Tensor& embed) {
  torch::NoGradGuard no_grad;
  check_inputs("anomaly_score", embed, nullptr);
  return -torch::log_softmax(calc_logits(embed), 1).amax(1);
}

torch::Tensor MarginHead::anomaly_score(const torch::Tensor& embed, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  check_inputs("anomaly_score", embed, &y);
  return detail::soft_cross_entropy(torch::log_softmax(calc_logits(embed), 1), y);
}

}  // namespace asd::losses
