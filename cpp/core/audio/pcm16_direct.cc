#include "audio/pcm16_direct.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "audio/riff.h"

namespace asd::audio::detail {
namespace {

uint16_t le16(const unsigned char* p) { return uint16_t(p[0] | p[1] << 8); }

// Byte offset of frame 0 in a RIFF (little-endian) WAVE file whose "fmt " chunk says PCM or
// extensible PCM with 16 valid bits, `channels` channels and block align 2·channels, and whose
// "data" chunk, after it, holds exactly `frames` whole frames, all present; -1 otherwise.
template <typename ReadAt>
int64_t pcm16_data_offset(uint64_t file_size, int64_t frames, int64_t channels, ReadAt&& read_at) {
  unsigned char wave[4];
  if (!read_at(8, wave, sizeof(wave)) || std::memcmp(wave, "WAVE", 4) != 0) return -1;
  bool fmt_ok = false;
  int64_t offset = -1;
  walk_riff_chunks(file_size, read_at, [&](const char* id, uint32_t size, uint64_t payload, bool le) {
    if (!le) return false;  // RIFX: big-endian samples
    if (std::memcmp(id, "fmt ", 4) == 0) {
      unsigned char f[40] = {};
      if (size < 16 || !read_at(payload, f, size < 40 ? size : 40)) return false;
      const uint16_t tag = le16(f), ch = le16(f + 2), align = le16(f + 12), bits = le16(f + 14);
      // Extensible: 16 valid bits and the PCM sub-format (its GUID starts 01 00).
      const bool extensible_pcm = tag == 0xFFFE && size >= 40 && le16(f + 18) == 16 && le16(f + 24) == 1;
      fmt_ok = (tag == 1 || extensible_pcm) && ch == channels && bits == 16 && align == 2 * channels;
      return true;
    }
    if (std::memcmp(id, "data", 4) != 0) return true;
    // A format seen first, a known size (not a streaming 0xFFFFFFFF) of exactly `frames` frames, all present.
    if (fmt_ok && size != 0xFFFFFFFFu && static_cast<int64_t>(size / (2 * channels)) == frames &&
        payload + uint64_t(frames) * 2 * channels <= file_size) {
      offset = static_cast<int64_t>(payload);
    }
    return false;
  });
  return offset;
}

void to_float(const unsigned char* src, int64_t n, float* dst) {
  int16_t buf[1024];
  for (int64_t i0 = 0; i0 < n; i0 += 1024) {
    const int64_t m = n - i0 < 1024 ? n - i0 : 1024;
    std::memcpy(buf, src + 2 * i0, static_cast<size_t>(2 * m));  // unaligned, little-endian (as x86)
    for (int64_t i = 0; i < m; ++i) dst[i0 + i] = static_cast<float>(buf[i]) * (1.0f / 32768.0f);
  }
}

bool valid(int64_t frames, int64_t channels, int64_t first, int64_t n) {
  if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) return false;  // to_float reads the bytes as host int16
  return frames > 0 && channels > 0 && first >= 0 && n >= 0 && first + n <= frames;
}

}  // namespace

bool read_pcm16_direct(const std::string& path, int64_t frames, int64_t channels, int64_t first, int64_t n, float* dst) {
  if (!valid(frames, channels, first, n)) return false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const off_t end = ::lseek(fd, 0, SEEK_END);
  if (end <= 0) return false;
  auto read_at = [&](uint64_t pos, void* out, size_t len) {
    size_t done = 0;
    while (done < len) {
      const ssize_t r = ::pread(fd, static_cast<char*>(out) + done, len - done, static_cast<off_t>(pos + done));
      if (r <= 0) return false;
      done += static_cast<size_t>(r);
    }
    return true;
  };
  const int64_t offset = pcm16_data_offset(static_cast<uint64_t>(end), frames, channels, read_at);
  if (offset < 0) return false;
  std::vector<unsigned char> bytes(static_cast<size_t>(2 * n * channels));
  if (!read_at(static_cast<uint64_t>(offset + 2 * first * channels), bytes.data(), bytes.size())) return false;
  to_float(bytes.data(), n * channels, dst);
  return true;
}

bool read_pcm16_direct(const unsigned char* data, int64_t size, int64_t frames, int64_t channels, int64_t first,
                       int64_t n, float* dst) {
  if (!data || size <= 0 || !valid(frames, channels, first, n)) return false;
  const int64_t offset = pcm16_data_offset(static_cast<uint64_t>(size), frames, channels,
                                           MemoryReader{data, static_cast<uint64_t>(size)});
  if (offset < 0) return false;
  to_float(data + offset + 2 * first * channels, n * channels, dst);
  return true;
}

}  // namespace asd::audio::detail
