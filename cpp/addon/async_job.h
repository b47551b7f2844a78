// Runs a core call on its own std::thread (never on libuv's pool, which file I/O needs) and
// settles a Promise on the JS thread. Progress goes through a thread-safe function; `cancel()`
// flips the job's CancelToken, which the core checks between chunks.
#pragma once

#include <napi.h>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/runtime.h"

namespace asd::addon {

struct ProgressEvent {
  int64_t done;
  int64_t total;
};

template <typename R>
struct Job {
  Napi::Promise::Deferred deferred;
  std::shared_ptr<CancelToken> token = std::make_shared<CancelToken>();
  std::optional<R> result;
  std::string error;
  bool aborted = false;
  Napi::ThreadSafeFunction done_fn;
  Napi::ThreadSafeFunction progress_fn;
  bool has_progress = false;
  std::vector<Napi::Reference<Napi::Value>> keep_alive;  // inputs whose memory the worker reads
  std::function<Napi::Value(Napi::Env, R&)> to_js;
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

Napi::Error make_abort_error(Napi::Env env);

// Starts `work` on a new thread. `inputs` are JS values kept alive until the job settles.
// Returns `{ promise, cancel }`.
template <typename R>
Napi::Object start_job(Napi::Env env, Napi::Value on_progress, torch::Device device,
                       std::vector<Napi::Value> inputs, std::function<R(const RunContext&)> work,
                       std::function<Napi::Value(Napi::Env, R&)> to_js) {
  auto job = std::make_shared<Job<R>>(env);
  job->to_js = std::move(to_js);
  for (auto& v : inputs) job->keep_alive.push_back(Napi::Persistent(v));

  job->done_fn = Napi::ThreadSafeFunction::New(env, Napi::Function(), "asdkit-job", 0, 1);
  if (on_progress.IsFunction()) {
    job->has_progress = true;
    job->progress_fn = Napi::ThreadSafeFunction::New(env, on_progress.As<Napi::Function>(),
                                                     "asdkit-progress", 0, 1);
  }

  std::thread([job, device, work = std::move(work)]() mutable {
    RunContext ctx;
    ctx.device = device;
    ctx.cancel = job->token.get();
    auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    if (job->has_progress) {
      ctx.progress = [job, last](int64_t done, int64_t total) mutable {
        // Throttle to ~20 events/s, but always deliver the final one.
        auto now = std::chrono::steady_clock::now();
        if (done < total && now - last < std::chrono::milliseconds(50)) return;
        last = now;
        auto* ev = new ProgressEvent{done, total};
        auto status = job->progress_fn.NonBlockingCall(ev, [](Napi::Env env, Napi::Function fn, ProgressEvent* e) {
          fn.Call({Napi::Number::New(env, static_cast<double>(e->done)),
                   Napi::Number::New(env, static_cast<double>(e->total))});
          delete e;
        });
        if (status != napi_ok) delete ev;
      };
    }
    try {
      job->result.emplace(work(ctx));
    } catch (const Cancelled&) {
      job->aborted = true;
    } catch (const std::exception& e) {
      job->error = e.what();
      if (job->error.empty()) job->error = "native error";
    } catch (...) {
      job->error = "unknown native error";
    }
    if (job->has_progress) job->progress_fn.Release();
    job->done_fn.BlockingCall([job](Napi::Env env, Napi::Function) {
      if (job->aborted) {
        job->deferred.Reject(make_abort_error(env).Value());
      } else if (!job->error.empty()) {
        job->deferred.Reject(Napi::Error::New(env, job->error).Value());
      } else {
        try {
          job->deferred.Resolve(job->to_js(env, *job->result));
        } catch (const Napi::Error& e) {
          job->deferred.Reject(e.Value());
        } catch (const std::exception& e) {
          job->deferred.Reject(Napi::Error::New(env, e.what()).Value());
        }
      }
      job->result.reset();
      job->keep_alive.clear();
    });
    job->done_fn.Release();
  }).detach();

  auto handle = Napi::Object::New(env);
  handle.Set("promise", job->deferred.Promise());
  std::weak_ptr<CancelToken> weak = job->token;
  handle.Set("cancel", Napi::Function::New(env, [weak](const Napi::CallbackInfo& info) {
               if (auto t = weak.lock()) t->cancel();
               return info.Env().Undefined();
             }));
  return handle;
}

}  // namespace asd::addon
