// Module init: the addon holds no numerics, only argument checks and async plumbing.
#include <napi.h>

#include "async_job.h"
#include "surfaces.h"

namespace asd::addon {

Napi::Error make_abort_error(Napi::Env env) {
  auto err = Napi::Error::New(env, "The operation was aborted");
  err.Set("name", Napi::String::New(env, "AbortError"));
  err.Set("code", Napi::String::New(env, "ABORT_ERR"));
  return err;
}

}  // namespace asd::addon

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  asd::addon::register_runtime(env, exports);
  asd::addon::register_features(env, exports);
  asd::addon::register_backends(env, exports);
  asd::addon::register_model(env, exports);
  return exports;
}

NODE_API_MODULE(asdkit, Init)
