#include "bank.h"

#include <string>
#include <utility>

#include "scenarios/library.h"

namespace bank {

using fsim::sim::Scheduler;

Bank::Bank(Scheduler& sched, int accounts, int64_t initial, Mistake mistake)
    : sched_(sched), mistake_(mistake) {
  // One lockdep class per account would hide nothing here; each mutex is
  // its own class (its name), as distinct static locks are in the kernel.
  for (int i = 0; i < accounts; ++i) {
    Account a;
    a.lock = std::make_unique<fsim::sim::Mutex>(sched, "account" + std::to_string(i));
    a.balance = initial;
    accounts_.push_back(std::move(a));
  }
}

void Bank::Transfer(int from, int to, int64_t amount) {
  Account& src = accounts_[from];
  Account& dst = accounts_[to];
  // The correct rule: the lower-numbered account first, whatever the
  // direction. The mistake: the order of the arguments.
  const bool by_argument = mistake_ == Mistake::kLockInArgumentOrder;
  Account& first = by_argument || from < to ? src : dst;
  Account& second = &first == &src ? dst : src;
  first.lock->Lock();
  second.lock->Lock();
  src.balance -= amount;
  // Whatever else a transfer does between the two updates (a log record,
  // a notification): another fiber may run here.
  sched_.Yield("transfer_between_updates");
  dst.balance += amount;
  second.lock->Unlock();
  first.lock->Unlock();
}

int64_t Bank::Audit() {
  const bool locked = mistake_ != Mistake::kAuditWithoutLocks;
  if (locked) {
    for (Account& a : accounts_) a.lock->Lock();
  }
  int64_t total = 0;
  for (Account& a : accounts_) {
    total += a.balance;
    sched_.Yield("audit_next_account");
  }
  if (locked) {
    for (auto it = accounts_.rbegin(); it != accounts_.rend(); ++it) it->lock->Unlock();
  }
  return total;
}

namespace {

constexpr int kAccounts = 3;
constexpr int64_t kInitial = 100;

// One run: two opposite transfers and an auditor; every audit and the end
// state must show the money that was there at the start.
class BankProgram final : public fsim::sim::Program {
 public:
  explicit BankProgram(Mistake mistake) : mistake_(mistake) {}

  void Start(Scheduler& s) override {
    bank_ = std::make_unique<Bank>(s, kAccounts, kInitial, mistake_);
    s.Spawn("alice", [this] { bank_->Transfer(0, 1, 30); });
    s.Spawn("bob", [this] { bank_->Transfer(1, 0, 20); });
    s.Spawn("auditor", [this, &s] {
      const int64_t total = bank_->Audit();
      if (total != kAccounts * kInitial) Fail(s, "bank:audit_total", "audit saw " + std::to_string(total));
    });
  }

  void Finish(Scheduler& s) override {
    int64_t total = 0;
    for (int i = 0; i < bank_->size(); ++i) total += bank_->Peek(i);
    if (total != kAccounts * kInitial) Fail(s, "bank:final_total", "final total " + std::to_string(total));
  }

 private:
  static void Fail(Scheduler& s, std::string signature, std::string report) {
    fsim::sim::Finding f;
    f.kind = fsim::sim::FindingKind::kAssertion;
    f.signature = std::move(signature);
    f.report = std::move(report);
    s.Fail(std::move(f));
  }

  Mistake mistake_;
  std::unique_ptr<Bank> bank_;
};

fsim::ProgramFactory Make(Mistake mistake) {
  return [mistake] { return std::make_unique<BankProgram>(mistake); };
}

// Registered for the CLI built with @fsim//:fsim_main (BUILD.bazel's
// bank_fsim): `bank_fsim explore --scenario bank_abba`.
const fsim::ProgramRegistrar kOrdered{{.name = "bank_ordered",
                                       .description = "two opposite transfers and an audit, "
                                                      "lower account locked first",
                                       .make = Make(Mistake::kNone),
                                       .family = "examples"}};
const fsim::ProgramRegistrar kAbba{{.name = "bank_abba",
                                    .description = "transfers lock from, then to (ABBA)",
                                    .make = Make(Mistake::kLockInArgumentOrder),
                                    .family = "examples"}};
const fsim::ProgramRegistrar kUnlockedAudit{{.name = "bank_unlocked_audit",
                                             .description = "the audit reads balances without the locks",
                                             .make = Make(Mistake::kAuditWithoutLocks),
                                             .family = "examples"}};

}  // namespace

fsim::ProgramFactory ProgramWith(Mistake mistake) { return Make(mistake); }

}  // namespace bank
