// Python bindings of rnnkit's compiled recurrent kernels (built just in time by rnnkit.fused.build).
//
// Only pybind11 and torch's Tensor type casters: <torch/extension.h> (torch's whole C++ frontend) made this
// file alone take 25 s of the build's ~90 s of compile time, on its critical path; with these 15 s.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include <vector>

#include "densegemm.h"
#include "fastmath.h"
#include "rowsplit.h"
#include "stepgemm.h"
#include "workspace.h"

namespace rnnkit {
using at::Tensor;

// The kernels' own sigmoid and tanh (activations.h) of every element of x (float32 or float64), for the
// accuracy test (tests/fused/test_activations.py).
std::vector<Tensor> activations(const Tensor& x) {
  const Tensor xc = x.contiguous();
  Tensor sig = at::empty_like(xc), th = at::empty_like(xc);
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "rnnkit_activations", [&] {
    const scalar_t* in = xc.data_ptr<scalar_t>();
    scalar_t* s = sig.data_ptr<scalar_t>();
    scalar_t* t = th.data_ptr<scalar_t>();
    for (int64_t k = 0; k < xc.numel(); ++k) {
      s[k] = sigm<scalar_t>(in[k]);
      t[k] = tanh_<scalar_t>(in[k]);
    }
  });
  return {sig, th};
}

std::vector<Tensor> lstm_forward(const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                                 const c10::optional<Tensor>& w_hr, const c10::optional<Tensor>& peep,
                                 const Tensor& batch_sizes, int64_t total_steps, double forget_bias,
                                 double cell_clip, double proj_clip, bool save, int64_t mode,
                                 const c10::optional<Tensor>& hk, const c10::optional<Tensor>& ck, double rate_h,
                                 double rate_c, const c10::optional<Tensor>& bias,
                                 const c10::optional<Tensor>& w_ih);
std::vector<Tensor> lstm_backward(const Tensor& dY, const Tensor& dhn, const Tensor& dcn, const Tensor& h0,
                                  const Tensor& c0, const Tensor& w_hh, const c10::optional<Tensor>& w_hr,
                                  const c10::optional<Tensor>& peep, const Tensor& batch_sizes, const Tensor& Y,
                                  const Tensor& G, const Tensor& C, const Tensor& TC, const c10::optional<Tensor>& CR,
                                  const c10::optional<Tensor>& M, const c10::optional<Tensor>& HR,
                                  double cell_clip, double proj_clip, int64_t mode, const c10::optional<Tensor>& hk,
                                  const c10::optional<Tensor>& ck, double rate_h, double rate_c,
                                  const c10::optional<Tensor>& HP, const c10::optional<Tensor>& CT);
std::vector<Tensor> gru_forward(const Tensor& xp, const Tensor& h0, const Tensor& w_hh,
                                const c10::optional<Tensor>& b_hh_opt, const Tensor& batch_sizes,
                                int64_t total_steps, bool reset_after, bool save,
                                const c10::optional<Tensor>& b_ih, const c10::optional<Tensor>& w_ih);
std::vector<Tensor> gru_backward(const Tensor& dY, const Tensor& dhn, const Tensor& h0, const Tensor& w_hh,
                                 bool has_bias, const Tensor& batch_sizes, const Tensor& Y, const Tensor& G,
                                 const Tensor& X, bool reset_after);
std::vector<Tensor> elman_forward(const Tensor& xp, const Tensor& h0, const Tensor& w_hh, const Tensor& batch_sizes,
                                  int64_t total_steps, bool relu);
std::vector<Tensor> elman_backward(const Tensor& dY, const Tensor& dhn, const Tensor& h0, const Tensor& w_hh,
                                   const Tensor& batch_sizes, const Tensor& Y, bool relu);
std::vector<Tensor> lnlstm_forward(const Tensor& xp, const Tensor& g_ih, const c10::optional<Tensor>& shift,
                                   const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                                   const Tensor& g_hh, const Tensor& g_c, const Tensor& b_c,
                                   const Tensor& batch_sizes, int64_t total_steps, double forget_bias, double eps,
                                   bool save, const c10::optional<Tensor>& w_ih);
