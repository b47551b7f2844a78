// Build and run-time information (`asdkit doctor`), thread count, job bound, device checks.
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "common/cpu_cache.h"
#include "common/runtime.h"
#include "errors.h"
#include "job_limiter.h"
#include "model_state.h"
#include "surfaces.h"
#include "tensor_bridge.h"

namespace asd::addon {

namespace {

Napi::Value info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torchVersion", ASDKIT_TORCH_VERSION);
  o.Set("builtWithCuda", Napi::Boolean::New(env, ASDKIT_WITH_CUDA != 0));
  const bool cuda = torch::cuda::is_available();
  o.Set("cudaAvailable", Napi::Boolean::New(env, cuda));
  o.Set("cudaDeviceCount", Napi::Number::New(env, cuda ? static_cast<double>(torch::cuda::device_count()) : 0));
  o.Set("numThreads", Napi::Number::New(env, get_num_threads()));
  o.Set("hardwareThreads", Napi::Number::New(env, static_cast<double>(std::thread::hardware_concurrency())));
  o.Set("cpuBf16", Napi::Boolean::New(env, cpu_has_bf16()));
  o.Set("cpuBf16Flags", cpu_bf16_flags());
  const CpuCacheStats c = cpu_cache_stats();
  auto cache = Napi::Object::New(env);
  cache.Set("installed", c.installed);
  cache.Set("cachedBytes", static_cast<double>(c.cached_bytes));
  cache.Set("inUseBytes", static_cast<double>(c.in_use_bytes));
  cache.Set("limitBytes", static_cast<double>(c.limit_bytes));
  cache.Set("hits", static_cast<double>(c.hits));
  cache.Set("misses", static_cast<double>(c.misses));
  o.Set("cpuCache", cache);
  const JobLimiter::Stats j = JobLimiter::instance().stats();
  auto jobs = Napi::Object::New(env);
  jobs.Set("maxPerDevice", j.max_per_device);
  jobs.Set("running", j.running);
  jobs.Set("queued", j.queued);
  jobs.Set("peakRunning", j.peak);
  o.Set("jobs", jobs);
  const ModelMemory mm = model_memory();
  auto models = Napi::Object::New(env);
  models.Set("live", static_cast<double>(mm.live));
  models.Set("bytes", static_cast<double>(mm.bytes));
  o.Set("models", models);
  return o;
}

Napi::Value release_cache(const Napi::CallbackInfo& info) {
  release_cpu_cache();
  return info.Env().Undefined();
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) fail(info.Env(), ErrorKind::kType, "setNumThreads(n): n must be a number");
  return Napi::Number::New(info.Env(), set_num_threads(info[0].As<Napi::Number>().Int32Value()));
}

// setMaxJobs(n): native jobs that may run at once per device (default 1); returns n.
Napi::Value set_max_jobs(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) fail(info.Env(), ErrorKind::kType, "setMaxJobs(n): n must be a number");
  const int n = info[0].As<Napi::Number>().Int32Value();
  JobLimiter::instance().set_max(n);
  return Napi::Number::New(info.Env(), n);
}

Napi::Value check_device(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) fail(info.Env(), ErrorKind::kType, "checkDevice(spec): spec must be a string");
  return Napi::String::New(info.Env(), parse_device(info[0].As<Napi::String>().Utf8Value()).str());
}

}  // namespace

void register_bench(Napi::Env env, Napi::Object exports);  // bench_api.cc

void register_runtime(Napi::Env env, Napi::Object exports) {
  make_blas_fork_safe();
  // ASDKIT_CPU_CACHE: "0" keeps LibTorch's default allocator; a number of MiB caps the cache.
  const char* cache = std::getenv("ASDKIT_CPU_CACHE");
  if (!cache || std::string(cache) != "0") install_cpu_cache(cache ? std::atoll(cache) * (int64_t{1} << 20) : 0);
  export_function(env, exports, "releaseCpuCache", release_cache);
  export_function(env, exports, "info", info);
  export_function(env, exports, "setNumThreads", set_threads);
  export_function(env, exports, "setMaxJobs", set_max_jobs);
  export_function(env, exports, "checkDevice", check_device);
  register_bench(env, exports);
}

}  // namespace asd::addon
