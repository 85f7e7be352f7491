// Shared helpers for rnnkit's compiled recurrent kernels (the activations: activations.h).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "activations.h"

namespace rnnkit {

// body(std::true_type{}) or body(std::false_type{}): a run-time option as a compile-time constant, so
// that each variant of a pointwise loop is branch-free (GCC's own unswitching of a loop with a run-time
// flag inside can leave a variant scalar, depending on the code around it).
template <typename F>
inline void with_flag(bool flag, const F& body) {
  if (flag) {
    body(std::true_type{});
  } else {
    body(std::false_type{});
  }
}

// Rows [lo, hi) of a pointwise pass, split over threads only when big enough to pay (inside a
// thread's row range of rowsplit.h the pass runs inline).
template <typename F>
inline void for_rows(int64_t lo, int64_t hi, int64_t row_work, const F& body) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row_work));
  if (hi > lo) at::parallel_for(lo, hi, grain, body);
}

// Rows [0, rows) of a pointwise pass.
template <typename F>
inline void for_rows(int64_t rows, int64_t row_work, const F& body) {
  for_rows(0, rows, row_work, body);
}

// The row range (rowsplit.h) the calling thread runs, -1 outside one; set by for_row_ranges.
inline thread_local int64_t current_row_range = -1;

// Per-thread accumulators for sums over rows inside for_rows: thread k of a pass owns row k of a
// (slots, n) buffer, which stays in L1/L2 (one row per batch row would not). Inside a row range of the
// batch split (rowsplit.h) the pass runs inline and the range's index is the slot: at::parallel_for's
// inline path reports thread 0 on every thread (ATen's ThreadIdGuard(0)), so two ranges would share
// slot 0 (a race the parity test test_threaded_pointwise_matches[lnlstm] caught once the split really
// ran on two threads). In a call made inside some other parallel region the pass runs inline on one
// thread, so clamping the index stays race-free.
inline int64_t accumulator_slots() { return std::max<int64_t>(1, at::get_num_threads()); }
inline int64_t accumulator_slot(int64_t slots) {
  const int64_t k = current_row_range >= 0 ? current_row_range : at::get_thread_num();
  return std::min<int64_t>(k, slots - 1);
}

// batch_sizes[t]: how many (length-sorted) sequences are still active at step t.
inline std::vector<int64_t> to_vec(const at::Tensor& batch_sizes) {
  auto bs = batch_sizes.to(at::kLong).contiguous();
  return std::vector<int64_t>(bs.data_ptr<int64_t>(), bs.data_ptr<int64_t>() + bs.numel());
}

// off[t] = batch_sizes[0] + ... + batch_sizes[t-1]: where step t's rows start in a packed (N, .)
// buffer (a PackedSequence's data layout); off[T] = N.
inline std::vector<int64_t> step_offsets(const std::vector<int64_t>& bsv) {
  std::vector<int64_t> off(bsv.size() + 1, 0);
  for (size_t t = 0; t < bsv.size(); ++t) off[t + 1] = off[t] + bsv[t];
  return off;
}

// out = bias + a @ b for a step's few active rows (StepGemm's path for one row, and for M <= kSmallRows
// without MKL's packed GEMM; addmm_ptr's for M <= kSmallRows): a plain
// vectorised loop (no BLAS call, no dispatch: ~1 us at M = 1, H = 128) beats at::addmm's fixed
// overhead. bias: null, (M, N) with row stride bias_ld, or (N,) with bias_ld = 0.
constexpr int64_t kSmallRows = 8;

