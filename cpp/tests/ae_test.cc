// The AE recipe's pieces: AE_MLP structure and counts, FlattenSTFT layout and values against an
// independent float64 DFT + mel computation, AS-recon/embed, and training through the Trainer.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cmath>
#include <complex>
#include <filesystem>
#include <iostream>
#include <set>
#include <vector>

#include "audio/wav.h"
#include "expect.h"
#include "train/ae_model.h"
#include "train/dis_model.h"
#include "train/trainer.h"
#include "train/vector_source.h"
#include "wav_fixture.h"

using namespace asd;

namespace {

void test_structure() {
  nn::AeMlp net(640, 128, 8);
  auto c = train::count_parameters(*net);
  EXPECT(c.trainable == 267928 && c.frozen == 0);  // spec §3.2
  EXPECT(c.buffers == 2073);
  int64_t enc = 0;
  for (const auto& p : net->encoder->parameters()) enc += p.numel();
  EXPECT(enc == 133656);
  auto bn = net->encoder[1]->as<torch::nn::BatchNorm1dImpl>();
  EXPECT(bn->options.momentum().value() == 0.01 && bn->options.eps() == 1e-3 && bn->options.affine());

  train::AeModel m(train::AeModelConfig{});
  std::set<std::string> keys;
  for (const auto& p : m->named_parameters()) keys.insert(p.key());
  for (const auto& b : m->named_buffers()) keys.insert(b.key());
  for (const char* k : {"network.encoder.0.weight", "network.encoder.0.bias", "network.encoder.1.running_var",
                        "network.encoder.12.weight", "network.decoder.12.bias", "audio_feat.stft.stft.spectrogram.window",
                        "audio_feat.stft.stft.mel_scale.fb"}) {
    if (!keys.count(k)) std::cerr << "  missing " << k << "\n";
    EXPECT(keys.count(k));
  }
  torch::NoGradGuard ng;
  auto [est, z] = net->forward(torch::randn({6, 640}));
  EXPECT(est.sizes() == torch::IntArrayRef({6, 640}) && z.sizes() == torch::IntArrayRef({6, 8}));
  EXPECT(z.min().item<float>() >= 0.0f);  // post-ReLU code
}

// log-mel of one frame in float64: centred, zero-padded, periodic Hann normalised by sqrt(Σw²),
// |DFT|, HTK triangles (norm None), 20·log10(max(·, eps)). The mel corner frequencies are rounded
// as torchaudio's float32 linspace and mel→Hz produce them (narrow low bands are sensitive to it).
std::vector<double> ref_logmel_frame(const std::vector<float>& x, int64_t t) {
  const int n_fft = 1024, hop = 512, n_mels = 128, n_freq = n_fft / 2 + 1;
  std::vector<double> w(n_fft);
  double wsq = 0;
  for (int k = 0; k < n_fft; ++k) wsq += (w[k] = 0.5 - 0.5 * std::cos(2 * M_PI * k / n_fft)) * w[k];
  std::vector<double> mag(n_freq);
  for (int f = 0; f < n_freq; ++f) {
    std::complex<double> acc = 0;
    for (int k = 0; k < n_fft; ++k) {
      const int64_t i = t * hop + k - n_fft / 2;
      const double v = (i >= 0 && i < static_cast<int64_t>(x.size())) ? x[i] : 0.0;
      acc += v * w[k] * std::polar(1.0, -2 * M_PI * f * k / n_fft);
    }
    mag[f] = std::abs(acc) / std::sqrt(wsq);
  }
  auto mel = [](double hz) { return 2595 * std::log10(1 + hz / 700); };
  std::vector<double> pts(n_mels + 2);
  const int steps = n_mels + 2;
  const float m0 = static_cast<float>(mel(0)), m1 = static_cast<float>(mel(8000));
  const float step = (m1 - m0) / static_cast<float>(steps - 1);
  for (int i = 0; i < steps; ++i) {
    const float m = i < steps / 2 ? m0 + step * static_cast<float>(i) : m1 - step * static_cast<float>(steps - 1 - i);
    const float p10 = std::pow(10.0f, m / 2595.0f);
    pts[i] = static_cast<float>(700.0f * (p10 - 1.0f));
  }
  std::vector<double> out(n_mels);
  for (int b = 0; b < n_mels; ++b) {
    double s = 0;
    for (int f = 0; f < n_freq; ++f) {
      const double hz = 8000.0 * f / (n_freq - 1);
      const double tri = std::max(0.0, std::min((hz - pts[b]) / (pts[b + 1] - pts[b]), (pts[b + 2] - hz) / (pts[b + 2] - pts[b + 1])));
      s += tri * mag[f];
    }
    out[b] = 20 * std::log10(std::max(s, 2.220446049250313e-16));
  }
  return out;
}

void test_flatten_stft() {
  torch::manual_seed(3);
  const int64_t L = 16000;
  auto wave = torch::randn({2, L}) * 0.3;
  features::FlattenStft fs;
  auto x = fs.forward(wave);
  const int64_t T = 1 + L / 512, n = T - 4;
  EXPECT(x.sizes() == torch::IntArrayRef({2 * n, 640}) && fs.n_vectors(L) == n && fs.dim() == 640);
  // Layout: row n·i + t holds frames t … t+4 of clip i, frame-major.
  auto spec = fs.stft().forward(wave);
  bool layout = true;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t t : {int64_t{0}, n / 2, n - 1})
      for (int64_t k = 0; k < 5; ++k)
        layout = layout && torch::equal(x[n * i + t].slice(0, 128 * k, 128 * (k + 1)), spec[i].select(1, t + k));
  EXPECT(layout);
  // Values: vector 7 of clip 1 against the float64 reference, compared as mel amplitudes
  // (10^(dB/20)) relative to the frame's largest band — float32 FFT error is relative to the
  // frame's scale, and the log would magnify it in weak bands.
  std::vector<float> clip(L);
  auto w1 = wave[1].contiguous();
  std::copy(w1.data_ptr<float>(), w1.data_ptr<float>() + L, clip.begin());
  double worst = 0;
  for (int64_t k = 0; k < 5; ++k) {
    auto ref = ref_logmel_frame(clip, 7 + k);
    double scale = 0;
    for (double v : ref) scale = std::max(scale, std::pow(10.0, v / 20));
    for (int b = 0; b < 128; ++b) {
      const double got = x[n + 7][128 * k + b].item<double>();
      worst = std::max(worst, std::abs(std::pow(10.0, got / 20) - std::pow(10.0, ref[b] / 20)) / scale);
    }
  }
  std::cout << "FlattenSTFT vs float64: max amplitude deviation / frame scale " << worst << "\n";
  EXPECT(worst < 1e-5);
  EXPECT_THROWS(std::invalid_argument, "fewer than n_frames", fs.forward(torch::zeros({1, 1000})));
}

