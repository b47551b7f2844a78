// benchMatmul: the machine's measured dense matrix-product rate, the ceiling the bench reports
// each network's achieved GFLOP/s against (bench/train.ts).
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "async_job.h"
#include "common/runtime.h"
#include "errors.h"
#include "tensor_bridge.h"

namespace asd::addon {

namespace {

struct MatmulResult {
  std::vector<double> times;  // seconds per timed product, sorted
  int threads = 0;
};

// benchMatmul({n = 2048, iters = 10, threads = current, dtype = 'float32' | 'bfloat16'}) →
// {promise, cancel}: square n × n torch::mm, two warm-up products, then the median of `iters`
// timed ones, off the main thread like every heavy call (it takes seconds at n 2048 on 2 cores);
// resolves to { gflops: 2n³ / median s / 1e9, medianS, minS, n, iters, threads, dtype }.
Napi::Value bench_matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = get_options(info, 0);
  const int64_t n = get_int(o, "n", 2048);
  const int64_t iters = get_int(o, "iters", 10);
  const int64_t threads = get_int(o, "threads", get_num_threads());
  const std::string dtype = get_string(o, "dtype", "float32");
  if (n < 1 || n > 16384) fail(env, ErrorKind::kValue, "benchMatmul: n must be in 1..16384");
  if (iters < 1) fail(env, ErrorKind::kValue, "benchMatmul: iters must be >= 1");
  if (threads < 0) fail(env, ErrorKind::kValue, "benchMatmul: threads must be >= 0 (0 = all cores)");
  if (dtype != "float32" && dtype != "bfloat16") fail(env, ErrorKind::kValue, "benchMatmul: dtype must be \"float32\" or \"bfloat16\"");
  const auto st = dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  JobOptions jo;
  return start_job<MatmulResult>(
      env, jo,
      [n, iters, threads, st](const JobContext& ctx) {
        const int before = get_num_threads();
        MatmulResult r;
        r.threads = set_num_threads(static_cast<int>(threads));
        try {
          torch::NoGradGuard no_grad;
          auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
          const auto a = torch::rand({n, n}, gen, torch::kFloat32).to(st);
          const auto b = torch::rand({n, n}, gen, torch::kFloat32).to(st);
          auto c = torch::empty({n, n}, torch::TensorOptions().dtype(st));
          for (int i = 0; i < 2; ++i) torch::mm_out(c, a, b);
          for (int64_t i = 0; i < iters; ++i) {
            ctx.check();
            const auto t0 = std::chrono::steady_clock::now();
            torch::mm_out(c, a, b);
            r.times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          }
        } catch (...) {
          set_num_threads(before);
          throw;
        }
        set_num_threads(before);
        std::sort(r.times.begin(), r.times.end());
        return r;
      },
      [n, iters, dtype](Napi::Env env, MatmulResult& m) -> Napi::Value {
        const auto& ts = m.times;
        const double med = ts.size() % 2 ? ts[ts.size() / 2] : 0.5 * (ts[ts.size() / 2 - 1] + ts[ts.size() / 2]);
        auto r = Napi::Object::New(env);
        r.Set("gflops", 2.0 * static_cast<double>(n) * n * n / med / 1e9);
        r.Set("medianS", med);
        r.Set("minS", ts.front());
        r.Set("n", static_cast<double>(n));
        r.Set("iters", static_cast<double>(iters));
        r.Set("threads", m.threads);
        r.Set("dtype", dtype);
        return r;
      });
}

}  // namespace

void register_bench(Napi::Env env, Napi::Object exports) { export_function(env, exports, "benchMatmul", bench_matmul); }

}  // namespace asd::addon
