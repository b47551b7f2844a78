// ASDKit's MultiResNet extractor (asdkit/models/multiresnet/, spec frontends-and-training §4):
// an FFT branch (Conv1d encoder + MLP aggregate) and linear-STFT branches (Conv2d residual
// encoders), each giving 128 dims, concatenated in branch order.
//
// Module and parameter names are the reference's state-dict keys (asdkit/models/multiresnet/),
// e.g. `fft_layer.layer.conv1d_layer.0.weight`, `stft_layer_list.0.stft.stft.window`,
// `stft_layer_list.0.layer.layers.2.0.skip_connect.1.weight`, so ASDKit checkpoints map 1:1.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "features/stft.h"
#include "nn/max_pool.h"

namespace asd::nn {

struct BranchSpec {
  enum class Kind { kFft, kStft };
  Kind kind = Kind::kStft;
  features::StftOptions stft;  // kStft only
  // kFft only: the three Conv1d layers (spec §4.3 defaults).
  std::array<int64_t, 3> fft_kernel{256, 64, 16};
  std::array<int64_t, 3> fft_stride{64, 32, 4};
  std::array<int64_t, 3> fft_dilation{1, 1, 1};

  static BranchSpec fft();
  // Linear-frequency magnitude branch as used by every recipe: power 1, no log, 200–8000 Hz.
  static BranchSpec linear_stft(int64_t n_fft, int64_t hop_length, int64_t sr = 16000);
};

struct MultiResNetConfig {
  int64_t sec_samples = 0;  // L = int(sec·sr); the model only accepts clips of exactly L samples
  std::vector<BranchSpec> branches;  // at most one kFft, and it must come first
  int64_t embed_size_per_branch = 128;  // emb_base_size; must be a multiple of 8
  bool use_bias = false;  // false: no conv/linear biases and non-affine BatchNorms
  // Run setting channel=subtract: the model takes (B, 2, L) = [near, far] and every branch's
  // linear magnitude is max(|X_near| − alpha·|X_far|, floor·|X_near|) (STFT: per frame, FFT: over
  // the whole clip); nullopt: one channel (B, L). Changes no parameter.
  std::optional<features::SpectralSubtraction> subtract;

  // FFT + STFT(1024/512): E = 256 (`dis_spec_*`).
  static MultiResNetConfig dual_branch(int64_t sec_samples);
  // FFT + STFT(256/128, 1024/512, 4096/2048): E = 512 (`dis_multispec_*`).
  static MultiResNetConfig multi_branch(int64_t sec_samples);

