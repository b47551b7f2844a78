// Backend surface: fit a backend on training embeddings and score query sets.
#include <memory>

#include "async_job.h"
#include "backends/kmeans.h"
#include "backends/knn.h"
#include "backends/knn_rescale.h"
#include "backends/smote.h"
#include "surfaces.h"
#include "tensor_bridge.h"

namespace asd::addon {

namespace {

backends::EmbedSet embed_set_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), what + " must be { embed, section, isTarget }");
  auto o = v.As<Napi::Object>();
  backends::EmbedSet s;
  s.embed = tensor_from_js(o.Get("embed"), what + ".embed");
  if (s.embed.scalar_type() != torch::kFloat32 || s.embed.dim() != 2) {
    throw Napi::TypeError::New(v.Env(), what + ".embed must be float32 with shape [rows, dim]");
  }
  s.section = tensor_from_js(o.Get("section"), what + ".section").to(torch::kLong);
  s.is_target = tensor_from_js(o.Get("isTarget"), what + ".isTarget").to(torch::kLong);
  if (s.section.numel() != s.embed.size(0) || s.is_target.numel() != s.embed.size(0)) {
    throw Napi::RangeError::New(v.Env(), what + ": section and isTarget need one value per embedding row");
  }
  return s;
}

std::shared_ptr<backends::Backend> backend_from_js(const Napi::Object& cfg) {
  const std::string kind = get_string(cfg, "kind", "");
  Napi::Value pv = cfg.Get("params");
  Napi::Object p = pv.IsObject() ? pv.As<Napi::Object>() : Napi::Object::New(cfg.Env());
  const int64_t budget = get_int(cfg, "memoryBudgetBytes", backends::kDefaultMemoryBudgetBytes);
  try {
    if (kind == "Knn") {
      backends::KnnOptions o;
      o.n_neighbors_so = get_int(p, "n_neighbors_so", 1);
      o.n_neighbors_ta = get_int(p, "n_neighbors_ta", 1);
      o.metric = backends::parse_metric(get_string(p, "metric", "cosine"));
      o.smote_ratio = get_number(p, "smote_ratio", 0.0);
      o.smote_neighbors = get_int(p, "smote_neighbors", 2);
      o.sep_section = get_bool(p, "sep_section", false);
      o.memory_budget_bytes = budget;
      return std::make_shared<backends::Knn>(o);
    }
    if (kind == "Kmeans") {
      backends::KmeansOptions o;
      o.n_clusters = get_int(p, "n_clusters", 16);
      o.metric = backends::parse_metric(get_string(p, "metric", "cosine"));
      o.sep_section = get_bool(p, "sep_section", false);
      o.fit.n_init = get_int(cfg, "nInit", 1);  // not an ASDKit parameter: a run option
      o.fit.memory_budget_bytes = budget;
      return std::make_shared<backends::Kmeans>(o);
    }
    if (kind == "KnnRescale") {
      backends::KnnRescaleOptions o;
      o.n_neighbors = get_int(p, "n_neighbors", 1);
      o.k_ref_normalize = get_int(p, "k_ref_normalize", 4);
      o.metric = backends::parse_metric(get_string(p, "metric", "cosine"));
      o.sep_section = get_bool(p, "sep_section", false);
      o.memory_budget_bytes = budget;
      return std::make_shared<backends::KnnRescale>(o);
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(cfg.Env(), e.what());
  }
  throw Napi::TypeError::New(cfg.Env(), "unknown backend \"" + kind + "\" (available: Knn, Kmeans, KnnRescale)");
}

struct ScoreResult {
  std::vector<torch::Tensor> scores;
  std::vector<std::string> warnings;
};

// backendScore(config, train, queries[], device, onProgress?) → { scores: Float64Array[], warnings }
Napi::Value backend_score_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[2].IsArray()) {
    throw Napi::TypeError::New(env, "backendScore(config, train, queries[], device?, onProgress?)");
  }
  auto backend = backend_from_js(info[0].As<Napi::Object>());
  backends::EmbedSet train = embed_set_from_js(info[1], "train");
  std::vector<backends::EmbedSet> queries;
  std::vector<Napi::Value> keep{info[1], info[2]};
  auto arr = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) queries.push_back(embed_set_from_js(arr.Get(i), "queries[" + std::to_string(i) + "]"));
  torch::Device device = torch::kCPU;
  try {
    device = parse_device(info.Length() > 3 && info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "cpu");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return start_job<ScoreResult>(
      env, info[4], device, keep,
      [backend, train, queries](const RunContext& ctx) {
        auto on = [&](const backends::EmbedSet& s) {
          return backends::EmbedSet{s.embed.to(ctx.device), s.section.to(ctx.device), s.is_target.to(ctx.device)};
        };
        int64_t total = 0;
        for (const auto& q : queries) total += q.rows();
        backend->fit(on(train), ctx);
        ScoreResult r;
        int64_t done = 0;
        for (const auto& q : queries) {
          RunContext sub = backends::sub_context(ctx, done, done + q.rows(), total);
          r.scores.push_back(backend->score(on(q), sub).to(torch::kCPU, torch::kFloat64).contiguous());
          done += q.rows();
        }
        r.warnings = backend->warnings;
        return r;
      },
      [](Napi::Env e, ScoreResult& r) -> Napi::Value {
        auto obj = Napi::Object::New(e);
        auto scores = Napi::Array::New(e, r.scores.size());
        for (size_t i = 0; i < r.scores.size(); ++i) scores.Set(static_cast<uint32_t>(i), tensor_to_js(e, r.scores[i]).Get("data"));
        auto warnings = Napi::Array::New(e, r.warnings.size());
        for (size_t i = 0; i < r.warnings.size(); ++i) warnings.Set(static_cast<uint32_t>(i), r.warnings[i]);
        obj.Set("scores", scores);
        obj.Set("warnings", warnings);
        return obj;
      });
}

