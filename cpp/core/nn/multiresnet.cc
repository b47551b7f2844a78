#include "nn/multiresnet.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/runtime.h"
#include "nn/fused_norm.h"
#include "nn/se_gate.h"

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
  layer1 = register_module("layer1", tnn::Sequential(linear(channels, hidden, false), tnn::ReLU()));
  layer2 = register_module("layer2", tnn::Sequential(linear(hidden, channels, false), tnn::Sigmoid()));
}

torch::Tensor SEBlockImpl::gate(const torch::Tensor& base, const torch::Tensor& h) {
  return se_gate(base, h, layer1[0]->as<tnn::LinearImpl>()->weight, layer2[0]->as<tnn::LinearImpl>()->weight);
}

torch::Tensor SEBlockImpl::forward(const torch::Tensor& x) { return gate(torch::Tensor(), x); }

// --- residual block ---

ResNetBlockImpl::ResNetBlockImpl(int64_t c_in, int64_t c_out, int64_t stride_, bool use_bias)
    : stride(stride_) {
  require(stride == 1 || stride == 2, "residual block stride must be 1 or 2");
  require(stride == 2 || c_in == c_out, "stride-1 residual blocks need c_in == c_out");
  bn = register_module("bn", bn2d(c_in, use_bias));
  if (stride == 2) {
    skip_connect = register_module(
        "skip_connect", tnn::Sequential(MaxPool3x3(1),
                                        conv2d(c_in, c_out, 1, 1, 0, use_bias)));
  }
  layer = register_module("layer", tnn::Sequential(tnn::ReLU(), conv2d(c_in, c_out, 3, stride, 1, use_bias),
                                                   bn2d(c_out, use_bias), tnn::ReLU(),
                                                   conv2d(c_out, c_out, 3, 1, 1, use_bias)));
  additional_layer = register_module("additional_layer", SEBlock(c_out));
}

// Inference with running statistics: the BatchNorm after the first 3×3 conv is an affine map
// per output channel, so it folds into that conv's weight and bias (one pass fewer over the
// block's activations). Equal to conv then BN up to float rounding.
torch::Tensor ResNetBlockImpl::conv_bn_folded(const torch::Tensor& x) {
  auto& conv = *layer[1]->as<tnn::Conv2dImpl>();
  auto& norm = *layer[2]->as<tnn::BatchNorm2dImpl>();
  const auto& o = norm.options;
  torch::Tensor scale = torch::rsqrt(norm.running_var + o.eps());
  if (o.affine()) scale = scale * norm.weight;
  torch::Tensor bias = conv.bias.defined() ? conv.bias - norm.running_mean : -norm.running_mean;
  bias = bias * scale;
  if (o.affine()) bias = bias + norm.bias;
  const torch::Tensor weight = conv.weight * scale.view({-1, 1, 1, 1});
  return torch::conv2d(x, weight, bias, stride, /*padding=*/1);  // as built in the constructor
}

torch::Tensor ResNetBlockImpl::forward(const torch::Tensor& x) {
  auto xb = bn->forward(x);
  const auto& mid = layer[2]->as<tnn::BatchNorm2dImpl>()->options;
  torch::Tensor h;
  if (!is_training() && !torch::GradMode::is_enabled() && mid.track_running_stats()) {
    h = torch::relu(conv_bn_folded(torch::relu(xb)));
    h = layer[4]->as<tnn::Conv2dImpl>()->forward(h);
  } else {
    h = layer->forward(xb);
  }
  // skip + SE(h) (no activation after the addition)
  return additional_layer->gate(stride == 1 ? xb : skip_connect->forward(xb), h);
}

// --- FFT branch ---

