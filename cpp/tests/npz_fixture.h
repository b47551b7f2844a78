// Reads an uncompressed .npz (numpy.savez: a zip of stored .npy members) into named CPU tensors,
// so the core's C++ tests can compare against the parity vectors in test/fixtures without Python.
// Test-only: little-endian float32/float64/int64/int32/bool arrays in C order.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef ASDKIT_TEST_FIXTURES
#define ASDKIT_TEST_FIXTURES "test/fixtures"
#endif

inline std::string fixture_path(const std::string& name) { return std::string(ASDKIT_TEST_FIXTURES) + "/" + name; }

namespace npz_detail {
inline uint32_t u32(const std::string& b, size_t o) {
  uint32_t v;
  std::memcpy(&v, b.data() + o, 4);
  return v;
}
inline uint16_t u16(const std::string& b, size_t o) {
  uint16_t v;
  std::memcpy(&v, b.data() + o, 2);
  return v;
}

inline torch::Tensor parse_npy(const std::string& name, const char* p, size_t n) {
  if (n < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) throw std::runtime_error(name + ": not an .npy member");
  const int major = static_cast<unsigned char>(p[6]);
  size_t hlen, off;
  if (major == 1) {
    hlen = static_cast<unsigned char>(p[8]) | (static_cast<unsigned char>(p[9]) << 8);
    off = 10;
  } else {
    uint32_t h;
    std::memcpy(&h, p + 8, 4);
    hlen = h;
    off = 12;
  }
  const std::string header(p + off, hlen);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'"))) throw std::runtime_error(name + ": no descr");
  const std::string descr = m[1];
  if (header.find("'fortran_order': True") != std::string::npos) throw std::runtime_error(name + ": fortran order");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) throw std::runtime_error(name + ": no shape");
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
    shape.push_back(std::stoll(it->str()));
  torch::Dtype dt;
  if (descr == "<f4") dt = torch::kFloat32;
  else if (descr == "<f8") dt = torch::kFloat64;
  else if (descr == "<i8") dt = torch::kInt64;
  else if (descr == "<i4") dt = torch::kInt32;
  else if (descr == "|b1") dt = torch::kBool;
  else throw std::runtime_error(name + ": unsupported dtype " + descr);
  auto t = torch::empty(shape, torch::TensorOptions().dtype(dt));
  const size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  if (off + hlen + bytes > n) throw std::runtime_error(name + ": truncated");
  std::memcpy(t.data_ptr(), p + off + hlen, bytes);
  return t;
}
}  // namespace npz_detail

// name (without ".npy") → tensor.
inline std::map<std::string, torch::Tensor> load_npz(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  const std::string b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::map<std::string, torch::Tensor> out;
  size_t o = 0;
  while (o + 30 <= b.size() && npz_detail::u32(b, o) == 0x04034b50) {
    const uint16_t flags = npz_detail::u16(b, o + 6), method = npz_detail::u16(b, o + 8);
    uint64_t csize = npz_detail::u32(b, o + 18);
    const uint16_t nlen = npz_detail::u16(b, o + 26), xlen = npz_detail::u16(b, o + 28);
    std::string name = b.substr(o + 30, nlen);
    if (method != 0) throw std::runtime_error(path + ": member " + name + " is compressed");
    if (flags & 8) throw std::runtime_error(path + ": data descriptors are not supported");
    // zip64: sizes in the extra field (id 1: usize, csize).
    if (csize == 0xFFFFFFFFu) {
      size_t e = o + 30 + nlen, end = e + xlen;
      while (e + 4 <= end) {
        const uint16_t id = npz_detail::u16(b, e), sz = npz_detail::u16(b, e + 2);
        if (id == 1) std::memcpy(&csize, b.data() + e + 4 + 8, 8);
        e += 4 + sz;
      }
    }
    const size_t data = o + 30 + nlen + xlen;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    out[name] = npz_detail::parse_npy(name, b.data() + data, csize);
    o = data + csize;
  }
  if (out.empty()) throw std::runtime_error(path + ": no members read");
  return out;
}

inline const torch::Tensor& npz_get(const std::map<std::string, torch::Tensor>& z, const std::string& key) {
  auto it = z.find(key);
  if (it == z.end()) throw std::runtime_error("fixture has no array " + key);
  return it->second;
}
