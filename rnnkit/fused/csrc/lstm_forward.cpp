// Whole-sequence LSTM (rnnkit.cells.LSTMCell, every option) forward and backward.
//
// Inputs are sorted by length (descending): at step t only the first
// batch_sizes[t] rows are active, so no work is done past a sequence's end.
// xp = x W_ih^T comes precomputed for the active rows only (the bias b = b_ih + b_hh is added in the step),
// packed step after step as a PackedSequence's data: (N, 4H), N = sum of
// batch_sizes, step t's rows at off_t = batch_sizes[0] + ... + batch_sizes[t-1]; for inference the
// kernel makes it itself from x's packed rows (N, I), a few steps at a time (inputsteps.h).
// Every saved buffer uses the same packed rows, so the weight-gradient GEMMs
// (here dW_hh, dW_hr; dW_ih and dx in autograd on the packed input projection)
// run over the N valid rows, never over padding. Only the output Y is padded
// (total_steps, B, P), zero past each length.
//
// Forward, per step t, rows r < bs_t:
//   a = xp_t + b + h_{t-1} W_hh^T;  a_f += forget_bias;  a_i += p_i c_{t-1};  a_f += p_f c_{t-1}
//   i, f, o = sigmoid;  g = tanh(a_g);  c_t = clip(f c_{t-1} + i g);  a_o += p_o c_t
//   m_t = o tanh(c_t);  h_t = clip(m_t W_hr^T) with a projection, else m_t.
// Saved for backward (save=true), packed: G = [i, f, g, o], C = c_t, TC = tanh(c_t),
// CR = c before clipping (cell_clip), M = m_t (projection), HR = h before clipping (proj_clip),
// HP = the h state the step read (h_{t-1}, or h0), for dW_hh: only when rows end early or the h state
// is dropped (else the states are h0 and the outputs Y, which dW_hh reads directly).
//
// State rules (mode) applied to the step's new state (h~, c~) after the cell:
//   0: none, s_t = s~_t;
//   1: variational state dropout (rnnkit.wrappers.Dropout): s_t = m (.) s~_t with a per-sequence mask m
//      ((B, P) for h, (B, H) for c, either may be absent); the output stays y_t = h~_t;
//   2: zoneout (rnnkit.wrappers.Zoneout): s_t = d_t ? s_{t-1} : s~_t with keep masks d (T, B, .) (bool),
//      or, without masks, the expectation lerp(s~_t, s_{t-1}, rate); the output is the new state, y_t = h_t.
// Extra buffers: HS = the dropped h state (mode 1 with an h mask; two rolling steps), CT = c~_t
// (packed, when c has a rule).

#include "lstm_rules.h"
#include "rowsplit.h"
#include "inputsteps.h"

