#include "common/cpu_cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

namespace asd {

namespace {

constexpr size_t kLarge = size_t{1} << 20;  // blocks below 1 MiB: the default allocator
constexpr size_t kHuge = size_t{2} << 20;   // rounding and alignment of cached blocks

class CachingCpuAllocator final : public c10::Allocator {
 public:
  explicit CachingCpuAllocator(int64_t limit) : limit_(limit) {}

  // LibTorch 1.x declares allocate() const, 2.3+ non-const: defining both (without `override`)
  // overrides whichever the headers have; copy_data is pure virtual from 2.3 on.
  c10::DataPtr allocate(size_t n) const { return const_cast<CachingCpuAllocator*>(this)->do_allocate(n); }
  c10::DataPtr allocate(size_t n) { return do_allocate(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }
  // raw_allocate/raw_deallocate users (some kernels) need the deleter; it serves both sizes.
  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::deleter; }

  CpuCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    CpuCacheStats s;
    s.installed = true;
    s.cached_bytes = cached_, s.in_use_bytes = in_use_, s.limit_bytes = limit_, s.hits = hits_, s.misses = misses_;
    return s;
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, p] : free_) std::free(p);
    free_.clear();
    cached_ = 0;
  }

 private:
  c10::DataPtr do_allocate(size_t n) {
    if (n < kLarge) {
      void* p = c10::alloc_cpu(n);
      return {p, p, &CachingCpuAllocator::deleter, c10::Device(c10::DeviceType::CPU)};
    }
    const size_t size = (n + kHuge - 1) / kHuge * kHuge;
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // Best fit, accepting up to 25 % slack so blocks of neighbouring sizes are shared.
      auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= size + size / 4) {
        p = it->second;
        sizes_[p] = it->first;
        cached_ -= static_cast<int64_t>(it->first);
        in_use_ += static_cast<int64_t>(it->first);
        free_.erase(it);
        ++hits_;
      }
    }
    if (!p) {
      if (posix_memalign(&p, kHuge, size) != 0) {
        release();  // the cache may be what stands between us and the memory
        if (posix_memalign(&p, kHuge, size) != 0) throw std::bad_alloc();
      }
      madvise(p, size, MADV_HUGEPAGE);  // a hint; fewer first-touch faults where THP is on
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_[p] = size;
      in_use_ += static_cast<int64_t>(size);
      ++misses_;
    }
    return {p, p, &CachingCpuAllocator::deleter, c10::Device(c10::DeviceType::CPU)};
  }

  static void deleter(void* p);
  void give_back(void* p) {
    if (!p) return;
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) {  // a small block
      lock.unlock();
      c10::free_cpu(p);
      return;
    }
    const size_t size = it->second;
    sizes_.erase(it);
    in_use_ -= static_cast<int64_t>(size);
    if (cached_ + static_cast<int64_t>(size) > limit_) {
      std::free(p);
      return;
    }
    free_.emplace(size, p);
    cached_ += static_cast<int64_t>(size);
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  std::unordered_map<void*, size_t> sizes_;
  int64_t limit_;
  int64_t cached_ = 0, in_use_ = 0, hits_ = 0, misses_ = 0;
};

// Never destroyed: tensors may be freed during static destruction.
CachingCpuAllocator* g_allocator = nullptr;
std::once_flag g_once;

void CachingCpuAllocator::deleter(void* p) { g_allocator->give_back(p); }

}  // namespace

void install_cpu_cache(int64_t limit_bytes) {
  std::call_once(g_once, [limit_bytes] {
    int64_t limit = limit_bytes;
    if (limit <= 0) limit = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / 2;
    g_allocator = new CachingCpuAllocator(limit);
    c10::SetCPUAllocator(g_allocator, /*priority=*/10);
  });
}

void release_cpu_cache() {
  if (g_allocator) g_allocator->release();
}

CpuCacheStats cpu_cache_stats() { return g_allocator ? g_allocator->stats() : CpuCacheStats{}; }

}  // namespace asd
