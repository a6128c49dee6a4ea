// SCTBench programs with racy shared variables (Shared<T>: every access a
// scheduling point) or SCTBench's atomic sections, and the families that
// grow with a thread count (reorder_N, twostage_N). Each class follows its
// C original (benchmarks/concurrent-software-benchmarks/NAME_bad.c).
#include <memory>
#include <string>
#include <vector>

#include "sctbench/sct.h"
#include "sctbench/suite.h"

namespace fsim::sctbench {
namespace {

using sim::FindingKind;

// bluetooth_driver: the stopper can complete (stopped = true) between the
// adder's check of stoppingFlag and its assertion that the device is not
// stopped. The main thread is the adder.
class BluetoothDriver final : public SctProgram {
 public:
  BluetoothDriver() : SctProgram("bluetooth_driver") {}
  void Main() override {
    stopping_flag_ = &NewShared(false, "stoppingFlag");
    stopping_event_ = &NewShared(false, "stoppingEvent");
    stopped_ = &NewShared(false, "stopped");
    ThreadId stop = Create("BCSP_PnpStop", [this] {
      stopping_flag_->Store(true);
      IoDecrement();
      if (stopping_event_->Load()) stopped_->Store(true);
    });
    if (IoIncrement() == 0) Assert(!stopped_->Load(), "!stopped");
    IoDecrement();
    Join(stop);
  }

 private:
  int IoIncrement() {
    if (stopping_flag_->Load()) return -1;
    AtomicBegin();
    ++pending_io_;
    AtomicEnd();
    return 0;
  }
  void IoDecrement() {
    AtomicBegin();
    int pending = --pending_io_;
    AtomicEnd();
    if (pending == 0) stopping_event_->Store(true);
  }
  int pending_io_ = 1;  // under the atomic section
  Shared<bool>* stopping_flag_ = nullptr;
  Shared<bool>* stopping_event_ = nullptr;
  Shared<bool>* stopped_ = nullptr;
};

// din_philN: N philosophers each take two forks inside the atomic
// section, then count themselves; the last asserts 0 ("sat": the
// assertion is reachable). N <= 4 count with a racy ++phil; 5 and 6 count
// inside the atomic section; the C text of 7 begins the section three
// times and never ends it, so its first philosopher waits on itself.
class DinPhil final : public SctProgram {
 public:
  DinPhil(std::string name, int n) : SctProgram(std::move(name)), n_(n) {}
  void Main() override {
    phil_ = &NewShared(0, "phil");
    for (int i = 0; i < n_; ++i) forks_.push_back(&NewMutex("x"));
    std::vector<ThreadId> tids;
    for (int i = 0; i < n_; ++i) tids.push_back(Create("thread1", [this, i] { Dine(i); }));
    for (ThreadId t : tids) Join(t);
  }

 private:
  void Dine(int id) {
    int left = id, right = (id + 1) % n_;
    AtomicBegin();
    forks_[right]->Lock();
    forks_[left]->Lock();
    forks_[left]->Unlock();
    forks_[right]->Unlock();
    if (n_ <= 4) {
      AtomicEnd();
      phil_->Store(phil_->Load() + 1);
      Assert(phil_->Load() != n_, "phil != N");
      return;
    }
    if (n_ == 7) AtomicBegin();  // the C text's atomic_begin where end was meant
    if (n_ <= 6) AtomicEnd();
    AtomicBegin();
    int phil = phil_->Peek() + 1;
    phil_->Store(phil);
    Assert(phil != n_, "phil != N");
    AtomicEnd();
  }
  int n_;
  Shared<int>* phil_ = nullptr;
  std::vector<Mutex*> forks_;
};

// reorder_N: setters write a = 1 then b = -1; a checker asserts it sees
// both or neither, and fails when it reads between a setter's two writes.
class Reorder final : public SctProgram {
 public:
  Reorder(std::string name, int setters, int checkers)
      : SctProgram(std::move(name)), setters_(setters), checkers_(checkers) {}
  void Main() override {
    a_ = &NewShared(0, "a");
    b_ = &NewShared(0, "b");
    std::vector<ThreadId> tids;
    for (int i = 0; i < setters_; ++i) {
      tids.push_back(Create("setThread", [this] {
        a_->Store(1);
        b_->Store(-1);
      }));
    }
    for (int i = 0; i < checkers_; ++i) {
      tids.push_back(Create("checkThread", [this] {
        // C's short-circuit evaluation: each comparison loads again.
        bool ok = (a_->Load() == 0 && b_->Load() == 0) || (a_->Load() == 1 && b_->Load() == -1);
        Assert(ok, "(a == 0 && b == 0) || (a == 1 && b == -1)");
      }));
    }
    for (ThreadId t : tids) Join(t);
  }

