// The base of the model wrappers (model_api.cc: DisModel, AeModel, PretrainedModel): what every
// model kind shows JS — counts, state I/O, extraction, dispose — over one TrainableImpl, the
// frontend that extracts with it and a trainer made on first use. Every method goes through
// `guarded`: C++ errors map once (errors.h) and a disposed model throws.
//
// One job at a time per model: a job claims the model when it starts (a busy model is an
// ASDKIT_BUSY error) and lets go when its work ends, before its promise settles. The synchronous
// state reads and writes claim it too, so none of them races a running epoch.
//
// dispose() drops the module, trainer (AdamW state), frontend and vectors at once and takes their
// bytes back from V8's external-memory count (they are added when the model is built and
// re-counted after loads and jobs; info().models mirrors the count). Disposing while a job runs does not wait and does not cancel:
// the model is marked disposed, the job keeps its own references and finishes (its promise
// settles as usual), and the memory goes when the job ends. Later calls throw ASDKIT_DISPOSED;
// a second dispose() does nothing.
#pragma once

#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "async_job.h"
#include "errors.h"
#include "extract/extract.h"
#include "model_config.h"
#include "model_state.h"
#include "tensor_bridge.h"
#include "train/dis_model.h"
#include "train/trainer.h"

namespace asd::addon {

template <class Derived>
class ModelWrap : public Napi::ObjectWrap<Derived> {
 public:
  ~ModelWrap() override {
    if (adopted_ && !disposed_) account_model_memory(this->Env(), -reported_bytes_, -1);
  }

 protected:
  using Descriptor = Napi::ClassPropertyDescriptor<Derived>;
  // An epoch's batches, built on the worker thread.
  using SourceFactory =
      std::function<std::unique_ptr<train::BatchSource>(const train::LoaderOptions&, int64_t epoch, const RunContext&)>;

  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {}

  template <auto M, bool kAlive = true>
  Napi::Value guarded(const Napi::CallbackInfo& info) {
    return mapped(info.Env(), [&]() -> Napi::Value {
      if (kAlive && disposed_) fail(info.Env(), ErrorKind::kDisposed, std::string("this ") + Derived::kName + " has been disposed");
      return (static_cast<Derived*>(this)->*M)(info);
    });
  }
  template <auto M, bool kAlive = true>
  static Descriptor method(const char* name) {
    Napi::Value (Derived::*fn)(const Napi::CallbackInfo&) = &ModelWrap::template guarded<M, kAlive>;
    return Napi::ObjectWrap<Derived>::InstanceMethod(name, fn);
  }
  static std::vector<Descriptor> common_methods() {
    return {method<&ModelWrap::counts>("counts"),       method<&ModelWrap::state_dict>("stateDict"),
            method<&ModelWrap::optimizer_state>("optimizerState"), method<&ModelWrap::load_state>("loadState"),
            method<&ModelWrap::embed_files>("embedFiles"), method<&ModelWrap::embed>("embed"),
            method<&ModelWrap::dispose, false>("dispose")};
  }

  // The derived constructor's last step. clip_samples: the exact clip length, or 0 for any length.
  void adopt(Napi::Env env, std::shared_ptr<train::TrainableImpl> model, std::shared_ptr<extract::Frontend> frontend,
             int64_t embed_size, int64_t clip_samples) {
    model_ = std::move(model);
    frontend_ = std::move(frontend);
    embed_size_ = embed_size;
    clip_samples_ = clip_samples;
    adopted_ = true;
    account_model_memory(env, 0, 1);
    sync_memory(env);
  }

  std::shared_ptr<void> claim(Napi::Env env) {
    bool expected = false;
    if (!busy_->compare_exchange_strong(expected, true)) {
      fail(env, ErrorKind::kBusy, std::string("this ") + Derived::kName + " is busy: a training or embedding job is still running");
    }
    auto flag = busy_;
    return std::shared_ptr<void>(nullptr, [flag](void*) { flag->store(false); });
  }

  // Brings V8's external-memory count to the bytes held now (no-op once disposed).
  void sync_memory(Napi::Env env) {
    if (disposed_) return;
    int64_t bytes = train::count_parameters(*model_).bytes + extra_bytes();
    if (trainer_) bytes += trainer_->optimizer().state_bytes();
    account_model_memory(env, bytes - reported_bytes_, 0);
    reported_bytes_ = bytes;
  }
  virtual int64_t extra_bytes() const { return 0; }  // e.g. the AE's training vectors
  virtual void free_extra() {}                        // drops the derived class's own references

  void ensure_trainer(const Napi::Object& options) {
    if (!trainer_) trainer_ = std::make_shared<train::Trainer>(model_, train_options_from_js(options));
  }

