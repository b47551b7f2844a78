#include "common/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace asd {

void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& fn, const RunContext& ctx) {
  if (n <= 0) {
    ctx.check();
    return;
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;  // guards `done` and the first error; serialises progress
  int64_t done = 0;
  int64_t error_index = n;
  std::exception_ptr error;

  auto worker = [&] {
    while (!stop.load()) {
      if (ctx.cancel && ctx.cancel->cancelled()) {
        stop.store(true);
        return;
      }
      const int64_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
        std::lock_guard<std::mutex> lock(mutex);
        ctx.report(++done, n);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (i < error_index) {
          error_index = i;
          error = std::current_exception();
        }
        stop.store(true);
        return;
      }
    }
  };

  const int64_t n_threads = std::clamp<int64_t>(threads, 1, n);
  std::vector<std::thread> pool;
  try {
    for (int64_t t = 1; t < n_threads; ++t) pool.emplace_back(worker);
  } catch (...) {
    stop.store(true);
    for (auto& th : pool) th.join();
    throw;
  }
  worker();
  for (auto& th : pool) th.join();
  ctx.check();
  if (error) std::rethrow_exception(error);
}

}  // namespace asd
