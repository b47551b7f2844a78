// Trainable-model surface: `createDisModel(config)` (MultiResNet + heads), `createAeModel(config)`
// (the AE baseline) and `createPretrainedModel(config)` (BEATs / EAT, frozen or with LoRA) each
// return their own wrapper over ModelWrap (model_wrap.h): train one epoch at a time, extract
// from files or waveforms, export/import state as named tensors (TypeScript writes those to
// safetensors checkpoints), dispose.
#include <memory>
#include <mutex>

#include "extract/model_frontend.h"
#include "model_wrap.h"
#include "pretrained_config.h"
#include "surfaces.h"
#include "train/ae_model.h"
#include "train/pretrained_model.h"
#include "train/vector_source.h"

namespace asd::addon {

namespace {

Napi::Object config_arg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) fail(info.Env(), ErrorKind::kType, "the model config must be an object");
  return info[0].As<Napi::Object>();
}

// Model construction draws from torch's global generator: one at a time, seeded.
template <class F>
auto seeded(const Napi::Object& cfg, F&& make) {
  static std::mutex mutex;
  const int64_t seed = get_int(cfg, "seed", 0);
  std::lock_guard<std::mutex> lock(mutex);
  torch::manual_seed(static_cast<uint64_t>(seed));
  return make();
}

// The clip models (DisModel, PretrainedModel) train on labelled clips.
template <class Derived>
class ClipModelWrap : public ModelWrap<Derived> {
 protected:
  using ModelWrap<Derived>::ModelWrap;

  // trainEpoch({paths, labels, numClasses, length?, channel?}, {epoch, device, …}, onStep?) → {promise, cancel}
  Napi::Value train_epoch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) fail(env, ErrorKind::kType, "trainEpoch(data, options): data must be an object");
    auto d = info[0].As<Napi::Object>();
    auto data = std::make_shared<train::TrainData>();
    data->paths = strings_from_js(d.Get("paths"), "data.paths");
    const torch::Tensor labels = tensor_from_js(d.Get("labels"), "data.labels").to(torch::kLong);
    data->labels.assign(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
    data->n_classes = get_int(d, "numClasses", 0);
    data->length = get_int(d, "length", this->clip_samples_);
    data->channel = channel_from_js(d);
    this->check_channel(env, data->channel);
    data->validate();
    if (data->n_classes != n_classes_) {
      fail(env, ErrorKind::kValue, "data.numClasses (" + std::to_string(data->n_classes) + ") differs from the model's (" +
                                       std::to_string(n_classes_) + ")");
    }
    return this->start_epoch(info, [data](const train::LoaderOptions& lo, int64_t epoch, const RunContext& ctx) {
      return std::unique_ptr<train::BatchSource>(std::make_unique<train::EpochLoader>(*data, lo, epoch, ctx.cancel));
    });
  }

  int64_t n_classes_ = 0;
};

class DisModelWrap : public ClipModelWrap<DisModelWrap> {
 public:
  static constexpr const char* kName = "DisModel";
  static Napi::Function define(Napi::Env env) {
    auto methods = common_methods();
    methods.push_back(method<&DisModelWrap::train_epoch>("trainEpoch"));
    return DefineClass(env, kName, methods);
  }

  explicit DisModelWrap(const Napi::CallbackInfo& info) : ClipModelWrap(info) {
    mapped(info.Env(), [&] {
      auto cfg = config_arg(info);
      const auto c = dis_config_from_js(cfg);
      auto model = seeded(cfg, [&] { return train::DisModel(c); });
      n_classes_ = c.n_classes;
      clip_channels_ = c.channels;
      adopt(info.Env(), model.ptr(), std::make_shared<extract::ModelFrontend<train::DisModel>>(model), c.embed_size(),
            c.extractor.sec_samples);
    });
  }
};

class PretrainedModelWrap : public ClipModelWrap<PretrainedModelWrap> {
 public:
  static constexpr const char* kName = "PretrainedModel";
  static Napi::Function define(Napi::Env env) {
    auto methods = common_methods();
    methods.push_back(method<&PretrainedModelWrap::train_epoch>("trainEpoch"));
    methods.push_back(method<&PretrainedModelWrap::load_encoder>("loadEncoder"));
    return DefineClass(env, kName, methods);
  }

  explicit PretrainedModelWrap(const Napi::CallbackInfo& info) : ClipModelWrap(info) {
    mapped(info.Env(), [&] {
      auto cfg = config_arg(info);
      const auto c = pretrained_config_from_js(cfg, head_config_from_js(cfg));
      pre_ = seeded(cfg, [&] { return train::PretrainedModel(c); });
      n_classes_ = c.n_classes;
      clip_channels_ = c.channels;
      adopt(info.Env(), pre_.ptr(), std::make_shared<extract::ModelFrontend<train::PretrainedModel>>(pre_),
            pre_->embed_size(), c.sec_samples);
    });
  }

