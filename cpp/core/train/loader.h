// The training data pipeline (spec frontends-and-training §1.4–§1.6): every epoch visits the
// clips in a seeded shuffled order; each batch is decoded on worker threads, tiled and cropped
// at a random offset, and stacked with its one-hot labels while the previous batch trains.
// Every random draw is a function of (seed, epoch, position), so an epoch is reproducible on
// its own — what makes resuming from an epoch checkpoint bit-identical to an uninterrupted run.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audio/decode.h"
#include "common/runtime.h"
#include "train/trainable.h"

namespace asd::train {

struct TrainData {
  std::vector<std::string> paths;
  std::vector<int64_t> labels;  // class index per clip, in [0, n_classes)
  int64_t n_classes = 0;
  int64_t length = 0;           // samples per training window (int(sr·sec))
  audio::Channel channel = audio::Channel::kNear;  // subtract/both give (B, 2, length) inputs
  // Throws std::invalid_argument on empty data, mismatched sizes or out-of-range labels.
  void validate() const;
};

struct LoaderOptions {
  int64_t batch_size = 64;
  uint64_t seed = 0;
  int io_threads = 2;  // decoder threads per batch
  int prefetch = 2;    // batches decoded ahead of the consumer
  bool shuffle = true;  // shuffled order and random crops (training); false = sorted, offset 0
};

// 64-bit mix of several integers (splitmix64 chain) used to derive per-epoch/per-item seeds.
uint64_t mix_seed(std::initializer_list<uint64_t> parts);

// The clip order of one epoch: a Fisher–Yates shuffle seeded by (seed, epoch).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

// One epoch's batches (input: (B, length) waves, (B, 2, length) for the two-channel modes, target: (B, n_classes) one-hot, CPU), produced
// by a background thread. Not copyable; the destructor stops and joins the producer.
class EpochLoader : public BatchSource {
 public:
  EpochLoader(const TrainData& data, const LoaderOptions& options, int64_t epoch, const CancelToken* cancel);
  ~EpochLoader() override;
  EpochLoader(const EpochLoader&) = delete;
  EpochLoader& operator=(const EpochLoader&) = delete;

  int64_t num_batches() const override { return num_batches_; }
  // Blocks until the next batch is ready; nullopt after the last one. Rethrows a decoding error
  // (it names the file).
  std::optional<TrainBatch> next() override;

 private:
  void produce();
  TrainBatch make_batch(int64_t b) const;

  const TrainData& data_;
  LoaderOptions options_;
  int64_t epoch_;
  const CancelToken* cancel_;
  std::vector<int64_t> order_;
  int64_t num_batches_ = 0;
  int64_t consumed_ = 0;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<TrainBatch> queue_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread producer_;
};

}  // namespace asd::train
