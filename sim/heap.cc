#include "sim/heap.h"

#include <cstdlib>
#include <cstring>
#include <cxxabi.h>

#include "sim/check.h"
#include "sim/lockdep.h"

namespace fsim::sim {

namespace {
std::string FreedByText(const FiberSite& site) {
  return std::string("by fiber '") + site.fiber_name() + "' at " + WhereText(site.where);
}
}  // namespace

Heap::~Heap() {
  Release();
  for (auto& [key, memory] : pool_) {
    for (char* p : memory) ::operator delete(p, std::align_val_t(key & kAlignMask));
  }
}

void* Heap::Allocate(size_t size, size_t align, void (*destroy)(void*), const char* type) {
  size_t rounded = (size + align - 1) / align * align;
  FSIM_CHECK(align <= kAlignMask && (align & (align - 1)) == 0);
  std::vector<char*>& pooled = pool_[PoolKey(rounded, align)];
  char* p;
  if (!pooled.empty()) {
    p = pooled.back();
    pooled.pop_back();
  } else {
    p = static_cast<char*>(::operator new(rounded, std::align_val_t(align)));
  }
  index_.Set(reinterpret_cast<uintptr_t>(p), blocks_.size());
  blocks_.push_back({p, rounded, align, destroy, false, type, FiberSite::Here(sched_, Where::current()), {}});
  return p;
}

std::string Heap::TypeName(const char* type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : type;
  std::free(demangled);
  // The last component of a qualified name ("fsim::fs::Page" -> "Page").
  size_t depth = 0, cut = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '<') ++depth;
    if (name[i] == '>' && depth > 0) --depth;
    if (depth == 0 && name[i] == ':' && i + 1 < name.size() && name[i + 1] == ':') cut = i + 2;
  }
  return name.substr(cut);
}

void Heap::Free(void* p, Where where) {
  const size_t* found = index_.Find(reinterpret_cast<uintptr_t>(p));
  Block* block = found == nullptr ? nullptr : &blocks_[*found];
  FSIM_CHECK_MSG(block != nullptr, "Heap::Delete of memory Heap::New did not return");
  if (block->freed) {
    Finding f;
    f.kind = FindingKind::kUseAfterFree;
    f.signature = "use_after_free:double_free";
    f.report = "BUG: KASAN: double-free in kfree at " + WhereText(where) +
               "\n  the object was freed " + FreedByText(block->freed_by);
    sched_.Report(std::move(f));
    return;
  }
  Lockdep::Of(sched_).CheckFreed(p, block->size, where);
  block->destroy(p);
  std::memset(block->p, 0x6b, block->size);
  block->freed = true;
  block->freed_by = FiberSite::Here(sched_, where);
}

std::string Heap::FreedBy(const void* addr) const {
  auto a = reinterpret_cast<const char*>(addr);
  for (const Block& b : blocks_) {
    if (b.freed && a >= b.p && a < b.p + b.size) return FreedByText(b.freed_by);
  }
  return {};
}

void Heap::ReportUseAfterFree(const void* p, std::string_view what, Where where) {
  Finding f;
  f.kind = FindingKind::kUseAfterFree;
  f.signature = "use_after_free:" + std::string(what);
  f.report = "BUG: KASAN: use-after-free in " + std::string(what) + " at " + WhereText(where) +
             "\n  the object was freed " + FreedBy(p);
  sched_.Report(std::move(f));
}

bool Heap::ReportDead(const void* object, std::string_view what, Where where) {
  Scheduler* running = Scheduler::Running();
  FSIM_CHECK_MSG(running != nullptr, "use of a freed object outside a run");
  Scheduler& sched_ = *running;
  std::string freed = Of(sched_).FreedBy(object);
  Finding f;
  f.kind = FindingKind::kUseAfterFree;
  f.signature = "use_after_free:" + std::string(what);
  const char* fiber = sched_.in_fiber() ? sched_.fiber(sched_.current()).name : "main";
  f.report = "BUG: KASAN: use-after-free in " + std::string(what) + "\n" +
             "  fiber '" + fiber + "' at " + WhereText(where) + " uses an object that " +
             (freed.empty() ? std::string("was destroyed") : "was freed " + freed);
  sched_.Report(std::move(f));
  return false;
}

void Heap::Release() {
  for (Block& b : blocks_) {
    if (!b.freed) b.destroy(b.p);
  }
  // The memory stays for the next run's objects of the same size.
  for (Block& b : blocks_) pool_[PoolKey(b.size, b.align)].push_back(b.p);
  blocks_.clear();
  index_.Clear();
}

}  // namespace fsim::sim
