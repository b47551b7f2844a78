#include "nn/se_gate.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/runtime.h"

namespace asd::nn {

namespace {

// Float products summed in 16 lanes for a block, blocks summed in double: accurate for the
// spatial sizes here (up to ~10^5 per channel) and the same for any thread count.
constexpr int64_t kLanes = 16, kBlock = 4096;

// Compiled for AVX-512 (the build targets baseline x86-64), used only where the CPU has it; the
// loops are written so that GCC vectorises them without reassociating (lane-wise accumulators).
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
namespace isa_avx512 {

// Σ a[i]·b[i] over n contiguous floats (b null: Σ a[i]).
double dot(const float* __restrict__ a, const float* __restrict__ b, int64_t n) {
  double total = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t i1 = std::min(n, i0 + kBlock);
    float acc[kLanes] = {};
    int64_t i = i0;
    if (b) {
      for (; i + kLanes <= i1; i += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
      }
      for (; i < i1; ++i) total += static_cast<double>(a[i]) * b[i];
    } else {
      for (; i + kLanes <= i1; i += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) acc[l] += a[i + l];
      }
      for (; i < i1; ++i) total += a[i];
    }
    for (int64_t l = 0; l < kLanes; ++l) total += acc[l];
  }
  return total;
}

// Channels-last: out[c] = Σ_p a[p·C + c]·b[p·C + c] over S pixels (b null: Σ_p a[p·C + c]).
void dot_channels(const float* __restrict__ a, const float* __restrict__ b, int64_t S, int64_t C, double* __restrict__ out, float* __restrict__ acc) {
  for (int64_t c = 0; c < C; ++c) out[c] = 0.0;
  for (int64_t p0 = 0; p0 < S; p0 += 256) {
    const int64_t p1 = std::min(S, p0 + 256);
    for (int64_t c = 0; c < C; ++c) acc[c] = 0.0f;
    for (int64_t p = p0; p < p1; ++p) {
      const float* ap = a + p * C;
      if (b) {
        const float* bp = b + p * C;
        for (int64_t c = 0; c < C; ++c) acc[c] += ap[c] * bp[c];
      } else {
        for (int64_t c = 0; c < C; ++c) acc[c] += ap[c];
      }
    }
    for (int64_t c = 0; c < C; ++c) out[c] += acc[c];
  }
}

// out[i] = g[i]·s + k over n floats.
void scale_shift(const float* __restrict__ g, float s, float k, float* __restrict__ out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] * s + k;
}

// Channels-last: out[p·C + c] = g[p·C + c]·s[c] + k[c].
void scale_shift_channels(const float* __restrict__ g, const float* __restrict__ s, const float* __restrict__ k, float* __restrict__ out, int64_t S, int64_t C) {
  for (int64_t p = 0; p < S; ++p) {
    const float* gp = g + p * C;
    float* op = out + p * C;
    for (int64_t c = 0; c < C; ++c) op[c] = gp[c] * s[c] + k[c];
  }
}

}  // namespace isa_avx512
#pragma GCC pop_options

// Where h's memory is: B·C planar rows of S, or B clips of S channels-last pixels.
struct Layout {
  bool channels_last;
  int64_t B, C, S;
};

Layout layout_of(const torch::Tensor& h) {
  const int64_t B = h.size(0), C = h.size(1), S = h.numel() / std::max<int64_t>(1, B * C);
  return {!h.is_contiguous(), B, C, S};
}

at::MemoryFormat format_of(const Layout& l) {
  return l.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

// (B, C) float32: Σ over S of a·b (b undefined: of a), per clip and channel.
torch::Tensor channel_sums(const torch::Tensor& a, const torch::Tensor& b, const Layout& l) {
  std::vector<double> sums(l.B * l.C);
  const float* ap = a.data_ptr<float>();
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  if (l.channels_last) {
    at::parallel_for(0, l.B, 1, [&](int64_t b0, int64_t b1) {
      std::vector<float> acc(l.C);
      for (int64_t n = b0; n < b1; ++n) {
        const int64_t o = n * l.S * l.C;
        isa_avx512::dot_channels(ap + o, bp ? bp + o : nullptr, l.S, l.C, &sums[n * l.C], acc.data());
      }
    });
  } else {
    at::parallel_for(0, l.B * l.C, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) sums[r] = isa_avx512::dot(ap + r * l.S, bp ? bp + r * l.S : nullptr, l.S);
    });
  }
  return torch::tensor(sums, torch::TensorOptions().dtype(torch::kFloat64)).view({l.B, l.C}).to(torch::kFloat32);
}

std::vector<int64_t> gate_shape(const torch::Tensor& h) {
  std::vector<int64_t> shape(h.dim(), 1);
  shape[0] = h.size(0);
  shape[1] = h.size(1);
  return shape;
}

