// A finding is what a run reports when the system under test misbehaves:
// a kind, a signature that is stable across runs (names and classes, never
// addresses) for deduplication, and a report a kernel developer reads.
#ifndef FSIM_SIM_FINDING_H_
#define FSIM_SIM_FINDING_H_

#include <optional>
#include <string>
#include <string_view>

namespace fsim::sim {

enum class FindingKind {
  kDeadlock,
  kLivelock,
  kStackOverflow,
  kSleepInAtomic,
  kLockOrder,
  kLockMisuse,
  kWarn,
  kAssertion,
  kUseAfterFree,
  kDataMismatch,
  kCrashInconsistency,
  kChecksum,
  // SIGSEGV or SIGBUS in a fiber, outside its stack guard.
  kCrash,
  // Two unordered accesses to a sim::Shared, one a write, one plain
  // (sim/race.h).
  kDataRace,
};

// The kind's name as used in reports, JSON and traces (e.g. "deadlock").
std::string_view FindingKindName(FindingKind kind);
// Inverse of FindingKindName; nullopt for an unknown name.
std::optional<FindingKind> FindingKindFromName(std::string_view name);

struct Finding {
  FindingKind kind = FindingKind::kAssertion;
  // Stable across runs and processes: used to deduplicate findings.
  std::string signature;
  // The report, first line being the summary ("message").
  std::string report;

  // The first line of `report` that is not a rule of '=' or '-'.
  std::string_view message() const;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_FINDING_H_
