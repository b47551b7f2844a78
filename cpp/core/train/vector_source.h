// Batches of rows of an in-memory feature table (the AE's frame vectors), in a seeded shuffled
// order per epoch — the vector counterpart of the clip EpochLoader.
#pragma once

#include "train/loader.h"
#include "train/trainable.h"

namespace asd::train {

class VectorSource : public BatchSource {
 public:
  // table (N, D) on the CPU; shuffle=false keeps row order.
  VectorSource(torch::Tensor table, int64_t batch_size, uint64_t seed, int64_t epoch, bool shuffle = true)
      : table_(std::move(table)), batch_size_(batch_size),
        order_(epoch_order(table_.size(0), seed, epoch, shuffle)) {
    if (batch_size_ <= 0) throw std::invalid_argument("batch_size must be positive");
    if (table_.dim() != 2 || table_.size(0) == 0) throw std::invalid_argument("training vectors: empty table");
  }
  int64_t num_batches() const override { return (table_.size(0) + batch_size_ - 1) / batch_size_; }
  std::optional<TrainBatch> next() override {
    const int64_t n = table_.size(0), begin = next_ * batch_size_;
    if (begin >= n) return std::nullopt;
    const int64_t end = std::min(n, begin + batch_size_);
    ++next_;
    TrainBatch b;
    b.index.assign(order_.begin() + begin, order_.begin() + end);
    b.input = table_.index_select(0, torch::tensor(b.index, torch::kLong));
    return b;
  }

 private:
  torch::Tensor table_;
  int64_t batch_size_;
  std::vector<int64_t> order_;
  int64_t next_ = 0;
};

}  // namespace asd::train
