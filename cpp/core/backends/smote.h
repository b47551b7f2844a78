// SMOTE oversampling with imbalanced-learn's semantics and random stream (spec §1.3):
// SMOTE(sampling_strategy=ratio, random_state=0, k_neighbors=k).fit_resample on two classes.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "common/runtime.h"

namespace asd::backends {

// Checks the parameters as imbalanced-learn does when resampling runs: ratio in (0, 1], k >= 1.
void smote_validate(double ratio, int64_t k_neighbors);

// n_new = trunc(n_majority × ratio − n_minority); throws when that is <= 0 (imblearn refuses a
// ratio that would "remove samples from the minority class").
int64_t smote_count(int64_t n_majority, int64_t n_minority, double ratio);

struct SmoteSamples {
  torch::Tensor synthetic;  // (n_new, D) float32, in draw order
  torch::Tensor rows;       // (n_new) int64: base row among the minority rows
  torch::Tensor cols;       // (n_new) int64: neighbour column drawn
  torch::Tensor steps;      // (n_new) float64: interpolation factors in [0, 1)
  torch::Tensor neighbors;  // (m, k) int64: nearest other minority rows, self excluded
};

// n_new synthetic rows interpolated between minority rows and their k nearest minority
// neighbours (Euclidean), drawn from a fresh RandomState(0). minority: (m, D) float32, m >= k + 1
// (else "Expected n_neighbors <= n_samples…"). Results live on minority's device.
SmoteSamples smote_samples(const torch::Tensor& minority, int64_t n_new, int64_t k_neighbors,
                           const RunContext& ctx);

}  // namespace asd::backends
