#include "nn/fused_norm.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/runtime.h"

namespace asd::nn {

namespace {

// The kernels work on channels-last float32 with the stem's 16 channels: one pixel is one
// 16-float vector (GCC/Clang vector extensions), one AVX-512 register. The build targets
// baseline x86-64, so they are compiled for AVX-512 in a `#pragma GCC target` region and used
// only where the CPU has it; elsewhere the layers run as they are (compiled for AVX2 or SSE, the
// same code was measured 30× slower than ATen: the compiler splits the 16-float vector
// conditionals into scalar code).
constexpr int64_t kC = 16;
// (Vectors pass by value only between functions of one instruction set: GCC's ABI note is moot.)
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef uint8_t vb __attribute__((vector_size(16)));

struct Shape {
  int64_t H, W, Ho, Wo;
};

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
namespace isa_avx512 {
#include "nn/fused_norm_kernels.inc"
}  // namespace isa_avx512
#pragma GCC pop_options

Shape shape_of(const torch::Tensor& y) {
  const int64_t H = y.size(2), W = y.size(3);
  return {H, W, (H - 3) / 2 + 1, (W - 3) / 2 + 1};
}

// Per-clip partial sums (clips × kC) added in clip order: the same result for any thread count.
void add_partials(const std::vector<double>& part, int64_t clips, double* out) {
  std::fill(out, out + kC, 0.0);
  for (int64_t n = 0; n < clips; ++n) {
    for (int64_t c = 0; c < kC; ++c) out[c] += part[n * kC + c];
  }
}

// Values only (no argmax, no statistics).
torch::Tensor pool_values(const torch::Tensor& y) {
  RECORD_FUNCTION("asd::stem_max_pool", std::vector<c10::IValue>());
  const Shape sh = shape_of(y);
  const int64_t B = y.size(0);
  torch::Tensor m = torch::empty({B, kC, sh.Ho, sh.Wo}, y.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* yp = y.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t n = b0; n < b1; ++n) {
      const int64_t in = n * sh.H * sh.W * kC, out = n * sh.Ho * sh.Wo * kC;
      isa_avx512::pool_clip(yp + in, mp + out, nullptr, sh, nullptr, nullptr, nullptr);
    }
  });
  return m;
}

bool plain_non_affine(const torch::nn::BatchNorm2dImpl& bn) {
  return !bn.options.affine() && bn.options.track_running_stats() && bn.running_mean.defined() &&
         bn.running_var.defined();
}

