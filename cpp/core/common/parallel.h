// The one worker-thread loop of the core. Decoding and feature loops over clips (audio::load_batch,
// the epoch loader's batches, the AE's training vectors) run through it, so cancellation, error
// order and progress behave the same everywhere and no caller writes its own thread pool.
#pragma once

#include <cstdint>
#include <functional>

#include "common/runtime.h"

namespace asd {

// Calls fn(i) for every i in [0, n) on min(threads, n) threads, the calling thread being one of
// them (threads < 1 counts as 1). Items are claimed in index order. After a failure or a
// cancellation no further item is claimed; items already claimed finish. Once every thread has
// joined: a cancellation throws Cancelled; otherwise the exception of the lowest failing index
// is rethrown — deterministic whatever the interleaving, since every lower index had been claimed
// and ran. After each item that succeeded, ctx.report(items done, n) is called under a lock:
// counts rise by one and ctx.progress is never called from two threads at once.
void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& fn, const RunContext& ctx);

}  // namespace asd
