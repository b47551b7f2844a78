// numpy's legacy RandomState(seed) random stream (MT19937), ported exactly so that SMOTE's
// synthetic rows match imbalanced-learn bit for bit (spec §1.3) and Kmeans has a fixed seed.
#pragma once

#include <array>
#include <cstdint>

namespace asd::backends {

class Mt19937 {
 public:
  // init_genrand(seed): what RandomState(seed) does for a 32-bit integer seed.
  explicit Mt19937(uint32_t seed);

  uint32_t next_u32();
  // RandomState.random_sample(): 53-bit double in [0, 1) from two 32-bit outputs.
  double next_double();
  // RandomState.randint(0, high) for int64 output, legacy masked rejection: high == 1 consumes
  // nothing; otherwise draws u & mask (mask = smallest 2^b − 1 >= high − 1) until <= high − 1.
  // Needs 1 <= high <= 2^32 (larger ranges use a 64-bit path numpy has and we never need).
  int64_t randint(int64_t high);

 private:
  static constexpr int kN = 624;
  std::array<uint32_t, kN> state_{};
  int pos_ = kN;
};

}  // namespace asd::backends
