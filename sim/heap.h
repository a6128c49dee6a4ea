// The simulated world's heap: objects of the system under test that can
// be freed while other code still points at them (extent states, ordered
// extents, ioends, anything with a lock inside).
//
// Delete() runs the destructor, checks with lockdep that no held lock lies
// in the object (debug_check_no_locks_freed), then poisons the memory
// (0x6b, as slab's POISON_FREE) and keeps it in quarantine until the run
// ends, recording where and by whom it was freed. A later use of a lock or
// waitable inside it is therefore seen at the use (Waitable::alive() is
// false) and reported as use_after_free with the freeing site, the way
// KASAN reports it.
//
// Objects still alive at the end of a run are destroyed then, quietly.
#ifndef FSIM_SIM_HEAP_H_
#define FSIM_SIM_HEAP_H_

#include <cstddef>
#include <new>
#include <source_location>
#include <string>
#include <typeinfo>
#include <utility>
#include <unordered_map>
#include <vector>

#include "sim/flat_u64_map.h"
#include "sim/lockdep.h"
#include "sim/scheduler.h"

namespace fsim::sim {

class Heap final : public RunService {
 public:
  using Where = std::source_location;

  explicit Heap(Scheduler& sched) : sched_(sched) {}
  ~Heap() override;
  static Heap& Of(Scheduler& sched) { return sched.Service<Heap>(); }

  template <typename T, typename... Args>
  T* New(Args&&... args) {
    void* p = Allocate(sizeof(T), alignof(T), &Destroy<T>, typeid(T).name());
    return new (p) T(std::forward<Args>(args)...);
  }

  // Calls f(object, type, size, allocated_by) for every object of this run
  // not freed yet, in allocation order (kmemleak's scan, at a moment when
  // nothing should be left). `type` is typeid(T).name() of its New<T>.
  template <typename F>
  void ForEachLive(F&& f) const {
    for (const Block& b : blocks_) {
      if (!b.freed) f(static_cast<const void*>(b.p), b.type, b.size, b.allocated_by);
    }
  }
  // A readable name for a type ForEachLive gave (demangled, without
  // namespaces: "Page", "OrderedExtent").
  static std::string TypeName(const char* type);

  // kfree(). REQUIRES: `p` came from New() of this run and was not freed.
  template <typename T>
  void Delete(T* p, Where where = Where::current()) {
    if (p == nullptr) return;
    Free(p, where);
  }

  // If `addr` lies in an object freed in this run: "by fiber 'F' at
  // site". Empty otherwise.
  std::string FreedBy(const void* addr) const;
  // Whether `p`, a pointer New() returned in this run, was freed (false
  // for memory New() did not return). A hash lookup: cheap enough to ask
  // before every use of an object that may have been freed under its user.
  bool IsFreed(const void* p) const {
    const size_t* found = index_.Find(reinterpret_cast<uintptr_t>(p));
    return found != nullptr && blocks_[*found].freed;
  }
  // Reports use_after_free, KASAN's way, for a use of freed `p` by
  // `what`: where the object was freed and where it is used now.
  void ReportUseAfterFree(const void* p, std::string_view what, Where where = Where::current());

  // Reports use_after_free if `object` is not alive; returns alive().
  // `what` names the operation ("mutex_lock"). Reads nothing of `object`
  // but its magic word, so it is safe on freed memory; uses the running
  // scheduler.
  static bool CheckAlive(const Waitable& object, std::string_view what, Where where) {
    return Waitable::AliveAt(&object) || ReportDead(&object, what, where);
  }

  void OnRunBegin() override { Release(); }
  void OnRunEnd() override { Release(); }

 private:
  struct Block {
    char* p;
    size_t size;
    size_t align;
    void (*destroy)(void*);
    bool freed = false;
    const char* type = "";   // typeid(T).name()
    FiberSite allocated_by;  // the fiber that allocated it (its name only: `where` is New's)
    FiberSite freed_by;      // formatted only if a report needs it
  };
  template <typename T>
  static void Destroy(void* p) {
    static_cast<T*>(p)->~T();
  }
  static bool ReportDead(const void* object, std::string_view what, Where where);
  void* Allocate(size_t size, size_t align, void (*destroy)(void*), const char* type);
  void Free(void* p, Where where);
  void Release();

  // Memory of the blocks of runs that ended, by size and alignment, for
  // later runs to reuse: a run allocates the same objects as the one
  // before it, and the allocator's aligned path and first touches of
  // fresh memory were a tenth of an fs run. Within a run nothing is
  // reused (freed blocks stay poisoned in quarantine). Only looked up,
  // never iterated but to free it: addresses reach no choice or report.
  static constexpr size_t kAlignMask = 0xffff;
  static uint64_t PoolKey(size_t size, size_t align) { return uint64_t{size} << 16 | align; }
  std::unordered_map<uint64_t, std::vector<char*>> pool_;

  Scheduler& sched_;
  std::vector<Block> blocks_;
  // Block of each pointer New returned (lookups only: nothing iterates it,
  // so its order never reaches a choice or a report).
  FlatU64Map<size_t> index_;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_HEAP_H_
