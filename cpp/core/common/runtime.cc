#include "common/runtime.h"

#include <ATen/Parallel.h>

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
