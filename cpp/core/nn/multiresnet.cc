#include "nn/multiresnet.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace asd::nn {
namespace tnn = torch::nn;

namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("MultiResNet: " + message);
}

// BatchNorm is affine exactly when the model uses biases (spec §4.1); PyTorch defaults
// otherwise (eps 1e-5, momentum 0.1, running stats tracked).
tnn::BatchNorm1d bn1d(int64_t n, bool use_bias) {
  return tnn::BatchNorm1d(tnn::BatchNormOptions(n).affine(use_bias));
}
tnn::BatchNorm2d bn2d(int64_t n, bool use_bias) {
  return tnn::BatchNorm2d(tnn::BatchNormOptions(n).affine(use_bias));
}
tnn::Linear linear(int64_t in, int64_t out, bool bias) {
  return tnn::Linear(tnn::LinearOptions(in, out).bias(bias));
}
tnn::Conv2d conv2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias) {
  return tnn::Conv2d(tnn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias));
}

int64_t ceil_half(int64_t h) { return (h - 1) / 2 + 1; }  // 3×3, stride 2, padding 1

}  // namespace

BranchSpec BranchSpec::fft() {
  BranchSpec b;
  b.kind = Kind::kFft;
  return b;
}

BranchSpec BranchSpec::linear_stft(int64_t n_fft, int64_t hop_length, int64_t sr) {
  BranchSpec b;
  b.kind = Kind::kStft;
  b.stft.sr = sr;
  b.stft.n_fft = n_fft;
  b.stft.hop_length = hop_length;
  b.stft.power = 1.0;
  b.stft.f_min = 200.0;
  b.stft.f_max = 8000.0;
  return b;
}

MultiResNetConfig MultiResNetConfig::dual_branch(int64_t sec_samples) {
  MultiResNetConfig c;
  c.sec_samples = sec_samples;
  c.branches = {BranchSpec::fft(), BranchSpec::linear_stft(1024, 512)};
  return c;
}

MultiResNetConfig MultiResNetConfig::multi_branch(int64_t sec_samples) {
  MultiResNetConfig c;
  c.sec_samples = sec_samples;
  c.branches = {BranchSpec::fft(), BranchSpec::linear_stft(256, 128),
                BranchSpec::linear_stft(1024, 512), BranchSpec::linear_stft(4096, 2048)};
  return c;
}

// --- SE ---

SEBlockImpl::SEBlockImpl(int64_t channels, int64_t reduction) {
  const int64_t hidden = channels / reduction;
  require(hidden >= 1, "SE block needs at least " + std::to_string(reduction) + " channels, got " +
                           std::to_string(channels));
  fc = register_module("fc", tnn::Sequential(linear(channels, hidden, false), tnn::ReLU(),
                                             linear(hidden, channels, false), tnn::Sigmoid()));
}

torch::Tensor SEBlockImpl::forward(const torch::Tensor& x) {
  auto scale = fc->forward(x.flatten(2).mean(2));  // (B, C)
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  shape[1] = x.size(1);
  return x * scale.view(shape);
}

// --- residual block ---

ResNetBlockImpl::ResNetBlockImpl(int64_t c_in, int64_t c_out, int64_t stride_, bool use_bias)
    : stride(stride_) {
  require(stride == 1 || stride == 2, "residual block stride must be 1 or 2");
  require(stride == 2 || c_in == c_out, "stride-1 residual blocks need c_in == c_out");
  bn1 = register_module("bn1", bn2d(c_in, use_bias));
  conv1 = register_module("conv1", conv2d(c_in, c_out, 3, stride, 1, use_bias));
  bn2 = register_module("bn2", bn2d(c_out, use_bias));
  conv2 = register_module("conv2", conv2d(c_out, c_out, 3, 1, 1, use_bias));
  se = register_module("se", SEBlock(c_out));
  if (stride == 2) skip_conv = register_module("skip_conv", conv2d(c_in, c_out, 1, 1, 0, use_bias));
}

torch::Tensor ResNetBlockImpl::forward(const torch::Tensor& x) {
  auto xb = bn1->forward(x);
  auto r = conv1->forward(torch::relu(xb));
  r = se->forward(conv2->forward(torch::relu(bn2->forward(r))));
  auto skip = stride == 1 ? xb : skip_conv->forward(torch::max_pool2d(xb, 3, 2, 1));
  return skip + r;  // no activation after the addition
}

// --- FFT branch ---

Conv1dEncoderImpl::Conv1dEncoderImpl(int64_t input_length, const BranchSpec& spec, int64_t emb,
                                     bool use_bias) {
  conv_list = register_module("conv_list", tnn::ModuleList());
  se_list = register_module("se_list", tnn::ModuleList());
  int64_t length = input_length;
  int64_t in_ch = 1;
  for (int i = 0; i < 3; ++i) {
    const int64_t k = spec.fft_kernel[i], s = spec.fft_stride[i], d = spec.fft_dilation[i];
    require(k > 0 && s > 0 && d > 0, "FFT branch kernel/stride/dilation must be positive");
    length = (length - d * (k - 1) - 1) / s + 1;
    require(length >= 1 && input_length >= d * (k - 1) + 1,
            "clip too short for FFT branch conv " + std::to_string(i + 1));
    conv_list->push_back(
        tnn::Conv1d(tnn::Conv1dOptions(in_ch, emb, k).stride(s).dilation(d).bias(use_bias)));
    se_list->push_back(SEBlock(emb));
    input_length = length;
    in_ch = emb;
  }
  flat_length = length;
  aggregate = register_module("aggregate", tnn::Sequential());
  for (int i = 0; i < 5; ++i) {
    aggregate->push_back(linear(i == 0 ? emb * flat_length : emb, emb, use_bias));
    aggregate->push_back(bn1d(emb, use_bias));
    aggregate->push_back(tnn::ReLU());
  }
  aggregate->push_back(linear(emb, emb, use_bias));
}

