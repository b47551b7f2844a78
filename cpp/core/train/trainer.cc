#include "train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <optional>

#include "common/op_profile.h"

#if ASDKIT_WITH_CUDA
#include <torch/cuda.h>
#endif

namespace asd::train {

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

void synchronize(torch::Device device) {
#if ASDKIT_WITH_CUDA
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
#else
  (void)device;
#endif
}
}  // namespace

Trainer::Trainer(std::shared_ptr<TrainableImpl> model, TrainOptions options)
    : model_(std::move(model)), options_(options), optimizer_(model_->named_parameters().pairs(), options.adamw) {}

double grad_norm(const std::vector<torch::Tensor>& params) {
  double sq = 0;
  for (const auto& p : params) {
    if (p.grad().defined()) sq += p.grad().detach().to(torch::kFloat64).pow(2).sum().item<double>();
  }
  return std::sqrt(sq);
}

EpochResult Trainer::run_epoch(BatchSource& loader, int64_t epoch, const RunContext& ctx,
                               const std::function<void(const StepMetrics&)>& on_step) {
  at::globalContext().setDeterministicAlgorithms(options_.deterministic, /*warn_only=*/true);
  at::globalContext().setBenchmarkCuDNN(false);
  { Bf16Autocast check(ctx.device, options_.bf16); }  // refuse an unsupported device before any work
  model_->to(ctx.device);
  model_->train();
  const auto params = model_->parameters();
  std::optional<OpProfile> profile;  // from the second step on: the first is warm-up
  EpochResult result;
  for (int64_t b = 0;; ++b) {
    ctx.check();
    auto t0 = Clock::now();
    std::optional<TrainBatch> batch = loader.next();
    if (!batch) break;
    if (b == 1) profile.emplace();
    StepMetrics m;
    m.wait_ms = ms_since(t0);
    t0 = Clock::now();
    m.epoch = epoch, m.batch = b, m.num_batches = loader.num_batches(), m.batch_size = batch->input.size(0);
    m.lr = scheduled_lr(options_.adamw.lr, global_step_, options_.warmup_steps, options_.cosine_steps, options_.lr_min);

    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
        mix_seed({options_.loader.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(b), 0x4d495855ull}));
    TrainBatch on_device{batch->input.to(ctx.device), batch->target.defined() ? batch->target.to(ctx.device) : torch::Tensor(), {}};
    // Autocast covers forward and loss only: backward follows the forward's dtypes, and the scope
    // must end before AdamW updates the weights in place, or the next step would reuse the bf16
    // weight copies autocast caches while it is on.
    LossTerms terms = [&] {
      Bf16Autocast autocast(ctx.device, options_.bf16);
      return model_->training_loss(on_device, gen);
    }();
    const torch::Tensor& total = terms.back().second;
    optimizer_.zero_grad();
    total.backward();
    m.grad_norm = grad_norm(params);
    for (const auto& [name, t] : terms) m.losses.emplace_back(name, t.item<double>());
    const double loss = m.losses.back().second;
    result.last_loss = loss;
    result.steps += 1;
    if (!std::isfinite(loss)) {
      result.non_finite = true;
    } else {
      optimizer_.step(m.lr);
      global_step_ += 1;
    }
    synchronize(ctx.device);
    m.compute_ms = ms_since(t0);
    m.global_step = global_step_;
    ctx.report(b + 1, loader.num_batches());
    if (on_step) on_step(m);
    if (result.non_finite) break;
  }
  return result;
}

}  // namespace asd::train
