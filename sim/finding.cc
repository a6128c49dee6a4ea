#include "sim/finding.h"

#include <array>
#include <utility>

namespace fsim::sim {
namespace {

constexpr std::array<std::pair<FindingKind, std::string_view>, 14> kNames = {{
    {FindingKind::kDeadlock, "deadlock"},
    {FindingKind::kLivelock, "livelock"},
    {FindingKind::kStackOverflow, "stack_overflow"},
    {FindingKind::kSleepInAtomic, "sleep_in_atomic"},
    {FindingKind::kLockOrder, "lock_order"},
    {FindingKind::kLockMisuse, "lock_misuse"},
    {FindingKind::kWarn, "warn"},
    {FindingKind::kAssertion, "assertion"},
    {FindingKind::kUseAfterFree, "use_after_free"},
    {FindingKind::kDataMismatch, "data_mismatch"},
    {FindingKind::kCrashInconsistency, "crash_inconsistency"},
    {FindingKind::kChecksum, "checksum"},
    {FindingKind::kCrash, "crash"},
    {FindingKind::kDataRace, "data_race"},
}};

}  // namespace

std::string_view FindingKindName(FindingKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<FindingKind> FindingKindFromName(std::string_view name) {
  for (const auto& [k, n] : kNames) {
    if (n == name) return k;
  }
  return std::nullopt;
}

std::string_view Finding::message() const {
  // The first line that says something: kernel reports open with a rule
  // of '=' (and may have one of '-' below the title).
  std::string_view r = report;
  while (!r.empty()) {
    size_t eol = r.find('\n');
    std::string_view line = r.substr(0, eol);
    if (line.find_first_not_of("=- ") != std::string_view::npos) return line;
    if (eol == std::string_view::npos) break;
    r.remove_prefix(eol + 1);
  }
  return report;
}

}  // namespace fsim::sim
