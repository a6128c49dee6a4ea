// fsim lockgraph TRACE | --scenario NAME: the lock-class dependency graph
// lockdep observed, as Graphviz DOT, with every edge that lies on a cycle
// (a strongly connected component) drawn red and bold.
//
// From a trace: the graph of that one run, replayed. From a scenario: the
// union over --runs runs of the default exploration (PCT depth 3, seeds as
// `fsim explore --seed`). Lockdep is on for these runs whatever the
// scenario's default, since the graph is the point.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/explorer.h"
#include "model/pct.h"
#include "model/random_walk.h"
#include "model/replay.h"
#include "model/trace.h"
#include "scenarios/registry.h"
#include "sim/lockdep.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

struct Graph {
  std::vector<std::string> nodes;  // first-seen order
  std::map<std::pair<std::string, std::string>, sim::Lockdep::Edge> edges;
  std::vector<std::pair<std::string, std::string>> order;  // first-seen order

  void Add(const sim::Lockdep& lockdep) {
    for (const std::string& n : lockdep.ClassNames()) {
      if (std::find(nodes.begin(), nodes.end(), n) == nodes.end()) nodes.push_back(n);
    }
    for (const sim::Lockdep::Edge& e : lockdep.Edges()) {
      if (edges.emplace(std::make_pair(e.from, e.to), e).second) order.push_back({e.from, e.to});
    }
  }
};

// Tarjan's strongly connected components; returns each node's component
// and whether that component is a cycle.
std::map<std::string, int> Components(const Graph& g, std::set<int>* cyclic) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [from, to] : g.order) out[from].push_back(to);
  std::map<std::string, int> index, low, comp;
  std::vector<std::string> stack;
  std::set<std::string> on_stack;
  int next = 0, ncomp = 0;
  std::function<void(const std::string&)> visit = [&](const std::string& v) {
    index[v] = low[v] = next++;
    stack.push_back(v);
    on_stack.insert(v);
    for (const std::string& w : out[v]) {
      if (!index.count(w)) {
        visit(w);
        low[v] = std::min(low[v], low[w]);
      } else if (on_stack.count(w)) {
        low[v] = std::min(low[v], index[w]);
      }
    }
    if (low[v] == index[v]) {
      int size = 0;
      std::string w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack.erase(w);
        comp[w] = ncomp;
        ++size;
      } while (w != v);
      if (size > 1 || g.edges.count({v, v})) cyclic->insert(ncomp);
      ++ncomp;
    }
  };
  for (const std::string& n : g.nodes) {
    if (!index.count(n)) visit(n);
  }
  return comp;
}

std::string Quote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '\n') {
      q += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

std::string Dot(const Graph& g, const std::string& title) {
  std::set<int> cyclic;
  std::map<std::string, int> comp = Components(g, &cyclic);
  std::ostringstream dot;
  dot << "// fsim lockgraph: " << title << "\n"
      << "// red: on a cycle, a possible deadlock lockdep reports; dashed: the\n"
      << "// dependency lockdep refused to add because it closes a cycle\n"
      << "digraph lockdep {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n"
      << "  label=" << Quote(title) << ";\n";
  for (const std::string& n : g.nodes) {
    dot << "  " << Quote(n);
    if (cyclic.count(comp[n])) dot << " [color=red, fontcolor=red, penwidth=2]";
    dot << ";\n";
  }
  for (const auto& key : g.order) {
    const sim::Lockdep::Edge& e = g.edges.at(key);
    bool red = comp[e.from] == comp[e.to] && cyclic.count(comp[e.from]);
    std::string site = e.where.substr(0, e.where.find(' '));
    dot << "  " << Quote(e.from) << " -> " << Quote(e.to) << " [label="
        << Quote(site + "\n" + e.fiber);
    if (red) dot << ", color=red, fontcolor=red, penwidth=2.5";
    if (e.closes_cycle) dot << ", style=dashed";
    dot << "];\n";
  }
  dot << "}\n";
  return dot.str();
}

}  // namespace

