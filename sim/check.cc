#include "sim/check.h"

#include <cstdio>
#include <cstdlib>

namespace fsim::sim {

void CheckFailed(const char* file, int line, const char* expr,
                 const char* message) {
  std::fprintf(stderr, "fsim: internal error: %s:%d: check failed: %s%s%s\n",
               file, line, expr, message ? ": " : "", message ? message : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace fsim::sim
