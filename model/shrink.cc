#include "model/shrink.h"

#include <algorithm>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "model/explorer.h"
#include "sim/check.h"
#include "sim/scheduler.h"

namespace fsim::model {
namespace {

using sim::Decision;
using sim::DecisionKind;

// A candidate entry no run records (real decisions have n >= 2): take the
// canonical default here.
constexpr Decision kTakeDefault{DecisionKind::kFiber, 0, 0};

// What the lenient replay knew about one decision it took.
struct Taken {
  bool preemption = false;   // switched away from a fiber that could go on
  bool non_default = false;  // differs from the canonical default
};

// The shrinker's replay: follows a candidate stream while it fits and
// takes the canonical default where it does not, so that any edit of a
// stream still gives a run that ends. The canonical default of a fiber
// pick is "no preemption" (the fiber that reached the point if it can go
// on, else the lowest runnable id); of a value, 0.
//
// Entries are consumed by position, except that an entry of the other
// kind is left for the next choice of its kind: a removed fiber pick then
// does not shift every later value onto a fiber pick. An entry of the
// right kind that does not fit (a fiber that is not runnable, a value out
// of range) is consumed and replaced by the default. The stream it is
// given must outlive the run.
class LenientReplay final : public sim::Strategy {
 public:
  explicit LenientReplay(const std::vector<Decision>& stream)
      : stream_(stream) {}

  void BeginRun(uint64_t) override {
    next_ = 0;
    taken_.clear();
  }

  sim::FiberId PickFiber(const sim::SchedulePoint& point) override {
    const auto& runnable = point.runnable;
    bool can_go_on =
        point.current_runnable &&
        std::binary_search(runnable.begin(), runnable.end(), point.current);
    sim::FiberId fallback = can_go_on ? point.current : runnable[0];
    sim::FiberId pick = fallback;
    if (const Decision* d = Next(DecisionKind::kFiber)) {
      if (std::binary_search(runnable.begin(), runnable.end(), d->value)) {
        pick = d->value;
      }
    }
    taken_.push_back({can_go_on && pick != point.current, pick != fallback});
    return pick;
  }

  uint64_t PickValue(uint64_t n, sim::Site) override {
    uint64_t value = 0;
    if (const Decision* d = Next(DecisionKind::kValue)) {
      if (d->value < n) value = d->value;
    }
    taken_.push_back({false, value != 0});
    return value;
  }

  const std::vector<Taken>& taken() const { return taken_; }

 private:
  // The next entry if it is of `kind` (consumed), else nullptr; a default
  // marker is consumed and gives nullptr.
  const Decision* Next(DecisionKind kind) {
    if (next_ >= stream_.size()) return nullptr;
    const Decision& d = stream_[next_];
    if (d.n == 0) {
      ++next_;
      return nullptr;
    }
    if (d.kind != kind) return nullptr;
    ++next_;
    return &d;
  }

  const std::vector<Decision>& stream_;
  size_t next_ = 0;
  std::vector<Taken> taken_;
};

// One run of a candidate.
struct Outcome {
  bool interesting = false;  // it has the finding being kept
  std::vector<Decision> decisions;  // as taken, one per choice
  std::vector<Taken> taken;         // parallel to `decisions`
  StreamSize size;
  sim::RunResult result;
};

StreamSize Measure(const Outcome& out) {
  StreamSize s;
  s.decisions = out.decisions.size();
  s.steps = out.result.steps;
  for (size_t i = 0; i < out.decisions.size(); ++i) {
    const Decision& d = out.decisions[i];
    if (d.kind == DecisionKind::kFiber) {
      s.preemptions += out.taken[i].preemption;
    } else {
      ++s.value_decisions;
      s.nonzero_values += d.value != 0;
      s.value_sum += d.value;
    }
    s.non_default += out.taken[i].non_default;
  }
  return s;
}

// The order "smaller" means (see shrink.h).
auto Key(const StreamSize& s) {
  return std::make_tuple(s.decisions, s.preemptions, s.nonzero_values,
                         s.non_default, s.value_sum, s.steps);
}

class Shrinker {
 public:
  Shrinker(const Trace& trace, const Target& target, uint64_t max_runs)
      : target_(target),
        kind_(trace.finding->kind),
        signature_(trace.finding->signature),
        seed_(trace.seed),
        max_runs_(max_runs) {
    // A kept run never takes more steps than the original, so a candidate
    // that would (say, one fiber spinning forever under "no preemption")
    // is cut off there instead of at the scenario's step limit. Not for a
    // livelock, whose finding is the step limit itself.
    if (kind_ != sim::FindingKind::kLivelock) {
      target_.run_options.steps_max =
          std::min(target_.run_options.steps_max, trace.steps);
    }
  }

