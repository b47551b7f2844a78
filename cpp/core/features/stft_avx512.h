#pragma once
// The STFT magnitude on CPUs with AVX-512: 16 frames per vector (one frame per lane), so every
// butterfly of a power-of-two real FFT is one vector operation with no shuffles, and the bins of
// 16 consecutive frames come out as one vector — the (F, T) spectrogram is written directly,
// without a complex (T, F) spectrum, a magnitude pass or a transpose. ATen's CPU rfft
// (pocketfft) runs 4 frames per SSE vector on one thread; this runs on all threads.

#include <torch/torch.h>

namespace asd::features {

// Whether this CPU runs the kernel and n_fft suits it (a power of two, 16 to 8192).
bool fast_stft_supported(int64_t n_fft);

// |STFT| of a (B, L) contiguous float32 CPU wave: frames of n_fft every hop samples, centred
// with n_fft/2 zeros each side, times `window` (n_fft floats), bins [begin, end) of the
// one-sided spectrum. time_mean false: returns (B, end − begin, T); true: (B, end − begin), the
// mean over the T frames.
torch::Tensor fast_stft_magnitude(const torch::Tensor& wave, const torch::Tensor& window, int64_t hop,
                                  int64_t begin, int64_t end, bool time_mean);

}  // namespace asd::features
