#include "backends/mt19937.h"

#include <stdexcept>
#include <string>

namespace asd::backends {
namespace {
constexpr int kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfU, kUpper = 0x80000000U, kLower = 0x7fffffffU;
}  // namespace

Mt19937::Mt19937(uint32_t seed) {
  state_[0] = seed;
  for (int i = 1; i < kN; ++i) {
    state_[i] = 1812433253U * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  }
}

uint32_t Mt19937::next_u32() {
  if (pos_ >= kN) {  // regenerate the whole block (reference twist)
    for (int i = 0; i < kN; ++i) {
      const uint32_t y = (state_[i] & kUpper) | (state_[(i + 1) % kN] & kLower);
      state_[i] = state_[(i + kM) % kN] ^ (y >> 1) ^ ((y & 1U) ? kMatrixA : 0U);
    }
    pos_ = 0;
  }
  uint32_t y = state_[pos_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= y >> 18;
  return y;
}

double Mt19937::next_double() {
  const uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

int64_t Mt19937::randint(int64_t high) {
  if (high < 1 || high > (int64_t{1} << 32)) {
    throw std::invalid_argument("randint: high must be in [1, 2^32], got " + std::to_string(high));
  }
  const uint64_t top = static_cast<uint64_t>(high - 1);
  if (top == 0) return 0;
  if (top == 0xffffffffULL) return next_u32();
  uint32_t mask = static_cast<uint32_t>(top);
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  uint32_t v;
  while ((v = next_u32() & mask) > top) {
  }
  return v;
}

}  // namespace asd::backends
