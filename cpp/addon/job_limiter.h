// Bounds the native jobs that run at once: at most `max` per device ("cpu", "cuda:0", …; default
// 1, setMaxJobs), so parallel calls from a server do not oversubscribe LibTorch's threads. The
// others wait on their own thread in FIFO order; a waiting job whose token is cancelled leaves
// the queue without running.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "common/runtime.h"

namespace asd::addon {

class JobLimiter {
 public:
  static JobLimiter& instance();

  // Blocks until a slot on `device` is free and it is this caller's turn. Returns false, without
  // taking a slot, when `token` is cancelled first (wake() makes waiters look at their tokens).
  bool acquire(const std::string& device, const CancelToken& token);
  void release(const std::string& device);
  void wake();

  // `n` >= 1 jobs per device; also restarts the peak count.
  void set_max(int n);
  struct Stats {
    int max_per_device = 1;
    int running = 0;  // over all devices
    int queued = 0;
    int peak = 0;     // most jobs running at once since the last set_max
  };
  Stats stats();

 private:
  struct Lane {
    int running = 0;
    std::deque<uint64_t> queue;  // tickets of the waiting jobs, oldest first
  };
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, Lane> lanes_;
  uint64_t next_ticket_ = 0;
  int max_ = 1, running_ = 0, peak_ = 0;
};

}  // namespace asd::addon
