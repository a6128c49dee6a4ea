// Checks the tracer's sinks on traces that exploration finds in real
// scenarios (abba, whose lockdep is off, and two fs scenarios with an
// injected lock-order mistake, lockdep on): the replay with a tracer has
// the digest and findings of the replay without one; the Chrome trace is
// JSON of the documented shape (a thread_name for every fiber thread,
// spans with dur >= 0, every async bio begin ended, exactly one finding
// instant with the trace's signature, device I/O where the run does I/O);
// the event log prints the lock acquisitions in the order they happen.
#include "model/chrome_trace.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>

#include "model/event_log.h"
#include "model/explorer.h"
#include "model/trace.h"
#include "model/tracing.h"
#include "scenarios/registry.h"
#include "sim/scheduler.h"

namespace fsim::model {
namespace {

struct Found {
  Trace trace;
  Target target;
};

Found Find(const std::string& scenario, Config config, const std::string& kind) {
  std::string error;
  auto target = scenarios::MakeTarget(scenario, config, &error);
  EXPECT_TRUE(target.has_value()) << error;
  ExploreOptions o;
  o.strategy.name = "pct";
  o.runs = 200;
  o.all = true;
  const char* tmp = std::getenv("TEST_TMPDIR");
  o.out_dir = std::string(tmp ? tmp : "/tmp") + "/chrome-trace-test";
  ExploreSummary s = Explore({*target}, o);
  for (const FindingRecord& f : s.findings) {
    if (std::string(sim::FindingKindName(f.finding.kind)) != kind) continue;
    auto trace = ReadTrace(f.trace_path, &error);
    EXPECT_TRUE(trace.has_value()) << error;
    return {*trace, *target};
  }
  ADD_FAILURE() << "no " << kind << " finding in " << scenario;
  return {Trace{}, *target};
}

// Records the acquisitions the tracer is told of: (fiber, lock class).
class AcquireRecorder final : public sim::Tracer {
 public:
  void RunBegin(const sim::Scheduler& sched) override { sched_ = &sched; }
  void LockRequest(const sim::LockRequestInfo& info) override {
    if (sched_->unwinding()) return;
    if (info.trylock) {
      Add(LockClassName(*info.map, info.subclass));
    } else {
      pending_[{sched_->current(), info.map}] = LockClassName(*info.map, info.subclass);
    }
  }
  void LockAcquired(const sim::LockMap& map) override {
    if (sched_->unwinding()) return;
    auto it = pending_.find({sched_->current(), &map});
    if (it != pending_.end()) Add(it->second);
  }
  std::vector<std::string> acquired;

