// Backend surface: fit a backend on training embeddings and score query sets.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "async_job.h"
#include "errors.h"
#include "backends/kmeans.h"
#include "backends/knn.h"
#include "backends/knn_rescale.h"
#include "backends/smote.h"
#include "surfaces.h"
#include "tensor_bridge.h"

namespace asd::addon {

namespace {

backends::EmbedSet embed_set_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject()) fail(v.Env(), ErrorKind::kType, what + " must be { embed, section, isTarget }");
  auto o = v.As<Napi::Object>();
  backends::EmbedSet s;
  s.embed = tensor_from_js(o.Get("embed"), what + ".embed");
  if (s.embed.scalar_type() != torch::kFloat32 || s.embed.dim() != 2) {
    fail(v.Env(), ErrorKind::kType, what + ".embed must be float32 with shape [rows, dim]");
  }
  s.section = tensor_from_js(o.Get("section"), what + ".section").to(torch::kLong);
  s.is_target = tensor_from_js(o.Get("isTarget"), what + ".isTarget").to(torch::kLong);
  if (s.section.numel() != s.embed.size(0) || s.is_target.numel() != s.embed.size(0)) {
    fail(v.Env(), ErrorKind::kValue, what + ": section and isTarget need one value per embedding row");
  }
  return s;
}

backends::Metric metric_from_js(const Napi::Object& p, backends::Metric fallback) {
  return backends::parse_metric(get_string(p, "metric", backends::metric_name(fallback)));
}

// `{ kind, params, nInit? }` (NativeBackendConfig): `params` under ASDKit's names; a parameter
// left out keeps the core's default. `memory_budget` is the run's (backendScore's options).
std::shared_ptr<backends::Backend> backend_from_js(const Napi::Object& cfg, int64_t memory_budget) {
  const std::string kind = get_string(cfg, "kind", "");
  Napi::Value pv = cfg.Get("params");
  if (!pv.IsUndefined() && !pv.IsObject()) fail(cfg.Env(), ErrorKind::kType, "config.params must be an object");
  Napi::Object p = pv.IsObject() ? pv.As<Napi::Object>() : Napi::Object::New(cfg.Env());
  if (kind == "Knn") {
    backends::KnnOptions o;
    o.n_neighbors_so = get_int(p, "n_neighbors_so", o.n_neighbors_so);
    o.n_neighbors_ta = get_int(p, "n_neighbors_ta", o.n_neighbors_ta);
    o.metric = metric_from_js(p, o.metric);
    o.smote_ratio = get_number(p, "smote_ratio", o.smote_ratio);
    o.smote_neighbors = get_int(p, "smote_neighbors", o.smote_neighbors);
    o.sep_section = get_bool(p, "sep_section", o.sep_section);
    o.memory_budget_bytes = memory_budget;
    return std::make_shared<backends::Knn>(o);
  }
  if (kind == "Kmeans") {
    backends::KmeansOptions o;
    o.n_clusters = get_int(p, "n_clusters", o.n_clusters);
    o.metric = metric_from_js(p, o.metric);
    o.sep_section = get_bool(p, "sep_section", o.sep_section);
    o.fit.n_init = get_int(cfg, "nInit", o.fit.n_init);  // not an ASDKit parameter: a run option
    o.fit.memory_budget_bytes = memory_budget;
    return std::make_shared<backends::Kmeans>(o);
  }
  if (kind == "KnnRescale") {
    backends::KnnRescaleOptions o;
    o.n_neighbors = get_int(p, "n_neighbors", o.n_neighbors);
    o.k_ref_normalize = get_int(p, "k_ref_normalize", o.k_ref_normalize);
    o.metric = metric_from_js(p, o.metric);
    o.sep_section = get_bool(p, "sep_section", o.sep_section);
    o.memory_budget_bytes = memory_budget;
    return std::make_shared<backends::KnnRescale>(o);
  }
  fail(cfg.Env(), ErrorKind::kValue, "unknown backend \"" + kind + "\" (available: Knn, Kmeans, KnnRescale)");
}

struct ScoreResult {
  std::vector<torch::Tensor> scores;
  std::vector<std::string> warnings;
};

backends::EmbedSet embed_set_on(const backends::EmbedSet& s, const torch::Device& device) {
  return {s.embed.to(device), s.section.to(device), s.is_target.to(device)};
}

std::vector<backends::EmbedSet> queries_from_js(const Napi::Value& v) {
  std::vector<backends::EmbedSet> queries;
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) queries.push_back(embed_set_from_js(arr.Get(i), "queries[" + std::to_string(i) + "]"));
  return queries;
}

