// Zoneout keep masks drawn from torch's default CPU generator, number for number as torch.rand draws them.
//
// The reference runner draws each step's masks as `torch.rand(shape) < rate` (float32), leaf after leaf,
// step after step. torch fills a CPU tensor serially from its MT19937 engine: one 32-bit output per
// float, u = (y & (2^24 - 1)) * 2^-24. keep_masks() reproduces that stream (same engine, same order)
// with the state twist and the tempering written as loops the compiler vectorises, compares the 24-bit
// integers against rate * 2^24 directly (exact: both sides are integers scaled by a power of two), and
// writes the engine state back, so the generator is left exactly where torch.rand would leave it.
// Python checks once per process that this equals torch.rand (rnnkit.fused.compiled_zoneout) and
// falls back to torch.rand otherwise.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/MT19937RNGEngine.h>

#include "workspace.h"

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

namespace rnnkit {

using at::Tensor;

namespace {

constexpr int kN = 624, kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0df, kUpper = 0x80000000, kLower = 0x7fffffff;

inline uint32_t twist(uint32_t u, uint32_t v) { return (((u & kUpper) | (v & kLower)) >> 1) ^ ((v & 1u) ? kMatrixA : 0u); }

// at::mt19937_engine::next_state: the first loop reads only not-yet-updated words, the second reads words
// updated 227 iterations earlier, so both vectorise.
void next_state(uint32_t* s) {
  for (int j = 0; j < kN - kM; ++j) s[j] = s[j + kM] ^ twist(s[j], s[j + 1]);
  for (int j = kN - kM; j < kN - 1; ++j) s[j] = s[j + kM - kN] ^ twist(s[j], s[j + 1]);
  s[kN - 1] = s[kM - 1] ^ twist(s[kN - 1], s[0]);
}

inline uint32_t temper(uint32_t y) {
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

// Takes `count` outputs of the engine (state s, counters left/next as in mt19937_data_pod) and writes
// keep[k] = (float(y & 2^24-1) * 2^-24 < rate_f).
void draw(uint32_t* s, int& left, uint32_t& next, int64_t count, float threshold, uint8_t* keep) {
  int64_t done = 0;
  while (done < count) {
    if (left <= 1) {  // the engine twists when a call brings left to 0
      next_state(s);
      left = kN + 1;
      next = 0;
    }
    const int64_t take = std::min<int64_t>(count - done, left - 1);
    const uint32_t* src = s + next;
    uint8_t* out = keep + done;  // bytes, not bool: GCC vectorises no loop over bool (see lstm_rules.h)
    for (int64_t k = 0; k < take; ++k) {
      out[k] = static_cast<float>(temper(src[k]) & 0xffffffu) < threshold;  // exact: 24 bits
    }
    next += static_cast<uint32_t>(take);
    left -= static_cast<int>(take);
    done += take;
  }
}

}  // namespace

// For steps t < steps and leaves l in order: sizes[l] numbers each, keep = u < rates[l] (float32 compare).
// Returns one (steps, sizes[l]) bool tensor per leaf.
std::vector<Tensor> keep_masks(int64_t steps, const std::vector<int64_t>& sizes, const std::vector<double>& rates) {
  TORCH_CHECK(sizes.size() == rates.size(), "keep_masks: one rate per size");
  std::vector<Tensor> masks;
  std::vector<float> thresholds;
  for (size_t l = 0; l < sizes.size(); ++l) {
    masks.push_back(workspace_empty({steps, sizes[l]}, at::TensorOptions().dtype(at::kBool)));
    // torch compares in float32: the rate is rounded to float; * 2^24 is exact (a power of two)
    thresholds.push_back(static_cast<float>(rates[l]) * 16777216.0f);
  }
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  auto* impl = at::check_generator<at::CPUGeneratorImpl>(gen);
  at::mt19937 engine = impl->engine();
  at::mt19937_data_pod pod = engine.data();
  int left = pod.left_;
  uint32_t next = pod.next_;
  for (int64_t t = 0; t < steps; ++t) {
    for (size_t l = 0; l < sizes.size(); ++l) {
      uint8_t* keep = reinterpret_cast<uint8_t*>(masks[l].data_ptr<bool>()) + t * sizes[l];
      draw(pod.state_.data(), left, next, sizes[l], thresholds[l], keep);
    }
  }
  pod.left_ = left;
  pod.next_ = next;
  engine.set_data(pod);
  impl->set_engine(engine);
  return masks;
}

}  // namespace rnnkit
