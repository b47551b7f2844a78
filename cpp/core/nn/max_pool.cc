#include "nn/max_pool.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace asd::nn {

namespace {
// Takes v when it is larger or NaN, as ATen's CPU max pooling does (branchy: planes with a NaN).
inline float max_nan(float m, float v) { return (v > m || std::isnan(v)) ? v : m; }
// Branch-free (compiles to maxss/vmaxps); for NaN-free planes only.
inline float max_plain(float m, float v) { return v > m ? v : m; }

// One (H, W) plane; Take is max_nan or max_plain. Rows first (vectorisable), then columns.
template <float (*Take)(float, float)>
void pool_plane(const float* plane, float* op, int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t pad,
                std::vector<float>& col) {
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const int64_t h0 = std::max<int64_t>(0, 2 * oh - pad), h1 = std::min<int64_t>(H, 2 * oh - pad + 3);
    std::copy(plane + h0 * W, plane + h0 * W + W, col.begin());
    for (int64_t h = h0 + 1; h < h1; ++h) {
      const float* row = plane + h * W;
      for (int64_t w = 0; w < W; ++w) col[w] = Take(col[w], row[w]);
    }
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int64_t w0 = std::max<int64_t>(0, 2 * ow - pad), w1 = std::min<int64_t>(W, 2 * ow - pad + 3);
      float m = col[w0];
      for (int64_t w = w0 + 1; w < w1; ++w) m = Take(m, col[w]);
      op[oh * Wo + ow] = m;
    }
  }
}

torch::Tensor max_pool_3x3_s2(const torch::Tensor& x, int64_t pad) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = (H + 2 * pad - 3) / 2 + 1, Wo = (W + 2 * pad - 3) / 2 + 1;
  torch::Tensor out = torch::empty({x.size(0), x.size(1), Ho, Wo}, x.options());
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> col(W);  // max over the window's rows, per input column
    for (int64_t p = p0; p < p1; ++p) {
      const float* plane = in + p * H * W;
      int nan = 0;  // a cheap vectorised scan; the branchy NaN-aware path only where needed
      for (int64_t i = 0; i < H * W; ++i) nan |= plane[i] != plane[i];
      if (nan) {
        pool_plane<max_nan>(plane, o + p * Ho * Wo, H, W, Ho, Wo, pad, col);
      } else {
        pool_plane<max_plain>(plane, o + p * Ho * Wo, H, W, Ho, Wo, pad, col);
      }
    }
  });
  return out;
}
}  // namespace

torch::Tensor MaxPool3x3Impl::forward(const torch::Tensor& x) {
  const bool direct = !(torch::GradMode::is_enabled() && x.requires_grad()) && x.device().is_cpu() &&
                      x.scalar_type() == torch::kFloat32 && x.dim() == 4 && x.is_contiguous();
  if (direct) return max_pool_3x3_s2(x, padding);
  return torch::max_pool2d(x, {3, 3}, {2, 2}, {padding, padding});
}

}  // namespace asd::nn