// Where the kernels apply: an AVX-512 CPU, float32 channels-last with the stem's channel count.
bool kernels_apply(const torch::Tensor& y) {
  return cpu_has_avx512() && y.device().is_cpu() && y.scalar_type() == torch::kFloat32 && y.size(1) == kC &&
         y.size(2) >= 3 && y.size(3) >= 3 && y.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// The factor torch::nn::BatchNorm2d uses for its running averages, counting this batch.
double running_factor(torch::nn::BatchNorm2dImpl& bn) {
  if (bn.num_batches_tracked.defined()) {
    torch::NoGradGuard no_grad;
    bn.num_batches_tracked += 1;
  }
  if (bn.options.momentum()) return *bn.options.momentum();
  return bn.num_batches_tracked.defined() ? 1.0 / bn.num_batches_tracked.item<double>() : 0.0;
}

// running ← (1 − factor) · running + factor · batch, the variance unbiased (BatchNorm2d's rule).
void update_running(torch::Tensor& running_mean, torch::Tensor& running_var, const std::vector<double>& mean,
                    const std::vector<double>& var, int64_t rows, double factor) {
  torch::NoGradGuard no_grad;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const double unbias = rows > 1 ? static_cast<double>(rows) / (rows - 1) : 1.0;
  running_mean.mul_(1.0 - factor).add_(torch::tensor(mean, f64).to(running_mean.dtype()), factor);
  running_var.mul_(1.0 - factor).add_((torch::tensor(var, f64) * unbias).to(running_var.dtype()), factor);
}

class StemFunction : public torch::autograd::Function<StemFunction> {
 public:
  // y: (B, 16, H, W) float32, channels-last contiguous. Updates running_mean/var in place.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y,
                               torch::Tensor running_mean, torch::Tensor running_var, double factor,
                               double eps) {
    RECORD_FUNCTION("asd::stem_bn_relu_pool", std::vector<c10::IValue>());  // a named scope in op profiles
    const Shape sh = shape_of(y);
    const int64_t B = y.size(0), rows = B * sh.H * sh.W, pooled = B * sh.Ho * sh.Wo;
    const float* yp = y.data_ptr<float>();
    const std::vector<float> shift(yp, yp + kC);  // the first pixel
    torch::Tensor p = torch::empty({B, kC, sh.Ho, sh.Wo}, y.options().memory_format(at::MemoryFormat::ChannelsLast));
    torch::Tensor code = torch::empty({B, sh.Ho, sh.Wo, kC}, y.options().dtype(torch::kUInt8));
    float* pp = p.data_ptr<float>();
    uint8_t* cp = code.data_ptr<uint8_t>();
    const int64_t per_in = sh.H * sh.W * kC, per_out = sh.Ho * sh.Wo * kC;
    std::vector<double> ps(B * kC, 0.0), pq(B * kC, 0.0);
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t n = b0; n < b1; ++n) {
        isa_avx512::pool_clip(yp + n * per_in, pp + n * per_out, cp + n * per_out, sh, shift.data(), &ps[n * kC],
                              &pq[n * kC]);
      }
    });
    // Batch mean, biased variance and 1/σ from the shifted sums.
    double s[kC], q[kC];
    add_partials(ps, B, s);
    add_partials(pq, B, q);
    std::vector<double> mean_d(kC), var(kC);
    std::vector<float> mean(kC), inv(kC);
    for (int64_t c = 0; c < kC; ++c) {
      const double d = s[c] / rows;
      var[c] = std::max(0.0, q[c] / rows - d * d);
      mean_d[c] = shift[c] + d;
      mean[c] = static_cast<float>(mean_d[c]);
      inv[c] = static_cast<float>(1.0 / std::sqrt(var[c] + eps));
    }
    at::parallel_for(0, pooled, 4096, [&](int64_t i0, int64_t i1) {
      isa_avx512::normalize(pp + i0 * kC, i1 - i0, mean.data(), inv.data());
    });
    update_running(running_mean, running_var, mean_d, var, rows, factor);
    ctx->save_for_backward({y, p, code});
    ctx->saved_data["mean"] = torch::tensor(mean);
    ctx->saved_data["inv"] = torch::tensor(inv);
    return p;
  }

  // dL/dy = scatter(dL/dm) + dL/dμ / N + dL/dσ² · 2(y − μ) / N, with g_u = dL/dp · [p > 0],
  // dL/dm = g_u / σ, dL/dμ = −Σ g_u / σ, dL/dσ² = −Σ g_u · p / (2σ²) (σ² the batch's biased
  // variance; N = B·H·W).
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    RECORD_FUNCTION("asd::stem_bn_relu_pool_backward", std::vector<c10::IValue>());
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &y = saved[0], &p = saved[1], &code = saved[2];
    const torch::Tensor mean_t = ctx->saved_data["mean"].toTensor(), inv_t = ctx->saved_data["inv"].toTensor();
    const float* mean = mean_t.data_ptr<float>();
    const float* inv = inv_t.data_ptr<float>();
    const torch::Tensor g = grads[0].to(torch::kFloat32).contiguous(at::MemoryFormat::ChannelsLast);
    const Shape sh = shape_of(y);
    const int64_t B = y.size(0), per_in = sh.H * sh.W * kC, per_out = sh.Ho * sh.Wo * kC;
    const double N = static_cast<double>(B * sh.H * sh.W);

    torch::Tensor gu = torch::empty_like(p);
    const float* gp = g.data_ptr<float>();
    const float* pp = p.data_ptr<float>();
    float* gup = gu.data_ptr<float>();
    std::vector<double> p1(B * kC, 0.0), p3(B * kC, 0.0);
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t n = b0; n < b1; ++n) {
        const int64_t o = n * per_out;
        isa_avx512::grad_sums(gp + o, pp + o, gup + o, sh.Ho * sh.Wo, &p1[n * kC], &p3[n * kC]);
      }
    });
    double s1[kC], s3[kC];
    add_partials(p1, B, s1);
    add_partials(p3, B, s3);
    float a[kC], b[kC];
    for (int64_t c = 0; c < kC; ++c) {
      const double sd = inv[c];
      const double g_mu = -s1[c] * sd, g_var = -0.5 * s3[c] * sd * sd;
      a[c] = static_cast<float>((g_mu - 2.0 * g_var * mean[c]) / N);
      b[c] = static_cast<float>(2.0 * g_var / N);
    }

    torch::Tensor gy = torch::empty_like(y, at::MemoryFormat::ChannelsLast);
    const float* yp = y.data_ptr<float>();
    const uint8_t* cp = code.data_ptr<uint8_t>();
    float* gyp = gy.data_ptr<float>();
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t n = b0; n < b1; ++n) {
        isa_avx512::grad_clip(yp + n * per_in, gup + n * per_out, cp + n * per_out, gyp + n * per_in, sh, a, b, inv);
      }
    });
    return {gy, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor bn_relu_max_pool(const torch::Tensor& y, torch::nn::BatchNorm2dImpl& bn, MaxPool3x3Impl& pool) {
  if (pool.padding == 0 && plain_non_affine(bn) && y.dim() == 4) {
    if (!bn.is_training()) {
      // Running statistics: exact on any device, dtype or layout.
      const bool values_only = !(torch::GradMode::is_enabled() && y.requires_grad());
      return torch::relu(bn.forward(values_only && kernels_apply(y) ? pool_values(y) : pool.forward(y)));
    }
    if (kernels_apply(y)) {
      const double factor = running_factor(bn);
      return StemFunction::apply(y, bn.running_mean, bn.running_var, factor, bn.options.eps());
    }
  }
  return pool.forward(torch::relu(bn.forward(y)));
}

}  // namespace asd::nn
