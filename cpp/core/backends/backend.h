// Anomaly-score backend interface (spec §1.1) and the sep_section grouping shared by every
// backend: one state per training section group, scores scattered back into input row order.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "backends/distance.h"
#include "common/runtime.h"

namespace asd::backends {

enum class Metric { Cosine, Euclid };

// "cosine" | "euclid"; anything else (including "euclidean") is rejected, as ASDKit does.
inline Metric parse_metric(const std::string& name) {
  if (name == "cosine") return Metric::Cosine;
  if (name == "euclid") return Metric::Euclid;
  throw std::invalid_argument("Unexpected metric: " + name);
}

inline const char* metric_name(Metric m) { return m == Metric::Cosine ? "cosine" : "euclid"; }

// One split's extract arrays (§1.1). Backends read section only with sep_section and is_target
// only when fitting.
struct EmbedSet {
  torch::Tensor embed;      // (N, D) float32
  torch::Tensor section;    // (N) int64
  torch::Tensor is_target;  // (N) int64: 1 = target domain, 0 = source domain
  int64_t rows() const { return embed.size(0); }
};

// Named tensors of one fitted group (e.g. Knn: "source", "target").
using NamedTensors = std::map<std::string, torch::Tensor>;

// A fitted backend as plain arrays, so a detector can score later without refitting.
struct BackendState {
  std::vector<int64_t> sections;     // ascending training sections; empty = one pooled group
  std::vector<NamedTensors> groups;  // parallel to sections (one entry when pooled)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual void fit(const EmbedSet& train, const RunContext& ctx) = 0;
  // One score per row of x, (N) float64 on ctx.device, in x's row order. Higher = more anomalous.
  virtual torch::Tensor score(const EmbedSet& x, const RunContext& ctx) const = 0;
  // The fitted state (tensors as fitted, on the fit's device); import_state replaces fit().
  virtual BackendState export_state() const = 0;
  virtual void import_state(const BackendState& state) = 0;
  // Right after fit(train): each training row scored with itself left out of the reference set it
  // belongs to. (N) float64 on ctx.device, in train's row order.
  virtual torch::Tensor score_train_loo(const EmbedSet& train, const RunContext& ctx) const = 0;
  // Warnings logged by the last fit(), e.g. "number of target data is 0." (one per group).
  std::vector<std::string> warnings;
};

// A copy of ctx whose progress maps a sub-operation's (done, of) onto [begin, end) of total.
inline RunContext sub_context(const RunContext& ctx, int64_t begin, int64_t end, int64_t total) {
  RunContext sub = ctx;
  if (ctx.progress) {
    sub.progress = [outer = ctx.progress, begin, end, total](int64_t done, int64_t of) {
      outer(of > 0 ? begin + (end - begin) * done / of : end, total);
    };
  }
  return sub;
}

namespace detail {

inline void check_embed_set(const EmbedSet& set, const char* what) {
  if (!set.embed.defined() || set.embed.dim() != 2) {
    throw std::invalid_argument(std::string(what) + ": embed must be a 2-D (rows, dims) tensor");
  }
  for (const torch::Tensor* t : {&set.section, &set.is_target}) {
    if (t->defined() && (t->dim() != 1 || t->size(0) != set.rows())) {
      throw std::invalid_argument(std::string(what) +
                                  ": section and is_target must be 1-D with one value per row");
    }
  }
}

inline EmbedSet take_rows(const EmbedSet& set, const torch::Tensor& rows) {
  auto pick = [&rows](const torch::Tensor& t) {
    return t.defined() ? t.index_select(0, rows.to(t.device())) : t;
  };
  return {pick(set.embed), pick(set.section), pick(set.is_target)};
}

struct SectionGroup {
  int64_t section;
  torch::Tensor rows;  // int64 row indices, on the embed's device
};

// Row indices per distinct section value, in ascending section order. Sections are small
// per-row metadata, so they are grouped on the host once per call.
inline std::vector<SectionGroup> group_by_section(const EmbedSet& set, const char* what) {
  if (!set.section.defined()) {
    throw std::invalid_argument(std::string(what) + ": sep_section needs the section array");
  }
  const torch::Tensor sec = set.section.to(torch::kCPU, torch::kLong).contiguous();
  std::map<int64_t, std::vector<int64_t>> by_section;
  const int64_t* p = sec.data_ptr<int64_t>();
  for (int64_t i = 0; i < sec.numel(); ++i) by_section[p[i]].push_back(i);
  std::vector<SectionGroup> groups;
  for (const auto& [section, rows] : by_section) {
    groups.push_back({section, torch::tensor(rows, torch::kLong).to(set.embed.device())});
  }
  return groups;
}

// State import helpers; `where` names the group in errors (e.g. "state group 1 (section 3)").
inline void check_tensor_names(const NamedTensors& group, std::initializer_list<const char*> allowed,
                               const std::string& where) {
  for (const auto& [name, t] : group) {
    if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return name == a; }) == allowed.end()) {
      throw std::invalid_argument(where + ": unexpected tensor \"" + name + "\"");
    }
  }
}

