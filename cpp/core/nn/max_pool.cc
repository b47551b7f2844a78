#include "nn/max_pool.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

namespace asd::nn {

namespace {
// Takes v when it is larger or NaN, as ATen's CPU max pooling does (branchy: planes with a NaN).
inline float max_nan(float m, float v) { return (v > m || std::isnan(v)) ? v : m; }
// Branch-free (compiles to maxss/vmaxps); for NaN-free planes only.
inline float max_plain(float m, float v) { return v > m ? v : m; }

// Output size of 3×3 / stride 2 / padding `pad` in floor mode; < 1 when the input is too small
// (the integer division must not truncate a negative numerator towards zero).
int64_t pooled_size(int64_t n, int64_t pad) {
  const int64_t span = n + 2 * pad - 3;
  return span < 0 ? 0 : span / 2 + 1;
}

// Whether the direct kernels handle x (ATen covers the rest, and raises its own errors).
bool direct_ok(const torch::Tensor& x, int64_t pad) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() == 4 && x.is_contiguous() &&
         (pad == 0 || pad == 1) && x.numel() > 0 && pooled_size(x.size(2), pad) >= 1 &&
         pooled_size(x.size(3), pad) >= 1;
}

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

bool plane_has_nan(const float* plane, int64_t n) {
  int nan = 0;  // a cheap vectorised scan; the branchy NaN-aware path only where needed
  for (int64_t i = 0; i < n; ++i) nan |= plane[i] != plane[i];
  return nan != 0;
}

torch::Tensor max_pool_3x3_s2(const torch::Tensor& x, int64_t pad) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = pooled_size(H, pad), Wo = pooled_size(W, pad);
  torch::Tensor out = torch::empty({x.size(0), x.size(1), Ho, Wo}, x.options());
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> col(W);  // max over the window's rows, per input column
    for (int64_t p = p0; p < p1; ++p) {
      const float* plane = in + p * H * W;
      if (plane_has_nan(plane, H * W)) {
        pool_plane<max_nan>(plane, o + p * Ho * Wo, H, W, Ho, Wo, pad, col);
      } else {
        pool_plane<max_plain>(plane, o + p * Ho * Wo, H, W, Ho, Wo, pad, col);
      }
    }
  });
  return out;
}

// --- training path: values plus the argmax of each window ---
//
// The argmax is stored as one byte per output, 3·r + c with (r, c) the offset inside the window
// whose top-left corner is (2·oh − pad, 2·ow − pad): an eighth of ATen's int64 indices to write
// and read back. The element chosen is the one ATen's CPU kernel picks — it scans the window in
// row-major order and takes an element when it is larger than the running max or NaN, starting
// from −inf at the first element inside the input — i.e. the first maximum in row-major order,
// or the last NaN. Gradients then land on the same elements and are summed in the same order
// (outputs in row-major order), so they are bit-identical to max_pool2d's backward.

// Row offset of the −inf columns that stand for the padding: larger than any real one (0..2),
// so a padding column never wins a tie.
constexpr int32_t kPadRow = 3;

// NaN-free plane. Rows first: per input column, the max over the window's rows and the first row
// that holds it (vectorisable selects); then per output, the max over three columns, ties going
// to the smaller row, then (scan order) the smaller column — the first maximum in row-major order.
// `cm`/`cr` have W + 2 entries: the columns −1 and W are the padding sentinels.
void argmax_plane(const float* plane, float* op, uint8_t* code, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                  int64_t pad, float* cm, int32_t* cr) {
  const float ninf = -std::numeric_limits<float>::infinity();
  cm[0] = cm[W + 1] = ninf;
  cr[0] = cr[W + 1] = kPadRow;
  float* cmw = cm + 1;
  int32_t* crw = cr + 1;
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const int64_t base = 2 * oh - pad;
    const int64_t h0 = std::max<int64_t>(0, base), h1 = std::min<int64_t>(H, base + 3);
    const float* first = plane + h0 * W;
    const int32_t r0 = static_cast<int32_t>(h0 - base);
    for (int64_t w = 0; w < W; ++w) {
      cmw[w] = first[w];
      crw[w] = r0;
    }
    for (int64_t h = h0 + 1; h < h1; ++h) {
      const float* row = plane + h * W;
      const int32_t r = static_cast<int32_t>(h - base);
      for (int64_t w = 0; w < W; ++w) {
        const bool gt = row[w] > cmw[w];
        cmw[w] = gt ? row[w] : cmw[w];
        crw[w] = gt ? r : crw[w];
      }
    }
    float* orow = op + oh * Wo;
    uint8_t* crow = code + oh * Wo;
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int64_t j = 2 * ow + 1 - pad;  // the window's first column, in cm's indexing
      float m = cm[j];
      int32_t r = cr[j], c = 0;
      for (int32_t k = 1; k < 3; ++k) {
        const float v = cm[j + k];
        const int32_t rv = cr[j + k];
        // Non-short-circuit, so it compiles to selects: ties are frequent (post-ReLU zeros) and a
        // branch here mispredicts.
        const bool take = (v > m) | ((v == m) & (rv < r));
        m = take ? v : m;
        r = take ? rv : r;
        c = take ? k : c;
      }
      orow[ow] = m;
      crow[ow] = static_cast<uint8_t>(3 * r + c);
    }
  }
}

