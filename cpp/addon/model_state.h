// State and training I/O shared by the model wrappers: named tensors in and out of a module,
// training-step metrics and epoch results as JS objects.
#pragma once

#include <napi.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace asd::addon {

struct EpochOutput {
  train::EpochResult result;
  std::vector<train::StepMetrics> steps;
  int64_t global_step = 0;
};

// `{ name: {data, shape} }` → tensors viewing the JS memory (TypeError on anything else).
std::map<std::string, torch::Tensor> tensor_map_from_js(const Napi::Value& v, const std::string& what);
// Parameters then buffers as CPU copies (JS must not see later in-place updates); trainable_only
// keeps the parameters that require gradients, and buffers only when `buffers` is true.
Napi::Object state_to_js(Napi::Env env, torch::nn::Module& m, bool trainable_only, bool buffers);
// Copies `given` into the module's parameters and buffers. Strict unless `partial`: every one
// must be given, with its shape, and nothing else. A mismatch is a RangeError naming the first
// offending names; nothing is copied then.
void load_state_from_js(Napi::Env env, torch::nn::Module& m, const Napi::Object& given, bool partial);

// The live models and the bytes they hold, as reported to V8's external-memory count
// (Napi::MemoryManagement::AdjustExternalMemory, through here only); info().models shows them.
struct ModelMemory {
  int64_t live = 0;
  int64_t bytes = 0;
};
void account_model_memory(Napi::Env env, int64_t delta_bytes, int delta_live);
ModelMemory model_memory();

Napi::Object metrics_to_js(Napi::Env env, const train::StepMetrics& m);
Napi::Object epoch_to_js(Napi::Env env, const EpochOutput& out);

}  // namespace asd::addon
