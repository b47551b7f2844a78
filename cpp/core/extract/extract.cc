#include "extract/extract.h"

#include <future>
#include <stdexcept>

#include "audio/wav.h"
#include "common/op_profile.h"

namespace asd::extract {

namespace {
// Collects a frontend's per-batch outputs (moved to the CPU) and concatenates each over batches.
class OutputConcat {
 public:
  void add(Outputs& out) {
    if (parts_.empty()) {
      for (auto& kv : out) names_.push_back(kv.first);
      parts_.resize(out.size());
    }
    if (out.size() != names_.size()) throw std::logic_error("frontend returned a different set of outputs");
    for (size_t i = 0; i < out.size(); ++i) parts_[i].push_back(out[i].second.to(torch::kCPU).to(torch::kFloat32));
  }
  Outputs result() {
    Outputs r;
    for (size_t i = 0; i < names_.size(); ++i) r.emplace_back(names_[i], torch::cat(parts_[i], 0));
    return r;
  }

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<torch::Tensor>> parts_;
};
}  // namespace

Outputs extract_files(Frontend& frontend, const std::vector<std::string>& paths, const ExtractOptions& opts,
                      const RunContext& ctx) {
  if (opts.batch_size <= 0) throw std::invalid_argument("batch_size must be positive");
  if (opts.length <= 0 && opts.batch_size != 1 && paths.size() > 1) {
    // Whole clips of different lengths cannot be stacked.
    throw std::invalid_argument("extracting whole clips (no crop length) needs batch_size 1");
  }
  torch::NoGradGuard no_grad;
  Bf16Autocast autocast(ctx.device, opts.bf16);
  frontend.to(ctx.device);
  const int64_t n = static_cast<int64_t>(paths.size());
  RunContext io_ctx;  // decoding reports no progress of its own; cancellation still applies
  io_ctx.cancel = ctx.cancel;

  auto load = [&](int64_t start) {
    const int64_t end = std::min(n, start + opts.batch_size);
    std::vector<std::string> batch(paths.begin() + start, paths.begin() + end);
    return audio::load_batch(batch, opts.length, io_ctx, opts.io_threads, opts.channel);
  };

  OutputConcat outputs;
  std::future<torch::Tensor> next;
  if (n > 0) next = std::async(std::launch::async, load, 0);
  for (int64_t start = 0; start < n; start += opts.batch_size) {
    torch::Tensor wave = next.get();
    ctx.check();
    if (start + opts.batch_size < n) next = std::async(std::launch::async, load, start + opts.batch_size);
    Outputs out = frontend.forward(wave.to(ctx.device));
    outputs.add(out);
    ctx.report(std::min(n, start + opts.batch_size), n);
  }
  if (next.valid()) next.wait();
  return outputs.result();
}

Outputs forward_batches(Frontend& frontend, const torch::Tensor& wave, const ExtractOptions& opts, const RunContext& ctx) {
  const int64_t batch_size = opts.batch_size;
  if (batch_size <= 0) throw std::invalid_argument("batch_size must be positive");
  torch::NoGradGuard no_grad;
  Bf16Autocast autocast(ctx.device, opts.bf16);
  OpProfile profile;
  frontend.to(ctx.device);
  const int64_t n = wave.size(0);
  OutputConcat outputs;
  for (int64_t b = 0; b < n; b += batch_size) {
    ctx.check();
    Outputs out = frontend.forward(wave.slice(0, b, std::min(n, b + batch_size)).to(ctx.device));
    outputs.add(out);
    ctx.report(std::min(n, b + batch_size), n);
  }
  return outputs.result();
}

}  // namespace asd::extract
