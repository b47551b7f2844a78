// Tests for audio loading (audio/wav.h) and the STFT features (features/stft*.h).
// The STFT is checked against an independent float64 direct DFT written here.
// Usage: features_test [--bench]   (--bench: time load_batch + StftPool, 64 clips × 10 s)
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "audio/wav.h"
#include "common/runtime.h"
#include "features/fftw_magnitude.h"
#include "features/stft.h"
#include "features/stft_pool.h"
#include "expect.h"
#include "wav_fixture.h"

namespace fs = std::filesystem;
using asd::features::Stft;
using asd::features::StftOptions;
using asd::features::StftPool;

#undef CHECK  // glog's, pulled in by LibTorch; the tests use EXPECT from expect.h

// Runs `fn`, expecting std::exception of type E whose message starts with `prefix`
// (and contains `contains`, if given).
template <typename E>
static void check_throws(const std::function<void()>& fn, const std::string& prefix, const std::string& contains,
                         const char* what, int line) {
  ++g_checks;
  try {
    fn();
  } catch (const E& e) {
    const std::string msg = e.what();
    if (msg.rfind(prefix, 0) == 0 && msg.find(contains) != std::string::npos) {
      std::printf("  ok %-28s \"%s\"\n", what, msg.c_str());
      return;
    }
    std::fprintf(stderr, "FAIL line %d (%s): message \"%s\" lacks \"%s\"…\"%s\"\n", line, what, msg.c_str(),
                 prefix.c_str(), contains.c_str());
    ++g_failures;
    return;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL line %d (%s): wrong exception type: %s\n", line, what, e.what());
    ++g_failures;
    return;
  }
  std::fprintf(stderr, "FAIL line %d (%s): no exception\n", line, what);
  ++g_failures;
}
#define CHECK_THROWS(E, expr, prefix, contains) \
  check_throws<E>([&] { (void)(expr); }, prefix, contains, #E, __LINE__)

// ---------------------------------------------------------------------------------------------
// float64 reference STFT (direct DFT)

using Matrix = std::vector<std::vector<double>>;  // [row][col]

// |DFT(frame·w)| / sqrt(Σw²), [T][n_fft/2+1], zero centre padding.
static Matrix ref_magnitude(const std::vector<float>& x, int64_t n_fft, int64_t hop) {
  const double pi = std::acos(-1.0);
  std::vector<double> w(n_fft), c(n_fft), s(n_fft);
  double sumsq = 0;
  for (int64_t k = 0; k < n_fft; ++k) {
    w[k] = 0.5 - 0.5 * std::cos(2 * pi * k / n_fft);
    sumsq += w[k] * w[k];
    c[k] = std::cos(2 * pi * k / n_fft);
    s[k] = std::sin(2 * pi * k / n_fft);
  }
  const double norm = std::sqrt(sumsq);
  const int64_t L = static_cast<int64_t>(x.size()), pad = n_fft / 2, T = 1 + L / hop, K = n_fft / 2 + 1;
  Matrix mag(T, std::vector<double>(K));
  std::vector<double> frame(n_fft);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < n_fft; ++j) {
      const int64_t i = t * hop + j - pad;
      frame[j] = (i >= 0 && i < L) ? x[i] * w[j] : 0.0;
    }
    for (int64_t k = 0; k < K; ++k) {
      std::complex<double> acc = 0;
      for (int64_t j = 0; j < n_fft; ++j) {
        const int64_t m = (j * k) % n_fft;
        acc += frame[j] * std::complex<double>(c[m], -s[m]);
      }
      mag[t][k] = std::abs(acc) / norm;
    }
  }
  return mag;
}

