// The compiled kernels' activations: sigmoid and tanh, float and double.
//
// sigmoid/tanh for float are written branch-free so that GCC/Clang vectorise the pointwise loops:
// sigmoid from a Cephes-style polynomial exp (about 2 ulp), tanh as a [13/6] rational function (Eigen's
// fast tanh: one division, no exp; at most 4.3 ulp and 2.6e-7 absolute from the exact tanh, checked in
// tests/fused/test_activations.py). double uses <cmath> (it is the gradcheck dtype). No torch header:
// benchmarks/ab/activations.cpp builds against this file with a C++ compiler alone.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

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

}  // namespace rnnkit
