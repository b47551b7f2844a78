// Tensors across the boundary as `{ data: TypedArray, shape: number[] }`. Inputs are wrapped
// without copying (the job keeps the JS array alive); outputs hand the tensor's own memory to an
// external ArrayBuffer that frees the tensor when JS collects it.
#pragma once

#include <napi.h>
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace asd::addon {

// Wraps a Float32Array / Float64Array / Int32Array / BigInt64Array (+ shape) as a CPU tensor
// viewing the JS memory. `what` names the argument in errors.
torch::Tensor tensor_from_js(const Napi::Value& value, const std::string& what);

// `{ data, shape }` from a contiguous CPU tensor (moved to CPU/contiguous first if needed).
Napi::Object tensor_to_js(Napi::Env env, torch::Tensor t);

// `{ name: {data, shape}, ... }` from named tensors (e.g. a frontend's outputs).
Napi::Object named_tensors_to_js(Napi::Env env, std::vector<std::pair<std::string, torch::Tensor>>& tensors);

std::vector<std::string> strings_from_js(const Napi::Value& value, const std::string& what);

// Option readers with defaults; a wrong type is a TypeError (errors.h).
int64_t get_int(const Napi::Object& o, const char* key, int64_t fallback);
double get_number(const Napi::Object& o, const char* key, double fallback);
bool get_bool(const Napi::Object& o, const char* key, bool fallback);
std::string get_string(const Napi::Object& o, const char* key, const std::string& fallback);
Napi::Object get_options(const Napi::CallbackInfo& info, size_t index);
// The `device` option ("cpu" default), parsed; throws the core's error (a malformed spec maps to
// a RangeError, an unavailable device to ASDKIT_CORE) — call it where errors are mapped.
torch::Device get_device(const Napi::Object& o);

}  // namespace asd::addon