std::vector<Tensor> lnlstm_backward(const Tensor& dY, const Tensor& dhn, const Tensor& dcn, const Tensor& U,
                                    const Tensor& g_ih, const Tensor& h0,
                                    const Tensor& c0, const Tensor& w_hh, const Tensor& g_hh, const Tensor& g_c,
                                    const Tensor& b_c, const Tensor& batch_sizes, const Tensor& Y, const Tensor& G,
                                    const Tensor& RN, const Tensor& C, const Tensor& RS);
std::vector<Tensor> keep_masks(int64_t steps, const std::vector<int64_t>& sizes, const std::vector<double>& rates);
}  // namespace rnnkit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "rnnkit compiled recurrent kernels (whole time loop in C++)";
  m.def("activations", &rnnkit::activations, "the kernels' sigmoid and tanh of every element");
  m.def("lstm_forward", &rnnkit::lstm_forward, "LSTM forward over all steps");
  m.def("lstm_backward", &rnnkit::lstm_backward, "LSTM backward over all steps");
  m.def("gru_forward", &rnnkit::gru_forward, "GRU forward over all steps");
  m.def("gru_backward", &rnnkit::gru_backward, "GRU backward over all steps");
  m.def("elman_forward", &rnnkit::elman_forward, "Elman RNN forward over all steps");
  m.def("lnlstm_forward", &rnnkit::lnlstm_forward, "layer-norm LSTM forward over all steps");
  m.def("lnlstm_backward", &rnnkit::lnlstm_backward, "layer-norm LSTM backward over all steps");
  m.def("elman_backward", &rnnkit::elman_backward, "Elman RNN backward over all steps");
  m.def("packed_gemm_available", &rnnkit::packed_gemm_available, "whether this libtorch exports MKL's packed GEMM");
  m.def("packed_gemm_enabled", &rnnkit::packed_gemm_enabled,
        "whether float step GEMMs of 2-31 rows use MKL's packed GEMM (available and RNNKIT_PACKED_GEMM is not 0)");
  m.def("dense_gemm_available", &rnnkit::dense_gemm_available, "whether this libtorch exports oneDNN's matmul");
  m.def("intel_cpu", &rnnkit::intel_cpu, "whether CPUID names Intel as the vendor (MKL's tuned kernels)");
  m.def("dense_gemm_enabled", &rnnkit::dense_gemm_enabled,
        "whether whole-sequence float GEMMs use oneDNN (available, and RNNKIT_ONEDNN_GEMM=1, or unset on a CPU "
        "not by Intel)");
  m.def("dense_mm", static_cast<at::Tensor (*)(const at::Tensor&, const at::Tensor&)>(&rnnkit::dense_mm),
        "a @ b, through oneDNN's matmul for large float GEMMs (row-major or transposed operands)");
  m.def("row_ranges", &rnnkit::row_ranges,
        "the batch split's row bounds for batch_sizes, B rows and the step GEMMs' weight bytes (rowsplit.h)");
  m.def("l2_bytes", &rnnkit::l2_bytes, "a core's L2 in bytes, as the batch-split rule reads it");
  m.def("workspace_bytes", &rnnkit::workspace_bytes, "bytes the kernels' buffer pool holds (in use or free)");
  m.def("workspace_free_bytes", &rnnkit::workspace_free_bytes, "bytes of the pool that no tensor uses");
  m.def("workspace_limit", &rnnkit::workspace_limit, "the pool's limit in bytes (RNNKIT_WORKSPACE_MB)");
  m.def("release_workspace", &rnnkit::release_workspace, "free the pooled buffers nobody uses; returns the bytes");
  m.def("keep_masks", &rnnkit::keep_masks, "zoneout keep masks, drawn as torch.rand(...) < rate would draw them");
}
