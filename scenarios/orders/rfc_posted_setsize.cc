// One path of the RFC as posted, on top of `rfc_sync_waits` (whose other
// paths are clean): truncate. RFC patch 06, "btrfs: lock extents while
// truncating", takes the extent lock out of btrfs_invalidatepage and
// wraps truncate_setsize in btrfs_setsize with
//   start = round_down(oldsize, sectorsize);
//   end = round_up(newsize, sectorsize) - 1;
//   lock_extent_bits(io_tree, start, end, cached);
// On the shrinking path (newsize <= oldsize) that range is inverted as
// soon as the file loses a block: set_extent_bit's insert_state() prints
// "insert state: end < start" and WARNs, nothing is locked, and
// truncate_setsize invalidates pages with no range held. (The series' v2
// added "btrfs: check for range correctness while locking or setting
// extent bits".)
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_posted_setsize,
                   "rfc_sync_waits, but truncate locks [round_down(oldsize), "
                   "round_up(newsize) - 1], inverted when shrinking (RFC patch 06)",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.rfc_sync_waits_for_range = true;
                     c.bug_rfc_setsize_inverted_range = true;
                   },
                   /*claims_correct=*/false, /*fixed_by=*/"rfc_sync_waits");
