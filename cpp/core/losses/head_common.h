// Internal helpers shared by the margin heads (margin_heads.h); not part of the public API.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace asd::losses::detail {

// v / max(‖v‖₂, 1e-12) along `dim` (the reference's F.normalize).
torch::Tensor l2_normalize(const torch::Tensor& v, int64_t dim);

// Xavier-uniform(gain 1) centres of `shape`, registered by the caller; torch's fan rule
// matches the spec for both the 2-D (E × M) and AdaProj's 3-D (C, D, E) layout.
torch::Tensor xavier_centres(torch::IntArrayRef shape);

// √2 · ln(n − 1): the AdaCos fixed-point scale for n output columns.
double adacos_scale(int64_t n);

// θ = acos(clamp(cos, −1+eps, 1−eps)), away from acos's infinite slope at ±1.
torch::Tensor angles(const torch::Tensor& cos, double eps);

// Per-row soft-target cross-entropy −Σ_j y_j · logp_j, (B).
torch::Tensor soft_cross_entropy(const torch::Tensor& logp, const torch::Tensor& y);

// Shared tail of the SCAdaCos / AdaProj dynamic scale: (M + ln B_avg) / (cos(min(π/4, θ_med))
// + eps), with θ_med the lower median of the per-row target angles `theta_rows` (B).
torch::Tensor dynamic_scale(const torch::Tensor& M, const torch::Tensor& B_avg,
                            const torch::Tensor& theta_rows, double eps);

// Throws std::invalid_argument(what) unless cond.
void require(bool cond, const std::string& what);

}  // namespace asd::losses::detail