template <typename T>
inline void small_addmm(T* out, const T* bias, int64_t bias_ld, const T* a, int64_t lda, const T* b, int64_t M,
                        int64_t K, int64_t N) {
  constexpr int64_t kBlock = 64;  // output columns kept in registers across the whole K loop
  for (int64_t r = 0; r < M; ++r) {
    T* o = out + r * N;
    const T* br = bias ? bias + r * bias_ld : nullptr;
    const T* ar = a + r * lda;
    int64_t n0 = 0;
    for (; n0 + kBlock <= N; n0 += kBlock) {
      T acc[kBlock];
      if (br) {  // the branch outside the loop: a masked load through a null pointer is a slow assist
        for (int64_t j = 0; j < kBlock; ++j) acc[j] = br[n0 + j];
      } else {
        for (int64_t j = 0; j < kBlock; ++j) acc[j] = T(0);
      }
      for (int64_t k = 0; k < K; ++k) {
        const T av = ar[k];
        const T* bk = b + k * N + n0;
        _Pragma("omp simd")
        for (int64_t j = 0; j < kBlock; ++j) acc[j] += av * bk[j];
      }
      for (int64_t j = 0; j < kBlock; ++j) o[n0 + j] = acc[j];
    }
    if (n0 < N) {
      if (br) {
        for (int64_t n = n0; n < N; ++n) o[n] = br[n];
      } else {
        for (int64_t n = n0; n < N; ++n) o[n] = T(0);
      }
      for (int64_t k = 0; k < K; ++k) {
        const T av = ar[k];
        const T* bk = b + k * N;
        _Pragma("omp simd")
        for (int64_t n = n0; n < N; ++n) o[n] += av * bk[n];
      }
    }
  }
}

// out (M, N) = bias + a (M, K; row stride lda) @ b (K, N contiguous) on raw
// pointers: no tensor views at all on the small-batch path (a few ATen view
// ops per step cost as much as the step itself at batch 1).
template <typename T>
inline void addmm_ptr(T* out, const T* bias, int64_t bias_ld, const T* a, int64_t lda, const T* b, int64_t M,
                      int64_t K, int64_t N, const at::TensorOptions& opts) {
  if (M <= kSmallRows) {
    small_addmm<T>(out, bias, bias_ld, a, lda, b, M, K, N);
    return;
  }
  at::Tensor o = at::from_blob(out, {M, N}, opts);
  at::Tensor av = at::from_blob(const_cast<T*>(a), {M, K}, {lda, 1}, opts);
  at::Tensor bv = at::from_blob(const_cast<T*>(b), {K, N}, opts);
  if (bias) {
    at::Tensor biasv = bias_ld ? at::from_blob(const_cast<T*>(bias), {M, N}, {bias_ld, 1}, opts)
                               : at::from_blob(const_cast<T*>(bias), {N}, opts);
    at::addmm_out(o, biasv, av, bv);
  } else {
    at::mm_out(o, av, bv);
  }
}

// Hint that the n elements at p will be read (write = false) or written soon: one prefetch per
// 64-byte line. The row loops touch ten or more arrays at once, more streams than the hardware
// prefetchers follow, so each row asks for the next row's lines while it computes.
template <typename T>
inline void prefetch_row(const T* p, int64_t n, bool write = false) {
  const char* c = reinterpret_cast<const char*>(p);
  const int64_t bytes = n * static_cast<int64_t>(sizeof(T));
  if (write) {
    for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 1, 3);
  } else {
    for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 3);
  }
}

// Pointer to step i of a contiguous (T, ...) buffer, without an ATen view.
template <typename T>
inline T* step_ptr(const at::Tensor& t, int64_t i) { return t.data_ptr<T>() + i * t.stride(0); }

// The buffer of a kernel's final state (B, N) for the initial state s0: each row's final state is copied in
// at its sequence's last step, so only rows of length 0 (sorted last: rows >= batch_sizes[0]) keep s0's;
// a copy of s0 only then (two (B, H) copies fewer per call; not measurable at S1 / S2 in alternating runs).
inline at::Tensor final_state_buffer(const at::Tensor& s0, const std::vector<int64_t>& bsv) {
  return bsv.empty() || bsv[0] < s0.size(0) ? s0.clone() : at::empty_like(s0);
}

// Copy rows [from, to) of a contiguous (B, N) step into dst (B, N).
template <typename T>
inline void copy_rows(T* dst, const T* src, int64_t from, int64_t to, int64_t N) {
  if (to > from) std::memcpy(dst + from * N, src + from * N, (to - from) * N * sizeof(T));
}

}  // namespace rnnkit