// Applies power, mel/linear, log and temporal norm to a reference magnitude → [F][T].
static Matrix ref_features(const Matrix& mag, const StftOptions& o) {
  const int64_t T = mag.size(), K = mag[0].size();
  std::vector<double> freq(K);
  for (int64_t k = 0; k < K; ++k) freq[k] = double(o.sr / 2) * k / (K - 1);
  Matrix out;
  if (o.n_mels) {
    auto mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
    const double m0 = mel(o.f_min.value_or(0.0)), m1 = mel(o.f_max.value_or(double(o.sr / 2)));
    const int64_t M = *o.n_mels;
    std::vector<double> fp(M + 2);
    for (int64_t i = 0; i < M + 2; ++i) fp[i] = 700.0 * (std::pow(10.0, (m0 + (m1 - m0) * i / (M + 1)) / 2595.0) - 1.0);
    out.assign(M, std::vector<double>(T, 0.0));
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t k = 0; k < K; ++k) {
        const double wgt = std::max(
            0.0, std::min((freq[k] - fp[i]) / (fp[i + 1] - fp[i]), (fp[i + 2] - freq[k]) / (fp[i + 2] - fp[i + 1])));
        if (wgt == 0) continue;
        for (int64_t t = 0; t < T; ++t) out[i][t] += wgt * std::pow(mag[t][k], o.power);
      }
    }
  } else {
    for (int64_t k = 0; k < K; ++k) {
      if (o.f_min && freq[k] < *o.f_min) continue;
      if (o.f_max && freq[k] > *o.f_max) continue;
      std::vector<double> row(T);
      for (int64_t t = 0; t < T; ++t) row[t] = std::pow(mag[t][k], o.power);
      out.push_back(row);
    }
  }
  for (auto& row : out) {
    if (o.use_log) {
      for (auto& v : row) v = (20.0 / o.power) * std::log10(std::max(v, 2.220446049250313e-16));
    }
    if (o.temporal_norm) {
      double mean = 0;
      for (double v : row) mean += v;
      mean /= T;
      for (auto& v : row) v -= mean;
    }
  }
  return out;
}

static std::vector<float> random_signal(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n);
  // Noise plus a tone, so both broadband and peaked spectra are exercised.
  for (int64_t i = 0; i < n; ++i) x[i] = 0.3f * u(rng) + 0.5f * std::sin(2.0 * M_PI * 1000.0 * i / 16000.0);
  return x;
}

static torch::Tensor to_tensor(const std::vector<std::vector<float>>& clips) {
  std::vector<torch::Tensor> rows;
  for (const auto& c : clips) rows.push_back(torch::tensor(c));
  return torch::stack(rows);
}

// max |got − ref| / max |ref| over a (B, F, T) result; with `keep`, the error is taken only
// where keep[b][f][t] is true (the scale still over all elements).
static double rel_error(const torch::Tensor& got, const std::vector<Matrix>& ref,
                        const std::vector<std::vector<std::vector<bool>>>* keep = nullptr) {
  const auto g = got.to(torch::kFloat64).contiguous();
  auto a = g.accessor<double, 3>();
  double err = 0, scale = 0;
  for (size_t b = 0; b < ref.size(); ++b)
    for (size_t f = 0; f < ref[b].size(); ++f)
      for (size_t t = 0; t < ref[b][f].size(); ++t) {
        if (!keep || (*keep)[b][f][t]) err = std::max(err, std::abs(a[b][f][t] - ref[b][f][t]));
        scale = std::max(scale, std::abs(ref[b][f][t]));
      }
  return err / scale;
}

// Elements whose magnitude is within 60 dB of the clip's largest. A float32 FFT's absolute
// error is ~1e-7 of a frame's largest bin, so the dB value of a bin far below that peak (a
// near-zero of the noise spectrum) carries a relative error no float32 STFT, the reference's
// included, can avoid; log outputs are held to 1e-5 on the other elements.
static std::vector<std::vector<std::vector<bool>>> above_floor(const std::vector<Matrix>& pre, double power) {
  const double ratio = std::pow(1e-3, power);
  std::vector<std::vector<std::vector<bool>>> keep;
  for (const Matrix& m : pre) {
    double peak = 0;
    for (const auto& row : m)
      for (double v : row) peak = std::max(peak, v);
    keep.emplace_back();
    for (const auto& row : m) {
      keep.back().emplace_back();
      for (double v : row) keep.back().back().push_back(v >= ratio * peak);
    }
  }
  return keep;
}