void test_extract_and_training() {
  torch::manual_seed(5);
  train::AeModel m(train::AeModelConfig{});
  auto wave = torch::randn({3, 16000}) * 0.1;
  m->eval();
  torch::Tensor recon, embed;
  {
    torch::NoGradGuard ng;
    auto out = m->extract(wave);
    EXPECT(out[0].first == "embed" && out[1].first == "AS-recon");
    embed = out[0].second, recon = out[1].second;
    auto x = m->vectors(wave);
    auto [est, z] = m->network->forward(x);
    const int64_t n = x.size(0) / 3;
    for (int64_t i = 0; i < 3; ++i) {
      const double want = (est.slice(0, n * i, n * (i + 1)) - x.slice(0, n * i, n * (i + 1))).pow(2).mean().item<double>();
      EXPECT(std::abs(recon[i].item<double>() - want) <= 1e-6 * want);
      EXPECT(max_abs_diff(embed[i], z.slice(0, n * i, n * (i + 1)).mean(0)) < 1e-6);
    }
  }
  // Training on a vector table through the shared Trainer lowers the MSE.
  torch::Tensor table;
  {
    torch::NoGradGuard ng;
    table = m->vectors(torch::randn({4, 32000}) * 0.1);
  }
  train::TrainOptions o;
  o.loader.batch_size = 64, o.loader.seed = 1;
  train::Trainer trainer(m.ptr(), o);
  RunContext ctx;
  std::vector<double> firsts;
  const int64_t epochs = 40;
  for (int64_t e = 0; e < epochs; ++e) {
    train::VectorSource src(table, 64, 1, e);
    double first = -1;
    trainer.run_epoch(src, e, ctx, [&](const train::StepMetrics& s) {
      if (first < 0) first = s.losses.back().second;
      EXPECT(s.losses.size() == 1 && s.losses[0].first == "main");
    });
    firsts.push_back(first);
  }
  EXPECT(firsts.back() < 0.5 * firsts.front());
  std::cout << "AE MSE, first batch of epochs 0 and " << epochs - 1 << ": " << firsts.front() << " → " << firsts.back() << "\n";
}

