// Whole-sequence LSTM (rnnkit.cells.LSTMCell, every option) forward and backward.
//
// Inputs are sorted by length (descending): at step t only the first
// batch_sizes[t] rows are active, so no work is done past a sequence's end.
// xp = x W_ih^T + b_ih + b_hh comes precomputed for the active rows only,
// packed step after step as a PackedSequence's data: (N, 4H), N = sum of
// batch_sizes, step t's rows at off_t = batch_sizes[0] + ... + batch_sizes[t-1].
// Every saved buffer uses the same packed rows, so the weight-gradient GEMMs
// (here dW_hh, dW_hr; dW_ih and dx in autograd on the packed input projection)
// run over the N valid rows, never over padding. Only the output Y is padded
// (total_steps, B, P), zero past each length.
//
// Forward, per step t, rows r < bs_t:
//   a = xp_t + h_{t-1} W_hh^T;  a_f += forget_bias;  a_i += p_i c_{t-1};  a_f += p_f c_{t-1}
//   i, f, o = sigmoid;  g = tanh(a_g);  c_t = clip(f c_{t-1} + i g);  a_o += p_o c_t
//   m_t = o tanh(c_t);  h_t = clip(m_t W_hr^T) with a projection, else m_t.
// Saved for backward (save=true), packed: G = [i, f, g, o], C = c_t, TC = tanh(c_t),
// CR = c before clipping (cell_clip), M = m_t (projection), HR = h before clipping (proj_clip),
// HP = the h state the step read (h_{t-1}, or h0), for dW_hh.
//
// State rules (mode) applied to the step's new state (h~, c~) after the cell:
//   0: none, s_t = s~_t;
//   1: variational state dropout (rnnkit.wrappers.Dropout): s_t = m (.) s~_t with a per-sequence mask m
//      ((B, P) for h, (B, H) for c, either may be absent); the output stays y_t = h~_t;
//   2: zoneout (rnnkit.wrappers.Zoneout): s_t = d_t ? s_{t-1} : s~_t with keep masks d (T, B, .) (bool),
//      or, without masks, the expectation lerp(s~_t, s_{t-1}, rate); the output is the new state, y_t = h_t.
// Extra buffers: HS = the dropped h state (mode 1 with an h mask; two rolling steps), CT = c~_t
// (packed, when c has a rule).
#include "fastmath.h"

