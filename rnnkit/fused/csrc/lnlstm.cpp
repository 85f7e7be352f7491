// Whole-sequence layer-norm LSTM (rnnkit.cells.layernorm.LayerNormLSTMCell) forward and backward.
//
// Time-major inputs sorted by length (descending); at step t only the first
// batch_sizes[t] rows run. U = x W_ih^T comes precomputed for all steps (one GEMM; training) or is
// made here a few steps at a time (inference, inputsteps.h); its layer norm runs here, row by row, fused
// with the step (no separate passes over the whole (T, B, 4H) projection):
//   xp = g_ih * (U - mean(U)) * rstd_U + shift  (over 4H; shift = b_ih + b_hh, or none)
//   R = h_{t-1} W_hh^T;  rn = (R - mean(R)) * rstd_R  (over 4H);  a = xp + g_hh * rn
//   i, f, o = sigmoid(a_i, a_f + forget_bias, a_o);  g = tanh(a_g);  c_t = f c_{t-1} + i g
//   chat = (c_t - mean(c_t)) * rstd_c (over H);  h_t = o tanh(g_c * chat + b_c)
// Saved: G = [i, f, g, o], RN, C and per row RS = rstd_R, rstd_c, mean_U, rstd_U, mean_c. The backward
// recomputes U's normalised rows from U, and chat and tanh(g_c chat + b_c) from C and the row's moments:
// two (T, B, H) buffers fewer to keep for the backward (the saved activations, U included, go from 15 H
// to 13 H floats per row); the recomputation costs what the two buffers' traffic did (speed unchanged in
// alternating A/B runs at S1, S2, S4).
#include "densegemm.h"
#include "fastmath.h"
#include "workspace.h"
#include "stepgemm.h"
#include "rowsplit.h"
#include "inputsteps.h"