namespace rnnkit {

using at::Tensor;
using namespace lstm_detail;

std::vector<Tensor> lstm_forward(const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                                 const c10::optional<Tensor>& w_hr, const c10::optional<Tensor>& peep,
                                 const Tensor& batch_sizes, int64_t total_steps, double forget_bias,
                                 double cell_clip, double proj_clip, bool save, int64_t mode,
                                 const c10::optional<Tensor>& hk, const c10::optional<Tensor>& ck, double rate_h,
                                 double rate_c, const c10::optional<Tensor>& bias,
                                 const c10::optional<Tensor>& w_ih) {
  const auto bsv = to_vec(batch_sizes);
  const Rule rh = make_rule(mode, hk, rate_h), rc = make_rule(mode, ck, rate_c);
  Tensor hk_c = hk.has_value() && hk->defined() ? hk->contiguous() : Tensor();
  Tensor ck_c = ck.has_value() && ck->defined() ? ck->contiguous() : Tensor();
  const int64_t T = batch_sizes.size(0), B = h0.size(0), H = c0.size(1), P = h0.size(1);
  const auto off = step_offsets(bsv);
  const int64_t N = off[T];
  // with w_ih, xp is x's packed rows (N, I) and xp = x W_ih^T is made a few steps at a time (inputsteps.h)
  const InputOperands input_ops = input_operands(xp, w_ih, save, "lstm_forward");
  TORCH_CHECK(xp.dim() == 2 && xp.size(0) == N && (input_ops.project || xp.size(1) == 4 * H),
              "lstm_forward: xp must be (N, 4H) packed rows (with w_ih: x's (N, I) packed rows)");
  const bool proj = w_hr.has_value() && w_hr->defined();
  const bool has_peep = peep.has_value() && peep->defined();
  const bool ragged = T < total_steps || (T > 0 && bsv[T - 1] < B);
  auto opts = xp.options();
  Tensor Y = workspace_buffer({total_steps, B, P}, opts, ragged);
  // saved buffers hold the N packed rows; without saving, one step (G, M) or two rolling steps (C)
  const int64_t NS = save ? N : B;
  Tensor G = workspace_empty({NS, 4 * H}, opts);
  Tensor C = workspace_empty({save ? N : 2 * B, H}, opts);
  Tensor TC = save ? workspace_empty({N, H}, opts) : Tensor();
  Tensor CR = (save && cell_clip > 0) ? workspace_empty({N, H}, opts) : Tensor();
  Tensor M = proj ? workspace_empty({NS, H}, opts) : Tensor();
  Tensor HR = (save && proj && proj_clip > 0) ? workspace_empty({N, P}, opts) : Tensor();
  const bool sep_h = rh.drop;  // the h state differs from the output: its own buffer
  Tensor HS = sep_h ? workspace_empty({2 * B, P}, opts) : Tensor();
  const bool need_hp = save && (sep_h || (T > 0 && bsv[T - 1] < B));
  Tensor HP = need_hp ? workspace_empty({N, P}, opts) : Tensor();
  Tensor CT = (rc.on && save) ? workspace_empty({N, H}, opts) : Tensor();
  Tensor hn = final_state_buffer(h0, bsv), cn = final_state_buffer(c0, bsv);
  Tensor w_hh_t = w_hh.t().contiguous();  // (K, N) layout: ~2x faster GEMMs at small batch than a transposed view
  Tensor w_hr_t = proj ? w_hr->t().contiguous() : Tensor();
  Tensor peep_c = has_peep ? peep->contiguous() : Tensor();
  const bool has_bias = bias.has_value() && bias->defined();
  TORCH_CHECK(!has_bias || bias->numel() == 4 * H, "lstm_forward: bias must have 4H elements");
  Tensor bias_c = has_bias ? bias->contiguous() : Tensor();
  Tensor ZR = workspace_zeros({4 * std::max(H, P)}, opts), SINK = workspace_zeros({4 * std::max(H, P)}, opts);

  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_lstm_forward", [&] {
    using s_t = scalar_t;
    const s_t fb = static_cast<s_t>(forget_bias), cc = static_cast<s_t>(cell_clip);
    const s_t pc = static_cast<s_t>(proj_clip);
    // Optional operands the vectorised loops read or write under a flag point at a valid zero row
    // when absent, never at null: a masked load or store whose masked-off lanes address an unmapped
    // page takes a microcode assist (hundreds of cycles) on every iteration.
    const s_t* zrow = ZR.data_ptr<s_t>();
    s_t* sink = SINK.data_ptr<s_t>();
    const s_t* pi = has_peep ? peep_c.data_ptr<s_t>() : zrow;
    const s_t* pf = has_peep ? pi + H : zrow;
    const s_t* po = has_peep ? pi + 2 * H : zrow;
    const s_t* biasp = has_bias ? bias_c.data_ptr<s_t>() : zrow;
    const s_t* h0p = h0.data_ptr<s_t>();
    const s_t* c0p = c0.data_ptr<s_t>();
    const StepGemm<s_t> rec_gemm(w_hh_t.data_ptr<s_t>(), P, 4 * H, bsv.empty() ? 0 : bsv[0], opts);
    const InputSteps<s_t> input(input_ops, off, bsv, 4 * H, opts);
    const s_t* whr = proj ? w_hr_t.data_ptr<s_t>() : nullptr;
    const StepGemm<s_t> proj_gemm(whr, H, P, proj && !bsv.empty() ? bsv[0] : 0, opts);
    s_t* Yb = Y.data_ptr<s_t>();
    s_t* Gb = G.data_ptr<s_t>();
    s_t* Cb = C.data_ptr<s_t>();
    s_t* TCb = save ? TC.data_ptr<s_t>() : nullptr;
    s_t* CRb = CR.defined() ? CR.data_ptr<s_t>() : nullptr;
    s_t* Mb = proj ? M.data_ptr<s_t>() : nullptr;
    s_t* HRb = HR.defined() ? HR.data_ptr<s_t>() : nullptr;
    s_t* hnp = hn.data_ptr<s_t>();
    s_t* cnp = cn.data_ptr<s_t>();
    s_t* HSb = sep_h ? HS.data_ptr<s_t>() : nullptr;
    s_t* HPb = need_hp ? HP.data_ptr<s_t>() : nullptr;
    s_t* CTb = CT.defined() ? CT.data_ptr<s_t>() : nullptr;
    const s_t* hmask = rh.drop ? hk_c.data_ptr<s_t>() : nullptr;
    const s_t* cmask = rc.drop ? ck_c.data_ptr<s_t>() : nullptr;
    const uint8_t* hkeep = rh.keep ? keep_bytes(hk_c) : nullptr;
    const uint8_t* ckeep = rc.keep ? keep_bytes(ck_c) : nullptr;
    const s_t rate_hs = static_cast<s_t>(rh.rate), rate_cs = static_cast<s_t>(rc.rate);
    const bool c_rule = rc.on;
    const ForwardRow<s_t> row_fn = forward_row_for<s_t>(has_peep, cc > 0, save);
    // the h state of step t (the output unless dropped separately)
    auto h_state = [&](int64_t t) -> s_t* { return sep_h ? HSb + (t % 2) * B * P : Yb + t * B * P; };
    // the whole time loop on rows [r0, r1) of the batch (rowsplit.h: one range per thread)
    split_time_loop(bsv, B, [&](int64_t r0, int64_t r1) {
      auto x_rows = input.cursor(r0, r1);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t bs = std::min(bsv[t], r1);  // this range's rows of step t: [r0, bs)
        if (bs <= r0) break;
        const int64_t nr = bs - r0;
        // first row of step t in the saved (packed) buffers, and in the rolling ones
        const int64_t row = save ? off[t] : 0, crow = save ? off[t] : (t % 2) * B;
        const int64_t cprow = save ? (t > 0 ? off[t - 1] : 0) : ((t + 1) % 2) * B;
        s_t* gp = Gb + row * 4 * H;
        const s_t* h_prev = t == 0 ? h0p : h_state(t - 1);
        if (HPb) std::memcpy(HPb + (off[t] + r0) * P, h_prev + r0 * P, nr * P * sizeof(s_t));
        // the recurrent GEMM alone (no copy of xp into the output first): the pointwise pass adds xp
        rec_gemm(gp + r0 * 4 * H, h_prev + r0 * P, P, nr);
        const s_t* xpt = x_rows.step(t);  // xp's row (t, r0), then the range's next rows
        const s_t* cprev = t == 0 ? c0p : Cb + cprow * H;
        s_t* cp = Cb + crow * H;
        s_t* tcp_ = save ? TCb + off[t] * H : nullptr;
        s_t* crp = CRb ? CRb + off[t] * H : nullptr;
        s_t* yt = Yb + t * B * P;
        s_t* mp = proj ? Mb + row * H : yt;
        s_t* ctp = CTb ? CTb + off[t] * H : nullptr;
        const uint8_t* ckt = ckeep ? ckeep + t * B * H : nullptr;
        for_rows(r0, bs, 4 * H, [&](int64_t q0, int64_t q1) {
          for (int64_t r = q0; r < q1; ++r) {
            s_t* a = gp + r * 4 * H;
            const s_t* xr = xpt + (r - r0) * 4 * H;
            const s_t* cpr = cprev + r * H;
            s_t* cr = cp + r * H;
            s_t* m = mp + r * H;
            s_t* tcr = tcp_ ? tcp_ + r * H : sink;
            s_t* crr = crp ? crp + r * H : sink;
            s_t* ctr = ctp ? ctp + r * H : nullptr;
            const s_t* cmr = cmask ? cmask + r * H : nullptr;
            const uint8_t* ckr = ckt ? ckt + r * H : nullptr;
            if (r + 1 < q1) {  // the next row's inputs (see prefetch_row)
              prefetch_row(xr + 4 * H, 4 * H);
              prefetch_row(cpr + H, H);
            }
            row_fn(a, xr, biasp, cpr, cr, m, tcr, crr, pi, pf, po, fb, cc, H);
            if (!c_rule) continue;  // the c rule: c~_t (kept in CT) becomes the c state
            if (ctr) std::memcpy(ctr, cr, H * sizeof(s_t));
            if (cmr) {
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) cr[j] *= cmr[j];
            } else if (ckr) {
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) cr[j] = ckr[j] ? cpr[j] : cr[j];
            } else {
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) cr[j] = lerp_<s_t>(cr[j], cpr[j], rate_cs);
            }
          }
        });
        if (proj) {
          proj_gemm(yt + r0 * P, mp + r0 * H, H, nr);
          if (pc > 0) {
            const int64_t k0 = r0 * P, k1 = bs * P;
            if (HRb) std::memcpy(HRb + (off[t] + r0) * P, yt + k0, (k1 - k0) * sizeof(s_t));
            for (int64_t k = k0; k < k1; ++k) yt[k] = yt[k] < -pc ? -pc : (yt[k] > pc ? pc : yt[k]);
          }
        }
        s_t* hs = h_state(t);
        if (rh.on) {  // the h rule on the finished h~_t = yt
          const int64_t k0 = r0 * P, k1 = bs * P;
          if (hmask) {
            _Pragma("omp simd")
            for (int64_t k = k0; k < k1; ++k) hs[k] = hmask[k] * yt[k];
          } else if (hkeep) {
            const uint8_t* z = hkeep + t * B * P;
            _Pragma("omp simd")
            for (int64_t k = k0; k < k1; ++k) yt[k] = z[k] ? h_prev[k] : yt[k];
          } else {
            _Pragma("omp simd")
            for (int64_t k = k0; k < k1; ++k) yt[k] = lerp_<s_t>(yt[k], h_prev[k], rate_hs);
          }
        }
        // sequences whose last step is t hand their state over
        const int64_t next = std::max(t + 1 < T ? bsv[t + 1] : 0, r0);
        if (next < bs) {
          std::memcpy(hnp + next * P, hs + next * P, (bs - next) * P * sizeof(s_t));
          std::memcpy(cnp + next * H, cp + next * H, (bs - next) * H * sizeof(s_t));
        }
      }
    }, rec_gemm, proj_gemm);
  });
  return {Y, hn, cn, G, C, TC, CR, M, HR, HP, CT};
}


}  // namespace rnnkit
