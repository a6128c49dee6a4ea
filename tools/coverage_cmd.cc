// fsim coverage FILE [--svg OUT]: the coverage an exploration recorded
// (explore --coverage FILE, or an explore --json summary), per scenario:
// the runs that reached each point and the first run that did, and the
// curve of distinct points reached against runs. A curve that has
// flattened out long before the budget ends says the budget was enough
// for what the scenario can reach; one still climbing says it was not.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/trace.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

struct Curve {
  std::string scenario;
  uint64_t runs = 0;
  std::vector<std::pair<uint64_t, uint64_t>> steps;  // (run, distinct points reached by then)
};

Curve CurveOf(const nlohmann::json& t) {
  Curve c;
  c.scenario = t.at("scenario").get<std::string>();
  c.runs = t.at("runs").get<uint64_t>();
  std::vector<uint64_t> firsts;
  const nlohmann::json first_runs = t.value("coverage_first", nlohmann::json::object());
  for (const auto& [point, first] : first_runs.items()) {
    firsts.push_back(first.get<uint64_t>());
  }
  std::sort(firsts.begin(), firsts.end());
  for (size_t i = 0; i < firsts.size(); ++i) {
    if (!c.steps.empty() && c.steps.back().first == firsts[i]) {
      c.steps.back().second = i + 1;
    } else {
      c.steps.push_back({firsts[i], i + 1});
    }
  }
  return c;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else if (ch == '&') out += "&amp;";
    else out += ch;
  }
  return out;
}

// One SVG: distinct coverage points (y) against runs (x), a step line per
// scenario, with a legend. Hand-written: no plotting library is needed for
// polylines.
std::string Svg(const std::vector<Curve>& curves) {
  const int width = 900, left = 60, right = 260, top = 30, bottom = 50;
  const int height = std::max(360, top + bottom + 18 * static_cast<int>(curves.size()));
  uint64_t max_runs = 1, max_points = 1;
  for (const Curve& c : curves) {
    max_runs = std::max(max_runs, c.runs);
    for (const auto& [run, points] : c.steps) max_points = std::max(max_points, points);
  }
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  // Runs on a log scale: new coverage comes early, and the question is
  // whether it stopped coming long before the budget ended.
  auto x = [&](double run) {
    return left + plot_w * std::log1p(run) / std::log1p(static_cast<double>(max_runs));
  };
  auto y = [&](double points) {
    return top + plot_h - plot_h * points / static_cast<double>(max_points);
  };
  static const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "font-family=\"sans-serif\" font-size=\"11\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                width, height);
  s += buf;
  std::snprintf(buf, sizeof buf,
                "<text x=\"%d\" y=\"18\" font-size=\"13\">fsim coverage: distinct points reached "
                "against runs</text>\n",
                left);
  s += buf;
  // Axes, with the extremes labelled.
  std::snprintf(buf, sizeof buf,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n",
                left, y(0), x(static_cast<double>(max_runs)), y(0), left, top, left, y(0));
  s += buf;
  std::snprintf(buf, sizeof buf,
                "<text x=\"%d\" y=\"%.1f\">0</text><text x=\"%.1f\" y=\"%.1f\" "
                "text-anchor=\"end\">%llu runs (log scale)</text>\n"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%llu</text>\n",
                left, y(0) + 15, x(static_cast<double>(max_runs)), y(0) + 15,
                static_cast<unsigned long long>(max_runs), left - 4, top + 4,
                static_cast<unsigned long long>(max_points));
  s += buf;
  for (size_t i = 0; i < curves.size(); ++i) {
    const Curve& c = curves[i];
    const char* colour = kColours[i % (sizeof kColours / sizeof kColours[0])];
    std::string points;
    uint64_t reached = 0;
    for (const auto& [run, count] : c.steps) {
      std::snprintf(buf, sizeof buf, "%.1f,%.1f %.1f,%.1f ", x(static_cast<double>(run)),
                    y(static_cast<double>(reached)), x(static_cast<double>(run)),
                    y(static_cast<double>(count)));
      points += buf;
      reached = count;
    }
    std::snprintf(buf, sizeof buf, "%.1f,%.1f", x(static_cast<double>(c.runs)),
                  y(static_cast<double>(reached)));
    points += buf;
    s += "<polyline fill=\"none\" stroke=\"" + std::string(colour) +
         "\" stroke-width=\"1.5\" points=\"" + points + "\"/>\n";
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                  "<text x=\"%d\" y=\"%d\">%s (%llu points)</text>\n",
                  width - right + 15, top + 18 * static_cast<int>(i), colour, width - right + 30,
                  top + 18 * static_cast<int>(i) + 9, Escape(c.scenario).c_str(),
                  static_cast<unsigned long long>(reached));
    s += buf;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace

int Coverage(const CoverageArgs& args) {
  std::ifstream in(args.file);
  if (!in) return UsageError(args.file + ": cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in, nullptr, true, false);
  } catch (const nlohmann::json::exception& e) {
    return UsageError(args.file + ": not JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object() || !j.contains("targets") || !j["targets"].is_array()) {
    return UsageError(args.file +
                      ": not a coverage file (explore --coverage FILE) or explore --json summary");
  }
  if (!args.svg.empty()) {
    std::string error;
    if (!CheckOutFile(args.svg, "--svg", &error)) return UsageError(error);
  }
  std::vector<Curve> curves;
  try {
    for (const nlohmann::json& t : j["targets"]) {
      const uint64_t total = t.at("runs").get<uint64_t>();
      const nlohmann::json& coverage = t.at("coverage");
      const nlohmann::json first = t.value("coverage_first", nlohmann::json::object());
      std::printf("%s (%llu runs, %zu points)\n", t.at("scenario").get<std::string>().c_str(),
                  static_cast<unsigned long long>(total), coverage.size());
      for (const auto& [point, runs_json] : coverage.items()) {
        const uint64_t runs = runs_json.get<uint64_t>();
        std::printf("  %-44s %10llu  %5.1f%%", point.c_str(), static_cast<unsigned long long>(runs),
                    total > 0 ? 100.0 * static_cast<double>(runs) / static_cast<double>(total) : 0.0);
        if (first.contains(point)) {
          std::printf("  first run %llu", static_cast<unsigned long long>(first[point].get<uint64_t>()));
        }
        std::printf("\n");
      }
      Curve c = CurveOf(t);
      if (!c.steps.empty()) {
        std::printf("  last new point at run %llu of %llu\n",
                    static_cast<unsigned long long>(c.steps.back().first),
                    static_cast<unsigned long long>(total));
      }
      curves.push_back(std::move(c));
    }
  } catch (const nlohmann::json::exception& e) {
    return UsageError(args.file + ": malformed target (" + std::string(e.what()) + ")");
  }
  for (const nlohmann::json& w : j.value("warnings", nlohmann::json::array())) {
    if (w.is_string()) std::printf("warning: %s\n", w.get<std::string>().c_str());
  }
  if (!args.svg.empty()) {
    std::string error = model::WriteFileAtomically(args.svg, Svg(curves));
    if (!error.empty()) {
      std::fprintf(stderr, "fsim: %s\n", error.c_str());
      return kExitInternal;
    }
    std::printf("wrote: %s\n", args.svg.c_str());
  }
  return kExitClean;
}

}  // namespace fsim::tools
