// Big kernel buffers kept between calls (a small caching allocator, as torch's CUDA one is).
//
// Each training step allocates the same multi-megabyte buffers (saved gates, gradient rows) and
// frees them when autograd drops its graph. glibc hands freed blocks of that size back to the OS
// (munmap, or a heap trim) and the next step pays a page fault per 4 KiB page to get them back: with
// the pool off vs on, S4 training of a peephole LSTM took 75.1 vs 68.4 ms, of a layer-norm LSTM 93.5
// vs 79.0 ms on the machine of benchmarks/README.md (S1/S2 within the noise). Buffers from
// workspace_empty come from storages the pool keeps; one is handed out again only when the pool
// holds the last reference to it (its storage's use count is 1: no tensor, view, autograd graph or
// numpy array of the user sees it any more), so reuse can never alias live data.
//
// Requests under kWorkspaceMinBytes go straight to at::empty (glibc serves those from its heap
// without faults). The pool keeps at most workspace_limit() bytes (RNNKIT_WORKSPACE_MB, default
// 1024; 0 turns the pool off); past the limit it forgets free storages first, then ones still in
// use (their tensors keep working and free their memory as usual). release_workspace() (Python:
// rnnkit.fused.release_workspace) frees every storage nobody else holds.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace rnnkit {

constexpr int64_t kWorkspaceMinBytes = 1 << 18;  // 256 KiB

// A tensor of `shape` (contiguous, opts' dtype and CPU device), uninitialised; reused memory when
// a free pooled storage fits.
at::Tensor workspace_empty(at::IntArrayRef shape, const at::TensorOptions& opts);

// workspace_empty, then zero-filled.
at::Tensor workspace_zeros(at::IntArrayRef shape, const at::TensorOptions& opts);

// workspace_zeros if zeroed, else workspace_empty: a buffer whose rows past a sequence's end must read 0
// only when some sequence ends early (ragged).
inline at::Tensor workspace_buffer(at::IntArrayRef shape, const at::TensorOptions& opts, bool zeroed) {
  return zeroed ? workspace_zeros(shape, opts) : workspace_empty(shape, opts);
}

// Bytes the pool holds (in use or free) and how many of them are free.
int64_t workspace_bytes();
int64_t workspace_free_bytes();

// The pool's limit in bytes (RNNKIT_WORKSPACE_MB, read per call; a value that is not a whole number
// of megabytes >= 0 reads as the default).
int64_t workspace_limit();

// Frees the pooled storages that nobody else holds; returns the bytes freed.
int64_t release_workspace();

}  // namespace rnnkit
