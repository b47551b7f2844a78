// Writes small WAV files byte by byte for the C++ tests (any rate, channel count or format,
// and optionally a lying data-size field), independent of the libsndfile reader under test.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

struct WavSpec {
  int sr = 16000, channels = 1, bits = 16, fmt = 1;  // fmt 1 = PCM, 3 = IEEE float
  std::optional<uint32_t> declared_data_bytes;       // header's data size (default: actual)
};

inline void put16(std::string& s, uint16_t v) { s.append({char(v & 0xff), char(v >> 8)}); }
inline void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
}

inline void write_wav(const std::string& path, const WavSpec& w, const std::string& data) {
  const uint32_t declared = w.declared_data_bytes.value_or(static_cast<uint32_t>(data.size()));
  std::string h = "RIFF";
  put32(h, 4 + 24 + 8 + declared);
  h += "WAVEfmt ";
  put32(h, 16);
  put16(h, w.fmt);
  put16(h, w.channels);
  put32(h, w.sr);
  put32(h, w.sr * w.channels * w.bits / 8);
  put16(h, w.channels * w.bits / 8);
  put16(h, w.bits);
  h += "data";
  put32(h, declared);
  std::ofstream(path, std::ios::binary) << h << data;
}

inline std::string pcm16_bytes(const std::vector<int16_t>& s) {
  std::string d;
  for (int16_t v : s) put16(d, static_cast<uint16_t>(v));
  return d;
}

inline std::vector<int16_t> random_pcm(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> u(-32768, 32767);
  std::vector<int16_t> s(n);
  for (auto& v : s) v = static_cast<int16_t>(u(rng));
  return s;
}
