// SCTBench programs whose shared state is all lock-protected: only the
// synchronisation operations are scheduling points. Each class follows
// its C original (benchmarks/concurrent-software-benchmarks/NAME_bad.c);
// comments say where the bug is.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "sctbench/sct.h"
#include "sctbench/suite.h"

namespace fsim::sctbench {
namespace {

using sim::FindingKind;

// account: deposit and withdraw under a mutex; the checker asserts the
// wrong formula once both ran (balance is x + y - z, not x - y - z).
class Account final : public SctProgram {
 public:
  Account() : SctProgram("account") {}
  void Main() override {
    m_ = &NewMutex("m");
    balance_ = x_;
    ThreadId t3 = Create("check_result", [this] {
      m_->Lock();
      if (deposit_done_ && withdraw_done_) {
        Assert(balance_ == (x_ - y_) - z_, "balance == (x - y) - z");
      }
      m_->Unlock();
    });
    ThreadId t1 = Create("deposit", [this] {
      m_->Lock();
      balance_ += y_;
      deposit_done_ = true;
      m_->Unlock();
    });
    ThreadId t2 = Create("withdraw", [this] {
      m_->Lock();
      balance_ -= z_;
      withdraw_done_ = true;
      m_->Unlock();
    });
    Join(t3);
    Join(t1);
    Join(t2);
  }

 private:
  Mutex* m_ = nullptr;
  const int x_ = 1, y_ = 2, z_ = 4;
  int balance_ = 0;
  bool deposit_done_ = false, withdraw_done_ = false;
};

// carter01: each of two threads takes `l` when its counter goes 0 -> 1
// under `m`, and releases it on 1 -> 0 under `m` again. A thread blocked
// on `l` while holding `m` deadlocks the other. Two idle threads as in C.
class Carter01 final : public SctProgram {
 public:
  Carter01() : SctProgram("carter01") {}
  void Main() override {
    m_ = &NewMutex("m");
    l_ = &NewMutex("l");
    ThreadId a1 = Create("t1", [this] { Body(a_); });
    ThreadId b1 = Create("t2", [this] { Body(b_); });
    ThreadId a2 = Create("t3", [] {});
    ThreadId b2 = Create("t4", [] {});
    for (ThreadId t : {a1, b1, a2, b2}) Join(t);
  }

 private:
  void Body(int& counter) {
    m_->Lock();
    if (++counter == 1) l_->Lock();
    m_->Unlock();
    m_->Lock();
    if (--counter == 0) l_->Unlock();
    m_->Unlock();
  }
  Mutex* m_ = nullptr;
  Mutex* l_ = nullptr;
  int a_ = 0, b_ = 0;
};

// circular_buffer: a sender and a receiver alternate through flags under
// a mutex; the receiver asserts that the element it removes equals its
// own loop index, which drifts whenever it loops without receiving.
class CircularBuffer final : public SctProgram {
 public:
  CircularBuffer() : SctProgram("circular_buffer") {}
  void Main() override {
    m_ = &NewMutex("m");
    ThreadId t1 = Create("t1", [this] {
      for (int i = 0; i < kN; ++i) {
        m_->Lock();
        if (send_) {
          Insert(i);
          send_ = false;
          receive_ = true;
        }
        m_->Unlock();
      }
    });
    ThreadId t2 = Create("t2", [this] {
      for (int i = 0; i < kN; ++i) {
        m_->Lock();
        if (receive_) {
          Assert(Remove() == i, "removeLogElement() == i");
          receive_ = false;
          send_ = true;
        }
        m_->Unlock();
      }
    });
    Join(t1);
    Join(t2);
  }

 private:
  static constexpr int kMax = 10, kN = 7;
  int Remove() {
    if (next_ > 0 && first_ < kMax) return buffer_[first_++];
    return -1;
  }
  void Insert(int b) {
    if (next_ < kMax) {
      buffer_[next_] = static_cast<char>(b);
      next_ = (next_ + 1) % kMax;
    }
  }
  Mutex* m_ = nullptr;
  std::array<char, kMax> buffer_{};
  int first_ = 0, next_ = 0;
  bool send_ = true, receive_ = false;
};

// deadlock01: two threads take mutexes a and b in opposite orders.
class Deadlock01 final : public SctProgram {
 public:
  Deadlock01() : SctProgram("deadlock01") {}
  void Main() override {
    a_ = &NewMutex("a");
    b_ = &NewMutex("b");
    ThreadId t1 = Create("thread1", [this] { Both(*a_, *b_, +1); });
    ThreadId t2 = Create("thread2", [this] { Both(*b_, *a_, -1); });
    Join(t1);
    Join(t2);
  }