static StftOptions make_opts(int64_t n_fft, int64_t hop, double power, std::optional<int64_t> n_mels,
                             std::optional<double> f_min, std::optional<double> f_max, bool use_log, bool tnorm) {
  StftOptions o;
  o.n_fft = n_fft;
  o.hop_length = hop;
  o.power = power;
  o.n_mels = n_mels;
  o.f_min = f_min;
  o.f_max = f_max;
  o.use_log = use_log;
  o.temporal_norm = tnorm;
  return o;
}

static double g_max_stft_err = 0;

static void test_stft_against_reference() {
  std::puts("STFT vs float64 direct DFT (max error relative to max |value|):");
  struct Signal {
    int64_t n_fft, hop, length, batch;
  };
  struct Case {
    const char* name;
    StftOptions o;
  };
  const std::vector<std::pair<Signal, std::vector<Case>>> groups = {
      {{64, 16, 1000, 3},
       {{"linear 200-8000 p1", make_opts(64, 16, 1, {}, 200.0, 8000.0, false, false)},
        {"linear all p2", make_opts(64, 16, 2, {}, {}, {}, false, false)},
        {"mel8 p2 log", make_opts(64, 16, 2, 8, 0.0, 8000.0, true, false)},
        {"mel8 p1 tnorm", make_opts(64, 16, 1, 8, 100.0, 7000.0, false, true)}}},
      {{256, 128, 4000, 2},
       {{"linear 200-8000 p1", make_opts(256, 128, 1, {}, 200.0, 8000.0, false, false)},
        {"linear 200-8000 p1 tnorm", make_opts(256, 128, 1, {}, 200.0, 8000.0, false, true)},
        {"linear 200-8000 p2 log", make_opts(256, 128, 2, {}, 200.0, 8000.0, true, false)},
        {"mel40 p1 log tnorm", make_opts(256, 128, 1, 40, 0.0, 8000.0, true, true)}}},
      {{1024, 512, 16000, 2},
       {{"mel128 p1 (raw_spec)", make_opts(1024, 512, 1, 128, 0.0, 8000.0, false, false)},
        {"mel128 p2", make_opts(1024, 512, 2, 128, 0.0, 8000.0, false, false)},
        {"mel128 p1 log", make_opts(1024, 512, 1, 128, 0.0, 8000.0, true, false)},
        {"mel128 p2 log tnorm", make_opts(1024, 512, 2, 128, 0.0, 8000.0, true, true)},
        {"linear 200-8000 p1", make_opts(1024, 512, 1, {}, 200.0, 8000.0, false, false)},
        {"linear 200-8000 p1 log tnorm", make_opts(1024, 512, 1, {}, 200.0, 8000.0, true, true)}}},
      // The AVX-512 kernel's extremes: its smallest transform, and its largest with fewer frames
      // than one 16-frame vector and a clip shorter than the window.
      {{16, 4, 100, 2}, {{"linear all p1", make_opts(16, 4, 1, {}, {}, {}, false, false)}}},
      {{4096, 2048, 3000, 2}, {{"linear 200-8000 p1", make_opts(4096, 2048, 1, {}, 200.0, 8000.0, false, false)}}},
  };
  for (const auto& [sig, cases] : groups) {
    std::vector<std::vector<float>> clips;
    std::vector<Matrix> mags;
    for (int64_t b = 0; b < sig.batch; ++b) {
      clips.push_back(random_signal(sig.length, 100 + b));
      mags.push_back(ref_magnitude(clips.back(), sig.n_fft, sig.hop));
    }
    const torch::Tensor wave = to_tensor(clips);
    for (const auto& c : cases) {
      const Stft stft(c.o);
      const torch::Tensor got = stft.forward(wave);
      std::vector<Matrix> ref;
      for (const auto& m : mags) ref.push_back(ref_features(m, c.o));
      const bool shape_ok = got.dim() == 3 && got.size(0) == sig.batch && got.size(1) == int64_t(ref[0].size()) &&
                            got.size(2) == 1 + sig.length / sig.hop && got.size(1) == stft.num_bins() &&
                            got.size(2) == stft.num_frames(sig.length) && got.dtype() == torch::kFloat32;
      EXPECT(shape_ok);
      if (!shape_ok) continue;
      const double all = rel_error(got, ref);
      double err = all;
      if (c.o.use_log) {
        StftOptions lin = c.o;
        lin.use_log = lin.temporal_norm = false;
        std::vector<Matrix> pre;
        for (const auto& m : mags) pre.push_back(ref_features(m, lin));
        const auto keep = above_floor(pre, c.o.power);
        err = rel_error(got, ref, &keep);
        EXPECT(all <= 1e-3);
      }
      g_max_stft_err = std::max(g_max_stft_err, err);
      std::printf("  n_fft %4lld hop %3lld L %5lld  %-30s (F %3lld, T %3lld)  %.2e", (long long)sig.n_fft,
                  (long long)sig.hop, (long long)sig.length, c.name, (long long)got.size(1),
                  (long long)got.size(2), err);
      if (c.o.use_log) std::printf("  (all elements: %.2e)", all);
      std::puts("");
      EXPECT(err <= 1e-5);
      // 1-D input gives the (F, T) slice of the batched result.
      // (BLAS may block a batch differently from one clip, and log amplifies rounding near zero,
      // so the bound is relative to the output's scale.)
      const double scale = got[1].abs().max().item<double>();
      const double diff = (stft.forward(wave[1]) - got[1]).abs().max().item<double>();
      if (diff > 1e-6 * std::max(scale, 1.0)) std::printf("    1-D vs batched max diff %.3g (scale %.3g)\n", diff, scale);
      EXPECT(diff <= 1e-6 * std::max(scale, 1.0));
    }
  }
}

