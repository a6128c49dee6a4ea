// The runtime's own regression suite: classic concurrency programs, each
// with a bug, and a correct twin of each shape. They exercise the
// scheduler, the sync primitives, the strategies and the oracles end to end
// before (and independently of) the filesystem model.
#include <memory>
#include <string>
#include <vector>

#include "scenarios/registry.h"
#include "sim/sync.h"

namespace fsim::scenarios {
namespace {

using sim::Finding;
using sim::FindingKind;
using sim::Mutex;
using sim::Program;
using sim::Scheduler;

// These programs' fiber bodies are plain calls into sync primitives: no
// local owns anything, so a run that deadlocks abandons them, not unwinds.
constexpr sim::SpawnOptions kPlainFiber{.abandon_on_kill = true};

ProgramFactory NoConfig(std::function<std::unique_ptr<Program>()> make) {
  return make;
}

// Two fibers, two locks. Buggy: opposite orders (ABBA). Fixed: same order.
class Abba final : public Program {
 public:
  explicit Abba(bool fixed) : fixed_(fixed) {}
  void Start(Scheduler& s) override {
    a_ = std::make_unique<Mutex>(s, "A");
    b_ = std::make_unique<Mutex>(s, "B");
    s.Spawn("T1", [this] { Both(*a_, *b_); }, kPlainFiber);
    s.Spawn("T2", [this] { fixed_ ? Both(*a_, *b_) : Both(*b_, *a_); }, kPlainFiber);
  }

 private:
  static void Both(Mutex& first, Mutex& second) {
    first.Lock();
    second.Lock();
    second.Unlock();
    first.Unlock();
  }
  bool fixed_;
  std::unique_ptr<Mutex> a_, b_;
};

// Two fibers increment a shared counter by load, yield, store. Buggy: no
// lock, an update can be lost. Fixed: the increment is under a mutex.
class LostUpdate final : public Program {
 public:
  explicit LostUpdate(bool fixed) : fixed_(fixed) {}
  void Start(Scheduler& s) override {
    lock_ = std::make_unique<Mutex>(s, "counter_lock");
    for (const char* name : {"inc1", "inc2"}) {
      s.Spawn(name, [this, &s] {
        if (fixed_) lock_->Lock();
        int loaded = counter_;
        s.Yield("counter_load");
        counter_ = loaded + 1;
        if (fixed_) lock_->Unlock();
      }, kPlainFiber);
    }
  }
  void Finish(Scheduler& s) override {
    if (counter_ == 2) return;
    Finding f;
    f.kind = FindingKind::kAssertion;
    f.signature = "assertion:lost_update:counter";
    f.report = "assertion failed: counter == 2 (it is " +
               std::to_string(counter_) + "): an increment was lost";
    s.Fail(std::move(f));
  }

 private:
  bool fixed_;
  int counter_ = 0;
  std::unique_ptr<Mutex> lock_;
};

// N dining philosophers, one fork between each pair. Buggy: each takes
// the left fork then the right (a cycle). Fixed: lower-numbered fork first.
class Philosophers final : public Program {
 public:
  Philosophers(bool fixed, int count) : fixed_(fixed), count_(count) {}
  void Start(Scheduler& s) override {
    for (int i = 0; i < count_; ++i) {
      forks_.push_back(std::make_unique<Mutex>(s, "fork" + std::to_string(i)));
    }
    for (int i = 0; i < count_; ++i) {
      s.Spawn("philosopher" + std::to_string(i), [this, i, &s] {
        int left = i, right = (i + 1) % count_;
        int first = fixed_ ? std::min(left, right) : left;
        int second = fixed_ ? std::max(left, right) : right;
        forks_[first]->Lock();
        forks_[second]->Lock();
        s.Yield("eat");
        forks_[second]->Unlock();
        forks_[first]->Unlock();
      }, kPlainFiber);
    }
  }

 private:
  bool fixed_;
  int count_;
  std::vector<std::unique_ptr<Mutex>> forks_;
};

// A waiter and a notifier. Buggy: the waiter tests the flag, then sleeps
// in a separate step; a notification in between is lost and the waiter
// sleeps forever. Fixed: wait_event() tests and sleeps as one step.
class WaitNotify final : public Program {
 public:
  explicit WaitNotify(bool fixed) : fixed_(fixed) {}
  void Start(Scheduler& s) override {
    queue_ = std::make_unique<sim::WaitQueue>(s, "ready_wq");
    s.Spawn("waiter", [this, &s] {
      if (fixed_) {
        queue_->WaitEvent([this] { return ready_; });
      } else if (!ready_) {
        s.Yield("before_sleep");
        queue_->Sleep();
      }
      consumed_ = true;
    });
    s.Spawn("notifier", [this, &s] {
      s.Yield("produce");
      ready_ = true;
      queue_->WakeUp();
    });
  }
  void Finish(Scheduler& s) override {
    if (consumed_) return;
    Finding f;
    f.kind = FindingKind::kAssertion;
    f.signature = "assertion:wait_notify:not_consumed";
    f.report = "assertion failed: the waiter never consumed the event";
    s.Fail(std::move(f));
  }

