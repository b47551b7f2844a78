// Build and run-time information (`asdkit doctor`), thread count, device checks.
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "common/cpu_cache.h"
#include "common/runtime.h"
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
  const CpuCacheStats c = cpu_cache_stats();
  auto cache = Napi::Object::New(env);
  cache.Set("installed", c.installed);
  cache.Set("cachedBytes", static_cast<double>(c.cached_bytes));
  cache.Set("inUseBytes", static_cast<double>(c.in_use_bytes));
  cache.Set("limitBytes", static_cast<double>(c.limit_bytes));
  cache.Set("hits", static_cast<double>(c.hits));
  cache.Set("misses", static_cast<double>(c.misses));
  o.Set("cpuCache", cache);
  return o;
}

Napi::Value release_cache(const Napi::CallbackInfo& info) {
  release_cpu_cache();
  return info.Env().Undefined();
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "setNumThreads(n): n must be a number");
  try {
    return Napi::Number::New(info.Env(), set_num_threads(info[0].As<Napi::Number>().Int32Value()));
  } catch (const std::exception& e) {
    throw Napi::RangeError::New(info.Env(), e.what());
  }
}

Napi::Value check_device(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "checkDevice(spec): spec must be a string");
  try {
    return Napi::String::New(info.Env(), parse_device(info[0].As<Napi::String>().Utf8Value()).str());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  // ASDKIT_CPU_CACHE: "0" keeps LibTorch's default allocator; a number of MiB caps the cache.
  const char* cache = std::getenv("ASDKIT_CPU_CACHE");
  if (!cache || std::string(cache) != "0") install_cpu_cache(cache ? std::atoll(cache) * (int64_t{1} << 20) : 0);
  exports.Set("releaseCpuCache", Napi::Function::New(env, release_cache, "releaseCpuCache"));
  exports.Set("info", Napi::Function::New(env, info, "info"));
  exports.Set("setNumThreads", Napi::Function::New(env, set_threads, "setNumThreads"));
  exports.Set("checkDevice", Napi::Function::New(env, check_device, "checkDevice"));
}

}  // namespace asd::addon
