// The frontend contract of the extract step (spec backends-recipes-outputs §2.1): a batch of
// waveforms in, named per-row outputs out (`embed` always; the AE adds `AS-recon`).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace asd::extract {

using Outputs = std::vector<std::pair<std::string, torch::Tensor>>;

class Frontend {
 public:
  virtual ~Frontend() = default;
  // wave: (B, L) float32 on the run's device. Returns tensors whose first dimension is B.
  virtual Outputs forward(const torch::Tensor& wave) = 0;
  // Moves parameters/buffers to a device (no-op for stateless frontends).
  virtual void to(torch::Device device) { (void)device; }
};

}  // namespace asd::extract
