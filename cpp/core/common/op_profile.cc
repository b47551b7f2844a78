#include "common/op_profile.h"

#include <cstdlib>
#include <string>

#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#define ASDKIT_OP_PROFILE 1
#endif

namespace asd {

OpProfile::OpProfile() {
#ifdef ASDKIT_OP_PROFILE
  const char* path = std::getenv("ASDKIT_PROFILE_OPS");
  if (path && *path) recorder_ = std::make_shared<torch::autograd::profiler::RecordProfile>(std::string(path));
#endif
}

OpProfile::~OpProfile() = default;

}  // namespace asd
