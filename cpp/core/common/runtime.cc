#include "common/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <thread>

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

Bf16Autocast::Bf16Autocast(const torch::Device& device, bool enabled) {
  if (!enabled) return;
  if (!device.is_cuda()) throw std::invalid_argument("bf16 mixed precision needs a CUDA device (got " + device.str() + ")");
#ifdef ASDKIT_AUTOCAST_PER_DEVICE
  prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
  prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
  prev_enabled_ = at::autocast::is_enabled();
  prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::set_enabled(true);
#endif
  at::autocast::increment_nesting();
  active_ = true;
}

Bf16Autocast::~Bf16Autocast() {
  if (!active_) return;
  // Casted weights are cached while autocast is on; drop them when the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef ASDKIT_AUTOCAST_PER_DEVICE
  at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
  at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
#else
  at::autocast::set_enabled(prev_enabled_);
  at::autocast::set_autocast_gpu_dtype(prev_dtype_);
#endif
}

}  // namespace asd
