// `fsim replay TRACE --chrome-trace OUT.json`: the run in the Chrome
// trace-event format, for Perfetto (ui.perfetto.dev) or chrome://tracing:
//
//   {"traceEvents":[...], "displayTimeUnit":"ns", "otherData":{...}}
//
// Layout:
// - Process 1 "fibers": one thread per fiber (a fiber slot reused under
//   another name gets its own thread), named by "thread_name" metadata;
//   "main" is the scheduler's own context. On it: "run" slices (X, cat
//   "sched") where the fiber ran, between switches; instants for spawn,
//   block (with what it waits for and who holds it), wake, timeout,
//   timer, choose and exit.
// - Next to each fiber, "NAME locks" threads (one, more only where spans
//   overlap without nesting): lock hold spans (X, cat "lock", name = the
//   lock class, e.g. "&BTRFS_I(inode)->io_tree" or "PG_locked"; args:
//   instance, range, acquire site, release site, wait), wait spans from
//   request to acquisition (X, cat "lock_wait", name "wait: CLASS"), and
//   reclaim passes (X, cat "reclaim"). A span still open at the end is
//   closed there with args.open = "at exit" or "at end of run".
// - Process 2 "devices": one thread per device; each bio is an async
//   span (b/e, cat "bio", id per bio) from submit_bio to end_io, args op,
//   sector, len, flags, status.
// - Each finding: a global instant (i, s "g", cat "finding") with kind,
//   signature and the report in args.
//
// Time: ts is the scheduler's step counter shown as microseconds, the
// n-th event within one step n nanoseconds later (ts = step + n/1000), so
// the picture is deterministic and every event is ordered; virtual time
// is in args.t_ns. Virtual time is not the axis: it stands still while
// fibers run (it advances only when every fiber waits for a timer), so
// most of a run would collapse to a few instants.
//
// An observer (sim/tracer.h): it records and never changes the run.
#ifndef FSIM_MODEL_CHROME_TRACE_H_
#define FSIM_MODEL_CHROME_TRACE_H_

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/tracing.h"
#include "sim/limits.h"
#include "sim/scheduler.h"
#include "sim/tracer.h"

namespace fsim::model {

class ChromeTrace final : public sim::Tracer {
 public:
  // Events recorded at most (a run's trace is bounded like everything
  // else); past it events are counted in otherData.events_dropped.
  static constexpr size_t kEventsMax = 2'000'000;

  // The whole document; `other` becomes "otherData" (the scenario, seed,
  // config and finding of the run; the clock's meaning is added).
  // REQUIRES: after the run (RunEnd).
  nlohmann::json Json(nlohmann::json other) const;

  void RunBegin(const sim::Scheduler& sched) override;
  void RunEnd() override;
  void Spawn(const sim::Fiber& fiber) override;
  void Exit(const sim::Fiber& fiber) override;
  void Switch(const sim::Fiber& from, const sim::Fiber& to) override;
  void Block(const sim::Fiber& fiber, const sim::Waitable& on, uint64_t deadline_ns) override;
  void Wake(const sim::Fiber& fiber) override;
  void Timeout(const sim::Fiber& fiber) override;
  void Timer(std::string_view name) override;
  void Choice(sim::Site site, uint64_t n, uint64_t value) override;
  void FindingReported(const sim::Finding& finding) override;
  void LockRequest(const sim::LockRequestInfo& info) override;
  void LockAcquired(const sim::LockMap& map) override;
  void LockRange(const sim::LockMap& map, uint64_t start, uint64_t end) override;
  void LockInstance(const sim::LockMap& map, std::string_view instance) override;
  void LockRelease(sim::FiberId owner, const sim::LockMap& map,
                   std::source_location where) override;
  void BioSubmit(std::string_view device, const sim::Bio& bio) override;
  void BioComplete(std::string_view device, const sim::Bio& bio) override;
  void ReclaimBegin(uint32_t gfp, uint64_t target_pages, bool kswapd) override;
  void ReclaimEnd(uint64_t freed_pages) override;

 private:
  // A fiber's thread: one per (slot, name).
  struct Track {
    sim::FiberId id;
    std::string name;
    int tid;
    double run_start = -1;  // the open "run" slice, -1 if none
  };
  // A span to lay out on a fiber's lock threads once the run is over.
  struct Span {
    size_t track;
    double ts, end;
    uint64_t seq;  // recording order, to break ties
    nlohmann::json event;  // name, cat, args
  };
  struct Reclaim {
    sim::FiberId fiber;
    double ts;
    uint64_t t_ns;
    nlohmann::json args;
  };
  struct OpenBio {
    const sim::Bio* bio;  // identity only
    uint64_t id;
    int tid;
    std::string name;
  };

  bool Live() const;
  double Now() { return clock_.Now(*sched_); }
  size_t TrackOf(const sim::Fiber& fiber);
  size_t CurrentTrack();
  void Emit(nlohmann::json event);
  void Instant(size_t track, double ts, std::string name, nlohmann::json args = {});
  void CloseRun(size_t track, double ts);
  void CloseLock(const TracedLock& lock, double ts, const std::string& release_site,
                 const char* open);
  void CloseReclaims(sim::FiberId fiber, double ts, const char* open);
  int DeviceTid(std::string_view device);

  const sim::Scheduler* sched_ = nullptr;
  StepClock clock_;
  std::vector<nlohmann::json> events_;
  uint64_t dropped_ = 0;
  std::vector<Track> tracks_;
  size_t slot_track_[sim::kFibersMax + 1] = {};  // fiber slot (last: main) -> track
  LockTable locks_;
  std::vector<Span> spans_;
  std::vector<Reclaim> reclaims_;  // open passes, innermost last
  std::vector<std::string> devices_;
  std::vector<OpenBio> bios_;  // in flight, submission order
  uint64_t next_bio_ = 0;
  uint64_t seq_ = 0;
};

}  // namespace fsim::model

#endif  // FSIM_MODEL_CHROME_TRACE_H_
