// WAV decoding and the pad-then-crop clip handling of ASDKit's wave collator
// (spec: frontends-and-training §1.2–§1.4, data-and-evaluation §3.4).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "common/runtime.h"

namespace asd::audio {

constexpr int64_t kSampleRate = 16000;

// Decodes a 16 kHz WAV (16-bit PCM, 32- or 64-bit float) to a float32 CPU tensor: (L) for
// channel near/far/mean (decode.h's reduction), (2, L) = [channel 0; channel 1] for subtract/both.
// A mono file is read as it is for near/mean (16-bit samples become int16/32768 exactly); far,
// subtract and both need a second channel. Throws std::runtime_error "<path>: <problem>" for a
// missing file, a wrong rate, a mono file without the channel asked for, another sample format,
// an empty clip, or a file that is not a WAV or whose data chunk is shorter than announced.
torch::Tensor read_wav(const std::string& path, Channel channel = Channel::kNear);

// Pad-then-crop with pad mode "tile" and offset 0 (extraction/validation): a clip shorter than
// `length` is repeated whole ceil(length/n) times; the first `length` samples are returned.
// `wave` is (L) or (C, L) (tiled along its last axis) on any device; the result is on the same device.
torch::Tensor crop_or_tile(const torch::Tensor& wave, int64_t length);

// Training variant: same tiling, but the window starts at a uniform offset in
// [0, tiled_length - length] drawn from `rng` (one draw even when the offset range is {0}).
torch::Tensor crop_or_tile(const torch::Tensor& wave, int64_t length, std::mt19937_64& rng);

// Decodes `paths` on `threads` threads (<= 0 → 2; parallel_for), crops/tiles each clip to `length`
// samples (offset 0) and stacks them into a (B, length) float32 tensor on ctx.device, or
// (B, 2, length) for the two-channel modes (read_wav's `channel`).
// Checks ctx cancellation before each file and reports progress (files done, B) after each.
// If any file fails, the error of the lowest-index failing file is rethrown (it names its path).
torch::Tensor load_batch(const std::vector<std::string>& paths, int64_t length, const RunContext& ctx,
                         int threads = 2, Channel channel = Channel::kNear);

}  // namespace asd::audio
