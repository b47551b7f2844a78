#include "audio/decode.h"

#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "audio/pcm16_direct.h"
#include "audio/sndfile_io.h"
#include "common/parallel.h"

namespace asd::audio {
namespace {

namespace fs = std::filesystem;
using detail::fail;

// Frames read per step once the first read (what `length` needs) has been made: the resampler
// holds back its filter's look-ahead, so a few small top-ups finish the clip.
constexpr int64_t kTopUpFrames = 1024;

struct SoxrDeleter {
  void operator()(soxr_t s) const { soxr_delete(s); }
};
using SoxrPtr = std::unique_ptr<std::remove_pointer_t<soxr_t>, SoxrDeleter>;

// "WAV (Microsoft)" → "WAV": the short name the JS side shows.
std::string major_name(int format) {
  std::string name = detail::format_name(format & SF_FORMAT_TYPEMASK);
  const size_t cut = name.find(" (");
  return cut == std::string::npos ? name : name.substr(0, cut);
}

// Feeds n samples (in == nullptr: end of input) and appends what soxr releases to `out`.
void resample_push(const std::string& path, soxr_t rs, const float* in, size_t n, double ratio,
                   std::vector<float>& out) {
  std::vector<float> buf(static_cast<size_t>(std::ceil(static_cast<double>(n) * ratio)) + 4096);
  // soxr may hand back less than it could when `buf` is full: call again until it has nothing
  // more for us (bounded, so a misbehaving resampler cannot spin).
  for (int guard = 0; guard < 1000000; ++guard) {
    size_t idone = 0, odone = 0;
    const soxr_error_t err = soxr_process(rs, in, in ? n : 0, in ? &idone : nullptr, buf.data(), buf.size(), &odone);
    if (err) fail(path, std::string("resampling failed (") + err + ")");
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(odone));
    if (in) {
      in += idone;
      n -= idone;
      if (n == 0 && odone < buf.size()) return;
    } else if (odone == 0) {
      return;
    }
  }
  fail(path, "resampling did not finish");
}

// A clip's opened handle: the only part that differs between a file and bytes in memory.
struct Opened {
  detail::MemoryFile memory;  // the cursor libsndfile reads buffers through (before `file`: outlives it)
  detail::SndfilePtr file;
  SF_INFO info{};
  std::optional<std::string> shortfall;  // RIFF data chunk announcing more bytes than present
};

void open_path(const std::string& path, Opened& o) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(path, "is a directory, not an audio file");
  if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) == 0 && !ec) fail(path, "empty file (0 bytes)");
  o.file = detail::open_for_reading(path, o.info, "a readable audio file");
  o.shortfall = detail::data_chunk_shortfall(path);
}

void open_buffer(const AudioBuffer& buffer, Opened& o) {
  if (buffer.size <= 0) fail(buffer.name, "empty buffer (0 bytes)");
  o.memory.data = buffer.data;
  o.memory.size = buffer.size;
  o.file = detail::open_memory_for_reading(buffer.name, o.memory, o.info, "a readable audio file");
  o.shortfall = detail::data_chunk_shortfall(buffer.data, buffer.size);
}