  // trainEpoch's job: info = (data, {epoch, device, …train options}, onStep?) → {promise, cancel}.
  // Every onStep call happens before the promise settles (one queue, async_job.h).
  Napi::Value start_epoch(const Napi::CallbackInfo& info, SourceFactory make_source) {
    Napi::Env env = info.Env();
    auto o = get_options(info, 1);
    const int64_t epoch = get_int(o, "epoch", 0);
    JobOptions jo;
    jo.device = get_device(o);
    jo.on_event = info.Length() > 2 ? info[2] : env.Undefined();
    jo.inputs = {info.This()};
    auto guard = claim(env);
    ensure_trainer(o);
    auto trainer = trainer_;
    return start_job<EpochOutput>(
        env, jo,
        [trainer, epoch, guard, make_source = std::move(make_source)](const JobContext& ctx) {
          EpochOutput out;
          auto source = make_source(trainer->options().loader, epoch, ctx);
          out.result = trainer->run_epoch(*source, epoch, ctx, [&](const train::StepMetrics& m) {
            out.steps.push_back(m);
            ctx.emit([m](Napi::Env e) -> Napi::Value { return metrics_to_js(e, m); });
          });
          out.global_step = trainer->global_step();
          return out;
        },
        [this](Napi::Env e, EpochOutput& out) -> Napi::Value {
          sync_memory(e);  // the AdamW moments appear with the first step
          return epoch_to_js(e, out);
        });
  }

  std::shared_ptr<train::TrainableImpl> model_;
  std::shared_ptr<extract::Frontend> frontend_;
  std::shared_ptr<train::Trainer> trainer_;
  int64_t embed_size_ = 0;
  int64_t clip_samples_ = 0;
  // How the model takes the channels (set by the derived constructor). Unset: a one-stream AE,
  // whose frontend takes one channel or a [near, far] pair to subtract with the same weights.
  std::optional<train::ClipChannels> clip_channels_;
  bool disposed_ = false;

  // A call's channel must give the clips the model was built for: subtract → subtract, both →
  // both, a one-channel model → near, far or mean.
  void check_channel(Napi::Env env, audio::Channel c) const {
    if (!clip_channels_) return;
    const auto need = *clip_channels_;
    const bool ok = need == train::ClipChannels::kSubtract ? c == audio::Channel::kSubtract
                    : need == train::ClipChannels::kBoth   ? c == audio::Channel::kBoth
                                                           : !audio::keeps_two_channels(c);
    if (ok) return;
    const char* built = need == train::ClipChannels::kSubtract ? "channel subtract" : need == train::ClipChannels::kBoth ? "channel both" : "one channel (near, far or mean)";
    fail(env, ErrorKind::kValue, std::string("this ") + Derived::kName + " was built for " + built + "; the call's channel is " + audio::channel_name(c));
  }

 private:
  Napi::Value counts(const Napi::CallbackInfo& info) {
    const auto c = train::count_parameters(*model_);
    auto o = Napi::Object::New(info.Env());
    o.Set("trainable", static_cast<double>(c.trainable));
    o.Set("frozen", static_cast<double>(c.frozen));
    o.Set("buffers", static_cast<double>(c.buffers));
    o.Set("embedSize", static_cast<double>(embed_size_));
    return o;
  }

  // stateDict({trainableOnly, buffers}?) — see state_to_js.
  Napi::Value state_dict(const Napi::CallbackInfo& info) {
    auto guard = claim(info.Env());
    auto opts = get_options(info, 0);
    const bool trainable_only = get_bool(opts, "trainableOnly", false);
    return state_to_js(info.Env(), *model_, trainable_only, get_bool(opts, "buffers", !trainable_only));
  }

  // optimizerState() → {globalStep, tensors}: the AdamW state by parameter name.
  Napi::Value optimizer_state(const Napi::CallbackInfo& info) {
    auto guard = claim(info.Env());
    auto o = Napi::Object::New(info.Env());
    o.Set("globalStep", static_cast<double>(trainer_ ? trainer_->global_step() : 0));
    auto tensors = Napi::Object::New(info.Env());
    if (trainer_) {
      for (const auto& [k, t] : trainer_->optimizer().state()) tensors.Set(k, tensor_to_js(info.Env(), t.to(torch::kCPU, false, true)));
    }
    o.Set("tensors", tensors);
    return o;
  }

