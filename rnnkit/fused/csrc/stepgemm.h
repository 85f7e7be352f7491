// The per-step recurrent GEMM of a time loop: out (M, N) = [out +] a (M, K) @ b (K, N), called once
// per step with the same b (the recurrent weight) and a batch of M <= max_m rows. Where a float step
// goes, by its rows (the batch shrinks step by step with lengths):
//
// * M >= kDenseStepRows (32) with RNNKIT_ONEDNN_STEP=1: oneDNN's matmul (densegemm.h). Off by default
//   since 2026-12-03: on the Intel machine of benchmarks/README.md (AVX-512, 2 cores) MKL's packed GEMM
//   was faster at every shape measured, 1 and 2 threads (GRU forward, min of 5 rounds: S1 1 thread
//   4.12 vs 4.89 ms, S3 78.8 vs 99.1 ms; 2 threads S1 2.61 vs 3.23, S3 41.7 vs 54.6), and oneDNN's
//   per-call set-up runs on each range's thread in the batch split (rowsplit.h). The Zen 4 measurement
//   of densegemm.h (4-15% faster from 32 rows on) is the case for turning it back on elsewhere;
// * M >= 2 (where oneDNN is not used): MKL's packed GEMM, where the running
//   libtorch carries MKL (torch's x86-64 wheels link it statically and export its CBLAS symbols): b is
//   packed once per kernel call with cblas_sgemm_pack, on the first step that needs it, and each step
//   runs cblas_sgemm_compute on the packed copy, as oneDNN's RNN primitive does with its weights. An
//   unpacked sgemm re-packs b on every call (perf at S4, B = 16: 9% of a training step in MKL's copy
//   routine). Same-run A/B (speed.py --twin RNNKIT_PACKED_GEMM=0): S4 3-5% faster, S1 / S2 with lengths
//   3-5%, equal where every step has >= 32 rows. RNNKIT_PACKED_GEMM=0 turns it off;
// * M = 1, or no MKL: the small-row loop (M <= kSmallRows) or ATen's mm (addmm_ptr). The small-row loop
//   took steps of up to 8 rows until 2026-12-03; measured (peephole LSTM inference, T = 500, H = 128,
//   1 thread, min of 15 alternating runs, loaded machine) it costs 6.3 us per step at M = 1 but then
//   ~14 us per extra row (M = 2: 18, 4: 50, 8: 110 us per step), against 65-76 us at M = 9-10 and
//   119 us at M = 16 on the packed GEMM; the batch split over threads (rowsplit.h) makes 8-row steps
//   common (B = 16 on two threads), so from 2 rows on steps go to the packed GEMM (kPackedMinRows).
//
// The MKL symbols are weak: without MKL they are null and those steps go to addmm_ptr.
#pragma once

#include <cstdlib>
#include <cstring>

#include "densegemm.h"
#include "fastmath.h"
#include "rowsplit.h"

extern "C" {
// MKL's LP64 CBLAS packed-GEMM entry points (enums passed as int, MKL_INT = int).
__attribute__((weak)) size_t cblas_sgemm_pack_get_size(int identifier, int m, int n, int k);
__attribute__((weak)) void cblas_sgemm_pack(int layout, int identifier, int trans, int m, int n, int k, float alpha,
                                            const float* src, int ld, float* dest);
__attribute__((weak)) void cblas_sgemm_compute(int layout, int transa, int transb, int m, int n, int k,
                                               const float* a, int lda, const float* b, int ldb, float beta,
                                               float* c, int ldc);
}

namespace rnnkit {

// Fewest rows of a float step on MKL's packed GEMM (where available); a single row stays on the small loop.
constexpr int64_t kPackedMinRows = 2;

constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasPacked = 151, kCblasBMatrix = 162;

// Whether MKL's packed GEMM entry points resolved in the running libtorch.
inline bool packed_gemm_available() { return cblas_sgemm_pack_get_size && cblas_sgemm_pack && cblas_sgemm_compute; }

// Whether float step GEMMs may use MKL's packed path: available and RNNKIT_PACKED_GEMM is not 0 (read per
// kernel call).
inline bool packed_gemm_enabled() {
  const char* env = std::getenv("RNNKIT_PACKED_GEMM");
  return packed_gemm_available() && (env == nullptr || std::strcmp(env, "0") != 0);
}

// Whether float steps of >= kDenseStepRows rows go to oneDNN's matmul: RNNKIT_ONEDNN_STEP=1 (read per kernel
// call; see the top of this file), or MKL's packed GEMM is not there.
inline bool dense_step_enabled() {
  const char* env = std::getenv("RNNKIT_ONEDNN_STEP");
  return (env != nullptr && std::strcmp(env, "1") == 0) || !packed_gemm_enabled();
}

template <typename T>
class StepGemm {
 public:
  // b: (K, N) row-major, alive for the object's lifetime; max_m: the most rows any step will have.
  StepGemm(const T* b, int64_t K, int64_t N, int64_t max_m, const at::TensorOptions& opts)
      : b_(b), K_(K), N_(N), max_m_(max_m), opts_(opts) {
    if constexpr (std::is_same_v<T, float>) {
      dense_ = max_m >= kDenseStepRows && dense_gemm_enabled() && dense_step_enabled();
      packable_ = max_m >= kPackedMinRows && K < (1LL << 31) && N < (1LL << 31) && max_m < (1LL << 31) &&
                  packed_gemm_enabled();
    }
  }