Conv1dEncoderImpl::Conv1dEncoderImpl(int64_t input_length, const BranchSpec& spec, int64_t emb,
                                     bool use_bias) {
  conv1d_layer = register_module("conv1d_layer", tnn::Sequential());
  int64_t length = input_length;
  int64_t in_ch = 1;
  for (int i = 0; i < 3; ++i) {
    const int64_t k = spec.fft_kernel[i], s = spec.fft_stride[i], d = spec.fft_dilation[i];
    require(k > 0 && s > 0 && d > 0, "FFT branch kernel/stride/dilation must be positive");
    length = (length - d * (k - 1) - 1) / s + 1;
    require(length >= 1 && input_length >= d * (k - 1) + 1,
            "clip too short for FFT branch conv " + std::to_string(i + 1));
    conv1d_layer->push_back(
        tnn::Conv1d(tnn::Conv1dOptions(in_ch, emb, k).stride(s).dilation(d).bias(use_bias)));
    conv1d_layer->push_back(tnn::ReLU());
    conv1d_layer->push_back(SEBlock(emb));
    input_length = length;
    in_ch = emb;
  }
  flat_length = length;
  aggregate_layer = register_module(
      "aggregate_layer", tnn::Sequential(tnn::Flatten(), linear(emb * flat_length, emb, use_bias),
                                         bn1d(emb, use_bias), tnn::ReLU()));
  last_layer = register_module("last_layer", tnn::Sequential());
  for (int i = 0; i < 4; ++i) {
    last_layer->push_back(linear(emb, emb, use_bias));
    last_layer->push_back(bn1d(emb, use_bias));
    last_layer->push_back(tnn::ReLU());
  }
  last_layer->push_back(linear(emb, emb, use_bias));
}

torch::Tensor Conv1dEncoderImpl::forward(const torch::Tensor& spectrum) {
  torch::Tensor x;
  if (spectrum.is_cpu() && cpu_channels_last() && !torch::GradMode::is_enabled()) {
    // Inference: each Conv1d as a 1×k conv2d on a channels-last (B, C, 1, L) view. On NWC
    // activations oneDNN's forward takes its AVX-512 kernel where the planar 128-channel layer
    // ran its AVX2 one and reordered around it: the branch took 151 against 175 ms for 64 × 18 s
    // (alternating, 6 rounds). Training gained nothing (406 against 394 ms, within the noise),
    // so it keeps the Conv1d layers. The (B, 1, 1, L_f) input is the spectrum's own memory (C = 1).
    const torch::Tensor s = spectrum.contiguous();
    x = s.as_strided({s.size(0), 1, 1, s.size(1)}, {s.size(1), 1, s.size(1), 1});
    for (size_t i = 0; i < conv1d_layer->size(); i += 3) {  // Conv1d, ReLU, SE
      const auto& conv = *conv1d_layer[i]->as<tnn::Conv1dImpl>();
      const std::vector<int64_t> stride{1, conv.options.stride()->at(0)}, dilation{1, conv.options.dilation()->at(0)};
      x = torch::conv2d(x, conv.weight.unsqueeze(2), conv.bias, stride, std::vector<int64_t>{0, 0}, dilation);
      x = conv1d_layer[i + 2]->as<SEBlockImpl>()->forward(torch::relu(x));
    }
    x = x.squeeze(2);  // (B, E_b, L3), NWC strides: the flatten below copies channel-major
  } else {
    x = conv1d_layer->forward(spectrum.unsqueeze(1));  // (B, 1, L_f) → (B, E_b, L3)
  }
  return last_layer->forward(aggregate_layer->forward(x));  // channel-major flatten
}

FftBranchImpl::FftBranchImpl(int64_t sec_samples, const BranchSpec& spec, int64_t emb, bool use_bias) {
  layer = register_module("layer", Conv1dEncoder(sec_samples / 2 + 1, spec, emb, use_bias));
}

torch::Tensor FftBranchImpl::forward(const torch::Tensor& wave) {
  return layer->forward(features::fft_magnitude(wave));
}

// The FFT branch has no frames: the subtraction acts on the whole-clip |rfft| bins with the same
// formula as the STFT branches' (one far estimate per bin for the clip, not per frame), so one
// channel setting means one operation in every branch.
torch::Tensor FftBranchImpl::forward_subtract(const torch::Tensor& wave, const features::SpectralSubtraction& sub) {
  const torch::Tensor near = features::fft_magnitude(wave.select(1, 0));
  const torch::Tensor far = features::fft_magnitude(wave.select(1, 1));
  return layer->forward(torch::max(near - sub.alpha * far, sub.floor * near));
}

