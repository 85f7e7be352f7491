// The input projection U = x W^T (G columns) that a time loop reads one step at a time: precomputed for
// every step (what autograd differentiates, in training), or computed by the loop itself, a few steps
// at a time, just before they run (inference).
//
// Why: precomputed, U is written once by a whole-sequence GEMM and read back step by step. At S4
// (T = 500, B = 16, 4H = 512) that is 16 MB, at S1 7 MB: it leaves the caches between the two, so the
// GEMM writes it to memory and the loop reads it back from there. Computed in chunks of about
// kInputChunkBytes, each chunk is read while it is still in L2. Inference against the precomputed
// projection (same-process A/B, 1 thread; 2026-12-03, benchmarks/README.md issue 15): layer-norm LSTM
// S1 / S2 / S4 0.85-0.89x / 0.89-0.90x / 0.80-0.82x the time, peephole LSTM 0.88x / 0.90x / 0.85x, GRU
// 0.84x / 0.88x / 0.74x (S3 0.90x); 2 threads 0.89-0.96x, S4 0.75-0.82x. Chunks of 64-256 KB measured
// alike, 512 KB and 1 MB up to 1.07x slower. Python decides which calls compute it here
// (rnnkit.fused.dense.project_in_loop: float32 where MKL runs the whole-sequence GEMMs too).
//
// Rows: step t's rows in x (and in a precomputed U) start at row0[t] (t * B for padded (T, B, .) data,
// the step offsets for packed rows); step t has bsv[t] active rows (non-increasing). Each row range of a
// batch split (rowsplit.h) takes a Cursor: cursor.step(t) points at the U row of (t, r0), the range's
// rows following it G apart. A computed chunk covers the range's active rows of its steps only.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "stepgemm.h"
#include "workspace.h"

namespace rnnkit {

// About how many bytes of U one computed chunk holds (L2 is 1-2 MB per core on the machines measured,
// shared with the recurrent weight, 256 KB at H = 128); a chunk always holds at least one step.
constexpr int64_t kInputChunkBytes = int64_t{256} << 10;

// A kernel's xp argument: the projection itself (project false), or, with w_ih given (inference only), x
// (rows of I values), which the loop projects with w_t = W_ih^T (I, G).
struct InputOperands {
  bool project = false;
  at::Tensor source;  // xp, or x made contiguous
  at::Tensor w_t;     // W_ih^T contiguous, with project
};

inline InputOperands input_operands(const at::Tensor& xp, const c10::optional<at::Tensor>& w_ih, bool save,
                                    const char* kernel) {
  InputOperands ops;
  ops.project = w_ih.has_value() && w_ih->defined();
  TORCH_CHECK(!ops.project || !save, kernel, ": the input projection is computed in the loop for inference only");
  ops.source = ops.project ? xp.contiguous() : xp;
  if (ops.project) ops.w_t = w_ih->t().contiguous();
  return ops;
}

// Row starts of padded (T, B, .) steps: t * B for t = 0..T.
inline std::vector<int64_t> padded_row_starts(int64_t T, int64_t B) {
  std::vector<int64_t> row0(T + 1);
  for (int64_t t = 0; t <= T; ++t) row0[t] = t * B;
  return row0;
}

template <typename s_t>
class InputSteps {
 public:
  // From a kernel's operands (input_operands): the computed form with a projection, else the precomputed one.
  InputSteps(const InputOperands& ops, const std::vector<int64_t>& row0, const std::vector<int64_t>& bsv, int64_t G,
             const at::TensorOptions& opts)
      : InputSteps(ops.project ? InputSteps(ops.source.data_ptr<s_t>(), ops.source.size(-1), ops.w_t.data_ptr<s_t>(),
                                            row0, bsv, G, opts)
                               : InputSteps(ops.source.data_ptr<s_t>(), row0, G)) {}

  // Precomputed: u holds every step's rows, (row0[T], G).
  InputSteps(const s_t* u, const std::vector<int64_t>& row0, int64_t G) : u_(u), row0_(row0), G_(G) {}

  // Computed: x (row0[T], I) rows, w_t = W^T (I, G) row-major; both alive while the loop runs.
  InputSteps(const s_t* x, int64_t I, const s_t* w_t, const std::vector<int64_t>& row0, const std::vector<int64_t>& bsv,
             int64_t G, const at::TensorOptions& opts)
      : row0_(row0), G_(G), x_(x), I_(I), bsv_(&bsv), opts_(opts) {
    const int64_t first = bsv.empty() ? 0 : bsv[0];
    max_rows_ = std::max(first, kInputChunkBytes / std::max<int64_t>(G * static_cast<int64_t>(sizeof(s_t)), 1));
    gemm_.emplace(w_t, I, G, max_rows_, opts);
    gemm_->prime();  // before the ranges' threads share it
  }

  class Cursor {
   public:
    // The U row of (t, r0); the range's rows [r0, min(bsv[t], r1)) follow it, G apart.
    const s_t* step(int64_t t) {
      const InputSteps& in = *in_;
      if (in.u_ != nullptr) return in.u_ + (in.row0_[t] + r0_) * in.G_;
      if (t < t0_ || t >= t1_) fill(t);
      return buf_.template data_ptr<s_t>() + offset_[t - t0_] * in.G_;
    }

   private:
    friend class InputSteps;
    Cursor(const InputSteps* in, int64_t r0, int64_t r1) : in_(in), r0_(r0), r1_(r1) {
      if (in->u_ == nullptr) {  // from the pool (workspace.h): a chunk buffer is 256 KB or more, each call
        a_ = workspace_empty({in->max_rows_, in->I_}, in->opts_);
        buf_ = workspace_empty({in->max_rows_, in->G_}, in->opts_);
      }
    }

    // x's rows of steps t, t + 1, ... (as many as fit in max_rows_) gathered into a_, then one GEMM.
    void fill(int64_t t) {
      const InputSteps& in = *in_;
      const std::vector<int64_t>& bsv = *in.bsv_;
      const int64_t T = static_cast<int64_t>(bsv.size());
      s_t* a = a_.template data_ptr<s_t>();
      offset_.clear();
      int64_t rows = 0, s = t;
      for (; s < T; ++s) {
        const int64_t nr = std::min(bsv[s], r1_) - r0_;
        if (nr <= 0 || (s > t && rows + nr > in.max_rows_)) break;
        offset_.push_back(rows);
        std::memcpy(a + rows * in.I_, in.x_ + (in.row0_[s] + r0_) * in.I_, nr * in.I_ * sizeof(s_t));
        rows += nr;
      }
      t0_ = t;
      t1_ = s;
      (*in.gemm_)(buf_.template data_ptr<s_t>(), a, in.I_, rows);
    }

    const InputSteps* in_;
    int64_t r0_, r1_;
    int64_t t0_ = 0, t1_ = 0;  // the steps the chunk in buf_ holds
    std::vector<int64_t> offset_;  // per step of the chunk: its first row in buf_
    at::Tensor a_, buf_;
  };

  Cursor cursor(int64_t r0, int64_t r1) const { return Cursor(this, r0, r1); }

 private:
  const s_t* u_ = nullptr;
  std::vector<int64_t> row0_;
  int64_t G_;
  const s_t* x_ = nullptr;
  int64_t I_ = 0, max_rows_ = 0;
  const std::vector<int64_t>* bsv_ = nullptr;
  at::TensorOptions opts_;
  c10::optional<StepGemm<s_t>> gemm_;
};

}  // namespace rnnkit
