#include "train/adamw.h"

#include <cmath>
#include <stdexcept>

namespace asd::train {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options) : options_(options) {
  for (auto& [name, p] : params) slots_.push_back(Slot{name, p, {}, {}, 0});
}

void AdamW::zero_grad() {
  for (auto& s : slots_) {
    if (s.param.grad().defined()) s.param.mutable_grad() = torch::Tensor();
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  const auto& o = options_;
  for (auto& s : slots_) {
    const torch::Tensor& g = s.param.grad();
    if (!g.defined()) continue;
    if (!s.exp_avg.defined()) {
      s.exp_avg = torch::zeros_like(s.param);
      s.exp_avg_sq = torch::zeros_like(s.param);
    }
    s.step += 1;
    s.param.mul_(1.0 - lr * o.weight_decay);
    s.exp_avg.mul_(o.beta1).add_(g, 1.0 - o.beta1);
    s.exp_avg_sq.mul_(o.beta2).addcmul_(g, g, 1.0 - o.beta2);
    const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(s.step));
    const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(s.step));
    const torch::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(o.eps);
    s.param.addcdiv_(s.exp_avg, denom, -lr / bc1);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& s : slots_) {
    if (!s.exp_avg.defined()) continue;
    out.emplace_back(s.name + ".exp_avg", s.exp_avg);
    out.emplace_back(s.name + ".exp_avg_sq", s.exp_avg_sq);
    out.emplace_back(s.name + ".step", torch::tensor(static_cast<double>(s.step), torch::kFloat64));
  }
  return out;
}

int64_t AdamW::state_bytes() const {
  int64_t n = 0;
  for (const auto& s : slots_) {
    if (s.exp_avg.defined()) n += static_cast<int64_t>(s.exp_avg.nbytes() + s.exp_avg_sq.nbytes());
  }
  return n;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& state) {
  std::map<std::string, Slot*> by_name;
  for (auto& s : slots_) by_name[s.name] = &s;
  for (const auto& [key, t] : state) {
    const auto dot = key.rfind('.');
    Slot* s = dot == std::string::npos ? nullptr : (by_name.count(key.substr(0, dot)) ? by_name[key.substr(0, dot)] : nullptr);
    if (!s) throw std::invalid_argument("optimizer state: no parameter for entry \"" + key + "\"");
    const std::string field = key.substr(dot + 1);
    if (field == "step") {
      s->step = static_cast<int64_t>(t.item<double>());
      continue;
    }
    if (field != "exp_avg" && field != "exp_avg_sq") throw std::invalid_argument("optimizer state: unknown entry \"" + key + "\"");
    if (t.sizes() != s->param.sizes()) throw std::invalid_argument("optimizer state: \"" + key + "\" has the wrong shape");
    torch::Tensor v = t.to(s->param.device(), s->param.scalar_type()).clone();
    (field == "exp_avg" ? s->exp_avg : s->exp_avg_sq) = v;
  }
  for (auto& s : slots_) {
    if (s.exp_avg.defined() != s.exp_avg_sq.defined()) throw std::invalid_argument("optimizer state: \"" + s.name + "\" lacks one of its moments");
  }
}

double scheduled_lr(double lr, int64_t t, int64_t warmup_steps, int64_t cosine_steps, double lr_min) {
  if (warmup_steps > 0 && t < warmup_steps) return lr * static_cast<double>(t) / static_cast<double>(warmup_steps);
  if (cosine_steps <= 0) return lr;
  if (t >= cosine_steps) return lr_min;
  return lr_min + 0.5 * (lr - lr_min) * (1.0 + std::cos(M_PI * static_cast<double>(t) / static_cast<double>(cosine_steps)));
}

}  // namespace asd::train
