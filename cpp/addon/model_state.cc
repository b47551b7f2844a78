#include "model_state.h"

#include <atomic>

#include "errors.h"
#include "tensor_bridge.h"

namespace asd::addon {

std::map<std::string, torch::Tensor> tensor_map_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject()) fail(v.Env(), ErrorKind::kType, what + " must be an object of named tensors");
  auto o = v.As<Napi::Object>();
  auto keys = o.GetPropertyNames();
  std::map<std::string, torch::Tensor> out;
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    out[k] = tensor_from_js(o.Get(k), k);
  }
  return out;
}

Napi::Object state_to_js(Napi::Env env, torch::nn::Module& m, bool trainable_only, bool buffers) {
  auto o = Napi::Object::New(env);
  torch::NoGradGuard ng;
  for (const auto& kv : m.named_parameters()) {
    if (trainable_only && !kv.value().requires_grad()) continue;
    o.Set(kv.key(), tensor_to_js(env, kv.value().detach().to(torch::kCPU, false, true)));
  }
  if (buffers) {
    for (const auto& kv : m.named_buffers()) o.Set(kv.key(), tensor_to_js(env, kv.value().to(torch::kCPU, false, true)));
  }
  return o;
}

void load_state_from_js(Napi::Env env, torch::nn::Module& m, const Napi::Object& given, bool partial) {
  std::map<std::string, torch::Tensor> own;
  for (const auto& kv : m.named_parameters()) own[kv.key()] = kv.value();
  for (const auto& kv : m.named_buffers()) own[kv.key()] = kv.value();
  std::vector<std::string> missing, unexpected, bad_shape;
  std::map<std::string, torch::Tensor> in;
  auto keys = given.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    if (!own.count(k)) {
      unexpected.push_back(k);
      continue;
    }
    in[k] = tensor_from_js(given.Get(k), k);
    if (in[k].sizes() != own[k].sizes()) bad_shape.push_back(k);
  }
  if (!partial) {
    for (const auto& kv : own) {
      if (!in.count(kv.first)) missing.push_back(kv.first);
    }
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 5; ++i) s += (i ? ", " : "") + v[i];
    return s + (v.size() > 5 ? ", …" : "");
  };
  if (!missing.empty() || !unexpected.empty() || !bad_shape.empty()) {
    std::string msg = "state does not match the model:";
    if (!missing.empty()) msg += " missing " + list(missing) + ";";
    if (!unexpected.empty()) msg += " unexpected " + list(unexpected) + ";";
    if (!bad_shape.empty()) msg += " wrong shape " + list(bad_shape) + ";";
    fail(env, ErrorKind::kValue, msg);
  }
  torch::NoGradGuard ng;
  for (auto& [k, t] : in) own[k].copy_(t.to(own[k].scalar_type()));
}

namespace {
std::atomic<int64_t> g_live{0}, g_bytes{0};
}  // namespace

void account_model_memory(Napi::Env env, int64_t delta_bytes, int delta_live) {
  if (delta_bytes != 0) Napi::MemoryManagement::AdjustExternalMemory(env, delta_bytes);
  g_bytes += delta_bytes;
  g_live += delta_live;
}

ModelMemory model_memory() { return {g_live.load(), g_bytes.load()}; }

Napi::Object metrics_to_js(Napi::Env env, const train::StepMetrics& m) {
  auto o = Napi::Object::New(env);
  o.Set("epoch", static_cast<double>(m.epoch));
  o.Set("globalStep", static_cast<double>(m.global_step));
  o.Set("batch", static_cast<double>(m.batch));
  o.Set("numBatches", static_cast<double>(m.num_batches));
  o.Set("batchSize", static_cast<double>(m.batch_size));
  auto losses = Napi::Object::New(env);
  for (const auto& [k, v] : m.losses) losses.Set(k, v);
  o.Set("losses", losses);
  o.Set("gradNorm", m.grad_norm);
  o.Set("lr", m.lr);
  o.Set("waitMs", m.wait_ms);
  o.Set("computeMs", m.compute_ms);
  return o;
}

Napi::Object epoch_to_js(Napi::Env env, const EpochOutput& out) {
  auto r = Napi::Object::New(env);
  r.Set("steps", static_cast<double>(out.result.steps));
  r.Set("lastLoss", out.result.last_loss);
  r.Set("nonFinite", out.result.non_finite);
  r.Set("globalStep", static_cast<double>(out.global_step));
  auto arr = Napi::Array::New(env, out.steps.size());
  for (size_t i = 0; i < out.steps.size(); ++i) arr.Set(static_cast<uint32_t>(i), metrics_to_js(env, out.steps[i]));
  r.Set("metrics", arr);
  return r;
}

}  // namespace asd::addon