static void test_bin_and_frame_counts() {
  std::puts("linear bin counts and frame counts:");
  const int64_t ffts[] = {256, 1024, 4096}, hops[] = {128, 512, 2048}, bins[] = {125, 500, 1997},
                starts[] = {4, 13, 52};
  const int64_t lengths[] = {160000, 176000, 192000, 288000};
  const int64_t frames[4][3] = {{1251, 313, 79}, {1376, 344, 86}, {1501, 376, 94}, {2251, 563, 141}};
  for (int i = 0; i < 3; ++i) {
    const Stft stft(make_opts(ffts[i], hops[i], 1, {}, 200.0, 8000.0, false, false));
    EXPECT(stft.num_bins() == bins[i]);
    EXPECT(stft.bin_start() == starts[i]);
    for (int j = 0; j < 4; ++j) {
      const torch::Tensor y = stft.forward(torch::zeros({1, lengths[j]}));
      EXPECT(y.size(1) == bins[i]);
      EXPECT(y.size(2) == frames[j][i]);
      EXPECT(stft.num_frames(lengths[j]) == frames[j][i]);
    }
    std::printf("  n_fft %4lld: F %lld, first bin %lld, T ok for L = 160000/176000/192000/288000\n",
                (long long)ffts[i], (long long)stft.num_bins(), (long long)stft.bin_start());
  }
  // A CPU batch whose frames exceed the slice budget is processed in slices (here 3 + 2 clips);
  // the result must equal clip-by-clip processing.
  {
    const Stft stft(make_opts(4096, 2048, 1, {}, 200.0, 8000.0, true, true));
    std::vector<std::vector<float>> clips;
    for (int b = 0; b < 5; ++b) clips.push_back(random_signal(288000, 50 + b));
    const torch::Tensor batch = to_tensor(clips);
    std::vector<torch::Tensor> single;
    for (int b = 0; b < 5; ++b) single.push_back(stft.forward(batch[b]));
    const torch::Tensor got = stft.forward(batch);
    EXPECT(got.sizes() == torch::IntArrayRef({5, 1997, 141}));
    EXPECT(torch::allclose(got, torch::stack(single), 1e-6, 1e-5));
  }
  // Window normalisation constant sqrt(3·n_fft/8) = 19.5959 for n_fft 1024.
  const Stft s(make_opts(1024, 512, 1, 128, 0.0, 8000.0, false, false));
  const double peak = s.window().max().item<double>();
  EXPECT(std::abs(1.0 / peak - std::sqrt(3.0 * 1024 / 8)) < 1e-4);
}

