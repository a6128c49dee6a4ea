// An example of your own concurrent code under fsim: a bank whose
// transfers lock two accounts, and an auditor that sums every balance.
// It is written on fsim's primitives (sim::Mutex, Scheduler::Yield) the
// way code tested with loom or shuttle is written on theirs, and it has
// two mistakes a developer could make, each a registered program of its
// own:
//
//   bank_ordered         locks the lower account first: correct.
//   bank_abba            locks `from` then `to`: two opposite transfers
//                        invert the order (lockdep's report, or a hang).
//   bank_unlocked_audit  the auditor reads balances without the locks and
//                        can see money in flight (an assertion).
#ifndef FSIM_EXAMPLES_BANK_H_
#define FSIM_EXAMPLES_BANK_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "scenarios/library.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace bank {

enum class Mistake { kNone, kLockInArgumentOrder, kAuditWithoutLocks };

class Bank {
 public:
  Bank(fsim::sim::Scheduler& sched, int accounts, int64_t initial, Mistake mistake);

  // Moves `amount` from account `from` to account `to`.
  void Transfer(int from, int to, int64_t amount);
  // The sum of every balance, as one consistent snapshot.
  int64_t Audit();
  int64_t Peek(int account) const { return accounts_[account].balance; }
  int size() const { return static_cast<int>(accounts_.size()); }

 private:
  struct Account {
    std::unique_ptr<fsim::sim::Mutex> lock;
    int64_t balance = 0;
  };
  fsim::sim::Scheduler& sched_;
  std::vector<Account> accounts_;
  Mistake mistake_;
};

// A fresh run of the example (two opposite transfers and an auditor) with
// `mistake`, for fsim::Check.
fsim::ProgramFactory ProgramWith(Mistake mistake);

}  // namespace bank

#endif  // FSIM_EXAMPLES_BANK_H_