  // Runs the original stream. REQUIRES: the trace reproduces strictly.
  void Start(const std::vector<Decision>& original) {
    std::optional<Outcome> out = Evaluate(original);
    FSIM_CHECK_MSG(out && out->interesting,
                   "shrink: the original stream lost its finding");
    FSIM_CHECK_MSG(out->decisions == original,
                   "shrink: lenient replay left a valid stream");
    original_ = out->size;
    current_ = std::move(*out);
  }

  // Rounds of all passes until one changes nothing or the runs run out.
  void Run() {
    bool progress = true;
    while (progress && !OutOfRuns()) {
      ++rounds_;
      progress = false;
      progress |= TruncateTail();
      progress |= DefaultChunks();
      progress |= CanonicalFibers();
      progress |= ShrinkValues();
      progress |= RemoveChunks();
      // The cheap passes are at a fixpoint: spend budget on wider moves.
      if (!progress) progress |= MovePicks();
      if (!progress) progress |= DefaultPairs();
    }
    // A round that changed nothing is a fixpoint; otherwise the budget
    // ended the search (a round cut short may have had more to find).
    exhausted_ = progress || OutOfRuns();
  }

  const Outcome& current() const { return current_; }
  const StreamSize& original() const { return original_; }
  uint64_t runs() const { return runs_; }
  uint64_t rounds() const { return rounds_; }
  bool exhausted() const { return exhausted_; }

 private:
  bool OutOfRuns() const { return runs_ >= max_runs_; }

  // Runs `candidate`; nullopt if the budget is spent or the same candidate
  // ran before (its outcome cannot beat the current stream: the current
  // stream only ever gets smaller).
  std::optional<Outcome> Evaluate(const std::vector<Decision>& candidate) {
    if (OutOfRuns()) return std::nullopt;
    // Decision has no padding: its bytes identify it.
    std::string bytes(reinterpret_cast<const char*>(candidate.data()),
                      candidate.size() * sizeof(Decision));
    if (!tried_.insert(std::move(bytes)).second) return std::nullopt;
    ++runs_;
    LenientReplay replay(candidate);
    Outcome out;
    out.result = RunOnce(target_, sched_, replay, seed_);
    // A stream too long to record cannot become a trace.
    if (sched_.chooser().overflowed()) return out;
    out.decisions = sched_.chooser().decisions();
    out.taken = replay.taken();
    FSIM_CHECK(out.decisions.size() == out.taken.size());
    out.interesting = std::any_of(
        out.result.findings.begin(), out.result.findings.end(),
        [&](const sim::Finding& f) {
          return f.kind == kind_ && f.signature == signature_;
        });
    out.size = Measure(out);
    return out;
  }

  // Runs `candidate` and keeps its run if it has the finding, is smaller
  // than the current one and nowhere larger than the original.
  bool TryAccept(const std::vector<Decision>& candidate) {
    std::optional<Outcome> out = Evaluate(candidate);
    if (!out || !out->interesting) return false;
    const StreamSize& s = out->size;
    if (s.decisions > original_.decisions ||
        s.preemptions > original_.preemptions || s.steps > original_.steps) {
      return false;
    }
    if (!(Key(s) < Key(current_.size))) return false;
    current_ = std::move(*out);
    return true;
  }

  // The index after the last non-default decision: from there on the
  // current stream is all defaults.
  size_t DefaultTail() const {
    size_t end = current_.taken.size();
    while (end > 0 && !current_.taken[end - 1].non_default) --end;
    return end;
  }

  std::vector<size_t> NonDefaultIndices() const {
    std::vector<size_t> out;
    for (size_t i = 0; i < current_.taken.size(); ++i) {
      if (current_.taken[i].non_default) out.push_back(i);
    }
    return out;
  }

  std::vector<Decision> Prefix(size_t length) const {
    return {current_.decisions.begin(),
            current_.decisions.begin() + static_cast<std::ptrdiff_t>(length)};
  }