// The body of decode_clip / decode_buffer once opened; problems throw "<name>: <problem>"
// (caught by the caller).
void decode_opened(const std::string& path, Opened& opened, const DecodeOptions& opts, DecodedClip& out) {
  const SF_INFO& info = opened.info;
  SNDFILE* file = opened.file.get();
  out.sample_rate = info.samplerate;
  out.channels = info.channels;
  const bool known_length = info.frames != SF_COUNT_MAX;
  out.frames = known_length ? info.frames : 0;
  out.format = major_name(info.format);
  if (info.samplerate <= 0) fail(path, "invalid sample rate " + std::to_string(info.samplerate) + " Hz");
  if (info.channels <= 0) fail(path, "invalid channel count " + std::to_string(info.channels));
  if (opts.channel != Channel::kMean && opts.channel != Channel::kNear && info.channels < 2) {
    fail(path, "mono audio has no far channel" +
                   std::string(keeps_two_channels(opts.channel) ? " (channel subtract/both needs two channels)" : ""));
  }
  if (opened.shortfall) fail(path, "truncated (" + *opened.shortfall + ")");
  if (info.frames <= 0) fail(path, "no audio samples");

  const bool resample = info.samplerate != opts.sample_rate;
  const double ratio = static_cast<double>(opts.sample_rate) / info.samplerate;
  // Input frames the clip needs before the resampler's look-ahead; never more than the file.
  const double need = std::ceil(static_cast<double>(opts.length) / ratio);
  int64_t want = static_cast<int64_t>(std::min(need, static_cast<double>(info.frames)));

  // The one-channel reductions this clip is made of: one, or near and far (its rows), each with
  // its own resampler fed exactly what a one-channel decode of it is fed.
  std::vector<Channel> rows{opts.channel};
  if (keeps_two_channels(opts.channel)) rows = {Channel::kNear, Channel::kFar};
  const size_t R = rows.size();
  std::vector<SoxrPtr> rs(R);
  if (resample) {
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_VHQ, 0);
    const soxr_runtime_spec_t runtime = soxr_runtime_spec(1);  // decode workers are the parallelism
    for (auto& r : rs) {
      soxr_error_t err = nullptr;
      r.reset(soxr_create(info.samplerate, static_cast<double>(opts.sample_rate), 1, &err, &io, &quality, &runtime));
      if (!r || err) fail(path, std::string("cannot resample (") + (err ? err : "soxr_create failed") + ")");
    }
  }

  const int64_t channels = info.channels;
  // 16-bit PCM WAV: samples read straight from the data chunk (audio/pcm16_direct.h) while the
  // file's chunks agree with libsndfile; libsndfile reads from where that stops otherwise.
  const int major = info.format & SF_FORMAT_TYPEMASK;
  bool direct = known_length && (info.format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_16 &&
                (major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX);
  std::vector<float> interleaved;
  std::vector<std::vector<float>> mono(R), resampled(R);
  int64_t read = 0;
  while (true) {
    want = std::min<int64_t>(want, info.frames - read);
    sf_count_t got = 0;
    if (want > 0) {
      interleaved.resize(static_cast<size_t>(want * channels));
      float* dst = interleaved.data();
      if (direct && (opened.memory.data ? detail::read_pcm16_direct(opened.memory.data, opened.memory.size, info.frames,
                                                                     channels, read, want, dst)
                                        : detail::read_pcm16_direct(path, info.frames, channels, read, want, dst))) {
        got = want;
      } else {
        if (direct && sf_seek(file, read, SEEK_SET) != read) fail(path, "cannot seek to frame " + std::to_string(read));
        direct = false;
        got = std::max<sf_count_t>(sf_readf_float(file, dst, want), 0);
      }
    }
    // libsndfile announced these frames: fewer means the file is cut off or damaged. (A stream
    // of unknown length, e.g. an Ogg file without its last page, just ends.)
    if (got < want && known_length) {
      fail(path, "truncated or corrupt (read " + std::to_string(read + got) + " of " + std::to_string(info.frames) +
                     " frames: " + sf_strerror(file) + ")");
    }
    const size_t first = mono[0].size();
    for (size_t r = 0; r < R; ++r) detail::reduce_channels(interleaved.data(), got, channels, rows[r], mono[r]);
    read += got;
    out.frames_read = read;
    const bool eof = read >= info.frames || got < want;
    if (!resample) break;  // `want` was exactly what the clip needs (or the whole file)
    size_t shortest = SIZE_MAX;
    for (size_t r = 0; r < R; ++r) {
      resample_push(path, rs[r].get(), mono[r].data() + first, static_cast<size_t>(got), ratio, resampled[r]);
      if (eof) resample_push(path, rs[r].get(), nullptr, 0, ratio, resampled[r]);
      shortest = std::min(shortest, resampled[r].size());
    }
    if (eof || static_cast<int64_t>(shortest) >= opts.length) break;
    want = kTopUpFrames;
  }
  if (mono[0].empty()) fail(path, "no audio samples");
  // Float and compressed data can hold anything: one NaN, inf or absurd value silently poisons
  // every score downstream, so such a clip is refused, naming it. (Checked before resampling,
  // where frame numbers still match the file.)
  for (const auto& m : mono) detail::check_samples(path, m.data(), static_cast<int64_t>(m.size()));

  out.wave = R == 1 ? torch::empty({opts.length}, torch::kFloat32) : torch::empty({static_cast<int64_t>(R), opts.length}, torch::kFloat32);
  for (size_t r = 0; r < R; ++r) {
    const std::vector<float>& clip = resample ? resampled[r] : mono[r];
    if (clip.empty()) fail(path, "no audio samples after resampling to " + std::to_string(opts.sample_rate) + " Hz");
    detail::tile_into(clip.data(), static_cast<int64_t>(clip.size()), out.wave.data_ptr<float>() + r * opts.length, opts.length);
  }
}

void check_options(const DecodeOptions& opts) {
  if (opts.sample_rate <= 0) {
    throw std::invalid_argument("decode: sample_rate must be positive, got " + std::to_string(opts.sample_rate));
  }
  if (opts.length <= 0) throw std::invalid_argument("decode: length must be positive, got " + std::to_string(opts.length));
}

