// The RFC series as posted (June 2021, "[RFC PATCH 00/31] btrfs buffered
// iomap support"): extents before pages in the buffered write (patches 07,
// 20-24: iomap_begin locks the range, then iomap locks the pages) and in
// truncate (patch 06: btrfs_setsize locks the range around
// truncate_setsize; invalidatepage no longer locks), but writeback's
// btrfs_map_blocks takes a blocking lock_extent with the page locked
// (patch 10; patch 05's best-effort try-lock serves ->writepage only),
// readpage/readahead take the range with the pages locked (patches 28,
// 31), and page_mkwrite, which no patch touches, stays page-before-extent.
// One variant per path: rfc_posted_writepage, rfc_posted_readahead,
// rfc_posted_mkwrite, rfc_posted_releasepage.
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_as_posted,
                   "extents before pages as the RFC posted it: map_blocks, readahead and "
                   "page_mkwrite left page-before-extent",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.bug_rfc_writepage_blocking_extent_lock = true;
                     c.bug_rfc_readahead_blocking_extent_lock = true;
                     c.bug_rfc_page_mkwrite_page_before_extent = true;
                   },
                   /*claims_correct=*/false);
