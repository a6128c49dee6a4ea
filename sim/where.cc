#include "sim/where.h"

#include <cstring>

namespace fsim::sim {

std::string WhereText(const std::source_location& where) {
  // Shorten "void fsim::scenarios::{anonymous}::Abba::Both(Mutex&, Mutex&)"
  // to "Abba::Both": drop parameter lists, the return type and namespaces.
  std::string f;
  int depth = 0;
  for (const char* p = where.function_name(); *p; ++p) {
    if (*p == '(') ++depth;
    if (depth == 0) f += *p;
    if (*p == ')') --depth;
  }
  size_t space = f.rfind(' ');
  if (space != std::string::npos) f = f.substr(space + 1);
  for (const char* ns : {"fsim::", "{anonymous}::", "sim::", "scenarios::", "model::",
                         "fs::", "tools::", "testing::"}) {
    for (size_t at; (at = f.find(ns)) != std::string::npos;) f.erase(at, std::strlen(ns));
  }
  std::string file = where.file_name();
  return f + " (" + file + ":" + std::to_string(where.line()) + ")";
}

}  // namespace fsim::sim
