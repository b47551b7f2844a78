// ArcFace (spec §5.2): the angular margin m is added to every column, not only the target.
#include "losses/head_common.h"
#include "losses/margin_heads.h"

namespace asd::losses {

ArcFace::ArcFace(const ArcFaceOptions& opts)
    : MarginHead(opts.n_classes, opts.embed_dim, opts.reduction), opts_(opts) {
  W = register_parameter("W", detail::xavier_centres({opts.embed_dim, opts.n_classes}),
                         opts.trainable);
}

torch::Tensor ArcFace::calc_logits(const torch::Tensor& embed) {
  const auto cos = torch::matmul(detail::l2_normalize(embed, 1), detail::l2_normalize(W, 0));
  return opts_.s * torch::cos(detail::angles(cos, opts_.eps) + opts_.m);
}

torch::Tensor ArcFace::forward(const torch::Tensor& embed, const torch::Tensor& y) {
  check_inputs("ArcFace", embed, &y);
  return reduce(detail::soft_cross_entropy(torch::log_softmax(calc_logits(embed), 1), y));
}

}  // namespace asd::losses
