// libsndfile pieces shared by the strict DCASE reader (wav.cc) and the lenient scoring decoder
// (decode.cc), so both word their errors alike and treat samples alike.
#pragma once

#include <sndfile.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace asd::audio::detail {

// Every decoding error reads "<path>: <problem>".
[[noreturn]] void fail(const std::string& path, const std::string& problem);

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

// Opens `path` for reading, filling `info`. Fails "no such file", "cannot open (…)" for a system
// error, else "truncated or not <what> (…)" with libsndfile's reason (what: e.g. "a WAV file").
SndfilePtr open_for_reading(const std::string& path, SF_INFO& info, const std::string& what);

// A read-only span of bytes that libsndfile reads as a file through sf_open_virtual. The bytes
// and this cursor must outlive the handle opened on them.
struct MemoryFile {
  const unsigned char* data = nullptr;
  int64_t size = 0;
  int64_t pos = 0;
};

// open_for_reading over memory; `name` stands for the path in errors.
SndfilePtr open_memory_for_reading(const std::string& name, MemoryFile& mem, SF_INFO& info, const std::string& what);

// Refuses NaN, ±inf and |x| > 1000 among x[0..n) ("… at frame i of n: not usable audio").
void check_samples(const std::string& path, const float* x, int64_t n);

// libsndfile's name of a major format or subtype, e.g. "WAV (Microsoft)", "Signed 16 bit PCM".
std::string format_name(int format);

// For a RIFF/RIFX file whose data chunk announces more bytes than the file holds: the shortfall
// in words (libsndfile would silently read a shorter clip); nullopt otherwise.
std::optional<std::string> data_chunk_shortfall(const std::string& path);
// The same for a file's bytes in memory.
std::optional<std::string> data_chunk_shortfall(const unsigned char* data, int64_t size);

// dst[0..length) = src[0..n) repeated back to back (crop_or_tile with offset 0), plain memcpy so
// decode workers never enter LibTorch's intra-op thread pool.
void tile_into(const float* src, int64_t n, float* dst, int64_t length);

}  // namespace asd::audio::detail
