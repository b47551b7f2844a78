#include "tensor_bridge.h"

#include "common/runtime.h"
#include "errors.h"

namespace asd::addon {

namespace {

std::vector<int64_t> shape_from_js(const Napi::Object& obj, int64_t numel, const std::string& what) {
  std::vector<int64_t> shape;
  Napi::Value s = obj.Get("shape");
  if (s.IsUndefined()) return {numel};
  if (!s.IsArray()) fail(obj.Env(), ErrorKind::kType, what + ".shape must be an array of integers");
  auto arr = s.As<Napi::Array>();
  int64_t prod = 1;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value d = arr.Get(i);
    if (!d.IsNumber()) fail(obj.Env(), ErrorKind::kType, what + ".shape must be an array of integers");
    int64_t v = d.As<Napi::Number>().Int64Value();
    if (v < 0) fail(obj.Env(), ErrorKind::kValue, what + ".shape has a negative dimension");
    shape.push_back(v);
    prod *= v;
  }
  if (prod != numel) {
    fail(obj.Env(), ErrorKind::kValue, what + ": shape holds " + std::to_string(prod) +
                                               " elements but data has " + std::to_string(numel));
  }
  return shape;
}

}  // namespace

torch::Tensor tensor_from_js(const Napi::Value& value, const std::string& what) {
  Napi::Env env = value.Env();
  Napi::Value data = value;
  Napi::Object holder;
  bool has_holder = false;
  if (value.IsObject() && !value.IsTypedArray()) {
    holder = value.As<Napi::Object>();
    has_holder = true;
    data = holder.Get("data");
  }
  if (!data.IsTypedArray()) fail(env, ErrorKind::kType, what + " must be a typed array or { data, shape }");
  auto ta = data.As<Napi::TypedArray>();
  torch::ScalarType dtype;
  switch (ta.TypedArrayType()) {
    case napi_float32_array: dtype = torch::kFloat32; break;
    case napi_float64_array: dtype = torch::kFloat64; break;
    case napi_int32_array: dtype = torch::kInt32; break;
    case napi_bigint64_array: dtype = torch::kInt64; break;
    case napi_uint8_array: dtype = torch::kUInt8; break;
    default: fail(env, ErrorKind::kType, what + ": unsupported typed array type");
  }
  const int64_t numel = static_cast<int64_t>(ta.ElementLength());
  auto shape = has_holder ? shape_from_js(holder, numel, what) : std::vector<int64_t>{numel};
  auto* ptr = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return torch::from_blob(ptr, shape, torch::TensorOptions().dtype(dtype));
}

Napi::Object tensor_to_js(Napi::Env env, torch::Tensor t) {
  t = t.to(torch::kCPU).contiguous();
  auto* owner = new torch::Tensor(t);
  const size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  Napi::ArrayBuffer buf = bytes == 0
      ? Napi::ArrayBuffer::New(env, 0)
      : Napi::ArrayBuffer::New(env, t.data_ptr(), bytes, [](Napi::Env, void*, torch::Tensor* h) { delete h; }, owner);
  if (bytes == 0) delete owner;
  Napi::Value data;
  const size_t n = static_cast<size_t>(t.numel());
  switch (t.scalar_type()) {
    case torch::kFloat32: data = Napi::Float32Array::New(env, n, buf, 0); break;
    case torch::kFloat64: data = Napi::Float64Array::New(env, n, buf, 0); break;
    case torch::kInt32: data = Napi::Int32Array::New(env, n, buf, 0); break;
    case torch::kInt64: data = Napi::BigInt64Array::New(env, n, buf, 0); break;
    default: fail(env, ErrorKind::kCore, "cannot return tensors of this dtype");
  }
  auto obj = Napi::Object::New(env);
  obj.Set("data", data);
  auto shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.size(i))));
  obj.Set("shape", shape);
  return obj;
}

Napi::Object named_tensors_to_js(Napi::Env env, std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  auto obj = Napi::Object::New(env);
  for (auto& [name, t] : tensors) obj.Set(name, tensor_to_js(env, t));
  return obj;
}

std::vector<std::string> strings_from_js(const Napi::Value& value, const std::string& what) {
  if (!value.IsArray()) fail(value.Env(), ErrorKind::kType, what + " must be an array of strings");
  auto arr = value.As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) fail(value.Env(), ErrorKind::kType, what + " must be an array of strings");
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return out;
}

int64_t get_int(const Napi::Object& o, const char* key, int64_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) fail(o.Env(), ErrorKind::kType, std::string("option ") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) {
    fail(o.Env(), ErrorKind::kValue, std::string("option ") + key + " must be an integer");
  }
  return static_cast<int64_t>(d);
}

double get_number(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) fail(o.Env(), ErrorKind::kType, std::string("option ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool get_bool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) fail(o.Env(), ErrorKind::kType, std::string("option ") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string get_string(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) fail(o.Env(), ErrorKind::kType, std::string("option ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object get_options(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return Napi::Object::New(info.Env());
  if (!info[index].IsObject()) fail(info.Env(), ErrorKind::kType, "options must be an object");
  return info[index].As<Napi::Object>();
}

torch::Device get_device(const Napi::Object& o) { return parse_device(get_string(o, "device", "cpu")); }

}  // namespace asd::addon