// The tensor `name` of a group, checked for dtype and dimensionality; undefined when absent and
// optional.
inline torch::Tensor state_tensor(const NamedTensors& group, const char* name, torch::ScalarType dtype,
                                  int64_t dim, const std::string& where, bool required = true) {
  const auto it = group.find(name);
  if (it == group.end() || !it->second.defined()) {
    if (!required) return {};
    throw std::invalid_argument(where + ": missing tensor \"" + name + "\"");
  }
  const torch::Tensor& t = it->second;
  if (t.dim() != dim || t.scalar_type() != dtype) {
    const auto type_name = [](torch::ScalarType s) -> std::string {
      return s == torch::kFloat32 ? "float32" : s == torch::kFloat64 ? "float64" : c10::toString(s);
    };
    throw std::invalid_argument(where + ": tensor \"" + name + "\" must be " + std::to_string(dim) + "-D " +
                                type_name(dtype) + ", got " + std::to_string(t.dim()) + "-D " +
                                type_name(t.scalar_type()));
  }
  if (t.size(0) == 0) throw std::invalid_argument(where + ": tensor \"" + name + "\" has no rows");
  return t;
}

}  // namespace detail

// Leave-one-out neighbours: the min(k, R - 1) smallest distances from queries[i] to the rows of refs
// other than refs[own[i]], (Q, min(k, R - 1)) float64 ascending. Asks knn_smallest for one more
// neighbour and drops the own row's entry, or the last one when the own row is not among them
// (ties with exact duplicates), which leaves exactly the nearest others.
inline torch::Tensor knn_smallest_without(const torch::Tensor& queries, const torch::Tensor& refs, int64_t k,
                                          const torch::Tensor& own, const RunContext& ctx,
                                          const DistanceOptions& dist) {
  const int64_t q = queries.size(0), k_others = std::min(k, refs.size(0) - 1);
  if (q == 0 || k_others <= 0) {
    ctx.check();
    return torch::empty({q, std::max<int64_t>(k_others, 0)}, queries.options().dtype(torch::kFloat64));
  }
  const Neighbors nb = knn_smallest(queries, refs, k_others + 1, ctx, dist);
  const torch::Tensor hit = nb.indices == own.to(nb.indices.device()).unsqueeze(1);
  const torch::Tensor drop = torch::where(hit.any(1), hit.to(torch::kLong).argmax(1),
                                          torch::full({q}, k_others, nb.indices.options()));
  const torch::Tensor keep =
      torch::arange(k_others + 1, nb.indices.options()).unsqueeze(0) != drop.unsqueeze(1);
  return nb.values.masked_select(keep).view({q, k_others});
}

// Row means of a neighbour-distance block; a row with no neighbours (an emptied leave-one-out
// reference set) is +inf, so a min() over domains picks the other one.
inline torch::Tensor mean_or_inf(const torch::Tensor& values) {
  if (values.size(1) == 0) {
    return torch::full({values.size(0)}, std::numeric_limits<double>::infinity(), values.options());
  }
  return values.mean(1);
}

// Rows in a backend's space: float32 on the run's device, unit-normalised for cosine.
inline torch::Tensor metric_space(const torch::Tensor& embed, Metric metric, const RunContext& ctx) {
  torch::Tensor x = embed.to(ctx.device, torch::kFloat32);
  return metric == Metric::Cosine ? l2_normalize(x) : x;
}

