// Op-level profiling for comparing our steps with PyTorch's, op by op (bench/op-table.mjs).
#pragma once

#include <memory>

namespace asd {

// While it lives, and when ASDKIT_PROFILE_OPS=<file> is set, LibTorch's profiler records every
// ATen op this thread runs (and the record_function scopes of our own kernels); the Chrome trace
// is written to <file> when it ends (the last scope's trace wins). Otherwise it does nothing.
class OpProfile {
 public:
  OpProfile();
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

 private:
  std::shared_ptr<void> recorder_;
};

}  // namespace asd
