// Shared by lstm_forward.cpp and lstm_backward.cpp: the LSTM kernels' state rules (see lstm_forward.cpp).
#pragma once

#include "fastmath.h"

namespace rnnkit {
namespace lstm_detail {

using at::Tensor;


// out (M, N) += a (M, K; row stride lda) @ b (K, N contiguous).
template <typename T>
void addmm_acc(T* out, const T* a, int64_t lda, const T* b, int64_t M, int64_t K, int64_t N,
               const at::TensorOptions& opts) {
  if (M <= kSmallRows) {
    small_addmm<T>(out, out, N, a, lda, b, M, K, N);  // each output block reads its bias before writing it
    return;
  }
  at::from_blob(out, {M, N}, opts).addmm_(at::from_blob(const_cast<T*>(a), {M, K}, {lda, 1}, opts),
                                          at::from_blob(const_cast<T*>(b), {K, N}, opts));
}

// torch.lerp(a, b, w): a + w (b - a), computed as torch does.
template <typename T>
inline T lerp_(T a, T b, T w) { return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w); }

// The state rule of one leaf (see the header): which tensor and how it is read.
struct Rule {
  bool on = false;    // the leaf has a rule
  bool drop = false;  // mode 1: per-sequence mask (B, N) of scalar_t
  bool keep = false;  // mode 2 with masks: (T, B, N) bool
  double rate = 0.0;  // mode 2 without masks
};

inline Rule make_rule(int64_t mode, const c10::optional<Tensor>& t, double rate) {
  Rule r;
  const bool has = t.has_value() && t->defined();
  if (mode == 1 && has) r.on = r.drop = true;
  if (mode == 2 && (has || rate > 0)) {
    r.on = true;
    r.keep = has;
    r.rate = rate;
  }
  return r;
}


}  // namespace lstm_detail
}  // namespace rnnkit