int LockGraph(const LockGraphArgs& args) {
  std::string error;
  Graph graph;
  std::string title;
  if (!args.trace.empty()) {
    std::optional<model::Trace> trace = model::ReadTrace(args.trace, &error);
    if (!trace) return UsageError(error);
    model::Config config = trace->config;
    config["lockdep"] = "on";
    auto target = scenarios::MakeTargetForTrace(trace->scenario, trace->scenario_json, config, &error);
    if (!target) return UsageError(args.trace + ": " + error);
    sim::Scheduler sched;
    model::Replay replay(trace->decisions);
    model::RunOnce(*target, sched, replay, trace->seed);
    graph.Add(sim::Lockdep::Of(sched));
    title = trace->scenario + " (trace " + args.trace + ")";
  } else {
    model::Config config;
    if (!ParseConfig(args.config, &config, &error)) return UsageError(error);
    config["lockdep"] = "on";
    auto target = scenarios::MakeTarget(args.scenario, config, &error);
    if (!target) return UsageError(error);
    sim::Scheduler sched;
    model::RandomWalk walk;
    uint64_t k = model::RunOnce(*target, sched, walk, 0).decisions;
    model::Pct pct(3, k > 0 ? k : 1);
    for (uint64_t r = 0; r < args.runs; ++r) {
      model::RunOnce(*target, sched, pct, model::RunSeed(args.seed, target->scenario, r));
      graph.Add(sim::Lockdep::Of(sched));
    }
    title = args.scenario + " (" + std::to_string(args.runs) + " runs, pct, seed " +
            std::to_string(args.seed) + ")";
  }
  std::string dot = Dot(graph, title);
  if (args.json) {
    // The graph itself: classes, dependencies (first seen first), and the
    // classes in each cycle (a strongly connected component of two or
    // more).
    std::set<int> cyclic;
    const std::map<std::string, int> comp = Components(graph, &cyclic);
    nlohmann::json deps = nlohmann::json::array();
    for (const auto& [from, to] : graph.order) {
      deps.push_back({{"from", from}, {"to", to},
                      {"in_cycle", cyclic.count(comp.at(from)) && comp.at(from) == comp.at(to)}});
    }
    std::map<int, std::vector<std::string>> cycles;
    for (const std::string& n : graph.nodes) {
      auto c = comp.find(n);
      if (c != comp.end() && cyclic.count(c->second)) cycles[c->second].push_back(n);
    }
    nlohmann::json cycle_list = nlohmann::json::array();
    for (const auto& [id, names] : cycles) cycle_list.push_back(names);
    nlohmann::json j = {{"fsim_lockgraph", 1}, {"title", title},   {"classes", graph.nodes},
                        {"dependencies", deps}, {"cycles", cycle_list}};
    if (!args.out.empty()) {
      std::string werror = model::WriteFileAtomically(args.out, dot);
      if (!werror.empty()) return UsageError(werror);
      j["output"] = args.out;
    }
    std::printf("%s\n", j.dump().c_str());
    return kExitClean;
  }
  if (args.out.empty()) {
    std::fputs(dot.c_str(), stdout);
    if (args.svg) return UsageError("--svg needs -o FILE.dot");
    return kExitClean;
  }
  {
    std::ofstream out(args.out);
    out << dot;
    if (!out) return UsageError(args.out + ": cannot write");
  }
  std::fprintf(stderr, "fsim: wrote %s (%zu classes, %zu dependencies)\n", args.out.c_str(),
               graph.nodes.size(), graph.order.size());
  if (args.svg) {
    std::string svg = args.out.substr(0, args.out.rfind('.')) + ".svg";
    if (std::system("command -v dot >/dev/null 2>&1") != 0) {
      // The .dot is written; the SVG the user asked for cannot be.
      std::fprintf(stderr, "fsim: --svg needs graphviz's dot, which is not installed "
                           "(apt-get install graphviz); %s was written, no SVG\n",
                   args.out.c_str());
      return kExitUsage;
    }
    std::string cmd = "dot -Tsvg '" + args.out + "' -o '" + svg + "'";
    if (std::system(cmd.c_str()) != 0) return UsageError("dot failed on " + args.out);
    std::fprintf(stderr, "fsim: wrote %s\n", svg.c_str());
  }
  return kExitClean;
}

}  // namespace fsim::tools
