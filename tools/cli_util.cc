#include "tools/cli_util.h"

#include <filesystem>

#include <unistd.h>

#include <charconv>
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cerrno>
#include <cstring>

#include "model/error_line.h"
#include <csignal>
#include <fstream>
#include <cstdio>
#include <cstdlib>

namespace fsim::tools {

std::string Shown(std::string_view s) {
  std::string out = model::OneLine(s.substr(0, kShownMax), ~size_t{0});
  if (s.size() > kShownMax) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string OneLine(std::string_view message) { return model::OneLine(message, kLineMax); }

bool ParseConfig(const std::vector<std::string>& pairs, model::Config* config,
                 std::string* error) {
  for (const std::string& kv : pairs) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "--config " + Shown(kv) + ": expected KEY=VALUE";
      return false;
    }
    const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
    auto [it, added] = config->emplace(key, value);
    if (!added && it->second != value) {
      *error = "--config " + Shown(key) + " given twice, as '" + Shown(it->second) + "' and '" +
               Shown(value) + "'";
      return false;
    }
  }
  return true;
}

nlohmann::json FindingJson(const model::FindingRecord& f) {
  return {{"kind", sim::FindingKindName(f.finding.kind)},
          {"signature", f.finding.signature},
          {"seed", f.seed},
          {"run", f.run},
          {"trace", f.trace_path},
          {"message", std::string(f.finding.message())}};
}

bool ParseShard(const std::string& s, uint32_t* index, uint32_t* count, std::string* error) {
  *index = 0;
  *count = 1;
  if (s.empty()) return true;
  size_t slash = s.find('/');
  auto number = [](std::string_view t, uint32_t* out) {
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
    return ec == std::errc() && end == t.data() + t.size() && !t.empty();
  };
  if (slash == std::string::npos || !number(std::string_view(s).substr(0, slash), index) ||
      !number(std::string_view(s).substr(slash + 1), count) || *count == 0 || *index >= *count) {
    *error = "--shard " + s + ": expected I/N with 0 <= I < N";
    return false;
  }
  return true;
}

// --- Ctrl-C ---------------------------------------------------------------------

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
struct sigaction g_previous;

void OnSigint(int) {
  g_interrupted = 1;
  // The next Ctrl-C is the default action: a stuck run can still be killed.
  std::signal(SIGINT, SIG_DFL);
}

}  // namespace

InterruptScope::InterruptScope() {
  g_interrupted = 0;
  struct sigaction sa = {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_previous);
}

InterruptScope::~InterruptScope() { sigaction(SIGINT, &g_previous, nullptr); }

bool InterruptScope::Interrupted() { return g_interrupted != 0; }

// --- Progress -------------------------------------------------------------------

Progress::Progress(std::string what, std::chrono::milliseconds interval)
    : what_(std::move(what)), tty_(isatty(STDERR_FILENO) == 1) {
  if (interval.count() == 0) {
    // FSIM_PROGRESS_SECONDS overrides the pace of the plain lines (tests).
    const char* env = std::getenv("FSIM_PROGRESS_SECONDS");
    double seconds = env != nullptr ? std::atof(env) : 0;
    interval = tty_ ? std::chrono::milliseconds(200)
                    : std::chrono::milliseconds(seconds > 0 ? static_cast<long>(seconds * 1000)
                                                            : 10000);
  }
  interval_ = interval;
  start_ = last_ = Clock::now();
}

void Progress::OnRun(const model::RunRecord& run) {
  runs_ = run.runs_done;
  // Reading the clock every run costs about 20 ns against runs of 50 us.
  Clock::time_point now = Clock::now();
  if (now - last_ < interval_) return;
  last_ = now;
  Print(false);
}

void Progress::Print(bool final) {
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  double rate = elapsed > 0 ? runs_ / elapsed : 0;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s: %llu runs  %.0f runs/s  %llu finding(s)  %.0fs%s",
                 what_.c_str(), static_cast<unsigned long long>(runs_), rate,
                 static_cast<unsigned long long>(findings_), elapsed, final ? "\n" : "");
  } else {
    std::fprintf(stderr, "fsim: progress: %s: %llu runs, %.0f runs/s, %llu finding(s), %.0fs\n",
                 what_.c_str(), static_cast<unsigned long long>(runs_), rate,
                 static_cast<unsigned long long>(findings_), elapsed);
  }
  std::fflush(stderr);
  printed_ = true;
}

void Progress::Done() {
  if (printed_ && tty_) Print(true);
}

bool CheckOutFile(const std::string& path, const std::string& flag, std::string* error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty()) {
    *error = flag + ": an empty file name";
    return false;
  }
  if (fs::is_directory(path, ec)) {
    *error = flag + " " + path + ": is a directory";
    return false;
  }
  fs::path parent = fs::absolute(path, ec).parent_path();
  if (ec || !fs::is_directory(parent, ec)) {
    *error = flag + " " + path + ": " + parent.string() + " is not a directory";
    return false;
  }
  if (::access(parent.c_str(), W_OK | X_OK) != 0) {
    *error = flag + " " + path + ": " + parent.string() + " is not writable";
    return false;
  }
  return true;
}

