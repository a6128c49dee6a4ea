#include "scenarios/orders/order_variant.h"

#include <algorithm>
#include <map>

namespace fsim::scenarios {
namespace {

// Keyed by name: lookups and listings never depend on registration order.
std::map<std::string, OrderVariant, std::less<>>& Registry() {
  static std::map<std::string, OrderVariant, std::less<>> registry;
  return registry;
}

}  // namespace

OrderVariantRegistrar::OrderVariantRegistrar(OrderVariant variant) {
  std::string name = variant.name;
  Registry().emplace(std::move(name), std::move(variant));
}

std::vector<OrderVariant> OrderVariants() {
  std::vector<OrderVariant> out;
  for (const auto& [name, v] : Registry()) out.push_back(v);
  return out;
}

std::vector<std::string> CorrectOrderNames() {
  std::vector<std::string> out;
  for (const auto& [name, v] : Registry()) {
    if (v.claims_correct) out.push_back(name);
  }
  return out;
}

const OrderVariant* FindOrderVariant(std::string_view name) {
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : &it->second;
}

}  // namespace fsim::scenarios