  int64_t embed_size() const { return embed_size_per_branch * static_cast<int64_t>(branches.size()); }
};

// Squeeze-and-excitation over channel axis 1 of (B, C, ...); linears never have a bias.
struct SEBlockImpl : torch::nn::Module {
  explicit SEBlockImpl(int64_t channels, int64_t reduction = 16);
  torch::Tensor forward(const torch::Tensor& x);  // x · gates(x)
  // base + h · gates(h) (base undefined: none), the gates per channel from h's spatial mean;
  // one fused autograd function in CPU training (nn/se_gate.h).
  torch::Tensor gate(const torch::Tensor& base, const torch::Tensor& h);
  torch::nn::Sequential layer1{nullptr};  // Linear c→c/16, ReLU
  torch::nn::Sequential layer2{nullptr};  // Linear c/16→c, Sigmoid
};
TORCH_MODULE(SEBlock);

// Pre-normalised residual block; the skip path starts from bn1(x), not x (spec §4.4).
struct ResNetBlockImpl : torch::nn::Module {
  ResNetBlockImpl(int64_t c_in, int64_t c_out, int64_t stride, bool use_bias);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor conv_bn_folded(const torch::Tensor& x);  // layer[1..2] with BN folded (eval)
  int64_t stride;
  torch::nn::BatchNorm2d bn{nullptr};           // pre-normalisation
  torch::nn::Sequential skip_connect{nullptr};  // MaxPool3x3(p1), Conv 1×1; stride-2 blocks only
  torch::nn::Sequential layer{nullptr};         // ReLU, Conv3×3(s), BN, ReLU, Conv3×3
  SEBlock additional_layer{nullptr};
};
TORCH_MODULE(ResNetBlock);

// FFT branch body: (B, L_f) magnitude → (B, E_b).
struct Conv1dEncoderImpl : torch::nn::Module {
  Conv1dEncoderImpl(int64_t input_length, const BranchSpec& spec, int64_t emb, bool use_bias);
  torch::Tensor forward(const torch::Tensor& spectrum);
  torch::nn::Sequential conv1d_layer{nullptr};     // [Conv1d, ReLU, SE] × 3
  torch::nn::Sequential aggregate_layer{nullptr};  // Flatten, Linear, BN1d, ReLU
  torch::nn::Sequential last_layer{nullptr};       // [Linear, BN1d, ReLU] × 4, Linear
  int64_t flat_length = 0;                   // L3 (spec §4.3 table)
};
TORCH_MODULE(Conv1dEncoder);

// The STFT branch's first layer: Conv 7×7 s2, BN, ReLU, MaxPool 3×3 s2 (as `layer`); forward
// runs the last three through nn/fused_norm.h's bn_relu_max_pool.
struct FirstConvImpl : torch::nn::Module {
  FirstConvImpl(int64_t c_out, bool use_bias);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential layer{nullptr};
};
TORCH_MODULE(FirstConv);

// STFT branch body: (B, F, T) spectrogram → (B, E_b).
struct Conv2dEncoderImpl : torch::nn::Module {
  Conv2dEncoderImpl(int64_t n_freq, int64_t emb, bool use_bias);
  torch::Tensor forward(const torch::Tensor& spec);
  torch::nn::BatchNorm1d bn_freq{nullptr};        // per-frequency input normalisation
  torch::nn::ModuleList layers{nullptr};          // FirstConv, then 4 × Sequential(2 residual blocks)
  torch::nn::Sequential aggregate_layer{nullptr};  // Flatten, BN1d(E_b·F'), Linear E_b·F'→E_b
  int64_t reduced_freq = 0;                  // F'
};
TORCH_MODULE(Conv2dEncoder);

struct FftBranchImpl : torch::nn::Module {
  FftBranchImpl(int64_t sec_samples, const BranchSpec& spec, int64_t emb, bool use_bias);
  torch::Tensor forward(const torch::Tensor& wave);  // (B, L) → (B, E_b)
  // (B, 2, L) = [near, far] → (B, E_b), the whole-clip magnitudes spectrally subtracted.
  torch::Tensor forward_subtract(const torch::Tensor& wave, const features::SpectralSubtraction& sub);
  Conv1dEncoder layer{nullptr};
};
TORCH_MODULE(FftBranch);

// Holds the Stft and exposes its window as buffer `stft.window` (checkpointed by the reference).
// The buffer shares the Stft's tensor, so Module::to() (which uses set_data) moves both.
struct StftFrontImpl : torch::nn::Module {
  explicit StftFrontImpl(const features::StftOptions& options);
  torch::Tensor forward(const torch::Tensor& wave) { return stft.forward(wave); }
  features::Stft stft;
  std::shared_ptr<torch::nn::Module> holder;
};
TORCH_MODULE(StftFront);

struct StftBranchImpl : torch::nn::Module {
  StftBranchImpl(int64_t sec_samples, const BranchSpec& spec, int64_t emb, bool use_bias);
  torch::Tensor forward(const torch::Tensor& wave);  // (B, L) → (B, E_b)
  // (B, 2, L) = [near, far] → (B, E_b) through Stft::forward_subtract.
  torch::Tensor forward_subtract(const torch::Tensor& wave, const features::SpectralSubtraction& sub) {
    return layer->forward(stft->stft.forward_subtract(wave, sub));
  }
  StftFront stft{nullptr};
  Conv2dEncoder layer{nullptr};
};
TORCH_MODULE(StftBranch);

struct MultiResNetImpl : torch::nn::Module {
  // Throws std::invalid_argument for a bad config (branch order, emb % 8, min(F, T) < 36,
  // a clip too short for the FFT convolutions).
  explicit MultiResNetImpl(const MultiResNetConfig& config);
  // wave (B, L) with L == sec_samples → embedding (B, E); with config.subtract, (B, 2, L).
  torch::Tensor forward(const torch::Tensor& wave);
  const MultiResNetConfig& config() const { return config_; }

  FftBranch fft_layer{nullptr};  // null when the config has no FFT branch
  torch::nn::ModuleList stft_layer_list{nullptr};

 private:
  MultiResNetConfig config_;
};
TORCH_MODULE(MultiResNet);

}  // namespace asd::nn
