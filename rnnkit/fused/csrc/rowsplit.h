// Threads over the batch for a whole time loop.
//
// The rows of a batch are independent sequences: row r of step t reads only row r of step t - 1 (and
// the shared weights). So with several threads a kernel splits the batch into contiguous row ranges,
// one per thread, and each thread runs the *whole* time loop on its rows: its own per-step GEMM on
// its rows (MKL's packed GEMM / the small-row loop, single-threaded inside the region) and its own
// pointwise passes, with no barrier per step. Splitting each step instead (a threaded GEMM, then a
// threaded pointwise pass) costs two fork-joins per step. The ranges balance the work (the number of
// valid steps of their rows, which differ with lengths: rows are sorted longest first). torch's
// intra-op pool runs the ranges (at::parallel_for), so rnnkit never starts more threads than
// torch.set_num_threads allows; any at::parallel_for or library GEMM inside a range runs inline on that
// range's thread.
//
// Until 2026-12-03 the library was compiled without -fopenmp: at::parallel_for is a header template
// whose `#pragma omp parallel` is compiled into the caller, so every range (and every for_rows pass) ran
// one after the other on the calling thread, and only the libraries' GEMMs used the second thread: the
// split then lost to no split at S1, S3 and S4 (the lead's A/B of 12:08, benchmarks/README.md). Built with
// -fopenmp (build.py) the ranges run in parallel.
//
// When the split loses (measured, 2 threads, GRU forward and backward, B 16-256, H 64-512, with and
// without lengths; the grid is in benchmarks/README.md): each range's steps read the *whole* recurrent
// weight, while a step GEMM threaded over its columns reads half of it per thread. Where the step
// weights (all StepGemms of the loop) are larger than a core's L2 (2 MiB here: GRU H = 512 is 3 MiB,
// LSTM H = 512 4 MiB) and a range would get few rows (< kSplitBigWeightRows), every step streams the
// weight from L3 on both threads: the split was 4-23% slower there (B <= 128, H = 512) and 4-40%
// faster everywhere else. So row_ranges does not split in that corner.
//
// RNNKIT_BATCH_SPLIT=0 (read per kernel call) turns the split off, =1 forces it even in that corner:
// each step's GEMM and passes are then threaded one by one (for A/B runs: speed.py --twin
// RNNKIT_BATCH_SPLIT=0).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <unistd.h>

#include "fastmath.h"

namespace rnnkit {

// Fewest rows per range: below this a range's per-step GEMM is too small to pay for the split.
constexpr int64_t kMinSplitRows = 8;

// With step weights larger than a core's L2, fewest rows per range for the split to pay (see above).
constexpr int64_t kSplitBigWeightRows = 128;

// RNNKIT_BATCH_SPLIT: 0 never, 1 always (where there are enough rows), unset or else by the rule above.
inline int batch_split_mode() {
  const char* env = std::getenv("RNNKIT_BATCH_SPLIT");
  if (env != nullptr && std::strcmp(env, "0") == 0) return 0;
  if (env != nullptr && std::strcmp(env, "1") == 0) return 1;
  return -1;
}

// A core's L2 in bytes (sysconf where the C library has _SC_LEVEL2_CACHE_SIZE, as glibc does; 1 MiB where
// the system does not say, e.g. macOS's libc, which lacks the constant).
inline int64_t l2_bytes() {
  static const int64_t bytes = [] {
#ifdef _SC_LEVEL2_CACHE_SIZE
    const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#else
    const long v = 0;
#endif
    return v > 0 ? static_cast<int64_t>(v) : int64_t{1} << 20;
  }();
  return bytes;
}

// Whether the batch split pays for `parts` ranges of a batch of B rows whose steps read weight_bytes of
// recurrent weights (the rule above; mode: batch_split_mode()).
inline bool split_pays(int64_t B, int64_t parts, int64_t weight_bytes, int mode) {
  if (mode >= 0) return mode == 1;
  return weight_bytes <= l2_bytes() || B / parts >= kSplitBigWeightRows;
}

// Row ranges [bounds[k], bounds[k + 1]) of a batch of B rows (batch_sizes bsv, non-increasing): one per
// thread of torch's pool, at least kMinSplitRows rows each, about equal valid steps each; {0, B} alone
// with one thread, inside a parallel region, where the split does not pay (split_pays; weight_bytes:
// the bytes of all step-GEMM weights of the loop, e.g. step_weight_bytes(gemms...)) or with
// RNNKIT_BATCH_SPLIT=0.
inline std::vector<int64_t> row_ranges(const std::vector<int64_t>& bsv, int64_t B, int64_t weight_bytes) {
  int64_t parts = 1;
  const int mode = batch_split_mode();
  if (B >= 2 * kMinSplitRows && !at::in_parallel_region() && mode != 0) {
    parts = std::min<int64_t>(at::get_num_threads(), B / kMinSplitRows);
    if (parts > 1 && !split_pays(B, parts, weight_bytes, mode)) parts = 1;
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
    for (int64_t p = p0; p < p1; ++p) {
      current_row_range = p;  // the range's accumulator slot (fastmath.h); parts <= accumulator_slots()
      body(bounds[p], bounds[p + 1]);
    }
    current_row_range = -1;
  });
}

// Bytes of the weights a time loop's step GEMMs read (StepGemm::weight_bytes: 0 for an unused one).
template <typename... G>
inline int64_t step_weight_bytes(const G&... gemms) {
  return (int64_t{0} + ... + gemms.weight_bytes());
}

// The whole time loop of a kernel on given row ranges: the step GEMMs' packed weights made first when
// the ranges run on several threads (StepGemm::prime), then body(r0, r1) on each range.
template <typename F, typename... G>
inline void run_row_ranges(const std::vector<int64_t>& bounds, const F& body, const G&... gemms) {
  if (bounds.size() > 2) (gemms.prime(), ...);
  for_row_ranges(bounds, body);
}

// The whole time loop of a kernel, body(r0, r1), on the row ranges that row_ranges gives for the step
// GEMMs `gemms` of the loop (all of them: their weights decide the split).
template <typename F, typename... G>
inline void split_time_loop(const std::vector<int64_t>& bsv, int64_t B, const F& body, const G&... gemms) {
  run_row_ranges(row_ranges(bsv, B, step_weight_bytes(gemms...)), body, gemms...);
}

}  // namespace rnnkit