namespace rnnkit {

using at::Tensor;

namespace {

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

Rule make_rule(int64_t mode, const c10::optional<Tensor>& t, double rate) {
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

}  // namespace

std::vector<Tensor> lstm_forward(const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                                 const c10::optional<Tensor>& w_hr, const c10::optional<Tensor>& peep,
                                 const Tensor& batch_sizes, int64_t total_steps, double forget_bias,
                                 double cell_clip, double proj_clip, bool save, int64_t mode,
                                 const c10::optional<Tensor>& hk, const c10::optional<Tensor>& ck, double rate_h,
                                 double rate_c) {
  const auto bsv = to_vec(batch_sizes);
  const Rule rh = make_rule(mode, hk, rate_h), rc = make_rule(mode, ck, rate_c);
  Tensor hk_c = hk.has_value() && hk->defined() ? hk->contiguous() : Tensor();
  Tensor ck_c = ck.has_value() && ck->defined() ? ck->contiguous() : Tensor();
  const int64_t T = batch_sizes.size(0), B = h0.size(0), H = c0.size(1), P = h0.size(1);
  const auto off = step_offsets(bsv);
  const int64_t N = off[T];
  TORCH_CHECK(xp.dim() == 2 && xp.size(0) == N && xp.size(1) == 4 * H, "lstm_forward: xp must be (N, 4H) packed rows");
  const bool proj = w_hr.has_value() && w_hr->defined();
  const bool has_peep = peep.has_value() && peep->defined();
  const bool ragged = T < total_steps || (T > 0 && bsv[T - 1] < B);
  auto opts = xp.options();
  Tensor Y = ragged ? at::zeros({total_steps, B, P}, opts) : at::empty({total_steps, B, P}, opts);
  // saved buffers hold the N packed rows; without saving, one step (G, M) or two rolling steps (C)
  const int64_t NS = save ? N : B;
  Tensor G = at::empty({NS, 4 * H}, opts);
  Tensor C = at::empty({save ? N : 2 * B, H}, opts);
  Tensor TC = save ? at::empty({N, H}, opts) : Tensor();
  Tensor CR = (save && cell_clip > 0) ? at::empty({N, H}, opts) : Tensor();
  Tensor M = proj ? at::empty({NS, H}, opts) : Tensor();
  Tensor HR = (save && proj && proj_clip > 0) ? at::empty({N, P}, opts) : Tensor();
  const bool sep_h = rh.drop;  // the h state differs from the output: its own buffer
  Tensor HS = sep_h ? at::empty({2 * B, P}, opts) : Tensor();
  Tensor HP = save ? at::empty({N, P}, opts) : Tensor();
  Tensor CT = (rc.on && save) ? at::empty({N, H}, opts) : Tensor();
  Tensor hn = h0.clone(), cn = c0.clone();
  Tensor w_hh_t = w_hh.t().contiguous();  // (K, N) layout: ~2x faster GEMMs at small batch than a transposed view
  Tensor w_hr_t = proj ? w_hr->t().contiguous() : Tensor();
  Tensor peep_c = has_peep ? peep->contiguous() : Tensor();
  Tensor ZR = at::zeros({4 * std::max(H, P)}, opts), SINK = at::zeros({4 * std::max(H, P)}, opts);

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
    const s_t* xpb = xp.data_ptr<s_t>();
    const s_t* h0p = h0.data_ptr<s_t>();
    const s_t* c0p = c0.data_ptr<s_t>();
    const s_t* whh = w_hh_t.data_ptr<s_t>();
    const s_t* whr = proj ? w_hr_t.data_ptr<s_t>() : nullptr;
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
    s_t* HPb = save ? HP.data_ptr<s_t>() : nullptr;
    s_t* CTb = CT.defined() ? CT.data_ptr<s_t>() : nullptr;
    const s_t* hmask = rh.drop ? hk_c.data_ptr<s_t>() : nullptr;
    const s_t* cmask = rc.drop ? ck_c.data_ptr<s_t>() : nullptr;
    const bool* hkeep = rh.keep ? hk_c.data_ptr<bool>() : nullptr;
    const bool* ckeep = rc.keep ? ck_c.data_ptr<bool>() : nullptr;
    const s_t rate_hs = static_cast<s_t>(rh.rate), rate_cs = static_cast<s_t>(rc.rate);
    const bool c_rule = rc.on;
    // the h state of step t (the output unless dropped separately)
    auto h_state = [&](int64_t t) -> s_t* { return sep_h ? HSb + (t % 2) * B * P : Yb + t * B * P; };
    for (int64_t t = 0; t < T; ++t) {
      const int64_t bs = bsv[t];
      if (bs == 0) break;
      // first row of step t in the saved (packed) buffers, and in the rolling ones
      const int64_t row = save ? off[t] : 0, crow = save ? off[t] : (t % 2) * B;
      const int64_t cprow = save ? (t > 0 ? off[t - 1] : 0) : ((t + 1) % 2) * B;
      s_t* gp = Gb + row * 4 * H;
      const s_t* h_prev = t == 0 ? h0p : h_state(t - 1);
      if (HPb) std::memcpy(HPb + off[t] * P, h_prev, bs * P * sizeof(s_t));
      // the recurrent GEMM alone (no copy of xp into the output first): the pointwise pass adds xp
      addmm_ptr<s_t>(gp, nullptr, 0, h_prev, P, whh, bs, P, 4 * H, opts);
      const s_t* xpt = xpb + off[t] * 4 * H;
      const s_t* cprev = t == 0 ? c0p : Cb + cprow * H;
      s_t* cp = Cb + crow * H;
      s_t* tcp_ = save ? TCb + off[t] * H : nullptr;
      s_t* crp = CRb ? CRb + off[t] * H : nullptr;
      s_t* yt = Yb + t * B * P;
      s_t* mp = proj ? Mb + row * H : yt;
      s_t* ctp = CTb ? CTb + off[t] * H : nullptr;
      const bool* ckt = ckeep ? ckeep + t * B * H : nullptr;
      for_rows(bs, 4 * H, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          s_t* a = gp + r * 4 * H;
          const s_t* xr = xpt + r * 4 * H;
          const s_t* cpr = cprev + r * H;
          s_t* cr = cp + r * H;
          s_t* m = mp + r * H;
          s_t* tcr = tcp_ ? tcp_ + r * H : sink;
          s_t* crr = crp ? crp + r * H : sink;
          s_t* ctr = ctp ? ctp + r * H : nullptr;
          const s_t* cmr = cmask ? cmask + r * H : nullptr;
          const bool* ckr = ckt ? ckt + r * H : nullptr;
          if (r + 1 < r1) {  // the next row's inputs (see prefetch_row)
            prefetch_row(xr + 4 * H, 4 * H);
            prefetch_row(cpr + H, H);
          }
          _Pragma("omp simd")
          for (int64_t j = 0; j < H; ++j) {
            s_t ai = a[j] + xr[j], af = a[H + j] + xr[H + j] + fb, ag = a[2 * H + j] + xr[2 * H + j];
            s_t ao = a[3 * H + j] + xr[3 * H + j];
            const s_t c_old = cpr[j];
            if (has_peep) {
              ai += pi[j] * c_old;
              af += pf[j] * c_old;
            }
            const s_t i = sigm<s_t>(ai), f = sigm<s_t>(af), g = tanh_<s_t>(ag);
            s_t c = f * c_old + i * g;
            if (crp) crr[j] = c;
            if (cc > 0) c = c < -cc ? -cc : (c > cc ? cc : c);
            if (has_peep) ao += po[j] * c;
            const s_t o = sigm<s_t>(ao), tcv = tanh_<s_t>(c);
            a[j] = i;
            a[H + j] = f;
            a[2 * H + j] = g;
            a[3 * H + j] = o;
            cr[j] = c;
            if (tcp_) tcr[j] = tcv;
            m[j] = o * tcv;
          }
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
        addmm_ptr<s_t>(yt, nullptr, 0, mp, H, whr, bs, H, P, opts);
        if (pc > 0) {
          const int64_t n = bs * P;
          if (HRb) std::memcpy(HRb + off[t] * P, yt, n * sizeof(s_t));
          for (int64_t k = 0; k < n; ++k) yt[k] = yt[k] < -pc ? -pc : (yt[k] > pc ? pc : yt[k]);
        }
      }
      s_t* hs = h_state(t);
      if (rh.on) {  // the h rule on the finished h~_t = yt
        const int64_t n = bs * P;
        if (hmask) {
          _Pragma("omp simd")
          for (int64_t k = 0; k < n; ++k) hs[k] = hmask[k] * yt[k];
        } else if (hkeep) {
          const bool* z = hkeep + t * B * P;
          _Pragma("omp simd")
          for (int64_t k = 0; k < n; ++k) yt[k] = z[k] ? h_prev[k] : yt[k];
        } else {
          _Pragma("omp simd")
          for (int64_t k = 0; k < n; ++k) yt[k] = lerp_<s_t>(yt[k], h_prev[k], rate_hs);
        }
      }
      // sequences whose last step is t hand their state over
      const int64_t next = t + 1 < T ? bsv[t + 1] : 0;
      if (next < bs) {
        std::memcpy(hnp + next * P, hs + next * P, (bs - next) * P * sizeof(s_t));
        std::memcpy(cnp + next * H, cp + next * H, (bs - next) * H * sizeof(s_t));
      }
    }
  });
  return {Y, hn, cn, G, C, TC, CR, M, HR, HP, CT};
}

