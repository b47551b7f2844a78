// Trainable-model surface: `createDisModel(config)` (MultiResNet + heads), `createAeModel(config)`
// and `createPretrainedModel(config)` (BEATs / EAT, frozen or with LoRA)
// return a handle that trains one epoch at a time, extracts from files or waveforms, and
// exports/imports its state as named tensors (TypeScript writes those to safetensors
// checkpoints). One job at a time per model.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "async_job.h"
#include "extract/extract.h"
#include "audio/wav.h"
#include "extract/model_frontend.h"
#include "pretrained_config.h"
#include "train/ae_model.h"
#include "train/dis_model.h"
#include "train/pretrained_model.h"
#include "train/vector_source.h"
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

train::HeadConfig head_from_js(const Napi::Object& o) {
  Napi::Value hv = o.Get("head");
  Napi::Object h = hv.IsObject() ? hv.As<Napi::Object>() : Napi::Object::New(o.Env());
  train::HeadConfig c;
  c.type = get_string(h, "type", c.type);
  c.n_subclusters = get_int(h, "nSubclusters", c.n_subclusters);
  c.subspace_dim = get_int(h, "subspaceDim", c.subspace_dim);
  c.margin = get_number(h, "margin", c.margin);
  c.scale = get_number(h, "scale", c.scale);
  c.trainable = get_bool(h, "trainable", c.trainable);
  c.dynamic = get_bool(h, "dynamic", c.dynamic);
  return c;
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
  c.head = head_from_js(o);
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

train::AeModelConfig ae_config_from_js(const Napi::Object& o) {
  train::AeModelConfig c;
  c.n_frames = get_int(o, "nFrames", c.n_frames);
  c.h_dim = get_int(o, "hDim", c.h_dim);
  c.z_dim = get_int(o, "zDim", c.z_dim);
  c.stft.n_fft = get_int(o, "nFft", c.stft.n_fft);
  c.stft.hop_length = get_int(o, "hopLength", c.stft.hop_length);
  c.stft.n_mels = get_int(o, "nMels", *c.stft.n_mels);
  c.stft.power = get_number(o, "power", c.stft.power);
  c.stft.f_min = get_number(o, "fMin", *c.stft.f_min);
  c.stft.f_max = get_number(o, "fMax", *c.stft.f_max);
  return c;
}

// `precision`: "fp32" (default) or "bf16" (autocast on CUDA).
bool precision_from_js(const Napi::Object& o) {
  const std::string p = get_string(o, "precision", "fp32");
  if (p != "fp32" && p != "bf16") throw Napi::TypeError::New(o.Env(), "precision must be \"fp32\" or \"bf16\"");
  return p == "bf16";
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
  t.bf16 = precision_from_js(o);
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
    return DefineClass(env, "Model",
                       {InstanceMethod("counts", &ModelWrap::counts), InstanceMethod("stateDict", &ModelWrap::state_dict),
                        InstanceMethod("optimizerState", &ModelWrap::optimizer_state),
                        InstanceMethod("loadState", &ModelWrap::load_state), InstanceMethod("loadEncoder", &ModelWrap::load_encoder), InstanceMethod("trainEpoch", &ModelWrap::train_epoch),
                        InstanceMethod("embedFiles", &ModelWrap::embed_files), InstanceMethod("embed", &ModelWrap::embed),
                        InstanceMethod("prepareVectors", &ModelWrap::prepare_vectors)});
  }

  // new Model(config, kind): kind "dis" (MultiResNet + heads), "ae" or "pretrained" (BEATs / EAT).
  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "the model config must be an object");
    auto cfg = info[0].As<Napi::Object>();
    kind_ = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "dis";
    ae_kind_ = kind_ == "ae";
    const int64_t seed = get_int(cfg, "seed", 0);
    auto dis_cfg = kind_ == "dis" ? config_from_js(cfg) : train::DisModelConfig{};
    auto ae_cfg = ae_kind_ ? ae_config_from_js(cfg) : train::AeModelConfig{};
    auto pre_cfg = kind_ == "pretrained" ? pretrained_config_from_js(cfg, head_from_js(cfg)) : train::PretrainedModelConfig{};
    try {
      std::lock_guard<std::mutex> lock(g_init_mutex);
      torch::manual_seed(static_cast<uint64_t>(seed));
      if (ae_kind_) {
        ae_ = train::AeModel(ae_cfg);
        model_ = ae_.ptr();
        frontend_ = std::make_shared<train::AeFrontend>(ae_);
        embed_size_ = ae_cfg.z_dim;
      } else if (kind_ == "pretrained") {
        pre_ = train::PretrainedModel(pre_cfg);
        model_ = pre_.ptr();
        frontend_ = std::make_shared<extract::ModelFrontend<train::PretrainedModel>>(pre_);
        sec_samples_ = pre_cfg.sec_samples;
        embed_size_ = pre_->extractor->embed_size();
        n_classes_ = pre_cfg.n_classes;
      } else {
        dis_ = train::DisModel(dis_cfg);
        model_ = dis_.ptr();
        frontend_ = std::make_shared<extract::ModelFrontend<train::DisModel>>(dis_);
        sec_samples_ = dis_cfg.extractor.sec_samples;
        embed_size_ = dis_cfg.extractor.embed_size();
        n_classes_ = dis_cfg.n_classes;
      }
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
    o.Set("embedSize", static_cast<double>(embed_size_));
    return o;
  }

  // stateDict({trainableOnly, buffers}?): parameters then buffers, as CPU copies (JS must not see
  // later in-place updates). trainableOnly keeps the parameters that require gradients (ASDKit's
  // save_only_trainable) and the buffers only when `buffers` is true.
  Napi::Value state_dict(const Napi::CallbackInfo& info) {
    auto guard = claim(info.Env());
    auto opts = get_options(info, 0);
    const bool trainable_only = get_bool(opts, "trainableOnly", false);
    const bool buffers = get_bool(opts, "buffers", !trainable_only);
    auto o = Napi::Object::New(info.Env());
    torch::NoGradGuard ng;
    for (const auto& kv : model_->named_parameters()) {
      if (trainable_only && !kv.value().requires_grad()) continue;
      o.Set(kv.key(), tensor_to_js(info.Env(), kv.value().detach().to(torch::kCPU, false, true)));
    }
    if (buffers) {
      for (const auto& kv : model_->named_buffers()) o.Set(kv.key(), tensor_to_js(info.Env(), kv.value().to(torch::kCPU, false, true)));
    }
    return o;
  }

  // loadEncoder(tensors): pretrained models only — the official encoder weights (§5.3 names).
  Napi::Value load_encoder(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (kind_ != "pretrained") throw Napi::Error::New(env, "loadEncoder is for pretrained (BEATs / EAT) models");
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "loadEncoder(tensors): tensors must be an object");
    auto guard = claim(env);
    auto given = info[0].As<Napi::Object>();
    auto keys = given.GetPropertyNames();
    std::map<std::string, torch::Tensor> sd;
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
      sd[k] = tensor_from_js(given.Get(k), k);
    }
    try {
      pre_->load_encoder_state(sd);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return env.Undefined();
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

  // loadState(tensors, optimizer?: { tensors, globalStep, options } | null, {partial}?) — strict
  // unless partial: every parameter and buffer must be given with its shape, and nothing else.
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
    const bool partial = get_bool(get_options(info, 2), "partial", false);
    for (const auto& [k, t] : own) {
      if (!partial && !in.count(k)) missing.push_back(k);
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

  // trainEpoch(data, {epoch, device, lr, …}, onStep?) → {promise, cancel}. data: clip models
  // {paths, labels, numClasses, length}; the AE {} (trains on the prepared vectors).
  Napi::Value train_epoch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "trainEpoch(data, options): data must be an object");
    auto d = info[0].As<Napi::Object>();
    auto data = std::make_shared<train::TrainData>();
    auto o = get_options(info, 1);
    const int64_t epoch = get_int(o, "epoch", 0);
    const torch::Device device = get_device(o);
    torch::Tensor vectors = vectors_;
    if (ae_kind_) {
      if (!vectors.defined()) throw Napi::Error::New(env, "trainEpoch: no training vectors (call prepareVectors first)");
    } else {
      data->paths = strings_from_js(d.Get("paths"), "data.paths");
      torch::Tensor labels = tensor_from_js(d.Get("labels"), "data.labels").to(torch::kLong);
      data->labels.assign(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
      data->n_classes = get_int(d, "numClasses", 0);
      data->length = get_int(d, "length", sec_samples_);
      try {
        data->validate();
      } catch (const std::exception& e) {
        throw Napi::Error::New(env, e.what());
      }
      if (data->n_classes != n_classes_) {
        throw Napi::Error::New(env, "data.numClasses (" + std::to_string(data->n_classes) + ") differs from the model's (" +
                                        std::to_string(n_classes_) + ")");
      }
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
        [trainer, data, vectors, epoch, on_step, guard](const RunContext& ctx) mutable {
          auto claimed = std::move(guard);  // released when the work ends, before the promise settles
          struct Release {
            std::shared_ptr<Napi::ThreadSafeFunction> f;
            ~Release() {
              if (f) f->Release();
            }
          } release{on_step};
          EpochOutput out;
          std::unique_ptr<train::BatchSource> source;
          const auto& lo = trainer->options().loader;
          if (vectors.defined()) source = std::make_unique<train::VectorSource>(vectors, lo.batch_size, lo.seed, epoch);
          else source = std::make_unique<train::EpochLoader>(*data, lo, epoch, ctx.cancel);
          out.result = trainer->run_epoch(*source, epoch, ctx, [&](const train::StepMetrics& m) {
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
    eo.length = get_int(o, "length", sec_samples_);
    if (!ae_kind_ && eo.length != sec_samples_) {
      throw Napi::Error::New(env, "this model takes clips of exactly " + std::to_string(sec_samples_) + " samples");
    }
    eo.batch_size = get_int(o, "batchSize", 64);
    eo.io_threads = static_cast<int>(get_int(o, "ioThreads", 2));
    eo.bf16 = precision_from_js(o);
    const torch::Device device = get_device(o);
    auto guard = claim(env);
    auto frontend = frontend_;
    return start_job<extract::Outputs>(
        env, info.Length() > 2 ? info[2] : env.Undefined(), device, {},
        [frontend, paths = std::move(paths), eo, guard](const RunContext& ctx) mutable {
          auto claimed = std::move(guard);
          return extract::extract_files(*frontend, paths, eo, ctx);
        },
        named_tensors_to_js);
  }

  // embed(wave {data, shape: [B, L]}, {device, batchSize}) → {promise: {embed, …}, cancel}
  Napi::Value embed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    torch::Tensor wave = tensor_from_js(info[0], "wave");
    if (wave.scalar_type() != torch::kFloat32 || wave.dim() != 2 || (!ae_kind_ && wave.size(1) != sec_samples_)) {
      throw Napi::TypeError::New(env, "wave must be float32 with shape [batch, " + (ae_kind_ ? std::string("samples") : std::to_string(sec_samples_)) + "]");
    }
    auto o = get_options(info, 1);
    extract::ExtractOptions eo;
    eo.batch_size = get_int(o, "batchSize", 64);
    eo.bf16 = precision_from_js(o);
    const torch::Device device = get_device(o);
    auto guard = claim(env);
    auto frontend = frontend_;
    return start_job<extract::Outputs>(
        env, info.Length() > 2 ? info[2] : env.Undefined(), device, {info[0]},
        [frontend, wave, eo, guard](const RunContext& ctx) mutable {
          auto claimed = std::move(guard);
          return extract::forward_batches(*frontend, wave, eo, ctx);
        },
        named_tensors_to_js);
  }

  // prepareVectors(paths, {ioThreads}) → {promise: {rows, dim}, cancel} — AE only: every clip is
  // decoded whole (no crop or tiling, spec §3.1) and its frame vectors are kept for training.
  Napi::Value prepare_vectors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ae_kind_) throw Napi::Error::New(env, "prepareVectors is for AE models");
    auto paths = strings_from_js(info[0], "paths");
    auto o = get_options(info, 1);
    const int threads = std::max<int>(1, static_cast<int>(get_int(o, "ioThreads", 2)));
    auto guard = claim(env);
    auto ae = ae_;
    auto job = start_job<torch::Tensor>(
        env, info.Length() > 2 ? info[2] : env.Undefined(), torch::kCPU, {info.This()},
        [ae, paths, threads, guard](const RunContext& ctx) mutable -> torch::Tensor {
          auto claimed = std::move(guard);
          if (paths.empty()) throw std::invalid_argument("prepareVectors: no clips");
          torch::NoGradGuard ng;
          ae->to(torch::kCPU);
          std::vector<torch::Tensor> parts(paths.size());
          std::atomic<size_t> next{0}, done{0};
          std::vector<std::exception_ptr> errors(paths.size());
          auto work = [&] {
            for (size_t i; (i = next++) < paths.size();) {
              if (ctx.cancel && ctx.cancel->cancelled()) return;
              try {
                parts[i] = ae->vectors(audio::read_wav(paths[i]).unsqueeze(0));
              } catch (...) {
                errors[i] = std::current_exception();
              }
              ctx.report(static_cast<int64_t>(++done), static_cast<int64_t>(paths.size()));
            }
          };
          std::vector<std::thread> pool;
          for (int k = 1; k < threads; ++k) pool.emplace_back(work);
          work();
          for (auto& t : pool) t.join();
          ctx.check();
          for (auto& e : errors) {
            if (e) std::rethrow_exception(e);
          }
          return torch::cat(parts);
        },
        [this](Napi::Env e, torch::Tensor& table) -> Napi::Value {
          vectors_ = table;  // on the JS thread, once the job has finished
          auto r = Napi::Object::New(e);
          r.Set("rows", static_cast<double>(table.size(0)));
          r.Set("dim", static_cast<double>(table.size(1)));
          return r;
        });
    return job;
  }

  std::string kind_;
  bool ae_kind_ = false;
  int64_t n_classes_ = 0;
  train::DisModel dis_{nullptr};
  train::PretrainedModel pre_{nullptr};
  train::AeModel ae_{nullptr};
  std::shared_ptr<train::TrainableImpl> model_;
  std::shared_ptr<extract::Frontend> frontend_;
  int64_t sec_samples_ = 0;  // clip models take exactly this many samples
  int64_t embed_size_ = 0;
  torch::Tensor vectors_;    // AE training table
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
                return ctor_ref->New({info.Length() > 0 ? info[0] : info.Env().Undefined(), Napi::String::New(info.Env(), "dis")});
              }, "createDisModel"));
  exports.Set("createPretrainedModel", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                auto* ctor_ref = info.Env().GetInstanceData<Napi::FunctionReference>();
                return ctor_ref->New({info.Length() > 0 ? info[0] : info.Env().Undefined(), Napi::String::New(info.Env(), "pretrained")});
              }, "createPretrainedModel"));
  exports.Set("createAeModel", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                auto* ctor_ref = info.Env().GetInstanceData<Napi::FunctionReference>();
                return ctor_ref->New({info.Length() > 0 ? info[0] : info.Env().Undefined(), Napi::String::New(info.Env(), "ae")});
              }, "createAeModel"));
}

}  // namespace asd::addon
