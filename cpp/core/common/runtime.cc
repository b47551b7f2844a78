#include "common/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace asd {

torch::Device parse_device(const std::string& spec) {
  if (spec == "cpu") return torch::kCPU;
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      const std::string n = spec.substr(5);
      if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) {
        throw std::invalid_argument("invalid device \"" + spec + "\": expected cpu, cuda or cuda:N");
      }
      index = std::stoi(n);
    }
    if (!torch::cuda::is_available()) {
      throw std::runtime_error("device \"" + spec +
                               "\" requested but CUDA is not available: this build of asdkit uses a "
                               "CPU-only LibTorch or no GPU is visible; use --device cpu, or rebuild "
                               "against a CUDA LibTorch (see README, 'Building with CUDA')");
    }
    const int count = static_cast<int>(torch::cuda::device_count());
    if (index >= count) {
      throw std::runtime_error("device \"" + spec + "\" requested but only " + std::to_string(count) +
                               " CUDA device(s) are visible");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw std::invalid_argument("invalid device \"" + spec + "\": expected cpu, cuda or cuda:N");
}

// Debian's LibTorch multiplies matrices with whichever OpenBLAS build provides libblas.so.3. The
// pthreads build runs products on its own thread pool, which it shuts down in a fork handler: a
// product on one of our worker threads while Node forks (any child_process spawn) then waits for
// pool threads that are gone, and the process hangs (reproduced in test/blas-fork.test.ts). With
// that build, products run on the calling thread (one BLAS thread). The OpenMP build (the one the
// README installs) shares LibTorch's OpenMP threads and has no such handler, so it is left alone.
void make_blas_fork_safe() {
  static const bool done = [] {
    for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
      void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
      if (!h) continue;
      auto get_parallel = reinterpret_cast<int (*)()>(dlsym(h, "openblas_get_parallel"));
      auto set_threads = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
      if (get_parallel && set_threads && get_parallel() == 1) set_threads(1);  // 1 = pthreads
    }
    return true;
  }();
  (void)done;
}

int set_num_threads(int n) {
  if (n < 0) throw std::invalid_argument("thread count must be >= 0 (0 = all cores)");
  if (n == 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return at::get_num_threads();
}

int get_num_threads() { return at::get_num_threads(); }

}  // namespace asd

namespace asd {

// LibTorch 2.4 replaced the CUDA-specific autocast setters with per-device-type ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define ASDKIT_AUTOCAST_PER_DEVICE 1
#endif

namespace {

// The bf16 flags of this CPU: /proc/cpuinfo (the kernel lists only what it enabled), else cpuid.
std::string detect_bf16_flags() {
  std::string found;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  bool read_flags = false;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    read_flags = true;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) {
      if (w == "avx512_bf16" || w == "amx_bf16") found += (found.empty() ? "" : " ") + w;
    }
    break;  // the first core's flags stand for all
  }
#if defined(__x86_64__) || defined(__i386__)
  if (!read_flags) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5))) found = "avx512_bf16";
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 22))) found += (found.empty() ? "" : " ") + std::string("amx_bf16");
  }
#endif
  return found.empty() ? "none" : found;
}

struct CpuBf16 {
  std::string flags = detect_bf16_flags();
  bool forced_off = [] {
    const char* v = std::getenv("ASDKIT_CPU_BF16");
    return v && std::string(v) == "0";
  }();
  bool usable = flags != "none" && !forced_off;
};

const CpuBf16& cpu_bf16() {
  static const CpuBf16 c;
  return c;
}

// Float32 policy for a few ops under CPU autocast (CUDA's autocast has them in its float32 list):
// a bf16 argument is widened, then the op runs with the autocast key excluded, as torch does.
at::Tensor widen(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 ? t.to(at::kFloat) : t; }
using CpuAutocastOff = c10::impl::ExcludeDispatchKeyGuard;
at::Tensor softmax_fp32(const at::Tensor& self, int64_t dim, c10::optional<at::ScalarType> dtype) {
  CpuAutocastOff off(c10::DispatchKey::AutocastCPU);
  return at::softmax(widen(self), dim, dtype);
}
at::Tensor log_softmax_fp32(const at::Tensor& self, int64_t dim, c10::optional<at::ScalarType> dtype) {
  CpuAutocastOff off(c10::DispatchKey::AutocastCPU);
  return at::log_softmax(widen(self), dim, dtype);
}
at::Tensor log_fp32(const at::Tensor& self) {
  CpuAutocastOff off(c10::DispatchKey::AutocastCPU);
  return at::log(widen(self));
}
at::Tensor exp_fp32(const at::Tensor& self) {
  CpuAutocastOff off(c10::DispatchKey::AutocastCPU);
  return at::exp(widen(self));
}
at::Tensor acos_fp32(const at::Tensor& self) {
  CpuAutocastOff off(c10::DispatchKey::AutocastCPU);
  return at::acos(widen(self));
}

