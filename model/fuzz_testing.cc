#include "model/fuzz_testing.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/check.h"

namespace fsim::model::fuzz {
namespace {

// Values that have broken parsers before: other types, numbers out of
// every range, and strings no one expects.
constexpr std::string_view kNasty[] = {
    "1e999", "-1e999", "-1", "-0", "0", "1.5", "-9223372036854775809",
    "18446744073709551616", "99999999999999999999999999", "NaN", "nan", "Infinity",
    "0x10", "4294967296", "2147483648", "true", "false", "null", "\"\"", "\"x\"",
    "[]", "{}", "[1,2,3]", "{\"a\":1}", "\"\\u0000\"", "\"\\u001b[31m\"",
    "\"\x01\x02\x7f\"", "\"line\\nbreak\"", "\"\xff\xfe\"", "1e-999", "01",
};

}  // namespace

Mutator::Mutator(std::vector<std::string> corpus, uint64_t seed)
    : corpus_(std::move(corpus)), random_(seed) {
  FSIM_CHECK_MSG(!corpus_.empty(), "a fuzz corpus needs at least one input");
}

std::string Mutator::Next(std::string* how) {
  std::string text = corpus_[random_.Below(corpus_.size())];
  if (how != nullptr) how->clear();
  const uint64_t count = 1 + random_.Below(4);
  for (uint64_t i = 0; i < count; ++i) MutateOnce(&text, how);
  return text;
}

size_t Mutator::Position(const std::string& text) {
  return text.empty() ? 0 : random_.Below(text.size() + 1);
}

std::string Mutator::NastyValue() {
  return std::string(kNasty[random_.Below(std::size(kNasty))]);
}

void Mutator::MutateOnce(std::string* text, std::string* how) {
  auto said = [&](const char* what) {
    if (how != nullptr) *how += (how->empty() ? "" : "+") + std::string(what);
  };
  switch (random_.Below(12)) {
    case 0: {  // flip bits of a few bytes
      said("flip");
      for (uint64_t n = 1 + random_.Below(8); n > 0 && !text->empty(); --n) {
        (*text)[random_.Below(text->size())] ^= static_cast<char>(1u << random_.Below(8));
      }
      break;
    }
    case 1: {  // a random byte, anything from NUL to 0xff
      said("byte");
      if (!text->empty()) (*text)[random_.Below(text->size())] = static_cast<char>(random_.Below(256));
      break;
    }
    case 2:
      said("truncate");
      text->resize(Position(*text));
      break;
    case 3: {  // delete a span
      said("delete");
      size_t at = Position(*text);
      text->erase(at, random_.Below(64));
      break;
    }
    case 4: {  // duplicate a span
      said("duplicate");
      size_t at = Position(*text);
      std::string span = text->substr(at, random_.Below(128));
      text->insert(at, span);
      break;
    }
    case 5: {  // splice: a span of another input
      said("splice");
      const std::string& other = corpus_[random_.Below(corpus_.size())];
      size_t from = Position(other);
      text->insert(Position(*text), other.substr(from, random_.Below(256)));
      break;
    }
    case 6:
    case 7: {  // a value swapped for a nasty one: after a ':' or ',', or a number
      said("value");
      std::vector<size_t> spots;
      for (size_t i = 0; i < text->size(); ++i) {
        char c = (*text)[i];
        if (c == ':' || c == ',' || c == '[' || c == ' ') spots.push_back(i + 1);
      }
      if (spots.empty()) break;
      size_t at = spots[random_.Below(spots.size())];
      size_t end = at;
      while (end < text->size() && std::string_view(",}]\n ").find((*text)[end]) == std::string_view::npos) {
        ++end;
      }
      text->replace(at, end - at, NastyValue());
      break;
    }
    case 8: {  // a number rewritten
      said("number");
      std::vector<size_t> digits;
      for (size_t i = 0; i < text->size(); ++i) {
        if ((*text)[i] >= '0' && (*text)[i] <= '9') digits.push_back(i);
      }
      if (digits.empty()) break;
      size_t at = digits[random_.Below(digits.size())];
      static constexpr std::string_view kNumbers[] = {
          "99999999999999999999", "-", "1e999", "e", ".", "18446744073709551615", "nan", "-1"};
      text->insert(at, kNumbers[random_.Below(std::size(kNumbers))]);
      break;
    }
    case 9: {  // deep nesting around a position
      said("nest");
      const size_t depth = random_.Below(8) == 0 ? 100'000 : 1 + random_.Below(300);
      const bool object = random_.Below(2) == 0;
      std::string open, close;
      for (size_t d = 0; d < depth; ++d) {
        open += object ? "{\"k\":" : "[";
        close += object ? "}" : "]";
      }
      size_t at = Position(*text);
      text->insert(at, open + "1" + (random_.Below(4) == 0 ? "" : close));
      break;
    }
    case 10: {  // a long string
      said("long");
      const size_t length = random_.Below(16) == 0 ? 1'000'000 : 1 + random_.Below(5000);
      std::string s(length, static_cast<char>('a' + random_.Below(26)));
      text->insert(Position(*text), random_.Below(2) == 0 ? "\"" + s + "\"" : s);
      break;
    }
    default: {  // control characters, raw or escaped
      said("control");
      static constexpr std::string_view kControl[] = {
          std::string_view("\0", 1), "\n", "\r", "\x1b[2J", "\\u0000", "\\n", "\t", "\x7f",
          "\\ud800", "\xc3", "\"", "\\", "/*", "//"};
      text->insert(Position(*text), kControl[random_.Below(std::size(kControl))]);
      break;
    }
  }
}

std::vector<std::string> ReadCorpus(const std::string& dir, std::string_view suffix) {
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string path = entry.path().string();
    if (entry.is_regular_file() && path.size() >= suffix.size() &&
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      paths.push_back(path);
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> texts;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    texts.push_back(buffer.str());
  }
  return texts;
}

std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > 200) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace fsim::model::fuzz
