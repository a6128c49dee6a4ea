#include "scenarios/fs_config.h"

#include "scenarios/orders/order_variant.h"
#include "scenarios/registry.h"

namespace fsim::scenarios {
namespace {

struct Bug {
  const char* name;
  bool fs::FsConfig::*flag;
  // The mistake is in code only that lock order runs (the RFC's
  // extents-before-pages paths): under another it would change nothing.
  bool needs_rfc = false;
};

// Sorted by name.
constexpr Bug kBugs[] = {
    {"commit_without_barrier_all_devices", &fs::FsConfig::bug_commit_without_barrier_all_devices},
    {"cont_expand_without_truncate_block", &fs::FsConfig::bug_cont_expand_without_truncate_block},
    {"free_extent_without_pinning", &fs::FsConfig::bug_free_extent_without_pinning},
    {"invalidatepage_no_ordered_accounting",
     &fs::FsConfig::bug_invalidatepage_no_ordered_accounting},
    {"iomap_merge_past_map_length", &fs::FsConfig::bug_iomap_merge_past_map_length},
    {"rfc_page_mkwrite_page_before_extent", &fs::FsConfig::bug_rfc_page_mkwrite_page_before_extent, true},
    {"rfc_readahead_blocking_extent_lock", &fs::FsConfig::bug_rfc_readahead_blocking_extent_lock, true},
    {"rfc_writepage_blocking_extent_lock", &fs::FsConfig::bug_rfc_writepage_blocking_extent_lock, true},
    {"writeback_past_eof_after_truncate", &fs::FsConfig::bug_writeback_past_eof_after_truncate},
};

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::vector<std::string> OrderNames() {
  std::vector<std::string> names;
  for (const OrderVariant& v : OrderVariants()) names.push_back(v.name);
  return names;
}

}  // namespace

std::vector<std::string> BugNames() {
  std::vector<std::string> names;
  for (const Bug& b : kBugs) names.push_back(b.name);
  return names;
}

std::vector<std::pair<std::string, std::string>> FsConfigKeys() {
  return {
      {"order", "the lock-order variant: " + Join(OrderNames())},
      {"bug", "an injected mistake: " + Join(BugNames())},
  };
}

fs::FsConfig ParseFsConfig(const model::Config& config) {
  fs::FsConfig c;
  auto order = config.find("order");
  if (order != config.end()) {
    const OrderVariant* v = FindOrderVariant(order->second);
    if (v == nullptr) {
      throw ConfigError{"config order=" + order->second + ": expected one of " +
                        Join(OrderNames())};
    }
    v->apply(c);
  }
  auto bug = config.find("bug");
  if (bug != config.end()) {
    const Bug* found = nullptr;
    for (const Bug& b : kBugs) {
      if (bug->second == b.name) found = &b;
    }
    if (found == nullptr) {
      throw ConfigError{"config bug=" + bug->second + ": unknown (known: " + Join(BugNames()) +
                        ")"};
    }
    if (found->needs_rfc && c.order != fs::LockOrder::kRfc) {
      std::vector<std::string> rfc_orders;
      for (const OrderVariant& v : OrderVariants()) {
        fs::FsConfig probe;
        v.apply(probe);
        if (probe.order == fs::LockOrder::kRfc) rfc_orders.push_back(v.name);
      }
      throw ConfigError{"config bug=" + bug->second + " needs an extents-before-pages order (order=" +
                        Join(rfc_orders) + "); this configuration's order is " +
                        (order != config.end() ? order->second : std::string("legacy (the default)"))};
    }
    c.*(found->flag) = true;
  }
  return c;
}

}  // namespace fsim::scenarios
