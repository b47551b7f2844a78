#include "model_config.h"

#include <array>
#include <string>
#include <vector>

#include "errors.h"
#include "tensor_bridge.h"

namespace asd::addon {

namespace {

std::array<int64_t, 3> three(const Napi::Object& o, const char* key, std::array<int64_t, 3> fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  const std::string what = std::string("option ") + key;
  if (!v.IsArray()) fail(o.Env(), ErrorKind::kType, what + " must be an array of 3 integers");
  auto a = v.As<Napi::Array>();
  if (a.Length() != 3) fail(o.Env(), ErrorKind::kValue, what + " must have 3 entries, got " + std::to_string(a.Length()));
  std::array<int64_t, 3> out{};
  for (uint32_t i = 0; i < 3; ++i) {
    if (!a.Get(i).IsNumber()) fail(o.Env(), ErrorKind::kType, what + " must be an array of 3 integers");
    out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  }
  return out;
}

nn::BranchSpec branch_from_js(const Napi::Value& v, uint32_t i) {
  const std::string what = "config.branches[" + std::to_string(i) + "]";
  if (!v.IsObject()) fail(v.Env(), ErrorKind::kType, what + " must be an object");
  auto b = v.As<Napi::Object>();
  const std::string kind = get_string(b, "kind", "");
  if (kind == "fft") {
    auto s = nn::BranchSpec::fft();
    s.fft_kernel = three(b, "kernel", s.fft_kernel);
    s.fft_stride = three(b, "stride", s.fft_stride);
    s.fft_dilation = three(b, "dilation", s.fft_dilation);
    return s;
  }
  if (kind == "stft") {
    if (b.Get("nFft").IsUndefined() || b.Get("hopLength").IsUndefined()) {
      fail(v.Env(), ErrorKind::kType, what + ": an stft branch needs nFft and hopLength");
    }
    return nn::BranchSpec::linear_stft(get_int(b, "nFft", 0), get_int(b, "hopLength", 0));
  }
  fail(v.Env(), ErrorKind::kValue, what + ".kind must be \"fft\" or \"stft\", got \"" + kind + "\"");
}

}  // namespace

train::HeadConfig head_config_from_js(const Napi::Object& o) {
  Napi::Value hv = o.Get("head");
  train::HeadConfig c;
  if (hv.IsUndefined() || hv.IsNull()) return c;
  if (!hv.IsObject()) fail(o.Env(), ErrorKind::kType, "config.head must be an object");
  auto h = hv.As<Napi::Object>();
  c.type = get_string(h, "type", c.type);
  c.n_subclusters = get_int(h, "nSubclusters", c.n_subclusters);
  c.subspace_dim = get_int(h, "subspaceDim", c.subspace_dim);
  c.margin = get_number(h, "margin", c.margin);
  c.scale = get_number(h, "scale", c.scale);
  c.trainable = get_bool(h, "trainable", c.trainable);
  c.dynamic = get_bool(h, "dynamic", c.dynamic);
  return c;
}

train::DisModelConfig dis_config_from_js(const Napi::Object& o) {
  train::DisModelConfig c;
  c.extractor.sec_samples = get_int(o, "secSamples", c.extractor.sec_samples);
  c.extractor.embed_size_per_branch = get_int(o, "embedSizePerBranch", c.extractor.embed_size_per_branch);
  c.extractor.use_bias = get_bool(o, "useBias", c.extractor.use_bias);
  Napi::Value bv = o.Get("branches");
  if (!bv.IsArray()) fail(o.Env(), ErrorKind::kType, "config.branches must be an array");
  auto branches = bv.As<Napi::Array>();
  c.extractor.branches.clear();
  for (uint32_t i = 0; i < branches.Length(); ++i) c.extractor.branches.push_back(branch_from_js(branches.Get(i), i));
  c.n_classes = get_int(o, "numClasses", c.n_classes);
  c.head = head_config_from_js(o);
  c.mixup_prob = get_number(o, "mixupProb", c.mixup_prob);
  const std::string tech = get_string(o, "technique", "none");
  if (tech == "featex") c.technique = train::DisModelConfig::Technique::kFeatEx;
  else if (tech == "subspace") c.technique = train::DisModelConfig::Technique::kSubspace;
  else if (tech != "none") fail(o.Env(), ErrorKind::kValue, "config.technique must be none, featex or subspace, got \"" + tech + "\"");
  c.featex_prob = get_number(o, "featexProb", c.featex_prob);
  c.subspace_embed_size = get_int(o, "subspaceEmbedSize", c.subspace_embed_size);
  c.aux_weight = get_number(o, "auxWeight", c.aux_weight);
  // Two-channel input is architecture: it travels in the config (and so in checkpoints).
  const std::string channel = get_string(o, "channel", "");
  if (channel == "subtract") {
    c.channels = train::ClipChannels::kSubtract;
    c.extractor.subtract = subtraction_from_js(o);
  } else if (channel == "both") {
    c.channels = train::ClipChannels::kBoth;
  } else if (!channel.empty()) {
    fail(o.Env(), ErrorKind::kValue, "config.channel must be \"subtract\" or \"both\" (absent: one channel), got \"" + channel + "\"");
  }
  return c;
}

train::AeModelConfig ae_config_from_js(const Napi::Object& o) {
  train::AeModelConfig c;
  c.n_frames = get_int(o, "nFrames", c.n_frames);
  c.h_dim = get_int(o, "hDim", c.h_dim);
  c.z_dim = get_int(o, "zDim", c.z_dim);
  c.stft.n_fft = get_int(o, "nFft", c.stft.n_fft);
  c.stft.hop_length = get_int(o, "hopLength", c.stft.hop_length);
  c.stft.n_mels = get_int(o, "nMels", *c.stft.n_mels);
  c.stft.power = get_number(o, "power", c.stft.power);
  c.stft.f_min = get_number(o, "fMin", *c.stft.f_min);
  c.stft.f_max = get_number(o, "fMax", *c.stft.f_max);
  c.subtract = subtraction_from_js(o);
  // Absent: one channel, or subtract when the input is two-channel (older checkpoints say only channelAlpha).
  Napi::Value ch = o.Get("channel");
  if (!ch.IsUndefined() && !ch.IsNull()) {
    const std::string name = get_string(o, "channel", "");
    if (name != "subtract" && name != "both") fail(o.Env(), ErrorKind::kValue, "config.channel must be \"subtract\" or \"both\", got \"" + name + "\"");
    c.both = name == "both";
  }
  return c;
}

audio::Channel channel_from_js(const Napi::Object& o) {
  const std::string name = get_string(o, "channel", "near");
  if (name != "near" && name != "far" && name != "mean" && name != "subtract" && name != "both") {
    fail(o.Env(), ErrorKind::kValue, "channel must be \"near\", \"far\", \"mean\", \"subtract\" or \"both\", got \"" + name + "\"");
  }
  return audio::parse_channel(name);
}

features::SpectralSubtraction subtraction_from_js(const Napi::Object& o) {
  features::SpectralSubtraction s;
  s.alpha = get_number(o, "channelAlpha", s.alpha);
  s.floor = get_number(o, "channelFloor", s.floor);
  if (!(s.alpha >= 0.0) || !(s.floor >= 0.0) || !(s.floor <= 1.0)) {
    fail(o.Env(), ErrorKind::kValue, "channelAlpha must be >= 0 and channelFloor in [0, 1]");
  }
  return s;
}

bool bf16_from_js(const Napi::Object& o) {
  const std::string p = get_string(o, "precision", "fp32");
  if (p != "fp32" && p != "bf16") fail(o.Env(), ErrorKind::kValue, "precision must be \"fp32\" or \"bf16\", got \"" + p + "\"");
  return p == "bf16";
}

train::TrainOptions train_options_from_js(const Napi::Object& o) {
  train::TrainOptions t;
  t.adamw.lr = get_number(o, "lr", t.adamw.lr);
  t.adamw.weight_decay = get_number(o, "weightDecay", t.adamw.weight_decay);
  t.adamw.beta1 = get_number(o, "beta1", t.adamw.beta1);
  t.adamw.beta2 = get_number(o, "beta2", t.adamw.beta2);
  t.adamw.eps = get_number(o, "eps", t.adamw.eps);
  t.warmup_steps = get_int(o, "warmupSteps", t.warmup_steps);
  t.cosine_steps = get_int(o, "cosineSteps", t.cosine_steps);
  t.lr_min = get_number(o, "lrMin", t.lr_min);
  t.deterministic = get_bool(o, "deterministic", t.deterministic);
  t.bf16 = bf16_from_js(o);
  t.loader.batch_size = get_int(o, "batchSize", t.loader.batch_size);
  t.loader.seed = static_cast<uint64_t>(get_int(o, "seed", static_cast<int64_t>(t.loader.seed)));
  t.loader.io_threads = static_cast<int>(get_int(o, "ioThreads", t.loader.io_threads));
  t.loader.prefetch = static_cast<int>(get_int(o, "prefetch", t.loader.prefetch));
  return t;
}

}  // namespace asd::addon