static void test_stft_pool() {
  std::puts("StftPool vs float64 reference:");
  std::vector<std::vector<float>> clips;
  std::vector<Matrix> mels;
  const StftOptions o = StftPool::raw_spec_options();
  for (int b = 0; b < 3; ++b) {
    clips.push_back(random_signal(16000, 200 + b));
    mels.push_back(ref_features(ref_magnitude(clips.back(), 1024, 512), o));
  }
  const torch::Tensor wave = to_tensor(clips);
  for (const std::string pool : {"time_mean", "time_max", "freq_mean", "freq_max"}) {
    const StftPool p(pool);
    const torch::Tensor got = p.forward(wave).to(torch::kFloat64);
    const bool time = pool.rfind("time", 0) == 0, mx = pool.find("max") != std::string::npos;
    const int64_t dim = time ? 128 : 32;
    EXPECT(got.dim() == 2 && got.size(0) == 3 && got.size(1) == dim && p.dim(16000) == dim);
    if (got.size(1) != dim) continue;
    double err = 0, scale = 0;
    for (int b = 0; b < 3; ++b) {
      const Matrix& m = mels[b];  // [128][32]
      for (int64_t d = 0; d < dim; ++d) {
        const size_t n = time ? m[d].size() : m.size();
        double acc = mx ? -1e300 : 0.0;
        for (size_t i = 0; i < n; ++i) {
          const double v = time ? m[d][i] : m[i][d];
          acc = mx ? std::max(acc, v) : acc + v;
        }
        if (!mx) acc /= n;
        err = std::max(err, std::abs(got[b][d].item<double>() - acc));
        scale = std::max(scale, std::abs(acc));
      }
    }
    g_max_stft_err = std::max(g_max_stft_err, err / scale);
    std::printf("  %-9s (B 3, dim %3lld)  %.2e  (abs %.2e, scale %.3g)\n", pool.c_str(), (long long)dim, err / scale,
                err, scale);
    EXPECT(err / scale <= 1e-5);
  }
  const std::string expected = "\": expected time_mean, time_max, freq_mean or freq_max";
  for (const std::string bad : {"time", "mean_time", "time_min", "time_mean_x", "TIME_MEAN", "", "freq-max"}) {
    CHECK_THROWS(std::invalid_argument, StftPool(bad), "invalid pool \"" + bad + expected, "");
  }
}

// Three clips per call: rows of 1 001 floats start off FFTW's alignment (its copy path), rows of
// 1 000 on it; 288 000 is the FFT branch's 18 s length. Both paths: FFTW (where built) and ATen.
static void test_fft_magnitude() {
  for (int64_t L : {1000, 1001, 288000}) {
    const int64_t B = 3;
    std::vector<std::vector<float>> xs;
    std::vector<torch::Tensor> rows;
    for (int64_t b = 0; b < B; ++b) {
      xs.push_back(random_signal(L, 7 + b));
      rows.push_back(torch::tensor(xs.back()));
    }
    const torch::Tensor wave = torch::stack(rows);
    EXPECT(asd::features::fftw_magnitude(wave).defined() == asd::features::have_fftw());
    const int64_t step = L > 10000 ? 997 : 1;  // bins checked against the float64 DFT
    for (const bool fast : {true, false}) {
      asd::set_cpu_fast_stft(fast);
      const torch::Tensor got = asd::features::fft_magnitude(wave).to(torch::kFloat64);
      EXPECT(got.size(0) == B && got.size(1) == L / 2 + 1);
      double err = 0, scale = 0;
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t k = 0; k <= L / 2; k += step) {
          std::complex<double> acc = 0;
          for (int64_t j = 0; j < L; ++j) acc += double(xs[b][j]) * std::polar(1.0, -2.0 * M_PI * double((j * k) % L) / L);
          err = std::max(err, std::abs(got[b][k].item<double>() - std::abs(acc)));
          scale = std::max(scale, std::abs(acc));
        }
      }
      std::printf("fft_magnitude L %lld (%s): %lld bins, rel error %.2e\n", (long long)L,
                  fast && asd::features::have_fftw() ? "FFTW" : "ATen", (long long)got.size(1), err / scale);
      EXPECT(err / scale <= 1e-5);
    }
  }
  asd::set_cpu_fast_stft(true);
}