// A fitted group's rows in the backend's space (normalised for cosine) and split by domain.
struct DomainRows {
  torch::Tensor embed;        // (N, D) float32 on the run's device
  torch::Tensor source_rows;  // int64 indices with is_target == 0
  torch::Tensor target_rows;  // int64 indices with is_target == 1
};

// Shared first step of the domain-aware backends (Knn, Kmeans). `who` names the backend in errors.
inline DomainRows split_domains(const EmbedSet& group, Metric metric, const RunContext& ctx, const char* who) {
  ctx.check();
  if (!group.is_target.defined()) throw std::invalid_argument(std::string(who) + " fit: is_target is required");
  DomainRows d;
  d.embed = metric_space(group.embed, metric, ctx);
  const torch::Tensor is_target = group.is_target.to(ctx.device);
  d.source_rows = torch::nonzero(is_target == 0).flatten();
  d.target_rows = torch::nonzero(is_target == 1).flatten();
  if (d.source_rows.size(0) + d.target_rows.size(0) != group.rows()) {
    throw std::invalid_argument(std::string(who) + " fit: is_target values must be 0 (source) or 1 (target)");
  }
  return d;
}

// Implements fit/score once for all backends: with sep_section false every row forms one group
// (section values ignored); with true, one State is fitted per distinct training section and each
// scored row uses its own section's State. Derived classes only fit and score a single group.
template <class State>
class GroupedBackend : public Backend {
 public:
  explicit GroupedBackend(bool sep_section) : sep_section_(sep_section) {}

  void fit(const EmbedSet& train, const RunContext& ctx) final {
    detail::check_embed_set(train, "fit");
    warnings.clear();
    std::vector<int64_t> sections;
    std::vector<State> states;
    if (!sep_section_) {
      states.push_back(fit_group(train, ctx));
    } else {
      int64_t done = 0;
      for (const auto& g : detail::group_by_section(train, "fit")) {
        const int64_t n = g.rows.numel();
        states.push_back(fit_group(detail::take_rows(train, g.rows),
                                   sub_context(ctx, done, done + n, train.rows())));
        sections.push_back(g.section);
        done += n;
      }
    }
    sections_ = std::move(sections);
    states_ = std::move(states);
  }

  torch::Tensor score(const EmbedSet& x, const RunContext& ctx) const final {
    detail::check_embed_set(x, "score");
    if (states_.empty()) throw std::logic_error("score: the backend has not been fitted");
    if (!sep_section_) return checked(score_group(states_.front(), x, ctx), x.rows());

    // Resolve every section before any work, so an unknown one fails fast.
    const std::vector<detail::SectionGroup> groups = detail::group_by_section(x, "score");
    std::vector<const State*> states;
    for (const auto& g : groups) {
      const auto it = std::lower_bound(sections_.begin(), sections_.end(), g.section);
      if (it == sections_.end() || *it != g.section) {
        throw std::invalid_argument("score: section " + std::to_string(g.section) +
                                    " has no training rows (sep_section is true)");
      }
      states.push_back(&states_[static_cast<size_t>(it - sections_.begin())]);
    }
    return scatter_groups(x, groups, states, ctx, &GroupedBackend::score_group);
  }

  BackendState export_state() const final {
    if (states_.empty()) throw std::logic_error("export_state: the backend has not been fitted");
    BackendState out;
    out.sections = sections_;
    for (const State& s : states_) out.groups.push_back(state_to_tensors(s));
    return out;
  }

