// Run-time settings shared by every core function: device selection, thread count,
// progress reporting and cooperative cancellation. No Node headers here (house rule).
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace asd {

// Parses "cpu", "cuda" or "cuda:N"; throws a clear error when CUDA is asked for but this
// build (or this machine) has none.
torch::Device parse_device(const std::string& spec);

// Sets LibTorch's intra-op thread count (0 = all hardware threads). Returns the count in force.
int set_num_threads(int n);
int get_num_threads();

// Thrown by long operations when their CancelToken fires; the addon maps it to an AbortError.
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("operation was aborted") {}
};

// Shared flag a caller flips to ask a running operation to stop at its next check point.
struct CancelToken {
  std::atomic<bool> flag{false};
  void cancel() { flag.store(true); }
  bool cancelled() const { return flag.load(); }
  void check() const {
    if (cancelled()) throw Cancelled();
  }
};

// Progress callback: (done, total) in the operation's own units (clips, query rows, ...).
// Called from the worker thread; must be cheap and thread-safe.
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// bf16 autocast (CUDA only) for the work this thread does while the scope lives: matrix products
// and convolutions in bfloat16, reductions and losses in float32, as torch.autocast does. With
// `enabled` false it does nothing; on a non-CUDA device it throws std::invalid_argument.
class Bf16Autocast {
 public:
  Bf16Autocast(const torch::Device& device, bool enabled);
  ~Bf16Autocast();
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool active_ = false, prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kHalf;
};

// Context passed to every long core call.
struct RunContext {
  torch::Device device = torch::kCPU;
  const CancelToken* cancel = nullptr;
  ProgressFn progress;

  void check() const {
    if (cancel) cancel->check();
  }
  void report(int64_t done, int64_t total) const {
    if (progress) progress(done, total);
  }
};

}  // namespace asd
