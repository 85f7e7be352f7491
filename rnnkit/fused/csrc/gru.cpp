// Whole-sequence GRU (rnnkit.cells.GRUCell, both formulations) forward and backward.
//
// Time-major inputs sorted by length (descending); at step t only the first
// batch_sizes[t] rows run. xp = x W_ih^T + b_ih (gate order r, z, n) comes
// precomputed for all steps.
//
// reset_after=true:  hp = h W_hh^T + b_hh;  r, z = sigmoid(xp + hp);  n = tanh(xp_n + r hp_n)
// reset_after=false: r, z = sigmoid(xp + h W_rz^T + b_rz);  n = tanh(xp_n + (r h) W_n^T + b_n)
// h_t = n + z (h_{t-1} - n).
// Saved: G = [r, z, n] (T, B, 3H) and X = hp_n (reset_after) or r h (reset_before).
#include "fastmath.h"

namespace rnnkit {

using at::Tensor;

namespace {
// out = bias + a @ b (bias may be undefined)
void affine_out(Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias) { addmm_rows(out, bias, a, b); }
}  // namespace

std::vector<Tensor> gru_forward(const Tensor& xp, const Tensor& h0, const Tensor& w_hh,
                                const c10::optional<Tensor>& b_hh_opt, const Tensor& batch_sizes,
                                int64_t total_steps, bool reset_after, bool save) {
  const auto bsv = to_vec(batch_sizes);
  const int64_t T = xp.size(0), B = xp.size(1), H = h0.size(1);
  const bool ragged = T < total_steps || (T > 0 && bsv[T - 1] < B);
  auto opts = xp.options();
  Tensor Y = ragged ? at::zeros({total_steps, B, H}, opts) : at::empty({total_steps, B, H}, opts);
  const int64_t TS = save ? T : 1;
  Tensor G = at::empty({TS, B, 3 * H}, opts);
  Tensor X = save && ragged ? at::zeros({TS, B, H}, opts) : at::empty({TS, B, H}, opts);
  Tensor HP = at::empty({B, reset_after ? 3 * H : 2 * H}, opts);
  Tensor AN = reset_after ? Tensor() : at::empty({B, H}, opts);
  Tensor b_hh = b_hh_opt.has_value() ? *b_hh_opt : Tensor();
  Tensor w_t = (reset_after ? w_hh : w_hh.narrow(0, 0, 2 * H)).t().contiguous();
  Tensor wn_t = reset_after ? Tensor() : w_hh.narrow(0, 2 * H, H).t().contiguous();
  Tensor b_first = b_hh.defined() ? (reset_after ? b_hh : b_hh.narrow(0, 0, 2 * H)).contiguous() : Tensor();
  Tensor b_n = b_hh.defined() && !reset_after ? b_hh.narrow(0, 2 * H, H).contiguous() : Tensor();
  Tensor hn = h0.clone();

  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_gru_forward", [&] {
    using s_t = scalar_t;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t bs = bsv[t];
      if (bs == 0) break;
      const int64_t tg = save ? t : 0;
      Tensor h_prev = t == 0 ? rows(h0, bs) : rows(Y[t - 1], bs);
      Tensor hp = rows(HP, bs);
      affine_out(hp, h_prev, w_t, b_first);
      const s_t* xpp = xp[t].data_ptr<s_t>();
      const s_t* hpp = hp.data_ptr<s_t>();
      const s_t* hprev = h_prev.data_ptr<s_t>();
      s_t* gp = G[tg].data_ptr<s_t>();
      s_t* xx = X[tg].data_ptr<s_t>();
      s_t* yp = Y[t].data_ptr<s_t>();
      const int64_t hw = reset_after ? 3 * H : 2 * H;
      for_rows(bs, 3 * H, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const s_t* a = xpp + r * 3 * H;
          const s_t* hr = hpp + r * hw;
          const s_t* hpr = hprev + r * H;
          s_t* g = gp + r * 3 * H;
          s_t* x = xx + r * H;
          s_t* y = yp + r * H;
          _Pragma("omp simd")
          for (int64_t j = 0; j < H; ++j) {
            const s_t rg = sigm<s_t>(a[j] + hr[j]);
            const s_t z = sigm<s_t>(a[H + j] + hr[H + j]);
            g[j] = rg;
            g[H + j] = z;
            if (reset_after) {
              const s_t hnv = hr[2 * H + j];
              const s_t n = tanh_<s_t>(a[2 * H + j] + rg * hnv);
              x[j] = hnv;
              g[2 * H + j] = n;
              y[j] = n + z * (hpr[j] - n);
            } else {
              x[j] = rg * hpr[j];
            }
          }
        }
      });
      if (!reset_after) {
        Tensor an = rows(AN, bs);  // (r h) W_n^T + b_n
        affine_out(an, rows(X[tg], bs), wn_t, b_n);
        const s_t* anp = AN.data_ptr<s_t>();
        for_rows(bs, H, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const s_t* a = xpp + r * 3 * H;
            const s_t* ar = anp + r * H;
            const s_t* hpr = hprev + r * H;
            s_t* g = gp + r * 3 * H;
            s_t* y = yp + r * H;
            _Pragma("omp simd")
            for (int64_t j = 0; j < H; ++j) {
              const s_t n = tanh_<s_t>(a[2 * H + j] + ar[j]);
              g[2 * H + j] = n;
              y[j] = n + g[H + j] * (hpr[j] - n);
            }
          }
        });
      }
      const int64_t next = t + 1 < T ? bsv[t + 1] : 0;
      if (next < bs) rows(hn, bs).narrow(0, next, bs - next).copy_(Y[t].narrow(0, next, bs - next));
    }
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
  auto buf = [&](std::initializer_list<int64_t> shape) { return ragged ? at::zeros(shape, opts) : at::empty(shape, opts); };
  Tensor dXP = buf({T, B, 3 * H});
  Tensor dHP = reset_after ? buf({T, B, 3 * H}) : dXP;  // gradient w.r.t. the recurrent pre-activations
  Tensor direct = at::empty({B, H}, opts);
  Tensor DRH = reset_after ? Tensor() : at::empty({B, H}, opts);
  Tensor dh = dhn.clone().contiguous();
  Tensor w_rz = (reset_after ? w_hh : w_hh.narrow(0, 0, 2 * H)).contiguous();
  Tensor w_n = reset_after ? Tensor() : w_hh.narrow(0, 2 * H, H).contiguous();

  AT_DISPATCH_FLOATING_TYPES(G.scalar_type(), "rnnkit_gru_backward", [&] {
    using s_t = scalar_t;
    s_t* dhp = dh.data_ptr<s_t>();
    s_t* dd = direct.data_ptr<s_t>();
    for (int64_t t = T - 1; t >= 0; --t) {
      const int64_t bs = bsv[t];
      if (bs == 0) continue;
      const s_t* dyp = dY[t].data_ptr<s_t>();
      const s_t* gp = G[t].data_ptr<s_t>();
      const s_t* xx = X[t].data_ptr<s_t>();
      const s_t* hprev = t == 0 ? h0.data_ptr<s_t>() : Y[t - 1].data_ptr<s_t>();
      s_t* dxp = dXP[t].data_ptr<s_t>();
      s_t* dhpp = dHP[t].data_ptr<s_t>();
      for_rows(bs, 3 * H, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const s_t* g = gp + r * 3 * H;
          const s_t* x = xx + r * H;
          const s_t* hpr = hprev + r * H;
          const s_t* dy = dyp + r * H;
          const s_t* dc = dhp + r * H;
          s_t* d = dxp + r * 3 * H;
          s_t* dr = dhpp + r * 3 * H;
          s_t* ddr = dd + r * H;
          _Pragma("omp simd")
          for (int64_t j = 0; j < H; ++j) {
            const s_t rg = g[j], z = g[H + j], n = g[2 * H + j];
            const s_t dhv = dy[j] + dc[j];
            const s_t dan = dhv * (1 - z) * (1 - n * n);
            const s_t daz = dhv * (hpr[j] - n) * z * (1 - z);
            ddr[j] = dhv * z;
            d[H + j] = daz;
            d[2 * H + j] = dan;
            if (reset_after) {
              const s_t dar = dan * x[j] * rg * (1 - rg);
              d[j] = dar;
              dr[j] = dar;
              dr[H + j] = daz;
              dr[2 * H + j] = dan * rg;
            }
          }
        }
      });
      if (!reset_after) {
        Tensor drh = rows(DRH, bs);
        addmm_rows(drh, Tensor(), rows(dXP[t], bs).narrow(1, 2 * H, H), w_n);
        const s_t* drhp = DRH.data_ptr<s_t>();
        for_rows(bs, H, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
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
      Tensor dh_rows = rows(dh, bs);
      Tensor dhp_rows = reset_after ? rows(dHP[t], bs) : rows(dXP[t], bs).narrow(1, 0, 2 * H);
      addmm_rows(dh_rows, rows(direct, bs), dhp_rows, w_rz);
    }
  });
  Tensor dW;
  if (reset_after) {
    dW = dHP[0].t().mm(h0);
    if (T > 1) dW.addmm_(dHP.narrow(0, 1, T - 1).reshape({(T - 1) * B, 3 * H}).t(),
                         Y.narrow(0, 0, T - 1).reshape({(T - 1) * B, H}));
  } else {
    Tensor drz = dXP.narrow(2, 0, 2 * H);
    Tensor dw_rz = drz[0].t().mm(h0);
    if (T > 1) dw_rz.addmm_(drz.narrow(0, 1, T - 1).reshape({(T - 1) * B, 2 * H}).t(),
                            Y.narrow(0, 0, T - 1).reshape({(T - 1) * B, H}));
    Tensor dw_n = dXP.narrow(2, 2 * H, H).reshape({T * B, H}).t().mm(X.reshape({T * B, H}));
    dW = at::cat({dw_rz, dw_n}, 0);
  }
  Tensor db = has_bias ? dHP.sum({0, 1}) : Tensor();
  return {dXP, dh, dW, db};
}

}  // namespace rnnkit
