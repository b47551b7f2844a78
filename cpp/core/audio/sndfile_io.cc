#include "audio/sndfile_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "audio/riff.h"

namespace asd::audio::detail {
namespace {

namespace fs = std::filesystem;

// sf_open reports failures through a process-wide error slot (sf_error(NULL)); serialising
// opens keeps the message we read paired with our own failure when decoding in parallel.
std::mutex g_open_mutex;

// Float samples are nominally in [-1, 1]; beyond this a file is not audio we can score.
constexpr float kMaxSampleMagnitude = 1000.0f;

}  // namespace

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::runtime_error(path + ": " + problem);
}

// Opens with `open` under the lock; libsndfile's reason for a failure is read while still held.
template <typename Open>
SndfilePtr open_locked(const std::string& path, const std::string& what, Open open) {
  SNDFILE* raw = nullptr;
  int open_error = SF_ERR_NO_ERROR;
  std::string open_message;
  {
    std::lock_guard<std::mutex> lock(g_open_mutex);
    raw = open();
    if (!raw) {
      open_error = sf_error(nullptr);
      open_message = sf_strerror(nullptr);
    }
  }
  if (!raw) {
    if (open_error == SF_ERR_SYSTEM) fail(path, "cannot open (" + open_message + ")");
    fail(path, "truncated or not " + what + " (" + open_message + ")");
  }
  return SndfilePtr(raw);
}

SndfilePtr open_for_reading(const std::string& path, SF_INFO& info, const std::string& what) {
  std::error_code ec;  // on a stat error (e.g. permissions) let sf_open report the cause
  if (!fs::exists(path, ec) && !ec) fail(path, "no such file");
  info = SF_INFO{};
  return open_locked(path, what, [&] { return sf_open(path.c_str(), SFM_READ, &info); });
}

SndfilePtr open_memory_for_reading(const std::string& name, MemoryFile& mem, SF_INFO& info, const std::string& what) {
  // Stateless callbacks over the MemoryFile (user_data); seeking past the end is allowed, as
  // lseek allows it, and reads there return nothing.
  static SF_VIRTUAL_IO io = {
      [](void* user) -> sf_count_t { return static_cast<MemoryFile*>(user)->size; },
      [](sf_count_t offset, int whence, void* user) -> sf_count_t {
        auto* m = static_cast<MemoryFile*>(user);
        if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return -1;
        const sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->size;
        if (base + offset < 0) return -1;
        m->pos = base + offset;
        return m->pos;
      },
      [](void* dst, sf_count_t count, void* user) -> sf_count_t {
        auto* m = static_cast<MemoryFile*>(user);
        const sf_count_t n = std::clamp<sf_count_t>(std::min(count, m->size - m->pos), 0, count);
        if (n > 0) std::memcpy(dst, m->data + m->pos, static_cast<size_t>(n));
        m->pos += n;
        return n;
      },
      [](const void*, sf_count_t, void*) -> sf_count_t { return 0; },  // read-only
      [](void* user) -> sf_count_t { return static_cast<MemoryFile*>(user)->pos; },
  };
  mem.pos = 0;
  info = SF_INFO{};
  return open_locked(name, what, [&] { return sf_open_virtual(&io, SFM_READ, &info, &mem); });
}

void check_samples(const std::string& path, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
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

namespace {

// Compares the data chunk's announced size with the bytes present. RF64 (sizes in ds64) and the
// "unknown size" marker 0xFFFFFFFF written by streaming encoders are not checked.
template <typename ReadAt>
std::optional<std::string> riff_shortfall(uint64_t file_size, ReadAt&& read_at) {
  std::optional<std::string> shortfall;
  walk_riff_chunks(file_size, read_at, [&](const char* id, uint32_t size, uint64_t payload, bool) {
    if (std::memcmp(id, "data", 4) != 0) return true;
    const uint64_t present = file_size - payload;
    if (size != 0xFFFFFFFFu && size > present) {
      shortfall = "data chunk announces " + std::to_string(size) + " bytes, only " + std::to_string(present) + " present";
    }
    return false;
  });
  return shortfall;
}

}  // namespace

std::optional<std::string> data_chunk_shortfall(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::error_code ec;
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) return std::nullopt;
  return riff_shortfall(file_size, [&](uint64_t pos, void* dst, size_t n) {
    in.seekg(static_cast<std::streamoff>(pos));
    return static_cast<bool>(in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n)));
  });
}

std::optional<std::string> data_chunk_shortfall(const unsigned char* data, int64_t size) {
  return riff_shortfall(size > 0 ? static_cast<uint64_t>(size) : 0,
                        MemoryReader{data, size > 0 ? static_cast<uint64_t>(size) : 0});
}

void tile_into(const float* src, int64_t n, float* dst, int64_t length) {
  for (int64_t pos = 0; pos < length; pos += n) {
    std::memcpy(dst + pos, src, sizeof(float) * static_cast<size_t>(std::min(n, length - pos)));
  }
}

}  // namespace asd::audio::detail