 private:
  void Add(const std::string& cls) {
    acquired.push_back(std::string(sched_->fiber(sched_->current()).name) + " " + cls);
  }
  const sim::Scheduler* sched_ = nullptr;
  std::map<std::pair<sim::FiberId, const sim::LockMap*>, std::string> pending_;
};

std::vector<std::string> Signatures(const sim::RunResult& r) {
  std::vector<std::string> out;
  for (const sim::Finding& f : r.findings) out.push_back(f.signature);
  return out;
}

void CheckChromeTrace(const Found& found, bool expect_io) {
  SCOPED_TRACE(found.trace.scenario);
  Reproduction plain = Reproduce(found.trace, found.target);
  ChromeTrace chrome;
  Reproduction traced = Reproduce(found.trace, found.target, &chrome);
  ASSERT_TRUE(plain.reproduced()) << plain.divergence;
  ASSERT_TRUE(traced.reproduced()) << traced.divergence;
  EXPECT_EQ(traced.result.digest, plain.result.digest);
  EXPECT_EQ(traced.result.steps, plain.result.steps);
  EXPECT_EQ(Signatures(traced.result), Signatures(plain.result));

  // Through text, as a viewer reads it.
  std::string text = chrome.Json({{"scenario", found.trace.scenario}}).dump();
  nlohmann::json doc = nlohmann::json::parse(text);
  ASSERT_TRUE(doc["traceEvents"].is_array());
  EXPECT_EQ(doc["displayTimeUnit"], "ns");
  EXPECT_EQ(doc["otherData"]["scenario"], found.trace.scenario);

  std::set<std::pair<int, int>> named;  // (pid, tid) with a thread_name
  std::set<std::pair<int, int>> used;
  std::set<int> spawned;  // tids that saw a spawn
  std::map<uint64_t, int> bio_open;
  int locks = 0, bios = 0, findings = 0;
  for (const auto& e : doc["traceEvents"]) {
    std::string ph = e["ph"];
    std::pair<int, int> thread{e["pid"].get<int>(), e["tid"].get<int>()};
    if (ph == "M") {
      if (e["name"] == "thread_name") named.insert(thread);
      continue;
    }
    used.insert(thread);
    ASSERT_TRUE(e["ts"].is_number());
    EXPECT_GE(e["ts"].get<double>(), 0);
    if (ph == "X") {
      EXPECT_GE(e["dur"].get<double>(), 0) << e.dump();
      if (e["cat"] == "lock") {
        ++locks;
        EXPECT_TRUE(e["args"].contains("instance"));
        EXPECT_TRUE(e["args"].contains("site"));
      }
    } else if (ph == "b") {
      ++bios;
      ++bio_open[e["id"].get<uint64_t>()];
      EXPECT_TRUE(e["args"].contains("sector"));
    } else if (ph == "e") {
      --bio_open[e["id"].get<uint64_t>()];
    } else if (ph == "i" && e["cat"] == "finding") {
      EXPECT_EQ(e["s"], "g");
      if (e["args"]["signature"] == found.trace.finding->signature) ++findings;
      EXPECT_FALSE(e["args"]["report"].get<std::string>().empty());
    } else if (ph == "i" && e["name"] == "spawn") {
      spawned.insert(thread.second);
    }
  }
  for (const auto& t : used) EXPECT_TRUE(named.count(t)) << t.first << "/" << t.second;
  EXPECT_GE(spawned.size(), 2u);
  for (const auto& [id, open] : bio_open) EXPECT_EQ(open, 0) << "bio " << id;
  EXPECT_GT(locks, 0);
  EXPECT_EQ(findings, 1);
  if (expect_io) {
    EXPECT_GT(bios, 0);
  }
}

void CheckEventLog(const Found& found) {
  SCOPED_TRACE(found.trace.scenario);
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  EventLog log(out);
  AcquireRecorder recorder;
  TeeTracer tee;
  tee.Add(&log);
  tee.Add(&recorder);
  Reproduction rep = Reproduce(found.trace, found.target, &tee);
  EXPECT_TRUE(rep.reproduced()) << rep.divergence;
  std::rewind(out);
  std::vector<std::string> acquired;
  char buf[4096];
  uint64_t last_step = 0;
  bool finding = false;
  while (std::fgets(buf, sizeof buf, out) != nullptr) {
    std::string line(buf);
    uint64_t step = std::stoull(line.substr(5));
    EXPECT_GE(step, last_step) << line;
    last_step = step;
    // "step N  t=Tns  FIBER  lock CLASS ..." / "... trylock CLASS ..."
    for (const char* verb : {"  lock ", "  trylock "}) {
      size_t at = line.find(verb);
      if (at == std::string::npos) continue;
      size_t fiber = line.find("ns  ") + 4;
      std::string cls = line.substr(at + std::strlen(verb));
      cls = cls.substr(0, cls.find_first_of(" \n"));
      acquired.push_back(line.substr(fiber, at - fiber) + " " + cls);
    }
    if (line.find("FINDING " + std::string(sim::FindingKindName(found.trace.finding->kind)) +
                  " " + found.trace.finding->signature) != std::string::npos) {
      finding = true;
    }
  }
  std::fclose(out);
  EXPECT_TRUE(finding);
  EXPECT_FALSE(acquired.empty());
  EXPECT_EQ(acquired, recorder.acquired);
}

TEST(ChromeTraceTest, AbbaDeadlockWithLockdepOff) {
  Found abba = Find("abba", {}, "deadlock");
  CheckChromeTrace(abba, /*expect_io=*/false);
  CheckEventLog(abba);
}

TEST(ChromeTraceTest, FsWritersLockOrder) {
  Found fs = Find("fs_writers", {{"order", "rfc"}, {"bug", "rfc_writepage_blocking_extent_lock"}},
                  "lock_order");
  CheckChromeTrace(fs, /*expect_io=*/false);
  CheckEventLog(fs);
}

TEST(ChromeTraceTest, FsWritersLockOrderWithDeviceIo) {
  // writeback's blocking extent lock on a mirrored pair: the run goes on
  // to write the pages to both devices.
  Found fs = Find("fs_raid1_writers",
                  {{"order", "rfc"}, {"bug", "rfc_writepage_blocking_extent_lock"}}, "lock_order");
  CheckChromeTrace(fs, /*expect_io=*/true);
  CheckEventLog(fs);
}

TEST(ChromeTraceTest, AbbaLogShowsTheTwoAcquisitionsInOrder) {
  Found abba = Find("abba", {}, "deadlock");
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  EventLog log(out);
  Reproduce(abba.trace, abba.target, &log);
  std::rewind(out);
  std::string text;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, out) != nullptr) text += buf;
  std::fclose(out);
  size_t first = text.find("  lock ");
  ASSERT_NE(first, std::string::npos) << text;
  size_t second = text.find("  lock ", first + 1);
  ASSERT_NE(second, std::string::npos) << text;
  EXPECT_EQ(text.find("  lock ", second + 1), std::string::npos) << text;
  EXPECT_NE(text.find("scenarios/builtin_programs.cc:"), std::string::npos);
  EXPECT_NE(text.find("block on mutex"), std::string::npos);
  EXPECT_NE(text.find("FINDING deadlock"), std::string::npos);
}

}  // namespace
}  // namespace fsim::model