  // Make the packed copy of b now if steps may use it: before threads share this object (rowsplit.h),
  // since packed_b() makes it lazily.
  void prime() const {
    if constexpr (std::is_same_v<T, float>) {
      if (packable_) packed_b();
    }
  }

  // Bytes of b that the steps read (0 for an unused GEMM: no rows or no b), for rowsplit.h's rule.
  int64_t weight_bytes() const { return b_ != nullptr && max_m_ > 0 ? K_ * N_ * static_cast<int64_t>(sizeof(T)) : 0; }

  // out (M, N; contiguous) = [bias +] a (M, K; row stride lda) @ b, or out += a @ b with accumulate.
  // bias: (N,) for every row (bias_ld = 0) or (M, N) with row stride bias_ld; not with accumulate.
  void operator()(T* out, const T* a, int64_t lda, int64_t M, bool accumulate = false, const T* bias = nullptr,
                  int64_t bias_ld = 0) const {
    if (M == 0) return;
    if constexpr (std::is_same_v<T, float>) {
      const bool dense = dense_ && M >= kDenseStepRows && lda == K_;
      if (dense || (packable_ && M >= kPackedMinRows)) {
        if (bias && !(bias == out && bias_ld == N_)) {
          for (int64_t r = 0; r < M; ++r) std::memcpy(out + r * N_, bias + r * bias_ld, N_ * sizeof(float));
        }
        const float beta = accumulate || bias ? 1.0f : 0.0f;
        if (dense) {
          at::native::mkldnn_matmul(at::from_blob(const_cast<T*>(a), {M, K_}, opts_),
                                    at::from_blob(const_cast<T*>(b_), {K_, N_}, opts_),
                                    at::from_blob(out, {M, N_}, opts_), beta, 1.0f);
        } else {
          cblas_sgemm_compute(kCblasRowMajor, kCblasNoTrans, kCblasPacked, static_cast<int>(M), static_cast<int>(N_),
                              static_cast<int>(K_), a, static_cast<int>(lda), packed_b(), static_cast<int>(N_), beta,
                              out, static_cast<int>(N_));
        }
        return;
      }
    }
    if (!accumulate) {
      addmm_ptr<T>(out, bias, bias_ld, a, lda, b_, M, K_, N_, opts_);
    } else if (M <= kSmallRows) {
      small_addmm<T>(out, out, N_, a, lda, b_, M, K_, N_);  // each output block reads its bias before writing it
    } else {
      at::from_blob(out, {M, N_}, opts_).addmm_(at::from_blob(const_cast<T*>(a), {M, K_}, {lda, 1}, opts_),
                                                at::from_blob(const_cast<T*>(b_), {K_, N_}, opts_));
    }
  }

 private:
  // b packed by MKL (cblas_sgemm_pack), made on the first step that needs it: a batch that never has
  // between kPackedMinRows and kDenseStepRows rows never pays for the copy.
  const float* packed_b() const {
    if (!packed_.defined()) {
      const int m = static_cast<int>(max_m_), n = static_cast<int>(N_), k = static_cast<int>(K_);
      const size_t bytes = cblas_sgemm_pack_get_size(kCblasBMatrix, m, n, k);
      packed_ = at::empty({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))},
                          opts_.dtype(at::kFloat));  // torch's CPU allocator aligns to 64 bytes
      cblas_sgemm_pack(kCblasRowMajor, kCblasBMatrix, kCblasNoTrans, m, n, k, 1.0f,
                       reinterpret_cast<const float*>(b_), n, packed_.data_ptr<float>());
    }
    return packed_.data_ptr<float>();
  }

  const T* b_;
  int64_t K_, N_, max_m_;
  at::TensorOptions opts_;
  mutable at::Tensor packed_;
  bool dense_ = false;     // float steps of >= kDenseStepRows rows on oneDNN's matmul (densegemm.h)
  bool packable_ = false;  // float steps of kPackedMinRows <= M < kDenseStepRows rows (or all >= kPackedMinRows
                           // without oneDNN) on MKL's packed GEMM
};

}  // namespace rnnkit