// The training table: whole clips (different lengths, no tiling) in clip order, from any number
// of decoder threads; progress in clips, rising; the first failing clip's error; no clips refused.
void test_training_vectors() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("asd_ae_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::string> paths;
  const int64_t lens[] = {16000, 9000, 24000, 12345, 16000};
  for (int i = 0; i < 5; ++i) {
    paths.push_back((dir / ("clip" + std::to_string(i) + ".wav")).string());
    write_wav(paths.back(), {}, pcm16_bytes(random_pcm(lens[i], 30 + i)));
  }
  torch::manual_seed(2);
  train::AeModel m(train::AeModelConfig{});
  std::vector<torch::Tensor> parts;
  {
    torch::NoGradGuard ng;
    for (const auto& p : paths) parts.push_back(m->vectors(audio::read_wav(p).unsqueeze(0)));
  }
  const torch::Tensor want = torch::cat(parts);
  for (int threads : {1, 3}) {
    std::vector<int64_t> seen;
    RunContext ctx;
    ctx.progress = [&](int64_t done, int64_t total) {
      EXPECT(total == 5);
      seen.push_back(done);
    };
    const torch::Tensor got = train::training_vectors(*m, paths, threads, ctx);
    EXPECT(got.equal(want));
    EXPECT((seen == std::vector<int64_t>{1, 2, 3, 4, 5}));
  }
  auto bad = paths;
  bad[1] = (dir / "absent1.wav").string();
  bad[3] = (dir / "absent3.wav").string();
  EXPECT_THROWS(std::runtime_error, "absent1.wav", train::training_vectors(*m, bad, 3, RunContext{}));
  EXPECT_THROWS(std::invalid_argument, "no clips", train::training_vectors(*m, {}, 2, RunContext{}));
  fs::remove_all(dir);
}

// Channel both: a vector is [near vector | far vector] of the same frames, each exactly what the
// one-channel FlattenSTFT gives its channel; the MLP is built for the doubled width; training
// vectors from two-channel files likewise; loader channel and model must agree.
void test_both() {
  torch::manual_seed(8);
  train::AeModelConfig cfg;
  cfg.both = true;
  train::AeModel m(cfg);
  const features::FlattenStft one;  // the one-channel path, default AE options
  EXPECT(m->features().dim() == 2 * 640 && one.dim() == 640);
  EXPECT(m->network->encoder[0]->as<torch::nn::LinearImpl>()->weight.sizes() == torch::IntArrayRef({128, 1280}));
  EXPECT(m->network->decoder[12]->as<torch::nn::LinearImpl>()->weight.sizes() == torch::IntArrayRef({1280, 128}));
  const auto wave = torch::randn({3, 2, 12000}) * 0.2;
  torch::NoGradGuard ng;
  const auto x = m->vectors(wave);
  const auto near = one.forward(wave.select(1, 0)), far = one.forward(wave.select(1, 1));
  EXPECT(x.sizes() == torch::IntArrayRef({near.size(0), 1280}));
  EXPECT(torch::equal(x.slice(1, 0, 640), near) && torch::equal(x.slice(1, 640, 1280), far));
  EXPECT_THROWS(std::invalid_argument, "channel both", m->vectors(wave.select(1, 0)));
  // AS-recon over the doubled vectors.
  m->eval();
  const auto out = m->extract(wave);
  auto [est, z] = m->network->forward(x);
  const int64_t n = x.size(0) / 3;
  for (int64_t i = 0; i < 3; ++i) {
    const double want = (est.slice(0, n * i, n * (i + 1)) - x.slice(0, n * i, n * (i + 1))).pow(2).mean().item<double>();
    EXPECT(std::abs(out[1].second[i].item<double>() - want) <= 1e-6 * want);
  }

  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("asd_ae_both_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::string> paths;
  std::vector<torch::Tensor> parts;
  WavSpec spec;
  spec.channels = 2;
  for (int i = 0; i < 3; ++i) {
    const int64_t len = 9000 + 2500 * i;
    paths.push_back((dir / ("two" + std::to_string(i) + ".wav")).string());
    write_wav(paths.back(), spec, pcm16_bytes(random_pcm(2 * len, 50 + i)));
    parts.push_back(torch::cat({one.forward(audio::read_wav(paths.back(), audio::Channel::kNear).unsqueeze(0)),
                                one.forward(audio::read_wav(paths.back(), audio::Channel::kFar).unsqueeze(0))}, 1));
  }
  EXPECT(train::training_vectors(*m, paths, 2, RunContext{}, audio::Channel::kBoth).equal(torch::cat(parts)));
  EXPECT_THROWS(std::invalid_argument, "built for channel both", train::training_vectors(*m, paths, 2, RunContext{}, audio::Channel::kSubtract));
  train::AeModel plain(train::AeModelConfig{});
  EXPECT_THROWS(std::invalid_argument, "needs an AE built for it", train::training_vectors(*plain, paths, 2, RunContext{}, audio::Channel::kBoth));
  fs::remove_all(dir);
}

}  // namespace

int main() {
  set_num_threads(0);
  return run_tests({
      {"AE_MLP structure, counts and names", test_structure},
      {"FlattenSTFT layout and values", test_flatten_stft},
      {"AS-recon, embed and training", test_extract_and_training},
      {"training vectors from files", test_training_vectors},
      {"channel both: [near | far] vectors", test_both},
  });
}