static void test_crop_or_tile() {
  using asd::audio::crop_or_tile;
  const torch::Tensor w = torch::arange(5, torch::kFloat32);
  EXPECT(torch::equal(crop_or_tile(w, 3), torch::tensor({0.f, 1.f, 2.f})));
  EXPECT(torch::equal(crop_or_tile(w, 5), w));
  EXPECT(torch::equal(crop_or_tile(w, 12), torch::tensor({0.f, 1.f, 2.f, 3.f, 4.f, 0.f, 1.f, 2.f, 3.f, 4.f, 0.f, 1.f})));
  EXPECT(torch::equal(crop_or_tile(w, 10), torch::cat({w, w})));

  std::mt19937_64 rng(1);
  std::set<int64_t> offsets;
  const torch::Tensor longer = torch::arange(10, torch::kFloat32);
  for (int i = 0; i < 200; ++i) {
    const torch::Tensor c = crop_or_tile(longer, 4, rng);
    const int64_t off = static_cast<int64_t>(c[0].item<float>());
    EXPECT(torch::equal(c, torch::arange(off, off + 4, torch::kFloat32)));
    offsets.insert(off);
  }
  EXPECT(offsets.size() == 7 && *offsets.begin() == 0 && *offsets.rbegin() == 6);  // uniform over [0, 6]
  offsets.clear();
  const torch::Tensor shorter = torch::arange(3, torch::kFloat32);  // tiled to 9, window 7 → offsets 0..2
  const torch::Tensor tiled = torch::cat({shorter, shorter, shorter});
  for (int i = 0; i < 100; ++i) {
    const torch::Tensor c = crop_or_tile(shorter, 7, rng);
    bool matched = false;
    for (int64_t off = 0; off <= 2; ++off)
      if (torch::equal(c, tiled.narrow(0, off, 7))) {
        offsets.insert(off);
        matched = true;
      }
    EXPECT(matched);
  }
  EXPECT(offsets.size() == 3);
  EXPECT(torch::equal(crop_or_tile(w, 5, rng), w));
  std::puts("crop_or_tile: longer → first N, shorter → tiled, equal → unchanged, random offsets in range: ok");
}

// ---------------------------------------------------------------------------------------------
// WAV files

