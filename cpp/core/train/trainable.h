// What the epoch trainer needs from a model and from its data, so one trainer serves every
// recipe: the clip models (MultiResNet + heads) and the AE (frame vectors).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace asd::train {

// One batch: the model input (waveforms or feature vectors) and, for supervised models, the
// (B, C) target; `index` = positions of the rows in the dataset.
struct TrainBatch {
  torch::Tensor input;
  torch::Tensor target;
  std::vector<int64_t> index;
};

// An epoch's batches in order.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t num_batches() const = 0;
  // Blocks until the next batch is ready; nullopt after the last one.
  virtual std::optional<TrainBatch> next() = 0;
};

// How a clip model takes the clips' channels (run setting `channel`): one channel (B, L) (near,
// far or mean, chosen by the reader), (B, 2, L) spectrally subtracted inside the frontend, or
// (B, 2, L) with each channel embedded by the one extractor and the embeddings concatenated.
enum class ClipChannels { kOne, kSubtract, kBoth };

// channel=both: (B, 2, L) = [near, far] → (2B, L) through `embed` (B·2 rows, near then far per
// clip) → (B, 2E) = [near embedding | far embedding].
template <class F>
torch::Tensor embed_each_channel(const torch::Tensor& wave, F&& embed) {
  TORCH_CHECK(wave.dim() == 3 && wave.size(1) == 2, "channel both: expected a (B, 2, L) wave, got ", wave.sizes());
  const int64_t b = wave.size(0);
  const torch::Tensor e = embed(wave.reshape({2 * b, wave.size(2)}));
  return e.reshape({b, 2 * e.size(1)});
}

// Named loss terms as ASDKit logs them, in logging order; the last is `main`, the optimised total.
using LossTerms = std::vector<std::pair<std::string, torch::Tensor>>;

class TrainableImpl : public torch::nn::Module {
 public:
  // One training forward on a batch already on the model's device; augmentation draws come
  // from `gen` (a CPU generator).
  virtual LossTerms training_loss(const TrainBatch& batch, at::Generator gen) = 0;
};

}  // namespace asd::train
