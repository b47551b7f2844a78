#include "async_job.h"

#include "job_limiter.h"

namespace asd::addon {

JobCore::JobCore(Napi::Env env, const JobOptions& o)
    : device_(o.device),
      lane_(o.lane.empty() ? o.device.str() : o.lane),
      deferred_(Napi::Promise::Deferred::New(env)),
      queue_(Napi::ThreadSafeFunction::New(env, Napi::Function(), "asdkit-job", 0, 1)),
      last_progress_(std::chrono::steady_clock::now() - std::chrono::seconds(1)) {
  origin_ = Napi::Persistent(Napi::Error::New(env, "").Value());
  if (o.on_progress.IsFunction()) on_progress_ = Napi::Persistent(o.on_progress.As<Napi::Function>());
  if (o.on_event.IsFunction()) on_event_ = Napi::Persistent(o.on_event.As<Napi::Function>());
  for (const auto& v : o.inputs) keep_alive_.push_back(Napi::Persistent(v));
}

Napi::Object JobCore::handle(Napi::Env env) {
  auto h = Napi::Object::New(env);
  h.Set("promise", deferred_.Promise());
  std::weak_ptr<CancelToken> weak = token_;
  h.Set("cancel", Napi::Function::New(env, [weak](const Napi::CallbackInfo& info) {
          if (auto t = weak.lock()) {
            t->cancel();
            JobLimiter::instance().wake();  // a queued job leaves the queue now
          }
          return info.Env().Undefined();
        }));
  return h;
}

JobContext JobCore::context() {
  JobContext ctx;
  ctx.device = device_;
  ctx.cancel = token_.get();
  auto self = shared_from_this();
  if (!on_progress_.IsEmpty()) ctx.progress = [self](int64_t done, int64_t total) { self->progress(done, total); };
  ctx.emit = [self](EventFn make) {
    self->post([self, make = std::move(make)](Napi::Env env) {
      if (!self->on_event_.IsEmpty()) self->on_event_.Call({make(env)});
    });
  };
  return ctx;
}

bool JobCore::acquire_slot() { return JobLimiter::instance().acquire(lane_, *token_); }

void JobCore::release_slot() { JobLimiter::instance().release(lane_); }

void JobCore::post(std::function<void(Napi::Env)> fn) {
  using Fn = std::function<void(Napi::Env)>;
  auto* data = new Fn(std::move(fn));
  auto status = queue_.NonBlockingCall(data, [](Napi::Env env, Napi::Function, Fn* f) {
    std::unique_ptr<Fn> owned(f);
    (*owned)(env);
  });
  if (status != napi_ok) delete data;
}

void JobCore::progress(int64_t done, int64_t total) {
  // Workers may report concurrently: throttle and queue under one lock, so events stay in order.
  std::lock_guard<std::mutex> lock(progress_mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_progress_ < std::chrono::milliseconds(50)) return;
  last_progress_ = now;
  auto self = shared_from_this();
  post([self, done, total](Napi::Env env) {
    if (!self->on_progress_.IsEmpty()) {
      self->on_progress_.Call({Napi::Number::New(env, static_cast<double>(done)), Napi::Number::New(env, static_cast<double>(total))});
    }
  });
}

void JobCore::settle(std::function<void(Napi::Env, JobCore&)> fn) {
  auto self = shared_from_this();
  post([self, fn = std::move(fn)](Napi::Env env) { fn(env, *self); });
  queue_.Release();
}

void JobCore::resolve(Napi::Value value) {
  deferred_.Resolve(value);
  drop_references();
}

void JobCore::reject(Napi::Env env, Napi::Error error) {
  // The error was made on an empty JS stack: give it the frames of the call that started the job.
  Napi::Value origin = origin_.Value().Get("stack");
  if (origin.IsString()) {
    const std::string frames = origin.As<Napi::String>().Utf8Value();
    const size_t nl = frames.find('\n');
    Napi::Value name = error.Value().Get("name");
    const std::string head = (name.IsString() ? name.As<Napi::String>().Utf8Value() : std::string("Error")) + ": " + error.Message();
    error.Set("stack", Napi::String::New(env, head + (nl == std::string::npos ? std::string() : frames.substr(nl))));
  }
  deferred_.Reject(error.Value());
  drop_references();
}

// On the JS thread, so no reference is deleted from a worker when the job is destroyed there.
void JobCore::drop_references() {
  on_progress_.Reset();
  on_event_.Reset();
  origin_.Reset();
  keep_alive_.clear();
}

}  // namespace asd::addon
