#include "audio/wav.h"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "common/parallel.h"

namespace asd::audio {
namespace {

namespace fs = std::filesystem;

// sf_open reports failures through a process-wide error slot (sf_error(NULL)); serialising
// opens keeps the message we read paired with our own failure when decoding in parallel.
std::mutex g_open_mutex;

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::runtime_error(path + ": " + problem);
}

// Float WAV samples are nominally in [-1, 1]; beyond this a file is not audio we can score.
constexpr float kMaxSampleMagnitude = 1000.0f;

void check_samples(const std::string& path, const torch::Tensor& wave) {
  const float* x = wave.data_ptr<float>();
  for (int64_t i = 0, n = wave.numel(); i < n; ++i) {
    if (!std::isfinite(x[i])) {
      fail(path, std::string(std::isnan(x[i]) ? "NaN" : "infinite") + " sample at frame " + std::to_string(i) + " of " +
                     std::to_string(n) + ": not usable audio");
    }
    if (std::fabs(x[i]) > kMaxSampleMagnitude) {
      std::ostringstream v;
      v << x[i];
      fail(path, "sample at frame " + std::to_string(i) + " is " + v.str() + ", beyond ±1000 (float samples are expected in [-1, 1]): not usable audio");
    }
  }
}

std::string format_name(int format) {
  SF_FORMAT_INFO info{};
  info.format = format;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof(info)) == 0 && info.name) return info.name;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "format 0x%x", format);
  return buf;
}

uint32_t read_u32(const unsigned char* p, bool little_endian) {
  return little_endian ? (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24)
                       : (uint32_t(p[3]) | uint32_t(p[2]) << 8 | uint32_t(p[1]) << 16 | uint32_t(p[0]) << 24);
}

// libsndfile silently shortens a data chunk that runs past the end of the file, so a cut-off
// download would decode as a shorter clip. Walk the RIFF chunks ourselves and compare the
// announced data size with the bytes present. RF64 (sizes in ds64) and the "unknown size"
// marker 0xFFFFFFFF written by streaming encoders are not checked.
std::optional<std::string> data_chunk_shortfall(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[12];
  if (!in.read(reinterpret_cast<char*>(head), sizeof(head))) return std::nullopt;
  bool le;
  if (std::memcmp(head, "RIFF", 4) == 0) {
    le = true;
  } else if (std::memcmp(head, "RIFX", 4) == 0) {
    le = false;
  } else {
    return std::nullopt;
  }
  std::error_code ec;
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) return std::nullopt;
  uint64_t pos = 12;
  while (pos + 8 <= file_size) {
    unsigned char chunk[8];
    in.seekg(static_cast<std::streamoff>(pos));
    if (!in.read(reinterpret_cast<char*>(chunk), sizeof(chunk))) break;
    const uint32_t size = read_u32(chunk + 4, le);
    if (std::memcmp(chunk, "data", 4) == 0) {
      const uint64_t present = file_size - (pos + 8);
      if (size != 0xFFFFFFFFu && size > present) {
        return "data chunk announces " + std::to_string(size) + " bytes, only " + std::to_string(present) +
               " present";
      }
      return std::nullopt;
    }
    pos += 8 + uint64_t(size) + (size & 1u);  // chunks are word-aligned
  }
  return std::nullopt;
}

// Copies the first `length` samples of `src` tiled back to back into `dst` (offset-0 crop_or_tile).
// Plain memcpy so decode workers never enter LibTorch's intra-op thread pool.
void tile_into(const float* src, int64_t n, float* dst, int64_t length) {
  for (int64_t pos = 0; pos < length; pos += n) {
    std::memcpy(dst + pos, src, sizeof(float) * static_cast<size_t>(std::min(n, length - pos)));
  }
}

torch::Tensor crop_at(const torch::Tensor& wave, int64_t length, std::mt19937_64* rng) {
  TORCH_CHECK(wave.dim() == 1, "crop_or_tile: expected a 1-D wave, got ", wave.dim(), " dimensions");
  TORCH_CHECK(length > 0, "crop_or_tile: length must be positive, got ", length);
  const int64_t n = wave.numel();
  TORCH_CHECK(n > 0, "crop_or_tile: cannot tile an empty clip");
  const int64_t reps = n < length ? (length + n - 1) / n : 1;
  const torch::Tensor tiled = reps > 1 ? wave.repeat({reps}) : wave;
  int64_t offset = 0;
  if (rng) offset = std::uniform_int_distribution<int64_t>(0, tiled.numel() - length)(*rng);
  return tiled.narrow(0, offset, length);
}

}  // namespace

