// Shared helpers for rnnkit's compiled recurrent kernels.
//
// sigmoid/tanh for float are written branch-free (Cephes-style polynomial
// exp/tanh) so that GCC/Clang vectorise the pointwise loops; they agree with
// torch's to about 2 ulp. double uses <cmath> (it is the gradcheck dtype).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace rnnkit {

inline float exp_f(float x) {
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

inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

inline float tanh_f(float x) {
  float ax = x < 0.0f ? -x : x;
  // large |x|: (1 - e^{-2|x|}) / (1 + e^{-2|x|}); small |x|: odd polynomial (Cephes tanhf)
  float e = exp_f(-2.0f * ax);
  float big = (1.0f - e) / (1.0f + e);
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = ax + ax * z * p;
  float t = ax < 0.625f ? small : big;
  return x < 0.0f ? -t : t;
}

template <typename T> inline T sigm(T x);
template <> inline float sigm<float>(float x) { return sigmoid_f(x); }
template <> inline double sigm<double>(double x) { return 1.0 / (1.0 + std::exp(-x)); }
template <typename T> inline T tanh_(T x);
template <> inline float tanh_<float>(float x) { return tanh_f(x); }
template <> inline double tanh_<double>(double x) { return std::tanh(x); }

// Rows [0, rows) of a pointwise pass, split over threads only when big enough to pay.
template <typename F>
inline void for_rows(int64_t rows, int64_t row_work, const F& body) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row_work));
  at::parallel_for(0, rows, grain, body);
}

// batch_sizes[t]: how many (length-sorted) sequences are still active at step t.
inline std::vector<int64_t> to_vec(const at::Tensor& batch_sizes) {
  auto bs = batch_sizes.to(at::kLong).contiguous();
  return std::vector<int64_t>(bs.data_ptr<int64_t>(), bs.data_ptr<int64_t>() + bs.numel());
}

// Rows a step may touch: the first `n` rows of a (B, ...) slice.
inline at::Tensor rows(const at::Tensor& t, int64_t n) { return t.narrow(0, 0, n); }

}  // namespace rnnkit
