// parallel_for (common/parallel.h), the core's one worker-thread loop: every item runs once,
// progress is serialised and rises by one, the lowest failing index wins, cancellation stops
// claiming and wins over errors.
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/parallel.h"
#include "expect.h"

using asd::parallel_for;
using asd::RunContext;

namespace {

void test_every_item_once() {
  for (int threads : {0, 1, 3, 8, 200}) {
    std::vector<std::atomic<int>> hits(100);
    parallel_for(100, threads, [&](int64_t i) { hits[static_cast<size_t>(i)]++; }, RunContext{});
    bool once = true;
    for (auto& h : hits) once = once && h.load() == 1;
    EXPECT(once);
  }
  int calls = 0;
  parallel_for(0, 4, [&](int64_t) { ++calls; }, RunContext{});
  EXPECT(calls == 0);
}

void test_progress_serialised() {
  // A progress callback that is not thread-safe: overlapping calls would be seen.
  std::atomic<int> inside{0};
  bool overlap = false;
  std::vector<int64_t> seen;
  RunContext ctx;
  ctx.progress = [&](int64_t done, int64_t total) {
    if (inside.fetch_add(1) != 0) overlap = true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    seen.push_back(done);
    EXPECT(total == 64);
    inside.fetch_sub(1);
  };
  parallel_for(64, 4, [](int64_t) {}, ctx);
  EXPECT(!overlap);
  std::vector<int64_t> want;
  for (int64_t i = 1; i <= 64; ++i) want.push_back(i);
  EXPECT(seen == want);
}

void test_lowest_error_wins() {
  for (int rep = 0; rep < 10; ++rep) {
    // Index 7 fails late, 40 fails at once: 7 must still be the one reported.
    EXPECT_THROWS(std::runtime_error, "item 7", parallel_for(64, 4, [](int64_t i) {
                    if (i == 7) {
                      std::this_thread::sleep_for(std::chrono::milliseconds(5));
                      throw std::runtime_error("item 7");
                    }
                    if (i == 40) throw std::runtime_error("item 40");
                  }, RunContext{}));
  }
}

void test_cancellation() {
  asd::CancelToken token;
  RunContext ctx;
  ctx.cancel = &token;
  std::atomic<int> ran{0};
  EXPECT_THROWS(asd::Cancelled, "aborted", parallel_for(1000, 2, [&](int64_t i) {
                  ++ran;
                  if (i == 10) token.cancel();
                }, ctx));
  EXPECT(ran.load() < 1000);
  // A cancellation wins over an item's failure.
  asd::CancelToken t2;
  ctx.cancel = &t2;
  EXPECT_THROWS(asd::Cancelled, "aborted", parallel_for(50, 3, [&](int64_t i) {
                  if (i == 3) {
                    t2.cancel();
                    throw std::runtime_error("item 3");
                  }
                }, ctx));
  // Cancelled before the start: nothing runs.
  ran = 0;
  EXPECT_THROWS(asd::Cancelled, "aborted", parallel_for(20, 2, [&](int64_t) { ++ran; }, ctx));
  EXPECT(ran.load() == 0);
}

}  // namespace

int main() {
  return run_tests({
      {"every item once", test_every_item_once},
      {"progress serialised and rising", test_progress_serialised},
      {"lowest failing index wins", test_lowest_error_wins},
      {"cancellation", test_cancellation},
  });
}