  // Binary search for the shortest prefix that, followed by defaults,
  // keeps the finding. A kept prefix of length L leaves the stream with
  // defaults only after L, so the bound stays valid as the stream changes.
  bool TruncateTail() {
    bool progress = false;
    size_t lo = 0;
    size_t hi = DefaultTail();
    while (lo < hi && !OutOfRuns()) {
      size_t mid = lo + (hi - lo) / 2;
      if (TryAccept(Prefix(mid))) {
        hi = std::min(mid, DefaultTail());
        progress = true;
      } else {
        lo = mid + 1;
      }
    }
    return progress;
  }

  // ddmin over the non-default decisions: replace chunks of them by the
  // default, halving the chunk size down to one.
  bool DefaultChunks() {
    bool progress = false;
    size_t count = NonDefaultIndices().size();
    for (size_t chunk = std::max<size_t>(count / 2, 1); count > 0; chunk /= 2) {
      for (size_t start = 0; !OutOfRuns();) {
        std::vector<size_t> indices = NonDefaultIndices();
        if (start >= indices.size()) break;
        std::vector<Decision> candidate = current_.decisions;
        size_t end = std::min(start + chunk, indices.size());
        for (size_t k = start; k < end; ++k) candidate[indices[k]] = kTakeDefault;
        if (TryAccept(candidate)) {
          progress = true;  // the chunk is gone: the next one is at `start`
        } else {
          start += chunk;
        }
      }
      if (chunk == 1 || OutOfRuns()) break;
    }
    return progress;
  }

  // Each fiber pick that is not the default (a preemption, or not the
  // lowest id after a block) becomes the default. Decisions before the
  // edited one are unchanged by an edit, so the scan goes on at i + 1.
  bool CanonicalFibers() {
    bool progress = false;
    for (size_t i = 0; i < current_.decisions.size() && !OutOfRuns(); ++i) {
      if (current_.decisions[i].kind != DecisionKind::kFiber ||
          !current_.taken[i].non_default) {
        continue;
      }
      std::vector<Decision> candidate = current_.decisions;
      candidate[i] = kTakeDefault;
      if (TryAccept(candidate)) {
        progress = true;
        continue;
      }
      // The later decisions were made for the schedule this pick led to;
      // without it, defaults from here on may fit better.
      candidate.resize(i + 1);
      progress |= TryAccept(candidate);
    }
    return progress;
  }

  // Each nonzero value goes to 0, or else to the smallest value a binary
  // search (starting at half) finds that keeps the finding.
  bool ShrinkValues() {
    bool progress = false;
    for (size_t i = 0; i < current_.decisions.size() && !OutOfRuns(); ++i) {
      const Decision d = current_.decisions[i];
      if (d.kind != DecisionKind::kValue || d.value == 0) continue;
      auto with_value = [&](uint32_t value) {
        std::vector<Decision> candidate = current_.decisions;
        candidate[i].value = value;
        return candidate;
      };
      if (TryAccept(with_value(0))) {
        progress = true;
        continue;
      }
      uint32_t lo = 0;        // does not keep the finding
      uint32_t hi = d.value;  // does
      while (lo + 1 < hi && !OutOfRuns()) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (TryAccept(with_value(mid))) {
          hi = mid;
          progress = true;
        } else {
          lo = mid;
        }
      }
    }
    return progress;
  }

  // Each non-default fiber pick happens one choice later, or one earlier,
  // instead (the same fiber, the pick it moves off taking the default),
  // with the rest of the stream kept or else all defaults: a context
  // switch moved may need fewer steps or switches around it.
  bool MovePicks() {
    bool progress = false;
    for (size_t i = 0; i < current_.decisions.size() && !OutOfRuns(); ++i) {
      const Decision d = current_.decisions[i];
      if (d.kind != DecisionKind::kFiber || !current_.taken[i].non_default) {
        continue;
      }
      for (size_t j : {i + 1, i - 1}) {  // i - 1 wraps past 0: skipped
        if (j >= current_.decisions.size() ||
            current_.decisions[j].kind != DecisionKind::kFiber) {
          continue;
        }
        std::vector<Decision> candidate = current_.decisions;
        candidate[i] = kTakeDefault;
        candidate[j] = {DecisionKind::kFiber, candidate[j].n, d.value};
        if (TryAccept(candidate)) {
          progress = true;
          break;
        }
        // As for a removed pick: defaults after the moved one may fit.
        candidate.resize(std::max(i, j) + 1);
        if (TryAccept(candidate)) {
          progress = true;
          break;
        }
      }
    }
    return progress;
  }

