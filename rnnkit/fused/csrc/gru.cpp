// Whole-sequence GRU (rnnkit.cells.GRUCell, both formulations) forward and backward.
//
// Time-major inputs sorted by length (descending); at step t only the first
// batch_sizes[t] rows run. xp = x W_ih^T (gate order r, z, n) comes precomputed for all steps (training)
// or is made here a few steps at a time (inference, inputsteps.h); its bias b_ih is added here, in the
// step (not in a pass of its own over the whole projection).
//
// reset_after=true:  hp = h W_hh^T + b_hh;  r, z = sigmoid(xp + b_ih + hp);  n = tanh(xp_n + b_in + r hp_n)
// reset_after=false: r, z = sigmoid(xp + b_ih + h W_rz^T + b_rz);  n = tanh(xp_n + b_in + (r h) W_n^T + b_n)
// h_t = n + z (h_{t-1} - n).
// Saved: G = [r, z, n] (T, B, 3H) and X = hp_n (reset_after) or r h (reset_before).
#include "densegemm.h"
#include "fastmath.h"
#include "workspace.h"
#include "stepgemm.h"
#include "rowsplit.h"
#include "inputsteps.h"

namespace rnnkit {

using at::Tensor;

std::vector<Tensor> gru_forward(const Tensor& xp, const Tensor& h0, const Tensor& w_hh,
                                const c10::optional<Tensor>& b_hh_opt, const Tensor& batch_sizes,
                                int64_t total_steps, bool reset_after, bool save,
                                const c10::optional<Tensor>& b_ih_opt, const c10::optional<Tensor>& w_ih) {
  const auto bsv = to_vec(batch_sizes);
  const int64_t T = xp.size(0), B = xp.size(1), H = h0.size(1);
  // with w_ih, xp is x (T, B, I) and xp = x W_ih^T is made a few steps at a time (inputsteps.h)
  const InputOperands input_ops = input_operands(xp, w_ih, save, "gru_forward");
  const bool ragged = T < total_steps || (T > 0 && bsv[T - 1] < B);
  auto opts = xp.options();
  Tensor Y = workspace_buffer({total_steps, B, H}, opts, ragged);
  const int64_t TS = save ? T : 1;
  Tensor G = workspace_empty({TS, B, 3 * H}, opts);
  Tensor X = workspace_buffer({TS, B, H}, opts, save && ragged);
  Tensor HP = workspace_empty({B, reset_after ? 3 * H : 2 * H}, opts);
  Tensor AN = reset_after ? Tensor() : workspace_empty({B, H}, opts);
  Tensor b_hh = b_hh_opt.has_value() ? *b_hh_opt : Tensor();
  Tensor w_t = (reset_after ? w_hh : w_hh.narrow(0, 0, 2 * H)).t().contiguous();
  Tensor wn_t = reset_after ? Tensor() : w_hh.narrow(0, 2 * H, H).t().contiguous();
  Tensor b_first = b_hh.defined() ? (reset_after ? b_hh : b_hh.narrow(0, 0, 2 * H)).contiguous() : Tensor();
  Tensor b_n = b_hh.defined() && !reset_after ? b_hh.narrow(0, 2 * H, H).contiguous() : Tensor();
  Tensor hn = final_state_buffer(h0, bsv);
  const bool has_bi = b_ih_opt.has_value() && b_ih_opt->defined();
  TORCH_CHECK(!has_bi || b_ih_opt->numel() == 3 * H, "gru_forward: b_ih must have 3H elements");
  Tensor b_in = has_bi ? b_ih_opt->contiguous() : workspace_zeros({3 * H}, opts);

  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_gru_forward", [&] {
    using s_t = scalar_t;
    const s_t* bi = b_in.data_ptr<s_t>();
    const int64_t hw = reset_after ? 3 * H : 2 * H, max_rows = bsv.empty() ? 0 : bsv[0];
    const StepGemm<s_t> first_gemm(w_t.data_ptr<s_t>(), H, hw, max_rows, opts);
    const StepGemm<s_t> n_gemm(reset_after ? nullptr : wn_t.data_ptr<s_t>(), H, H, reset_after ? 0 : max_rows, opts);
    const InputSteps<s_t> input(input_ops, padded_row_starts(T, B), bsv, 3 * H, opts);
    // the whole time loop on rows [r0, r1) of the batch (rowsplit.h: one range per thread)
    split_time_loop(bsv, B, [&](int64_t r0, int64_t r1) {
      auto x_rows = input.cursor(r0, r1);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t bs = std::min(bsv[t], r1);  // this range's rows of step t: [r0, bs)
        if (bs <= r0) break;
        const int64_t nr = bs - r0;
        const int64_t tg = save ? t : 0;
        const s_t* hprev = t == 0 ? h0.data_ptr<s_t>() : step_ptr<s_t>(Y, t - 1);
        first_gemm(HP.data_ptr<s_t>() + r0 * hw, hprev + r0 * H, H, nr, false,
                   b_first.defined() ? b_first.data_ptr<s_t>() : nullptr);
        const s_t* xpp = x_rows.step(t);  // xp's row (t, r0), then the range's next rows
        const s_t* hpp = HP.data_ptr<s_t>();
        s_t* gp = step_ptr<s_t>(G, tg);
        s_t* xx = step_ptr<s_t>(X, tg);
        s_t* yp = step_ptr<s_t>(Y, t);
        for_rows(r0, bs, 3 * H, [&](int64_t q0, int64_t q1) {
          for (int64_t r = q0; r < q1; ++r) {
            const s_t* a = xpp + (r - r0) * 3 * H;
            const s_t* hr = hpp + r * hw;
            const s_t* hpr = hprev + r * H;
            s_t* g = gp + r * 3 * H;
            s_t* x = xx + r * H;
            s_t* y = yp + r * H;
            // reset_after as a compile-time flag: each variant is a branch-free loop that vectorises
            with_flag(reset_after, [&](auto flag) {
              constexpr bool kResetAfter = decltype(flag)::value;
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) {
                const s_t rg = sigm<s_t>(a[j] + bi[j] + hr[j]);
                const s_t z = sigm<s_t>(a[H + j] + bi[H + j] + hr[H + j]);
                g[j] = rg;
                g[H + j] = z;
                if constexpr (kResetAfter) {
                  const s_t hnv = hr[2 * H + j];
                  const s_t n = tanh_<s_t>(a[2 * H + j] + bi[2 * H + j] + rg * hnv);
                  x[j] = hnv;
                  g[2 * H + j] = n;
                  y[j] = n + z * (hpr[j] - n);
                } else {
                  x[j] = rg * hpr[j];
                }
              }
            });
          }
        });
        if (!reset_after) {
          // (r h) W_n^T + b_n
          n_gemm(AN.data_ptr<s_t>() + r0 * H, xx + r0 * H, H, nr, false, b_n.defined() ? b_n.data_ptr<s_t>() : nullptr);
          const s_t* anp = AN.data_ptr<s_t>();
          for_rows(r0, bs, H, [&](int64_t q0, int64_t q1) {
            for (int64_t r = q0; r < q1; ++r) {
              const s_t* a = xpp + (r - r0) * 3 * H;
              const s_t* ar = anp + r * H;
              const s_t* hpr = hprev + r * H;
              s_t* g = gp + r * 3 * H;
              s_t* y = yp + r * H;
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) {
                const s_t n = tanh_<s_t>(a[2 * H + j] + bi[2 * H + j] + ar[j]);
                g[2 * H + j] = n;
                y[j] = n + g[H + j] * (hpr[j] - n);
              }
            }
          });
        }
        const int64_t next = std::max(t + 1 < T ? bsv[t + 1] : 0, r0);
        copy_rows<s_t>(hn.data_ptr<s_t>(), yp, next, bs, H);
      }
    }, first_gemm, n_gemm);
  });
  return {Y, hn, G, X};
}