  // loadState(tensors, optimizer?: {tensors, globalStep, options} | null, {partial}?)
  Napi::Value load_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) fail(env, ErrorKind::kType, "loadState(tensors): tensors must be an object");
    auto guard = claim(env);
    load_state_from_js(env, *model_, info[0].As<Napi::Object>(), get_bool(get_options(info, 2), "partial", false));
    if (info.Length() > 1 && info[1].IsObject()) {
      auto opt = info[1].As<Napi::Object>();
      Napi::Value ov = opt.Get("options");
      ensure_trainer(ov.IsObject() ? ov.As<Napi::Object>() : Napi::Object::New(env));
      std::map<std::string, torch::Tensor> st;
      if (!opt.Get("tensors").IsUndefined()) {
        for (auto& [k, t] : tensor_map_from_js(opt.Get("tensors"), "optimizer.tensors")) st[k] = t.clone();
      }
      trainer_->optimizer().load_state(st);
      trainer_->set_global_step(get_int(opt, "globalStep", 0));
    }
    sync_memory(env);
    return env.Undefined();
  }

  // embedFiles(paths, {length, batchSize, ioThreads, channel, device, precision}, onProgress?) → {promise, cancel}
  Napi::Value embed_files(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto paths = strings_from_js(info.Length() > 0 ? info[0] : env.Undefined(), "paths");
    auto o = get_options(info, 1);
    extract::ExtractOptions eo;
    eo.length = get_int(o, "length", clip_samples_);
    if (clip_samples_ > 0 && eo.length != clip_samples_) {
      fail(env, ErrorKind::kValue, std::string("this ") + Derived::kName + " takes clips of exactly " + std::to_string(clip_samples_) +
                                       " samples, got length " + std::to_string(eo.length));
    }
    eo.batch_size = get_int(o, "batchSize", eo.batch_size);
    eo.io_threads = static_cast<int>(get_int(o, "ioThreads", eo.io_threads));
    eo.channel = channel_from_js(o);
    check_channel(env, eo.channel);
    eo.bf16 = bf16_from_js(o);
    JobOptions jo;
    jo.device = get_device(o);
    jo.on_progress = info.Length() > 2 ? info[2] : env.Undefined();
    auto guard = claim(env);
    auto frontend = frontend_;
    return start_job<extract::Outputs>(
        env, jo,
        [frontend, paths = std::move(paths), eo, guard](const JobContext& ctx) {
          return extract::extract_files(*frontend, paths, eo, ctx);
        },
        named_tensors_to_js);
  }

  // embed(wave {data, shape: [B, L]}, {device, batchSize, precision}, onProgress?) → {promise, cancel}
  Napi::Value embed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    torch::Tensor wave = tensor_from_js(info.Length() > 0 ? info[0] : env.Undefined(), "wave");
    // Two-channel clip models take [batch, 2, samples] = [near, far].
    const bool two = clip_channels_ && *clip_channels_ != train::ClipChannels::kOne;
    // A one-stream AE takes either shape; its frontend checks its own.
    const bool either = !clip_channels_ && wave.dim() == 3 && wave.size(1) == 2;
    if (!either && (wave.scalar_type() != torch::kFloat32 || wave.dim() != (two ? 3 : 2) || (two && wave.size(1) != 2))) {
      fail(env, ErrorKind::kType, two ? "wave must be float32 with shape [batch, 2, samples] (this model takes [near, far] clips)"
                                      : "wave must be float32 with shape [batch, samples]");
    }
    if (clip_samples_ > 0 && wave.size(-1) != clip_samples_) {
      fail(env, ErrorKind::kValue, std::string("wave must have shape [batch, ") + (two ? "2, " : "") + std::to_string(clip_samples_) + "], got " +
                                       std::to_string(wave.size(-1)) + " samples");
    }
    auto o = get_options(info, 1);
    extract::ExtractOptions eo;
    eo.batch_size = get_int(o, "batchSize", eo.batch_size);
    eo.bf16 = bf16_from_js(o);
    JobOptions jo;
    jo.device = get_device(o);
    jo.on_progress = info.Length() > 2 ? info[2] : env.Undefined();
    jo.inputs = {info[0]};
    auto guard = claim(env);
    auto frontend = frontend_;
    return start_job<extract::Outputs>(
        env, jo,
        [frontend, wave, eo, guard](const JobContext& ctx) { return extract::forward_batches(*frontend, wave, eo, ctx); },
        named_tensors_to_js);
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    if (disposed_) return info.Env().Undefined();
    free_extra();
    model_.reset();
    frontend_.reset();
    trainer_.reset();
    disposed_ = true;
    if (adopted_) account_model_memory(info.Env(), -reported_bytes_, -1);
    reported_bytes_ = 0;
    return info.Env().Undefined();
  }

  bool adopted_ = false;  // built: counted among the live models
  int64_t reported_bytes_ = 0;
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace asd::addon
