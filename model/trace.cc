#include "model/trace.h"

#include "model/error_line.h"

#include <algorithm>
#include <filesystem>

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fsim::model {
namespace {

using nlohmann::json;

// A trace field that is missing or of the wrong type.
struct FieldError {
  std::string what;
};

const json& Field(const json& j, const char* name, json::value_t type,
                  const char* type_name) {
  auto it = j.find(name);
  if (it == j.end()) throw FieldError{std::string("missing field '") + name + "'"};
  bool ok = it->type() == type ||
            (type == json::value_t::number_unsigned &&
             it->type() == json::value_t::number_integer && it->get<int64_t>() >= 0);
  if (!ok) {
    throw FieldError{std::string("field '") + name + "' must be " + type_name};
  }
  return *it;
}

uint64_t ParseHex(const std::string& s, const char* name) {
  uint64_t v = 0;
  if (s.empty() || s.size() > 16) throw FieldError{std::string("field '") + name + "' must be 16 hex digits"};
  for (char c : s) {
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                     : -1;
    if (d < 0) throw FieldError{std::string("field '") + name + "' must be hex"};
    v = v * 16 + static_cast<uint64_t>(d);
  }
  return v;
}

json ToJson(const Trace& t) {
  json j;
  j["format"] = kTraceFormat;
  j["version"] = kTraceVersion;
  j["scenario"] = json::parse(t.scenario_json);
  j["config"] = t.config;
  j["strategy"] = {{"name", t.strategy.name},
                   {"depth", t.strategy.depth},
                   {"preemptions", t.strategy.preemptions}};
  j["seed"] = t.seed;
  j["run"] = t.run;
  j["digest"] = DigestHex(t.digest);
  j["steps"] = t.steps;
  j["virtual_ns"] = t.virtual_ns;
  json decisions = json::array();
  for (const sim::Decision& d : t.decisions) {
    decisions.push_back({static_cast<int>(d.kind), d.n, d.value});
  }
  j["decisions"] = std::move(decisions);
  if (t.finding) {
    j["finding"] = {{"kind", sim::FindingKindName(t.finding->kind)},
                    {"signature", t.finding->signature},
                    {"message", std::string(t.finding->message())},
                    {"report", t.finding->report}};
  } else {
    j["finding"] = nullptr;
  }
  return j;
}

Trace FromJson(const json& j) {
  using V = json::value_t;
  Trace t;
  const json& scenario = Field(j, "scenario", V::object, "an object");
  t.scenario = Field(scenario, "name", V::string, "a string").get<std::string>();
  t.scenario_json = scenario.dump();
  for (const auto& [k, v] : Field(j, "config", V::object, "an object").items()) {
    if (!v.is_string()) throw FieldError{"config value of '" + k + "' must be a string"};
    t.config[k] = v.get<std::string>();
  }
  const json& s = Field(j, "strategy", V::object, "an object");
  t.strategy.name = Field(s, "name", V::string, "a string").get<std::string>();
  t.strategy.depth = Field(s, "depth", V::number_unsigned, "a count").get<int>();
  t.strategy.preemptions = s.at("preemptions").get<int>();
  t.seed = Field(j, "seed", V::number_unsigned, "an unsigned integer").get<uint64_t>();
  t.run = Field(j, "run", V::number_unsigned, "an unsigned integer").get<uint64_t>();
  t.digest = ParseHex(Field(j, "digest", V::string, "a string").get<std::string>(), "digest");
  t.steps = Field(j, "steps", V::number_unsigned, "an unsigned integer").get<uint64_t>();
  t.virtual_ns = Field(j, "virtual_ns", V::number_unsigned, "an unsigned integer").get<uint64_t>();
  const json& decisions = Field(j, "decisions", V::array, "an array");
  t.decisions.reserve(decisions.size());
  for (size_t i = 0; i < decisions.size(); ++i) {
    const json& d = decisions[i];
    if (!d.is_array() || d.size() != 3 || !d[0].is_number_unsigned() ||
        !d[1].is_number_unsigned() || !d[2].is_number_unsigned() ||
        d[0].get<uint64_t>() > 1 || d[1].get<uint64_t>() < 2 ||
        d[1].get<uint64_t>() > UINT32_MAX || d[2].get<uint64_t>() > UINT32_MAX) {
      throw FieldError{"decisions[" + std::to_string(i) +
                       "] must be [kind 0|1, n >= 2, value]"};
    }
    t.decisions.push_back({static_cast<sim::DecisionKind>(d[0].get<int>()),
                           d[1].get<uint32_t>(), d[2].get<uint32_t>()});
  }
  auto f = j.find("finding");
  if (f == j.end()) throw FieldError{"missing field 'finding'"};
  if (!f->is_null()) {
    if (!f->is_object()) throw FieldError{"field 'finding' must be an object or null"};
    sim::Finding finding;
    std::string kind = Field(*f, "kind", V::string, "a string").get<std::string>();
    auto k = sim::FindingKindFromName(kind);
    if (!k) throw FieldError{"unknown finding kind '" + kind + "'"};
    finding.kind = *k;
    finding.signature = Field(*f, "signature", V::string, "a string").get<std::string>();
    finding.report = Field(*f, "report", V::string, "a string").get<std::string>();
    t.finding = std::move(finding);
  }
  return t;
}

}  // namespace

std::string DigestHex(uint64_t digest) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, digest);
  return buf;
}

