// benchMatmul: the machine's measured dense product rate, the ceiling the bench reports each
// network's achieved GFLOP/s against (bench/train.ts): a square torch::mm (the BLAS LibTorch was
// built with: OpenBLAS on Debian) or a wide 3×3 convolution (oneDNN's kernels, the ones the
// networks' convolutions run on — on Debian's build several times faster than its mm).
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
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

// benchMatmul({n = 2048, iters = 10, threads = current, dtype = 'float32' | 'bfloat16',
// op = 'mm' | 'conv'}) → {promise, cancel}: 'mm' a square n × n torch::mm; 'conv' a 3×3 / stride-1
// / padding-1 convolution of n → n channels over a channels-last (64, n, 16, 18) batch (the
// networks' last stage at n = 128). Two warm-ups, then the median of `iters` timed runs, off the
// main thread like every heavy call; resolves to { gflops: FLOPs / median s / 1e9 (mm 2n³, conv
// 2 · 64 · 16 · 18 · 9n²), medianS, minS, n, iters, threads, dtype, op }.
Napi::Value bench_matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = get_options(info, 0);
  const int64_t n = get_int(o, "n", 2048);
  const int64_t iters = get_int(o, "iters", 10);
  const int64_t threads = get_int(o, "threads", get_num_threads());
  const std::string dtype = get_string(o, "dtype", "float32");
  const std::string op = get_string(o, "op", "mm");
  if (op != "mm" && op != "conv") fail(env, ErrorKind::kValue, "benchMatmul: op must be \"mm\" or \"conv\"");
  if (n < 1 || n > 16384) fail(env, ErrorKind::kValue, "benchMatmul: n must be in 1..16384");
  if (iters < 1) fail(env, ErrorKind::kValue, "benchMatmul: iters must be >= 1");
  if (threads < 0) fail(env, ErrorKind::kValue, "benchMatmul: threads must be >= 0 (0 = all cores)");
  if (dtype != "float32" && dtype != "bfloat16") fail(env, ErrorKind::kValue, "benchMatmul: dtype must be \"float32\" or \"bfloat16\"");
  const auto st = dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  JobOptions jo;
  return start_job<MatmulResult>(
      env, jo,
      [n, iters, threads, st, op](const JobContext& ctx) {
        const int before = get_num_threads();
        MatmulResult r;
        r.threads = set_num_threads(static_cast<int>(threads));
        try {
          torch::NoGradGuard no_grad;
          auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
          std::function<void()> run;
          if (op == "mm") {
            const auto a = torch::rand({n, n}, gen, torch::kFloat32).to(st);
            const auto b = torch::rand({n, n}, gen, torch::kFloat32).to(st);
            auto c = torch::empty({n, n}, torch::TensorOptions().dtype(st));
            run = [a, b, c]() mutable { torch::mm_out(c, a, b); };
          } else {
            const auto cl = at::MemoryFormat::ChannelsLast;
            const auto x = torch::rand({64, n, 16, 18}, gen, torch::kFloat32).to(st).contiguous(cl);
            const auto w = torch::rand({n, n, 3, 3}, gen, torch::kFloat32).to(st).contiguous(cl);
            run = [x, w] { torch::conv2d(x, w, {}, 1, 1); };
          }
          for (int i = 0; i < 2; ++i) run();
          for (int64_t i = 0; i < iters; ++i) {
            ctx.check();
            const auto t0 = std::chrono::steady_clock::now();
            run();
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
      [n, iters, dtype, op](Napi::Env env, MatmulResult& m) -> Napi::Value {
        const auto& ts = m.times;
        const double med = ts.size() % 2 ? ts[ts.size() / 2] : 0.5 * (ts[ts.size() / 2 - 1] + ts[ts.size() / 2]);
        auto r = Napi::Object::New(env);
        const double nn = static_cast<double>(n) * n;
        const double flops = op == "mm" ? 2.0 * nn * n : 2.0 * 64 * 16 * 18 * 9 * nn;
        r.Set("gflops", flops / med / 1e9);
        r.Set("medianS", med);
        r.Set("minS", ts.front());
        r.Set("n", static_cast<double>(n));
        r.Set("iters", static_cast<double>(iters));
        r.Set("threads", m.threads);
        r.Set("dtype", dtype);
        r.Set("op", op);
        return r;
      });
}

}  // namespace

void register_bench(Napi::Env env, Napi::Object exports) { export_function(env, exports, "benchMatmul", bench_matmul); }

}  // namespace asd::addon
