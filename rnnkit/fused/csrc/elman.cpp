// Whole-sequence Elman RNN (rnnkit.cells.ElmanCell, tanh or relu) forward and backward.
//
// Time-major inputs sorted by length (descending); at step t only the first
// batch_sizes[t] rows run. xp = x W_ih^T + b_ih + b_hh comes precomputed.
//   h_t = phi(xp_t + h_{t-1} W_hh^T),  phi = tanh or relu.
// Nothing but the outputs needs saving: phi'(a) is a function of h_t.
#include "densegemm.h"
#include "fastmath.h"
#include "workspace.h"
#include "stepgemm.h"
#include "rowsplit.h"

namespace rnnkit {

using at::Tensor;

std::vector<Tensor> elman_forward(const Tensor& xp, const Tensor& h0, const Tensor& w_hh, const Tensor& batch_sizes,
                                  int64_t total_steps, bool relu) {
  const auto bsv = to_vec(batch_sizes);
  const int64_t T = xp.size(0), B = xp.size(1), H = h0.size(1);
  const bool ragged = T < total_steps || (T > 0 && bsv[T - 1] < B);
  auto opts = xp.options();
  Tensor Y = workspace_buffer({total_steps, B, H}, opts, ragged);
  Tensor w_t = w_hh.t().contiguous();
  Tensor hn = final_state_buffer(h0, bsv);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_elman_forward", [&] {
    using s_t = scalar_t;
    const StepGemm<s_t> rec_gemm(w_t.data_ptr<s_t>(), H, H, bsv.empty() ? 0 : bsv[0], opts);
    // the whole time loop on rows [r0, r1) of the batch (rowsplit.h: one range per thread)
    split_time_loop(bsv, B, [&](int64_t r0, int64_t r1) {
      for (int64_t t = 0; t < T; ++t) {
        const int64_t bs = std::min(bsv[t], r1);  // this range's rows of step t: [r0, bs)
        if (bs <= r0) break;
        s_t* yp = step_ptr<s_t>(Y, t);
        const s_t* hprev = t == 0 ? h0.data_ptr<s_t>() : step_ptr<s_t>(Y, t - 1);
        rec_gemm(yp + r0 * H, hprev + r0 * H, H, bs - r0, false, step_ptr<s_t>(xp, t) + r0 * H, H);
        if (relu) {
          const int64_t n = bs * H;
          _Pragma("omp simd")
          for (int64_t k = r0 * H; k < n; ++k) yp[k] = yp[k] > 0 ? yp[k] : 0;
        } else {
          for_rows(r0, bs, H, [&](int64_t q0, int64_t q1) {
            s_t* p = yp + q0 * H;
            const int64_t m = (q1 - q0) * H;
            _Pragma("omp simd")
            for (int64_t k = 0; k < m; ++k) p[k] = tanh_<s_t>(p[k]);
          });
        }
        const int64_t next = std::max(t + 1 < T ? bsv[t + 1] : 0, r0);
        copy_rows<s_t>(hn.data_ptr<s_t>(), yp, next, bs, H);
      }
    }, rec_gemm);
  });
  return {Y, hn};
}

// Gradients of elman_forward: dxp (T, B, H), dh0, dW_hh.
std::vector<Tensor> elman_backward(const Tensor& dY, const Tensor& dhn, const Tensor& h0, const Tensor& w_hh,
                                   const Tensor& batch_sizes, const Tensor& Y, bool relu) {
  const auto bsv = to_vec(batch_sizes);
  const int64_t T = dY.size(0), B = dY.size(1), H = h0.size(1);
  const bool ragged = T > 0 && bsv[T - 1] < B;
  auto opts = dY.options();
  Tensor dA = workspace_buffer({T, B, H}, opts, ragged);
  Tensor dh = dhn.clone().contiguous();
  Tensor w_c = w_hh.contiguous();
  AT_DISPATCH_FLOATING_TYPES(dY.scalar_type(), "rnnkit_elman_backward", [&] {
    using s_t = scalar_t;
    const s_t* dcp = dh.data_ptr<s_t>();
    const StepGemm<s_t> rec_gemm(w_c.data_ptr<s_t>(), H, H, bsv.empty() ? 0 : bsv[0], opts);
    // the whole time loop on rows [r0, r1) of the batch (rowsplit.h: one range per thread)
    split_time_loop(bsv, B, [&](int64_t r0, int64_t r1) {
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t bs = std::min(bsv[t], r1);  // this range's rows of step t: [r0, bs)
        if (bs <= r0) continue;
        const s_t* dyp = step_ptr<s_t>(dY, t);
        const s_t* yp = step_ptr<s_t>(Y, t);
        s_t* dap = step_ptr<s_t>(dA, t);
        const int64_t n = bs * H;
        _Pragma("omp simd")
        for (int64_t k = r0 * H; k < n; ++k) {
          const s_t g = dyp[k] + dcp[k];
          dap[k] = relu ? (yp[k] > 0 ? g : 0) : g * (1 - yp[k] * yp[k]);
        }
        rec_gemm(dh.data_ptr<s_t>() + r0 * H, dap + r0 * H, H, bs - r0);
      }
    }, rec_gemm);
  });
  Tensor dW = recurrent_weight_grad(dA.reshape({T * B, H}), h0, Y.reshape({-1, H}), T, B);
  return {dA, dh, dW};
}

}  // namespace rnnkit