// base + h · gates(h) with a base (kBase) or h · gates(h); LibTorch's custom functions take no
// undefined inputs, so the two are two instantiations.
template <bool kBase>
class SeGateFunction : public torch::autograd::Function<SeGateFunction<kBase>> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& base, const torch::Tensor& h,
                               const torch::Tensor& w1, const torch::Tensor& w2) {
    RECORD_FUNCTION("asd::se_gate", std::vector<c10::IValue>());
    const Layout l = layout_of(h);
    const torch::Tensor m = channel_sums(h, torch::Tensor(), l) / static_cast<double>(l.S);
    const torch::Tensor a = torch::relu(m.mm(w1.t()));
    const torch::Tensor s = torch::sigmoid(a.mm(w2.t()));
    const torch::Tensor gate = s.view(gate_shape(h));
    ctx->save_for_backward({h, m, a, s, w1, w2});
    return kBase ? torch::addcmul(base, h, gate) : h * gate;
  }
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& w1,
                               const torch::Tensor& w2) {
    return forward(ctx, torch::Tensor(), h, w1, w2);
  }

  // With g = dL/dout: dL/ds = Σ_S g·h; through the sigmoid, W2, the ReLU and W1 to dL/dmean;
  // dL/dh = g·s + dL/dmean / S; dL/dbase = g.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    RECORD_FUNCTION("asd::se_gate_backward", std::vector<c10::IValue>());
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &h = saved[0], &m = saved[1], &a = saved[2], &s = saved[3], &w1 = saved[4], &w2 = saved[5];
    const Layout l = layout_of(h);
    const torch::Tensor g = grads[0].to(torch::kFloat32).contiguous(format_of(l));
    const torch::Tensor dz = channel_sums(g, h, l) * s * (1 - s);
    const torch::Tensor dw2 = dz.t().mm(a);
    const torch::Tensor da = dz.mm(w2) * (a > 0);
    const torch::Tensor dw1 = da.t().mm(m);
    const torch::Tensor k = (da.mm(w1) / static_cast<double>(l.S)).contiguous();

    torch::Tensor dh = torch::empty_like(h, format_of(l));
    const float* gp = g.data_ptr<float>();
    const torch::Tensor sc = s.contiguous();
    const float* sp = sc.data_ptr<float>();
    const float* kp = k.data_ptr<float>();
    float* dp = dh.data_ptr<float>();
    if (l.channels_last) {
      at::parallel_for(0, l.B, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t n = b0; n < b1; ++n) {
          const int64_t o = n * l.S * l.C;
          isa_avx512::scale_shift_channels(gp + o, sp + n * l.C, kp + n * l.C, dp + o, l.S, l.C);
        }
      });
    } else {
      at::parallel_for(0, l.B * l.C, 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) isa_avx512::scale_shift(gp + r * l.S, sp[r], kp[r], dp + r * l.S, l.S);
      });
    }
    if (kBase) return {grads[0], dh, dw1, dw2};
    return {dh, dw1, dw2};
  }
};

bool fused_applies(const torch::Tensor& base, const torch::Tensor& h, const torch::Tensor& w1,
                   const torch::Tensor& w2) {
  if (!cpu_has_avx512() || !h.device().is_cpu() || h.scalar_type() != torch::kFloat32 || h.dim() < 3) return false;
  if (w1.scalar_type() != torch::kFloat32 || w2.scalar_type() != torch::kFloat32) return false;
  const bool planar = h.is_contiguous();
  const bool nhwc = h.dim() == 4 && h.is_contiguous(at::MemoryFormat::ChannelsLast);
  if (!planar && !nhwc) return false;
  return !base.defined() || (base.sizes() == h.sizes() && base.scalar_type() == torch::kFloat32 && base.device().is_cpu());
}

}  // namespace

torch::Tensor se_gate_reference(const torch::Tensor& base, const torch::Tensor& h, const torch::Tensor& w1,
                                const torch::Tensor& w2) {
  std::vector<int64_t> spatial;  // every axis after C, whatever the memory layout
  for (int64_t d = 2; d < h.dim(); ++d) spatial.push_back(d);
  const torch::Tensor s = torch::sigmoid(torch::relu(h.mean(spatial).mm(w1.t())).mm(w2.t()));
  const torch::Tensor gate = s.view(gate_shape(h));
  return base.defined() ? torch::addcmul(base, h, gate) : h * gate;
}

torch::Tensor se_gate(const torch::Tensor& base, const torch::Tensor& h, const torch::Tensor& w1,
                      const torch::Tensor& w2) {
  // The fused function pays off in the backward only: inference takes the composite.
  if (torch::GradMode::is_enabled() && h.requires_grad() && fused_applies(base, h, w1, w2)) {
    return base.defined() ? SeGateFunction<true>::apply(base, h, w1, w2) : SeGateFunction<false>::apply(h, w1, w2);
  }
  return se_gate_reference(base, h, w1, w2);
}

}  // namespace asd::nn
