// One path of the RFC as posted, on top of `rfc_sync_waits` (whose other
// paths are clean, so the finding is this path's alone): no patch of the series
// touches btrfs_page_mkwrite(), which keeps v5.13's lock_page() then a
// blocking lock_extent_bits() of the page's range. A buffered write
// (RFC patches 07 and 20-24: iomap_begin locks the range, iomap then
// locks the pages) takes the two the other way round: a write() and a
// store through mmap to the same page deadlock, and lockdep reports the
// inversion on first sight of both orders.
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_posted_mkwrite,
                   "rfc_sync_waits, but page_mkwrite left page-before-extent (no "
                   "patch of the RFC converts it)",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.rfc_sync_waits_for_range = true;
                     c.bug_rfc_page_mkwrite_page_before_extent = true;
                   },
                   /*claims_correct=*/false, /*fixed_by=*/"rfc_sync_waits");
