#include "features/stft_avx512.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/runtime.h"

namespace asd::features {
namespace {

constexpr int64_t kLanes = 16;  // frames per vector
// (Vectors pass by value only between functions of one instruction set: GCC's ABI note is moot.)
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float vf __attribute__((vector_size(64)));

// Tables of one transform size N, in double then rounded: the half-size complex FFT (M = N/2
// points) runs on z[m] = x[2m] + i·x[2m+1], loaded in bit-reversed order; stage h (butterflies
// h apart) uses twiddle j at [h + j] = e^(−iπj/h); the real spectrum is unpacked with W_N^k.
struct Plan {
  int64_t n, m;
  std::vector<int32_t> rev;
  std::vector<float> tw_re, tw_im, unpack_re, unpack_im;

  explicit Plan(int64_t n_fft) : n(n_fft), m(n_fft / 2), rev(m), tw_re(m), tw_im(m), unpack_re(m + 1), unpack_im(m + 1) {
    int bits = 0;
    while ((int64_t{1} << bits) < m) ++bits;
    for (int64_t i = 0; i < m; ++i) {
      int32_t r = 0;
      for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
      rev[i] = r;
    }
    for (int64_t h = 1; h < m; h <<= 1) {
      for (int64_t j = 0; j < h; ++j) {
        const double a = -M_PI * static_cast<double>(j) / static_cast<double>(h);
        tw_re[h + j] = static_cast<float>(std::cos(a));
        tw_im[h + j] = static_cast<float>(std::sin(a));
      }
    }
    for (int64_t k = 0; k <= m; ++k) {
      const double a = -2.0 * M_PI * static_cast<double>(k) / static_cast<double>(n);
      unpack_re[k] = static_cast<float>(std::cos(a));
      unpack_im[k] = static_cast<float>(std::sin(a));
    }
  }
};

#pragma GCC push_options
#pragma GCC target("avx512f,fma")
namespace isa_avx512 {

// (The masked intrinsics: the plain ones start from an undefined register, which GCC warns of.)
vf sqrt(vf v) {
  return reinterpret_cast<vf>(_mm512_mask_sqrt_ps(_mm512_setzero_ps(), 0xFFFF, reinterpret_cast<__m512>(v)));
}
vf gather(const float* base, __m512i idx) {
  return reinterpret_cast<vf>(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, idx, base, 4));
}

// Frames t0 … t0 + lanes − 1 of one clip (lanes ≤ 16; the spare lanes repeat the last frame),
// windowed, as z[m] = x[2m] + i·x[2m+1] in bit-reversed order. `seg` holds the clip's samples
// from the first frame's start, zero-padded where the frames reach past the clip.
void load_frames(const float* seg, int64_t hop, int64_t lanes, const float* window, const Plan& p, vf* re, vf* im) {
  alignas(64) int32_t offsets[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) offsets[j] = static_cast<int32_t>(std::min(j, lanes - 1) * hop);
  const __m512i idx = _mm512_load_si512(offsets);
  for (int64_t k = 0; k < p.m; ++k) {
    const vf even = gather(seg + 2 * k, idx), odd = gather(seg + 2 * k + 1, idx);
    re[p.rev[k]] = even * window[2 * k];
    im[p.rev[k]] = odd * window[2 * k + 1];
  }
}

// In-place radix-2 decimation-in-time FFT of M points (input in bit-reversed order).
void fft(vf* re, vf* im, const Plan& p) {
  const int64_t m = p.m;
  for (int64_t i = 0; i < m; i += 2) {  // h = 1: twiddle 1
    const vf ar = re[i], ai = im[i], br = re[i + 1], bi = im[i + 1];
    re[i] = ar + br;
    im[i] = ai + bi;
    re[i + 1] = ar - br;
    im[i + 1] = ai - bi;
  }
  for (int64_t h = 2; h < m; h <<= 1) {
    for (int64_t i = 0; i < m; i += 2 * h) {
      vf* ra = re + i;
      vf* ia = im + i;
      vf* rb = ra + h;
      vf* ib = ia + h;
      for (int64_t j = 0; j < h; ++j) {
        const float wr = p.tw_re[h + j], wi = p.tw_im[h + j];
        const vf br = rb[j], bi = ib[j];
        const vf tr = br * wr - bi * wi, ti = br * wi + bi * wr;
        const vf ar = ra[j], ai = ia[j];
        ra[j] = ar + tr;
        ia[j] = ai + ti;
        rb[j] = ar - tr;
        ib[j] = ai - ti;
      }
    }
  }
}

// |X[k]| of the real frames from their half-size transform Z: X[k] = E + W_N^k·O with
// E = (Z[k] + conj Z[M−k]) / 2 and O = (Z[k] − conj Z[M−k]) / 2i (indices mod M).
vf bin_magnitude(const vf* re, const vf* im, const Plan& p, int64_t k) {
  const int64_t a = k % p.m, b = (p.m - k) % p.m;
  const vf zr = re[a], zi = im[a], cr = re[b], ci = im[b];
  const vf er = (zr + cr) * 0.5f, ei = (zi - ci) * 0.5f;
  const vf orr = (zi + ci) * 0.5f, oi = (cr - zr) * 0.5f;
  const float wr = p.unpack_re[k], wi = p.unpack_im[k];
  const vf xr = er + orr * wr - oi * wi, xi = ei + orr * wi + oi * wr;
  return sqrt(xr * xr + xi * xi);
}

// One clip, frame blocks [b0, b1): the magnitudes of bins [begin, end) into spec (bins × T) or,
// with `sum` given, their per-lane sums over the frames into sum (bins vectors).
void clip_blocks(const float* wave, int64_t L, int64_t T, int64_t hop, const float* window, const Plan& p, int64_t begin,
                 int64_t end, int64_t b0, int64_t b1, float* spec, vf* sum, std::vector<float>& seg, vf* re, vf* im) {
  const int64_t half = p.n / 2;
  for (int64_t blk = b0; blk < b1; ++blk) {
    const int64_t t0 = blk * kLanes, lanes = std::min(kLanes, T - t0);
    // Samples of frames t0 … t0 + lanes − 1 (frame t starts at t·hop − N/2), zero outside the clip.
    const int64_t start = t0 * hop - half, count = (lanes - 1) * hop + p.n;
    seg.assign(static_cast<size_t>(count), 0.0f);
    const int64_t lo = std::max<int64_t>(0, start), hi = std::min(L, start + count);
    if (hi > lo) std::memcpy(seg.data() + (lo - start), wave + lo, static_cast<size_t>(hi - lo) * sizeof(float));
    load_frames(seg.data(), hop, lanes, window, p, re, im);
    fft(re, im, p);
    if (sum) {
      vf keep = {};
      for (int64_t j = 0; j < lanes; ++j) keep[j] = 1.0f;  // spare lanes add nothing
      for (int64_t k = begin; k < end; ++k) sum[k - begin] += bin_magnitude(re, im, p, k) * keep;
    } else {
      for (int64_t k = begin; k < end; ++k) {
        const vf v = bin_magnitude(re, im, p, k);
        std::memcpy(spec + (k - begin) * T + t0, &v, static_cast<size_t>(lanes) * sizeof(float));
      }
    }
  }
}

}  // namespace isa_avx512
#pragma GCC pop_options

}  // namespace

