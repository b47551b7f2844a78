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

// Named loss terms as ASDKit logs them, in logging order; the last is `main`, the optimised total.
using LossTerms = std::vector<std::pair<std::string, torch::Tensor>>;

class TrainableImpl : public torch::nn::Module {
 public:
  // One training forward on a batch already on the model's device; augmentation draws come
  // from `gen` (a CPU generator).
  virtual LossTerms training_loss(const TrainBatch& batch, at::Generator gen) = 0;
};

}  // namespace asd::train
