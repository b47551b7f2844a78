// AdaProj (spec §5.5): each class is the span of D unit basis vectors (not orthonormalised);
// cos = cosine between the embedding and its projection coefficients' recombination.
#include "losses/head_common.h"
#include "losses/margin_heads.h"

namespace asd::losses {

AdaProj::AdaProj(const AdaProjOptions& opts)
    : MarginHead(opts.n_classes, opts.embed_dim, opts.reduction), opts_(opts) {
  detail::require(opts.n_classes >= 2, "AdaProj: n_classes must be >= 2 (s = sqrt(2)*ln(C-1))");
  detail::require(opts.subspace_dim >= 1, "AdaProj: subspace_dim must be >= 1");
  W = register_parameter(
      "W", detail::xavier_centres({opts.n_classes, opts.subspace_dim, opts.embed_dim}),
      opts.trainable);
  s = register_parameter(
      "s", torch::tensor(static_cast<float>(detail::adacos_scale(opts.n_classes))), false);
}

torch::Tensor AdaProj::cosine(const torch::Tensor& embed) const {
  const auto x = detail::l2_normalize(embed, 1);                 // (B, E)
  const auto w = detail::l2_normalize(W, 2);                     // (C, D, E)
  const auto a = torch::einsum("be,cde->bcd", {x, w});           // projection coefficients
  const auto v = torch::einsum("bcd,cde->bce", {a, w});          // (B, C, E)
  return (x.unsqueeze(1) * detail::l2_normalize(v, 2)).sum(2);   // (B, C)
}

torch::Tensor AdaProj::calc_logits(const torch::Tensor& embed) {
  return torch::log_softmax(s * cosine(embed), 1);
}

torch::Tensor AdaProj::forward(const torch::Tensor& embed, const torch::Tensor& y) {
  check_inputs("AdaProj", embed, &y);
  const auto cos = cosine(embed);
  if (opts_.dynamic && is_training()) {
    torch::NoGradGuard no_grad;
    const auto c = cos.detach();
    const auto yc = y.to(c.dtype());
    const auto sc = s * c;
    const auto M = sc.max();
    // As SCAdaCos (no tiling), but target entries (y == 1) count as exp(0 − M).
    const auto terms = torch::where(yc < 1, torch::exp(sc - M), torch::exp(-M).expand_as(sc));
    const auto theta_rows = (yc * detail::angles(c, opts_.eps)).sum(1);
    s.copy_(detail::dynamic_scale(M, terms.sum(1).mean(), theta_rows, opts_.eps));
  }
  return reduce(detail::soft_cross_entropy(torch::log_softmax(s * cos, 1), y));
}

}  // namespace asd::losses