// Diagnostics behind the reference-vector tests: the parts of a backend whose reference values
// are stored separately (SMOTE's draws, Kmeans scoring against given centres). Synchronous:
// meant for small inputs on the CPU.

// smoteSamples(minority {data, shape}, nNew, kNeighbors, metric) → { synthetic, rows, cols, steps,
// neighbors }; with metric "cosine" the rows are first normalised as the Knn backend does.
Napi::Value smote_samples_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "smoteSamples(minority, nNew, kNeighbors, metric?)");
  }
  torch::Tensor minority = tensor_from_js(info[0], "minority");
  try {
    const std::string metric = info.Length() > 3 && info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "euclid";
    if (backends::parse_metric(metric) == backends::Metric::Cosine) minority = backends::l2_normalize(minority);
    const backends::SmoteSamples s = backends::smote_samples(
        minority, info[1].As<Napi::Number>().Int64Value(), info[2].As<Napi::Number>().Int64Value(), RunContext{});
    auto obj = Napi::Object::New(env);
    obj.Set("synthetic", tensor_to_js(env, s.synthetic.contiguous()));
    obj.Set("rows", tensor_to_js(env, s.rows.contiguous()));
    obj.Set("cols", tensor_to_js(env, s.cols.contiguous()));
    obj.Set("steps", tensor_to_js(env, s.steps.contiguous()));
    obj.Set("neighbors", tensor_to_js(env, s.neighbors.contiguous()));
    return obj;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// kmeansScore(queries {data, shape}, centers {data, shape}, metric) → Float64Array
Napi::Value kmeans_score_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[2].IsString()) throw Napi::TypeError::New(env, "kmeansScore(queries, centers, metric)");
  const torch::Tensor q = tensor_from_js(info[0], "queries");
  const torch::Tensor c = tensor_from_js(info[1], "centers");
  try {
    const auto metric = backends::parse_metric(info[2].As<Napi::String>().Utf8Value());
    return tensor_to_js(env, backends::kmeans_score(q, c, metric, RunContext{}).contiguous()).Get("data");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace

void register_backends(Napi::Env env, Napi::Object exports) {
  exports.Set("backendScore", Napi::Function::New(env, backend_score_js, "backendScore"));
  exports.Set("smoteSamples", Napi::Function::New(env, smote_samples_js, "smoteSamples"));
  exports.Set("kmeansScore", Napi::Function::New(env, kmeans_score_js, "kmeansScore"));
}

}  // namespace asd::addon
