// Native jobs: a core call runs on its own std::thread (never on libuv's pool, which file I/O
// needs) and settles a Promise on the JS thread; JS gets `{ promise, cancel }`.
//  * Bounded: the thread first waits for a slot of its device (JobLimiter: default 1 job per
//    device at once, setMaxJobs). `cancel()` flips the job's CancelToken, which the core checks
//    between chunks; a job cancelled while it waits rejects with AbortError without running.
//  * One queue to JS: progress events, emitted events (training steps) and the settlement travel
//    through one ThreadSafeFunction in FIFO order, so every event of a job is delivered before its
//    promise settles.
//  * Progress may be reported from any thread: it is throttled (~20 events/s, the last one always
//    delivered) under a lock.
//  * The work's captures (model references, claims) are dropped before the promise settles.
//  * A rejection carries the JavaScript stack of the call that started the job.
#pragma once

#include <napi.h>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/runtime.h"
#include "errors.h"

namespace asd::addon {

// Builds, on the JS thread, the value an emitted event passes to `on_event`.
using EventFn = std::function<Napi::Value(Napi::Env)>;

struct JobOptions {
  Napi::Value on_progress;          // (done, total)
  Napi::Value on_event;             // gets each value the work emits
  torch::Device device = torch::kCPU;
  std::vector<Napi::Value> inputs;  // JS values whose memory the worker reads: kept alive
  // The limiter lane (default: the device). Decoding takes its own lane so the next batch's
  // decode can overlap the current batch's forward pass instead of queueing behind it.
  std::string lane;
};

// What a job's work gets: the core's RunContext plus `emit`.
struct JobContext : RunContext {
  std::function<void(EventFn)> emit;
};

// The part of a job that does not depend on its result type (async_job.cc).
class JobCore : public std::enable_shared_from_this<JobCore> {
 public:
  JobCore(Napi::Env env, const JobOptions& options);
  Napi::Object handle(Napi::Env env);  // { promise, cancel }

  // Worker thread.
  JobContext context();
  bool acquire_slot();  // false: cancelled while waiting
  void release_slot();
  // Queues `fn` behind every earlier event and lets go of the queue.
  void settle(std::function<void(Napi::Env, JobCore&)> fn);

  // JS thread, inside settle: both drop the job's JS references.
  void resolve(Napi::Value value);
  void reject(Napi::Env env, Napi::Error error);

 private:
  void post(std::function<void(Napi::Env)> fn);
  void progress(int64_t done, int64_t total);
  void drop_references();

  std::shared_ptr<CancelToken> token_ = std::make_shared<CancelToken>();
  torch::Device device_;
  std::string lane_;
  Napi::Promise::Deferred deferred_;
  Napi::ThreadSafeFunction queue_;
  Napi::FunctionReference on_progress_, on_event_;
  Napi::ObjectReference origin_;  // an Error made when the job started: its stack is the caller's
  std::vector<Napi::Reference<Napi::Value>> keep_alive_;
  std::mutex progress_mutex_;
  std::chrono::steady_clock::time_point last_progress_;
};

template <typename R>
Napi::Object start_job(Napi::Env env, const JobOptions& options, std::function<R(const JobContext&)> work,
                       std::function<Napi::Value(Napi::Env, R&)> to_js) {
  auto core = std::make_shared<JobCore>(env, options);
  Napi::Object handle = core->handle(env);
  std::thread([core, work = std::move(work), to_js = std::move(to_js)]() mutable {
    auto result = std::make_shared<std::optional<R>>();
    std::exception_ptr error;
    if (core->acquire_slot()) {
      try {
        result->emplace(work(core->context()));
      } catch (...) {
        error = std::current_exception();
      }
      core->release_slot();
    } else {
      error = std::make_exception_ptr(Cancelled());
    }
    work = nullptr;
    core->settle([result, error, to_js = std::move(to_js)](Napi::Env e, JobCore& job) {
      if (error) return job.reject(e, error_from(e, error));
      try {
        job.resolve(to_js(e, **result));
      } catch (...) {
        job.reject(e, error_from(e, std::current_exception()));
      }
      result->reset();
    });
  }).detach();
  return handle;
}

}  // namespace asd::addon
