// The LSTM's pointwise step (peephole, inference: 3 sigmoids, 2 tanh per unit) on 16 rows x 128 units in
// L1, with the exp-based tanh the kernels had until 2026-12-03 ("current" below), with the kernels' own
// rational tanh (rnnkit/fused/csrc/activations.h, "rational tanh only"), and with a sigmoid made from it
// too ("rational tanh+sig", not taken: its relative error in the tails). benchmarks/README.md, issue 15.
// The sigmoid, exp and the rational tanh are the shipped ones (activations.h needs no torch header); the
// retired tanh and the untaken sigmoid are kept here. Run from the repository root:
//   g++ -O3 -fopenmp-simd -fno-math-errno -march=native -mprefer-vector-width=512 \
//       benchmarks/ab/activations.cpp -o /tmp/act && /tmp/act
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../../rnnkit/fused/csrc/activations.h"

#define AI inline __attribute__((always_inline))
using rnnkit::exp_f;
using rnnkit::tanh_f;
AI float sig_a(float x) { return rnnkit::sigmoid_f(x); }
// the exp-based tanh of the kernels until 2026-12-03
AI float tanh_a(float x) {
  float ax = x < 0.0f ? -x : x; float e = exp_f(-2.0f * ax); float big = (1.0f - e) / (1.0f + e);
  float z = x * x; float p = -5.70498872745e-3f; p = p * z + 2.06390887954e-2f; p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f; p = p * z - 3.33332819422e-1f; float small = ax + ax * z * p;
  float t = ax < 0.625f ? small : big; return x < 0.0f ? -t : t;
}
AI float tanh_r(float x) { return tanh_f(x); }
AI float sig_r(float x) { return 0.5f + 0.5f * tanh_r(0.5f * x); }
template <int V>
void row(float* a, const float* xr, const float* b, const float* cpr, float* cr, float* m, const float* pi,
         const float* pf, const float* po, int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    float ai = a[j] + xr[j] + b[j], af = a[H + j] + xr[H + j] + b[H + j], ag = a[2 * H + j] + xr[2 * H + j] + b[2*H+j];
    float ao = a[3 * H + j] + xr[3 * H + j] + b[3*H+j];
    const float c_old = cpr[j];
    ai += pi[j] * c_old; af += pf[j] * c_old;
    float i, f, g;
    if constexpr (V == 0) { i = sig_a(ai); f = sig_a(af); g = tanh_a(ag); }
    else if constexpr (V == 1) { i = sig_r(ai); f = sig_r(af); g = tanh_r(ag); }
    else { i = sig_a(ai); f = sig_a(af); g = tanh_r(ag); }
    float c = f * c_old + i * g;
    ao += po[j] * c;
    float o, tcv;
    if constexpr (V == 0) { o = sig_a(ao); tcv = tanh_a(c); }
    else if constexpr (V == 1) { o = sig_r(ao); tcv = tanh_r(c); }
    else { o = sig_a(ao); tcv = tanh_r(c); }
    cr[j] = c; m[j] = o * tcv;
  }
}
int main() {
  const int64_t H = 128, R = 16;
  std::vector<float> a(R * 4 * H), x(R * 4 * H), b(4 * H), cp(R * H), c(R * H), m(R * H), p(3 * H);
  for (size_t k = 0; k < a.size(); ++k) { a[k] = std::sin(k * 0.37f) * 3; x[k] = std::cos(k * 0.11f); }
  for (size_t k = 0; k < cp.size(); ++k) cp[k] = std::sin(k * 0.7f);
  for (auto& v : b) v = 0.1f; for (auto& v : p) v = 0.05f;
  auto run = [&](auto fn, const char* name) {
    double best = 1e9;
    for (int rep = 0; rep < 7; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      for (int it = 0; it < 2000; ++it)
        for (int64_t r = 0; r < R; ++r)
          fn(a.data() + r * 4 * H, x.data() + r * 4 * H, b.data(), cp.data() + r * H, c.data() + r * H,
             m.data() + r * H, p.data(), p.data() + H, p.data() + 2 * H, H);
      double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 2000;
      best = std::min(best, us);
    }
    printf("%s: %.2f us per 16x128 step (%.2f ns/unit)\n", name, best, best * 1000 / (R * H));
  };
  run(row<0>, "current"); run(row<1>, "rational tanh+sig"); run(row<2>, "rational tanh only");
  run(row<0>, "current"); run(row<1>, "rational tanh+sig"); run(row<2>, "rational tanh only");
}
