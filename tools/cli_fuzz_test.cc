// Fuzzes the command line. In process, 10,000 mutated --config lists,
// --shard values and error messages: ParseConfig and ParseShard accept or
// refuse with one line, and OneLine() always gives one line of printable
// ASCII within kLineMax and a margin. Through the binary, a few hundred
// command lines mutated from cheap valid ones (token swaps, deletions,
// duplications, nasty values, byte flips): each exits 0, 1, 2 or 4, and
// an exit 2 is exactly one line on stderr and nothing on stdout; never a
// crash, an internal error (3) or a hang (each child has an alarm). The
// budget flags (--runs, --max-runs) and their values are left alone so
// that no mutation asks for an endless exploration. Prints the counts.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/fuzz_testing.h"
#include "sim/random.h"
#include "tools/cli_util.h"

namespace fsim::tools {
namespace {

constexpr int kInProcessInputs = 10'000;
constexpr int kBinaryInputs = 300;

bool OneCleanLine(const std::string& s) {
  if (s.empty() || s.size() > kLineMax + 64) return false;
  for (char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

TEST(CliFuzzTest, ConfigShardAndErrorLinesInProcess) {
  model::fuzz::Mutator mutator({"order=rfc", "bug=rfc_writepage_blocking_extent_lock",
                                "lockdep=on", "stack_kib=128", "0/4", "3/4", "1/1"},
                               15);
  int refused = 0;
  for (int i = 0; i < kInProcessInputs; ++i) {
    std::string how;
    const std::string a = mutator.Next(&how), b = mutator.Next();
    std::string error;
    model::Config config;
    if (!ParseConfig({a, b, a}, &config, &error)) {
      ++refused;
      EXPECT_TRUE(OneCleanLine(OneLine(error))) << "input " << i << " (" << how << ")";
    }
    uint32_t index = 0, count = 0;
    error.clear();
    if (ParseShard(a, &index, &count, &error)) {
      EXPECT_LT(index, count) << "input " << i << ": " << model::fuzz::Printable(a);
    } else {
      ++refused;
      EXPECT_TRUE(OneCleanLine(OneLine(error))) << "input " << i << " (" << how << ")";
    }
    EXPECT_TRUE(OneCleanLine(OneLine("scenario " + Shown(a) + ": " + b)))
        << "input " << i << " (" << how << ")";
  }
  std::printf("command line fuzz (in process): %d inputs, %d refusals\n", kInProcessInputs,
              refused);
  EXPECT_GT(refused, 0);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs fsim with `args`; stdout and stderr to files. Returns the wait status.
int RunFsim(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  const std::string fsim = "tools/fsim";
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(o, 1);
    dup2(e, 2);
    dup2(in, 0);
    std::vector<char*> argv{const_cast<char*>(fsim.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    alarm(120);  // a hang is a failure, not a stuck test
    execv(fsim.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(CliFuzzTest, MutatedCommandLinesThroughTheBinary) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  const std::string out = dir + "/fuzz-out", trace = "traces/corpus/abba-deadlock.trace.json";
  const std::vector<std::vector<std::string>> corpus = {
      {"explore", "--scenario", "abba", "--runs", "3", "--out", out, "--json"},
      {"explore", "--scenario", "abba_fixed", "--strategy", "dfs", "--preemptions", "1",
       "--runs", "20", "--out", out},
      {"explore", "--scenario", "fs_writers", "--config", "order=rfc", "--runs", "2", "--out",
       out, "--shard", "0/2"},
      {"replay", trace, "--report"},
      {"shrink", trace, "-o", out + "/s.trace.json", "--max-runs", "20"},
      {"lockgraph", "--scenario", "abba", "--runs", "2", "--config", "lockdep=on"},
      {"compare-orders", "--scenario", "fs_writers", "--order", "rfc", "--runs", "1", "--out",
       out},
      {"list"},
      {"bugs", "--json"},
  };
  const std::vector<std::string> nasty = {
      "", "-1", "nan", "inf", "1e999", "-", "--", "--json", "--all", "--report", "--depth",
      "--preemptions", "--strategy", "dfs", "random", "pct", "--config", "order=rfc",
      "order=", "=x", "--scenario", "abba", "nope", "--shard", "5/2", "0/0", "--out", "/",
      "/dev/null", "/proc/nope", trace, "scenarios/fs/fs_writers.json", "--seed",
      "18446744073709551616", "explore", "replay", "lockgraph", "\n", "\x1b[2J", "x\x01y",
      std::string(5000, 'a'), "--chrome-trace", "--log", "-o", "--svg"};
  sim::Random random(15);
  int by_exit[256] = {};
  for (int i = 0; i < kBinaryInputs; ++i) {
    std::vector<std::string> args = corpus[random.Below(corpus.size())];
    // Indices of the budget flags and their values: never mutated.
    auto is_budget = [&](size_t k) {
      return (args[k] == "--runs" || args[k] == "--max-runs") ||
             (k > 0 && (args[k - 1] == "--runs" || args[k - 1] == "--max-runs"));
    };
    for (uint64_t n = 1 + random.Below(3); n > 0; --n) {
      const size_t k = random.Below(args.size() + 1);
      const bool protect = k < args.size() && is_budget(k);
      switch (random.Below(5)) {
        case 0:  // insert
          args.insert(args.begin() + k, nasty[random.Below(nasty.size())]);
          break;
        case 1:  // replace
          if (k < args.size() && !protect) args[k] = nasty[random.Below(nasty.size())];
          break;
        case 2:  // delete
          if (k < args.size() && !protect) args.erase(args.begin() + k);
          break;
        case 3:  // duplicate
          if (k < args.size() && !protect) args.insert(args.begin() + k, args[k]);
          break;
        default:  // flip a byte
          if (k < args.size() && !protect && !args[k].empty()) {
            args[k][random.Below(args[k].size())] ^= static_cast<char>(1u << random.Below(7));
          }
          break;
      }
    }
    std::string shown;
    for (const std::string& a : args) shown += " '" + model::fuzz::Printable(a) + "'";
    const int status = RunFsim(args, dir + "/o.txt", dir + "/e.txt");
    ASSERT_TRUE(WIFEXITED(status)) << "input " << i << ": killed by signal "
                                   << WTERMSIG(status) << ":" << shown;
    const int code = WEXITSTATUS(status);
    ++by_exit[code];
    EXPECT_TRUE(code == 0 || code == 1 || code == 2 || code == 4)
        << "input " << i << ": exit " << code << ":" << shown << "\n"
        << Slurp(dir + "/e.txt");
    if (code == 2) {
      const std::string err = Slurp(dir + "/e.txt");
      EXPECT_TRUE(!err.empty() && err.find('\n') == err.size() - 1)
          << "input " << i << ": stderr is not one line:" << shown << "\n" << err;
      EXPECT_TRUE(Slurp(dir + "/o.txt").empty()) << "input " << i << ": stdout:" << shown;
    }
  }
  std::printf("command line fuzz (binary): %d inputs; exit 0: %d, 1: %d, 2: %d, 4: %d\n",
              kBinaryInputs, by_exit[0], by_exit[1], by_exit[2], by_exit[4]);
  EXPECT_GT(by_exit[2], 0);
}

}  // namespace
}  // namespace fsim::tools