// Opens with `open(Opened&)`, then decodes; every failure becomes an entry naming `name`.
template <typename Open>
DecodedClip decode_with(const std::string& name, const DecodeOptions& opts, Open open) {
  DecodedClip out;
  try {
    Opened opened;
    open(opened);
    decode_opened(name, opened, opts, out);
    out.ok = true;
  } catch (const std::exception& e) {
    // Our own failures already read "<name>: …"; anything else (e.g. out of memory) gets the name.
    const std::string what = e.what();
    out.error = what.rfind(name + ": ", 0) == 0 ? what : name + ": " + what;
    out.wave = torch::Tensor();
  }
  return out;
}

// Decodes entries 0..n) with `decode_one` on `threads` threads and stacks the good clips.
DecodedBatch gather(int64_t total, const DecodeOptions& opts, const RunContext& ctx, int threads,
                    const std::function<DecodedClip(int64_t)>& decode_one) {
  DecodedBatch batch;
  batch.files.resize(static_cast<size_t>(total));
  parallel_for(
      total, threads <= 0 ? 2 : threads, [&](int64_t i) { batch.files[static_cast<size_t>(i)] = decode_one(i); }, ctx);

  int64_t ok = 0;
  for (const auto& f : batch.files) ok += f.ok ? 1 : 0;
  batch.wave = keeps_two_channels(opts.channel) ? torch::empty({ok, 2, opts.length}, torch::kFloat32)
                                                : torch::empty({ok, opts.length}, torch::kFloat32);
  const int64_t per_clip = keeps_two_channels(opts.channel) ? 2 * opts.length : opts.length;
  float* dst = batch.wave.data_ptr<float>();
  for (auto& f : batch.files) {
    if (!f.ok) continue;
    std::copy_n(f.wave.data_ptr<float>(), per_clip, dst);
    dst += per_clip;
    f.wave = torch::Tensor();  // the row lives in batch.wave now
  }
  return batch;
}

}  // namespace

void detail::reduce_channels(const float* in, int64_t frames, int64_t channels, Channel channel, std::vector<float>& mono) {
  if (channel != Channel::kMean && channel != Channel::kNear && channel != Channel::kFar) {
    throw std::invalid_argument("reduce_channels: subtract and both keep two channels");
  }
  const size_t base = mono.size();
  mono.resize(base + static_cast<size_t>(frames));
  float* out = mono.data() + base;
  if (channels == 1 || channel != Channel::kMean) {
    const int64_t c = channels == 1 ? 0 : channel == Channel::kFar ? 1 : 0;
    for (int64_t i = 0; i < frames; ++i) out[i] = in[i * channels + c];
    return;
  }
  for (int64_t i = 0; i < frames; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < channels; ++c) sum += in[i * channels + c];
    out[i] = static_cast<float>(sum / static_cast<double>(channels));
  }
}

Channel parse_channel(const std::string& name) {
  if (name == "mean") return Channel::kMean;
  if (name == "near") return Channel::kNear;
  if (name == "far") return Channel::kFar;
  if (name == "subtract") return Channel::kSubtract;
  if (name == "both") return Channel::kBoth;
  throw std::invalid_argument("channel must be \"near\", \"far\", \"mean\", \"subtract\" or \"both\", got \"" + name + "\"");
}

const char* channel_name(Channel c) {
  switch (c) {
    case Channel::kMean: return "mean";
    case Channel::kNear: return "near";
    case Channel::kFar: return "far";
    case Channel::kSubtract: return "subtract";
    case Channel::kBoth: return "both";
  }
  return "?";
}

DecodedClip decode_clip(const std::string& path, const DecodeOptions& opts) {
  check_options(opts);
  return decode_with(path, opts, [&](Opened& o) { open_path(path, o); });
}

DecodedClip decode_buffer(const AudioBuffer& buffer, const DecodeOptions& opts) {
  check_options(opts);
  return decode_with(buffer.name, opts, [&](Opened& o) { open_buffer(buffer, o); });
}

DecodedBatch decode_batch(const std::vector<std::string>& paths, const DecodeOptions& opts, const RunContext& ctx,
                          int threads) {
  check_options(opts);
  return gather(static_cast<int64_t>(paths.size()), opts, ctx, threads,
                [&](int64_t i) { return decode_clip(paths[static_cast<size_t>(i)], opts); });
}

DecodedBatch decode_buffers(const std::vector<AudioBuffer>& buffers, const DecodeOptions& opts, const RunContext& ctx,
                            int threads) {
  check_options(opts);
  return gather(static_cast<int64_t>(buffers.size()), opts, ctx, threads,
                [&](int64_t i) { return decode_buffer(buffers[static_cast<size_t>(i)], opts); });
}

}  // namespace asd::audio
