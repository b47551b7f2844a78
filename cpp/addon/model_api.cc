// Trainable-model surface: `createDisModel(config)` returns a handle that trains one epoch at a
// time, embeds files or waveforms, and exports/imports its state as named tensors (TypeScript
// writes those to safetensors checkpoints). One job at a time per model.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "async_job.h"
#include "extract/extract.h"
#include "extract/model_frontend.h"
#include "surfaces.h"
#include "tensor_bridge.h"
#include "train/trainer.h"

namespace asd::addon {

namespace {

// Model construction draws from torch's global generator: one at a time, seeded.
std::mutex g_init_mutex;

std::vector<int64_t> int_list(const Napi::Object& o, const char* key, std::vector<int64_t> fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be an array of integers");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).As<Napi::Number>().Int64Value());
  return out;
}

std::array<int64_t, 3> three(const Napi::Object& o, const char* key, std::array<int64_t, 3> fallback) {
  auto v = int_list(o, key, {fallback.begin(), fallback.end()});
  if (v.size() != 3) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must have 3 entries");
  return {v[0], v[1], v[2]};
}

train::DisModelConfig config_from_js(const Napi::Object& o) {
  Napi::Env env = o.Env();
  train::DisModelConfig c;
  c.extractor.sec_samples = get_int(o, "secSamples", 0);
  c.extractor.embed_size_per_branch = get_int(o, "embedSizePerBranch", 128);
  c.extractor.use_bias = get_bool(o, "useBias", false);
  Napi::Value bv = o.Get("branches");
  if (!bv.IsArray()) throw Napi::TypeError::New(env, "config.branches must be an array");
  auto branches = bv.As<Napi::Array>();
  for (uint32_t i = 0; i < branches.Length(); ++i) {
    if (!branches.Get(i).IsObject()) throw Napi::TypeError::New(env, "config.branches entries must be objects");
    auto b = branches.Get(i).As<Napi::Object>();
    const std::string kind = get_string(b, "kind", "");
    if (kind == "fft") {
      auto s = nn::BranchSpec::fft();
      s.fft_kernel = three(b, "kernel", s.fft_kernel);
      s.fft_stride = three(b, "stride", s.fft_stride);
      s.fft_dilation = three(b, "dilation", s.fft_dilation);
      c.extractor.branches.push_back(s);
    } else if (kind == "stft") {
      c.extractor.branches.push_back(nn::BranchSpec::linear_stft(get_int(b, "nFft", 1024), get_int(b, "hopLength", 512)));
    } else {
      throw Napi::TypeError::New(env, "config.branches[" + std::to_string(i) + "].kind must be \"fft\" or \"stft\"");
    }
  }
  c.n_classes = get_int(o, "numClasses", 0);
  Napi::Value hv = o.Get("head");
  Napi::Object h = hv.IsObject() ? hv.As<Napi::Object>() : Napi::Object::New(env);
  c.head.type = get_string(h, "type", c.head.type);
  c.head.n_subclusters = get_int(h, "nSubclusters", c.head.n_subclusters);
  c.head.subspace_dim = get_int(h, "subspaceDim", c.head.subspace_dim);
  c.head.margin = get_number(h, "margin", c.head.margin);
  c.head.scale = get_number(h, "scale", c.head.scale);
  c.head.trainable = get_bool(h, "trainable", c.head.trainable);
  c.head.dynamic = get_bool(h, "dynamic", c.head.dynamic);
  c.mixup_prob = get_number(o, "mixupProb", c.mixup_prob);
  const std::string tech = get_string(o, "technique", "none");
  if (tech == "featex") c.technique = train::DisModelConfig::Technique::kFeatEx;
  else if (tech == "subspace") c.technique = train::DisModelConfig::Technique::kSubspace;
  else if (tech != "none") throw Napi::TypeError::New(env, "config.technique must be none, featex or subspace");
  c.featex_prob = get_number(o, "featexProb", c.featex_prob);
  c.subspace_embed_size = get_int(o, "subspaceEmbedSize", c.subspace_embed_size);
  c.aux_weight = get_number(o, "auxWeight", c.aux_weight);
  return c;
}

train::TrainOptions train_options_from_js(const Napi::Object& o) {
  train::TrainOptions t;
  t.adamw.lr = get_number(o, "lr", t.adamw.lr);
  t.adamw.weight_decay = get_number(o, "weightDecay", t.adamw.weight_decay);
  t.adamw.beta1 = get_number(o, "beta1", t.adamw.beta1);
  t.adamw.beta2 = get_number(o, "beta2", t.adamw.beta2);
  t.adamw.eps = get_number(o, "eps", t.adamw.eps);
  t.warmup_steps = get_int(o, "warmupSteps", 0);
  t.cosine_steps = get_int(o, "cosineSteps", 0);
  t.lr_min = get_number(o, "lrMin", 0.0);
  t.deterministic = get_bool(o, "deterministic", true);
  t.loader.batch_size = get_int(o, "batchSize", 64);
  t.loader.seed = static_cast<uint64_t>(get_int(o, "seed", 0));
  t.loader.io_threads = static_cast<int>(get_int(o, "ioThreads", 2));
  t.loader.prefetch = static_cast<int>(get_int(o, "prefetch", 2));
  return t;
}

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

struct EpochOutput {
  train::EpochResult result;
  std::vector<train::StepMetrics> steps;
  int64_t global_step = 0;
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "DisModel",
                       {InstanceMethod("counts", &ModelWrap::counts), InstanceMethod("stateDict", &ModelWrap::state_dict),
                        InstanceMethod("optimizerState", &ModelWrap::optimizer_state),
                        InstanceMethod("loadState", &ModelWrap::load_state), InstanceMethod("trainEpoch", &ModelWrap::train_epoch),
                        InstanceMethod("embedFiles", &ModelWrap::embed_files), InstanceMethod("embed", &ModelWrap::embed)});
  }

  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "createDisModel(config): config must be an object");
    auto cfg = info[0].As<Napi::Object>();
    train::DisModelConfig c = config_from_js(cfg);
    const int64_t seed = get_int(cfg, "seed", 0);
    try {
      std::lock_guard<std::mutex> lock(g_init_mutex);
      torch::manual_seed(static_cast<uint64_t>(seed));
      model_ = train::DisModel(c);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

 private:
  // Claims the model for one job; the returned guard releases it when the job ends.
  std::shared_ptr<void> claim(Napi::Env env) {
    bool expected = false;
    if (!busy_->compare_exchange_strong(expected, true)) {
      throw Napi::Error::New(env, "this model is busy: a training or embedding job is still running");
    }
    auto flag = busy_;
    return std::shared_ptr<void>(nullptr, [flag](void*) { flag->store(false); });
  }

  Napi::Value counts(const Napi::CallbackInfo& info) {
    auto c = train::count_parameters(*model_);
    auto o = Napi::Object::New(info.Env());
    o.Set("trainable", static_cast<double>(c.trainable));
    o.Set("frozen", static_cast<double>(c.frozen));
    o.Set("buffers", static_cast<double>(c.buffers));
    o.Set("embedSize", static_cast<double>(model_->config().extractor.embed_size()));
    return o;
  }

  // Parameters then buffers, as CPU copies (JS must not see later in-place updates).
  Napi::Value state_dict(const Napi::CallbackInfo& info) {
    auto guard = claim(info.Env());
    auto o = Napi::Object::New(info.Env());
    torch::NoGradGuard ng;
    for (const auto& kv : model_->named_parameters()) o.Set(kv.key(), tensor_to_js(info.Env(), kv.value().detach().to(torch::kCPU, false, true)));
    for (const auto& kv : model_->named_buffers()) o.Set(kv.key(), tensor_to_js(info.Env(), kv.value().to(torch::kCPU, false, true)));
    return o;
  }

  Napi::Value optimizer_state(const Napi::CallbackInfo& info) {
    auto o = Napi::Object::New(info.Env());
    o.Set("globalStep", static_cast<double>(trainer_ ? trainer_->global_step() : 0));
    auto tensors = Napi::Object::New(info.Env());
    if (trainer_) {
      for (const auto& [k, t] : trainer_->optimizer().state()) tensors.Set(k, tensor_to_js(info.Env(), t.to(torch::kCPU, false, true)));
    }
    o.Set("tensors", tensors);
    return o;
  }

  // loadState(tensors, optimizer?: { tensors, globalStep, options }) — strict: every parameter and
  // buffer must be given with its shape, and nothing else.
  Napi::Value load_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto guard = claim(env);
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "loadState(tensors): tensors must be an object");
    auto given = info[0].As<Napi::Object>();
    std::map<std::string, torch::Tensor> own;
    for (const auto& kv : model_->named_parameters()) own[kv.key()] = kv.value();
    for (const auto& kv : model_->named_buffers()) own[kv.key()] = kv.value();
    std::vector<std::string> missing, unexpected, bad_shape;
    auto keys = given.GetPropertyNames();
    std::map<std::string, torch::Tensor> in;
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
      if (!own.count(k)) {
        unexpected.push_back(k);
        continue;
      }
      in[k] = tensor_from_js(given.Get(k), k);
      if (in[k].sizes() != own[k].sizes()) bad_shape.push_back(k);
    }
    for (const auto& [k, t] : own) {
      if (!in.count(k) && std::find(unexpected.begin(), unexpected.end(), k) == unexpected.end()) missing.push_back(k);
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
      throw Napi::Error::New(env, msg);
    }
    {
      torch::NoGradGuard ng;
      for (auto& [k, t] : in) own[k].copy_(t.to(own[k].scalar_type()));
    }
    if (info.Length() > 1 && info[1].IsObject()) {
      auto opt = info[1].As<Napi::Object>();
      Napi::Value ov = opt.Get("options");
      ensure_trainer(ov.IsObject() ? ov.As<Napi::Object>() : Napi::Object::New(env));
      std::map<std::string, torch::Tensor> st;
      Napi::Value tv = opt.Get("tensors");
      if (tv.IsObject()) {
        auto t = tv.As<Napi::Object>();
        auto names = t.GetPropertyNames();
        for (uint32_t i = 0; i < names.Length(); ++i) {
          const std::string k = names.Get(i).As<Napi::String>().Utf8Value();
          st[k] = tensor_from_js(t.Get(k), k).clone();
        }
      }
      try {
        trainer_->optimizer().load_state(st);
      } catch (const std::exception& e) {
        throw Napi::Error::New(env, e.what());
      }
      trainer_->set_global_step(get_int(opt, "globalStep", 0));
    }
    return env.Undefined();
  }

  void ensure_trainer(const Napi::Object& options) {
    if (!trainer_) trainer_ = std::make_shared<train::Trainer>(model_, train_options_from_js(options));
  }

  // trainEpoch({paths, labels, numClasses, length}, {epoch, device, lr, …}, onStep?) → {promise, cancel}
  Napi::Value train_epoch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "trainEpoch(data, options): data must be an object");
    auto d = info[0].As<Napi::Object>();
    auto data = std::make_shared<train::TrainData>();
    data->paths = strings_from_js(d.Get("paths"), "data.paths");
    torch::Tensor labels = tensor_from_js(d.Get("labels"), "data.labels").to(torch::kLong);
    data->labels.assign(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
    data->n_classes = get_int(d, "numClasses", 0);
    data->length = get_int(d, "length", model_->config().extractor.sec_samples);
    auto o = get_options(info, 1);
    const int64_t epoch = get_int(o, "epoch", 0);
    torch::Device device = torch::kCPU;
    try {
      device = parse_device(get_string(o, "device", "cpu"));
      data->validate();
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    if (data->n_classes != model_->config().n_classes) {
      throw Napi::Error::New(env, "data.numClasses (" + std::to_string(data->n_classes) + ") differs from the model's (" +
                                      std::to_string(model_->config().n_classes) + ")");
    }
    ensure_trainer(o);
    auto guard = claim(env);
    std::shared_ptr<Napi::ThreadSafeFunction> on_step;
    if (info.Length() > 2 && info[2].IsFunction()) {
      on_step = std::make_shared<Napi::ThreadSafeFunction>(
          Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "asdkit-step", 0, 1));
    }
    auto trainer = trainer_;
    return start_job<EpochOutput>(
        env, Napi::Value(), device, {},
        [trainer, data, epoch, on_step, guard](const RunContext& ctx) mutable {
          auto claimed = std::move(guard);  // released when the work ends, before the promise settles
          struct Release {
            std::shared_ptr<Napi::ThreadSafeFunction> f;
            ~Release() {
              if (f) f->Release();
            }
          } release{on_step};
          EpochOutput out;
          out.result = trainer->run_epoch(*data, epoch, ctx, [&](const train::StepMetrics& m) {
            out.steps.push_back(m);
            if (on_step) {
              auto* copy = new train::StepMetrics(m);
              if (on_step->NonBlockingCall(copy, [](Napi::Env e, Napi::Function fn, train::StepMetrics* s) {
                    fn.Call({metrics_to_js(e, *s)});
                    delete s;
                  }) != napi_ok) {
                delete copy;
              }
            }
          });
          out.global_step = trainer->global_step();
          return out;
        },
        [](Napi::Env e, EpochOutput& out) -> Napi::Value {
          auto r = Napi::Object::New(e);
          r.Set("steps", static_cast<double>(out.result.steps));
          r.Set("lastLoss", out.result.last_loss);
          r.Set("nonFinite", out.result.non_finite);
          r.Set("globalStep", static_cast<double>(out.global_step));
          auto arr = Napi::Array::New(e, out.steps.size());
          for (size_t i = 0; i < out.steps.size(); ++i) arr.Set(static_cast<uint32_t>(i), metrics_to_js(e, out.steps[i]));
          r.Set("metrics", arr);
          return r;
        });
  }

  // embedFiles(paths, {length, batchSize, device, ioThreads}, onProgress?) → {promise: {embed}, cancel}
  Napi::Value embed_files(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto paths = strings_from_js(info[0], "paths");
    auto o = get_options(info, 1);
    extract::ExtractOptions eo;
    eo.length = get_int(o, "length", model_->config().extractor.sec_samples);
    eo.batch_size = get_int(o, "batchSize", 64);
    eo.io_threads = static_cast<int>(get_int(o, "ioThreads", 2));
    torch::Device device = torch::kCPU;
    try {
      device = parse_device(get_string(o, "device", "cpu"));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    auto guard = claim(env);
    auto model = model_;
    return start_job<extract::Outputs>(
        env, info.Length() > 2 ? info[2] : env.Undefined(), device, {},
        [model, paths = std::move(paths), eo, guard](const RunContext& ctx) mutable {
          auto claimed = std::move(guard);
          extract::ModelFrontend f(model);
          return extract::extract_files(f, paths, eo, ctx);
        },
        named_tensors_to_js);
  }

  // embed(wave {data, shape: [B, L]}, {device, batchSize}) → {promise: {embed}, cancel}
  Napi::Value embed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    torch::Tensor wave = tensor_from_js(info[0], "wave");
    const int64_t L = model_->config().extractor.sec_samples;
    if (wave.scalar_type() != torch::kFloat32 || wave.dim() != 2 || wave.size(1) != L) {
      throw Napi::TypeError::New(env, "wave must be float32 with shape [batch, " + std::to_string(L) + "]");
    }
    auto o = get_options(info, 1);
    const int64_t bs = get_int(o, "batchSize", 64);
    torch::Device device = torch::kCPU;
    try {
      device = parse_device(get_string(o, "device", "cpu"));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    auto guard = claim(env);
    auto model = model_;
    return start_job<extract::Outputs>(
        env, info.Length() > 2 ? info[2] : env.Undefined(), device, {info[0]},
        [model, wave, bs, guard](const RunContext& ctx) mutable {
          auto claimed = std::move(guard);
          torch::NoGradGuard ng;
          model->to(ctx.device);
          model->eval();
          std::vector<torch::Tensor> parts;
          for (int64_t b = 0; b < wave.size(0); b += bs) {
            ctx.check();
            parts.push_back(model->embed(wave.slice(0, b, std::min(wave.size(0), b + bs)).to(ctx.device)).to(torch::kCPU));
            ctx.report(std::min(wave.size(0), b + bs), wave.size(0));
          }
          return extract::Outputs{{"embed", parts.empty() ? torch::zeros({0, model->config().extractor.embed_size()}) : torch::cat(parts)}};
        },
        named_tensors_to_js);
  }

  train::DisModel model_{nullptr};
  std::shared_ptr<train::Trainer> trainer_;
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = ModelWrap::define(env);
  auto* ref = new Napi::FunctionReference(Napi::Persistent(ctor));
  env.SetInstanceData(ref);
  exports.Set("createDisModel", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                auto* ctor_ref = info.Env().GetInstanceData<Napi::FunctionReference>();
                return ctor_ref->New({info.Length() > 0 ? info[0] : info.Env().Undefined()});
              }, "createDisModel"));
}

}  // namespace asd::addon
