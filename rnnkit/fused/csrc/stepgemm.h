// The per-step recurrent GEMM of a time loop: out (M, N) = [out +] a (M, K) @ b (K, N), called once
// per step with the same b (the recurrent weight) and a batch of M <= max_m rows.
//
// With RNNKIT_PACKED_GEMM=1 in the environment, and where the running libtorch carries MKL (torch's
// x86-64 wheels link it statically and export its CBLAS symbols), b is packed once per kernel call
// with cblas_sgemm_pack and every step runs cblas_sgemm_compute on the packed copy, as oneDNN's RNN
// primitive does with its weights: an unpacked sgemm may re-pack b on every call. On the AMD Zen 4
// machine of benchmarks/README.md it made no consistent difference (-8% to +10% per row, within the
// run-to-run spread), so it is opt-in (compare with `benchmarks/speed.py --packed-rows`). The symbols
// are weak: without MKL they are null and every step goes to addmm_ptr (BLAS through ATen, or the
// small-row loop for M <= kSmallRows, which stays in use on the packed path too).
//
// Otherwise float steps of at least kDenseStepRows rows run on oneDNN's matmul (densegemm.h; off with
// RNNKIT_ONEDNN_GEMM=0), smaller ones on ATen's mm (MKL) or the small-row loop.
#pragma once

#include <cstdlib>
#include <cstring>

#include "densegemm.h"
#include "fastmath.h"

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

constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasPacked = 151, kCblasBMatrix = 162;

// Whether MKL's packed GEMM entry points resolved in the running libtorch.
inline bool packed_gemm_available() { return cblas_sgemm_pack_get_size && cblas_sgemm_pack && cblas_sgemm_compute; }

// Whether float step GEMMs use MKL's packed path: available and RNNKIT_PACKED_GEMM=1 (read per kernel call).
inline bool packed_gemm_enabled() {
  const char* env = std::getenv("RNNKIT_PACKED_GEMM");
  return packed_gemm_available() && env != nullptr && std::strcmp(env, "1") == 0;
}

template <typename T>
class StepGemm {
 public:
  // b: (K, N) row-major, alive for the object's lifetime; max_m: the most rows any step will have.
  StepGemm(const T* b, int64_t K, int64_t N, int64_t max_m, const at::TensorOptions& opts)
      : b_(b), K_(K), N_(N), opts_(opts) {
    if constexpr (std::is_same_v<T, float>) {
      const bool fits = max_m > kSmallRows && K < (1LL << 31) && N < (1LL << 31) && max_m < (1LL << 31);
      if (fits && packed_gemm_enabled()) {
        const size_t bytes = cblas_sgemm_pack_get_size(kCblasBMatrix, static_cast<int>(max_m),
                                                       static_cast<int>(N), static_cast<int>(K));
        packed_ = at::empty({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))},
                            opts.dtype(at::kFloat));  // torch's CPU allocator aligns to 64 bytes
        cblas_sgemm_pack(kCblasRowMajor, kCblasBMatrix, kCblasNoTrans, static_cast<int>(max_m),
                         static_cast<int>(N), static_cast<int>(K), 1.0f, b, static_cast<int>(N),
                         packed_.data_ptr<float>());
      }
      dense_ = !packed_.defined() && max_m >= kDenseStepRows && dense_gemm_enabled();
    }
  }

  bool packed() const { return packed_.defined(); }

  // out (M, N; contiguous) = [bias +] a (M, K; row stride lda) @ b, or out += a @ b with accumulate.
  // bias: (N,) for every row (bias_ld = 0) or (M, N) with row stride bias_ld; not with accumulate.
  void operator()(T* out, const T* a, int64_t lda, int64_t M, bool accumulate = false, const T* bias = nullptr,
                  int64_t bias_ld = 0) const {
    if (M == 0) return;
    if constexpr (std::is_same_v<T, float>) {
      if (packed_.defined() && M > kSmallRows) {
        if (bias && !(bias == out && bias_ld == N_)) {
          for (int64_t r = 0; r < M; ++r) std::memcpy(out + r * N_, bias + r * bias_ld, N_ * sizeof(float));
        }
        cblas_sgemm_compute(kCblasRowMajor, kCblasNoTrans, kCblasPacked, static_cast<int>(M), static_cast<int>(N_),
                            static_cast<int>(K_), a, static_cast<int>(lda), packed_.data_ptr<float>(),
                            static_cast<int>(N_), accumulate || bias ? 1.0f : 0.0f, out, static_cast<int>(N_));
        return;
      }
      if (dense_ && M >= kDenseStepRows && lda == K_) {
        if (bias && !(bias == out && bias_ld == N_)) {
          for (int64_t r = 0; r < M; ++r) std::memcpy(out + r * N_, bias + r * bias_ld, N_ * sizeof(float));
        }
        at::native::mkldnn_matmul(at::from_blob(const_cast<T*>(a), {M, K_}, opts_),
                                  at::from_blob(const_cast<T*>(b_), {K_, N_}, opts_), at::from_blob(out, {M, N_}, opts_),
                                  accumulate || bias ? 1.0f : 0.0f, 1.0f);
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
  const T* b_;
  int64_t K_, N_;
  at::TensorOptions opts_;
  at::Tensor packed_;
  bool dense_ = false;  // float steps of >= kDenseStepRows rows on oneDNN's matmul (densegemm.h)
};

}  // namespace rnnkit
