// Backward of the whole-sequence LSTM (lstm_forward.cpp: layout, saved buffers, state rules).

#include "lstm_rules.h"
#include "rowsplit.h"

namespace rnnkit {

using at::Tensor;
using namespace lstm_detail;

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
                                  const c10::optional<Tensor>& HP, const c10::optional<Tensor>& CT) {
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
  Tensor dG = workspace_empty({N, 4 * H}, opts);  // packed rows, as xp: every row is written
  Tensor DHR = proj ? workspace_empty({N, P}, opts) : Tensor();
  Tensor DM = proj ? workspace_empty({B, H}, opts) : Tensor();
  Tensor dh = dhn.clone().contiguous(), dc = dcn.clone().contiguous();
  Tensor peep_c = has_peep ? peep->contiguous() : Tensor();
  Tensor w_hh_c = w_hh.contiguous(), w_hr_c = proj ? w_hr->contiguous() : Tensor();
  Tensor cr_t = CR.has_value() ? *CR : Tensor();
  Tensor hr_t = HR.has_value() ? *HR : Tensor();
  Tensor ct_t = CT.has_value() ? *CT : Tensor();
  Tensor DHT = rh.on ? workspace_empty({B, P}, opts) : Tensor();  // gradient w.r.t. h~_t under an h rule
  Tensor ZERO = rh.on ? workspace_zeros({B, P}, opts) : Tensor();  // stands in for dh once the h rule used it
  const bool c_carry = rc.on && !rc.drop;  // zoneout: dc_{t-1} also gets the kept part straight
  Tensor DCC = c_carry ? workspace_empty({B, H}, opts) : Tensor();
  Tensor dhk = rh.drop ? workspace_zeros({B, P}, opts) : Tensor();
  Tensor dck = rc.drop ? workspace_zeros({B, H}, opts) : Tensor();
  Tensor ZR = workspace_zeros({4 * std::max(H, P)}, opts);
  // peephole gradients summed inside the step loop per thread (see accumulator_slot), over threads at the end
  const int64_t slots = accumulator_slots();
  Tensor DP = has_peep ? workspace_zeros({slots, 3 * H}, opts) : ZR.narrow(0, 0, 3 * H).unsqueeze(0);

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
    const StepGemm<s_t> rec_gemm(w_hh_c.data_ptr<s_t>(), 4 * H, P, bsv.empty() ? 0 : bsv[0], opts);
    const StepGemm<s_t> proj_gemm(proj ? w_hr_c.data_ptr<s_t>() : nullptr, P, H, proj && !bsv.empty() ? bsv[0] : 0, opts);
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
    const uint8_t* hkeep = rh.keep ? keep_bytes(hk_c) : nullptr;
    const uint8_t* ckeep = rc.keep ? keep_bytes(ck_c) : nullptr;
    const s_t rate_hs = static_cast<s_t>(rh.rate), rate_cs = static_cast<s_t>(rc.rate);
    const bool c_rule = rc.on, h_carry = rh.on && !rh.drop;  // zoneout: h_{t-1} also reaches h_t directly
    const BackwardRow<s_t> row_fn = backward_row_for<s_t>(has_peep, CRb != nullptr, proj);
    // the whole time loop on rows [r0, r1) of the batch (rowsplit.h: one range per thread)
    split_time_loop(bsv, B, [&](int64_t r0, int64_t r1) {
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t bs = std::min(bsv[t], r1);  // this range's rows of step t: [r0, bs)
        if (bs <= r0) continue;
        const int64_t nr = bs - r0;
        // dh holds the gradient w.r.t. the h state of step t; dsrc (+ dh unless a rule consumed it) is
        // the gradient w.r.t. h~_t
        const s_t* dsrc = dYb + t * B * P;
        const bool add_dh = !rh.on;
        if (rh.on) {
          // local copies: read through the lambda's by-reference captures, GCC gathers them per vector
          const s_t* dyp = dsrc;
          s_t* const dhv = dhp;
          s_t* const dht = DHTb;
          const s_t rate = rate_hs;
          const int64_t k0 = r0 * P, n = bs * P;
          if (hmask) {
            const s_t* yv = Yb + t * B * P;
            const s_t* const hm = hmask;
            s_t* const dhk_ = dhkb;
            _Pragma("omp simd")  // distinct buffers: without it GCC versions the loop for aliasing, or not at all
            for (int64_t k = k0; k < n; ++k) {
              const s_t g = dhv[k];
              dht[k] = dyp[k] + hm[k] * g;
              dhk_[k] += g * yv[k];
            }
          } else if (hkeep) {
            const uint8_t* z = hkeep + t * B * P;
            _Pragma("omp simd")
            for (int64_t k = k0; k < n; ++k) {
              const s_t g = dhv[k] + dyp[k];
              dht[k] = z[k] ? s_t(0) : g;
              dhv[k] = z[k] ? g : s_t(0);
            }
          } else {
            _Pragma("omp simd")
            for (int64_t k = k0; k < n; ++k) {
              const s_t g = dhv[k] + dyp[k];
              dht[k] = (1 - rate) * g;
              dhv[k] = rate * g;
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
          const s_t* const dhv = dhp;
          const s_t clip = pc;
          _Pragma("omp simd")
          for (int64_t k = r0 * P; k < n; ++k) {
            s_t v = add_dh ? dyp[k] + dhv[k] : dyp[k];
            if (hr && (hr[k] < -clip || hr[k] > clip)) v = 0;
            dr[k] = v;
          }
          proj_gemm(DMp + r0 * H, dr + r0 * P, P, nr);
          dm_src = DMp;
        }
        const s_t* gp = Gb + off[t] * 4 * H;  // saved buffers: packed rows (see the header)
        const s_t* tcp = TCb + off[t] * H;
        const s_t* crp = CRb ? CRb + off[t] * H : nullptr;
        const s_t* cprev = t == 0 ? c0p : Cb + off[t - 1] * H;
        s_t* dgp = dGb + off[t] * 4 * H;
        const s_t* ctp = CTb ? CTb + off[t] * H : nullptr;
        const s_t* cnow = ctp ? ctp : Cb + off[t] * H;  // c~_t, which the o peephole read
        const uint8_t* ckt = ckeep ? ckeep + t * B * H : nullptr;
        for_rows(r0, bs, 4 * H, [&](int64_t q0, int64_t q1) {
          for (int64_t r = q0; r < q1; ++r) {
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
            const uint8_t* ckr = ckt ? ckt + r * H : nullptr;
            s_t* car = c_carry ? DCCb + r * H : nullptr;
            s_t* dpr = has_peep ? DPb + accumulator_slot(slots) * 3 * H : DPb;
            const s_t* cnr = cnow + r * H;
            if (r + 1 < q1) {  // the next row's saved activations (see prefetch_row)
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
                const s_t rate = rate_cs;
                _Pragma("omp simd")
                for (int64_t j = 0; j < H; ++j) {
                  car[j] = rate * dcr[j];
                  dcr[j] *= 1 - rate;
                }
              }
            }
            row_fn(a, dmr, dyr, dhr, tc, dcr, crr, cpr, cnr, pi, pf, po, dpr, d, cc, H);
            if (car) {
              _Pragma("omp simd")
              for (int64_t j = 0; j < H; ++j) dcr[j] += car[j];
            }
          }
        });
        rec_gemm(dhp + r0 * P, dgp + r0 * 4 * H, 4 * H, nr, /*accumulate=*/h_carry);
      }
    }, rec_gemm, proj_gemm);
  });
  // weight gradients: one large GEMM each over all steps
  // over the N valid rows: HP holds the h state each row's step read; without it every step has all
  // B rows and reads h0, then the outputs Y
  Tensor dW_hh;
  if (HP.has_value() && HP->defined()) {
    dW_hh = dense_mm(dG.t(), *HP);
  } else {
    dW_hh = recurrent_weight_grad(dG, h0, Y.reshape({-1, P}), T, B);
  }
  Tensor dW_hr = proj ? dense_mm(DHR.t(), *M) : Tensor();
  Tensor dpeep = has_peep ? DP.sum(0).view({3, H}) : Tensor();
  return {dG, dh, dc, dW_hh, dW_hr, dpeep, dhk, dck};
}


}  // namespace rnnkit
