// AdaCos (spec §5.3): z = s·cos; with `dynamic`, s is re-estimated on every training forward
// from the batch's non-target logit mass and median target angle.
#include <cmath>

#include "losses/head_common.h"
#include "losses/margin_heads.h"

namespace asd::losses {

AdaCos::AdaCos(const AdaCosOptions& opts)
    : MarginHead(opts.n_classes, opts.embed_dim, opts.reduction), opts_(opts) {
  detail::require(opts.n_classes >= 2, "AdaCos: n_classes must be >= 2 (s = sqrt(2)*ln(C-1))");
  W = register_parameter("W", detail::xavier_centres({opts.embed_dim, opts.n_classes}),
                         opts.trainable);
  s_ = detail::adacos_scale(opts.n_classes);
}

torch::Tensor AdaCos::cosine(const torch::Tensor& embed) const {
  return torch::matmul(detail::l2_normalize(embed, 1), detail::l2_normalize(W, 0));
}

torch::Tensor AdaCos::calc_logits(const torch::Tensor& embed) { return s_ * cosine(embed); }

torch::Tensor AdaCos::forward(const torch::Tensor& embed, const torch::Tensor& y) {
  check_inputs("AdaCos", embed, &y);
  const auto cos = cosine(embed);
  if (opts_.dynamic && is_training()) {
    torch::NoGradGuard no_grad;
    const auto c = cos.detach();
    const auto yc = y.to(c.dtype());
    // Non-target entries are those with y < 1; the median runs over exact-one targets only.
    const auto B_avg =
        torch::where(yc < 1, torch::exp(s_ * c), torch::zeros_like(c)).sum() / c.size(0);
    const auto target = detail::angles(c, opts_.eps).masked_select(yc == 1);
    detail::require(target.numel() > 0,
                    "AdaCos: the dynamic scale needs at least one exactly one-hot target row");
    const auto theta_med = target.median();
    s_ = (torch::log(B_avg) / torch::cos(torch::clamp_max(theta_med, M_PI / 4))).item<double>();
  }
  return reduce(detail::soft_cross_entropy(torch::log_softmax(s_ * cos, 1), y));
}

}  // namespace asd::losses
