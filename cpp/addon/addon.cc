// Module init: the addon holds no numerics, only argument checks and async plumbing.
#include <napi.h>

#include "surfaces.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  asd::addon::register_runtime(env, exports);
  asd::addon::register_features(env, exports);
  asd::addon::register_backends(env, exports);
  asd::addon::register_model(env, exports);
  return exports;
}

NODE_API_MODULE(asdkit, Init)
