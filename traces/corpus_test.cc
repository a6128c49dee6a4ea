// Replays every trace of the regression corpus (traces/corpus/): each must
// reproduce its recorded outcome exactly (the same finding, or none, and
// the same digest), and a bug trace's decisions under the fixed
// configuration (the mistake undone) must find nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "model/explorer.h"
#include "model/trace.h"
#include "scenarios/registry.h"
#include "traces/corpus.h"

namespace fsim::traces {
namespace {

std::vector<std::string> CorpusFiles() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  std::filesystem::path dir = std::filesystem::path(srcdir ? srcdir : ".") /
                              (workspace ? workspace : "") / "traces" / "corpus";
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 11 && name.ends_with(".trace.json")) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());  // not directory order
  return files;
}

TEST(CorpusTest, EveryTraceReproducesItsRecordedOutcome) {
  const std::vector<std::string> files = CorpusFiles();
  ASSERT_GE(files.size(), 6u);
  int bugs = 0, clean = 0, fixed_checked = 0;
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    std::string error;
    auto trace = model::ReadTrace(path, &error);
    ASSERT_TRUE(trace.has_value()) << error;
    auto target = scenarios::MakeTargetForTrace(trace->scenario, trace->scenario_json, trace->config, &error);
    ASSERT_TRUE(target.has_value()) << error;
    model::Reproduction rep = model::Reproduce(*trace, *target);
    EXPECT_TRUE(rep.reproduced())
        << "divergence: " << rep.divergence << " same finding: " << rep.same_finding
        << " same digest: " << rep.same_digest << "\n  (if the model changed on purpose, "
        << "regenerate: bazel run //traces:make_corpus -- $PWD/traces/corpus)";
    if (!trace->finding) {
      ++clean;
      EXPECT_TRUE(rep.result.findings.empty());
      continue;
    }
    ++bugs;
    auto fixed = FixedConfig(trace->config);
    if (!fixed) continue;
    auto fixed_target = scenarios::MakeTargetForTrace(trace->scenario, trace->scenario_json, *fixed, &error);
    ASSERT_TRUE(fixed_target.has_value()) << error;
    // The same decisions, as far as the fixed code asks the same
    // questions; past a divergence the replay takes first options.
    model::Reproduction after = model::Reproduce(*trace, *fixed_target);
    EXPECT_TRUE(after.result.findings.empty())
        << "still found with the mistake undone: " << after.result.findings[0].signature;
    ++fixed_checked;
  }
  EXPECT_GE(bugs, 4);
  EXPECT_GE(clean, 2);
  EXPECT_GE(fixed_checked, 4);
}

}  // namespace
}  // namespace fsim::traces
