// Each exported surface registers its functions on the module's exports.
#pragma once

#include <napi.h>

namespace asd::addon {
void register_runtime(Napi::Env env, Napi::Object exports);
void register_features(Napi::Env env, Napi::Object exports);
void register_backends(Napi::Env env, Napi::Object exports);
void register_model(Napi::Env env, Napi::Object exports);
}  // namespace asd::addon
