// ASDKit's STFT feature (asdkit/models/audio_feature/stft.py, spec frontends-and-training §2.2)
// and the whole-clip FFT magnitude (§2.3). On AVX-512 CPUs, float32 waves and a power-of-two
// n_fft run our kernel (features/stft_avx512.h); elsewhere framing is done with unfold + rfft
// rather than torch::stft, whose signature differs between LibTorch 1.13 and 2.x.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace asd::features {

struct StftOptions {
  int64_t sr = 16000;
  int64_t n_fft = 0;       // FFT size and window length (required)
  int64_t hop_length = 0;  // required
  double power = 0.0;      // exponent on |X| (required; 1 = magnitude, 2 = power)
  std::optional<double> f_min, f_max;  // Hz; null → 0 / sr//2
  std::optional<int64_t> n_mels;       // null → linear bins cropped to [f_min, f_max]
  bool use_log = false;                // (20/power)·log10(max(y, DBL_EPSILON))
  bool temporal_norm = false;          // subtract the per-frequency mean over time
};

// Two-channel spectral subtraction (run setting channel=subtract): the far microphone's
// magnitude, scaled by alpha, is taken off the near one's; the floor keeps floor·|X_near| so
// over-subtraction leaves a scaled-down bin rather than a hole (and log of zero).
struct SpectralSubtraction {
  double alpha = 1.0;
  double floor = 0.05;
};

class Stft {
 public:
  // Throws std::invalid_argument for non-positive sizes/power or an empty band.
  explicit Stft(const StftOptions& options);

  // (B, L) → (B, F, T) or (L) → (F, T), with T = 1 + L/hop (zero centre padding) and F =
  // n_mels or the number of kept linear bins. Floating input on any device; buffers are moved
  // to the input's device and dtype (call to() once to avoid a copy per call on a GPU).
  torch::Tensor forward(const torch::Tensor& wave) const;

  // (B, 2, L) = [near, far] → (B, F, T): forward() with the linear magnitude replaced by
  // max(|X_near| − alpha·|X_far|, floor·|X_near|) ahead of power, mel, log and temporal norm.
  torch::Tensor forward_subtract(const torch::Tensor& wave, const SpectralSubtraction& sub) const;

  // forward(wave).mean(-1) → (B, F) without the (B, F, T) spectrogram when the output is linear
  // in |X|^power (no log, no temporal norm): the time mean is taken before the mel projection,
  // which commutes with it, so the (B·T × n_fft/2+1) × (n_fft/2+1 × n_mels) product shrinks to
  // B rows (it was ~85 % of raw_spec's time); our kernel sums the frames' magnitudes as it
  // makes them. Equal to forward().mean(-1) up to float32 summation order. With log or temporal
  // norm it is exactly forward(wave).mean(-1).
  torch::Tensor forward_time_mean(const torch::Tensor& wave) const;

  // Moves the window and filterbank to `device` (they start on the CPU).
  Stft& to(torch::Device device);

  const StftOptions& options() const { return options_; }
  int64_t num_bins() const;                    // F
  int64_t num_frames(int64_t length) const;    // T for a clip of `length` samples
  int64_t bin_start() const { return bin_begin_; }  // first kept linear bin (0 for mel)
  // Periodic Hann window already divided by sqrt(Σw²) (torchaudio's normalized=True), (n_fft).
  const torch::Tensor& window() const { return window_; }
  // HTK mel filterbank, norm None, (n_fft/2+1, n_mels); undefined for the linear branch.
  const torch::Tensor& mel_filterbank() const { return filterbank_; }

 private:
  torch::Tensor forward_batch(const torch::Tensor& x) const;  // (B, L) → (B, F, T)
  bool use_fast(const torch::Tensor& x) const;                 // the AVX-512 kernel applies to x
  void finish_spectrogram(torch::Tensor& y) const;             // power, mel, log, norm of (B, F, T)

  StftOptions options_;
  torch::Tensor window_;
  torch::Tensor filterbank_;
  int64_t bin_begin_ = 0;  // linear branch: kept bins [bin_begin_, bin_end_)
  int64_t bin_end_ = 0;
};

// |rfft(x)| over the whole clip: (B, L) → (B, L/2 + 1), or (L) → (L/2 + 1). No window,
// no normalisation (input of MultiResNet's FFT branch).
torch::Tensor fft_magnitude(const torch::Tensor& wave);

}  // namespace asd::features