std::string WriteTrace(const std::string& path, const Trace& trace) {
  return WriteFileAtomically(path, ToJson(trace).dump(1) + "\n");
}

std::string WriteFileAtomically(const std::string& path, const std::string& text) {
  // Unique per process: two explorations writing into one directory must
  // not collide on the temporary (the name steers nothing of a run).
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return path + ": cannot create file";
    out << text;
    out.flush();
    if (!out) return path + ": write failed";
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return path + ": cannot rename temporary file into place";
  }
  return {};
}

size_t JsonNestingDepth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > kJsonDepthMax) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

namespace {

std::optional<Trace> ReadTraceUnchecked(const std::string& path, std::string* error) {
  if (std::error_code ec; std::filesystem::is_directory(path, ec)) {
    *error = path + ": is a directory, not a trace";
    return std::nullopt;
  }
  std::ifstream in(path);
  if (!in) {
    *error = path + ": cannot open file";
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (JsonNestingDepth(buffer.str()) > kJsonDepthMax) {
    *error = path + ": nested deeper than " + std::to_string(kJsonDepthMax) + " levels";
    return std::nullopt;
  }
  json j = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = path + ": not valid JSON";
    return std::nullopt;
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != kTraceFormat) {
    *error = path + ": not an fsim trace (no \"format\": \"fsim-trace\")";
    return std::nullopt;
  }
  // One line naming the file, what it says, and what this fsim reads.
  const std::string supported =
      " (this fsim reads trace format version " + std::to_string(kTraceVersion) + ")";
  if (!j.contains("version")) {
    *error = path + ": trace has no \"version\"" + supported;
    return std::nullopt;
  }
  if (!j["version"].is_number_integer() || j["version"].get<int64_t>() != kTraceVersion) {
    std::string shown = j["version"].dump();
    if (shown.size() > 40) shown = shown.substr(0, 40) + "...";
    *error = path + ": trace format version " + shown + " is not supported" + supported;
    return std::nullopt;
  }
  try {
    return FromJson(j);
  } catch (const FieldError& e) {
    *error = path + ": " + e.what;
  } catch (const json::exception& e) {
    *error = path + ": malformed trace: " + e.what();
  }
  return std::nullopt;
}

}  // namespace

std::optional<Trace> ReadTrace(const std::string& path, std::string* error) {
  std::optional<Trace> trace = ReadTraceUnchecked(path, error);
  if (!trace) *error = OneLine(*error);
  return trace;
}

}  // namespace fsim::model
