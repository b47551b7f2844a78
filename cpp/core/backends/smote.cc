#include "backends/smote.h"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/distance.h"
#include "backends/mt19937.h"

namespace asd::backends {

void smote_validate(double ratio, int64_t k_neighbors) {
  if (!(ratio > 0 && ratio <= 1)) {
    std::ostringstream msg;
    msg << "When 'sampling_strategy' is a float, it should be in the range (0, 1]. Got " << ratio
        << " instead.";
    throw std::invalid_argument(msg.str());
  }
  if (k_neighbors < 1) {
    throw std::invalid_argument(
        "The 'k_neighbors' parameter of SMOTE must be an int in the range [1, inf). Got " +
        std::to_string(k_neighbors) + " instead.");
  }
}

int64_t smote_count(int64_t n_majority, int64_t n_minority, double ratio) {
  // Python int(): float64 product, truncation toward zero.
  const double want = static_cast<double>(n_majority) * ratio - static_cast<double>(n_minority);
  const int64_t n_new = static_cast<int64_t>(std::trunc(want));
  if (n_new <= 0) {
    throw std::invalid_argument(
        "The specified ratio required to remove samples from the minority class while trying to "
        "generate new samples. Please increase the ratio. (SMOTE: " + std::to_string(n_majority) +
        " majority rows × ratio − " + std::to_string(n_minority) + " minority rows gives " +
        std::to_string(n_new) + " new rows)");
  }
  return n_new;
}

SmoteSamples smote_samples(const torch::Tensor& minority, int64_t n_new, int64_t k_neighbors,
                           const RunContext& ctx) {
  if (n_new < 0) throw std::invalid_argument("smote_samples: n_new must be >= 0");
  const torch::Tensor m32 = minority.to(torch::kFloat32);
  const torch::Tensor nn = knn_within(m32, k_neighbors, ctx).indices;  // (m, k), ascending distance
  const int64_t m = m32.size(0);

  // The draws are a short sequential stream (n_new ≈ ratio × majority rows): run it on the host,
  // integers first, then the doubles, exactly as imblearn's _make_samples consumes RandomState(0).
  Mt19937 rng(0);
  std::vector<int64_t> rows(n_new), cols(n_new);
  std::vector<double> steps(n_new);
  for (int64_t i = 0; i < n_new; ++i) {
    const int64_t f = rng.randint(m * k_neighbors);
    rows[i] = f / k_neighbors;
    cols[i] = f % k_neighbors;
  }
  for (int64_t i = 0; i < n_new; ++i) steps[i] = rng.next_double();

  const auto dev = m32.device();
  SmoteSamples out;
  out.rows = torch::tensor(rows, torch::kLong).to(dev);
  out.cols = torch::tensor(cols, torch::kLong).to(dev);
  out.steps = torch::tensor(steps, torch::kFloat64).to(dev);
  out.neighbors = nn;
  const torch::Tensor base = m32.index_select(0, out.rows);
  const torch::Tensor nb = m32.index_select(0, nn.index({out.rows, out.cols}));
  const torch::Tensor diff = nb - base;  // float32, as numpy subtracts float32 arrays
  out.synthetic = (base.to(torch::kFloat64) + out.steps.unsqueeze(1) * diff.to(torch::kFloat64))
                      .to(torch::kFloat32);
  return out;
}

}  // namespace asd::backends
