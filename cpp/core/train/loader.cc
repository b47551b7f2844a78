#include "train/loader.h"

#include <algorithm>
#include <random>
#include <stdexcept>

#include "audio/wav.h"
#include "common/parallel.h"

namespace asd::train {

void TrainData::validate() const {
  if (paths.empty()) throw std::invalid_argument("training data: no clips");
  if (labels.size() != paths.size()) throw std::invalid_argument("training data: one label per clip is needed");
  if (n_classes < 1) throw std::invalid_argument("training data: n_classes must be >= 1");
  if (length <= 0) throw std::invalid_argument("training data: the window length must be positive");
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= n_classes) {
      throw std::invalid_argument("training data: " + paths[i] + ": label " + std::to_string(labels[i]) + " is outside [0, " +
                                  std::to_string(n_classes) + ")");
    }
  }
}

uint64_t mix_seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (uint64_t p : parts) {
    h ^= p + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    uint64_t z = (h += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    h = z ^ (z >> 31);
  }
  return h;
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  if (!shuffle) return order;
  // Own Fisher–Yates (not std::shuffle, whose draws are library-specific).
  std::mt19937_64 rng(mix_seed({seed, static_cast<uint64_t>(epoch), 0x5348554646ull}));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng() % static_cast<uint64_t>(i + 1))]);
  return order;
}

EpochLoader::EpochLoader(const TrainData& data, const LoaderOptions& options, int64_t epoch, const CancelToken* cancel)
    : data_(data), options_(options), epoch_(epoch), cancel_(cancel) {
  data_.validate();
  if (options_.batch_size <= 0) throw std::invalid_argument("batch_size must be positive");
  const int64_t n = static_cast<int64_t>(data_.paths.size());
  order_ = epoch_order(n, options_.seed, epoch_, options_.shuffle);
  num_batches_ = (n + options_.batch_size - 1) / options_.batch_size;  // the last batch is kept (§1.6)
  producer_ = std::thread([this] { produce(); });
}

EpochLoader::~EpochLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (producer_.joinable()) producer_.join();
}

TrainBatch EpochLoader::make_batch(int64_t b) const {
  const int64_t n = static_cast<int64_t>(order_.size());
  const int64_t begin = b * options_.batch_size, end = std::min(n, begin + options_.batch_size);
  const int64_t rows = end - begin;
  TrainBatch batch;
  batch.input = audio::keeps_two_channels(data_.channel) ? torch::empty({rows, 2, data_.length}, torch::kFloat32)
                                                         : torch::empty({rows, data_.length}, torch::kFloat32);
  batch.target = torch::zeros({rows, data_.n_classes}, torch::kFloat32);
  batch.index.assign(order_.begin() + begin, order_.begin() + end);
  RunContext ctx;  // the loader reports no progress of its own; cancellation still applies
  ctx.cancel = cancel_;
  parallel_for(
      rows, options_.io_threads,
      [&](int64_t r) {
        const int64_t i = batch.index[static_cast<size_t>(r)];
        const torch::Tensor w = audio::read_wav(data_.paths[static_cast<size_t>(i)], data_.channel);
        torch::Tensor clip;
        if (options_.shuffle) {
          // Seeded by position, so the crop does not depend on which thread decodes the row.
          std::mt19937_64 rng(mix_seed({options_.seed, static_cast<uint64_t>(epoch_), static_cast<uint64_t>(begin + r)}));
          clip = audio::crop_or_tile(w, data_.length, rng);
        } else {
          clip = audio::crop_or_tile(w, data_.length);
        }
        batch.input[r].copy_(clip);
        batch.target[r][data_.labels[static_cast<size_t>(i)]] = 1.0f;
      },
      ctx);
  return batch;
}

void EpochLoader::produce() {
  for (int64_t b = 0; b < num_batches_; ++b) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || static_cast<int>(queue_.size()) < std::max(1, options_.prefetch); });
      if (stop_) return;
    }
    try {
      TrainBatch batch = make_batch(b);
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
      cv_.notify_all();
      return;
    }
    cv_.notify_all();
  }
}

std::optional<TrainBatch> EpochLoader::next() {
  if (consumed_ >= num_batches_) return std::nullopt;
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return !queue_.empty() || error_ != nullptr; });
  if (queue_.empty()) std::rethrow_exception(error_);
  TrainBatch batch = std::move(queue_.front());
  queue_.pop_front();
  ++consumed_;
  lock.unlock();
  cv_.notify_all();
  return batch;
}

}  // namespace asd::train
