// Lock-order variants: named ways of setting up the filesystem model's
// locking, selected with `--config order=NAME` and compared side by side by
// `fsim compare-orders`. A variant is one file under scenarios/orders/
// that registers itself:
//
//   #include "scenarios/orders/order_variant.h"
//   FSIM_ORDER_VARIANT(my_order, "one line: what it changes", [](fs::FsConfig& c) {
//     c.order = fs::LockOrder::kRfc;
//     c.bug_rfc_page_mkwrite_page_before_extent = true;
//   });
//
// A variant that is known to fail (kept to show how) passes `false`
// (claims_correct): CI then does not expect it clean; and, if it has one,
// the name of the variant that undoes its mistake (fixed_by), under which
// the regression corpus replays its findings.
//
// and nothing else: the `orders` library in scenarios/BUILD.bazel globs
// orders/*.cc.
#ifndef FSIM_SCENARIOS_ORDERS_ORDER_VARIANT_H_
#define FSIM_SCENARIOS_ORDERS_ORDER_VARIANT_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fs/btrfs/inode.h"

namespace fsim::scenarios {

struct OrderVariant {
  std::string name;
  std::string description;
  // Sets the lock order and any knobs of the variant on a default config.
  std::function<void(fs::FsConfig&)> apply;
  // The variant claims to be correct: CI's exploration property runs the
  // default suite under it and expects nothing. A variant kept to show
  // what goes wrong (a reading of the RFC that loses data or inverts the
  // order) says false, and the README says what it shows.
  bool claims_correct = true;
  // For a variant that does not claim to be correct: the variant that
  // undoes its mistake (its own mistake only, nothing else changed). The
  // regression corpus replays a finding's decisions under it and expects
  // nothing; empty if there is none.
  std::string fixed_by;
};

// Every registered variant, sorted by name (registration order is static
// initialisation order, which is not ours to rely on).
std::vector<OrderVariant> OrderVariants();
// The names of the variants that claim to be correct, sorted.
std::vector<std::string> CorrectOrderNames();
// The variant called `name`, or nullptr.
const OrderVariant* FindOrderVariant(std::string_view name);

struct OrderVariantRegistrar {
  explicit OrderVariantRegistrar(OrderVariant variant);
};

}  // namespace fsim::scenarios

#define FSIM_ORDER_VARIANT(name, description, ...)                                \
  static const ::fsim::scenarios::OrderVariantRegistrar fsim_order_variant_##name{ \
      ::fsim::scenarios::OrderVariant{#name, description, __VA_ARGS__}}

#endif  // FSIM_SCENARIOS_ORDERS_ORDER_VARIANT_H_
