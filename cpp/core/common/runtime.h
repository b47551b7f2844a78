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

// With OpenBLAS's pthreads build behind LibTorch, makes matrix products run on the calling thread:
// that build's pool does not survive a fork made while a product runs (the process hangs). Once
// per process, before any native work; the OpenMP build and other BLAS libraries are left alone.
void make_blas_fork_safe();

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

// Whether this CPU computes bf16 natively (avx512_bf16 or AMX-BF16 in /proc/cpuinfo's flags, or
// cpuid where there is no /proc), detected once per process. ASDKIT_CPU_BF16=0 in the environment
// at that first call forces it off (tests of the refusal; a CPU where bf16 is emulated and slow).
bool cpu_has_bf16();
// The detected bf16-related CPU flags, e.g. "avx512_bf16 amx_bf16", or "none" (for messages).
std::string cpu_bf16_flags();

// Whether MultiResNet's 2-D branches run channels-last (NHWC) on the CPU: oneDNN then convolves
// without reordering every activation to its blocked layout and back. On unless
// ASDKIT_CPU_CHANNELS_LAST=0 at the first call (A/B measurements; results agree to rounding).
bool cpu_channels_last();
// Overrides that setting for the rest of the process (tests comparing the two layouts).
void set_cpu_channels_last(bool on);

// Whether this CPU has AVX-512 F/BW/VL/DQ, the set our own vector kernels are compiled for
// (the build itself targets baseline x86-64).
bool cpu_has_avx512();

// Whether the STFT runs our AVX-512 kernel (features/stft_avx512.h) where it applies. On unless
// ASDKIT_CPU_FAST_STFT=0 at the first call (A/B measurements; results agree to rounding).
bool cpu_fast_stft();
// Overrides that setting for the rest of the process (tests comparing the two paths).
void set_cpu_fast_stft(bool on);

// bf16 autocast for the work this thread does while the scope lives: matrix products and
// convolutions in bfloat16, as torch.autocast does on that device type. On the CPU, softmax,
// log_softmax, log, exp and acos (and with LibTorch 1.x layer_norm and group_norm) are also kept
// in float32 (CUDA's autocast lists them; LibTorch's CPU list does not), so the margin heads'
// probabilities and losses stay float32 on both and the transformers' norms run. With
// `enabled` false it does nothing; it throws std::invalid_argument on a CPU without native bf16
// (cpu_has_bf16()) and on other device types.
class Bf16Autocast {
 public:
  Bf16Autocast(const torch::Device& device, bool enabled);
  ~Bf16Autocast();
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool active_ = false, prev_enabled_ = false, cuda_ = false;
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
