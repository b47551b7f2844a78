// JS → C++ configuration of the pretrained-encoder models: the encoder's fields keep the official
// checkpoint's names (BEATs `cfg`, EAT `cfg.model`), so TypeScript passes what it read from the file.
#pragma once

#include <napi.h>

#include "train/pretrained_model.h"

namespace asd::addon {

// {encoder, encoderConfig, secSamples, predictionMode (EAT only: "cls" | "seq"), loraRank,
// loraAlpha, projection, embedSize, numClasses, mixupProb}; `head` is read by head_config_from_js.
// Throws a TypeError for a wrong type, a RangeError for a bad value (errors.h).
train::PretrainedModelConfig pretrained_config_from_js(const Napi::Object& o, train::HeadConfig head);

}  // namespace asd::addon