torch::Tensor read_wav(const std::string& path) {
  std::error_code ec;  // on a stat error (e.g. permissions) let sf_open report the cause
  if (!fs::exists(path, ec) && !ec) fail(path, "no such file");

  SF_INFO info{};
  SNDFILE* raw = nullptr;
  int open_error = SF_ERR_NO_ERROR;
  std::string open_message;
  {
    std::lock_guard<std::mutex> lock(g_open_mutex);
    raw = sf_open(path.c_str(), SFM_READ, &info);
    if (!raw) {
      open_error = sf_error(nullptr);
      open_message = sf_strerror(nullptr);
    }
  }
  if (!raw) {
    if (open_error == SF_ERR_SYSTEM) fail(path, "cannot open (" + open_message + ")");
    fail(path, "truncated or not a WAV file (" + open_message + ")");
  }
  std::unique_ptr<SNDFILE, SndfileCloser> file(raw);

  const int major = info.format & SF_FORMAT_TYPEMASK;
  if (major != SF_FORMAT_WAV && major != SF_FORMAT_WAVEX && major != SF_FORMAT_RF64) {
    fail(path, "not a WAV file (" + format_name(major) + ")");
  }
  if (info.samplerate != kSampleRate) {
    fail(path, "sample rate " + std::to_string(info.samplerate) + " Hz, expected 16000 Hz");
  }
  if (info.channels != 1) fail(path, std::to_string(info.channels) + " channels, expected mono");
  const int subtype = info.format & SF_FORMAT_SUBMASK;
  if (subtype != SF_FORMAT_PCM_16 && subtype != SF_FORMAT_FLOAT && subtype != SF_FORMAT_DOUBLE) {
    fail(path, "unsupported sample format (" + format_name(subtype) + "), expected 16-bit PCM or float");
  }
  if (auto shortfall = data_chunk_shortfall(path)) fail(path, "truncated or not a WAV file (" + *shortfall + ")");
  if (info.frames <= 0) fail(path, "no audio samples");

  // SFC_SET_NORM_FLOAT is on by default: 16-bit PCM is scaled by exactly 1/32768 (a power of
  // two, so int16/32768 is exact in float32); float data is passed through unscaled.
  torch::Tensor wave = torch::empty({info.frames}, torch::kFloat32);
  const sf_count_t got = sf_readf_float(file.get(), wave.data_ptr<float>(), info.frames);
  if (got != info.frames) {
    fail(path, "truncated or not a WAV file (read " + std::to_string(got) + " of " + std::to_string(info.frames) +
                   " frames: " + sf_strerror(file.get()) + ")");
  }
  // Float WAVs can hold anything: one NaN, inf or absurd value silently poisons every distance
  // and score downstream, so such a clip is refused here, naming it. (16-bit PCM is always finite.)
  if (subtype != SF_FORMAT_PCM_16) check_samples(path, wave);
  return wave;
}

torch::Tensor crop_or_tile(const torch::Tensor& wave, int64_t length) { return crop_at(wave, length, nullptr); }

torch::Tensor crop_or_tile(const torch::Tensor& wave, int64_t length, std::mt19937_64& rng) {
  return crop_at(wave, length, &rng);
}

torch::Tensor load_batch(const std::vector<std::string>& paths, int64_t length, const RunContext& ctx,
                         int threads) {
  if (length <= 0) throw std::invalid_argument("load_batch: length must be positive, got " + std::to_string(length));
  const int64_t total = static_cast<int64_t>(paths.size());
  torch::Tensor out = torch::empty({total, length}, torch::kFloat32);
  float* base = out.data_ptr<float>();
  parallel_for(
      total, threads <= 0 ? 2 : threads,
      [&](int64_t i) {
        const torch::Tensor wave = read_wav(paths[static_cast<size_t>(i)]);
        tile_into(wave.data_ptr<float>(), wave.numel(), base + i * length, length);
      },
      ctx);
  return out.to(ctx.device);
}

}  // namespace asd::audio
