// Batched extraction from files: decode on worker threads, prefetch the next batch while the
// current one runs through the frontend, concatenate outputs in input order.
#pragma once

#include <string>
#include <vector>

#include "audio/decode.h"
#include "common/runtime.h"
#include "extract/frontend.h"

namespace asd::extract {

struct ExtractOptions {
  int64_t length = 0;      // samples after crop/tile (int(16000 * sec)); 0 = keep each clip whole
  int64_t batch_size = 64;
  int io_threads = 2;      // decoder threads per batch
  bool bf16 = false;       // bf16 autocast (CUDA only; outputs are returned as float32)
  // Which channel(s) the decoder reads (audio::read_wav); subtract/both hand the frontend (B, 2, L).
  audio::Channel channel = audio::Channel::kNear;
};

// Runs `frontend` over `paths` (in order) and returns each output concatenated over batches, on
// the CPU. Progress is reported in clips; cancellation is checked between batches.
Outputs extract_files(Frontend& frontend, const std::vector<std::string>& paths, const ExtractOptions& opts,
                      const RunContext& ctx);

// Runs `frontend` over waveforms already in memory, (N, L) on any device, `batch_size` rows at a
// time on ctx.device, and concatenates each output on the CPU. Progress in rows; cancellation
// between batches.
Outputs forward_batches(Frontend& frontend, const torch::Tensor& wave, const ExtractOptions& opts, const RunContext& ctx);

}  // namespace asd::extract
