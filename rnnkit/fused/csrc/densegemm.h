// The whole-sequence GEMMs of a kernel (input projection, dx, dW_ih, dW_hh, ...): oneDNN or MKL,
// whichever is faster on this CPU.
//
// torch's CPU builds carry two GEMM libraries: MKL (what at::mm uses for float) and oneDNN (what
// torch.nn.LSTM's fused kernel uses). MKL picks its tuned kernels by CPU vendor: on an AMD Zen 4
// machine it ran generic code and oneDNN's matmul was 1.2-2.3x faster on the thin and tall GEMMs of
// an RNN layer (one dimension = the input size I or the T*B rows; e.g. (3584 x 512) @ (512 x 28):
// 2.84 ms vs 1.26 ms); on an Intel Xeon (Sapphire Rapids) MKL is the faster one (the same GEMM 1.04
// vs 1.08 ms, (3584 x 28) @ (28 x 512) 0.82 vs 1.02, a step's dW (512 x 128) @ (128 x 128) 0.127 vs
// 0.168: training S1 0.76-0.88x the time with MKL, benchmarks/README.md, issue 15). So oneDNN is the
// default except on Intel CPUs (CPUID vendor GenuineIntel); RNNKIT_ONEDNN_GEMM=1 / 0 in the environment
// (read per call) forces it on / off, to compare. torch exports the entry point it uses itself,
// at::native::mkldnn_matmul; it is declared weak here, so a libtorch without it still loads, and
// dense_gemm_available() probes it once; without it every GEMM goes to at::mm.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <cstdlib>
#include <exception>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "workspace.h"

namespace at {
namespace native {
__attribute__((weak)) void mkldnn_matmul(const at::Tensor& mat1, const at::Tensor& mat2, const at::Tensor& result,
                                         float beta, float alpha);
}  // namespace native
}  // namespace at

namespace rnnkit {

// Below this many multiply-adds oneDNN's per-call set-up (~10 us) outweighs its faster kernel.
constexpr int64_t kDenseGemmMinMacs = int64_t{1} << 20;

// Step GEMMs (StepGemm) of fewer rows stay on at::mm / the small-row loop: oneDNN's fixed cost per call
// (~10-20 us) made a 16-row step 1.3-1.8x slower, while from 32 rows on it was 4-15% faster.
constexpr int64_t kDenseStepRows = 32;

// Whether oneDNN's matmul is there and computes float GEMMs here: the symbol resolved, torch was built
// with oneDNN (without it the symbol exists but only raises), and a probe on a small product with a
// transposed operand agrees with at::mm (some builds refuse float32 on some CPUs). Checked once.
inline bool dense_gemm_available() {
  static const bool ok = [] {
    if (at::native::mkldnn_matmul == nullptr || !at::hasMKLDNN()) return false;
    try {
      const at::Tensor a = at::arange(12, at::kFloat).reshape({4, 3}).t();  // (3, 4), strides (1, 3)
      const at::Tensor b = at::linspace(-1.0, 1.0, 20, at::kFloat).reshape({4, 5});
      at::Tensor out = at::empty({3, 5}, at::kFloat);
      at::native::mkldnn_matmul(a, b, out, 0.0f, 1.0f);
      return at::allclose(out, at::mm(a, b), 1e-5, 1e-5);
    } catch (const std::exception&) {
      return false;
    }
  }();
  return ok;
}

// Whether this CPU's vendor is Intel (CPUID leaf 0: "GenuineIntel"), where MKL runs its tuned kernels.
inline bool intel_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool intel = [] {
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
    char vendor[13];
    std::memcpy(vendor, &ebx, 4);
    std::memcpy(vendor + 4, &edx, 4);
    std::memcpy(vendor + 8, &ecx, 4);
    vendor[12] = '\0';
    return std::strcmp(vendor, "GenuineIntel") == 0;
  }();
  return intel;
#else
  return false;
#endif
}

// oneDNN for the whole-sequence GEMMs: RNNKIT_ONEDNN_GEMM=1 / 0 if set, else everywhere but on Intel CPUs.
inline bool dense_gemm_enabled() {
  if (!dense_gemm_available()) return false;
  const char* env = std::getenv("RNNKIT_ONEDNN_GEMM");
  if (env != nullptr && env[0] != '\0') return std::strcmp(env, "0") != 0;
  return !intel_cpu();
}

// A matrix oneDNN reads in place: row-major, or a transposed row-major one (else it copies).
inline bool onednn_layout(const at::Tensor& t) {
  return t.is_contiguous() || (t.stride(0) == 1 && t.stride(1) == t.size(0));
}

// out (M, N) = beta * out + a (M, K) @ b (K, N), beta 0 or 1; out contiguous.
inline void dense_mm(at::Tensor& out, const at::Tensor& a, const at::Tensor& b, float beta) {
  const int64_t macs = a.size(0) * a.size(1) * b.size(1);
  if (a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat && out.is_contiguous() &&
      macs >= kDenseGemmMinMacs && onednn_layout(a) && onednn_layout(b) && dense_gemm_enabled()) {
    at::native::mkldnn_matmul(a, b, out, beta, 1.0f);
  } else if (beta == 0.0f) {
    at::mm_out(out, a, b);
  } else {
    out.addmm_(a, b);
  }
}

// a @ b as a new (M, N) tensor (from the buffer pool when big).
inline at::Tensor dense_mm(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor out = workspace_empty({a.size(0), b.size(1)}, a.options());
  dense_mm(out, a, b, 0.0f);
  return out;
}

// A recurrent weight's gradient over all steps, sum_t dA_t^T h_{t-1}, as one or two large GEMMs:
// dA (T B, G) holds B rows per step, h_{-1} = h0 (B, P) and h_t = rows t B ... of Y (>= (T - 1) B, P).
inline at::Tensor recurrent_weight_grad(const at::Tensor& dA, const at::Tensor& h0, const at::Tensor& Y, int64_t T,
                                        int64_t B) {
  at::Tensor dW = dense_mm(dA.narrow(0, 0, B).t(), h0);
  if (T > 1) dense_mm(dW, dA.narrow(0, B, (T - 1) * B).t(), Y.narrow(0, 0, (T - 1) * B), 1.0f);
  return dW;
}

}  // namespace rnnkit
