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

namespace {
BugOnHandler g_bug_on_handler = nullptr;
}  // namespace

void SetBugOnHandler(BugOnHandler handler) { g_bug_on_handler = handler; }

void BugOnFailed(const char* file, int line, const char* expr, const char* message) {
  if (g_bug_on_handler != nullptr) g_bug_on_handler(file, line, expr, message);
  CheckFailed(file, line, expr, message);
}

}  // namespace fsim::sim
