// Threads over the batch for a whole time loop.
//
// The rows of a batch are independent sequences: row r of step t reads only row r of step t - 1 (and
// the shared weights). So with several threads a kernel splits the batch into contiguous row ranges,
// one per thread, and each thread runs the *whole* time loop on its rows: its own per-step GEMM on
// its rows (oneDNN / MKL / the small-row loop, single-threaded inside the region) and its own
// pointwise passes, with no barrier per step. Splitting each step instead (a threaded GEMM, then a
// threaded pointwise pass) costs two fork-joins per step and leaves the small per-step GEMMs of
// B = 16-64 on one thread. The ranges balance the work (the number of valid steps of their rows,
// which differ with lengths: rows are sorted longest first). torch's intra-op pool runs the ranges
// (at::parallel_for), so rnnkit never starts more threads than torch.set_num_threads allows; any
// at::parallel_for or library GEMM inside a range runs inline on that range's thread.
//
// RNNKIT_BATCH_SPLIT=0 (read per kernel call) turns it off: each step's GEMM and passes are then
// threaded one by one, as before (for A/B runs: speed.py --twin RNNKIT_BATCH_SPLIT=0).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace rnnkit {

// Fewest rows per range: below this a range's per-step GEMM is too small to pay for the split.
constexpr int64_t kMinSplitRows = 8;

inline bool batch_split_enabled() {
  const char* env = std::getenv("RNNKIT_BATCH_SPLIT");
  return env == nullptr || std::strcmp(env, "0") != 0;
}

// Row ranges [bounds[k], bounds[k + 1]) of a batch of B rows (batch_sizes bsv, non-increasing): one per
// thread of torch's pool, at least kMinSplitRows rows each, about equal valid steps each; {0, B} alone
// with one thread, inside a parallel region, or with RNNKIT_BATCH_SPLIT=0.
inline std::vector<int64_t> row_ranges(const std::vector<int64_t>& bsv, int64_t B) {
  int64_t parts = 1;
  if (B >= 2 * kMinSplitRows && !at::in_parallel_region() && batch_split_enabled()) {
    parts = std::min<int64_t>(at::get_num_threads(), B / kMinSplitRows);
  }
  if (parts <= 1) return {0, B};
  // steps of row r = number of t with bsv[t] > r (rows sorted longest first)
  std::vector<int64_t> ending(B + 1, 0);
  for (int64_t b : bsv) ending[std::min<int64_t>(std::max<int64_t>(b, 0), B)] += 1;
  std::vector<int64_t> steps(B, 0);
  int64_t running = 0, total = 0;
  for (int64_t r = B - 1; r >= 0; --r) {
    running += ending[r + 1];
    steps[r] = running;
    total += running;
  }
  std::vector<int64_t> bounds{0};
  int64_t done = 0;
  for (int64_t r = 0; r < B && static_cast<int64_t>(bounds.size()) < parts; ++r) {
    done += steps[r];
    const int64_t k = static_cast<int64_t>(bounds.size());  // ranges closed so far + 1
    const bool enough_rows = r + 1 - bounds.back() >= kMinSplitRows;
    const bool rest_fits = B - (r + 1) >= (parts - k) * kMinSplitRows;
    if (enough_rows && rest_fits && done * parts >= k * total) bounds.push_back(r + 1);
  }
  bounds.push_back(B);
  return bounds;
}

// body(r0, r1) for each range of row_ranges, the ranges on torch's threads.
template <typename F>
inline void for_row_ranges(const std::vector<int64_t>& bounds, const F& body) {
  const int64_t parts = static_cast<int64_t>(bounds.size()) - 1;
  if (parts <= 1) {
    body(bounds.front(), bounds.back());
    return;
  }
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) body(bounds[p], bounds[p + 1]);
  });
}

}  // namespace rnnkit
