// Feature extraction surface: files or waveforms through a frontend, and WAV decoding.
#include <memory>

#include "async_job.h"
#include "audio/wav.h"
#include "extract/extract.h"
#include "extract/stft_pool_frontend.h"
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

// `{ type: 'stft_pool', pool, nFft, hopLength, nMels, power, fMin, fMax, useLog, temporalNorm }`
std::shared_ptr<extract::Frontend> frontend_from_js(const Napi::Object& cfg) {
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
  return std::make_shared<extract::StftPoolFrontend>(get_string(cfg, "pool", "time_mean"), o);
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
  s.frontend = frontend_from_js(f.As<Napi::Object>());
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

// frontendForward(wave {data, shape: [B, L]}, options, onProgress?) — waveforms already in memory.
Napi::Value frontend_forward_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  torch::Tensor wave = tensor_from_js(info[0], "wave");
  if (wave.scalar_type() != torch::kFloat32 || wave.dim() != 2) fail(env, ErrorKind::kType, "wave must be float32 with shape [batch, samples]");
  ExtractSetup s = setup_from_js(get_options(info, 1));
  JobOptions jo;
  jo.on_progress = info[2];
  jo.device = s.device;
  jo.inputs = {info[0]};
  return start_job<extract::Outputs>(
      env, jo, [wave, s](const JobContext& ctx) { return extract::forward_batches(*s.frontend, wave, s.opts, ctx); },
      named_tensors_to_js);
}

// readWav(path, length, onProgress?) → float32 samples (cropped/tiled when length > 0). One
// file: progress is (1, 1) once it is decoded.
Napi::Value read_wav_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) fail(env, ErrorKind::kType, "readWav(path, length): path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int64_t length = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
  JobOptions jo;
  jo.on_progress = info[2];
  return start_job<torch::Tensor>(
      env, jo,
      [path, length](const JobContext& ctx) {
        torch::Tensor w = audio::read_wav(path);
        if (length > 0) w = audio::crop_or_tile(w, length);
        ctx.report(1, 1);
        return w;
      },
      [](Napi::Env e, torch::Tensor& t) -> Napi::Value { return tensor_to_js(e, t); });
}

}  // namespace

void register_features(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "extractFiles", extract_files_js);
  export_function(env, exports, "frontendForward", frontend_forward_js);
  export_function(env, exports, "readWav", read_wav_js);
}

}  // namespace asd::addon
