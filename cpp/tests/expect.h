// Minimal check macros shared by the core's C++ tests (plain executables; exit code 0 = pass).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

inline int g_checks = 0;
inline int g_failures = 0;
#define EXPECT(cond)                                                                   \
  do {                                                                                \
    ++g_checks;                                                                       \
    if (!(cond)) {                                                                    \
      ++g_failures;                                                                   \
      std::cerr << __FILE__ << ":" << __LINE__ << ": EXPECT failed: " #cond << "\n";   \
    }                                                                                 \
  } while (0)

// Runs f, expects an exception of type E whose message contains `needle`.
#define EXPECT_THROWS(E, needle, ...)                                                  \
  do {                                                                                \
    ++g_checks;                                                                       \
    std::string what_;                                                                \
    bool thrown_ = false;                                                             \
    try {                                                                             \
      __VA_ARGS__;                                                                    \
    } catch (const E& e) {                                                            \
      thrown_ = true;                                                                 \
      what_ = e.what();                                                               \
    } catch (const std::exception& e) {                                               \
      what_ = std::string("other exception: ") + e.what();                            \
    }                                                                                 \
    if (!thrown_ || what_.find(needle) == std::string::npos) {                        \
      ++g_failures;                                                                   \
      std::cerr << __FILE__ << ":" << __LINE__ << ": expected " #E " containing \""   \
                << (needle) << "\", got: " << (thrown_ ? what_ : "no/other throw " + what_) \
                << "\n";                                                              \
    }                                                                                 \
  } while (0)

// Runs named test functions, reports each, and returns the process exit code.
inline int run_tests(const std::vector<std::pair<const char*, std::function<void()>>>& tests) {
  for (const auto& [name, fn] : tests) {
    const int before = g_failures;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      fn();
    } catch (const std::exception& e) {
      ++g_failures;
      std::cerr << name << ": unexpected exception: " << e.what() << "\n";
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << (g_failures == before ? "ok   " : "FAIL ") << name << " (" << ms << " ms)\n";
  }
  std::cout << g_checks << " checks, " << g_failures << " failed\n";
  return g_failures == 0 ? 0 : 1;
}

// Largest |a − b| in float64 (inf when the shapes differ), for tensor comparisons in tests.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) return INFINITY;
  if (a.numel() == 0) return 0;
  return (a.cpu().to(torch::kFloat64) - b.cpu().to(torch::kFloat64)).abs().max().item<double>();
}
