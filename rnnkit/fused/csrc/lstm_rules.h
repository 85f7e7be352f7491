// Shared by lstm_forward.cpp and lstm_backward.cpp: the LSTM kernels' state rules (see lstm_forward.cpp).
#pragma once

#include "densegemm.h"
#include "fastmath.h"
#include "workspace.h"
#include "stepgemm.h"

namespace rnnkit {
namespace lstm_detail {

using at::Tensor;


// A bool keep mask's bytes (torch stores bool as one byte 0 / 1). The rule loops read masks through
// uint8_t: GCC 12 does not vectorise a loop that loads `bool` ("no vectype for stmt"), which left every
// zoneout rule loop scalar with a branch per element (perf: ~9% of an S1 zoneout training step).
inline const uint8_t* keep_bytes(const Tensor& mask) { return reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>()); }

// torch.lerp(a, b, w): a + w (b - a), computed as torch does.
template <typename T>
RNNKIT_ALWAYS_INLINE T lerp_(T a, T b, T w) { return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w); }

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

// One row of the forward pointwise pass (see lstm_forward.cpp), with the options as compile-time flags:
// every instantiation is a branch-free loop the compiler vectorises. (With run-time flags GCC unswitches
// the loop itself and, depending on the code around it, may leave a variant scalar: 2.5x slower.)
// bias: the gates' bias (4H; a zero row without one), added here rather than in a pass of its own over
// the whole (N, 4H) input projection. Without SAVE (inference) the gates are not stored.
template <typename s_t, bool PEEP, bool CLIP, bool SAVE>
void forward_row(s_t* a, const s_t* xr, const s_t* bias, const s_t* cpr, s_t* cr, s_t* m, s_t* tcr, s_t* crr,
                 const s_t* pi, const s_t* pf, const s_t* po, s_t fb, s_t cc, int64_t H) {
  _Pragma("omp simd")
  for (int64_t j = 0; j < H; ++j) {
    s_t ai = a[j] + xr[j] + bias[j], af = a[H + j] + xr[H + j] + bias[H + j] + fb;
    s_t ag = a[2 * H + j] + xr[2 * H + j] + bias[2 * H + j];
    s_t ao = a[3 * H + j] + xr[3 * H + j] + bias[3 * H + j];
    const s_t c_old = cpr[j];
    if constexpr (PEEP) {
      ai += pi[j] * c_old;
      af += pf[j] * c_old;
    }
    const s_t i = sigm<s_t>(ai), f = sigm<s_t>(af), g = tanh_<s_t>(ag);
    s_t c = f * c_old + i * g;
    if constexpr (CLIP) {
      if constexpr (SAVE) crr[j] = c;
      c = c < -cc ? -cc : (c > cc ? cc : c);
    }
    if constexpr (PEEP) ao += po[j] * c;
    const s_t o = sigm<s_t>(ao), tcv = tanh_<s_t>(c);
    if constexpr (SAVE) {
      a[j] = i;
      a[H + j] = f;
      a[2 * H + j] = g;
      a[3 * H + j] = o;
      tcr[j] = tcv;
    }
    cr[j] = c;
    m[j] = o * tcv;
  }
}

template <typename s_t>
using ForwardRow = void (*)(s_t*, const s_t*, const s_t*, const s_t*, s_t*, s_t*, s_t*, s_t*, const s_t*,
                            const s_t*, const s_t*, s_t, s_t, int64_t);

template <typename s_t>
ForwardRow<s_t> forward_row_for(bool peep, bool clip, bool save) {
  if (peep) {
    if (clip) return save ? &forward_row<s_t, true, true, true> : &forward_row<s_t, true, true, false>;
    return save ? &forward_row<s_t, true, false, true> : &forward_row<s_t, true, false, false>;
  }
  if (clip) return save ? &forward_row<s_t, false, true, true> : &forward_row<s_t, false, true, false>;
  return save ? &forward_row<s_t, false, false, true> : &forward_row<s_t, false, false, false>;
}

// One row of the backward pointwise pass (see lstm_backward.cpp), flags at compile time as forward_row.
// dm: the gradient w.r.t. m_t from the projection (PROJ), else dy + dh.
template <typename s_t, bool PEEP, bool CLIP, bool PROJ>
void backward_row(const s_t* a, const s_t* dmr, const s_t* dyr, const s_t* dhr, const s_t* tc, s_t* dcr,
                  const s_t* crr, const s_t* cpr, const s_t* cnr, const s_t* pi, const s_t* pf, const s_t* po,
                  s_t* dpr, s_t* d, s_t cc, int64_t H) {
  _Pragma("omp simd")
  for (int64_t j = 0; j < H; ++j) {
    const s_t i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
    s_t dm;
    if constexpr (PROJ) {
      dm = dmr[j];
    } else {
      dm = dyr[j] + dhr[j];
    }
    const s_t tcv = tc[j];
    const s_t dao = dm * tcv * o * (1 - o);
    s_t dcv = dcr[j] + dm * o * (1 - tcv * tcv);
    if constexpr (PEEP) dcv += dao * po[j];
    if constexpr (CLIP) dcv = (crr[j] < -cc || crr[j] > cc) ? s_t(0) : dcv;
    const s_t cold = cpr[j];
    const s_t dai = dcv * g * i * (1 - i);
    const s_t daf = dcv * cold * f * (1 - f);
    const s_t dag = dcv * i * (1 - g * g);
    s_t dcold = dcv * f;
    if constexpr (PEEP) {
      dcold += dai * pi[j] + daf * pf[j];
      dpr[j] += dai * cold;
      dpr[H + j] += daf * cold;
      dpr[2 * H + j] += dao * cnr[j];
    }
    d[j] = dai;
    d[H + j] = daf;
    d[2 * H + j] = dag;
    d[3 * H + j] = dao;
    dcr[j] = dcold;
  }
}

template <typename s_t>
using BackwardRow = void (*)(const s_t*, const s_t*, const s_t*, const s_t*, const s_t*, s_t*, const s_t*,
                             const s_t*, const s_t*, const s_t*, const s_t*, const s_t*, s_t*, s_t*, s_t, int64_t);

template <typename s_t>
BackwardRow<s_t> backward_row_for(bool peep, bool clip, bool proj) {
  if (peep) {
    if (clip) return proj ? &backward_row<s_t, true, true, true> : &backward_row<s_t, true, true, false>;
    return proj ? &backward_row<s_t, true, false, true> : &backward_row<s_t, true, false, false>;
  }
  if (clip) return proj ? &backward_row<s_t, false, true, true> : &backward_row<s_t, false, true, false>;
  return proj ? &backward_row<s_t, false, false, true> : &backward_row<s_t, false, false, false>;
}

}  // namespace lstm_detail
}  // namespace rnnkit
