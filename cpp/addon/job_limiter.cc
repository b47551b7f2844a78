#include "job_limiter.h"

#include <algorithm>
#include <stdexcept>

namespace asd::addon {

JobLimiter& JobLimiter::instance() {
  static JobLimiter limiter;
  return limiter;
}

bool JobLimiter::acquire(const std::string& device, const CancelToken& token) {
  std::unique_lock<std::mutex> lock(mutex_);
  Lane& lane = lanes_[device];
  const uint64_t ticket = next_ticket_++;
  lane.queue.push_back(ticket);
  cv_.wait(lock, [&] { return token.cancelled() || (lane.queue.front() == ticket && lane.running < max_); });
  lane.queue.erase(std::find(lane.queue.begin(), lane.queue.end(), ticket));
  const bool run = !token.cancelled();
  if (run) {
    ++lane.running;
    peak_ = std::max(peak_, ++running_);
  }
  cv_.notify_all();  // the next in line may fit too, or has become the front
  return run;
}

void JobLimiter::release(const std::string& device) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --lanes_[device].running;
    --running_;
  }
  cv_.notify_all();
}

void JobLimiter::wake() {
  std::lock_guard<std::mutex> lock(mutex_);  // no waiter can miss the notification
  cv_.notify_all();
}

void JobLimiter::set_max(int n) {
  if (n < 1) throw std::invalid_argument("setMaxJobs(n): n must be at least 1, got " + std::to_string(n));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    max_ = n;
    peak_ = running_;
  }
  cv_.notify_all();
}

JobLimiter::Stats JobLimiter::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats s;
  s.max_per_device = max_;
  s.running = running_;
  s.peak = peak_;
  for (const auto& [name, lane] : lanes_) s.queued += static_cast<int>(lane.queue.size());
  return s;
}

}  // namespace asd::addon