// Scores every query set with a fitted backend: (rows) float64 on the CPU each; progress over all rows.
std::vector<torch::Tensor> score_queries(const backends::Backend& backend, const std::vector<backends::EmbedSet>& queries,
                                         const JobContext& ctx) {
  int64_t total = 0;
  for (const auto& q : queries) total += q.rows();
  std::vector<torch::Tensor> scores;
  int64_t done = 0;
  for (const auto& q : queries) {
    RunContext sub = backends::sub_context(ctx, done, done + q.rows(), total);
    scores.push_back(backend.score(embed_set_on(q, ctx.device), sub).to(torch::kCPU, torch::kFloat64).contiguous());
    done += q.rows();
  }
  return scores;
}

Napi::Array scores_to_js(Napi::Env e, const std::vector<torch::Tensor>& scores) {
  auto out = Napi::Array::New(e, scores.size());
  for (size_t i = 0; i < scores.size(); ++i) out.Set(static_cast<uint32_t>(i), tensor_to_js(e, scores[i]).Get("data"));
  return out;
}

// backendScore(config, train, queries[], {device, memoryBudgetBytes}?, onProgress?)
//   → {promise: { scores: Float64Array[], warnings }, cancel}
Napi::Value backend_score_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[2].IsArray()) {
    fail(env, ErrorKind::kType, "backendScore(config, train, queries[], options?, onProgress?)");
  }
  auto o = get_options(info, 3);
  auto backend = backend_from_js(info[0].As<Napi::Object>(), get_int(o, "memoryBudgetBytes", backends::kDefaultMemoryBudgetBytes));
  backends::EmbedSet train = embed_set_from_js(info[1], "train");
  std::vector<backends::EmbedSet> queries = queries_from_js(info[2]);
  JobOptions jo;
  jo.device = get_device(o);
  jo.on_progress = info[4];
  jo.inputs = {info[1], info[2]};
  return start_job<ScoreResult>(
      env, jo,
      [backend, train, queries](const JobContext& ctx) {
        backend->fit(embed_set_on(train, ctx.device), ctx);
        ScoreResult r;
        r.scores = score_queries(*backend, queries, ctx);
        r.warnings = backend->warnings;
        return r;
      },
      [](Napi::Env e, ScoreResult& r) -> Napi::Value {
        auto obj = Napi::Object::New(e);
        auto scores = scores_to_js(e, r.scores);
        auto warnings = Napi::Array::New(e, r.warnings.size());
        for (size_t i = 0; i < r.warnings.size(); ++i) warnings.Set(static_cast<uint32_t>(i), r.warnings[i]);
        obj.Set("scores", scores);
        obj.Set("warnings", warnings);
        return obj;
      });
}

// NativeBackendState → core state: CPU tensors viewing the JS memory (keep `v` alive). Shapes and
// dtypes are checked by the backend's import_state.
backends::BackendState backend_state_from_js(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) fail(env, ErrorKind::kType, "state must be { sections, groups }");
  auto o = v.As<Napi::Object>();
  backends::BackendState state;
  const torch::Tensor sections = tensor_from_js(o.Get("sections"), "state.sections");
  if (sections.dim() != 1 || !c10::isIntegralType(sections.scalar_type(), /*includeBool=*/false)) {
    fail(env, ErrorKind::kType, "state.sections must be a 1-D integer array");
  }
  const torch::Tensor sec = sections.to(torch::kLong).contiguous();
  state.sections.assign(sec.data_ptr<int64_t>(), sec.data_ptr<int64_t>() + sec.numel());
  Napi::Value gv = o.Get("groups");
  if (!gv.IsArray()) fail(env, ErrorKind::kType, "state.groups must be an array of { name: {data, shape} }");
  auto groups = gv.As<Napi::Array>();
  for (uint32_t i = 0; i < groups.Length(); ++i) {
    const std::string what = "state.groups[" + std::to_string(i) + "]";
    Napi::Value g = groups.Get(i);
    if (!g.IsObject()) fail(env, ErrorKind::kType, what + " must be an object of tensors");
    auto go = g.As<Napi::Object>();
    backends::NamedTensors tensors;
    auto names = go.GetPropertyNames();
    for (uint32_t j = 0; j < names.Length(); ++j) {
      const std::string name = names.Get(j).As<Napi::String>().Utf8Value();
      tensors[name] = tensor_from_js(go.Get(name), what + "." + name);
    }
    state.groups.push_back(std::move(tensors));
  }
  return state;
}

struct FitResult {
  backends::BackendState state;
  torch::Tensor train_scores;
  std::vector<std::string> warnings;
};

