#include "audio/pcm16_direct.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace asd::audio::detail {
namespace {

uint16_t le16(const unsigned char* p) { return uint16_t(p[0] | p[1] << 8); }
uint32_t le32(const unsigned char* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

// Byte offset of frame 0, or -1: walks the chunks with read_at(pos, dst, n) (false past the end).
template <typename ReadAt>
int64_t pcm16_data_offset(uint64_t file_size, int64_t frames, int64_t channels, ReadAt read_at) {
  unsigned char head[12];
  if (!read_at(0, head, sizeof(head)) || std::memcmp(head, "RIFF", 4) != 0 || std::memcmp(head + 8, "WAVE", 4) != 0) {
    return -1;
  }
  bool fmt_ok = false;
  for (uint64_t pos = 12; pos + 8 <= file_size;) {
    unsigned char chunk[8];
    if (!read_at(pos, chunk, sizeof(chunk))) return -1;
    const uint32_t size = le32(chunk + 4);
    if (std::memcmp(chunk, "fmt ", 4) == 0) {
      unsigned char f[40] = {};
      if (size < 16 || !read_at(pos + 8, f, size < 40 ? size : 40)) return -1;
      const uint16_t tag = le16(f), ch = le16(f + 2), align = le16(f + 12), bits = le16(f + 14);
      // Extensible: 16 valid bits and the PCM sub-format (its GUID starts 01 00).
      const bool extensible_pcm = tag == 0xFFFE && size >= 40 && le16(f + 18) == 16 && le16(f + 24) == 1;
      fmt_ok = (tag == 1 || extensible_pcm) && ch == channels && bits == 16 && align == 2 * channels;
    } else if (std::memcmp(chunk, "data", 4) == 0) {
      if (!fmt_ok || size == 0xFFFFFFFFu) return -1;  // no format seen first, or a streaming "unknown size"
      if (static_cast<int64_t>(size / (2 * channels)) != frames) return -1;
      if (pos + 8 + uint64_t(frames) * 2 * channels > file_size) return -1;
      return static_cast<int64_t>(pos + 8);
    }
    pos += 8 + uint64_t(size) + (size & 1u);  // chunks are word-aligned
  }
  return -1;
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
  const uint64_t total = static_cast<uint64_t>(size);
  auto read_at = [&](uint64_t pos, void* out, size_t len) {
    if (pos > total || len > total - pos) return false;
    std::memcpy(out, data + pos, len);
    return true;
  };
  const int64_t offset = pcm16_data_offset(total, frames, channels, read_at);
  if (offset < 0) return false;
  to_float(data + offset + 2 * first * channels, n * channels, dst);
  return true;
}

}  // namespace asd::audio::detail
