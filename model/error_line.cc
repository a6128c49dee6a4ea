#include "model/error_line.h"

namespace fsim::model {

std::string OneLine(std::string_view text, size_t max) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  if (out.size() <= max) return out;
  const size_t head = max * 5 / 8, tail = max - head;
  return out.substr(0, head) + " ... (" + std::to_string(out.size() - head - tail) +
         " bytes cut) ... " + out.substr(out.size() - tail);
}

}  // namespace fsim::model
