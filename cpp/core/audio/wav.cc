#include "audio/wav.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "audio/pcm16_direct.h"
#include "audio/sndfile_io.h"
#include "common/parallel.h"

namespace asd::audio {
namespace {

constexpr int64_t kMinCachedFloats = int64_t{1} << 18;  // 1 MiB of float32

using detail::check_samples;
using detail::data_chunk_shortfall;
using detail::fail;
using detail::format_name;
using detail::reduce_channels;
using detail::tile_into;

torch::Tensor crop_at(const torch::Tensor& wave, int64_t length, std::mt19937_64* rng) {
  TORCH_CHECK(wave.dim() == 1 || wave.dim() == 2, "crop_or_tile: expected a (L) or (C, L) wave, got ", wave.dim(),
              " dimensions");
  TORCH_CHECK(length > 0, "crop_or_tile: length must be positive, got ", length);
  const int64_t n = wave.size(-1);
  TORCH_CHECK(n > 0, "crop_or_tile: cannot tile an empty clip");
  const int64_t reps = n < length ? (length + n - 1) / n : 1;
  const torch::Tensor tiled = reps > 1 ? (wave.dim() == 1 ? wave.repeat({reps}) : wave.repeat({1, reps})) : wave;
  int64_t offset = 0;
  if (rng) offset = std::uniform_int_distribution<int64_t>(0, tiled.size(-1) - length)(*rng);
  return tiled.narrow(-1, offset, length);
}

// read_wav; `min_floats` > 0 sizes the samples' block at least that large (a transient clip).
torch::Tensor read_wav_into_block(const std::string& path, Channel channel, int64_t min_floats) {
  SF_INFO info{};
  detail::SndfilePtr file = detail::open_for_reading(path, info, "a WAV file");

  const int major = info.format & SF_FORMAT_TYPEMASK;
  if (major != SF_FORMAT_WAV && major != SF_FORMAT_WAVEX && major != SF_FORMAT_RF64) {
    fail(path, "not a WAV file (" + format_name(major) + ")");
  }
  if (info.samplerate != kSampleRate) {
    fail(path, "sample rate " + std::to_string(info.samplerate) + " Hz, expected 16000 Hz");
  }
  if (info.channels < 1) fail(path, "invalid channel count " + std::to_string(info.channels));
  if (channel != Channel::kNear && channel != Channel::kMean && info.channels < 2) {
    fail(path, "mono audio has no far channel");
  }
  const int subtype = info.format & SF_FORMAT_SUBMASK;
  if (subtype != SF_FORMAT_PCM_16 && subtype != SF_FORMAT_FLOAT && subtype != SF_FORMAT_DOUBLE) {
    fail(path, "unsupported sample format (" + format_name(subtype) + "), expected 16-bit PCM or float");
  }
  if (auto shortfall = data_chunk_shortfall(path)) fail(path, "truncated or not a WAV file (" + *shortfall + ")");
  if (info.frames <= 0) fail(path, "no audio samples");

  // SFC_SET_NORM_FLOAT is on by default: 16-bit PCM is scaled by exactly 1/32768 (a power of
  // two, so int16/32768 is exact in float32); float data is passed through unscaled.
  const int64_t channels = info.channels;
  const int64_t n = info.frames * channels;
  torch::Tensor raw = torch::empty({std::max(n, min_floats)}, torch::kFloat32).narrow(0, 0, n);
  const bool direct = subtype == SF_FORMAT_PCM_16 &&
                      detail::read_pcm16_direct(path, info.frames, channels, 0, info.frames, raw.data_ptr<float>());
  const sf_count_t got = direct ? info.frames : sf_readf_float(file.get(), raw.data_ptr<float>(), info.frames);
  if (got != info.frames) {
    fail(path, "truncated or not a WAV file (read " + std::to_string(got) + " of " + std::to_string(info.frames) +
                   " frames: " + sf_strerror(file.get()) + ")");
  }
  // Float WAVs can hold anything: one NaN, inf or absurd value silently poisons every distance
  // and score downstream, so such a clip is refused here, naming it. (16-bit PCM is always finite.)
  if (subtype != SF_FORMAT_PCM_16) check_samples(path, raw.data_ptr<float>(), raw.numel());
  if (channels == 1) return raw;  // near/mean of a mono file: the samples as read, bit for bit

  // Several channels: decode.cc's reduction, once per channel the mode keeps.
  const float* in = raw.data_ptr<float>();
  std::vector<Channel> rows{channel};
  if (keeps_two_channels(channel)) rows = {Channel::kNear, Channel::kFar};
  torch::Tensor wave = torch::empty({static_cast<int64_t>(rows.size()), info.frames}, torch::kFloat32);
  std::vector<float> buf;
  for (size_t r = 0; r < rows.size(); ++r) {
    buf.clear();
    reduce_channels(in, info.frames, channels, rows[r], buf);
    std::copy(buf.begin(), buf.end(), wave[static_cast<int64_t>(r)].data_ptr<float>());
  }
  return rows.size() == 1 ? wave[0] : wave;
}

}  // namespace

torch::Tensor read_wav(const std::string& path, Channel channel) { return read_wav_into_block(path, channel, 0); }

torch::Tensor crop_or_tile(const torch::Tensor& wave, int64_t length) { return crop_at(wave, length, nullptr); }

torch::Tensor crop_or_tile(const torch::Tensor& wave, int64_t length, std::mt19937_64& rng) {
  return crop_at(wave, length, &rng);
}

torch::Tensor load_batch(const std::vector<std::string>& paths, int64_t length, const RunContext& ctx,
                         int threads, Channel channel) {
  if (length <= 0) throw std::invalid_argument("load_batch: length must be positive, got " + std::to_string(length));
  const int64_t total = static_cast<int64_t>(paths.size());
  const int64_t rows = keeps_two_channels(channel) ? 2 : 1;
  torch::Tensor out = rows == 1 ? torch::empty({total, length}, torch::kFloat32) : torch::empty({total, rows, length}, torch::kFloat32);
  float* base = out.data_ptr<float>();
  parallel_for(
      total, threads <= 0 ? 2 : threads,
      [&](int64_t i) {
        // Its samples in a block of at least 1 MiB, from the caching allocator (common/cpu_cache.h):
        // a 10 s clip's 625 KiB was otherwise a fresh glibc mapping per file, whose page faults
        // cost more than decoding it.
        const torch::Tensor wave = read_wav_into_block(paths[static_cast<size_t>(i)], channel, kMinCachedFloats);  // (L) or (2, L)
        const int64_t n = wave.size(-1);
        for (int64_t r = 0; r < rows; ++r) tile_into(wave.data_ptr<float>() + r * n, n, base + (i * rows + r) * length, length);
      },
      ctx);
  return out.to(ctx.device);
}

}  // namespace asd::audio
