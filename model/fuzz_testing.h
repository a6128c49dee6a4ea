// Deterministic mutation of text inputs, for the parsers' fuzz tests.
//
// A Mutator derives inputs from a corpus of valid files: each input is one
// corpus file with one to four mutations stacked: byte flips, truncation,
// a deleted or duplicated span, a splice from another file, a JSON value
// swapped for one of another type, a number made huge, negative,
// fractional or not a number, deep nesting, and long or control-character
// strings. The same seed gives the same inputs on every machine (the only
// source is sim::Random), so a failing input is found again by its index.
#ifndef FSIM_MODEL_FUZZ_TESTING_H_
#define FSIM_MODEL_FUZZ_TESTING_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/random.h"

namespace fsim::model::fuzz {

class Mutator {
 public:
  // REQUIRES: `corpus` is not empty.
  Mutator(std::vector<std::string> corpus, uint64_t seed);

  // The next input, and the name of the mutations that made it.
  std::string Next(std::string* how = nullptr);

 private:
  void MutateOnce(std::string* text, std::string* how);
  size_t Position(const std::string& text);
  std::string NastyValue();

  std::vector<std::string> corpus_;
  sim::Random random_;
};

// Reads every regular file under `dir` whose name ends with `suffix`, in
// name order. Empty if none (or no such directory).
std::vector<std::string> ReadCorpus(const std::string& dir, std::string_view suffix);

// `text` made printable for a failure message (at most 200 bytes).
std::string Printable(std::string_view text);

}  // namespace fsim::model::fuzz

#endif  // FSIM_MODEL_FUZZ_TESTING_H_