bool CheckOutDir(const std::string& dir, std::string* error) {
  namespace fs = std::filesystem;
  if (dir.empty()) {
    *error = "--out: an empty directory name";
    return false;
  }
  std::error_code ec;
  fs::path at = fs::absolute(dir, ec);
  if (ec) {
    *error = "--out " + dir + ": " + ec.message();
    return false;
  }
  // The nearest ancestor that exists must be a directory we may write.
  while (!fs::exists(at, ec)) {
    if (!at.has_parent_path() || at.parent_path() == at) break;
    at = at.parent_path();
  }
  if (!fs::is_directory(at, ec)) {
    *error = "--out " + dir + ": " + at.string() + " is not a directory";
    return false;
  }
  if (::access(at.c_str(), W_OK | X_OK) != 0) {
    *error = "--out " + dir + ": " + at.string() + " is not writable";
    return false;
  }
  return true;
}

}  // namespace fsim::tools

namespace fsim::tools {
namespace {

// The children of RunShards, for the SIGINT handler (a plain array: read
// in a signal handler).
constexpr uint32_t kShardsMax = 256;
pid_t g_shard_pids[kShardsMax];
volatile std::sig_atomic_t g_shard_count = 0;

void ForwardSigint(int sig) {
  for (std::sig_atomic_t i = 0; i < g_shard_count; ++i) kill(g_shard_pids[i], sig);
}

}  // namespace

uint32_t JobsFor(uint32_t jobs, const std::string& shard) {
  if (jobs != 0) return jobs;
  if (!shard.empty()) return 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n < 1 ? 1 : std::min<uint32_t>(static_cast<uint32_t>(n), kShardsMax);
}

int RunShards(const std::vector<std::string>& base, uint32_t jobs,
              std::vector<nlohmann::json>* summaries, std::vector<std::string>* failed,
              std::string* error) {
  if (jobs == 0 || jobs > kShardsMax) {
    *error = "-j " + std::to_string(jobs) + ": expected 1 to " + std::to_string(kShardsMax);
    return kExitUsage;
  }
  std::vector<std::string> outs;
  const std::filesystem::path dir = std::filesystem::temp_directory_path();
  // Ctrl-C goes to this process (the terminal's foreground group, or a
  // kill of it), which passes it on to every child once.
  struct sigaction forward = {}, previous = {};
  forward.sa_handler = ForwardSigint;
  sigemptyset(&forward.sa_mask);
  g_shard_count = 0;
  sigaction(SIGINT, &forward, &previous);
  bool started = true;
  const pid_t parent = getpid();
  for (uint32_t i = 0; i < jobs; ++i) {
    outs.push_back((dir / ("fsim-job-" + std::to_string(parent) + "-" + std::to_string(i) +
                           ".json")).string());
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), {"--shard", std::to_string(i) + "/" + std::to_string(jobs)});
    pid_t pid = fork();
    if (pid < 0) {
      *error = std::string("-j: fork failed: ") + std::strerror(errno);
      started = false;
      break;
    }
    if (pid == 0) {
      setpgid(0, 0);
      sigaction(SIGINT, &previous, nullptr);
      // Out of the parent's process group, a shard would outlive a parent
      // killed outright (SIGKILL, a CI timeout): it dies with it instead
      // (its findings' traces are on disk already).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(3);
      int fd = open(outs.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) _exit(3);
      dup2(fd, 1);
      std::vector<char*> cargv;
      std::string exe = "fsim";
      cargv.push_back(exe.data());
      for (std::string& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv("/proc/self/exe", cargv.data());
      _exit(3);
    }
    setpgid(pid, pid);  // also here: whichever runs first
    g_shard_pids[i] = pid;
    g_shard_count = static_cast<std::sig_atomic_t>(i + 1);
  }
  const uint32_t n = static_cast<uint32_t>(g_shard_count);
  if (!started) ForwardSigint(SIGTERM);
  summaries->assign(n, nlohmann::json());
  failed->clear();
  int worst = kExitClean;
  for (uint32_t i = 0; i < n; ++i) {
    int status = 0;
    while (waitpid(g_shard_pids[i], &status, 0) < 0 && errno == EINTR) {
    }
    std::ifstream in(outs[i]);
    try {
      in >> (*summaries)[i];
    } catch (const std::exception&) {
      (*summaries)[i] = nlohmann::json();
    }
    std::filesystem::remove(outs[i]);
    const std::string shard = "shard " + std::to_string(i) + "/" + std::to_string(jobs);
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : kExitInternal;
    if (WIFSIGNALED(status)) {
      failed->push_back(shard + " killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                        strsignal(WTERMSIG(status)) + ")");
    } else if (rc != kExitClean && rc != kExitFindings && rc != kExitInterrupted) {
      failed->push_back(shard + " exited " + std::to_string(rc));
    } else if (!(*summaries)[i].is_object()) {
      failed->push_back(shard + " printed no summary");
    } else {
      continue;
    }
    worst = std::max(worst, std::max(rc, kExitInternal));
  }
  g_shard_count = 0;
  sigaction(SIGINT, &previous, nullptr);
  return started ? worst : kExitUsage;
}

}  // namespace fsim::tools
