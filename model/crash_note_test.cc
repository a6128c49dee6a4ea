// Checks the crash note: when fsim itself dies of a signal during an
// exploration (here an abort() in a fiber, as the allocator aborts on heap
// corruption), it first says which run of which scenario it was and the
// command that runs it again, on stderr and in a file of the output
// directory; a SIGSEGV outside any fiber says the same (here in PCT's
// profile run, before run 0). An exploration that survives leaves no note.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "model/explorer.h"
#include "sim/program.h"

namespace fsim::model {
namespace {

// Aborts in a fiber of its third run (runs 0 and 1 are clean).
class AbortsInThirdRun final : public sim::Program {
 public:
  void Start(sim::Scheduler& s) override {
    static int runs = 0;
    const bool abort_now = runs++ == 2;
    s.Spawn("worker", [abort_now, &s] {
      s.Yield("before");
      if (abort_now) std::abort();
    });
  }
};

// Dereferences null in Finish(), outside any fiber.
class FaultsOutsideFibers final : public sim::Program {
 public:
  void Start(sim::Scheduler& s) override {
    s.Spawn("worker", [&s] { s.Yield("work"); });
  }
  void Finish(sim::Scheduler&) override {
    volatile int* p = nullptr;
    *p = 1;
  }
};

class Clean final : public sim::Program {
 public:
  void Start(sim::Scheduler& s) override {
    s.Spawn("worker", [&s] { s.Yield("work"); });
  }
};

template <typename P>
Target Make(const std::string& name) {
  Target t;
  t.scenario = name;
  t.config = {{"lockdep", "off"}};
  t.make = [] { return std::make_unique<P>(); };
  return t;
}

std::string OutDir(const std::string& leaf) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp != nullptr ? tmp : "/tmp") + "/" + leaf;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(CrashNoteDeathTest, AnAbortInARunNamesTheRunAndHowToRunItAgain) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string out = OutDir("crash-note-abort");
  std::filesystem::remove_all(out);
  ExploreOptions o;
  o.strategy.name = "random";
  o.seed = 7;
  o.runs = 10;
  o.out_dir = out;
  EXPECT_DEATH(Explore({Make<AbortsInThirdRun>("aborts_in_run")}, o),
               "fatal signal SIGABRT in run 2 of scenario aborts_in_run \\(run seed [0-9]+\\).*"
               "fsim explore --scenario aborts_in_run --strategy random --seed 7 --all "
               "--config lockdep=off --runs 3");
  const std::string note = Slurp(out + "/aborts_in_run-crash-r2.txt");
  EXPECT_NE(note.find("fatal signal SIGABRT in run 2"), std::string::npos) << note;
  EXPECT_NE(note.find("--runs 3"), std::string::npos) << note;
}

TEST(CrashNoteDeathTest, ASegfaultOutsideAnyFiberIsNotedToo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string out = OutDir("crash-note-segv");
  ExploreOptions o;
  o.strategy.name = "pct";
  o.runs = 3;
  o.out_dir = out;
  EXPECT_DEATH(Explore({Make<FaultsOutsideFibers>("faults_in_finish")}, o),
               "fatal signal SIGSEGV in the strategy's profile runs of scenario faults_in_finish "
               "\\(before run 0\\).*--strategy pct "
               "--seed 1 --all --depth 3 --config lockdep=off --runs 1");
}

TEST(CrashNoteTest, AnExplorationThatSurvivesLeavesNoNote) {
  const std::string out = OutDir("crash-note-none");
  std::filesystem::remove_all(out);
  ExploreOptions o;
  o.strategy.name = "random";
  o.runs = 5;
  o.out_dir = out;
  ExploreSummary s = Explore({Make<Clean>("clean")}, o);
  EXPECT_EQ(s.runs, 5u);
  EXPECT_TRUE(s.findings.empty());
  bool note = false;
  if (std::filesystem::exists(out)) {
    for (const auto& e : std::filesystem::directory_iterator(out)) {
      note = note || e.path().filename().string().find("-crash-") != std::string::npos;
    }
  }
  EXPECT_FALSE(note);
}

}  // namespace
}  // namespace fsim::model
