// The common DCASE case read without libsndfile's sample loop: 16-bit little-endian PCM in a
// RIFF/WAVE file. libsndfile reads such data in small buffered pieces and converts them one
// sample at a time (~0.5 ms for an 18 s clip here); one pread of the data chunk and a vectorised
// int16 → float loop take a fraction of that. libsndfile still opens and validates every file;
// this only replaces the read of its samples, and only where the file's own chunks agree with
// what libsndfile announced.
#pragma once

#include <cstdint>
#include <string>

namespace asd::audio::detail {

// Frames [first, first + n) of a RIFF/WAVE file whose "fmt " chunk says PCM (or extensible PCM),
// 16 bits, `channels` channels, and whose "data" chunk holds `frames` whole frames (what
// libsndfile announced), interleaved, as floats scaled by 1/32768: what sf_readf_float returns
// for them, bit for bit (int16 / 32768 is exact in float32). False where the file is not that
// case, disagrees with `frames` or `channels`, or holds fewer bytes; dst is then unspecified and
// the caller reads through libsndfile.
bool read_pcm16_direct(const std::string& path, int64_t frames, int64_t channels, int64_t first, int64_t n, float* dst);

// The same for a file's bytes in memory.
bool read_pcm16_direct(const unsigned char* data, int64_t size, int64_t frames, int64_t channels, int64_t first,
                       int64_t n, float* dst);

}  // namespace asd::audio::detail
