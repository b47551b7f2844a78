// Feature extraction surface: files or waveforms through a frontend, and audio decoding.
#include <memory>

#include "async_job.h"
#include "audio/decode.h"
#include "audio/wav.h"
#include "extract/extract.h"
#include "extract/stft_pool_frontend.h"
#include "model_config.h"
#include "surfaces.h"
#include "tensor_bridge.h"

namespace asd::addon {

namespace {

std::optional<double> get_optional_number(const Napi::Object& o, const char* key, std::optional<double> fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (v.IsNull()) return std::nullopt;
  return get_number(o, key, 0);
}

// `{ type: 'stft_pool', pool, nFft, hopLength, nMels, power, fMin, fMax, useLog, temporalNorm }`;
// `both`: the extraction's channel is "both" (two-channel waves embedded per channel, concatenated).
std::shared_ptr<extract::Frontend> frontend_from_js(const Napi::Object& cfg, bool both, const features::SpectralSubtraction& sub) {
  const std::string type = get_string(cfg, "type", "");
  if (type != "stft_pool") fail(cfg.Env(), ErrorKind::kValue, "unknown frontend type \"" + type + "\" (available: stft_pool)");
  features::StftOptions o = features::StftPool::raw_spec_options();
  o.n_fft = get_int(cfg, "nFft", o.n_fft);
  o.hop_length = get_int(cfg, "hopLength", o.hop_length);
  o.power = get_number(cfg, "power", o.power);
  o.f_min = get_optional_number(cfg, "fMin", o.f_min);
  o.f_max = get_optional_number(cfg, "fMax", o.f_max);
  auto mels = get_optional_number(cfg, "nMels", o.n_mels ? std::optional<double>(static_cast<double>(*o.n_mels)) : std::nullopt);
  o.n_mels = mels ? std::optional<int64_t>(static_cast<int64_t>(*mels)) : std::nullopt;
  o.use_log = get_bool(cfg, "useLog", o.use_log);
  o.temporal_norm = get_bool(cfg, "temporalNorm", o.temporal_norm);
  return std::make_shared<extract::StftPoolFrontend>(get_string(cfg, "pool", "time_mean"), o, both, sub);
}

struct ExtractSetup {
  std::shared_ptr<extract::Frontend> frontend;
  extract::ExtractOptions opts;
  torch::Device device = torch::kCPU;
};

ExtractSetup setup_from_js(const Napi::Object& o) {
  Napi::Value f = o.Get("frontend");
  if (!f.IsObject()) fail(o.Env(), ErrorKind::kType, "options.frontend must be an object");
  ExtractSetup s;
  s.opts.channel = channel_from_js(o);
  s.frontend = frontend_from_js(f.As<Napi::Object>(), s.opts.channel == audio::Channel::kBoth, subtraction_from_js(o));
  s.opts.length = get_int(o, "length", s.opts.length);
  s.opts.batch_size = get_int(o, "batchSize", s.opts.batch_size);
  s.opts.io_threads = static_cast<int>(get_int(o, "ioThreads", s.opts.io_threads));
  s.device = get_device(o);
  return s;
}

// extractFiles(paths, options, onProgress?) → { promise: { embed: {data, shape}, ... }, cancel }
Napi::Value extract_files_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto paths = strings_from_js(info[0], "paths");
  ExtractSetup s = setup_from_js(get_options(info, 1));
  JobOptions jo;
  jo.on_progress = info[2];
  jo.device = s.device;
  return start_job<extract::Outputs>(
      env, jo,
      [paths = std::move(paths), s](const JobContext& ctx) { return extract::extract_files(*s.frontend, paths, s.opts, ctx); },
      named_tensors_to_js);
}

// frontendForward(wave {data, shape: [B, L], or [B, 2, L] for channel subtract/both}, options,
// onProgress?) — waveforms already in memory.
Napi::Value frontend_forward_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  torch::Tensor wave = tensor_from_js(info[0], "wave");
  ExtractSetup s = setup_from_js(get_options(info, 1));
  // Two-channel modes take [batch, 2, samples] = [near; far], the others [batch, samples].
  if (audio::keeps_two_channels(s.opts.channel)) {
    if (wave.scalar_type() != torch::kFloat32 || wave.dim() != 3 || wave.size(1) != 2) {
      fail(env, ErrorKind::kType, "wave must be float32 with shape [batch, 2, samples] for channel subtract/both");
    }
  } else if (wave.scalar_type() != torch::kFloat32 || wave.dim() != 2) {
    fail(env, ErrorKind::kType, "wave must be float32 with shape [batch, samples]");
  }
  JobOptions jo;
  jo.on_progress = info[2];
  jo.device = s.device;
  jo.inputs = {info[0]};
  return start_job<extract::Outputs>(
      env, jo, [wave, s](const JobContext& ctx) { return extract::forward_batches(*s.frontend, wave, s.opts, ctx); },
      named_tensors_to_js);
}

// readWav(path, length, onProgress?, {channel}?) → float32 samples (cropped/tiled when length > 0):
// (L), or (2, L) for channel subtract/both. One file: progress is (1, 1) once it is decoded.
Napi::Value read_wav_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) fail(env, ErrorKind::kType, "readWav(path, length): path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int64_t length = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
  const audio::Channel channel = channel_from_js(get_options(info, 3));
  JobOptions jo;
  jo.on_progress = info[2];
  return start_job<torch::Tensor>(
      env, jo,
      [path, length, channel](const JobContext& ctx) {
        torch::Tensor w = audio::read_wav(path, channel);
        if (length > 0) w = audio::crop_or_tile(w, length);
        ctx.report(1, 1);
        return w;
      },
      [](Napi::Env e, torch::Tensor& t) -> Napi::Value { return tensor_to_js(e, t); });
}

