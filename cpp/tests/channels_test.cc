// Two-channel input for training and extraction (DCASE 2026, run setting `channel`): read_wav and
// load_batch take near / far / mean / subtract / both; spectral subtraction in the STFT against an
// independent torch::stft computation; mono files read exactly as before.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "audio/wav.h"
#include "expect.h"
#include "extract/stft_pool_frontend.h"
#include "features/flatten_stft.h"
#include "features/stft_pool.h"
#include "train/loader.h"
#include "wav_fixture.h"

namespace fs = std::filesystem;
using asd::audio::Channel;

namespace {

const fs::path kDir = fs::temp_directory_path() / "asdkit_channels_test";

// Interleaves two int16 channels.
std::vector<int16_t> interleave(const std::vector<int16_t>& a, const std::vector<int16_t>& b) {
  std::vector<int16_t> out;
  for (size_t i = 0; i < a.size(); ++i) out.insert(out.end(), {a[i], b[i]});
  return out;
}

torch::Tensor as_float(const std::vector<int16_t>& s) {
  std::vector<float> f(s.begin(), s.end());
  return torch::tensor(f) / 32768.0f;
}

struct Stereo {
  std::string path;
  std::vector<int16_t> near, far;
};

Stereo write_stereo(const std::string& name, int64_t n, uint64_t seed) {
  Stereo s{(kDir / name).string(), random_pcm(n, seed), random_pcm(n, seed + 1)};
  // The far channel: a quieter copy of the near one plus its own noise, like a distant microphone.
  for (int64_t i = 0; i < n; ++i) s.far[i] = static_cast<int16_t>(s.near[i] / 4 + s.far[i] / 8);
  WavSpec w;
  w.channels = 2;
  write_wav(s.path, w, pcm16_bytes(interleave(s.near, s.far)));
  return s;
}

void test_read_modes() {
  const Stereo s = write_stereo("stereo.wav", 5000, 7);
  const torch::Tensor near = as_float(s.near), far = as_float(s.far);
  EXPECT(torch::equal(asd::audio::read_wav(s.path), near));  // near is the default
  EXPECT(torch::equal(asd::audio::read_wav(s.path, Channel::kNear), near));
  EXPECT(torch::equal(asd::audio::read_wav(s.path, Channel::kFar), far));
  std::vector<float> mean(s.near.size());
  for (size_t i = 0; i < mean.size(); ++i) {
    mean[i] = static_cast<float>((static_cast<double>(s.near[i] / 32768.0f) + static_cast<double>(s.far[i] / 32768.0f)) / 2.0);
  }
  EXPECT(torch::equal(asd::audio::read_wav(s.path, Channel::kMean), torch::tensor(mean)));
  for (Channel c : {Channel::kSubtract, Channel::kBoth}) {
    const torch::Tensor two = asd::audio::read_wav(s.path, c);
    EXPECT(two.sizes() == torch::IntArrayRef({2, 5000}));
    EXPECT(torch::equal(two[0], near) && torch::equal(two[1], far));
  }
}

void test_mono_unchanged() {
  const std::string path = (kDir / "mono.wav").string();
  const auto pcm = random_pcm(3000, 11);
  write_wav(path, WavSpec{}, pcm16_bytes(pcm));
  const torch::Tensor exact = as_float(pcm);
  EXPECT(torch::equal(asd::audio::read_wav(path), exact));
  EXPECT(torch::equal(asd::audio::read_wav(path, Channel::kMean), exact));
  for (Channel c : {Channel::kFar, Channel::kSubtract, Channel::kBoth}) {
    EXPECT_THROWS(std::runtime_error, path + ": mono audio has no far channel", asd::audio::read_wav(path, c));
  }
  asd::RunContext ctx;
  EXPECT(torch::equal(asd::audio::load_batch({path}, 4000, ctx, 2), asd::audio::crop_or_tile(exact, 4000).unsqueeze(0)));
}

void test_load_batch_and_loader() {
  const Stereo a = write_stereo("a.wav", 3000, 21), b = write_stereo("b.wav", 5000, 31);
  const std::vector<std::string> paths{a.path, b.path};
  asd::RunContext ctx;
  for (Channel c : {Channel::kNear, Channel::kFar, Channel::kMean}) {
    const torch::Tensor batch = asd::audio::load_batch(paths, 4000, ctx, 2, c);
    EXPECT(batch.sizes() == torch::IntArrayRef({2, 4000}));
    for (int i = 0; i < 2; ++i) {
      EXPECT(torch::equal(batch[i], asd::audio::crop_or_tile(asd::audio::read_wav(paths[i], c), 4000)));
    }
  }
  const torch::Tensor pair = asd::audio::load_batch(paths, 4000, ctx, 2, Channel::kBoth);
  EXPECT(pair.sizes() == torch::IntArrayRef({2, 2, 4000}));
  EXPECT(torch::equal(pair[0][0], asd::audio::crop_or_tile(as_float(a.near), 4000)));
  EXPECT(torch::equal(pair[0][1], asd::audio::crop_or_tile(as_float(a.far), 4000)));  // tiled like the near row
  EXPECT(torch::equal(pair[1][1], as_float(b.far).narrow(0, 0, 4000)));

  asd::train::TrainData data;
  data.paths = paths;
  data.labels = {0, 1};
  data.n_classes = 2;
  data.length = 4000;
  data.channel = Channel::kFar;
  asd::train::LoaderOptions lo;
  lo.shuffle = false;
  asd::train::EpochLoader loader(data, lo, 0, nullptr);
  const auto batch = loader.next();
  EXPECT(batch.has_value() && torch::equal(batch->input, asd::audio::load_batch(paths, 4000, ctx, 2, Channel::kFar)));
  data.channel = Channel::kSubtract;
  asd::train::EpochLoader loader2(data, lo, 0, nullptr);
  EXPECT(loader2.next()->input.sizes() == torch::IntArrayRef({2, 2, 4000}));
}

// |STFT| of one channel by torch::stft: periodic Hann, zero centre padding, scaled by 1/sqrt(Σw²)
// (torchaudio's normalized=True): (B, L) → (B, T, n_fft/2+1).
torch::Tensor reference_magnitude(const torch::Tensor& x, int64_t n_fft, int64_t hop) {
  const torch::Tensor w = torch::hann_window(n_fft, /*periodic=*/true, torch::kFloat64);
  const torch::Tensor spec = torch::stft(x.to(torch::kFloat64), n_fft, hop, n_fft, w, /*center=*/true, "constant",
                                         /*normalized=*/false, /*onesided=*/true, /*return_complex=*/true);
  return (spec.abs() / w.pow(2).sum().sqrt()).transpose(1, 2);
}

double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
  return (got.to(torch::kFloat64) - want).abs().max().item<double>() / std::max(1.0, want.abs().max().item<double>());
}

