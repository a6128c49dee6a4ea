// Your own tests of your own code, explored by fsim in-process.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "bank.h"
#include "scenarios/library.h"

namespace {

std::string OutDir() {
  const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  return dir != nullptr ? dir : "fsim-out";
}

fsim::CheckOptions Options(const char* strategy, uint64_t runs) {
  fsim::CheckOptions o;
  o.strategy = strategy;
  o.runs = runs;
  o.out_dir = OutDir();
  return o;
}

TEST(BankTest, OrderedLockingIsCleanUnderEveryStrategy) {
  for (const char* strategy : {"random", "pct", "surw"}) {
    const fsim::CheckResult r =
        fsim::Check("bank_ordered", bank::ProgramWith(bank::Mistake::kNone), Options(strategy, 2000));
    EXPECT_TRUE(r.findings.empty()) << strategy << ": " << r.Describe();
  }
  // And every interleaving of it, exhaustively.
  const fsim::CheckResult dfs =
      fsim::Check("bank_ordered", bank::ProgramWith(bank::Mistake::kNone), Options("dfs", 1000000));
  EXPECT_TRUE(dfs.exhausted);
  EXPECT_TRUE(dfs.findings.empty()) << dfs.Describe();
}

TEST(BankTest, LockingInArgumentOrderIsALockOrderInversion) {
  const fsim::CheckResult r = fsim::Check(
      "bank_abba", bank::ProgramWith(bank::Mistake::kLockInArgumentOrder), Options("pct", 2000));
  ASSERT_FALSE(r.findings.empty()) << r.Describe();
  EXPECT_EQ(r.findings.front().finding.kind, fsim::sim::FindingKind::kLockOrder) << r.Describe();
  std::string why;
  EXPECT_TRUE(fsim::Replay(r.findings.front().trace_path,
                           bank::ProgramWith(bank::Mistake::kLockInArgumentOrder), &why))
      << why;
}

TEST(BankTest, AnAuditWithoutTheLocksSeesMoneyInFlight) {
  const fsim::CheckResult r = fsim::Check(
      "bank_unlocked_audit", bank::ProgramWith(bank::Mistake::kAuditWithoutLocks), Options("pct", 2000));
  ASSERT_FALSE(r.findings.empty()) << r.Describe();
  EXPECT_EQ(r.findings.front().finding.signature, "bank:audit_total") << r.Describe();
}

}  // namespace
