// The lock validator: the kernel's lockdep (kernel/locking/lockdep.c,
// v5.13), on every lock of the simulated world, including page locks and
// extent range locks that real lockdep cannot track.
//
// It reports a possible deadlock the first time it sees two lock orders
// that can form a cycle, whether or not the run deadlocks: classes of
// locks (not instances) are nodes of a dependency graph; taking B while
// holding A adds the edge A -> B with the acquisition site; a new edge is
// checked by breadth-first search for a path back, and the shortest cycle
// is reported in the kernel's shape.
//
// Semantics kept from lockdep:
// - A class is keyed by a static LockClassKey (or, without one, by the
//   lock's name), plus a subclass (0-7) for deliberate nesting of one
//   class; a held nest lock allows nesting of one class, as
//   mutex_lock_nest_lock().
// - Edges carry lockdep's dependency kinds (-(ER)->, -(EN)->, -(SR)->,
//   -(SN)->: exclusive/shared holder, recursive/non-recursive acquirer); a
//   cycle is reported only if it is a strong path (no -(*R)-> followed by
//   -(S*)->), so recursive readers do not deadlock each other.
//   rw_semaphore readers are non-recursive (read 1), as in the kernel;
//   PseudoLock::AcquireRead is recursive (read 2), as lock_map_acquire_read.
// - A trylock adds no edge into the lock it takes; edges from it are added
//   by later acquisitions, which also walk past it to the lock below.
// - A chain of held classes already validated is not validated again (the
//   chain-key cache).
// - IRQ safety: a class taken in interrupt context and also with
//   interrupts enabled elsewhere, directly or through a dependency path,
//   is an inversion.
// - Misuse: release of a lock not held, recursive acquisition, a fiber
//   returning with locks held, a held lock freed, a lock re-initialised
//   while held, a lock used after it was freed (with where it was freed).
// - Limits: every table is bounded; overflowing one is reported and turns
//   the validator off for the rest of the run, as the kernel does.
//
// Lockdep's state belongs to one run: it starts empty, so a finding never
// depends on what earlier runs did.
//
// Locking rules: none (the simulation is single-threaded).
#ifndef FSIM_SIM_LOCKDEP_H_
#define FSIM_SIM_LOCKDEP_H_

#include <array>
#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sim/flat_u64_map.h"
#include "sim/limits.h"
#include "sim/where.h"
#include "sim/scheduler.h"

namespace fsim::sim {

inline constexpr int kLockSubclassesMax = 8;     // MAX_LOCKDEP_SUBCLASSES
inline constexpr int kHeldLocksMax = 48;          // MAX_LOCK_DEPTH
inline constexpr size_t kLockClassesMax = 1024;   // MAX_LOCKDEP_KEYS
inline constexpr size_t kLockEdgesMax = 16384;    // MAX_LOCKDEP_ENTRIES
inline constexpr size_t kLockChainsMax = 65536;   // MAX_LOCKDEP_CHAINS
inline constexpr size_t kLockBfsQueueMax = 4096;  // MAX_CIRCULAR_QUEUE_SIZE

// The kernel's struct lock_class_key: a static object whose identity names
// a class of locks. Declare one per lock "type" (per init site).
struct LockClassKey {
  const char* name;
};

// How a lock is taken: lock_acquire()'s `read` argument.
enum class LockRead : uint8_t {
  kExclusive = 0,
  kShared = 1,     // non-recursive reader (rw_semaphore down_read)
  kRecursive = 2,  // recursive reader (lock_map_acquire_read)
};

// The kernel's lockdep_map: embedded in every lock instance.
class LockMap {
 public:
  // Class by `key` if given, else by `name`.
  LockMap(std::string_view name, const LockClassKey* key)
      : name_(name), key_(key) {}
  const std::string& name() const { return name_; }
  const LockClassKey* key() const { return key_; }