// Planes with a NaN: ATen's scan, window by window.
void argmax_plane_nan(const float* plane, float* op, uint8_t* code, int64_t H, int64_t W, int64_t Ho,
                      int64_t Wo, int64_t pad) {
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const int64_t bh = 2 * oh - pad;
    const int64_t h0 = std::max<int64_t>(0, bh), h1 = std::min<int64_t>(H, bh + 3);
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int64_t bw = 2 * ow - pad;
      const int64_t w0 = std::max<int64_t>(0, bw), w1 = std::min<int64_t>(W, bw + 3);
      float m = -std::numeric_limits<float>::infinity();
      int64_t mh = h0, mw = w0;
      for (int64_t h = h0; h < h1; ++h) {
        for (int64_t w = w0; w < w1; ++w) {
          const float v = plane[h * W + w];
          if (v > m || std::isnan(v)) {
            m = v;
            mh = h;
            mw = w;
          }
        }
      }
      op[oh * Wo + ow] = m;
      code[oh * Wo + ow] = static_cast<uint8_t>(3 * (mh - bh) + (mw - bw));
    }
  }
}

std::tuple<torch::Tensor, torch::Tensor> max_pool_3x3_s2_argmax(const torch::Tensor& x, int64_t pad) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = pooled_size(H, pad), Wo = pooled_size(W, pad);
  torch::Tensor out = torch::empty({x.size(0), x.size(1), Ho, Wo}, x.options());
  torch::Tensor code = torch::empty({x.size(0), x.size(1), Ho, Wo}, x.options().dtype(torch::kUInt8));
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  uint8_t* k = code.data_ptr<uint8_t>();
  at::parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> cm(W + 2);
    std::vector<int32_t> cr(W + 2);
    for (int64_t p = p0; p < p1; ++p) {
      const float* plane = in + p * H * W;
      if (plane_has_nan(plane, H * W)) {
        argmax_plane_nan(plane, o + p * Ho * Wo, k + p * Ho * Wo, H, W, Ho, Wo, pad);
      } else {
        argmax_plane(plane, o + p * Ho * Wo, k + p * Ho * Wo, H, W, Ho, Wo, pad, cm.data(), cr.data());
      }
    }
  });
  return {out, code};
}

// Input gradient: each plane zeroed, then every output's gradient added at its argmax, outputs in
// row-major order (ATen's order, so overlapping windows sum identically).
torch::Tensor max_pool_3x3_s2_backward(const torch::Tensor& grad, const torch::Tensor& code, int64_t pad,
                                       int64_t H, int64_t W) {
  const int64_t planes = code.size(0) * code.size(1), Ho = code.size(2), Wo = code.size(3);
  torch::Tensor gi = torch::empty({code.size(0), code.size(1), H, W}, grad.options());
  const float* g = grad.data_ptr<float>();
  const uint8_t* k = code.data_ptr<uint8_t>();
  float* o = gi.data_ptr<float>();
  int64_t delta[9];  // code → offset from the window's top-left corner
  for (int i = 0; i < 9; ++i) delta[i] = (i / 3) * W + i % 3;
  at::parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* plane = o + p * H * W;
      std::fill(plane, plane + H * W, 0.0f);
      const float* gp = g + p * Ho * Wo;
      const uint8_t* kp = k + p * Ho * Wo;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        // The window's top-left corner may lie in the padding; corner + delta never does.
        const int64_t corner = (2 * oh - pad) * W - pad;
        for (int64_t ow = 0; ow < Wo; ++ow) plane[corner + 2 * ow + delta[kp[oh * Wo + ow]]] += gp[oh * Wo + ow];
      }
    }
  });
  return gi;
}

// The codes as ATen's flat per-plane int64 indices (for the differentiable backward).
torch::Tensor flat_indices(const torch::Tensor& code, int64_t pad, int64_t W) {
  const int64_t Ho = code.size(2), Wo = code.size(3);
  torch::Tensor idx = torch::empty(code.sizes(), code.options().dtype(torch::kInt64));
  const uint8_t* k = code.data_ptr<uint8_t>();
  int64_t* o = idx.data_ptr<int64_t>();
  const int64_t n = code.numel();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t oh = (i / Wo) % Ho, ow = i % Wo;
    o[i] = (2 * oh - pad + k[i] / 3) * W + 2 * ow - pad + k[i] % 3;
  }
  return idx;
}

class MaxPool3x3Function : public torch::autograd::Function<MaxPool3x3Function> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t pad) {
    auto [out, code] = max_pool_3x3_s2_argmax(x, pad);
    ctx->save_for_backward({code});
    ctx->saved_data["pad"] = pad;
    ctx->saved_data["H"] = x.size(2);
    ctx->saved_data["W"] = x.size(3);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor code = ctx->get_saved_variables()[0];
    const int64_t pad = ctx->saved_data["pad"].toInt(), H = ctx->saved_data["H"].toInt(),
                  W = ctx->saved_data["W"].toInt();
    const torch::Tensor grad = grads[0].to(torch::kFloat32).contiguous();
    if (torch::GradMode::is_enabled()) {
      // create_graph: ATen's own backward on the same indices, which is differentiable (double
      // backward gathers the upstream gradient). It reads only the shape of `self`.
      const auto self = torch::empty({code.size(0), code.size(1), H, W}, grad.options());
      return {at::max_pool2d_with_indices_backward(grad, self, {3, 3}, {2, 2}, {pad, pad}, {1, 1}, false,
                                                   flat_indices(code, pad, W)),
              torch::Tensor()};
    }
    return {max_pool_3x3_s2_backward(grad, code, pad, H, W), torch::Tensor()};
  }
};
}  // namespace

torch::Tensor MaxPool3x3Impl::forward(const torch::Tensor& x) {
  if (direct_ok(x, padding)) {
    if (!(torch::GradMode::is_enabled() && x.requires_grad())) return max_pool_3x3_s2(x, padding);
    return MaxPool3x3Function::apply(x, padding);
  }
  return torch::max_pool2d(x, {3, 3}, {2, 2}, {padding, padding});
}

}  // namespace asd::nn
