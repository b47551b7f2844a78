#include "features/fftw_magnitude.h"

#if ASDKIT_WITH_FFTW
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <fftw3.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>
#endif

namespace asd::features {

#if ASDKIT_WITH_FFTW

namespace {

// An FFTW buffer (SIMD-aligned), freed with the scope.
template <typename T>
struct FftwBuffer {
  T* p;
  explicit FftwBuffer(int64_t n) : p(static_cast<T*>(fftwf_malloc(sizeof(T) * n))) {
    if (!p) throw std::bad_alloc();
  }
  ~FftwBuffer() { fftwf_free(p); }
  FftwBuffer(const FftwBuffer&) = delete;
  FftwBuffer& operator=(const FftwBuffer&) = delete;
};

struct Plan {
  fftwf_plan plan;
  int alignment;  // fftwf_alignment_of of the arrays it was made for
};

// One single-clip r2c plan per length, made once (FFTW's planner is not thread-safe; executing
// a plan on other arrays of the same alignment is). FFTW_ESTIMATE: planning takes milliseconds,
// and FFTW_MEASURE's plans were no faster here for 288 000 points.
Plan plan_for(int64_t n) {
  static std::mutex mutex;
  static std::map<int64_t, Plan> plans;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(n);
  if (it != plans.end()) return it->second;
  FftwBuffer<float> in(n);
  FftwBuffer<fftwf_complex> out(n / 2 + 1);
  fftwf_plan p = fftwf_plan_dft_r2c_1d(static_cast<int>(n), in.p, out.p, FFTW_ESTIMATE);
  if (!p) throw std::runtime_error("FFTW could not plan a " + std::to_string(n) + "-point transform");
  return plans[n] = Plan{p, fftwf_alignment_of(in.p)};
}

}  // namespace

bool have_fftw() { return true; }

torch::Tensor fftw_magnitude(const torch::Tensor& wave) {
  if (wave.dim() != 2 || !wave.device().is_cpu() || wave.scalar_type() != torch::kFloat32 || !wave.is_contiguous() ||
      wave.requires_grad() || wave.size(1) < 2 || wave.size(1) > (int64_t{1} << 30)) {
    return torch::Tensor();
  }
  RECORD_FUNCTION("asd::fftw_magnitude", std::vector<c10::IValue>());
  const int64_t B = wave.size(0), L = wave.size(1), F = L / 2 + 1;
  const Plan plan = plan_for(L);
  torch::Tensor out = torch::empty({B, F}, wave.options());
  const float* x = wave.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    FftwBuffer<fftwf_complex> spec(F);
    std::unique_ptr<FftwBuffer<float>> copy;  // for rows not aligned as the plan's arrays
    for (int64_t b = b0; b < b1; ++b) {
      float* row = const_cast<float*>(x + b * L);  // r2c out of place leaves its input alone
      if (fftwf_alignment_of(row) != plan.alignment) {
        if (!copy) copy = std::make_unique<FftwBuffer<float>>(L);
        std::memcpy(copy->p, row, sizeof(float) * L);
        row = copy->p;
      }
      fftwf_execute_dft_r2c(plan.plan, row, spec.p);
      float* ob = o + b * F;
      for (int64_t k = 0; k < F; ++k) ob[k] = std::sqrt(spec.p[k][0] * spec.p[k][0] + spec.p[k][1] * spec.p[k][1]);
    }
  });
  return out;
}

#else

bool have_fftw() { return false; }
torch::Tensor fftw_magnitude(const torch::Tensor&) { return torch::Tensor(); }

#endif

}  // namespace asd::features