namespace rnnkit {

using at::Tensor;

constexpr int64_t kRowStats = 5;  // per saved row: rstd of R, rstd of c, mean and rstd of U, mean of c
constexpr int64_t kRowBlock = 4;  // the forward's rows per block (see its row loop)

namespace {

// su += fu(u[j]), sv += fv(v[j]) over j < n, with kLanes partial sums per row (four 16-float vectors):
// four independent add chains per row instead of one.
template <typename s_t, typename FU, typename FV>
RNNKIT_ALWAYS_INLINE void lane_sums(const s_t* u, const s_t* v, int64_t n, const FU& fu, const FV& fv, s_t& su,
                                    s_t& sv) {
  constexpr int64_t kLanes = 64;
  s_t au[kLanes] = {}, av[kLanes] = {};
  int64_t j0 = 0;
  for (; j0 + kLanes <= n; j0 += kLanes) {
    _Pragma("omp simd")
    for (int64_t k = 0; k < kLanes; ++k) {
      au[k] += fu(u[j0 + k]);
      av[k] += fv(v[j0 + k]);
    }
  }
  su = 0;
  sv = 0;
  for (int64_t j = j0; j < n; ++j) {
    su += fu(u[j]);
    sv += fv(v[j]);
  }
  _Pragma("omp simd reduction(+ : su, sv)")
  for (int64_t k = 0; k < kLanes; ++k) {
    su += au[k];
    sv += av[k];
  }
}

// 1 / sqrt(sq / n + eps): a layer norm's scale from the sum of squared deviations of its n values.
template <typename s_t>
inline s_t rstd_of(s_t sq, int64_t n, double eps) {
  return static_cast<s_t>(1.0 / std::sqrt(static_cast<double>(sq) / n + eps));
}

// Mean and 1 / sqrt(variance + eps) of two rows of n values (the input's and the recurrent projection's)
// at once: two passes over rows that sit in L1 (a one-pass sum of squares, even shifted, failed the
// float32 parity tests on rows of H = 5 values); the accumulators are in the data's type (the simd
// reduction keeps one partial sum per lane), and each loop carries eight independent sums (four vectors
// per row), so that their add chains overlap: one row and one vector at a time these moments were 10% of
// S4 inference; two rows at once and four vectors each made S1 / S4 inference 0.93-0.99x the time
// (alternating runs, 2026-12-03, issue 15).
template <typename s_t>
inline void two_row_moments(const s_t* u, const s_t* v, int64_t n, double eps, s_t& umean, s_t& urstd, s_t& vmean,
                            s_t& vrstd) {
  s_t su, sv;
  lane_sums(u, v, n, [](s_t x) { return x; }, [](s_t x) { return x; }, su, sv);
  umean = su / static_cast<s_t>(n);
  vmean = sv / static_cast<s_t>(n);
  const s_t mu = umean, mv = vmean;
  lane_sums(u, v, n, [mu](s_t x) { return (x - mu) * (x - mu); }, [mv](s_t x) { return (x - mv) * (x - mv); }, su,
            sv);
  urstd = rstd_of(su, n, eps);
  vrstd = rstd_of(sv, n, eps);
}

}  // namespace

std::vector<Tensor> lnlstm_forward(const Tensor& xp, const Tensor& g_ih, const c10::optional<Tensor>& shift,
                                   const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                                   const Tensor& g_hh, const Tensor& g_c, const Tensor& b_c,
                                   const Tensor& batch_sizes, int64_t total_steps, double forget_bias, double eps,
                                   bool save, const c10::optional<Tensor>& w_ih) {
  const auto bsv = to_vec(batch_sizes);
  const int64_t T = xp.size(0), B = xp.size(1), H = c0.size(1);
  // with w_ih, xp is x (T, B, I) and U = x W_ih^T is made a few steps at a time (inputsteps.h)
  const InputOperands input_ops = input_operands(xp, w_ih, save, "lnlstm_forward");
  const bool ragged = T < total_steps || (T > 0 && bsv[T - 1] < B);
  auto opts = xp.options();
  auto buf = [&](std::initializer_list<int64_t> shape) { return workspace_buffer(shape, opts, save && ragged); };
  const int64_t TS = save ? T : 1;
  Tensor Y = workspace_buffer({total_steps, B, H}, opts, ragged);
  Tensor G = workspace_empty({TS, B, 4 * H}, opts);
  Tensor RN = buf({TS, B, 4 * H});
  Tensor C = buf({save ? T : 2, B, H});
  Tensor RS = workspace_empty({TS, B, kRowStats}, opts);  // rstd of R, rstd of c, mean and rstd of U, mean of c
  Tensor R = workspace_empty({B, 4 * H}, opts);
  Tensor hn = final_state_buffer(h0, bsv), cn = final_state_buffer(c0, bsv);
  Tensor w_t = w_hh.t().contiguous();
  Tensor ghh = g_hh.contiguous(), gc = g_c.contiguous(), bc = b_c.contiguous(), gih = g_ih.contiguous();
  Tensor sh = shift.has_value() && shift->defined() ? shift->contiguous() : workspace_zeros({4 * H}, opts);

  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_lnlstm_forward", [&] {
    using s_t = scalar_t;
    const s_t fb = static_cast<s_t>(forget_bias);
    const s_t* gi = gih.data_ptr<s_t>();
    const s_t* shp = sh.data_ptr<s_t>();
    const s_t* gh = ghh.data_ptr<s_t>();
    const s_t* gcp = gc.data_ptr<s_t>();
    const s_t* bcp = bc.data_ptr<s_t>();
    const StepGemm<s_t> rec_gemm(w_t.data_ptr<s_t>(), H, 4 * H, bsv.empty() ? 0 : bsv[0], opts);
    const InputSteps<s_t> input(input_ops, padded_row_starts(T, B), bsv, 4 * H, opts);
    // the whole time loop on rows [r0, r1) of the batch (rowsplit.h: one range per thread)
    split_time_loop(bsv, B, [&](int64_t r0, int64_t r1) {
      auto u_rows = input.cursor(r0, r1);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t bs = std::min(bsv[t], r1);  // this range's rows of step t: [r0, bs)
        if (bs <= r0) break;
        const int64_t tg = save ? t : 0, tc_ = save ? t : (t % 2), tcp = save ? t - 1 : ((t + 1) % 2);
        const s_t* hprev = t == 0 ? h0.data_ptr<s_t>() : step_ptr<s_t>(Y, t - 1);
        rec_gemm(R.data_ptr<s_t>() + r0 * 4 * H, hprev + r0 * H, H, bs - r0);
        const s_t* rp = R.data_ptr<s_t>();
        const s_t* up = u_rows.step(t);  // U's row (t, r0), then the range's next rows
        const s_t* cprev = t == 0 ? c0.data_ptr<s_t>() : step_ptr<s_t>(C, tcp);
        s_t* gp = step_ptr<s_t>(G, tg);
        s_t* rnp = step_ptr<s_t>(RN, tg);
        s_t* cp = step_ptr<s_t>(C, tc_);
        s_t* rsp = step_ptr<s_t>(RS, tg);
        s_t* yp = step_ptr<s_t>(Y, t);
        for_rows(r0, bs, 8 * H, [&](int64_t q0, int64_t q1) {
          // rows in blocks of kRowBlock, each phase over the block's rows before the next phase: a row's
          // phases form one chain of reductions (the moments, c's variance) that the next row's phases do
          // not wait on, so the core overlaps them; the block's rows stay in L1. Against one row at a time:
          // S1 inference 0.97-0.99x the time, S2 / S4 and training unchanged (same-process A/B, 2026-12-03,
          // benchmarks/README.md issue 15); blocks of 8 gained nothing
          for (int64_t b0 = q0; b0 < q1; b0 += kRowBlock) {
            const int64_t nb = std::min(kRowBlock, q1 - b0), next0 = b0 + nb, next1 = std::min(next0 + kRowBlock, q1);
            s_t umu[kRowBlock], urstd[kRowBlock], mus[kRowBlock], rstd[kRowBlock], cmus[kRowBlock];
            for (int64_t k = 0; k < nb; ++k) {
              const int64_t r = b0 + k;
              two_row_moments(up + (r - r0) * 4 * H, rp + r * 4 * H, 4 * H, eps, umu[k], urstd[k], mus[k], rstd[k]);
            }
            const s_t fbr = fb;  // a local copy: read through the closure, GCC gathers it for each vector
            for (int64_t k = 0; k < nb; ++k) {
              const int64_t r = b0 + k;
              if (next0 + k < next1) {  // the next block's row k (spread over the block's rows)
                prefetch_row(up + (next0 + k - r0) * 4 * H, 4 * H);
                prefetch_row(cprev + (next0 + k) * H, H);
                if (save) prefetch_row(rnp + (next0 + k) * 4 * H, 4 * H, true);
              }
              const s_t* rr = rp + r * 4 * H;
              const s_t* xr = up + (r - r0) * 4 * H;
              s_t* a = gp + r * 4 * H;
              s_t* rn = rnp + r * 4 * H;
              const s_t umk = umu[k], urk = urstd[k], msk = mus[k], rsk = rstd[k];
              with_flag(save, [&](auto keep) {  // the normalised R is kept for the backward only
                _Pragma("omp simd")
                for (int64_t j = 0; j < 4 * H; ++j) {
                  const s_t v = (rr[j] - msk) * rsk;
                  if constexpr (decltype(keep)::value) rn[j] = v;
                  a[j] = gi[j] * ((xr[j] - umk) * urk) + shp[j] + gh[j] * v;
                }
              });
              const s_t* cpr = cprev + r * H;
              s_t* c = cp + r * H;
              s_t csum = 0;  // c's sum as it is made (the first pass of c's moments)
              _Pragma("omp simd reduction(+ : csum)")
              for (int64_t j = 0; j < H; ++j) {
                const s_t i = sigm<s_t>(a[j]), f = sigm<s_t>(a[H + j] + fbr), g = tanh_<s_t>(a[2 * H + j]);
                const s_t o = sigm<s_t>(a[3 * H + j]);
                a[j] = i;
                a[H + j] = f;
                a[2 * H + j] = g;
                a[3 * H + j] = o;
                const s_t cv = f * cpr[j] + i * g;
                c[j] = cv;
                csum += cv;
              }
              cmus[k] = csum / static_cast<s_t>(H);
            }
            for (int64_t k = 0; k < nb; ++k) {
              const int64_t r = b0 + k;
              const s_t* c = cp + r * H;
              const s_t cm = cmus[k];
              s_t csq = 0;
              _Pragma("omp simd reduction(+ : csq)")
              for (int64_t j = 0; j < H; ++j) csq += (c[j] - cm) * (c[j] - cm);
              s_t* rs = rsp + kRowStats * r;
              rs[0] = rstd[k];
              rs[1] = rstd_of(csq, H, eps);
              rs[2] = umu[k];
              rs[3] = urstd[k];
              rs[4] = cm;
            }
            for (int64_t k = 0; k < nb; ++k) {
              const int64_t r = b0 + k;
              const s_t* c = cp + r * H;
              const s_t* a = gp + r * 4 * H;
              const s_t* rs = rsp + kRowStats * r;
              const s_t cm = rs[4], crstd = rs[1];
              s_t* y = yp + r * H;
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) {
                const s_t hat = (c[j] - cm) * crstd;
                y[j] = a[3 * H + j] * tanh_<s_t>(gcp[j] * hat + bcp[j]);
              }
            }
          }
        });
        const int64_t next = std::max(t + 1 < T ? bsv[t + 1] : 0, r0);
        if (next < bs) {
          copy_rows<s_t>(hn.data_ptr<s_t>(), yp, next, bs, H);
          copy_rows<s_t>(cn.data_ptr<s_t>(), cp, next, bs, H);
        }
      }
    }, rec_gemm);
  });
  return {Y, hn, cn, G, RN, C, RS};
}

