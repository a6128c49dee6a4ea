// Fuzzes the scenario parser (ParseScenario, as explore and the trace
// reader use it): 10,000 inputs mutated deterministically from the fs
// scenarios must each parse or be refused with one line, never crash or
// throw. Prints how many inputs ran.
#include <gtest/gtest.h>

#include <cstdio>
#include <exception>
#include <string>

#include "model/fuzz_testing.h"
#include "scenarios/json_scenario.h"

namespace fsim::scenarios {
namespace {

constexpr int kInputs = 10'000;

TEST(ScenarioFuzzTest, EveryMutatedScenarioParsesOrIsRefusedInOneLine) {
  std::vector<std::string> corpus = model::fuzz::ReadCorpus("scenarios/fs", ".json");
  ASSERT_FALSE(corpus.empty()) << "scenarios/fs missing";
  model::fuzz::Mutator mutator(corpus, 15);
  int parsed = 0, refused = 0;
  for (int i = 0; i < kInputs; ++i) {
    std::string how;
    const std::string text = mutator.Next(&how);
    std::string error;
    try {
      if (ParseScenario(text, &error)) {
        ++parsed;
        continue;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "input " << i << " (" << how << ") threw: " << e.what() << "\n"
                    << model::fuzz::Printable(text);
      continue;
    }
    ++refused;
    EXPECT_FALSE(error.empty()) << "input " << i << " (" << how << ")";
    EXPECT_EQ(error.find('\n'), std::string::npos) << "input " << i << " (" << how << "): " << error;
  }
  std::printf("scenario fuzz: %d inputs, %d parsed, %d refused\n", kInputs, parsed, refused);
  EXPECT_GT(refused, 0);
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace fsim::scenarios
