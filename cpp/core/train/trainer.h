// The training loop (spec frontends-and-training §7.2–§7.7) of every trained recipe, one epoch
// per call so the caller can checkpoint between epochs: batches from a BatchSource, augmentation
// draws from a generator seeded by (seed, epoch, step), forward, backward, global grad norm,
// AdamW step, per-step metrics (loss terms, grad norm, lr, data-wait and compute times). A non-finite loss skips its update and stops the epoch (the reference stops after the
// NaN batch).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/runtime.h"
#include "train/adamw.h"
#include "train/loader.h"
#include "train/trainable.h"

namespace asd::train {

struct TrainOptions {
  AdamWOptions adamw;
  int64_t warmup_steps = 0;   // linear warm-up from 0 (BEATs/EAT); 0 for dis_*
  int64_t cosine_steps = 0;   // timm t_initial; 0 = constant lr after warm-up
  double lr_min = 0.0;
  // Request deterministic kernels (warn-only) and turn cuDNN benchmarking off, as the reference
  // trainer does; CPU runs are reproducible either way at a fixed thread count.
  bool deterministic = true;
  bool bf16 = false;  // bf16 autocast for forward and loss (CUDA, or a CPU with cpu_has_bf16())
  LoaderOptions loader;  // batch size, seed (also of the augmentation draws), decoder threads
};

struct StepMetrics {
  int64_t epoch = 0, global_step = 0, batch = 0, num_batches = 0, batch_size = 0;
  std::vector<std::pair<std::string, double>> losses;  // §7.4 names; `main` last
  double grad_norm = 0, lr = 0;
  double wait_ms = 0;     // time spent waiting for the loader
  double compute_ms = 0;  // forward + backward + step (device-synchronised)
};

struct EpochResult {
  int64_t steps = 0;
  double last_loss = 0;  // what ASDKit's checkpoint callbacks monitor (§7.5)
  bool non_finite = false;
};

class Trainer {
 public:
  Trainer(std::shared_ptr<TrainableImpl> model, TrainOptions options);

  // Trains one epoch (0-based index `epoch`) over `source` on ctx.device. Throws Cancelled
  // between steps when ctx's token fires (the model is then mid-epoch: reload the last
  // checkpoint to resume).
  EpochResult run_epoch(BatchSource& source, int64_t epoch, const RunContext& ctx,
                        const std::function<void(const StepMetrics&)>& on_step);
  // Clip datasets: the seeded EpochLoader of `data` for this epoch.
  EpochResult run_epoch(const TrainData& data, int64_t epoch, const RunContext& ctx,
                        const std::function<void(const StepMetrics&)>& on_step) {
    EpochLoader loader(data, options_.loader, epoch, ctx.cancel);
    return run_epoch(loader, epoch, ctx, on_step);
  }

  AdamW& optimizer() { return optimizer_; }
  int64_t global_step() const { return global_step_; }
  void set_global_step(int64_t s) { global_step_ = s; }
  const TrainOptions& options() const { return options_; }

 private:
  std::shared_ptr<TrainableImpl> model_;
  TrainOptions options_;
  AdamW optimizer_;
  int64_t global_step_ = 0;
};

// Global L2 norm of every defined gradient (the reference's grad/norm).
double grad_norm(const std::vector<torch::Tensor>& params);

}  // namespace asd::train
