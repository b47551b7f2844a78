// Sub-cluster AdaCos (spec §5.4), the loss of most recipes: C·K centres, class probability =
// sum of its K sub-cluster softmax entries, loss −Σ_c y_c ln P_c.
#include "losses/head_common.h"
#include "losses/margin_heads.h"

namespace asd::losses {

SCAdaCos::SCAdaCos(const SCAdaCosOptions& opts)
    : MarginHead(opts.n_classes, opts.embed_dim, opts.reduction), opts_(opts) {
  detail::require(opts.n_subclusters >= 1, "SCAdaCos: n_subclusters must be >= 1");
  const int64_t cols = opts.n_classes * opts.n_subclusters;
  detail::require(cols >= 2, "SCAdaCos: n_classes * n_subclusters must be >= 2");
  W = register_parameter("W", detail::xavier_centres({opts.embed_dim, cols}), opts.trainable);
  s = register_parameter("s", torch::tensor(static_cast<float>(detail::adacos_scale(cols))),
                         /*requires_grad=*/false);
}

torch::Tensor SCAdaCos::cosine(const torch::Tensor& embed) const {
  return torch::matmul(detail::l2_normalize(embed, 1), detail::l2_normalize(W, 0));
}

torch::Tensor SCAdaCos::log_class_probs(const torch::Tensor& cos) const {
  // Columns c·K … c·K+K−1 belong to class c, so a (B, C, K) view groups them. The log of the
  // summed probability is safe in float32 at these scales (spec §5.4).
  const auto p = torch::softmax(s * cos, 1);
  return torch::log(p.view({cos.size(0), opts_.n_classes, opts_.n_subclusters}).sum(2));
}

torch::Tensor SCAdaCos::calc_logits(const torch::Tensor& embed) {
  return log_class_probs(cosine(embed));
}

torch::Tensor SCAdaCos::forward(const torch::Tensor& embed, const torch::Tensor& y) {
  check_inputs("SCAdaCos", embed, &y);
  const auto cos = cosine(embed);
  if (opts_.dynamic && is_training()) {
    torch::NoGradGuard no_grad;
    const auto c = cos.detach();
    const auto sc = s * c;
    const auto M = sc.max();
    const auto B_avg = torch::exp(sc - M).sum(1).mean();
    // The reference tiles y K times (column j ↔ class j mod C), unlike the contiguous grouping
    // of the loss; reproduced as specified.
    const auto y_tiled = y.to(c.dtype()).repeat({1, opts_.n_subclusters});
    const auto theta_rows = (y_tiled * detail::angles(c, opts_.eps)).sum(1);
    s.copy_(detail::dynamic_scale(M, B_avg, theta_rows, opts_.eps));
  }
  return reduce(detail::soft_cross_entropy(log_class_probs(cos), y));
}

}  // namespace asd::losses