// The options decodeClips and decodeBuffers share: { sampleRate, length, channel?, ioThreads? };
// channel subtract/both makes (2, length) clips = [channel 0; channel 1].
audio::DecodeOptions decode_options_from_js(const Napi::Object& o) {
  Napi::Env env = o.Env();
  audio::DecodeOptions opts;
  opts.sample_rate = get_int(o, "sampleRate", 0);
  opts.length = get_int(o, "length", 0);
  if (opts.sample_rate <= 0) fail(env, ErrorKind::kValue, "options.sampleRate must be a positive integer (Hz)");
  if (opts.length <= 0) fail(env, ErrorKind::kValue, "options.length must be a positive integer (samples)");
  // Default mean (any channel count scores); channel_from_js checks the name.
  opts.channel = o.Get("channel").IsUndefined() ? audio::Channel::kMean : channel_from_js(o);
  return opts;
}

// { wave: {data, shape: [nOk, length] or [nOk, 2, length]}, files: [{ ok, error?, sampleRate, channels, frames, format }] }
Napi::Value decoded_batch_to_js(Napi::Env e, audio::DecodedBatch& b) {
  Napi::Object result = Napi::Object::New(e);
  result.Set("wave", tensor_to_js(e, b.wave));
  Napi::Array files = Napi::Array::New(e, b.files.size());
  for (size_t i = 0; i < b.files.size(); ++i) {
    const audio::DecodedClip& f = b.files[i];
    Napi::Object entry = Napi::Object::New(e);
    entry.Set("ok", Napi::Boolean::New(e, f.ok));
    if (!f.ok) entry.Set("error", Napi::String::New(e, f.error));
    entry.Set("sampleRate", Napi::Number::New(e, static_cast<double>(f.sample_rate)));
    entry.Set("channels", Napi::Number::New(e, static_cast<double>(f.channels)));
    entry.Set("frames", Napi::Number::New(e, static_cast<double>(f.frames)));
    entry.Set("format", Napi::String::New(e, f.format));
    files.Set(static_cast<uint32_t>(i), entry);
  }
  result.Set("files", files);
  return result;
}

// decodeClips(paths, { sampleRate, length, channel?, ioThreads? }, onProgress?) → decoded_batch_to_js.
// A file that fails is an entry with ok false, never a rejection. Decoding runs in the "decode"
// lane of the job limiter (its `ioThreads` threads), beside the device's compute jobs; `wave` is
// on the CPU.
Napi::Value decode_clips_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto paths = strings_from_js(info[0], "paths");
  Napi::Object o = get_options(info, 1);
  const audio::DecodeOptions opts = decode_options_from_js(o);
  const int threads = static_cast<int>(get_int(o, "ioThreads", 2));
  JobOptions jo;
  jo.on_progress = info[2];
  jo.lane = "decode";
  return start_job<audio::DecodedBatch>(
      env, jo,
      [paths = std::move(paths), opts, threads](const JobContext& ctx) { return audio::decode_batch(paths, opts, ctx, threads); },
      decoded_batch_to_js);
}

// decodeBuffers(buffers, { ...decodeClips options, names? }, onProgress?): decodeClips for files'
// bytes in memory, `names[i]` (default "buffer <i>") in place of the path. The bytes are read in
// place, not copied: the job keeps each Uint8Array alive (the array itself may change after the
// call). napi_get_typedarray_info moves a small on-heap typed array's bytes off the V8 heap, so
// the pointer stays valid while the reference is held.
Napi::Value decode_buffers_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* kBuffersType = "buffers must be an array of Uint8Array (or Buffer)";
  if (info.Length() < 1 || !info[0].IsArray()) fail(env, ErrorKind::kType, kBuffersType);
  auto arr = info[0].As<Napi::Array>();
  const uint32_t n = arr.Length();
  std::vector<audio::AudioBuffer> buffers(n);
  JobOptions jo;
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      fail(env, ErrorKind::kType, std::string(kBuffersType) + ": entry " + std::to_string(i) + " is not");
    }
    auto bytes = v.As<Napi::Uint8Array>();
    buffers[i].data = bytes.Data();
    buffers[i].size = static_cast<int64_t>(bytes.ByteLength());
    buffers[i].name = "buffer " + std::to_string(i);
    jo.inputs.push_back(v);
  }
  Napi::Object o = get_options(info, 1);
  Napi::Value names = o.Get("names");
  if (!names.IsUndefined()) {
    auto given = strings_from_js(names, "options.names");
    if (given.size() != n) {
      fail(env, ErrorKind::kValue, "options.names must have one name per buffer: got " + std::to_string(given.size()) +
                                       " names for " + std::to_string(n) + " buffers");
    }
    for (uint32_t i = 0; i < n; ++i) buffers[i].name = std::move(given[i]);
  }
  const audio::DecodeOptions opts = decode_options_from_js(o);
  const int threads = static_cast<int>(get_int(o, "ioThreads", 2));
  jo.on_progress = info[2];
  jo.lane = "decode";
  return start_job<audio::DecodedBatch>(
      env, jo,
      [buffers = std::move(buffers), opts, threads](const JobContext& ctx) {
        return audio::decode_buffers(buffers, opts, ctx, threads);
      },
      decoded_batch_to_js);
}

}  // namespace

void register_features(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "extractFiles", extract_files_js);
  export_function(env, exports, "frontendForward", frontend_forward_js);
  export_function(env, exports, "readWav", read_wav_js);
  export_function(env, exports, "decodeClips", decode_clips_js);
  export_function(env, exports, "decodeBuffers", decode_buffers_js);
}

}  // namespace asd::addon
