// The one Euclidean k-nearest-neighbour kernel behind every backend (Knn, SMOTE's neighbour
// table, Kmeans assignment, KnnRescale). Device-agnostic: runs where its inputs live.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "common/runtime.h"

namespace asd::backends {

inline constexpr int64_t kDefaultMemoryBudgetBytes = int64_t{256} << 20;  // 256 MiB

struct DistanceOptions {
  // Working-memory bound for one chunk (float32 distance block + gathered candidate rows),
  // on top of one float32 centred (D, R) copy of refs. Chunks shrink down to 1×1 to respect it.
  int64_t memory_budget_bytes = kDefaultMemoryBudgetBytes;
  // Extra float32-selected candidates per query that are re-ranked in float64, so float32
  // cancellation in ‖q‖²+‖r‖²−2q·r cannot swap near-ties into or out of the top k.
  int64_t candidate_margin = 8;
  // Optional (R) divisors: rank and return ‖q − r_j‖ / ref_scale[j] instead of ‖q − r_j‖
  // (KnnRescale's local-density rescaling). A zero divisor gives inf/NaN, unguarded (spec §1.5).
  torch::Tensor ref_scale;
};

struct Neighbors {
  torch::Tensor values;   // (Q, k) float64, ascending per row; exact ties ordered by index
  torch::Tensor indices;  // (Q, k) int64 row indices into refs
};

// The k smallest distances from every query row to the rows of refs.
// queries (Q, D), refs (R, D): floating point, same device. Candidates are selected with a
// chunked float32 GEMM and a running top-k merge, then recomputed exactly in float64 from the
// original rows. Progress is reported in query rows; cancellation is checked per block.
// Throws std::invalid_argument when k < 1 or k > R (scikit-learn's wording).
Neighbors knn_smallest(const torch::Tensor& queries, const torch::Tensor& refs, int64_t k,
                       const RunContext& ctx, const DistanceOptions& opts = {});

// The k nearest *other* rows of every row of refs: knn_smallest(refs, refs, k + 1) without its
// first column (the row itself, or an exact duplicate at distance 0), as scikit-learn's
// kneighbors()[:, 1:] used by SMOTE and KnnRescale. Needs k + 1 <= R; k = 0 gives (R, 0).
Neighbors knn_within(const torch::Tensor& refs, int64_t k, const RunContext& ctx,
                     const DistanceOptions& opts = {});

// Row-wise x / max(‖x‖₂, 1e-12), in x's dtype; an all-zero row stays zero.
torch::Tensor l2_normalize(const torch::Tensor& x);

}  // namespace asd::backends