// Gradients of lstm_forward. dY: (T, B, P) (padded) for the T steps run; the saved buffers packed.
// Returns dxp (N, 4H) packed as xp, dh0, dc0, dW_hh, dW_hr, dpeep, dhk, dck (undefined where absent;
// dhk/dck are the gradients of mode 1's masks).
std::vector<Tensor> lstm_backward(const Tensor& dY, const Tensor& dhn, const Tensor& dcn, const Tensor& h0,
                                  const Tensor& c0, const Tensor& w_hh, const c10::optional<Tensor>& w_hr,
                                  const c10::optional<Tensor>& peep, const Tensor& batch_sizes, const Tensor& Y,
                                  const Tensor& G, const Tensor& C, const Tensor& TC, const c10::optional<Tensor>& CR,
                                  const c10::optional<Tensor>& M, const c10::optional<Tensor>& HR,
                                  double cell_clip, double proj_clip, int64_t mode, const c10::optional<Tensor>& hk,
                                  const c10::optional<Tensor>& ck, double rate_h, double rate_c,
                                  const Tensor& HP, const c10::optional<Tensor>& CT) {
  const auto bsv = to_vec(batch_sizes);
  const Rule rh = make_rule(mode, hk, rate_h), rc = make_rule(mode, ck, rate_c);
  Tensor hk_c = hk.has_value() && hk->defined() ? hk->contiguous() : Tensor();
  Tensor ck_c = ck.has_value() && ck->defined() ? ck->contiguous() : Tensor();
  const int64_t T = batch_sizes.size(0), B = h0.size(0), H = C.size(1), P = h0.size(1);
  const auto off = step_offsets(bsv);
  const int64_t N = off[T];
  const bool proj = w_hr.has_value() && w_hr->defined();
  const bool has_peep = peep.has_value() && peep->defined();
  auto opts = G.options();
  Tensor dG = at::empty({N, 4 * H}, opts);  // packed rows, as xp: every row is written
  Tensor DHR = proj ? at::empty({N, P}, opts) : Tensor();
  Tensor DM = proj ? at::empty({B, H}, opts) : Tensor();
  Tensor dh = dhn.clone().contiguous(), dc = dcn.clone().contiguous();
  Tensor peep_c = has_peep ? peep->contiguous() : Tensor();
  Tensor w_hh_c = w_hh.contiguous(), w_hr_c = proj ? w_hr->contiguous() : Tensor();
  Tensor cr_t = CR.has_value() ? *CR : Tensor();
  Tensor hr_t = HR.has_value() ? *HR : Tensor();
  Tensor ct_t = CT.has_value() ? *CT : Tensor();
  Tensor DHT = rh.on ? at::empty({B, P}, opts) : Tensor();  // gradient w.r.t. h~_t under an h rule
  Tensor ZERO = rh.on ? at::zeros({B, P}, opts) : Tensor();  // stands in for dh once the h rule used it
  const bool c_carry = rc.on && !rc.drop;  // zoneout: dc_{t-1} also gets the kept part straight
  Tensor DCC = c_carry ? at::empty({B, H}, opts) : Tensor();
  Tensor dhk = rh.drop ? at::zeros({B, P}, opts) : Tensor();
  Tensor dck = rc.drop ? at::zeros({B, H}, opts) : Tensor();
  Tensor ZR = at::zeros({4 * std::max(H, P)}, opts);
  // peephole gradients summed inside the step loop per thread (see accumulator_slot), over threads at the end
  const int64_t slots = accumulator_slots();
  Tensor DP = has_peep ? at::zeros({slots, 3 * H}, opts) : ZR.narrow(0, 0, 3 * H).unsqueeze(0);

  AT_DISPATCH_FLOATING_TYPES(G.scalar_type(), "rnnkit_lstm_backward", [&] {
    using s_t = scalar_t;
    const s_t cc = static_cast<s_t>(cell_clip), pc = static_cast<s_t>(proj_clip);
    const s_t* zrow = ZR.data_ptr<s_t>();  // valid zeros for absent operands (see lstm_forward)
    s_t* DPb = DP.data_ptr<s_t>();
    const s_t* pi = has_peep ? peep_c.data_ptr<s_t>() : zrow;
    const s_t* pf = has_peep ? pi + H : zrow;
    const s_t* po = has_peep ? pi + 2 * H : zrow;
    s_t* dhp = dh.data_ptr<s_t>();
    s_t* dcp = dc.data_ptr<s_t>();
    const s_t* dYb = dY.data_ptr<s_t>();
    const s_t* Gb = G.data_ptr<s_t>();
    const s_t* Cb = C.data_ptr<s_t>();
    const s_t* TCb = TC.data_ptr<s_t>();
    const s_t* CRb = cr_t.defined() ? cr_t.data_ptr<s_t>() : nullptr;
    const s_t* HRb = hr_t.defined() ? hr_t.data_ptr<s_t>() : nullptr;
    const s_t* c0p = c0.data_ptr<s_t>();
    const s_t* whh = w_hh_c.data_ptr<s_t>();
    const s_t* whr = proj ? w_hr_c.data_ptr<s_t>() : nullptr;
    s_t* dGb = dG.data_ptr<s_t>();
    s_t* DHRb = proj ? DHR.data_ptr<s_t>() : nullptr;
    s_t* DMp = proj ? DM.data_ptr<s_t>() : nullptr;
    const s_t* Yb = Y.data_ptr<s_t>();
    const s_t* CTb = ct_t.defined() ? ct_t.data_ptr<s_t>() : nullptr;
    s_t* DHTb = rh.on ? DHT.data_ptr<s_t>() : nullptr;
    const s_t* ZEROb = ZERO.defined() ? ZERO.data_ptr<s_t>() : nullptr;
    s_t* DCCb = c_carry ? DCC.data_ptr<s_t>() : nullptr;
    s_t* dhkb = rh.drop ? dhk.data_ptr<s_t>() : nullptr;
    s_t* dckb = rc.drop ? dck.data_ptr<s_t>() : nullptr;
    const s_t* hmask = rh.drop ? hk_c.data_ptr<s_t>() : nullptr;
    const s_t* cmask = rc.drop ? ck_c.data_ptr<s_t>() : nullptr;
    const bool* hkeep = rh.keep ? hk_c.data_ptr<bool>() : nullptr;
    const bool* ckeep = rc.keep ? ck_c.data_ptr<bool>() : nullptr;
    const s_t rate_hs = static_cast<s_t>(rh.rate), rate_cs = static_cast<s_t>(rc.rate);
    const bool c_rule = rc.on, h_carry = rh.on && !rh.drop;  // zoneout: h_{t-1} also reaches h_t directly
    for (int64_t t = T - 1; t >= 0; --t) {
      const int64_t bs = bsv[t];
      if (bs == 0) continue;
      // dh holds the gradient w.r.t. the h state of step t; dsrc (+ dh unless a rule consumed it) is
      // the gradient w.r.t. h~_t
      const s_t* dsrc = dYb + t * B * P;
      const bool add_dh = !rh.on;
      if (rh.on) {
        const s_t* dyp = dsrc;
        const int64_t n = bs * P;
        if (hmask) {
          const s_t* yv = Yb + t * B * P;
          for (int64_t k = 0; k < n; ++k) {
            const s_t g = dhp[k];
            DHTb[k] = dyp[k] + hmask[k] * g;
            dhkb[k] += g * yv[k];
          }
        } else if (hkeep) {
          const bool* z = hkeep + t * B * P;
          _Pragma("omp simd")
          for (int64_t k = 0; k < n; ++k) {
            const s_t g = dhp[k] + dyp[k];
            DHTb[k] = z[k] ? s_t(0) : g;
            dhp[k] = z[k] ? g : s_t(0);
          }
        } else {
          _Pragma("omp simd")
          for (int64_t k = 0; k < n; ++k) {
            const s_t g = dhp[k] + dyp[k];
            DHTb[k] = (1 - rate_hs) * g;
            dhp[k] = rate_hs * g;
          }
        }
        dsrc = DHTb;
      }
      const s_t* dyp = dsrc;
      const s_t* dm_src = nullptr;  // gradient w.r.t. m_t, rows (bs, H), with a projection
      if (proj) {
        s_t* dr = DHRb + off[t] * P;
        const s_t* hr = HRb ? HRb + off[t] * P : nullptr;
        const int64_t n = bs * P;
        for (int64_t k = 0; k < n; ++k) {
          s_t v = add_dh ? dyp[k] + dhp[k] : dyp[k];
          if (hr && (hr[k] < -pc || hr[k] > pc)) v = 0;
          dr[k] = v;
        }
        addmm_ptr<s_t>(DMp, nullptr, 0, dr, P, whr, bs, P, H, opts);
        dm_src = DMp;
      }
      const s_t* gp = Gb + off[t] * 4 * H;  // saved buffers: packed rows (see the header)
      const s_t* tcp = TCb + off[t] * H;
      const s_t* crp = CRb ? CRb + off[t] * H : nullptr;
      const s_t* cprev = t == 0 ? c0p : Cb + off[t - 1] * H;
      s_t* dgp = dGb + off[t] * 4 * H;
      const s_t* ctp = CTb ? CTb + off[t] * H : nullptr;
      const s_t* cnow = ctp ? ctp : Cb + off[t] * H;  // c~_t, which the o peephole read
      const bool* ckt = ckeep ? ckeep + t * B * H : nullptr;
      for_rows(bs, 4 * H, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const s_t* a = gp + r * 4 * H;
          s_t* d = dgp + r * 4 * H;
          const s_t* tc = tcp + r * H;
          const s_t* cpr = cprev + r * H;
          const s_t* crr = crp ? crp + r * H : zrow;
          const s_t* dmr = dm_src ? dm_src + r * H : zrow;
          const s_t* dyr = dyp + r * H;
          const s_t* dhr = add_dh ? dhp + r * H : ZEROb + r * H;
          s_t* dcr = dcp + r * H;
          const s_t* ctr = ctp ? ctp + r * H : nullptr;
          const s_t* cmr = cmask ? cmask + r * H : nullptr;
          s_t* dckr = dckb ? dckb + r * H : nullptr;
          const bool* ckr = ckt ? ckt + r * H : nullptr;
          s_t* car = c_carry ? DCCb + r * H : nullptr;
          s_t* dpr = has_peep ? DPb + accumulator_slot(slots) * 3 * H : DPb;
          const s_t* cnr = cnow + r * H;
          if (r + 1 < r1) {  // the next row's saved activations (see prefetch_row)
            prefetch_row(a + 4 * H, 4 * H);
            prefetch_row(tc + H, H);
            prefetch_row(cpr + H, H);
            prefetch_row(dyr + H, H);
            prefetch_row(d + 4 * H, 4 * H, true);
          }
          if (c_rule) {  // dc: w.r.t. the c state -> w.r.t. c~_t (+ car: straight to c_{t-1})
            if (cmr) {
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) {
                dckr[j] += dcr[j] * ctr[j];
                dcr[j] *= cmr[j];
              }
            } else if (ckr) {
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) {
                car[j] = ckr[j] ? dcr[j] : s_t(0);
                dcr[j] = ckr[j] ? s_t(0) : dcr[j];
              }
            } else {
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) {
                car[j] = rate_cs * dcr[j];
                dcr[j] *= 1 - rate_cs;
              }
            }
          }
          _Pragma("omp simd")
          for (int64_t j = 0; j < H; ++j) {
            const s_t i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
            const s_t dm = dm_src ? dmr[j] : dyr[j] + dhr[j];
            const s_t tcv = tc[j];
            const s_t dao = dm * tcv * o * (1 - o);
            s_t dcv = dcr[j] + dm * o * (1 - tcv * tcv);
            if (has_peep) dcv += dao * po[j];
            if (crp && (crr[j] < -cc || crr[j] > cc)) dcv = 0;
            const s_t cold = cpr[j];
            const s_t dai = dcv * g * i * (1 - i);
            const s_t daf = dcv * cold * f * (1 - f);
            const s_t dag = dcv * i * (1 - g * g);
            s_t dcold = dcv * f;
            if (has_peep) {
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
          if (car) {
            _Pragma("omp simd")
            for (int64_t j = 0; j < H; ++j) dcr[j] += car[j];
          }
        }
      });
      if (h_carry) {
        addmm_acc<s_t>(dhp, dgp, 4 * H, whh, bs, 4 * H, P, opts);
      } else {
        addmm_ptr<s_t>(dhp, nullptr, 0, dgp, 4 * H, whh, bs, 4 * H, P, opts);
      }
    }
  });
  // weight gradients: one large GEMM each over all steps
  // over the N valid rows: HP holds the h state each row's step read
  Tensor dW_hh = dG.t().mm(HP);
  Tensor dW_hr = proj ? DHR.t().mm(*M) : Tensor();
  Tensor dpeep = has_peep ? DP.sum(0).view({3, H}) : Tensor();
  return {dG, dh, dc, dW_hh, dW_hr, dpeep, dhk, dck};
}

}  // namespace rnnkit
