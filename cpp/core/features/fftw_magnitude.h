// The FFT branch's whole-clip magnitude |rfft(x)| on the CPU through FFTW (single precision),
// where the build found libfftw3f. ATen's CPU rfft (pocketfft) runs on one thread and writes the
// whole (B, L/2+1) complex spectrum before the magnitude pass reads it back; here each clip is
// transformed on LibTorch's threads into a per-thread buffer that stays in cache, and its
// magnitude is written at once. 64 × 18 s clips, 2 threads, alternating in one process: 57–60
// against 97–100 ms.
#pragma once

#include <torch/torch.h>

namespace asd::features {

// Whether this build has the FFTW path.
bool have_fftw();

// (B, L) float32 contiguous CPU wave → (B, L/2 + 1) magnitudes, sqrt(re² + im²); an undefined
// tensor where the build has no FFTW or the input does not qualify (the caller runs ATen's rfft).
torch::Tensor fftw_magnitude(const torch::Tensor& wave);

}  // namespace asd::features