void test_subtract_matches_reference() {
  torch::manual_seed(3);
  const int64_t L = 16000;
  const torch::Tensor near = torch::randn({3, L}) * 0.1;
  const torch::Tensor far = 0.25 * near + 0.05 * torch::randn({3, L});
  const torch::Tensor wave = torch::stack({near, far}, 1);  // (B, 2, L)
  const asd::features::SpectralSubtraction sub{0.8, 0.05};

  const asd::features::StftPool pool("time_mean");
  const torch::Tensor fb = pool.stft().mel_filterbank().to(torch::kFloat64);  // (F, M)
  const torch::Tensor m0 = reference_magnitude(near, 1024, 512), m1 = reference_magnitude(far, 1024, 512);
  const torch::Tensor mag = torch::max(m0 - sub.alpha * m1, sub.floor * m0);  // (B, T, F)
  const torch::Tensor mel = torch::matmul(mag, fb);                         // (B, T, M)
  const double e_pool = rel_err(pool.forward_subtract(wave, sub), mel.mean(1));
  std::printf("subtract: STFTPool vs torch::stft reference, max rel err %.2e\n", e_pool);
  EXPECT(e_pool < 1e-5);

  // The AE's FlattenSTFT: log-mel, 5-frame vectors.
  asd::features::FlattenStft flat;
  flat.set_subtraction(sub);
  const torch::Tensor logmel = (torch::clamp_min(mel, 2.220446049250313e-16).log10() * 20.0).transpose(1, 2);  // (B, M, T)
  const int64_t n = logmel.size(2) - 4;
  const torch::Tensor want = logmel.unfold(2, 5, 1).permute({0, 2, 3, 1}).reshape({3 * n, 5 * 128});
  const double e_flat = rel_err(flat.forward(wave), want);
  std::printf("subtract: FlattenSTFT vs reference, max rel err %.2e\n", e_flat);
  EXPECT(e_flat < 1e-5);

  // alpha 0 leaves the near channel; a far channel louder than the near one leaves the floor.
  EXPECT(rel_err(pool.forward_subtract(wave, {0.0, 0.05}), pool.forward(near).to(torch::kFloat64)) < 1e-6);
  const torch::Tensor loud = torch::stack({near, 4.0 * near}, 1);
  EXPECT(rel_err(pool.forward_subtract(loud, {1.0, 0.05}), 0.05 * pool.forward(near).to(torch::kFloat64)) < 1e-6);

  // The raw_spec frontend: subtract by default for two-channel waves, [near | far] for both.
  asd::extract::StftPoolFrontend sub_fe("time_mean", asd::features::StftPool::raw_spec_options(), false, sub);
  EXPECT(torch::equal(sub_fe.forward(wave)[0].second, pool.forward_subtract(wave, sub)));
  EXPECT(torch::equal(sub_fe.forward(near)[0].second, pool.forward(near)));
  asd::extract::StftPoolFrontend both_fe("time_mean", asd::features::StftPool::raw_spec_options(), true);
  const torch::Tensor both = both_fe.forward(wave)[0].second;
  EXPECT(both.sizes() == torch::IntArrayRef({3, 256}));
  EXPECT(torch::equal(both, torch::cat({pool.forward(near), pool.forward(far)}, 1)));
}

}  // namespace

int main() {
  fs::create_directories(kDir);
  const int rc = run_tests({{"read_modes", test_read_modes},
                            {"mono_unchanged", test_mono_unchanged},
                            {"load_batch_and_loader", test_load_batch_and_loader},
                            {"subtract_matches_reference", test_subtract_matches_reference}});
  fs::remove_all(kDir);
  return rc;
}