// backendFit(config, train, {device, memoryBudgetBytes}?, onProgress?)
//   → {promise: { state: NativeBackendState, trainScores: Float64Array, warnings }, cancel}
Napi::Value backend_fit_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject()) {
    fail(env, ErrorKind::kType, "backendFit(config, train, options?, onProgress?)");
  }
  auto o = get_options(info, 2);
  auto backend = backend_from_js(info[0].As<Napi::Object>(), get_int(o, "memoryBudgetBytes", backends::kDefaultMemoryBudgetBytes));
  backends::EmbedSet train = embed_set_from_js(info[1], "train");
  JobOptions jo;
  jo.device = get_device(o);
  jo.on_progress = info[3];
  jo.inputs = {info[1]};
  return start_job<FitResult>(
      env, jo,
      [backend, train](const JobContext& ctx) {
        const backends::EmbedSet t = embed_set_on(train, ctx.device);
        const int64_t n = t.rows();  // progress: fit, then the leave-one-out pass
        backend->fit(t, backends::sub_context(ctx, 0, n, 2 * n));
        FitResult r;
        r.train_scores = backend->score_train_loo(t, backends::sub_context(ctx, n, 2 * n, 2 * n))
                             .to(torch::kCPU, torch::kFloat64)
                             .contiguous();
        r.state = backend->export_state();
        for (auto& g : r.state.groups) {
          for (auto& [name, tensor] : g) tensor = tensor.to(torch::kCPU).contiguous();
        }
        r.warnings = backend->warnings;
        return r;
      },
      [](Napi::Env e, FitResult& r) -> Napi::Value {
        auto state = Napi::Object::New(e);
        std::vector<int32_t> sections(r.state.sections.begin(), r.state.sections.end());
        state.Set("sections", tensor_to_js(e, torch::tensor(sections, torch::kInt32)).Get("data"));
        auto groups = Napi::Array::New(e, r.state.groups.size());
        for (size_t i = 0; i < r.state.groups.size(); ++i) {
          std::vector<std::pair<std::string, torch::Tensor>> named(r.state.groups[i].begin(), r.state.groups[i].end());
          groups.Set(static_cast<uint32_t>(i), named_tensors_to_js(e, named));
        }
        state.Set("groups", groups);
        auto warnings = Napi::Array::New(e, r.warnings.size());
        for (size_t i = 0; i < r.warnings.size(); ++i) warnings.Set(static_cast<uint32_t>(i), r.warnings[i]);
        auto obj = Napi::Object::New(e);
        obj.Set("state", state);
        obj.Set("trainScores", tensor_to_js(e, r.train_scores).Get("data"));
        obj.Set("warnings", warnings);
        return obj;
      });
}

// backendScoreState(config, state, queries[], {device, memoryBudgetBytes}?, onProgress?)
//   → {promise: { scores: Float64Array[] }, cancel}; no fit: the state is imported as given.
Napi::Value backend_score_state_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[2].IsArray()) {
    fail(env, ErrorKind::kType, "backendScoreState(config, state, queries[], options?, onProgress?)");
  }
  auto o = get_options(info, 3);
  auto backend = backend_from_js(info[0].As<Napi::Object>(), get_int(o, "memoryBudgetBytes", backends::kDefaultMemoryBudgetBytes));
  backends::BackendState state = backend_state_from_js(info[1]);
  std::vector<backends::EmbedSet> queries = queries_from_js(info[2]);
  JobOptions jo;
  jo.device = get_device(o);
  jo.on_progress = info[4];
  jo.inputs = {info[1], info[2]};
  return start_job<ScoreResult>(
      env, jo,
      [backend, state, queries](const JobContext& ctx) {
        backends::BackendState on_device = state;
        for (auto& g : on_device.groups) {
          for (auto& [name, tensor] : g) tensor = tensor.to(ctx.device);
        }
        backend->import_state(on_device);
        ScoreResult r;
        r.scores = score_queries(*backend, queries, ctx);
        return r;
      },
      [](Napi::Env e, ScoreResult& r) -> Napi::Value {
        auto obj = Napi::Object::New(e);
        obj.Set("scores", scores_to_js(e, r.scores));
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
    fail(env, ErrorKind::kType, "smoteSamples(minority, nNew, kNeighbors, metric?)");
  }
  torch::Tensor minority = tensor_from_js(info[0], "minority");
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
}

// kmeansScore(queries {data, shape}, centers {data, shape}, metric) → Float64Array
Napi::Value kmeans_score_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[2].IsString()) fail(env, ErrorKind::kType, "kmeansScore(queries, centers, metric)");
  const torch::Tensor q = tensor_from_js(info[0], "queries");
  const torch::Tensor c = tensor_from_js(info[1], "centers");
  const auto metric = backends::parse_metric(info[2].As<Napi::String>().Utf8Value());
  return tensor_to_js(env, backends::kmeans_score(q, c, metric, RunContext{}).contiguous()).Get("data");
}

}  // namespace

void register_backends(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "backendScore", backend_score_js);
  export_function(env, exports, "backendFit", backend_fit_js);
  export_function(env, exports, "backendScoreState", backend_score_state_js);
  export_function(env, exports, "smoteSamples", smote_samples_js);
  export_function(env, exports, "kmeansScore", kmeans_score_js);
}

}  // namespace asd::addon