constexpr int64_t kStepWeightGradRows = 64;

// Gradients: dU (T, B, 4H), dh0, dc0, dW_hh, dg_hh, dg_c, db_c, dg_ih, dshift.
std::vector<Tensor> lnlstm_backward(const Tensor& dY, const Tensor& dhn, const Tensor& dcn, const Tensor& U,
                                    const Tensor& g_ih, const Tensor& h0,
                                    const Tensor& c0, const Tensor& w_hh, const Tensor& g_hh, const Tensor& g_c,
                                    const Tensor& b_c, const Tensor& batch_sizes, const Tensor& Y, const Tensor& G,
                                    const Tensor& RN, const Tensor& C, const Tensor& RS) {
  const auto bsv = to_vec(batch_sizes);
  const int64_t T = G.size(0), B = G.size(1), H = C.size(2);
  const bool ragged = T > 0 && bsv[T - 1] < B;
  auto opts = G.options();
  auto buf = [&](std::initializer_list<int64_t> shape) { return workspace_buffer(shape, opts, ragged); };
  Tensor dXP = buf({T, B, 4 * H});
  // DR: the recurrent layer norm's input gradient. With batches of >= kStepWeightGradRows rows it is kept
  // for one step only, used by the step's two GEMMs (dh, and dW_hh accumulated step by step) while it sits
  // in L2: storing it for all steps for one dW_hh GEMM at the end writes and reads (T, B, 4H) more, and
  // measured 4% slower in training at S1 (B = 128; same-run A/B). With fewer rows the per-step GEMMs get
  // too small: no gain at S2 (B = 32), 1.2x slower in all at S4 (B = 16); there DR keeps every step and
  // dW_hh is one GEMM after the loop.
  // With the batch split over threads (rowsplit.h) the ranges' steps are not in step, so dW_hh is one
  // GEMM after the loop.
  const auto ranges = row_ranges(bsv, B, 4 * H * H * static_cast<int64_t>(G.element_size()));  // rec_gemm's weight
  const bool step_dw = ranges.size() == 2 && !bsv.empty() && bsv[0] >= kStepWeightGradRows;
  Tensor DR = step_dw ? workspace_empty({B, 4 * H}, opts) : buf({T, B, 4 * H});
  Tensor dW = step_dw ? at::zeros({4 * H, H}, opts) : Tensor();
  // gradients of g_hh (4H), g_c (H), b_c (H), g_ih (4H) and the shift (4H) summed inside the step loop,
  // per thread (see accumulator_slot), then over the threads: no (T, B, .) buffers, no passes over them
  const int64_t slots = accumulator_slots();
  Tensor PG = workspace_zeros({slots, 14 * H}, opts);
  Tensor SCR = workspace_empty({slots, 2 * H}, opts);  // per thread: the row's recomputed chat and tanh(.)
  Tensor dh = dhn.clone().contiguous(), dc = dcn.clone().contiguous();
  Tensor ghh = g_hh.contiguous(), gc = g_c.contiguous(), bc = b_c.contiguous(), gih = g_ih.contiguous();
  Tensor w_c = w_hh.contiguous();

  AT_DISPATCH_FLOATING_TYPES(G.scalar_type(), "rnnkit_lnlstm_backward", [&] {
    using s_t = scalar_t;
    const s_t* gh = ghh.data_ptr<s_t>();
    const s_t* gcp = gc.data_ptr<s_t>();
    const s_t* bcp = bc.data_ptr<s_t>();
    const s_t* gi = gih.data_ptr<s_t>();
    s_t* dhp = dh.data_ptr<s_t>();
    s_t* dcp = dc.data_ptr<s_t>();
    s_t* pgb = PG.data_ptr<s_t>();
    s_t* scr = SCR.data_ptr<s_t>();
    const StepGemm<s_t> rec_gemm(w_c.data_ptr<s_t>(), 4 * H, H, bsv.empty() ? 0 : bsv[0], opts);
    // the whole time loop on rows [r0, r1) of the batch (rowsplit.h: one range per thread)
    run_row_ranges(ranges, [&](int64_t r0, int64_t r1) {
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t bs = std::min(bsv[t], r1);  // this range's rows of step t: [r0, bs)
        if (bs <= r0) continue;
        const s_t* dyp = step_ptr<s_t>(dY, t);
        const s_t* gp = step_ptr<s_t>(G, t);
        const s_t* rnp = step_ptr<s_t>(RN, t);
        const s_t* cnow = step_ptr<s_t>(C, t);
        const s_t* rsp = step_ptr<s_t>(RS, t);
        const s_t* cprev = t == 0 ? c0.data_ptr<s_t>() : step_ptr<s_t>(C, t - 1);
        s_t* dxp = step_ptr<s_t>(dXP, t);
        s_t* drp = step_dw ? DR.data_ptr<s_t>() : step_ptr<s_t>(DR, t);
        const s_t* upp = step_ptr<s_t>(U, t);
        for_rows(r0, bs, 8 * H, [&](int64_t q0, int64_t q1) {
          const int64_t slot = accumulator_slot(slots);
          s_t* pg_hh = pgb + slot * 14 * H;  // this thread's sums: g_hh (4H), g_c (H), b_c (H), g_ih, shift
          s_t* pg_c = pg_hh + 4 * H;
          s_t* pb_c = pg_c + H;
          s_t* pg_ih = pg_hh + 6 * H;
          s_t* psh = pg_ih + 4 * H;
          // the cell's layer norm and the gates' backward of row r: d (4H) gets the gates' gradients
          auto cell_rows = [&](int64_t r) {
            const s_t* a = gp + r * 4 * H;
            const s_t* cr = cnow + r * H;
            s_t* ch = scr + slot * 2 * H;  // chat and tanh(g_c chat + b_c), recomputed (L1)
            s_t* tcn = ch + H;
            const s_t* dy = dyp + r * H;
            const s_t* cpr = cprev + r * H;
            const s_t* rn = rnp + r * 4 * H;
            s_t* dhr = dhp + r * H;
            s_t* dcr = dcp + r * H;
            s_t* d = dxp + r * 4 * H;
            s_t* dr = drp + r * 4 * H;
            if (r + 1 < q1) {  // the next row's saved activations and outputs
              prefetch_row(a + 4 * H, 4 * H);
              prefetch_row(rn + 4 * H, 4 * H);
              prefetch_row(cr + H, H);
              prefetch_row(dy + H, H);
              prefetch_row(cpr + H, H);
              prefetch_row(d + 4 * H, 4 * H, true);
              prefetch_row(dr + 4 * H, 4 * H, true);
              prefetch_row(upp + (r + 1) * 4 * H, 4 * H);
            }
            const s_t* rs = rsp + kRowStats * r;
            const s_t cmu = rs[4], crstd = rs[1];
            // the loops read the parameters through local copies (see the top of the loop)
            const s_t* const gcl = gcp;
            const s_t* const bcl = bcp;
            s_t* const pgc = pg_c;
            s_t* const pbc = pb_c;
            s_t m1 = 0, m2 = 0;
            _Pragma("omp simd reduction(+ : m1, m2)")
            for (int64_t j = 0; j < H; ++j) {
              const s_t hat = (cr[j] - cmu) * crstd, tv = tanh_<s_t>(gcl[j] * hat + bcl[j]);
              ch[j] = hat;
              tcn[j] = tv;
              const s_t dhv = dy[j] + dhr[j];
              const s_t o = a[3 * H + j];
              const s_t dcnv = dhv * o * (1 - tv * tv);
              d[3 * H + j] = dhv * tv * o * (1 - o);
              pgc[j] += dcnv * hat;
              pbc[j] += dcnv;
              const s_t dhat = dcnv * gcl[j];
              m1 += dhat;
              m2 += dhat * hat;
            }
            const s_t mm1 = m1 / static_cast<s_t>(H), mm2 = m2 / static_cast<s_t>(H);
            _Pragma("omp simd")
            for (int64_t j = 0; j < H; ++j) {
              const s_t i = a[j], f = a[H + j], g = a[2 * H + j];
              const s_t o = a[3 * H + j], tv = tcn[j];
              const s_t dcnv = (dy[j] + dhr[j]) * o * (1 - tv * tv);  // recomputed: cheaper than a stored row
              const s_t dcv = dcr[j] + crstd * (dcnv * gcl[j] - mm1 - ch[j] * mm2);
              d[j] = dcv * g * i * (1 - i);
              d[H + j] = dcv * cpr[j] * f * (1 - f);
              d[2 * H + j] = dcv * i * (1 - g * g);
              dcr[j] = dcv * f;
            }
          };
          // dR and dU (in place of d) of row r from its four row sums
          auto norm_grads = [&](int64_t r, s_t n1, s_t n2, s_t k1, s_t k2) {
            const s_t* rs = rsp + kRowStats * r;
            const s_t* rn = rnp + r * 4 * H;
            const s_t* ur = upp + r * 4 * H;
            s_t* d = dxp + r * 4 * H;
            s_t* dr = drp + r * 4 * H;
            const s_t umu = rs[2], urstd = rs[3], rstd = rs[0];
            const s_t* const ghl = gh;
            const s_t* const gil = gi;
            const s_t nn1 = n1 / static_cast<s_t>(4 * H), nn2 = n2 / static_cast<s_t>(4 * H);
            const s_t kk1 = k1 / static_cast<s_t>(4 * H), kk2 = k2 / static_cast<s_t>(4 * H);
            _Pragma("omp simd")
            for (int64_t j = 0; j < 4 * H; ++j) {
              const s_t dj = d[j];
              dr[j] = rstd * (dj * ghl[j] - nn1 - rn[j] * nn2);
              d[j] = urstd * (dj * gil[j] - kk1 - (ur[j] - umu) * urstd * kk2);
            }
          };
          // both 4H layer norms' backward (the recurrent one's R and the input one's U) in two passes:
          // the four row sums and the gamma / shift gradients, then dR and dU. Rows go in pairs through
          // the first pass: the per-thread gamma / shift sums (three 4H rows) are read and written once
          // per two rows: 0.93x the training step at S1 and S2 at 1 thread, 0.87x / 0.92x at 2 (same-run
          // A/B against one row at a time, 2026-12-03, benchmarks/README.md issue 15); an odd last row alone
          for (int64_t r = q0; r < q1;) {
            if (r + 1 < q1) {
              cell_rows(r);
              cell_rows(r + 1);
              const s_t* rsa = rsp + kRowStats * r;
              const s_t* rsb = rsa + kRowStats;
              const s_t umua = rsa[2], urstda = rsa[3], umub = rsb[2], urstdb = rsb[3];
              const s_t* rna = rnp + r * 4 * H;
              const s_t* rnb = rna + 4 * H;
              const s_t* ura = upp + r * 4 * H;
              const s_t* urb = ura + 4 * H;
              const s_t* da = dxp + r * 4 * H;
              const s_t* db = da + 4 * H;
              const s_t* const ghl = gh;
              const s_t* const gil = gi;
              s_t n1a = 0, n2a = 0, k1a = 0, k2a = 0, n1b = 0, n2b = 0, k1b = 0, k2b = 0;
              _Pragma("omp simd reduction(+ : n1a, n2a, k1a, k2a, n1b, n2b, k1b, k2b)")
              for (int64_t j = 0; j < 4 * H; ++j) {
                const s_t dja = da[j], djb = db[j], ghj = ghl[j], gij = gil[j];
                const s_t uha = (ura[j] - umua) * urstda, uhb = (urb[j] - umub) * urstdb;
                const s_t drna = dja * ghj, drnb = djb * ghj, dua = dja * gij, dub = djb * gij;
                pg_hh[j] += dja * rna[j] + djb * rnb[j];
                pg_ih[j] += dja * uha + djb * uhb;
                psh[j] += dja + djb;
                n1a += drna;
                n2a += drna * rna[j];
                k1a += dua;
                k2a += dua * uha;
                n1b += drnb;
                n2b += drnb * rnb[j];
                k1b += dub;
                k2b += dub * uhb;
              }
              norm_grads(r, n1a, n2a, k1a, k2a);
              norm_grads(r + 1, n1b, n2b, k1b, k2b);
              r += 2;
              continue;
            }
            cell_rows(r);
            const s_t* rs = rsp + kRowStats * r;
            const s_t* rn = rnp + r * 4 * H;
            const s_t* ur = upp + r * 4 * H;
            const s_t* d = dxp + r * 4 * H;
            const s_t umu = rs[2], urstd = rs[3];
            const s_t* const ghl = gh;
            const s_t* const gil = gi;
            s_t n1 = 0, n2 = 0, k1 = 0, k2 = 0;
            _Pragma("omp simd reduction(+ : n1, n2, k1, k2)")
            for (int64_t j = 0; j < 4 * H; ++j) {
              const s_t dj = d[j], drn = dj * ghl[j], uh = (ur[j] - umu) * urstd, du = dj * gil[j];
              pg_hh[j] += dj * rn[j];
              pg_ih[j] += dj * uh;
              psh[j] += dj;
              n1 += drn;
              n2 += drn * rn[j];
              k1 += du;
              k2 += du * uh;
            }
            norm_grads(r, n1, n2, k1, k2);
            r += 1;
          }
        });
        // dW_hh += dR_t^T h_{t-1} and dh_{t-1} = dR_t W_hh over the step's bs active rows
        if (step_dw) dense_mm(dW, DR.narrow(0, 0, bs).t(), (t == 0 ? h0 : Y[t - 1]).narrow(0, 0, bs), 1.0f);
        rec_gemm(dhp + r0 * H, drp + r0 * 4 * H, 4 * H, bs - r0);
      }
    }, rec_gemm);
  });
  if (!step_dw) dW = recurrent_weight_grad(DR.reshape({T * B, 4 * H}), h0, Y.reshape({-1, H}), T, B);
  Tensor sums = PG.sum(0);
  Tensor dg_hh = sums.narrow(0, 0, 4 * H), dg_c = sums.narrow(0, 4 * H, H), db_c = sums.narrow(0, 5 * H, H);
  Tensor dg_ih = sums.narrow(0, 6 * H, 4 * H), dshift = sums.narrow(0, 10 * H, 4 * H);
  return {dXP, dh, dc, dW, dg_hh, dg_c, db_c, dg_ih, dshift};
}

}  // namespace rnnkit
