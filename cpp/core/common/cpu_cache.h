// A caching CPU allocator for LibTorch. glibc hands large tensors (activations of a batch of
// 18 s clips are tens of MB each) straight back to the kernel on free, so every training step
// page-faults its working set in again — on VMs with slow first-touch faults that tripled the
// step time. This allocator keeps freed large blocks for reuse (best fit, bounded cache) and asks
// for transparent huge pages; small blocks go to the default allocator.
#pragma once

#include <cstddef>
#include <cstdint>

namespace asd {

struct CpuCacheStats {
  bool installed = false;
  int64_t cached_bytes = 0;   // free blocks held for reuse
  int64_t in_use_bytes = 0;   // large blocks handed out and not yet freed
  int64_t limit_bytes = 0;    // cap on cached_bytes (excess is returned to the system)
  int64_t hits = 0, misses = 0;
};

// Makes the caching allocator LibTorch's CPU allocator (idempotent). `limit_bytes` caps the
// cache (0 = half the physical memory).
void install_cpu_cache(int64_t limit_bytes = 0);
// Returns every cached block to the system.
void release_cpu_cache();
CpuCacheStats cpu_cache_stats();

}  // namespace asd
