// Fuzzes the fsx log parser (ParseFsxLog, then ToFileOps): 10,000 inputs
// mutated deterministically from the fsx samples in testdata/ must each
// parse or be refused with one line naming the file and line, never crash
// or throw. Prints how many inputs ran.
#include <gtest/gtest.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "model/fsx_log.h"
#include "model/fuzz_testing.h"

namespace fsim::model {
namespace {

constexpr int kInputs = 10'000;

std::vector<std::string> Corpus() {
  std::vector<std::string> corpus;
  for (const char* sample : {"basic_S200_N200", "falloc_S200_N200"}) {
    for (std::string& text : fuzz::ReadCorpus("model/testdata/fsx/" + std::string(sample), "ops")) {
      // Whole logs are long; slices of them give the mutations more bite.
      for (size_t at = 0; at < text.size(); at += 2000) corpus.push_back(text.substr(at, 4000));
    }
  }
  return corpus;
}

TEST(FsxLogFuzzTest, EveryMutatedLogParsesOrIsRefusedInOneLine) {
  std::vector<std::string> corpus = Corpus();
  ASSERT_FALSE(corpus.empty()) << "fsx samples missing";
  fuzz::Mutator mutator(corpus, 15);
  const std::vector<uint8_t> orig(256 * 1024, 0x5a);
  int accepted = 0, refused = 0;
  for (int i = 0; i < kInputs; ++i) {
    std::string how;
    const std::string text = mutator.Next(&how);
    std::string error;
    try {
      auto ops = ParseFsxLog(text, "ops", &error);
      if (ops) {
        error.clear();
        if (ToFileOps(*ops, orig, "ops", &error)) {
          ++accepted;
          continue;
        }
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "input " << i << " (" << how << ") threw: " << e.what() << "\n"
                    << fuzz::Printable(text);
      continue;
    }
    ++refused;
    EXPECT_EQ(error.rfind("ops:", 0), 0u) << "input " << i << " (" << how << "): " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << "input " << i << ": " << error;
  }
  std::printf("fsx log fuzz: %d inputs, %d accepted, %d refused\n", kInputs, accepted, refused);
  EXPECT_GT(refused, 0);
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace fsim::model
