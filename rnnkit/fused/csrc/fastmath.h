// Shared helpers for rnnkit's compiled recurrent kernels.
//
// sigmoid/tanh for float are written branch-free so that GCC/Clang vectorise the pointwise loops:
// sigmoid from a Cephes-style polynomial exp (about 2 ulp), tanh as a [13/6] rational function (Eigen's
// fast tanh: one division, no exp; at most 4.3 ulp and 2.6e-7 absolute from the exact tanh, checked in
// tests/fused/test_activations.py). double uses <cmath> (it is the gradcheck dtype).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace rnnkit {

// The activations must inline into the pointwise loops for those to vectorise; GCC's inliner drops
// them when a translation unit grows (an unrelated header made forward_row call exp_f per element,
// 3.8% -> 19.5% of an S1 peephole training step), so they are forced.
#define RNNKIT_ALWAYS_INLINE inline __attribute__((always_inline))

RNNKIT_ALWAYS_INLINE float exp_f(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  // n = round(x / ln 2) with the 1.5 * 2^23 trick (vectorises, no libm call)
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(float));
  return y * scale;
}

RNNKIT_ALWAYS_INLINE float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

// tanh(x) = x P(x^2) / Q(x^2) on [-c, c] (|tanh| rounds to 1 beyond): Eigen's generic_fast_tanh_float.
// It replaced an exp-based tanh (exp, a division, a polynomial for small |x| and two selects): the LSTM's
// pointwise step 0.72x the time (in L1, 16 x 128 units, AVX-512; benchmarks/ab/activations.cpp); peephole LSTM
// inference 1.37x -> 1.05x of oneDNN at S1, 1.45x -> 1.24x at S4 in alternating runs (issue 15).
RNNKIT_ALWAYS_INLINE float tanh_f(float x) {
  constexpr float c = 7.99881172180175781f;
  const float xc = x < -c ? -c : (x > c ? c : x);
  const float z = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * z + 2.00018790482477e-13f;
  p = p * z - 8.60467152213735e-11f;
  p = p * z + 5.12229709037114e-08f;
  p = p * z + 1.48572235717979e-05f;
  p = p * z + 6.37261928875436e-04f;
  p = p * z + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * z + 1.18534705686654e-04f;
  q = q * z + 2.26843463243900e-03f;
  q = q * z + 4.89352518554385e-03f;
  return xc * p / q;
}

template <typename T> inline T sigm(T x);
template <> RNNKIT_ALWAYS_INLINE float sigm<float>(float x) { return sigmoid_f(x); }
template <> RNNKIT_ALWAYS_INLINE double sigm<double>(double x) { return 1.0 / (1.0 + std::exp(-x)); }
template <typename T> inline T tanh_(T x);
template <> RNNKIT_ALWAYS_INLINE float tanh_<float>(float x) { return tanh_f(x); }
template <> RNNKIT_ALWAYS_INLINE double tanh_<double>(double x) { return std::tanh(x); }

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
