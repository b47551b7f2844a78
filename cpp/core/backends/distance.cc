#include "backends/distance.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <tuple>

namespace asd::backends {
namespace {

// Bytes per element of a distance block: the float32 block itself plus the same again for
// topk's scratch and the merge buffers.
constexpr int64_t kBlockBytesPerElement = 8;
// Bytes per gathered candidate value in the exact stage: float32 gather + float64 copy.
constexpr int64_t kExactBytesPerElement = 12;
// When refs must be split, keep at least this many query rows per block so GEMMs stay efficient.
constexpr int64_t kMinQueryRowsPerBlock = 256;

struct ChunkPlan {
  int64_t query_rows;  // per GEMM block
  int64_t ref_rows;    // per GEMM block
  int64_t exact_rows;  // per float64 re-ranking batch (within a block's query rows)
};

// Prefers whole-refs blocks (no merge), then as many query rows as the budget allows.
ChunkPlan plan_chunks(int64_t n_queries, int64_t n_refs, int64_t dim, int64_t n_candidates,
                      int64_t budget) {
  const int64_t q_min = std::max<int64_t>(1, std::min(n_queries, kMinQueryRowsPerBlock));
  const int64_t ref_rows = std::clamp<int64_t>(budget / (kBlockBytesPerElement * q_min), 1,
                                               std::max<int64_t>(n_refs, 1));
  const int64_t query_rows = std::clamp<int64_t>(budget / (kBlockBytesPerElement * ref_rows), 1,
                                                 std::max<int64_t>(n_queries, 1));
  const int64_t exact_rows = std::clamp<int64_t>(
      budget / (kExactBytesPerElement * n_candidates * std::max<int64_t>(dim, 1)), 1, query_rows);
  return {query_rows, ref_rows, exact_rows};
}

// Exact stage for one batch of query rows: direct float64 ‖q − r‖ on the candidate rows, then
// the k smallest. Candidates are put in index order first so that the stable sort breaks exact
// ties by the lower ref index.
void rerank_exact(const torch::Tensor& queries, const torch::Tensor& refs, const torch::Tensor& cand,
                  const torch::Tensor& scale64, Neighbors& out, int64_t row0) {
  const int64_t nq = queries.size(0), k = out.values.size(1);
  const torch::Tensor sorted_cand = std::get<0>(cand.sort(1));
  const int64_t nc = sorted_cand.size(1);
  const torch::Tensor flat = sorted_cand.reshape({-1});
  torch::Tensor diff = refs.index_select(0, flat).to(torch::kFloat64).view({nq, nc, refs.size(1)});
  diff.sub_(queries.to(torch::kFloat64).unsqueeze(1));
  torch::Tensor dist = diff.mul_(diff).sum(2).sqrt_();
  if (scale64.defined()) dist.div_(scale64.index_select(0, flat).view({nq, nc}));
  auto [sorted, order] = dist.sort(/*stable=*/true, 1, /*descending=*/false);
  out.values.narrow(0, row0, nq).copy_(sorted.narrow(1, 0, k));
  out.indices.narrow(0, row0, nq).copy_(sorted_cand.gather(1, order.narrow(1, 0, k)));
}

void check_inputs(const torch::Tensor& queries, const torch::Tensor& refs) {
  if (!queries.defined() || !refs.defined() || queries.dim() != 2 || refs.dim() != 2) {
    throw std::invalid_argument("knn: queries and refs must be 2-D (rows, dims) tensors");
  }
  if (queries.size(1) != refs.size(1)) {
    throw std::invalid_argument("knn: queries have " + std::to_string(queries.size(1)) +
                                " dims but refs have " + std::to_string(refs.size(1)));
  }
  if (!queries.is_floating_point() || !refs.is_floating_point()) {
    throw std::invalid_argument("knn: queries and refs must be floating point");
  }
  if (queries.device() != refs.device()) {
    throw std::invalid_argument("knn: queries and refs must be on the same device");
  }
}

}  // namespace

torch::Tensor l2_normalize(const torch::Tensor& x) {
  return x / x.mul(x).sum(-1, /*keepdim=*/true).sqrt().clamp_min(1e-12);
}

Neighbors knn_smallest(const torch::Tensor& queries, const torch::Tensor& refs, int64_t k,
                       const RunContext& ctx, const DistanceOptions& opts) {
  check_inputs(queries, refs);
  const int64_t n_queries = queries.size(0), n_refs = refs.size(0), dim = refs.size(1);
  if (k < 1) throw std::invalid_argument("Expected n_neighbors > 0. Got " + std::to_string(k));
  if (k > n_refs) {
    throw std::invalid_argument("Expected n_neighbors <= n_samples, but n_samples = " +
                                std::to_string(n_refs) + ", n_neighbors = " + std::to_string(k));
  }
  if (opts.memory_budget_bytes < 1) throw std::invalid_argument("knn: memory budget must be > 0");

  torch::Tensor scale64, scale32;
  if (opts.ref_scale.defined()) {
    if (opts.ref_scale.dim() != 1 || opts.ref_scale.size(0) != n_refs) {
      throw std::invalid_argument("knn: ref_scale must have one value per ref row");
    }
    scale64 = opts.ref_scale.to(refs.device(), torch::kFloat64);
    const torch::Tensor s32 = scale64.to(torch::kFloat32);
    scale32 = s32 * s32;  // the selection key is d² / s²
  }

  const int64_t n_cand = std::min(n_refs, k + std::max<int64_t>(opts.candidate_margin, 0));
  const auto f64 = queries.options().dtype(torch::kFloat64);
  Neighbors out{torch::empty({n_queries, k}, f64), torch::empty({n_queries, k}, f64.dtype(torch::kLong))};

  // Selection runs on float32 copies centred on the refs' mean: distances are translation
  // invariant, and the GEMM formula's cancellation error scales with ‖q‖² + ‖r‖².
  const torch::Tensor refs32 = refs.to(torch::kFloat32);
  const torch::Tensor shift = refs32.mean(0, /*keepdim=*/true);
  // Stored (D, R) contiguous: the reference BLAS that Debian's LibTorch links multiplies this
  // layout ~1.4x faster than a transposed (R, D) view.
  torch::Tensor refs_t = torch::empty({dim, n_refs}, refs32.options());
  refs_t.copy_(refs32.t()).sub_(shift.t());
  const torch::Tensor refs_sq = refs_t.mul(refs_t).sum(0, /*keepdim=*/true);  // (1, R)

  const ChunkPlan plan = plan_chunks(n_queries, n_refs, dim, n_cand, opts.memory_budget_bytes);
  for (int64_t q0 = 0; q0 < n_queries; q0 += plan.query_rows) {
    const int64_t nq = std::min(plan.query_rows, n_queries - q0);
    const torch::Tensor q_c = queries.narrow(0, q0, nq).to(torch::kFloat32) - shift;
    const torch::Tensor q_sq = q_c.mul(q_c).sum(1, /*keepdim=*/true);  // (nq, 1)

    // Running top-n_cand over reference chunks (float32 keys, unsorted).
    torch::Tensor best_key, best_idx;
    for (int64_t r0 = 0; r0 < n_refs; r0 += plan.ref_rows) {
      ctx.check();
      const int64_t nr = std::min(plan.ref_rows, n_refs - r0);
      // ‖q‖² + ‖r‖² − 2 q·r, built in place in the one (nq, nr) block.
      torch::Tensor block =
          torch::addmm(refs_sq.narrow(1, r0, nr), q_c, refs_t.narrow(1, r0, nr), 1, -2);
      block.add_(q_sq);
      if (scale32.defined()) {
        // Clamp first so a zero divisor gives +inf/NaN (ranked last), never −inf.
        block.clamp_min_(0).div_(scale32.narrow(0, r0, nr).unsqueeze(0));
      }
      auto [key, idx] = block.topk(std::min(n_cand, nr), 1, /*largest=*/false, /*sorted=*/false);
      idx.add_(r0);
      if (!best_key.defined()) {
        best_key = key;
        best_idx = idx;
        continue;
      }
      const torch::Tensor all_key = torch::cat({best_key, key}, 1);
      const torch::Tensor all_idx = torch::cat({best_idx, idx}, 1);
      auto [merged_key, pos] = all_key.topk(std::min(n_cand, all_key.size(1)), 1, false, false);
      best_key = merged_key;
      best_idx = all_idx.gather(1, pos);
    }

    // Float64 re-ranking, batched so the gathered candidate rows stay within the budget too.
    for (int64_t e0 = 0; e0 < nq; e0 += plan.exact_rows) {
      const int64_t ne = std::min(plan.exact_rows, nq - e0);
      rerank_exact(queries.narrow(0, q0 + e0, ne), refs, best_idx.narrow(0, e0, ne), scale64, out,
                   q0 + e0);
    }
    ctx.report(q0 + nq, n_queries);
  }
  return out;
}

Neighbors knn_within(const torch::Tensor& refs, int64_t k, const RunContext& ctx,
                     const DistanceOptions& opts) {
  if (k < 0) throw std::invalid_argument("Expected n_neighbors >= 0. Got " + std::to_string(k));
  Neighbors nb = knn_smallest(refs, refs, k + 1, ctx, opts);
  return {nb.values.narrow(1, 1, k), nb.indices.narrow(1, 1, k)};
}

}  // namespace asd::backends
