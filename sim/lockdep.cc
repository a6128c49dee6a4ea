#include "sim/lockdep.h"

#include <set>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>

#include "sim/check.h"
#include "sim/random.h"

namespace fsim::sim {
namespace {

// lock_list::dep bits for a dependency prev -> next (lockdep.c):
//   bit 0: prev->read == 0 (exclusive holder), bit 1: next->read != 2.
constexpr uint8_t kDepSR = 1 << 0;  // shared holder, recursive acquirer
constexpr uint8_t kDepER = 1 << 1;  // exclusive holder, recursive acquirer
constexpr uint8_t kDepSN = 1 << 2;  // shared holder, non-recursive acquirer
constexpr uint8_t kDepEN = 1 << 3;  // exclusive holder, non-recursive acquirer

uint8_t CalcDep(LockRead prev, LockRead next) {
  int bit = (prev == LockRead::kExclusive) + ((next != LockRead::kRecursive) << 1);
  return static_cast<uint8_t>(1u << bit);
}
// The same dependency seen from `next` backwards (calc_depb).
uint8_t CalcDepBackward(LockRead prev, LockRead next) {
  int bit = (next != LockRead::kRecursive) + ((prev == LockRead::kExclusive) << 1);
  return static_cast<uint8_t>(1u << bit);
}

// Usage bits of a class (the HARDIRQ state of lockdep_states.h).
constexpr uint8_t kUsedInIrq = 1 << 0;       // IN-HARDIRQ-W
constexpr uint8_t kUsedInIrqRead = 1 << 1;   // IN-HARDIRQ-R
constexpr uint8_t kEnabledIrq = 1 << 2;      // HARDIRQ-ON-W
constexpr uint8_t kEnabledIrqRead = 1 << 3;  // HARDIRQ-ON-R
constexpr uint8_t kSafeMask = kUsedInIrq | kUsedInIrqRead;
constexpr uint8_t kUnsafeMask = kEnabledIrq | kEnabledIrqRead;

const char* UsageName(uint8_t bit) {
  switch (bit) {
    case kUsedInIrq: return "IN-HARDIRQ-W";
    case kUsedInIrqRead: return "IN-HARDIRQ-R";
    case kEnabledIrq: return "HARDIRQ-ON-W";
    default: return "HARDIRQ-ON-R";
  }
}
int UsageIndex(uint8_t bit) { return std::countr_zero(bit) & 3; }

// Which earlier usage a new usage bit conflicts with (mark_lock_irq's
// exclusive bits): in-irq writes conflict with any irq-enabled use;
// in-irq reads only with irq-enabled writes, and vice versa.
uint8_t Conflicting(uint8_t bit) {
  switch (bit) {
    case kUsedInIrq: return kEnabledIrq | kEnabledIrqRead;
    case kUsedInIrqRead: return kEnabledIrq;
    case kEnabledIrq: return kUsedInIrq | kUsedInIrqRead;
    default: return kUsedInIrq;
  }
}

}  // namespace

struct Lockdep::Class {
  std::string name;       // as printed: base[#version][/subclass]
  std::string init_name;  // name of the first lock seen with this key
  std::vector<int> after;   // edges from this class
  std::vector<int> before;  // edges into this class
  uint8_t usage = 0;
  FiberSite usage_where[4];  // where each usage bit was first set
};

struct Lockdep::EdgeRec {
  int from, to;
  uint8_t dep;   // forward dependency kinds
  uint8_t depb;  // the same, for backward searches
  Lockdep::Where where;       // where `to` was taken
  Lockdep::Where prev_where;  // where `from` had been taken
  std::array<char, kFiberNameMax> fiber;
};

struct Lockdep::HeldLock {
  const LockMap* map = nullptr;
  int cls = 0;
  LockRead read = LockRead::kExclusive;
  bool trylock = false;
  bool irq_context = false;
  bool irqs_enabled = false;
  Where where;
  const LockMap* nest = nullptr;
  uint64_t chain_key = 0;
  // hlock->references: instances of this class taken under `nest` right
  // after this one share its entry, counted here with it (0: not shared).
  int references = 0;
};

struct Lockdep::FiberLocks {
  HeldLock held[kHeldLocksMax];
  int depth = 0;
};

struct Lockdep::BfsNode {
  int cls;
  bool only_xr;
  int parent;  // index in bfs_, -1 for the root
  int edge;    // the edge that reached this node, -1 for the root
};

FiberSite FiberSite::Here(const Scheduler& sched, const std::source_location& where) {
  FiberSite site;
  site.where = where;
  const char* name = sched.in_fiber() ? sched.fiber(sched.current()).name : "main";
  // (A copy, not snprintf: every heap allocation and free records one.)
  const size_t n = strnlen(name, site.fiber.size() - 1);
  std::memcpy(site.fiber.data(), name, n);
  site.fiber[n] = '\0';
  return site;
}

namespace {
std::string UsageText(const FiberSite& site) {
  return WhereText(site.where) + " by fiber '" + site.fiber_name() + "'";
}
}  // namespace

Lockdep::Lockdep(Scheduler& sched) : sched_(sched), fibers_(kFibersMax) {
  sched_.set_held_locks_describer(
      [this](FiberId id) { return Enabled() ? HeldLocksText(id) : std::string(); });
}
Lockdep::~Lockdep() { sched_.set_held_locks_describer(nullptr); }

void Lockdep::OnRunBegin() {
  ++run_;  // invalidates every LockMap's class cache
  disabled_ = !sched_.options().lockdep;
  if (!dirty_) return;  // runs without locks cost nothing here
  dirty_ = false;
  classes_used_ = 0;  // the Class objects stay, with their memory
  edges_.clear();
  cycle_edges_.clear();
  class_by_name_.Clear();
  class_by_key_.Clear();
  chains_.Clear();
  // Only slots below the high-water mark can have held a lock.
  for (FiberId id = 0; id < fibers_high_; ++id) fibers_[id].depth = 0;
  fibers_high_ = 0;
}

bool Lockdep::Enabled() const {
  return !disabled_ && sched_.in_fiber() && !sched_.unwinding();
}

void Lockdep::Emit(FindingKind kind, std::string signature, std::string report) {
  Finding f;
  f.kind = kind;
  f.signature = std::move(signature);
  f.report = std::move(report);
  sched_.Report(std::move(f));
}

void Lockdep::ReportLimit(const char* what) {
  // As the kernel: say so once, and stop validating.
  Emit(FindingKind::kWarn, std::string("warn:lockdep_limit:") + what,
       std::string("BUG: ") + what + " too low!\nturning off the locking "
       "correctness validator.");
  disabled_ = true;
}

std::string Lockdep::FiberText() const {
  const Fiber& f = sched_.fiber(sched_.current());
  return std::string(f.name) + "/" + std::to_string(f.id);
}

std::string Lockdep::ClassText(int cls) const {
  const Class& c = classes_[cls];
  auto ch = [&](uint8_t used, uint8_t enabled) {
    bool u = c.usage & used, e = c.usage & enabled;
    return u && e ? '?' : u ? '-' : e ? '+' : '.';
  };
  // HARDIRQ then SOFTIRQ state, as the kernel prints them. There is no
  // softirq context here, so a lock taken with interrupts on is also
  // softirq-on ('+') and never softirq-used ('-').
  auto soft = [&](uint8_t enabled) { return (c.usage & enabled) ? '+' : '.'; };
  std::string usage{ch(kUsedInIrq, kEnabledIrq), ch(kUsedInIrqRead, kEnabledIrqRead),
                    soft(kEnabledIrq), soft(kEnabledIrqRead)};
  return "(" + c.name + "){" + usage + "}";
}

std::string Lockdep::LockText(const HeldLock& h) const {
  return ClassText(h.cls) + ", at: " + WhereText(h.where);
}

std::string Lockdep::HeldLocksText(FiberId fiber) const {
  const FiberLocks& fl = fibers_[fiber];
  const Fiber& f = sched_.fiber(fiber);
  std::string who = std::string(f.name) + "/" + std::to_string(f.id);
  if (fl.depth == 0) return "no locks held by " + who + ".\n";
  std::string s = std::to_string(fl.depth) + (fl.depth > 1 ? " locks" : " lock") +
                  " held by " + who + ":\n";
  for (int i = 0; i < fl.depth; ++i) {
    s += " #" + std::to_string(i) + ": " + LockText(fl.held[i]) + "\n";
  }
  return s;
}

int Lockdep::ClassOf(LockMap& map, int subclass) {
  if (map.cache_run_ != run_) {
    std::fill(std::begin(map.cache_), std::end(map.cache_), 0);
    map.cache_run_ = run_;
  }
  if (map.cache_[subclass] > 0) return map.cache_[subclass] - 1;
  const std::string_view base = map.key_ ? std::string_view(map.key_->name) : map.name_;
  // As the kernel's key->subkeys + subclass: one identity per subclass of
  // a key; a lock without a key is classed by its name.
  const uint64_t id =
      map.key_ ? Mix64(reinterpret_cast<uintptr_t>(map.key_) + static_cast<uint64_t>(subclass))
               : Mix64(NameHash(base) ^ (static_cast<uint64_t>(subclass) + 1));
  FlatU64Map<int32_t>& lookup = map.key_ ? class_by_key_ : class_by_name_;
  int cls = -1;
  if (const int32_t* found = lookup.Find(id)) cls = *found;
  if (cls < 0) {
    if (classes_used_ >= kLockClassesMax) {
      ReportLimit("MAX_LOCKDEP_KEYS");
      return -1;
    }
    cls = static_cast<int>(classes_used_);
    // Distinct keys sharing a name are told apart as name#2, name#3.
    int version = 1;
    for (size_t i = 0; i < classes_used_; ++i) {
      if (classes_[i].init_name == base && map.key_) ++version;
    }
    if (classes_used_ == classes_.size()) classes_.emplace_back();
    Class& c = classes_[classes_used_++];
    c.name.assign(base);
    if (map.key_ && version > 1 && subclass == 0) c.name += "#" + std::to_string(version);
    if (subclass > 0) c.name += "/" + std::to_string(subclass);
    if (map.key_) {
      c.init_name.assign(map.name_);
    } else {
      c.init_name.assign(base);
    }
    c.after.clear();
    c.before.clear();
    c.usage = 0;
    for (FiberSite& site : c.usage_where) site = FiberSite{};
    lookup.Set(id, cls);
  } else if (map.key_ && classes_[cls].init_name != map.name_) {
    // lockdep.c:895, look_up_lock_class(): the key matches, the name does
    // not: the lock's memory was freed, overwritten, reused as another
    // type, or never initialised.
    Emit(FindingKind::kLockMisuse, "lock_misuse:class_name_mismatch:" + classes_[cls].name,
         "WARNING: CPU: 0 PID: 0 at kernel/locking/lockdep.c:895 look_up_lock_class\n"
         "  lock '" + map.name_ + "' carries the key of class '" + classes_[cls].name +
         "' (first seen as '" + classes_[cls].init_name + "'):\n"
         "  its memory was overwritten, reused as another type, or never initialised");
  }
  map.cache_[subclass] = cls + 1;
  return cls;
}

void Lockdep::Acquire(LockMap& map, int subclass, bool trylock, LockRead read,
                      Where where, const LockMap* nest) {
  if (Tracer* t = sched_.tracer(); t != nullptr) [[unlikely]] {
    if (sched_.in_fiber() && !sched_.unwinding()) {
      t->LockRequest({&map, subclass, trylock, read != LockRead::kExclusive, where});
    }
  }
  if (!Enabled()) return;
  ++acquisitions_;
  if (subclass < 0 || subclass >= kLockSubclassesMax) {
    Emit(FindingKind::kLockMisuse, "lock_misuse:bad_subclass:" + map.name(),
         "BUG: looking up invalid subclass: " + std::to_string(subclass) +
             "\n  lock '" + map.name() + "' at " + WhereText(where));
    return;
  }
  dirty_ = true;
  int cls = ClassOf(map, subclass);
  if (cls < 0) return;
  const Fiber& f = sched_.fiber(sched_.current());
  FiberLocks& fl = fibers_[f.id];
  fibers_high_ = std::max(fibers_high_, f.id + 1);
  // __lock_acquire(): another instance of the top lock's class under the
  // same nest lock shares its entry (how lockdep holds many locks of one
  // class, e.g. mm_take_all_locks()).
  if (nest != nullptr && fl.depth > 0) {
    HeldLock& top = fl.held[fl.depth - 1];
    if (top.cls == cls && top.nest == nest) {
      top.references = std::max(top.references, 1) + 1;
      return;
    }
  }
  if (fl.depth >= kHeldLocksMax) {
    ReportLimit("MAX_LOCK_DEPTH");
    return;
  }
  HeldLock h;
  h.map = &map;
  h.cls = cls;
  h.read = read;
  h.trylock = trylock;
  h.irq_context = f.in_irq;
  h.irqs_enabled = !f.in_irq && f.irqs_disabled == 0;
  h.where = where;
  h.nest = nest;
  MarkUsage(h);
  if (!Enabled()) return;
  Push(fl, h);
}

// Pushes `h` on the held stack and validates the new chain unless the
// chain cache knows it (validate_chain()).
void Lockdep::Push(FiberLocks& fl, const HeldLock& held) {
  int index = fl.depth;
  HeldLock& h = fl.held[index];
  h = held;
  bool chain_head = index == 0 || fl.held[index - 1].irq_context != h.irq_context;
  uint64_t prev_key = chain_head ? 0 : fl.held[index - 1].chain_key;
  uint64_t id = (static_cast<uint64_t>(h.cls) << 2) | static_cast<uint64_t>(h.read);
  h.chain_key = Mix64(prev_key ^ Mix64(id + (h.irq_context ? 0x1000000 : 0)));
  ++fl.depth;
  if (h.trylock) return;
  if (chains_.Contains(h.chain_key)) {
    if (chain_cache_on_) {
      ++chain_hits_;
      return;
    }
  } else {
    if (chains_.size() >= kLockChainsMax) {
      ReportLimit("MAX_LOCKDEP_CHAINS");
      return;
    }
    chains_.Set(h.chain_key, true);
  }
  if (!CheckDeadlock(fl, index) || chain_head) return;
  // check_prevs_add(): an edge from each held lock down to the first that
  // was not a trylock (those below it are connected through it).
  for (int i = index - 1; i >= 0; --i) {
    const HeldLock& prev = fl.held[i];
    if (prev.irq_context != h.irq_context) break;
    if (!CheckPrevAdd(fl, prev, h)) return;
    if (!prev.trylock) break;
  }
}

// check_deadlock(): the same class already held. Returns false if it
// reported (or if nesting is allowed and no edges are to be added).
bool Lockdep::CheckDeadlock(FiberLocks& fl, int index) {
  const HeldLock& next = fl.held[index];
  bool nest = false;
  for (int i = 0; i < index; ++i) {
    const HeldLock& prev = fl.held[i];
    if (next.nest != nullptr && prev.map == next.nest) nest = true;
    if (prev.cls != next.cls) continue;
    // Read-after-read recursion of one class is allowed for recursive
    // readers (read_lock() + read_lock()).
    if (next.read == LockRead::kRecursive && prev.read != LockRead::kExclusive) continue;
    if (nest) return false;  // serialised by the nest lock: no new edges
    std::string name = classes_[next.cls].name;
    std::string report =
        "============================================\n"
        "WARNING: possible recursive locking detected\n"
        "--------------------------------------------\n" +
        FiberText() + " is trying to acquire lock:\n " + LockText(next) +
        "\n\nbut task is already holding lock:\n " + LockText(prev) +
        "\n\nother info that might help us debug this:\n"
        " Possible unsafe locking scenario:\n\n"
        "       CPU0\n"
        "       ----\n"
        "  lock(" + name + ");\n"
        "  lock(" + name + ");\n\n"
        " *** DEADLOCK ***\n\n"
        " May be due to missing lock nesting notation\n\n";
    // The held list as the kernel prints it: without the new lock.
    int saved = fl.depth;
    fl.depth = index;
    report += HeldLocksText(sched_.current());
    fl.depth = saved;
    Emit(FindingKind::kLockMisuse, "lock_misuse:recursive:" + name, std::move(report));
    return false;
  }
  return true;
}

template <typename Match>
int Lockdep::Bfs(int root, bool root_only_xr, bool forward, Match match) {
  bfs_.clear();
  bfs_seen_.assign(classes_used_, 0);
  bfs_.push_back({root, root_only_xr, -1, -1});
  bfs_seen_[root] = root_only_xr ? 2 : 1;
  if (match(bfs_[0])) return 0;
  for (size_t head = 0; head < bfs_.size(); ++head) {
    BfsNode node = bfs_[head];
    const std::vector<int>& list = forward ? classes_[node.cls].after : classes_[node.cls].before;
    for (int e : list) {
      const EdgeRec& edge = edges_[e];
      uint8_t dep = forward ? edge.dep : edge.depb;
      // -(*R)-> followed by -(S*)-> is not a strong dependency path.
      if (node.only_xr) dep &= static_cast<uint8_t>(~(kDepSR | kDepSN));
      if (dep == 0) continue;
      bool only_xr = !(dep & (kDepSN | kDepEN));
      int to = forward ? edge.to : edge.from;
      // A strong arrival (1) subsumes a recursive-only one (2).
      if ((bfs_seen_[to] & 1) || (only_xr && (bfs_seen_[to] & 2))) continue;
      bfs_seen_[to] |= only_xr ? 2 : 1;
      if (bfs_.size() >= kLockBfsQueueMax) {
        // Every search reports the limit the same way: here, once.
        ReportLimit("MAX_CIRCULAR_QUEUE_SIZE");
        return -2;
      }
      bfs_.push_back({to, only_xr, static_cast<int>(head), e});
      if (match(bfs_.back())) return static_cast<int>(bfs_.size() - 1);
    }
  }
  return -1;
}

// check_prev_add(): the dependency prev -> next. Returns false if it
// reported.
bool Lockdep::CheckPrevAdd(FiberLocks& fl, const HeldLock& prev, const HeldLock& next) {
  // check_noncircular(): is there a strong path next -> ... -> prev?
  int target = Bfs(next.cls, next.read == LockRead::kRecursive, true,
                   [&](const BfsNode& n) {
                     return n.cls == prev.cls &&
                            (prev.read == LockRead::kExclusive || !n.only_xr);
                   });
  if (target == -2) return false;
  if (target >= 0) {
    cycle_edges_.push_back({prev.cls, next.cls, CalcDep(prev.read, next.read),
                            CalcDepBackward(prev.read, next.read), next.where, prev.where,
                            FiberSite::Here(sched_, next.where).fiber});
    ReportCircular(fl, prev, next, target);
    return false;
  }
  if (!CheckIrqDependency(fl, prev, next)) return false;
  for (int e : classes_[prev.cls].after) {
    if (edges_[e].to == next.cls) {
      edges_[e].dep |= CalcDep(prev.read, next.read);
      edges_[e].depb |= CalcDepBackward(prev.read, next.read);
      return true;
    }
  }
  if (edges_.size() >= kLockEdgesMax) {
    ReportLimit("MAX_LOCKDEP_ENTRIES");
    return false;
  }
  int e = static_cast<int>(edges_.size());
  edges_.push_back({prev.cls, next.cls, CalcDep(prev.read, next.read),
                    CalcDepBackward(prev.read, next.read), next.where, prev.where,
                    FiberSite::Here(sched_, next.where).fiber});
  classes_[prev.cls].after.push_back(e);
  classes_[next.cls].before.push_back(e);
  // A distinct lock-graph edge is a coverage point (explore --coverage).
  // Cover() keeps the pointer: the name is interned for the process (its
  // content, not its address, is what reaches a report).
  static std::set<std::string> interned;
  const std::string& point =
      *interned.insert("lockdep:" + classes_[prev.cls].name + " -> " + classes_[next.cls].name).first;
  sched_.Cover(point.c_str());
  return true;
}

void Lockdep::ReportCircular(const FiberLocks& fl, const HeldLock& prev,
                             const HeldLock& next, int target) {
  // The path next -> ... -> prev, from the BFS tree, target first.
  std::vector<int> path;
  for (int n = target; n >= 0; n = bfs_[n].parent) path.push_back(n);
  // Signature: the cycle's classes, rotated to start at the smallest name.
  std::vector<std::string> cycle;
  for (auto it = path.rbegin(); it != path.rend(); ++it) cycle.push_back(classes_[bfs_[*it].cls].name);
  auto smallest = std::min_element(cycle.begin(), cycle.end());
  std::rotate(cycle.begin(), smallest, cycle.end());
  std::string signature = "lock_order:";
  for (const std::string& c : cycle) signature += c + "->";
  signature += cycle.front();
  // The report is built once per signature: the explorer already has it.
  if (sched_.KnownSignature(signature)) {
    return Emit(FindingKind::kLockOrder, std::move(signature), std::string());
  }
  std::string report =
      "======================================================\n"
      "WARNING: possible circular locking dependency detected\n"
      "------------------------------------------------------\n" +
      FiberText() + " is trying to acquire lock:\n " + LockText(next) +
      "\n\nbut task is already holding lock:\n " + LockText(prev) +
      "\n\nwhich lock already depends on the new lock.\n\n"
      "\nthe existing dependency chain (in reverse order) is:\n";
  int depth = static_cast<int>(path.size()) - 1;
  for (int n : path) {
    const BfsNode& node = bfs_[n];
    report += "\n-> #" + std::to_string(depth--) + " " + ClassText(node.cls) + ":\n";
    if (node.edge >= 0) {
      const EdgeRec& e = edges_[node.edge];
      report += "       " + WhereText(e.where) + "\n       fiber '" + e.fiber.data() +
                "', holding " + classes_[e.from].name + " taken at " + WhereText(e.prev_where) +
                "\n";
    } else {
      report += "       " + WhereText(next.where) + "\n       fiber '" +
                sched_.fiber(sched_.current()).name + "', now\n";
    }
  }
  int source = next.cls;
  int tgt = prev.cls;
  int parent = bfs_[target].parent >= 0 ? bfs_[bfs_[target].parent].cls : source;
  auto lock = [](LockRead r) { return r == LockRead::kExclusive ? "lock(" : "rlock("; };
  report += "\nother info that might help us debug this:\n\n";
  if (parent != source) {
    report += "Chain exists of:\n  " + classes_[source].name + " --> " +
              classes_[parent].name + " --> " + classes_[tgt].name + "\n\n";
  }
  report +=
      " Possible unsafe locking scenario:\n\n"
      "       CPU0                    CPU1\n"
      "       ----                    ----\n"
      "  " + std::string(lock(prev.read)) + classes_[tgt].name + ");\n"
      "                               lock(" + classes_[parent].name + ");\n"
      "                               " + lock(prev.read) + classes_[tgt].name + ");\n"
      "  " + lock(next.read) + classes_[source].name + ");\n\n"
      " *** DEADLOCK ***\n\n";
  report += HeldLocksText(sched_.current());
  (void)fl;
  Emit(FindingKind::kLockOrder, std::move(signature), std::move(report));
}

void Lockdep::MarkUsage(const HeldLock& h) {
  uint8_t bit;
  bool read = h.read != LockRead::kExclusive;
  if (h.irq_context) {
    bit = read ? kUsedInIrqRead : kUsedInIrq;
  } else if (h.irqs_enabled) {
    bit = read ? kEnabledIrqRead : kEnabledIrq;
  } else {
    return;
  }
  Class& c = classes_[h.cls];
  if (c.usage & bit) return;
  uint8_t conflict = c.usage & Conflicting(bit);
  c.usage |= bit;
  c.usage_where[UsageIndex(bit)] = FiberSite::Here(sched_, h.where);
  if (conflict) {
    ReportUsage(h, bit, static_cast<uint8_t>(1u << std::countr_zero(conflict)));
    return;
  }
  // The new usage against the class's dependencies: an irq-safe lock must
  // not lead to an irq-unsafe one (check_usage_forwards/backwards).
  bool safe = bit & kSafeMask;
  uint8_t want = safe ? kUnsafeMask : kSafeMask;
  int found = Bfs(h.cls, false, safe, [&](const BfsNode& n) {
    return n.cls != h.cls && (classes_[n.cls].usage & want);
  });
  if (found >= 0) {
    int other = bfs_[found].cls;
    int safe_cls = safe ? h.cls : other, unsafe_cls = safe ? other : h.cls;
    std::string report =
        "=========================================================\n"
        "WARNING: possible irq lock inversion dependency detected\n"
        "---------------------------------------------------------\n" +
        FiberText() + " just changed the state of lock:\n " + LockText(h) +
        "\n" + (safe ? "but this lock took another, HARDIRQ-unsafe lock in the past:\n "
                     : "but this lock was taken by another, HARDIRQ-safe lock in the past:\n ") +
        ClassText(other) + "\n\nand interrupts could create inverse lock ordering "
        "between them.\n\n"
        "other info that might help us debug this:\n"
        " Possible interrupt unsafe locking scenario:\n\n"
        "       CPU0                    CPU1\n"
        "       ----                    ----\n"
        "  lock(" + classes_[unsafe_cls].name + ");\n"
        "                               local_irq_disable();\n"
        "                               lock(" + classes_[safe_cls].name + ");\n"
        "                               lock(" + classes_[unsafe_cls].name + ");\n"
        "  <Interrupt>\n"
        "    lock(" + classes_[safe_cls].name + ");\n\n"
        " *** DEADLOCK ***\n\n" + HeldLocksText(sched_.current());
    Emit(FindingKind::kLockOrder,
         "lock_order:irq:" + classes_[safe_cls].name + "->" + classes_[unsafe_cls].name,
         std::move(report));
  }
}

void Lockdep::ReportUsage(const HeldLock& h, uint8_t new_bit, uint8_t old_bit) {
  const Class& c = classes_[h.cls];
  const Fiber& f = sched_.fiber(sched_.current());
  char state[64];
  std::snprintf(state, sizeof state, "[HC%d[%d]:SC0[0]:HE%d:SE1]", f.in_irq ? 1 : 0,
                f.in_irq ? 1 : 0, h.irqs_enabled ? 1 : 0);
  std::string report =
      "================================\n"
      "WARNING: inconsistent lock state\n"
      "--------------------------------\n"
      "inconsistent {" + std::string(UsageName(old_bit)) + "} -> {" + UsageName(new_bit) +
      "} usage.\n" + FiberText() + " " + state + " takes:\n " + LockText(h) + "\n{" +
      UsageName(old_bit) + "} state was registered at:\n  " +
      UsageText(c.usage_where[UsageIndex(old_bit)]) +
      "\n\nother info that might help us debug this:\n"
      " Possible unsafe locking scenario:\n\n"
      "       CPU0\n"
      "       ----\n"
      "  lock(" + c.name + ");\n"
      "  <Interrupt>\n"
      "    lock(" + c.name + ");\n\n"
      " *** DEADLOCK ***\n\n" + HeldLocksText(sched_.current());
  Emit(FindingKind::kLockOrder, "lock_order:irq_inconsistent:" + c.name, std::move(report));
}

// check_irq_usage(): would prev -> next connect an irq-safe lock (at or
// behind prev) to an irq-unsafe one (at or after next)?
bool Lockdep::CheckIrqDependency(const FiberLocks& fl, const HeldLock& prev,
                                 const HeldLock& next) {
  int safe = Bfs(prev.cls, false, false, [&](const BfsNode& n) {
    return (classes_[n.cls].usage & kSafeMask) != 0;
  });
  if (safe == -2) return false;
  if (safe < 0) return true;
  int safe_cls = bfs_[safe].cls;
  int unsafe = Bfs(next.cls, false, true, [&](const BfsNode& n) {
    return (classes_[n.cls].usage & kUnsafeMask) != 0;
  });
  if (unsafe == -2) return false;
  if (unsafe < 0) return true;
  int unsafe_cls = bfs_[unsafe].cls;
  const Class& s = classes_[safe_cls];
  const Class& u = classes_[unsafe_cls];
  auto first_where = [](const Class& c, uint8_t mask) {
    for (int i = 0; i < 4; ++i) {
      if (c.usage & mask & (1u << i)) return UsageText(c.usage_where[i]);
    }
    return std::string();
  };
  std::string report =
      "=====================================================\n"
      "WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected\n"
      "-----------------------------------------------------\n" +
      FiberText() + " is trying to acquire:\n " + LockText(next) +
      "\n\nand this task is already holding:\n " + LockText(prev) +
      "\nwhich would create a new lock dependency:\n (" + classes_[prev.cls].name +
      ") -> (" + classes_[next.cls].name + ")\n\n"
      "but this new dependency connects a HARDIRQ-irq-safe lock:\n " + ClassText(safe_cls) +
      "\n... which became HARDIRQ-irq-safe at:\n  " + first_where(s, kSafeMask) +
      "\n\nto a HARDIRQ-irq-unsafe lock:\n " + ClassText(unsafe_cls) +
      "\n... which became HARDIRQ-irq-unsafe at:\n  " + first_where(u, kUnsafeMask) +
      "\n\nother info that might help us debug this:\n"
      " Possible interrupt unsafe locking scenario:\n\n"
      "       CPU0                    CPU1\n"
      "       ----                    ----\n"
      "  lock(" + u.name + ");\n"
      "                               local_irq_disable();\n"
      "                               lock(" + s.name + ");\n"
      "                               lock(" + u.name + ");\n"
      "  <Interrupt>\n"
      "    lock(" + s.name + ");\n\n"
      " *** DEADLOCK ***\n\n" + HeldLocksText(sched_.current());
  (void)fl;
  Emit(FindingKind::kLockOrder, "lock_order:irq:" + s.name + "->" + u.name, std::move(report));
  return false;
}

// find_held_lock() / match_held_lock(): the entry of `map`, or of a
// shared entry (references) of its class; -1 if none.
int Lockdep::FindHeld(FiberLocks& fl, LockMap& map) {
  for (int i = fl.depth - 1; i >= 0; --i) {
    if (fl.held[i].map == &map) return i;
  }
  for (int i = fl.depth - 1; i >= 0; --i) {
    if (fl.held[i].references > 0 && fl.held[i].nest != nullptr && fl.held[i].cls == ClassOf(map, 0)) {
      return i;
    }
  }
  return -1;
}

void Lockdep::Release(LockMap& map, Where where) {
  if (Tracer* t = sched_.tracer(); t != nullptr) [[unlikely]] {
    if (sched_.in_fiber() && !sched_.unwinding()) t->LockRelease(sched_.current(), map, where);
  }
  if (!Enabled()) return;
  FiberLocks& fl = fibers_[sched_.current()];
  int i = FindHeld(fl, map);
  if (i < 0) {
    Emit(FindingKind::kLockMisuse, "lock_misuse:unlock_unheld:" + map.name(),
         "=====================================\n"
         "WARNING: bad unlock balance detected!\n"
         "-------------------------------------\n" +
             FiberText() + " is trying to release lock (" + map.name() + ") at:\n" +
             WhereText(where) + "\nbut there are no more locks to release!\n\n"
             "other info that might help us debug this:\n" +
             HeldLocksText(sched_.current()));
    return;
  }
  // One instance of a shared entry: the entry goes with the last.
  if (fl.held[i].references > 0 && --fl.held[i].references > 0) return;
  // Out-of-order release: the locks above are taken again, as the
  // kernel's reacquire_held_locks() does, so their chains are rechecked.
  std::vector<HeldLock> above(fl.held + i + 1, fl.held + fl.depth);
  fl.depth = i;
  for (const HeldLock& h : above) Push(fl, h);
}

void Lockdep::ReleaseFor(FiberId owner, LockMap& map, Where where) {
  // (Release() does nothing either when lockdep is not enabled.)
  if (owner == sched_.current()) return Release(map, where);
  if (Tracer* t = sched_.tracer(); t != nullptr) [[unlikely]] {
    if (!sched_.unwinding()) t->LockRelease(owner, map, where);
  }
  if (!Enabled()) return;
  FiberLocks& fl = fibers_[owner];
  int i = FindHeld(fl, map);
  if (i < 0) {
    Emit(FindingKind::kLockMisuse, "lock_misuse:unlock_unheld:" + map.name(),
         "=====================================\n"
         "WARNING: bad unlock balance detected!\n"
         "-------------------------------------\n" +
             FiberText() + " releases lock (" + map.name() + ") on behalf of fiber '" +
             sched_.fiber(owner).name + "' at:\n" + WhereText(where) +
             "\nbut that fiber does not hold it\n");
    return;
  }
  if (fl.held[i].references > 0 && --fl.held[i].references > 0) return;
  // Drop it from the owner's stack; the locks above keep their chains (the
  // owner is not running: its chains are revalidated at its next acquire).
  for (int j = i; j + 1 < fl.depth; ++j) fl.held[j] = fl.held[j + 1];
  --fl.depth;
}

bool Lockdep::Held(const LockMap& map) const {
  if (!sched_.in_fiber()) return false;
  const FiberLocks& fl = fibers_[sched_.current()];
  for (int i = 0; i < fl.depth; ++i) {
    if (fl.held[i].map == &map) return true;
  }
  return false;
}

void Lockdep::Reinit(LockMap& map, std::string_view name, const LockClassKey* key,
                     Where where) {
  if (Enabled()) {
    for (FiberId id = 0; id < fibers_high_; ++id) {
      const FiberLocks& fl = fibers_[id];
      for (int i = 0; i < fl.depth; ++i) {
        if (fl.held[i].map != &map) continue;
        Emit(FindingKind::kLockMisuse, "lock_misuse:reinit_held:" + classes_[fl.held[i].cls].name,
             "WARNING: lock re-initialised while held\n  " + FiberText() +
                 " re-initialises " + LockText(fl.held[i]) + "\n  at " + WhereText(where) +
                 "\n  held by fiber '" + sched_.fiber(id).name + "'\n" + HeldLocksText(id));
      }
    }
  }
  map.name_ = std::string(name);
  map.key_ = key;
  map.cache_run_ = 0;
}

bool Lockdep::CheckFreed(const void* begin, size_t size, Where where) {
  if (disabled_ || sched_.unwinding()) return false;
  auto lo = reinterpret_cast<uintptr_t>(begin);
  // Only fibers of this run can hold locks.
  bool freed_held = false;
  sched_.used().ForEach([&](FiberId id) {
    if (freed_held) return;
    const FiberLocks& fl = fibers_[id];
    for (int i = 0; i < fl.depth; ++i) {
      auto at = reinterpret_cast<uintptr_t>(fl.held[i].map);
      if (at < lo || at >= lo + size) continue;
      std::string who = sched_.in_fiber() ? FiberText() : std::string("main");
      Emit(FindingKind::kLockMisuse, "lock_misuse:held_lock_freed:" + classes_[fl.held[i].cls].name,
           "=========================\n"
           "WARNING: held lock freed!\n"
           "-------------------------\n" +
               who + " is freeing memory at " + WhereText(where) +
               ", with a lock still held there!\n " + LockText(fl.held[i]) +
               "\nheld by fiber '" + sched_.fiber(id).name + "'\n" + HeldLocksText(id));
      freed_held = true;
      return;
    }
  });
  return freed_held;
}

void Lockdep::OnFiberExit(Fiber& fiber) {
  FiberLocks& fl = fibers_[fiber.id];
  if (fl.depth > 0 && !disabled_) {
    Emit(FindingKind::kLockMisuse,
         "lock_misuse:held_at_exit:" + classes_[fl.held[0].cls].name,
         "================================================\n"
         "WARNING: lock held when returning to user space!\n"
         "------------------------------------------------\n" +
             std::string(fiber.name) + "/" + std::to_string(fiber.id) +
             " is leaving the kernel with locks still held!\n" + HeldLocksText(fiber.id));
  }
  fl.depth = 0;
}

std::vector<Lockdep::Edge> Lockdep::Edges() const {
  std::vector<Edge> out;
  for (const EdgeRec& e : edges_) {
    out.push_back({classes_[e.from].name, classes_[e.to].name, e.dep, WhereText(e.where),
                   e.fiber.data(), false});
  }
  for (const EdgeRec& e : cycle_edges_) {
    out.push_back({classes_[e.from].name, classes_[e.to].name, e.dep, WhereText(e.where),
                   e.fiber.data(), true});
  }
  return out;
}

std::vector<std::string> Lockdep::ClassNames() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < classes_used_; ++i) out.push_back(classes_[i].name);
  return out;
}

FsReclaim::FsReclaim(Scheduler& sched) : lock_(sched, "fs_reclaim") {}

void FsReclaim::MightEnterReclaim(Lockdep::Where where) {
  lock_.Acquire(where);
  lock_.Release(where);
}

void FsReclaim::Enter(Lockdep::Where where) { lock_.Acquire(where); }
void FsReclaim::Exit(Lockdep::Where where) { lock_.Release(where); }

}  // namespace fsim::sim
