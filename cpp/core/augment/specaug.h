// SpecAug (ASDKit `SpecAug`, spec frontends-and-training §6.2): per-sample time then
// frequency masking; on waveforms (B, L) through a complex STFT (centred, zero padding,
// one-sided, unnormalised) whose magnitude is masked and recombined with the original phase
// before the inverse STFT (output length L). Tensors with more than 2 dims (…, F, T) are
// masked directly.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace asd::augment {

enum class SpecAugWindow { Hann, Hamming };  // both periodic

struct SpecAugOptions {
  double time_width = 80, time_prob = 0.5;
  double freq_width = 80, freq_prob = 0.5;
  bool iid = true;                 // false: one (width, start) shared by every sample
  int64_t n_fft = 1024;
  std::optional<int64_t> hop;      // null → n_fft / 4
  SpecAugWindow window = SpecAugWindow::Hann;
  std::vector<std::string> targets = {"wave"};  // full-match regular expressions
};

// One axis mask for N samples (CPU): positions start ≤ i < start + width are zeroed for the
// samples with apply = true. start/width int64 (N), apply bool (N).
struct AxisMaskDraw {
  torch::Tensor start, width, apply;
};

// Draws v ~ U(0, max_width) and u ~ U(0, size − v) per sample (once, broadcast, if !iid),
// then start = trunc(u), width = trunc(v) (torchaudio's `.long()`), then apply ~ Bernoulli(prob).
AxisMaskDraw draw_axis_mask(int64_t n, int64_t size, double max_width, double prob, bool iid,
                            at::Generator gen);

// Zeroes along `axis` (−1 = time, −2 = frequency) of x (N, …) per sample.
torch::Tensor apply_axis_mask(const torch::Tensor& x, const AxisMaskDraw& draw, int64_t axis);

// Complex STFT / inverse as torch.stft/istft(center=True, pad_mode="constant",
// normalized=False, onesided=True): (B, L) → (B, n_fft/2+1, 1 + L/hop) and back to (B, length).
torch::Tensor stft_complex(const torch::Tensor& wave, int64_t n_fft, int64_t hop,
                           const torch::Tensor& window);
torch::Tensor istft_complex(const torch::Tensor& spec, int64_t n_fft, int64_t hop,
                            const torch::Tensor& window, int64_t length);

struct SpecAugDraw {
  AxisMaskDraw time, freq;
};

class SpecAug {
 public:
  // Throws std::invalid_argument for negative widths, probs outside [0, 1], n_fft < 2 or a
  // hop outside [1, n_fft].
  explicit SpecAug(SpecAugOptions options = {});

  // (B, L) waveform or (…, F, T) spectrogram; draws the time mask, then the frequency mask
  // (per leading index: all axes but the last two, flattened). Floating input, any device.
  torch::Tensor augment(const torch::Tensor& x, at::Generator gen,
                        SpecAugDraw* draw = nullptr) const;

  // Applies augment() to each matching key in training mode; eval mode returns the batch.
  std::map<std::string, torch::Tensor> forward(const std::map<std::string, torch::Tensor>& batch,
                                               at::Generator gen, bool training = true) const;

  const SpecAugOptions& options() const { return options_; }
  int64_t hop() const { return hop_; }
  torch::Tensor window(const torch::TensorOptions& opts) const;

 private:
  torch::Tensor mask_spec(const torch::Tensor& spec, at::Generator gen, SpecAugDraw* draw) const;

  SpecAugOptions options_;
  int64_t hop_;
};

}  // namespace asd::augment
