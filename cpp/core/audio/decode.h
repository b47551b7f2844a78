// Lenient decoding for scoring users' recordings (detectors): any format libsndfile reads, any
// rate (libsoxr, very high quality), any channel count, cropped/tiled like extraction. The strict
// DCASE reader stays read_wav (wav.h); for a 16 kHz mono 16-bit WAV both give identical samples.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/runtime.h"

namespace asd::audio {

// How multi-channel audio is read (the run setting `channel`): kMean, kNear, kFar make one
// channel (average of all, channel 0, channel 1); kSubtract and kBoth keep channels 0 and 1 as
// two rows for the frontend (spectral subtraction, or one embedding per channel): both readers
// then give (2, length) per clip = [channel 0; channel 1].
enum class Channel { kMean, kNear, kFar, kSubtract, kBoth };

// Parses "mean" / "near" / "far" / "subtract" / "both"; throws std::invalid_argument otherwise.
Channel parse_channel(const std::string& name);
// The setting's name of a mode (parse_channel's inverse), for messages.
const char* channel_name(Channel c);

// True for the modes that keep two channels.
inline bool keeps_two_channels(Channel c) { return c == Channel::kSubtract || c == Channel::kBoth; }

namespace detail {
// Appends the one-channel reduction (kMean, kNear or kFar) of `frames` interleaved frames of
// `channels` channels to `mono`. A mono input passes through untouched for every mode (the
// caller refuses kFar on mono), so 16-bit PCM stays exactly int16/32768.
void reduce_channels(const float* in, int64_t frames, int64_t channels, Channel channel, std::vector<float>& mono);
}  // namespace detail

struct DecodeOptions {
  int64_t sample_rate = 16000;  // output rate (Hz), > 0
  int64_t length = 16000;       // output samples per clip, > 0
  Channel channel = Channel::kMean;
};

// What a file holds (as stored) and, when ok, its clip. Info fields are 0 / "" until known.
struct DecodedClip {
  bool ok = false;
  std::string error;         // "<path>: <problem>" when !ok
  torch::Tensor wave;        // (length), or (2, length) for subtract/both, float32 CPU when ok
  int64_t sample_rate = 0;   // stored rate
  int64_t channels = 0;
  int64_t frames = 0;        // stored frames (libsndfile's count; 0 when the file does not say)
  std::string format;        // major format name, e.g. "WAV", "FLAC", "OGG"
  int64_t frames_read = 0;   // frames actually decoded (bounded by what `length` needs)
};

// Decodes one file: reads at most what `length` output samples need (plus the resampler's
// look-ahead; a 3-hour file costs what a clip costs), reduces channels, resamples to
// opts.sample_rate, then tiles a shorter clip / crops a longer one at offset 0 (crop_or_tile).
// Subtract/both: channels 0 and 1 each go through that path (their own resampler), so row r is
// bit for bit the clip decoded with near (r = 0) or far (r = 1).
// File problems (missing, empty, a directory, truncated or corrupt, no samples, NaN/inf, far,
// subtract or both on mono) come back as !ok with an error; only invalid options throw
// std::invalid_argument.
DecodedClip decode_clip(const std::string& path, const DecodeOptions& opts);

// One file's bytes already in memory (e.g. an HTTP upload); `name` stands for the path in
// errors. The bytes are read in place and must outlive the call.
struct AudioBuffer {
  const unsigned char* data = nullptr;
  int64_t size = 0;
  std::string name;
};

// decode_clip for a file's bytes: libsndfile reads them through sf_open_virtual and everything
// after opening is shared with decode_clip, so the same bytes give the same clip bit for bit.
DecodedClip decode_buffer(const AudioBuffer& buffer, const DecodeOptions& opts);

struct DecodedBatch {
  torch::Tensor wave;                 // (files ok, length) or (files ok, 2, length) float32 CPU, in path order
  std::vector<DecodedClip> files;     // one per path; their `wave` is left undefined
};

// decode_clip over `paths` on `threads` threads (<= 0 → 2; parallel_for): ctx cancellation is
// checked before each file and progress (files done, total) reported after each, failed or not.
DecodedBatch decode_batch(const std::vector<std::string>& paths, const DecodeOptions& opts, const RunContext& ctx,
                          int threads = 2);

// decode_batch over buffers (decode_buffer per entry).
DecodedBatch decode_buffers(const std::vector<AudioBuffer>& buffers, const DecodeOptions& opts, const RunContext& ctx,
                            int threads = 2);

}  // namespace asd::audio