 private:
  // loadEncoder(tensors): the official encoder weights by their checkpoint names (spec §5.3).
  Napi::Value load_encoder(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto sd = tensor_map_from_js(info.Length() > 0 ? info[0] : env.Undefined(), "loadEncoder(tensors): tensors");
    auto guard = claim(env);
    pre_->load_encoder_state(sd);
    sync_memory(env);  // the positions table may have been replaced by one of another size
    return env.Undefined();
  }

  void free_extra() override { pre_ = train::PretrainedModel(nullptr); }

  train::PretrainedModel pre_{nullptr};
};

class AeModelWrap : public ModelWrap<AeModelWrap> {
 public:
  static constexpr const char* kName = "AeModel";
  static Napi::Function define(Napi::Env env) {
    auto methods = common_methods();
    methods.push_back(method<&AeModelWrap::train_epoch>("trainEpoch"));
    methods.push_back(method<&AeModelWrap::prepare_vectors>("prepareVectors"));
    return DefineClass(env, kName, methods);
  }

  explicit AeModelWrap(const Napi::CallbackInfo& info) : ModelWrap(info) {
    mapped(info.Env(), [&] {
      auto cfg = config_arg(info);
      const auto c = ae_config_from_js(cfg);
      ae_ = seeded(cfg, [&] { return train::AeModel(c); });
      if (c.both) clip_channels_ = train::ClipChannels::kBoth;  // [near | far] vectors: pairs only
      adopt(info.Env(), ae_.ptr(), std::make_shared<train::AeFrontend>(ae_), c.z_dim, 0);
    });
  }

 private:
  // trainEpoch(data (ignored), {epoch, device, …}, onStep?): one epoch over the prepared vectors.
  Napi::Value train_epoch(const Napi::CallbackInfo& info) {
    if (!vectors_.defined()) fail(info.Env(), ErrorKind::kState, "trainEpoch: no training vectors (call prepareVectors first)");
    torch::Tensor vectors = vectors_;
    return start_epoch(info, [vectors](const train::LoaderOptions& lo, int64_t epoch, const RunContext&) {
      return std::unique_ptr<train::BatchSource>(std::make_unique<train::VectorSource>(vectors, lo.batch_size, lo.seed, epoch));
    });
  }

  // prepareVectors(paths, {ioThreads, channel}, onProgress?) → {promise: {rows, dim}, cancel}: the
  // training table (train::training_vectors), kept by the model.
  Napi::Value prepare_vectors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto paths = strings_from_js(info.Length() > 0 ? info[0] : env.Undefined(), "paths");
    const auto o = get_options(info, 1);
    const int threads = static_cast<int>(get_int(o, "ioThreads", train::LoaderOptions{}.io_threads));
    const audio::Channel channel = channel_from_js(o);
    JobOptions jo;
    jo.on_progress = info.Length() > 2 ? info[2] : env.Undefined();
    jo.inputs = {info.This()};
    auto guard = claim(env);
    auto ae = ae_;
    return start_job<torch::Tensor>(
        env, jo,
        [ae, paths = std::move(paths), threads, channel, guard](const JobContext& ctx) mutable {
          return train::training_vectors(*ae, paths, threads, ctx, channel);
        },
        [this](Napi::Env e, torch::Tensor& table) -> Napi::Value {
          if (!disposed_) {
            vectors_ = table;  // on the JS thread, once the job has finished
            sync_memory(e);
          }
          auto r = Napi::Object::New(e);
          r.Set("rows", static_cast<double>(table.size(0)));
          r.Set("dim", static_cast<double>(table.size(1)));
          return r;
        });
  }

  int64_t extra_bytes() const override { return vectors_.defined() ? static_cast<int64_t>(vectors_.nbytes()) : 0; }
  void free_extra() override {
    ae_ = train::AeModel(nullptr);
    vectors_ = torch::Tensor();
  }

  train::AeModel ae_{nullptr};
  torch::Tensor vectors_;  // the training table
};

struct ModelClasses {
  Napi::FunctionReference dis, ae, pretrained;
};

Napi::Value create(const Napi::CallbackInfo& info, Napi::FunctionReference ModelClasses::*which) {
  auto* classes = info.Env().GetInstanceData<ModelClasses>();
  return (classes->*which).New({info.Length() > 0 ? info[0] : info.Env().Undefined()});
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  auto* classes = new ModelClasses{Napi::Persistent(DisModelWrap::define(env)), Napi::Persistent(AeModelWrap::define(env)),
                                   Napi::Persistent(PretrainedModelWrap::define(env))};
  env.SetInstanceData(classes);
  export_function(env, exports, "createDisModel", [](const Napi::CallbackInfo& info) { return create(info, &ModelClasses::dis); });
  export_function(env, exports, "createAeModel", [](const Napi::CallbackInfo& info) { return create(info, &ModelClasses::ae); });
  export_function(env, exports, "createPretrainedModel",
                  [](const Napi::CallbackInfo& info) { return create(info, &ModelClasses::pretrained); });
}

}  // namespace asd::addon