static void test_wav(const fs::path& dir) {
  using asd::audio::read_wav;
  std::puts("WAV reading:");
  // 16-bit exactness: every decoded sample equals int16/32768, extremes included.
  std::vector<int16_t> pcm = random_pcm(4000, 3);
  pcm[0] = -32768, pcm[1] = 32767, pcm[2] = 0, pcm[3] = 1, pcm[4] = -1;
  const std::string good = (dir / "good.wav").string();
  write_wav(good, {}, pcm16_bytes(pcm));
  const torch::Tensor w = read_wav(good);
  EXPECT(w.dim() == 1 && w.size(0) == 4000 && w.dtype() == torch::kFloat32);
  int64_t mismatches = 0;
  for (int64_t i = 0; i < 4000; ++i) mismatches += w[i].item<float>() != static_cast<float>(pcm[i]) / 32768.0f;
  EXPECT(mismatches == 0);
  EXPECT(w[0].item<float>() == -1.0f && w[1].item<float>() == 32767.0f / 32768.0f);
  std::printf("  16-bit PCM: %lld/4000 samples differ from int16/32768\n", (long long)mismatches);

  std::vector<float> fl = random_signal(1000, 5);
  fl[0] = 1.5f;  // float data is passed through unscaled and unclipped
  std::string fbytes(reinterpret_cast<const char*>(fl.data()), fl.size() * sizeof(float));
  const std::string fpath = (dir / "float.wav").string();
  write_wav(fpath, {16000, 1, 32, 3, {}}, fbytes);
  EXPECT(torch::equal(read_wav(fpath), torch::tensor(fl)));
  // One NaN, inf or absurd value would poison every score downstream: refused, naming the file and frame.
  for (auto [name, value, problem] : {std::tuple<const char*, float, const char*>{"nan.wav", NAN, "NaN sample at frame 7 of 1000"},
                                      {"inf.wav", -INFINITY, "infinite sample at frame 7 of 1000"},
                                      {"huge.wav", 1e30f, "sample at frame 7 is 1e+30, beyond"}}) {
    std::vector<float> bad = fl;
    bad[7] = value;
    const std::string bpath = (dir / name).string();
    write_wav(bpath, {16000, 1, 32, 3, {}}, std::string(reinterpret_cast<const char*>(bad.data()), bad.size() * sizeof(float)));
    CHECK_THROWS(std::runtime_error, read_wav(bpath), bpath + ": " + problem, "not usable audio");
  }

  const std::string p441 = (dir / "rate44k.wav").string(), stereo = (dir / "stereo.wav").string(),
                    trunc = (dir / "truncated.wav").string(), text = (dir / "text.wav").string(),
                    missing = (dir / "missing.wav").string(), pcm24 = (dir / "pcm24.wav").string(),
                    empty = (dir / "empty.wav").string(), stub = (dir / "stub.wav").string();
  write_wav(p441, {44100, 1, 16, 1, {}}, pcm16_bytes(random_pcm(1000, 1)));
  write_wav(stereo, {16000, 2, 16, 1, {}}, pcm16_bytes(random_pcm(2000, 1)));
  write_wav(trunc, {16000, 1, 16, 1, 32000}, pcm16_bytes(random_pcm(8000, 1)));  // 16000 bytes present
  write_wav(pcm24, {16000, 1, 24, 1, {}}, std::string(3000, '\0'));
  write_wav(empty, {}, "");
  std::ofstream(text) << "this is not audio, just text renamed to .wav\n";
  {
    std::string head = "RIFF";  // a download cut off inside the header
    put32(head, 1000);
    std::ofstream(stub, std::ios::binary) << head << "WAVEfm";
  }
  CHECK_THROWS(std::runtime_error, read_wav(p441), p441 + ": sample rate 44100 Hz, expected 16000 Hz", "");
  {
    // Two channels are a choice, not an error (DCASE 2026): the default is the near one (channel 0).
    const auto pcm = random_pcm(2000, 1);
    std::vector<float> ch0;
    for (size_t i = 0; i < pcm.size(); i += 2) ch0.push_back(pcm[i] / 32768.0f);
    EXPECT(torch::equal(read_wav(stereo), torch::tensor(ch0)));
  }
  CHECK_THROWS(std::runtime_error, read_wav(trunc), trunc + ": truncated or not a WAV file (", "32000 bytes");
  CHECK_THROWS(std::runtime_error, read_wav(text), text + ": truncated or not a WAV file (", "");
  CHECK_THROWS(std::runtime_error, read_wav(stub), stub + ": truncated or not a WAV file (", "");
  CHECK_THROWS(std::runtime_error, read_wav(missing), missing + ": no such file", "");
  CHECK_THROWS(std::runtime_error, read_wav(pcm24), pcm24 + ": unsupported sample format", "16-bit PCM or float");
  CHECK_THROWS(std::runtime_error, read_wav(empty), empty + ": no audio samples", "");
}