#if TORCH_VERSION_MAJOR < 2
// LibTorch 1.x's CPU layer/group norm kernels refuse a bf16 input with float32 weights
// ("expected scalar type BFloat16 but found Float", PyTorch's own CPU autocast included), so
// BEATs/EAT could not run: normalise in float32, as CUDA's autocast does.
at::Tensor layer_norm_fp32(const at::Tensor& input, at::IntArrayRef shape, const c10::optional<at::Tensor>& weight,
                           const c10::optional<at::Tensor>& bias, double eps, bool cudnn) {
  CpuAutocastOff off(c10::DispatchKey::AutocastCPU);
  return at::layer_norm(widen(input), shape, weight, bias, eps, cudnn);
}
at::Tensor group_norm_fp32(const at::Tensor& input, int64_t groups, const c10::optional<at::Tensor>& weight,
                           const c10::optional<at::Tensor>& bias, double eps, bool cudnn) {
  CpuAutocastOff off(c10::DispatchKey::AutocastCPU);
  return at::group_norm(widen(input), groups, weight, bias, eps, cudnn);
}
#endif

TORCH_LIBRARY_IMPL(aten, AutocastCPU, m) {
  m.impl("softmax.int", TORCH_FN(softmax_fp32));
  m.impl("log_softmax.int", TORCH_FN(log_softmax_fp32));
  m.impl("log", TORCH_FN(log_fp32));
  m.impl("exp", TORCH_FN(exp_fp32));
  m.impl("acos", TORCH_FN(acos_fp32));
#if TORCH_VERSION_MAJOR < 2
  m.impl("layer_norm", TORCH_FN(layer_norm_fp32));
  m.impl("group_norm", TORCH_FN(group_norm_fp32));
#endif
}

std::atomic<bool>& channels_last_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("ASDKIT_CPU_CHANNELS_LAST");
    return !(v && std::string(v) == "0");
  }()};
  return on;
}
std::atomic<bool>& fast_stft_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("ASDKIT_CPU_FAST_STFT");
    return !(v && std::string(v) == "0");
  }()};
  return on;
}
}  // namespace

bool cpu_channels_last() { return channels_last_flag().load(); }
void set_cpu_channels_last(bool on) { channels_last_flag().store(on); }
bool cpu_fast_stft() { return fast_stft_flag().load(); }
void set_cpu_fast_stft(bool on) { fast_stft_flag().store(on); }

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }();
  return ok;
#else
  return false;
#endif
}

bool cpu_has_bf16() { return cpu_bf16().usable; }
std::string cpu_bf16_flags() { return cpu_bf16().flags; }

Bf16Autocast::Bf16Autocast(const torch::Device& device, bool enabled) {
  if (!enabled) return;
  if (device.is_cpu()) {
    if (!cpu_has_bf16()) {
      const CpuBf16& c = cpu_bf16();
      throw std::invalid_argument("bf16 on the CPU needs avx512_bf16 or amx_bf16 (this CPU: " +
                                  (c.forced_off ? c.flags + ", turned off by ASDKIT_CPU_BF16=0" : c.flags) +
                                  "); use precision fp32, or a CUDA device");
    }
  } else if (!device.is_cuda()) {
    throw std::invalid_argument("bf16 mixed precision needs a CUDA device or a CPU with avx512_bf16 (got " + device.str() + ")");
  }
  cuda_ = device.is_cuda();
#ifdef ASDKIT_AUTOCAST_PER_DEVICE
  const at::DeviceType t = cuda_ ? at::kCUDA : at::kCPU;
  prev_enabled_ = at::autocast::is_autocast_enabled(t);
  prev_dtype_ = at::autocast::get_autocast_dtype(t);
  at::autocast::set_autocast_dtype(t, at::kBFloat16);
  at::autocast::set_autocast_enabled(t, true);
#else
  if (cuda_) {
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    prev_enabled_ = at::autocast::is_cpu_enabled();
    prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
  at::autocast::increment_nesting();
  active_ = true;
}

Bf16Autocast::~Bf16Autocast() {
  if (!active_) return;
  // Casted weights are cached while autocast is on; drop them when the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef ASDKIT_AUTOCAST_PER_DEVICE
  const at::DeviceType t = cuda_ ? at::kCUDA : at::kCPU;
  at::autocast::set_autocast_enabled(t, prev_enabled_);
  at::autocast::set_autocast_dtype(t, prev_dtype_);
#else
  if (cuda_) {
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
  } else {
    at::autocast::set_cpu_enabled(prev_enabled_);
    at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  }
#endif
}

}  // namespace asd