bool fast_stft_supported(int64_t n_fft) {
  return cpu_has_avx512() && n_fft >= 16 && n_fft <= 8192 && (n_fft & (n_fft - 1)) == 0;
}

torch::Tensor fast_stft_magnitude(const torch::Tensor& wave, const torch::Tensor& window, int64_t hop, int64_t begin,
                                  int64_t end, bool time_mean) {
  TORCH_CHECK(wave.dim() == 2 && wave.is_cpu() && wave.scalar_type() == torch::kFloat32 && wave.is_contiguous(),
              "fast STFT: expected a contiguous (B, L) float32 CPU wave");
  const int64_t n_fft = window.numel();
  TORCH_CHECK(fast_stft_supported(n_fft), "fast STFT: n_fft ", n_fft, " is not supported on this CPU");
  TORCH_CHECK(hop > 0 && 0 <= begin && begin < end && end <= n_fft / 2 + 1, "fast STFT: bad hop or bin range");
  const int64_t B = wave.size(0), L = wave.size(1), bins = end - begin;
  const int64_t T = 1 + L / hop;  // centred: (L + 2·(N/2) − N) / hop + 1
  TORCH_CHECK(15 * hop < (int64_t{1} << 31) / 4, "fast STFT: hop too large");
  const Plan plan(n_fft);
  const torch::Tensor win = window.to(torch::kFloat32).contiguous();
  const float* w = win.data_ptr<float>();
  const float* x = wave.data_ptr<float>();
  const int64_t blocks = (T + kLanes - 1) / kLanes;
  torch::Tensor out = time_mean ? torch::empty({B, bins}, wave.options()) : torch::empty({B, bins, T}, wave.options());
  float* o = out.data_ptr<float>();

  // Work units: a clip (time mean: one sum per clip) or a clip's frame block (one column block).
  const int64_t units = time_mean ? B : B * blocks;
  at::parallel_for(0, units, 1, [&](int64_t u0, int64_t u1) {
    // Vector scratch from ATen's allocator, which aligns to 64 bytes (std::vector need not).
    const torch::Tensor scratch = torch::empty({2 * plan.m + bins, kLanes}, torch::kFloat32);
    vf* re = reinterpret_cast<vf*>(scratch.data_ptr<float>());
    vf* im = re + plan.m;
    vf* sum = im + plan.m;
    std::vector<float> seg;
    for (int64_t u = u0; u < u1; ++u) {
      if (time_mean) {
        std::fill(sum, sum + bins, vf{});
        isa_avx512::clip_blocks(x + u * L, L, T, hop, w, plan, begin, end, 0, blocks, nullptr, sum, seg, re, im);
        for (int64_t k = 0; k < bins; ++k) {
          float s = 0.0f;
          for (int64_t j = 0; j < kLanes; ++j) s += sum[k][j];
          o[u * bins + k] = s / static_cast<float>(T);
        }
      } else {
        const int64_t clip = u / blocks, blk = u % blocks;
        isa_avx512::clip_blocks(x + clip * L, L, T, hop, w, plan, begin, end, blk, blk + 1, o + clip * bins * T,
                                nullptr, seg, re, im);
      }
    }
  });
  return out;
}

}  // namespace asd::features