  void import_state(const BackendState& state) final {
    const bool shape_ok = sep_section_ ? !state.groups.empty() && state.sections.size() == state.groups.size()
                                       : state.sections.empty() && state.groups.size() == 1;
    if (!shape_ok) {
      throw std::invalid_argument(std::string("state: sep_section is ") +
                                  (sep_section_ ? "true, so it needs one group per section"
                                                : "false, so it needs one group and no sections") +
                                  " (got " + std::to_string(state.groups.size()) + " groups, " +
                                  std::to_string(state.sections.size()) + " sections)");
    }
    for (size_t i = 1; i < state.sections.size(); ++i) {
      if (state.sections[i] <= state.sections[i - 1]) {
        throw std::invalid_argument("state: sections must be strictly ascending");
      }
    }
    std::vector<State> states;
    int64_t dim = -1;
    for (size_t i = 0; i < state.groups.size(); ++i) {
      const std::string where = "state group " + std::to_string(i) +
          (sep_section_ ? " (section " + std::to_string(state.sections[i]) + ")" : std::string());
      // One embedding width across every 2-D tensor of every group.
      for (const auto& [name, t] : state.groups[i]) {
        if (!t.defined() || t.dim() != 2) continue;
        if (dim >= 0 && t.size(1) != dim) {
          throw std::invalid_argument(where + ": tensor \"" + name + "\" has dimension " +
                                      std::to_string(t.size(1)) + ", expected " + std::to_string(dim));
        }
        dim = t.size(1);
      }
      states.push_back(state_from_tensors(state.groups[i], where));
    }
    warnings.clear();
    sections_ = state.sections;
    states_ = std::move(states);
  }

  torch::Tensor score_train_loo(const EmbedSet& train, const RunContext& ctx) const final {
    detail::check_embed_set(train, "score_train_loo");
    if (states_.empty()) throw std::logic_error("score_train_loo: the backend has not been fitted");
    if (!sep_section_) return checked(score_group_loo(states_.front(), train, ctx), train.rows());
    // The same grouping as fit(): the training sections, one state each.
    const std::vector<detail::SectionGroup> groups = detail::group_by_section(train, "score_train_loo");
    std::vector<const State*> states;
    for (size_t i = 0; i < groups.size(); ++i) {
      if (groups.size() != states_.size() || groups[i].section != sections_[i]) {
        throw std::invalid_argument("score_train_loo: train is not the set the backend was fitted on");
      }
      states.push_back(&states_[i]);
    }
    return scatter_groups(train, groups, states, ctx, &GroupedBackend::score_group_loo);
  }

 protected:
  virtual State fit_group(const EmbedSet& group, const RunContext& ctx) = 0;
  // (rows of group) float64 scores on ctx.device.
  virtual torch::Tensor score_group(const State& state, const EmbedSet& group,
                                    const RunContext& ctx) const = 0;
  // As score_group, for the very rows `state` was fitted on, each left out of its own reference set.
  virtual torch::Tensor score_group_loo(const State& state, const EmbedSet& group,
                                        const RunContext& ctx) const = 0;
  virtual NamedTensors state_to_tensors(const State& state) const = 0;
  // Validates (std::invalid_argument naming `where`) and wraps one group's tensors; no copies.
  virtual State state_from_tensors(const NamedTensors& group, const std::string& where) const = 0;

 private:
  using GroupScore = torch::Tensor (GroupedBackend::*)(const State&, const EmbedSet&, const RunContext&) const;

  // Scores each section group of x against its state and scatters the results into x's row order.
  torch::Tensor scatter_groups(const EmbedSet& x, const std::vector<detail::SectionGroup>& groups,
                               const std::vector<const State*>& states, const RunContext& ctx,
                               GroupScore score_one) const {
    torch::Tensor out =
        torch::empty({x.rows()}, torch::TensorOptions().dtype(torch::kFloat64).device(ctx.device));
    int64_t done = 0;
    for (size_t i = 0; i < groups.size(); ++i) {
      const int64_t n = groups[i].rows.numel();
      const torch::Tensor s = checked(
          (this->*score_one)(*states[i], detail::take_rows(x, groups[i].rows),
                             sub_context(ctx, done, done + n, x.rows())),
          n);
      out.index_copy_(0, groups[i].rows.to(out.device()), s.to(out.device()));
      done += n;
    }
    return out;
  }

  static torch::Tensor checked(torch::Tensor s, int64_t rows) {
    if (s.dim() != 1 || s.size(0) != rows || s.scalar_type() != torch::kFloat64) {
      throw std::logic_error("backend: a group score must be (rows) float64");
    }
    return s;
  }

  bool sep_section_;
  std::vector<int64_t> sections_;  // ascending; empty when pooled
  std::vector<State> states_;      // parallel to sections_ (one entry when pooled)
};

}  // namespace asd::backends