 private:
  bool fixed_;
  bool ready_ = false;
  bool consumed_ = false;
  std::unique_ptr<sim::WaitQueue> queue_;
};

// Test programs for the runtime's own checks.

// Two fibers of two steps each: exactly 6 interleavings.
class TwoByTwo final : public Program {
 public:
  void Start(Scheduler& s) override {
    for (const char* name : {"F0", "F1"}) {
      s.Spawn(name, [&s] { s.Yield("between_steps"); });
    }
  }
};

// A fiber that never finishes: the step limit ends it as a livelock.
class Spin final : public Program {
 public:
  void Start(Scheduler& s) override {
    s.Spawn("spinner", [this, &s] {
      while (!stop_) s.Yield("spin");
    });
    s.Spawn("bystander", [&s] { s.Yield("pass"); });
  }

 private:
  bool stop_ = false;
};

// Unbounded recursion with a 1 KiB frame: overruns any stack.
#pragma GCC diagnostic ignored "-Winfinite-recursion"  // on purpose
[[gnu::noinline]] int Recurse(Scheduler& s, int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  if (depth % 256 == 0) s.Yield("recurse");
  return Recurse(s, depth + 1) + frame[0];
}

class StackOverflow final : public Program {
 public:
  void Start(Scheduler& s) override {
    s.Spawn("deep", [&s] { Recurse(s, 1); });
    s.Spawn("shallow", [&s] { s.Yield("pass"); });
  }
};

}  // namespace

void RegisterBuiltinPrograms(std::vector<Scenario>& out) {
  // These programs exercise the runtime's search: by default they run
  // without lockdep, which would otherwise name the ABBA inversion on the
  // first schedule, before any search. --config lockdep=on shows that.
  const model::Config runtime_defaults = {{"lockdep", "off"}};
  const size_t first = out.size();
  auto simple = [&](std::string name, std::string description, bool suite,
                    std::function<std::unique_ptr<Program>()> make) {
    out.push_back({std::move(name), std::move(description), suite, {}, runtime_defaults,
                   [make](const model::Config&) { return NoConfig(make); }, {}, {}, {}, {}, {}, false});
  };
  simple("abba", "two fibers take mutexes A and B in opposite orders (deadlock)",
         false, [] { return std::make_unique<Abba>(false); });
  simple("abba_fixed", "two fibers take mutexes A and B in the same order",
         true, [] { return std::make_unique<Abba>(true); });
  simple("lost_update",
         "two fibers increment a counter without a lock (lost update)", false,
         [] { return std::make_unique<LostUpdate>(false); });
  simple("lost_update_fixed", "two fibers increment a counter under a mutex",
         true, [] { return std::make_unique<LostUpdate>(true); });
  simple("wait_notify",
         "waiter tests a flag then sleeps in a separate step (lost wakeup)",
         false, [] { return std::make_unique<WaitNotify>(false); });
  simple("wait_notify_fixed", "waiter uses wait_event(): test and sleep as one",
         true, [] { return std::make_unique<WaitNotify>(true); });
  simple("two_by_two", "two fibers of two steps each (6 interleavings)", false,
         [] { return std::make_unique<TwoByTwo>(); });
  simple("spin", "a fiber that never finishes (livelock at the step limit)",
         false, [] { return std::make_unique<Spin>(); });
  simple("stack_overflow", "a fiber recursing without bound (stack overflow)",
         false, [] { return std::make_unique<StackOverflow>(); });

  auto philosophers = [&](std::string name, std::string description,
                          bool fixed) {
    out.push_back(
        {std::move(name), std::move(description), fixed,
         {{"count", "number of philosophers, 2-16 (default 3)"}},
         runtime_defaults,
         [fixed](const model::Config& config) -> ProgramFactory {
           int count = static_cast<int>(ConfigNumber(config, "count", 3, 2, 16));
           return [fixed, count] {
             return std::make_unique<Philosophers>(fixed, count);
           };
         },
         {},
         {},
         {},
         {},
         {},
         false});
  };
  philosophers("philosophers",
               "dining philosophers, left fork first (deadlock)", false);
  philosophers("philosophers_fixed",
               "dining philosophers, lower-numbered fork first", true);
  // Their plain variables are touched only after a yield naming no object
  // (a transition dependent on every other), their locks by name: DFS may
  // reduce by sleep sets.
  for (size_t i = first; i < out.size(); ++i) out[i].names_shared_state = true;
}

}  // namespace fsim::scenarios
