// Fuzzes the trace reader as replay, shrink and lockgraph use it
// (model::ReadTrace, then scenarios::MakeTargetForTrace, which parses the
// inline scenario and the configuration): 10,000 inputs mutated
// deterministically from the regression corpus must each load or be
// refused with one line naming the file, never crash or throw. Prints how
// many inputs ran.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include "model/fuzz_testing.h"
#include "model/trace.h"
#include "scenarios/registry.h"

namespace fsim::traces {
namespace {

constexpr int kInputs = 10'000;

TEST(TraceFuzzTest, EveryMutatedTraceLoadsOrIsRefusedInOneLine) {
  std::vector<std::string> corpus = model::fuzz::ReadCorpus("traces/corpus", ".trace.json");
  ASSERT_FALSE(corpus.empty()) << "traces/corpus missing";
  model::fuzz::Mutator mutator(corpus, 15);
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/fuzz.trace.json";
  int loaded = 0, refused = 0;
  for (int i = 0; i < kInputs; ++i) {
    std::string how;
    const std::string text = mutator.Next(&how);
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << text;
    }
    std::string error;
    try {
      auto trace = model::ReadTrace(path, &error);
      if (trace) {
        error.clear();
        auto target = scenarios::MakeTargetForTrace(trace->scenario, trace->scenario_json,
                                                    trace->config, &error);
        if (target) {
          ++loaded;
          continue;
        }
        error = path + ": " + error;  // as replay prints it
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "input " << i << " (" << how << ") threw: " << e.what() << "\n"
                    << model::fuzz::Printable(text);
      continue;
    }
    ++refused;
    EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << "input " << i << " (" << how << "): " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << "input " << i << " (" << how << "): " << error;
  }
  std::printf("trace fuzz: %d inputs, %d loaded, %d refused\n", kInputs, loaded, refused);
  EXPECT_GT(refused, 0);
  EXPECT_GT(loaded, 0);
}

}  // namespace
}  // namespace fsim::traces
