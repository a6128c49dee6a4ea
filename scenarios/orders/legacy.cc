// btrfs as of v5.13: pages before extents.
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(legacy, "pages before extents, as btrfs 5.13",
                   [](fsim::fs::FsConfig& c) { c.order = fsim::fs::LockOrder::kLegacy; });
