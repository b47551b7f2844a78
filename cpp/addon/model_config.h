// JS → C++ configuration of the trainable models and of their training: each reader starts
// from the core struct, so a field JS leaves out keeps the core's default (defaults live once,
// in the core structs or in TypeScript). Wrong types throw TypeError, bad values RangeError.
#pragma once

#include <napi.h>

#include "audio/decode.h"
#include "features/stft.h"
#include "train/ae_model.h"
#include "train/dis_model.h"
#include "train/trainer.h"

namespace asd::addon {

// `head: { type, nSubclusters, subspaceDim, margin, scale, trainable, dynamic }` (absent: defaults).
train::HeadConfig head_config_from_js(const Napi::Object& o);
// createDisModel's config (NativeModelConfig in src/native/index.ts).
train::DisModelConfig dis_config_from_js(const Napi::Object& o);
// createAeModel's config (NativeAeConfig).
train::AeModelConfig ae_config_from_js(const Napi::Object& o);
// NativeTrainOptions: optimiser, schedule, precision and loader settings.
train::TrainOptions train_options_from_js(const Napi::Object& o);
// `precision`: "fp32" (default) or "bf16" (autocast on CUDA); true for bf16.
bool bf16_from_js(const Napi::Object& o);
// `channel`: "near" (default), "far", "mean", "subtract" or "both" (audio::Channel); else RangeError.
audio::Channel channel_from_js(const Napi::Object& o);
// `channelAlpha`, `channelFloor`: the spectral subtraction of channel "subtract" (absent: defaults).
features::SpectralSubtraction subtraction_from_js(const Napi::Object& o);

}  // namespace asd::addon