torch::Tensor Conv1dEncoderImpl::forward(const torch::Tensor& spectrum) {
  auto x = spectrum.unsqueeze(1);  // (B, 1, L_f)
  for (size_t i = 0; i < conv_list->size(); ++i) {
    x = conv_list[i]->as<tnn::Conv1dImpl>()->forward(x);
    x = se_list[i]->as<SEBlockImpl>()->forward(torch::relu(x));
  }
  return aggregate->forward(x.flatten(1));  // channel-major flatten
}

FftBranchImpl::FftBranchImpl(int64_t sec_samples, const BranchSpec& spec, int64_t emb, bool use_bias) {
  layer = register_module("layer", Conv1dEncoder(sec_samples / 2 + 1, spec, emb, use_bias));
}

torch::Tensor FftBranchImpl::forward(const torch::Tensor& wave) {
  return layer->forward(features::fft_magnitude(wave));
}

// --- STFT branch ---

Conv2dEncoderImpl::Conv2dEncoderImpl(int64_t n_freq, int64_t emb, bool use_bias) {
  require(emb % 8 == 0, "embed_size_per_branch must be a multiple of 8");
  const int64_t c0 = emb / 8;
  bn_freq = register_module("bn_freq", bn1d(n_freq, use_bias));
  stem_conv = register_module("stem_conv", conv2d(1, c0, 7, 2, 0, use_bias));
  stem_bn = register_module("stem_bn", bn2d(c0, use_bias));
  blocks = register_module("blocks", tnn::ModuleList());
  blocks->push_back(ResNetBlock(c0, c0, 1, use_bias));
  blocks->push_back(ResNetBlock(c0, c0, 1, use_bias));
  int64_t f = ((n_freq - 7) / 2 + 1 - 3) / 2 + 1;  // after stem conv and max-pool
  for (int64_t c = c0; c < emb; c *= 2) {
    blocks->push_back(ResNetBlock(c, 2 * c, 2, use_bias));
    blocks->push_back(ResNetBlock(2 * c, 2 * c, 1, use_bias));
    f = ceil_half(f);
  }
  reduced_freq = f;
  aggregate = register_module(
      "aggregate", tnn::Sequential(bn1d(emb * f, use_bias), linear(emb * f, emb, use_bias)));
}

torch::Tensor Conv2dEncoderImpl::forward(const torch::Tensor& spec) {
  auto x = bn_freq->forward(spec).unsqueeze(1);  // (B, 1, F, T)
  x = torch::relu(stem_bn->forward(stem_conv->forward(x)));
  x = torch::max_pool2d(x, 3, 2, 0);
  for (const auto& block : *blocks) x = block->as<ResNetBlockImpl>()->forward(x);
  return aggregate->forward(x.amax(3).flatten(1));  // max over time, channel-major flatten
}

StftFrontImpl::StftFrontImpl(const features::StftOptions& options) : stft(options) {
  register_buffer("window", stft.window());
}

StftBranchImpl::StftBranchImpl(int64_t sec_samples, const BranchSpec& spec, int64_t emb, bool use_bias) {
  stft = register_module("stft", StftFront(spec.stft));
  const int64_t n_freq = stft->stft.num_bins();
  const int64_t n_frames = stft->stft.num_frames(sec_samples);
  require(std::min(n_freq, n_frames) >= 36,
          "STFT branch (n_fft " + std::to_string(spec.stft.n_fft) + ") needs min(F, T) >= 36, got F " +
              std::to_string(n_freq) + ", T " + std::to_string(n_frames));
  layer = register_module("layer", Conv2dEncoder(n_freq, emb, use_bias));
}

torch::Tensor StftBranchImpl::forward(const torch::Tensor& wave) {
  return layer->forward(stft->forward(wave));
}

// --- top level ---

MultiResNetImpl::MultiResNetImpl(const MultiResNetConfig& config) : config_(config) {
  require(config.sec_samples > 0, "sec_samples must be positive");
  require(!config.branches.empty(), "at least one branch is needed");
  require(config.embed_size_per_branch > 0 && config.embed_size_per_branch % 8 == 0,
          "embed_size_per_branch must be a positive multiple of 8");
  const int64_t emb = config.embed_size_per_branch;
  stft_layer_list = register_module("stft_layer_list", tnn::ModuleList());
  for (size_t i = 0; i < config.branches.size(); ++i) {
    const BranchSpec& b = config.branches[i];
    if (b.kind == BranchSpec::Kind::kFft) {
      require(i == 0, "the FFT branch must be the first branch");
      fft_layer = register_module("fft_layer", FftBranch(config.sec_samples, b, emb, config.use_bias));
    } else {
      stft_layer_list->push_back(StftBranch(config.sec_samples, b, emb, config.use_bias));
    }
  }
}

torch::Tensor MultiResNetImpl::forward(const torch::Tensor& wave) {
  require(wave.dim() == 2 && wave.size(1) == config_.sec_samples,
          "expected a (B, " + std::to_string(config_.sec_samples) + ") wave, got " +
              std::to_string(wave.dim()) + " dims, last " +
              std::to_string(wave.dim() > 0 ? wave.size(-1) : 0));
  std::vector<torch::Tensor> parts;
  if (fft_layer) parts.push_back(fft_layer->forward(wave));
  for (const auto& branch : *stft_layer_list) parts.push_back(branch->as<StftBranchImpl>()->forward(wave));
  return torch::cat(parts, 1);
}

}  // namespace asd::nn