 private:
  int setters_, checkers_;
  Shared<int>* a_ = nullptr;
  Shared<int>* b_ = nullptr;
};

// token_ring: three threads pass a token x1 -> x2 -> x3 -> x1 in atomic
// sections; the fourth asserts that all three agree once all ran, which
// holds only when they ran in ring order.
class TokenRing final : public SctProgram {
 public:
  TokenRing() : SctProgram("token_ring") {}
  void Main() override {
    ThreadId t1 = Create("t1", [this] { Step([this] { x1_ = (x3_ + 1) % 4; }, f1_); });
    ThreadId t2 = Create("t2", [this] { Step([this] { x2_ = x1_; }, f2_); });
    ThreadId t3 = Create("t3", [this] { Step([this] { x3_ = x2_; }, f3_); });
    ThreadId t4 = Create("t4", [this] {
      AtomicBegin();
      if (f1_ && f2_ && f3_) Assert(x1_ == x2_ && x2_ == x3_, "x1 == x2 && x2 == x3");
      AtomicEnd();
    });
    for (ThreadId t : {t1, t2, t3, t4}) Join(t);
  }

 private:
  template <typename F>
  void Step(F assign, bool& flag) {
    AtomicBegin();
    assign();
    flag = true;
    AtomicEnd();
  }
  int x1_ = 1, x2_ = 2, x3_ = 1;
  bool f1_ = false, f2_ = false, f3_ = false;
};

// twostage_N: N-1 writers set data1 = 1, then data2 = data1 + 1, each
// under its own lock; a reader that sees data1 set but data2 not yet
// written fails its assertion.
class TwoStage final : public SctProgram {
 public:
  TwoStage(std::string name, int writers, int readers)
      : SctProgram(std::move(name)), writers_(writers), readers_(readers) {}
  void Main() override {
    data1_lock_ = &NewMutex("data1Lock");
    data2_lock_ = &NewMutex("data2Lock");
    data1_ = &NewShared(0, "data1");
    std::vector<ThreadId> tids;
    for (int i = 0; i < writers_; ++i) {
      tids.push_back(Create("funcA", [this] {
        data1_lock_->Lock();
        data1_->Store(1);
        data1_lock_->Unlock();
        data2_lock_->Lock();
        data2_ = data1_->Load() + 1;  // data1 read under data2Lock: racy
        data2_lock_->Unlock();
      }));
    }
    for (int i = 0; i < readers_; ++i) {
      tids.push_back(Create("funcB", [this] {
        data1_lock_->Lock();
        if (data1_->Peek() == 0) {
          data1_lock_->Unlock();
          return;
        }
        int t1 = data1_->Peek();
        data1_lock_->Unlock();
        data2_lock_->Lock();
        int t2 = data2_;
        data2_lock_->Unlock();
        Assert(t2 == t1 + 1, "t2 == t1 + 1");
      }));
    }
    for (ThreadId t : tids) Join(t);
  }