 private:
  void Both(Mutex& first, Mutex& second, int delta) {
    first.Lock();
    second.Lock();
    counter_ += delta;
    second.Unlock();
    first.Unlock();
  }
  Mutex* a_ = nullptr;
  Mutex* b_ = nullptr;
  int counter_ = 1;
};

// fsbench: 27 threads claim blocks for inodes; thread 26 indexes inode
// 26 of an array of 26 locks (the assertion before the lock catches it).
class FsBench final : public SctProgram {
 public:
  FsBench() : SctProgram("fsbench") {}
  void Main() override {
    for (int i = 0; i < kBlocks; ++i) {
      locki_[i] = &NewMutex("locki");
      lockb_[i] = &NewMutex("lockb");
    }
    std::vector<ThreadId> tids;
    for (int t = 0; t < kThreads; ++t) {
      tids.push_back(Create("thread_routine", [this, t] { Routine(t); }));
    }
    for (ThreadId t : tids) Join(t);
  }

 private:
  static constexpr int kBlocks = 26, kInodes = 32, kThreads = 27;
  void Routine(int tid) {
    int i = tid % kInodes;
    Assert(i < kBlocks, "i < NUMBLOCKS");
    locki_[i]->Lock();
    if (inode_[i] == 0) {
      int b = (i * 2) % kBlocks;
      for (int j = 0; j < kBlocks / 2; ++j) {
        lockb_[b]->Lock();
        if (!busy_[b]) {
          busy_[b] = true;
          inode_[i] = b + 1;
          lockb_[b]->Unlock();
          break;
        }
        lockb_[b]->Unlock();
        b = (b + 1) % kBlocks;
      }
    }
    locki_[i]->Unlock();
  }
  std::array<Mutex*, kBlocks> locki_{}, lockb_{};
  std::array<bool, kBlocks> busy_{};
  std::array<int, kInodes> inode_{};
};

// lazy01: two threads add 1 and 2 under a mutex; a third asserts that
// the sum has not reached 3, which fails when it runs last.
class Lazy01 final : public SctProgram {
 public:
  Lazy01() : SctProgram("lazy01") {}
  void Main() override {
    m_ = &NewMutex("mutex");
    ThreadId t1 = Create("thread1", [this] { Add(1); });
    ThreadId t2 = Create("thread2", [this] { Add(2); });
    ThreadId t3 = Create("thread3", [this] {
      m_->Lock();
      Assert(data_ < 3, "data < 3");
      m_->Unlock();
    });
    for (ThreadId t : {t1, t2, t3}) Join(t);
  }

 private:
  void Add(int n) {
    m_->Lock();
    data_ += n;
    m_->Unlock();
  }
  Mutex* m_ = nullptr;
  int data_ = 0;
};

// phase01: each of two threads re-takes x and never releases it: the
// second thread to want x waits forever.
class Phase01 final : public SctProgram {
 public:
  Phase01() : SctProgram("phase01") {}
  void Main() override {
    x_ = &NewMutex("x");
    y_ = &NewMutex("y");
    auto body = [this] {
      x_->Lock();
      x_->Unlock();
      x_->Lock();
      y_->Lock();
      y_->Unlock();
      y_->Lock();
      y_->Unlock();
    };
    ThreadId t1 = Create("thread1", body);
    ThreadId t2 = Create("thread2", body);
    Join(t1);
    Join(t2);
  }

 private:
  Mutex* x_ = nullptr;
  Mutex* y_ = nullptr;
};

// queue: an enqueuer and a dequeuer alternate through flags; the
// dequeuer compares with stored_elements[i] for its own loop index i,
// which drifts as in circular_buffer.
class Queue final : public SctProgram {
 public:
  Queue() : SctProgram("queue") {}
  void Main() override {
    m_ = &NewMutex("m");
    ThreadId t1 = Create("t1", [this] {
      m_->Lock();
      int value = 0;
      Enqueue(value);
      stored_[0] = value;
      Assert(head_ != tail_, "!empty(&queue)");
      m_->Unlock();
      for (int i = 0; i < kSize - 1; ++i) {
        m_->Lock();
        if (enqueue_flag_) {
          Enqueue(++value);
          stored_[i + 1] = value;
          enqueue_flag_ = false;
          dequeue_flag_ = true;
        }
        m_->Unlock();
      }
    });
    ThreadId t2 = Create("t2", [this] {
      for (int i = 0; i < kSize; ++i) {
        m_->Lock();
        if (dequeue_flag_) {
          Assert(Dequeue() == stored_[i], "dequeue(&queue) == stored_elements[i]");
          dequeue_flag_ = false;
          enqueue_flag_ = true;
        }
        m_->Unlock();
      }
    });
    Join(t1);
    Join(t2);
  }