// Gradients of gru_forward: dxp (T, B, 3H), dh0, dW_hh, db_hh (or undefined).
std::vector<Tensor> gru_backward(const Tensor& dY, const Tensor& dhn, const Tensor& h0, const Tensor& w_hh,
                                 bool has_bias, const Tensor& batch_sizes, const Tensor& Y, const Tensor& G,
                                 const Tensor& X, bool reset_after) {
  const auto bsv = to_vec(batch_sizes);
  const int64_t T = G.size(0), B = G.size(1), H = h0.size(1);
  const bool ragged = T > 0 && bsv[T - 1] < B;
  auto opts = G.options();
  auto buf = [&](std::initializer_list<int64_t> shape) { return workspace_buffer(shape, opts, ragged); };
  Tensor dXP = buf({T, B, 3 * H});
  Tensor dHP = reset_after ? buf({T, B, 3 * H}) : dXP;  // gradient w.r.t. the recurrent pre-activations
  Tensor direct = workspace_empty({B, H}, opts);
  Tensor DRH = reset_after ? Tensor() : workspace_empty({B, H}, opts);
  Tensor dh = dhn.clone().contiguous();
  Tensor w_rz = (reset_after ? w_hh : w_hh.narrow(0, 0, 2 * H)).contiguous();
  Tensor w_n = reset_after ? Tensor() : w_hh.narrow(0, 2 * H, H).contiguous();

  AT_DISPATCH_FLOATING_TYPES(G.scalar_type(), "rnnkit_gru_backward", [&] {
    using s_t = scalar_t;
    s_t* dhp = dh.data_ptr<s_t>();
    s_t* dd = direct.data_ptr<s_t>();
    const int64_t max_rows = bsv.empty() ? 0 : bsv[0];
    const StepGemm<s_t> dh_gemm(w_rz.data_ptr<s_t>(), reset_after ? 3 * H : 2 * H, H, max_rows, opts);
    const StepGemm<s_t> dn_gemm(reset_after ? nullptr : w_n.data_ptr<s_t>(), H, H, reset_after ? 0 : max_rows, opts);
    // the whole time loop on rows [r0, r1) of the batch (rowsplit.h: one range per thread)
    split_time_loop(bsv, B, [&](int64_t r0, int64_t r1) {
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t bs = std::min(bsv[t], r1);  // this range's rows of step t: [r0, bs)
        if (bs <= r0) continue;
        const int64_t nr = bs - r0;
        const s_t* dyp = step_ptr<s_t>(dY, t);
        const s_t* gp = step_ptr<s_t>(G, t);
        const s_t* xx = step_ptr<s_t>(X, t);
        const s_t* hprev = t == 0 ? h0.data_ptr<s_t>() : step_ptr<s_t>(Y, t - 1);
        s_t* dxp = step_ptr<s_t>(dXP, t);
        s_t* dhpp = step_ptr<s_t>(dHP, t);
        for_rows(r0, bs, 3 * H, [&](int64_t q0, int64_t q1) {
          for (int64_t r = q0; r < q1; ++r) {
            const s_t* g = gp + r * 3 * H;
            const s_t* x = xx + r * H;
            const s_t* hpr = hprev + r * H;
            const s_t* dy = dyp + r * H;
            const s_t* dc = dhp + r * H;
            s_t* d = dxp + r * 3 * H;
            s_t* dr = dhpp + r * 3 * H;
            s_t* ddr = dd + r * H;
            with_flag(reset_after, [&](auto flag) {
              constexpr bool kResetAfter = decltype(flag)::value;
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) {
                const s_t rg = g[j], z = g[H + j], n = g[2 * H + j];
                const s_t dhv = dy[j] + dc[j];
                const s_t dan = dhv * (1 - z) * (1 - n * n);
                const s_t daz = dhv * (hpr[j] - n) * z * (1 - z);
                ddr[j] = dhv * z;
                d[H + j] = daz;
                d[2 * H + j] = dan;
                if constexpr (kResetAfter) {
                  const s_t dar = dan * x[j] * rg * (1 - rg);
                  d[j] = dar;
                  dr[j] = dar;
                  dr[H + j] = daz;
                  dr[2 * H + j] = dan * rg;
                }
              }
            });
          }
        });
        if (!reset_after) {
          dn_gemm(DRH.data_ptr<s_t>() + r0 * H, dxp + r0 * 3 * H + 2 * H, 3 * H, nr);
          const s_t* drhp = DRH.data_ptr<s_t>();
          for_rows(r0, bs, H, [&](int64_t q0, int64_t q1) {
            for (int64_t r = q0; r < q1; ++r) {
              const s_t* g = gp + r * 3 * H;
              const s_t* hpr = hprev + r * H;
              const s_t* q = drhp + r * H;
              s_t* d = dxp + r * 3 * H;
              s_t* ddr = dd + r * H;
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) {
                const s_t rg = g[j];
                d[j] = q[j] * hpr[j] * rg * (1 - rg);
                ddr[j] += q[j] * rg;
              }
            }
          });
        }
        dh_gemm(dhp + r0 * H, (reset_after ? dhpp : dxp) + r0 * 3 * H, 3 * H, nr, false, dd + r0 * H, H);
      }
    }, dh_gemm, dn_gemm);
  });
  Tensor dW;
  if (reset_after) {
    dW = recurrent_weight_grad(dHP.reshape({T * B, 3 * H}), h0, Y.reshape({-1, H}), T, B);
  } else {
    Tensor drz = dXP.narrow(2, 0, 2 * H);
    Tensor dw_rz = recurrent_weight_grad(drz.reshape({T * B, 2 * H}), h0, Y.reshape({-1, H}), T, B);
    Tensor dw_n = dXP.narrow(2, 2 * H, H).reshape({T * B, H}).t().mm(X.reshape({T * B, H}));
    dW = at::cat({dw_rz, dw_n}, 0);
  }
  Tensor db = has_bias ? dHP.sum({0, 1}) : Tensor();
  return {dXP, dh, dW, db};
}

}  // namespace rnnkit
