#include "pretrained_config.h"

#include "errors.h"
#include "tensor_bridge.h"

namespace asd::addon {

namespace {

nn::BeatsConfig beats_from_js(const Napi::Object& c) {
  nn::BeatsConfig b;  // the class defaults, overridden field by field as BEATs does (§2.1)
  b.input_patch_size = get_int(c, "input_patch_size", b.input_patch_size);
  b.embed_dim = get_int(c, "embed_dim", b.embed_dim);
  b.conv_bias = get_bool(c, "conv_bias", b.conv_bias);
  b.encoder_layers = get_int(c, "encoder_layers", b.encoder_layers);
  b.encoder_embed_dim = get_int(c, "encoder_embed_dim", b.encoder_embed_dim);
  b.encoder_ffn_embed_dim = get_int(c, "encoder_ffn_embed_dim", b.encoder_ffn_embed_dim);
  b.encoder_attention_heads = get_int(c, "encoder_attention_heads", b.encoder_attention_heads);
  b.activation_fn = get_string(c, "activation_fn", b.activation_fn);
  b.layer_norm_first = get_bool(c, "layer_norm_first", b.layer_norm_first);
  b.deep_norm = get_bool(c, "deep_norm", b.deep_norm);
  b.layer_wise_gradient_decay_ratio = get_number(c, "layer_wise_gradient_decay_ratio", b.layer_wise_gradient_decay_ratio);
  b.dropout = get_number(c, "dropout", b.dropout);
  b.attention_dropout = get_number(c, "attention_dropout", b.attention_dropout);
  b.activation_dropout = get_number(c, "activation_dropout", b.activation_dropout);
  b.dropout_input = get_number(c, "dropout_input", b.dropout_input);
  b.encoder_layerdrop = get_number(c, "encoder_layerdrop", b.encoder_layerdrop);
  b.conv_pos = get_int(c, "conv_pos", b.conv_pos);
  b.conv_pos_groups = get_int(c, "conv_pos_groups", b.conv_pos_groups);
  b.relative_position_embedding = get_bool(c, "relative_position_embedding", b.relative_position_embedding);
  b.num_buckets = get_int(c, "num_buckets", b.num_buckets);
  b.max_distance = get_int(c, "max_distance", b.max_distance);
  b.gru_rel_pos = get_bool(c, "gru_rel_pos", b.gru_rel_pos);
  b.finetuned_model = get_bool(c, "finetuned_model", b.finetuned_model);
  return b;
}

nn::EatConfig eat_from_js(const Napi::Object& c, int64_t sec_samples) {
  nn::EatConfig e = nn::EatConfig::base(static_cast<double>(sec_samples) / 16000.0);
  e.depth = get_int(c, "depth", e.depth);
  e.embed_dim = get_int(c, "embed_dim", e.embed_dim);
  e.num_heads = get_int(c, "num_heads", e.num_heads);
  e.mlp_ratio = get_number(c, "mlp_ratio", e.mlp_ratio);
  e.norm_eps = get_number(c, "norm_eps", e.norm_eps);
  e.patch_size = get_int(c, "patch_size", e.patch_size);
  e.max_length = get_int(c, "max_length", e.max_length);
  e.qkv_bias = get_bool(c, "qkv_bias", e.qkv_bias);
  // drop_path_rate stays ASDKit's fine-tuning value (0.1, §3.1), not the pre-training one in cfg.
  return e;
}

}  // namespace

train::PretrainedModelConfig pretrained_config_from_js(const Napi::Object& o, train::HeadConfig head) {
  Napi::Env env = o.Env();
  train::PretrainedModelConfig c;
  c.sec_samples = get_int(o, "secSamples", c.sec_samples);
  Napi::Value ev = o.Get("encoderConfig");
  if (!ev.IsObject()) fail(env, ErrorKind::kType, "config.encoderConfig must be an object (the checkpoint's cfg)");
  const std::string encoder = get_string(o, "encoder", "");
  const bool mode_given = !o.Get("predictionMode").IsUndefined();
  if (encoder == "beats") {
    if (mode_given) fail(env, ErrorKind::kValue, "config.predictionMode is an EAT setting; BEATs has no CLS token (leave it out)");
    c.encoder = train::PretrainedModelConfig::Encoder::kBeats;
    c.beats = beats_from_js(ev.As<Napi::Object>());
  } else if (encoder == "eat") {
    c.encoder = train::PretrainedModelConfig::Encoder::kEat;
    c.eat = eat_from_js(ev.As<Napi::Object>(), c.sec_samples);
    const std::string mode = get_string(o, "predictionMode", "cls");
    if (mode != "cls" && mode != "seq") fail(env, ErrorKind::kValue, "config.predictionMode must be \"cls\" or \"seq\", got \"" + mode + "\"");
    c.eat.prediction_mode = nn::eat_prediction_mode(mode);
  } else {
    fail(env, ErrorKind::kValue, "config.encoder must be \"beats\" or \"eat\", got \"" + encoder + "\"");
  }
  c.lora_rank = get_int(o, "loraRank", c.lora_rank);
  c.lora_alpha = get_number(o, "loraAlpha", c.lora_alpha);
  c.projection = get_string(o, "projection", c.projection);
  if (c.encoder == train::PretrainedModelConfig::Encoder::kEat && c.projection == "attn_stat_pool" &&
      c.eat.prediction_mode != nn::EatConfig::PredictionMode::kSeq) {
    fail(env, ErrorKind::kValue, "config.projection \"attn_stat_pool\" needs config.predictionMode \"seq\" with EAT (spec §3.4)");
  }
  c.embed_size = get_int(o, "embedSize", c.embed_size);
  c.n_classes = get_int(o, "numClasses", c.n_classes);
  c.head = std::move(head);
  c.mixup_prob = get_number(o, "mixupProb", c.mixup_prob);
  const std::string channel = get_string(o, "channel", "");
  if (channel == "both") c.channels = train::ClipChannels::kBoth;
  else if (channel == "subtract") c.channels = train::ClipChannels::kSubtract;  // the model refuses it, naming the encoder
  else if (!channel.empty()) fail(env, ErrorKind::kValue, "config.channel must be \"both\" (absent: one channel), got \"" + channel + "\"");
  return c;
}

}  // namespace asd::addon