 private:
  static constexpr int kSize = 20;
  void Enqueue(int x) {
    element_[tail_] = x;
    tail_ = tail_ == kSize ? 1 : tail_ + 1;
  }
  int Dequeue() {
    int x = element_[head_];
    head_ = head_ == kSize ? 1 : head_ + 1;
    return x;
  }
  Mutex* m_ = nullptr;
  std::array<int, kSize + 1> element_{};
  std::array<int, kSize> stored_{};
  int head_ = 0, tail_ = 0;
  bool enqueue_flag_ = true, dequeue_flag_ = false;
};

// stack: a pusher sets a flag after its first push; the popper pops on
// every iteration once the flag is set, and underflows when it pops
// faster than the pusher pushes.
class Stack final : public SctProgram {
 public:
  Stack() : SctProgram("stack") {}
  void Main() override {
    m_ = &NewMutex("m");
    ThreadId t1 = Create("t1", [this] {
      for (int i = 0; i < kSize; ++i) {
        m_->Lock();
        Assert(top_ != kSize, "push(arr, i) != OVERFLOW");
        arr_[top_++] = i;
        flag_ = true;
        m_->Unlock();
      }
    });
    ThreadId t2 = Create("t2", [this] {
      for (int i = 0; i < kSize; ++i) {
        m_->Lock();
        if (flag_) {
          Assert(top_ != 0, "pop(arr) != UNDERFLOW");
          --top_;
        }
        m_->Unlock();
      }
    });
    Join(t1);
    Join(t2);
  }

 private:
  static constexpr int kSize = 10;
  Mutex* m_ = nullptr;
  std::array<int, kSize> arr_{};
  int top_ = 0;
  bool flag_ = false;
};

// sync01: num starts at 1, so thread1 waits on `empty` while thread2
// signals it once (before or after the wait): thread1 sleeps forever.
class Sync01 final : public SctProgram {
 public:
  Sync01() : SctProgram("sync01") {}
  void Main() override {
    m_ = &NewMutex("m");
    empty_ = &NewCondVar("empty");
    full_ = &NewCondVar("full");
    ThreadId t1 = Create("thread1", [this] {
      m_->Lock();
      while (num_ > 0) empty_->Wait(*m_);
      ++num_;
      m_->Unlock();
      full_->Signal();
    });
    ThreadId t2 = Create("thread2", [this] {
      m_->Lock();
      while (num_ == 0) full_->Wait(*m_);
      m_->Unlock();
      empty_->Signal();
    });
    Join(t1);
    Join(t2);
  }

 private:
  Mutex* m_ = nullptr;
  CondVar* empty_ = nullptr;
  CondVar* full_ = nullptr;
  int num_ = 1;
};

// sync02: a producer and a consumer of two items each, starting with two
// items already there: the producer's second item waits for room forever.
class Sync02 final : public SctProgram {
 public:
  Sync02() : SctProgram("sync02") {}
  void Main() override {
    m_ = &NewMutex("m");
    empty_ = &NewCondVar("empty");
    full_ = &NewCondVar("full");
    ThreadId t1 = Create("producer", [this] {
      for (int i = 0; i < kN; ++i) {
        m_->Lock();
        while (num_ > 0) empty_->Wait(*m_);
        ++num_;
        m_->Unlock();
        full_->Signal();
      }
    });
    ThreadId t2 = Create("consumer", [this] {
      for (int j = 0; j < kN; ++j) {
        m_->Lock();
        while (num_ == 0) full_->Wait(*m_);
        --num_;
        m_->Unlock();
        empty_->Signal();
      }
    });
    Join(t1);
    Join(t2);
  }

 private:
  static constexpr int kN = 2;
  Mutex* m_ = nullptr;
  CondVar* empty_ = nullptr;
  CondVar* full_ = nullptr;
  int num_ = 2;
};

template <typename P>
SuiteProgram Entry(std::string name, std::string description, FindingKind expected) {
  return {std::move(name), std::move(description), expected,
          [] { return std::make_unique<P>(); }};
}

}  // namespace

void AddLockPrograms(std::vector<SuiteProgram>& out) {
  out.push_back(Entry<Account>("account", "checker asserts the wrong balance formula",
                               FindingKind::kAssertion));
  out.push_back(Entry<Carter01>("carter01", "a lock taken and released under another",
                                FindingKind::kDeadlock));
  out.push_back(Entry<CircularBuffer>(
      "circular_buffer", "receiver compares with its loop index", FindingKind::kAssertion));
  out.push_back(Entry<Deadlock01>("deadlock01", "two mutexes in opposite orders",
                                  FindingKind::kDeadlock));
  out.push_back(Entry<FsBench>("fsbench", "thread 26 indexes past 26 inode locks",
                               FindingKind::kAssertion));
  out.push_back(Entry<Lazy01>("lazy01", "checker runs after both adders",
                              FindingKind::kAssertion));
  out.push_back(Entry<Phase01>("phase01", "a mutex taken twice and released once",
                               FindingKind::kDeadlock));
  out.push_back(Entry<Queue>("queue", "dequeuer compares with its loop index",
                             FindingKind::kAssertion));
  out.push_back(Entry<Stack>("stack", "popper pops faster than the pusher pushes",
                             FindingKind::kAssertion));
  out.push_back(Entry<Sync01>("sync01", "a waiter whose condition never changes",
                              FindingKind::kDeadlock));
  out.push_back(Entry<Sync02>("sync02", "the producer waits for room that never comes",
                              FindingKind::kDeadlock));
}

}  // namespace fsim::sctbench