// --- STFT branch ---

FirstConvImpl::FirstConvImpl(int64_t c_out, bool use_bias) {
  layer = register_module("layer", tnn::Sequential(conv2d(1, c_out, 7, 2, 0, use_bias), bn2d(c_out, use_bias),
                                                   tnn::ReLU(), MaxPool3x3(0)));
}

torch::Tensor FirstConvImpl::forward(const torch::Tensor& x) {
  const torch::Tensor y = layer[0]->as<tnn::Conv2dImpl>()->forward(x);
  return bn_relu_max_pool(y, *layer[1]->as<tnn::BatchNorm2dImpl>(), *layer[3]->as<MaxPool3x3Impl>());
}

Conv2dEncoderImpl::Conv2dEncoderImpl(int64_t n_freq, int64_t emb, bool use_bias) {
  require(emb % 8 == 0, "embed_size_per_branch must be a multiple of 8");
  const int64_t c0 = emb / 8;
  bn_freq = register_module("bn_freq", bn1d(n_freq, use_bias));
  layers = register_module("layers", tnn::ModuleList());
  layers->push_back(FirstConv(c0, use_bias));
  layers->push_back(tnn::Sequential(ResNetBlock(c0, c0, 1, use_bias), ResNetBlock(c0, c0, 1, use_bias)));
  int64_t f = ((n_freq - 7) / 2 + 1 - 3) / 2 + 1;  // after the first conv and max-pool
  for (int64_t c = c0; c < emb; c *= 2) {
    layers->push_back(tnn::Sequential(ResNetBlock(c, 2 * c, 2, use_bias), ResNetBlock(2 * c, 2 * c, 1, use_bias)));
    f = ceil_half(f);
  }
  reduced_freq = f;
  aggregate_layer = register_module(
      "aggregate_layer", tnn::Sequential(tnn::Flatten(), bn1d(emb * f, use_bias), linear(emb * f, emb, use_bias)));
}

torch::Tensor Conv2dEncoderImpl::forward(const torch::Tensor& spec) {
  auto x = bn_freq->forward(spec);
  // (B, 1, F, T); on the CPU as a channels-last view (C = 1: the same memory), so every conv,
  // BatchNorm, ReLU and pooling after it keeps NHWC and oneDNN skips its per-layer reorders.
  x = x.is_cpu() && cpu_channels_last() ? x.unsqueeze(-1).permute({0, 3, 1, 2}) : x.unsqueeze(1);
  x = layers[0]->as<FirstConvImpl>()->forward(x);
  for (size_t i = 1; i < layers->size(); ++i) x = layers[i]->as<tnn::SequentialImpl>()->forward(x);
  return aggregate_layer->forward(x.amax(3));  // max over time, then channel-major flatten
}

StftFrontImpl::StftFrontImpl(const features::StftOptions& options) : stft(options) {
  // The reference keeps torchaudio's Spectrogram as `stft.stft`, whose buffer is `window`.
  holder = register_module("stft", std::make_shared<torch::nn::Module>());
  holder->register_buffer("window", stft.window());
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
  require(!config.subtract || (config.subtract->alpha >= 0 && config.subtract->floor >= 0 && config.subtract->floor <= 1),
          "channel subtract needs alpha >= 0 and floor in [0, 1]");
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
  if (config_.subtract) {
    require(wave.dim() == 3 && wave.size(1) == 2 && wave.size(2) == config_.sec_samples,
            "channel subtract: expected a (B, 2, " + std::to_string(config_.sec_samples) + ") wave, got " +
                std::to_string(wave.dim()) + " dims, last " + std::to_string(wave.dim() > 0 ? wave.size(-1) : 0));
    const auto& sub = *config_.subtract;
    std::vector<torch::Tensor> parts;
    if (fft_layer) parts.push_back(fft_layer->forward_subtract(wave, sub));
    for (const auto& branch : *stft_layer_list) parts.push_back(branch->as<StftBranchImpl>()->forward_subtract(wave, sub));
    return torch::cat(parts, 1);
  }
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