 private:
  friend class Lockdep;
  std::string name_;
  const LockClassKey* key_;
  // The class of each subclass, cached for one run (run generation).
  uint64_t cache_run_ = 0;
  int32_t cache_[kLockSubclassesMax] = {};
};

class Lockdep final : public RunService {
 public:
  using Where = std::source_location;

  explicit Lockdep(Scheduler& sched);
  ~Lockdep() override;

  static Lockdep& Of(Scheduler& sched) { return sched.Service<Lockdep>(); }

  // lock_acquire(): validates, then pushes the lock on the current fiber's
  // held stack. Call before waiting for the lock, as the kernel does, so
  // that an inversion is reported even if the wait would never end.
  // `nest` (may be null) is a held lock that serialises nesting of this
  // class. REQUIRES: in a fiber.
  void Acquire(LockMap& map, int subclass, bool trylock, LockRead read,
               Where where, const LockMap* nest = nullptr);
  // lock_release(). Reports misuse if the lock is not held.
  void Release(LockMap& map, Where where);
  // lockdep_init_map() on a lock already in use: a new name and key.
  // Reports misuse if any fiber holds it.
  void Reinit(LockMap& map, std::string_view name, const LockClassKey* key,
              Where where);
  // Release of a lock held by another fiber `owner`, on its behalf: a lock
  // handed over to another context (an extent range unlocked at I/O
  // completion), as the kernel's *_release annotations at a hand-off.
  // Reports misuse if `owner` does not hold it.
  void ReleaseFor(FiberId owner, LockMap& map, Where where);
  // The current fiber now holds the lock it requested with Acquire() (after
  // any wait). Only tells the tracer (sim/tracer.h): lock primitives call
  // it where the wait ends; a trylock needs no call.
  void Acquired(const LockMap& map) {
    if (Tracer* t = sched_.tracer(); t != nullptr) [[unlikely]] t->LockAcquired(map);
  }
  // True if the current fiber holds `map`.
  bool Held(const LockMap& map) const;
  // debug_check_no_locks_freed(): reports a held lock inside [begin,
  // begin+size) and returns true.
  bool CheckFreed(const void* begin, size_t size, Where where);

  void OnRunBegin() override;
  void OnFiberExit(Fiber& fiber) override;

  // --- The observed graph (for `fsim lockgraph`) and statistics --------
  struct Edge {
    std::string from, to;  // class names
    uint8_t dep;           // DEP_*_MASK bits
    std::string where;     // acquisition site of `to`
    std::string fiber;
    // The dependency whose addition was reported as closing a cycle: the
    // kernel does not add it to the graph; it is listed last so that a
    // picture of the graph shows the cycle.
    bool closes_cycle = false;
  };
  std::vector<Edge> Edges() const;
  std::vector<std::string> ClassNames() const;
  uint64_t acquisitions() const { return acquisitions_; }
  uint64_t chain_hits() const { return chain_hits_; }
  // Bench and tests: validate every chain, as if the cache always missed.
  void set_chain_cache(bool on) { chain_cache_on_ = on; }

 private:
  struct Class;
  struct EdgeRec;
  struct HeldLock;
  struct FiberLocks;
  struct BfsNode;

  bool Enabled() const;
  int ClassOf(LockMap& map, int subclass);
  void Push(FiberLocks& fl, const HeldLock& held);
  int FindHeld(FiberLocks& fl, LockMap& map);
  void MarkUsage(const HeldLock& held);
  bool CheckDeadlock(FiberLocks& fl, int index);
  bool CheckPrevAdd(FiberLocks& fl, const HeldLock& prev,
                    const HeldLock& next);
  // Breadth-first search along strong paths from `root`: the index in
  // bfs_ of the first node `match` accepts, -1 if none, -2 if the queue
  // limit was hit (then reported, and lockdep is off for the run).
  template <typename Match>
  int Bfs(int root, bool root_only_xr, bool forward, Match match);
  bool CheckIrqDependency(const FiberLocks& fl, const HeldLock& prev,
                          const HeldLock& next);
  void ReportCircular(const FiberLocks& fl, const HeldLock& prev,
                      const HeldLock& next, int target);
  void ReportUsage(const HeldLock& held, uint8_t new_bit, uint8_t old_bit);
  void ReportLimit(const char* what);
  void Emit(FindingKind kind, std::string signature, std::string report);
  std::string HeldLocksText(FiberId fiber) const;
  std::string LockText(const HeldLock& h) const;
  std::string ClassText(int cls) const;
  std::string FiberText() const;

