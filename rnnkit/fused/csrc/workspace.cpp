// The kernels' buffer pool (see workspace.h).
#include "workspace.h"

#include <c10/util/accumulate.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace rnnkit {

namespace {

struct Pool {
  std::mutex mutex;
  std::vector<c10::Storage> storages;  // oldest first
  int64_t bytes = 0;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: tensors may outlive static destruction at exit
  return *p;
}

bool is_free(const c10::Storage& s) { return s.use_count() == 1; }

// Drops storages (free ones first, then the oldest) until `incoming` more bytes fit the limit.
void make_room(Pool& p, int64_t incoming, int64_t limit) {
  for (int pass = 0; pass < 2 && p.bytes + incoming > limit; ++pass) {
    for (size_t i = 0; i < p.storages.size() && p.bytes + incoming > limit;) {
      if (pass == 1 || is_free(p.storages[i])) {
        p.bytes -= static_cast<int64_t>(p.storages[i].nbytes());
        p.storages.erase(p.storages.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }
}

}  // namespace

int64_t workspace_limit() {
  // read per call (a getenv per buffer is noise next to the buffer's use), so that a benchmark can
  // time the same kernel with and without the pool in one process
  constexpr int64_t kDefault = int64_t{1024} << 20;
  const char* env = std::getenv("RNNKIT_WORKSPACE_MB");
  if (env == nullptr || *env == '\0') return kDefault;
  char* end = nullptr;
  const long long mb = std::strtoll(env, &end, 10);
  return (end != nullptr && *end == '\0' && mb >= 0) ? static_cast<int64_t>(mb) << 20 : kDefault;
}

at::Tensor workspace_empty(at::IntArrayRef shape, const at::TensorOptions& opts) {
  const int64_t numel = c10::multiply_integers(shape);
  const int64_t need = numel * static_cast<int64_t>(opts.dtype().itemsize());
  const int64_t limit = workspace_limit();
  if (need < kWorkspaceMinBytes || need > limit || opts.device().type() != c10::kCPU) return at::empty(shape, opts);
  Pool& p = pool();
  c10::Storage storage;
  {
    std::lock_guard<std::mutex> guard(p.mutex);
    // the smallest free storage that fits without wasting more than half of it
    int64_t best = -1;
    for (size_t i = 0; i < p.storages.size(); ++i) {
      const int64_t have = static_cast<int64_t>(p.storages[i].nbytes());
      if (have >= need && have <= 2 * need && is_free(p.storages[i]) &&
          (best < 0 || have < static_cast<int64_t>(p.storages[best].nbytes()))) {
        best = static_cast<int64_t>(i);
      }
    }
    if (best >= 0) {
      storage = p.storages[best];  // use count 2 from here on: nobody else can take it
    } else {
      at::Tensor fresh = at::empty({need}, opts.dtype(at::kByte));
      storage = fresh.storage();
      make_room(p, need, limit);
      p.storages.push_back(storage);
      p.bytes += need;
    }
  }
  return at::empty({0}, opts).set_(storage, 0, shape);
}

at::Tensor workspace_zeros(at::IntArrayRef shape, const at::TensorOptions& opts) {
  return workspace_empty(shape, opts).zero_();
}

int64_t workspace_bytes() {
  Pool& p = pool();
  std::lock_guard<std::mutex> guard(p.mutex);
  return p.bytes;
}

int64_t workspace_free_bytes() {
  Pool& p = pool();
  std::lock_guard<std::mutex> guard(p.mutex);
  int64_t free = 0;
  for (const auto& s : p.storages) {
    if (is_free(s)) free += static_cast<int64_t>(s.nbytes());
  }
  return free;
}

int64_t release_workspace() {
  Pool& p = pool();
  std::lock_guard<std::mutex> guard(p.mutex);
  const int64_t before = p.bytes;
  auto freed = std::remove_if(p.storages.begin(), p.storages.end(), [&](const c10::Storage& s) {
    if (!is_free(s)) return false;
    p.bytes -= static_cast<int64_t>(s.nbytes());
    return true;
  });
  p.storages.erase(freed, p.storages.end());
  return before - p.bytes;
}

}  // namespace rnnkit