 private:
  int writers_, readers_;
  Mutex* data1_lock_ = nullptr;
  Mutex* data2_lock_ = nullptr;
  Shared<int>* data1_ = nullptr;
  int data2_ = 0;  // under data2Lock
};

// wronglock: one thread increments dataValue under dataLock and checks
// the increment; the others increment it under a different lock.
class WrongLock final : public SctProgram {
 public:
  WrongLock(std::string name, int num1, int num2)
      : SctProgram(std::move(name)), num1_(num1), num2_(num2) {}
  void Main() override {
    data_lock_ = &NewMutex("dataLock");
    this_lock_ = &NewMutex("thisLock");
    value_ = &NewShared(0, "value");
    std::vector<ThreadId> tids;
    for (int i = 0; i < num1_; ++i) {
      tids.push_back(Create("funcA", [this] {
        data_lock_->Lock();
        int x = value_->Load();
        value_->Store(value_->Load() + 1);
        Assert(value_->Load() == x + 1, "dataValue == x + 1");
        data_lock_->Unlock();
      }));
    }
    for (int i = 0; i < num2_; ++i) {
      tids.push_back(Create("funcB", [this] {
        this_lock_->Lock();
        value_->Store(value_->Load() + 1);
        this_lock_->Unlock();
      }));
    }
    for (ThreadId t : tids) Join(t);
  }

 private:
  int num1_, num2_;
  Mutex* data_lock_ = nullptr;
  Mutex* this_lock_ = nullptr;
  Shared<int>* value_ = nullptr;
};

}  // namespace

void AddRacyPrograms(std::vector<SuiteProgram>& out) {
  const FindingKind kAssert = FindingKind::kAssertion;
  out.push_back({"bluetooth_driver", "the device stops between the adder's check and use",
                 kAssert, [] { return std::make_unique<BluetoothDriver>(); }});
  for (int n = 2; n <= 7; ++n) {
    std::string name = "din_phil" + std::to_string(n);
    out.push_back({name, std::to_string(n) + " philosophers; the last to eat asserts 0" +
                             (n == 7 ? std::string(" (the C text never ends its atomic section)")
                                     : std::string()),
                   n == 7 ? FindingKind::kDeadlock : kAssert,
                   [name, n] { return std::make_unique<DinPhil>(name, n); }});
  }
  // SCTBench's reorder_N: N-1 setters and one checker up to 10; reorder_20
  // is its 10 setters and 10 checkers. 50 and 100 extend the first shape.
  struct Shape {
    int n, first, second;
  };
  for (Shape s : {Shape{3, 2, 1}, Shape{4, 3, 1}, Shape{5, 4, 1}, Shape{10, 9, 1},
                  Shape{20, 10, 10}, Shape{50, 49, 1}, Shape{100, 99, 1}}) {
    std::string name = "reorder_" + std::to_string(s.n);
    out.push_back({name,
                   std::to_string(s.first) + " setters, " + std::to_string(s.second) +
                       " checker(s); a check between a setter's two writes",
                   kAssert, [name, s] { return std::make_unique<Reorder>(name, s.first, s.second); }});
  }
  out.push_back({"token_ring", "the checker runs after the ring steps out of order", kAssert,
                 [] { return std::make_unique<TokenRing>(); }});
  // twostage is 1 writer and 1 reader; twostage_N has N-1 writers (as
  // SCTBench's twostage_100).
  for (Shape s : {Shape{2, 1, 1}, Shape{10, 9, 1}, Shape{20, 19, 1}, Shape{50, 49, 1},
                  Shape{100, 99, 1}}) {
    std::string name = s.n == 2 ? "twostage" : "twostage_" + std::to_string(s.n);
    out.push_back({name,
                   std::to_string(s.first) + " writer(s), 1 reader; a read between the stages",
                   kAssert,
                   [name, s] { return std::make_unique<TwoStage>(name, s.first, s.second); }});
  }
  out.push_back({"wronglock", "1 checked incrementer, 7 others under another lock", kAssert,
                 [] { return std::make_unique<WrongLock>("wronglock", 1, 7); }});
  out.push_back({"wronglock_3", "1 checked incrementer, 3 others under another lock", kAssert,
                 [] { return std::make_unique<WrongLock>("wronglock_3", 1, 3); }});
}

}  // namespace fsim::sctbench
