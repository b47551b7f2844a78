// Walking a RIFF/RIFX file's chunks ourselves, for the checks libsndfile does not make (a data
// chunk announcing more bytes than present: sndfile_io.h) and for reading 16-bit PCM samples
// straight from the data chunk (pcm16_direct.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace asd::audio::detail {

inline uint32_t read_u32(const unsigned char* p, bool little_endian) {
  return little_endian ? (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24)
                       : (uint32_t(p[3]) | uint32_t(p[2]) << 8 | uint32_t(p[1]) << 16 | uint32_t(p[0]) << 24);
}

// read_at(pos, dst, n) over a file's bytes in memory: false where they end first.
struct MemoryReader {
  const unsigned char* data;
  uint64_t size;
  bool operator()(uint64_t pos, void* dst, size_t n) const {
    if (pos > size || n > size - pos) return false;
    std::memcpy(dst, data + pos, n);
    return true;
  }
};

// For a RIFF ("RIFF", little-endian) or RIFX (big-endian) file of file_size bytes read through
// read_at(pos, dst, n): visit(id, size, payload_pos, little_endian) for each chunk after the
// 12-byte header, in order, until visit returns false or the chunks end (word-aligned, as
// written). Returns false for a file that is neither.
template <typename ReadAt, typename Visit>
bool walk_riff_chunks(uint64_t file_size, ReadAt&& read_at, Visit&& visit) {
  unsigned char head[12];
  if (!read_at(0, head, sizeof(head))) return false;
  bool le;
  if (std::memcmp(head, "RIFF", 4) == 0) {
    le = true;
  } else if (std::memcmp(head, "RIFX", 4) == 0) {
    le = false;
  } else {
    return false;
  }
  for (uint64_t pos = 12; pos + 8 <= file_size;) {
    unsigned char chunk[8];
    if (!read_at(pos, chunk, sizeof(chunk))) break;
    const uint32_t size = read_u32(chunk + 4, le);
    if (!visit(reinterpret_cast<const char*>(chunk), size, pos + 8, le)) break;
    pos += 8 + uint64_t(size) + (size & 1u);
  }
  return true;
}

}  // namespace asd::audio::detail