  // Every pair of non-default decisions, not only neighbours, becomes the
  // default: two preemptions that only matter together go together.
  bool DefaultPairs() {
    std::vector<size_t> indices = NonDefaultIndices();
    for (size_t a = 0; a < indices.size() && !OutOfRuns(); ++a) {
      for (size_t b = a + 1; b < indices.size() && !OutOfRuns(); ++b) {
        std::vector<Decision> candidate = current_.decisions;
        candidate[indices[a]] = kTakeDefault;
        candidate[indices[b]] = kTakeDefault;
        // The stream changed: the next round starts over from it.
        if (TryAccept(candidate)) return true;
      }
    }
    return false;
  }

  // ddmin over the whole stream: remove chunks of decisions, halving the
  // chunk size down to one. Later decisions move up to earlier choices.
  bool RemoveChunks() {
    bool progress = false;
    for (size_t chunk = std::max<size_t>(current_.decisions.size() / 2, 1);
         !current_.decisions.empty(); chunk /= 2) {
      for (size_t start = 0; start < current_.decisions.size() && !OutOfRuns();) {
        std::vector<Decision> candidate = current_.decisions;
        size_t end = std::min(start + chunk, candidate.size());
        candidate.erase(candidate.begin() + static_cast<std::ptrdiff_t>(start),
                        candidate.begin() + static_cast<std::ptrdiff_t>(end));
        if (TryAccept(candidate)) {
          progress = true;
        } else {
          start += chunk;
        }
      }
      if (chunk == 1 || OutOfRuns()) break;
    }
    return progress;
  }

  Target target_;  // the trace's target, its step limit capped
  sim::Scheduler sched_;
  sim::FindingKind kind_;
  std::string signature_;
  uint64_t seed_;
  uint64_t max_runs_;
  uint64_t runs_ = 0;
  uint64_t rounds_ = 0;
  bool exhausted_ = false;
  // Candidates already run, as bytes (membership only: never iterated).
  std::set<std::string> tried_;
  StreamSize original_;
  Outcome current_;
};

std::string NotReproducedProblem(const Trace& trace, const Reproduction& rep) {
  std::string problem = "the trace does not reproduce";
  if (!rep.divergence.empty()) problem += ": diverged at " + rep.divergence;
  if (!rep.same_finding) {
    problem += "; replay did not report " +
               std::string(sim::FindingKindName(trace.finding->kind)) + " " +
               trace.finding->signature;
  }
  if (!rep.same_digest) {
    problem += "; digest " + DigestHex(rep.result.digest) + ", trace says " +
               DigestHex(trace.digest);
  }
  return problem;
}

}  // namespace

ShrinkResult Shrink(const Trace& trace, const Target& target,
                    const ShrinkOptions& options) {
  ShrinkResult out;
  if (!trace.finding) {
    out.status = ShrinkStatus::kNoFinding;
    return out;
  }
  Reproduction rep = Reproduce(trace, target);
  if (!rep.reproduced()) {
    out.status = ShrinkStatus::kNotReproduced;
    out.problem = NotReproducedProblem(trace, rep);
    return out;
  }

  Shrinker shrinker(trace, target, std::max<uint64_t>(options.max_runs, 1));
  shrinker.Start(trace.decisions);
  shrinker.Run();
  const Outcome& best = shrinker.current();

  out.trace = trace;
  out.trace.decisions = best.decisions;
  out.trace.digest = best.result.digest;
  out.trace.steps = best.result.steps;
  out.trace.virtual_ns = best.result.virtual_ns;
  for (const sim::Finding& f : best.result.findings) {
    if (f.kind == trace.finding->kind && f.signature == trace.finding->signature) {
      out.trace.finding = f;  // its report as this run gives it
      break;
    }
  }
  out.before = shrinker.original();
  out.after = best.size;
  out.runs = shrinker.runs();
  out.rounds = shrinker.rounds();
  out.budget_exhausted = shrinker.exhausted();

  // The shrunk trace must replay strictly, as any trace fsim writes.
  Reproduction check = Reproduce(out.trace, target);
  if (!check.reproduced()) {
    throw std::runtime_error("shrink: the shrunk trace does not replay: " +
                             NotReproducedProblem(out.trace, check));
  }
  return out;
}

}  // namespace fsim::model
