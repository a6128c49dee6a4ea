// One path of the RFC as posted, on top of `rfc_sync_waits` (whose other
// paths are clean, so the finding is this path's alone): writeback's
// btrfs_map_blocks (RFC patch 10, "btrfs: Add btrfs_map_blocks() for
// iomap_writeback_ops") finds the delalloc range and takes it with a
// blocking lock_extent() in find_delalloc_range() while iomap's
// write_cache_pages holds the page it was handed. Patch 05's
// best_effort_lock_extent() (a try-lock through at least the end of the
// locked page) serves only ->writepage; the flusher and fsync go through
// ->writepages (patch 15) and block. Flusher and WB_SYNC_ALL alike: the
// callback never sees wbc. Pages before extents on that path, against the
// buffered write's extents before pages: lockdep's inversion, and a
// deadlock when a writer holds the range and waits for the page.
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_posted_writepage,
                   "rfc_sync_waits, but writeback's map_blocks blocks on the "
                   "range with the page locked (RFC patch 10)",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.rfc_sync_waits_for_range = true;
                     c.bug_rfc_writepage_blocking_extent_lock = true;
                   },
                   /*claims_correct=*/false, /*fixed_by=*/"rfc_sync_waits");