static void test_load_batch(const fs::path& dir) {
  using namespace asd::audio;
  std::vector<std::string> paths;
  const int64_t lens[] = {1000, 300, 20000, 1600, 7, 5000};
  for (int i = 0; i < 6; ++i) {
    paths.push_back((dir / ("clip" + std::to_string(i) + ".wav")).string());
    write_wav(paths.back(), {}, pcm16_bytes(random_pcm(lens[i], 10 + i)));
  }
  std::vector<torch::Tensor> expected;
  for (const auto& p : paths) expected.push_back(crop_or_tile(read_wav(p), 1600));
  for (int threads : {1, 2, 4}) {
    std::vector<int64_t> seen;
    asd::RunContext ctx;
    ctx.progress = [&](int64_t done, int64_t total) {
      EXPECT(total == 6);
      seen.push_back(done);
    };
    const torch::Tensor batch = load_batch(paths, 1600, ctx, threads);
    EXPECT(batch.sizes() == torch::IntArrayRef({6, 1600}) && batch.dtype() == torch::kFloat32);
    EXPECT(torch::equal(batch, torch::stack(expected)));
    EXPECT((seen == std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  }
  // The lowest-index failure is reported, whatever the thread interleaving.
  std::vector<std::string> bad = paths;
  bad[2] = (dir / "absent_a.wav").string();
  bad[4] = (dir / "absent_b.wav").string();
  for (int rep = 0; rep < 5; ++rep) {
    CHECK_THROWS(std::runtime_error, load_batch(bad, 1600, asd::RunContext{}, 3), bad[2] + ": no such file", "");
  }
  asd::CancelToken token;
  token.cancel();
  asd::RunContext cancelled;
  cancelled.cancel = &token;
  CHECK_THROWS(asd::Cancelled, load_batch(paths, 1600, cancelled, 2), "operation was aborted", "");
  std::puts("load_batch: equals stacked crop_or_tile(read_wav), ordered progress, first error, cancel: ok");
}

static void test_cuda() {
  if (!torch::cuda::is_available()) {
    std::puts("CUDA: not available, device test skipped");
    return;
  }
  const torch::Tensor wave = torch::tensor(random_signal(16000, 9)).unsqueeze(0);
  for (const auto& o : {StftPool::raw_spec_options(), make_opts(256, 128, 1, {}, 200.0, 8000.0, true, true)}) {
    const Stft stft(o);
    const torch::Tensor cpu = stft.forward(wave);
    const torch::Tensor gpu = stft.forward(wave.to(torch::kCUDA));
    EXPECT(gpu.device().is_cuda());
    const double err = (gpu.cpu() - cpu).abs().max().item<double>() / cpu.abs().max().item<double>();
    std::printf("CUDA vs CPU STFT rel error %.2e\n", err);
    EXPECT(err <= 1e-5);
  }
  StftPool pool("time_mean");
  pool.to(torch::kCUDA);
  EXPECT(pool.forward(wave.to(torch::kCUDA)).device().is_cuda());
}

static void bench(const fs::path& dir) {
  asd::set_num_threads(2);
  std::vector<std::string> paths;
  for (int i = 0; i < 64; ++i) {
    paths.push_back((dir / ("bench" + std::to_string(i) + ".wav")).string());
    write_wav(paths.back(), {}, pcm16_bytes(random_pcm(160000, 1000 + i)));
  }
  const StftPool pool("time_mean");
  double best_load = 1e9, best_total = 1e9;
  for (int rep = 0; rep < 4; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const torch::Tensor wave = asd::audio::load_batch(paths, 160000, asd::RunContext{}, 2);
    const auto t1 = std::chrono::steady_clock::now();
    const torch::Tensor emb = pool.forward(wave);
    const auto t2 = std::chrono::steady_clock::now();
    EXPECT(emb.size(0) == 64 && emb.size(1) == 128);
    const double load = std::chrono::duration<double>(t1 - t0).count();
    const double total = std::chrono::duration<double>(t2 - t0).count();
    std::printf("bench rep %d: load_batch %.3f s, StftPool %.3f s, total %.3f s\n", rep, load, total - load, total);
    if (rep > 0) best_load = std::min(best_load, load), best_total = std::min(best_total, total);
  }
  std::printf("bench (64 clips × 10 s, 2 decode threads, %d intra-op threads, best of 3 after warm-up): "
              "load %.0f clips/s, load+StftPool %.0f clips/s\n",
              asd::get_num_threads(), 64 / best_load, 64 / best_total);
}

int main(int argc, char** argv) {
  const bool do_bench = argc > 1 && std::strcmp(argv[1], "--bench") == 0;
  const fs::path dir = fs::temp_directory_path() / ("asd_features_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  try {
    // Both STFT paths: our AVX-512 kernel (where the CPU has it) and ATen's rfft.
    for (const bool fast : {true, false}) {
      asd::set_cpu_fast_stft(fast);
      std::printf("-- fast STFT %s\n", fast ? "on" : "off");
      test_stft_against_reference();
      test_stft_pool();
    }
    test_bin_and_frame_counts();
    test_fft_magnitude();
    test_crop_or_tile();
    test_wav(dir);
    test_load_batch(dir);
    test_cuda();
    if (do_bench) bench(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL: unexpected exception: %s\n", e.what());
    ++g_failures;
  }
  fs::remove_all(dir);
  std::printf("max STFT/StftPool relative error: %.2e\n", g_max_stft_err);
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
