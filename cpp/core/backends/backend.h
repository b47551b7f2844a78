// Anomaly-score backend interface (spec §1.1) and the sep_section grouping shared by every
// backend: one state per training section group, scores scattered back into input row order.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
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

class Backend {
 public:
  virtual ~Backend() = default;
  virtual void fit(const EmbedSet& train, const RunContext& ctx) = 0;
  // One score per row of x, (N) float64 on ctx.device, in x's row order. Higher = more anomalous.
  virtual torch::Tensor score(const EmbedSet& x, const RunContext& ctx) const = 0;
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

}  // namespace detail

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
    torch::Tensor out =
        torch::empty({x.rows()}, torch::TensorOptions().dtype(torch::kFloat64).device(ctx.device));
    int64_t done = 0;
    for (size_t i = 0; i < groups.size(); ++i) {
      const int64_t n = groups[i].rows.numel();
      const torch::Tensor s = checked(
          score_group(*states[i], detail::take_rows(x, groups[i].rows),
                      sub_context(ctx, done, done + n, x.rows())),
          n);
      out.index_copy_(0, groups[i].rows.to(out.device()), s.to(out.device()));
      done += n;
    }
    return out;
  }

 protected:
  virtual State fit_group(const EmbedSet& group, const RunContext& ctx) = 0;
  // (rows of group) float64 scores on ctx.device.
  virtual torch::Tensor score_group(const State& state, const EmbedSet& group,
                                    const RunContext& ctx) const = 0;

 private:
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
