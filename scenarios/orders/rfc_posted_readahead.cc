// One path of the RFC as posted, on top of `rfc_sync_waits` (whose other
// paths are clean, so the finding is this path's alone): readpage and readahead
// (RFC patches 28, "btrfs: Switch to iomap_readpage()", and 31, "btrfs:
// Switch to iomap_readahead()") reach btrfs's read iomap_begin with the
// pages already locked by the page cache, and it takes the range with a
// blocking btrfs_lock_and_flush_ordered_range(); the range is unlocked at
// read-bio completion (holes at once). Pages before extents on the read
// path: lockdep's inversion against writers and truncate, and a deadlock
// with a writer that holds the range and waits for a page readahead
// locked.
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_posted_readahead,
                   "rfc_sync_waits, but readahead blocks on the range with its "
                   "pages locked (RFC patches 28, 31)",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.rfc_sync_waits_for_range = true;
                     c.bug_rfc_readahead_blocking_extent_lock = true;
                   },
                   /*claims_correct=*/false, /*fixed_by=*/"rfc_sync_waits");