  Scheduler& sched_;
  uint64_t run_ = 0;
  bool disabled_ = false;
  bool dirty_ = false;  // anything recorded since the last OnRunBegin
  bool chain_cache_on_ = true;
  std::vector<Class> classes_;  // [0, classes_used_) belong to this run
  size_t classes_used_ = 0;
  std::vector<EdgeRec> edges_;
  std::vector<EdgeRec> cycle_edges_;  // reported, not added
  FlatU64Map<int32_t> class_by_name_;  // NameHash(name) x subclass -> class; lookup only
  FlatU64Map<int32_t> class_by_key_;   // key x subclass -> class; lookup only
  FlatU64Map<bool> chains_;            // validated chain keys; lookup only
  std::vector<FiberLocks> fibers_;
  // One past the highest fiber id that took a lock since the last reset:
  // only those slots need clearing at the next run.
  FiberId fibers_high_ = 0;
  std::vector<BfsNode> bfs_;         // reused queue
  std::vector<uint8_t> bfs_seen_;    // per class: bit 0/1 for only_xr
  uint64_t acquisitions_ = 0;
  uint64_t chain_hits_ = 0;
};

// A lockdep_map with no lock behind it, as the kernel's pseudo-locks
// (fs_reclaim, transaction "locks"): acquiring it only records
// dependencies.
class PseudoLock {
 public:
  PseudoLock(Scheduler& sched, std::string_view name,
             const LockClassKey* key = nullptr)
      : lockdep_(Lockdep::Of(sched)), map_(name, key) {}
  void Acquire(Lockdep::Where where = Lockdep::Where::current()) {
    lockdep_.Acquire(map_, 0, false, LockRead::kExclusive, where);
    lockdep_.Acquired(map_);
  }
  // lock_map_acquire_read(): a recursive read.
  void AcquireRead(Lockdep::Where where = Lockdep::Where::current()) {
    lockdep_.Acquire(map_, 0, false, LockRead::kRecursive, where);
    lockdep_.Acquired(map_);
  }
  void Release(Lockdep::Where where = Lockdep::Where::current()) {
    lockdep_.Release(map_, where);
  }
  LockMap& map() { return map_; }

 private:
  Lockdep& lockdep_;
  LockMap map_;
};

// The kernel's fs_reclaim annotation. An allocation that may enter
// filesystem reclaim (GFP_KERNEL) calls MightEnterReclaim(): every lock
// held then gains the dependency lock -> fs_reclaim. The reclaim path
// (direct reclaim, kswapd) holds fs_reclaim with Enter()/Exit() while it
// writes back pages, so the locks writeback takes gain fs_reclaim -> lock.
// Both together form the cycle lockdep reports.
class FsReclaim final : public RunService {
 public:
  explicit FsReclaim(Scheduler& sched);
  static FsReclaim& Of(Scheduler& sched) { return sched.Service<FsReclaim>(); }
  void MightEnterReclaim(Lockdep::Where where = Lockdep::Where::current());
  void Enter(Lockdep::Where where = Lockdep::Where::current());
  void Exit(Lockdep::Where where = Lockdep::Where::current());

 private:
  PseudoLock lock_;
};

// Where something happened and which fiber did it, kept as it is during a
// run and turned into text only when a report is printed: a run that
// finds nothing formats nothing.
struct FiberSite {
  std::source_location where;
  std::array<char, kFiberNameMax> fiber{};  // "main" outside a fiber

  // The current fiber (or "main") at `where`.
  static FiberSite Here(const Scheduler& sched, const std::source_location& where);
  const char* fiber_name() const { return fiber.data(); }
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_LOCKDEP_H_
