// The RFC series as posted (June 2021, "[RFC PATCH 00/31] btrfs buffered
// iomap support"): extents before pages in the buffered write (patches 07,
// 20-24: iomap_begin locks the range, then iomap locks the pages) and in
// truncate (patch 06: btrfs_setsize locks the range around
// truncate_setsize; invalidatepage no longer locks), but writeback's
// btrfs_map_blocks takes a blocking lock_extent with the page locked
// (patch 10; patch 05's best-effort try-lock serves ->writepage only),
// readpage/readahead take the range with the pages locked (patches 28,
// 31), page_mkwrite, which no patch touches, stays page-before-extent,
// releasepage unlocks one byte past the range it try-locked and
// btrfs_setsize locks an inverted range when the file shrinks (both patch
// 06). One variant per path: rfc_posted_writepage, rfc_posted_readahead,
// rfc_posted_mkwrite, rfc_posted_releasepage, rfc_posted_setsize.
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_as_posted,
                   "extents before pages as the RFC posted it: map_blocks, readahead and "
                   "page_mkwrite left page-before-extent, patch 06's releasepage and setsize "
                   "ranges",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.bug_rfc_writepage_blocking_extent_lock = true;
                     c.bug_rfc_readahead_blocking_extent_lock = true;
                     c.bug_rfc_page_mkwrite_page_before_extent = true;
                     c.bug_releasepage_unlocks_past_range = true;
                     c.bug_rfc_setsize_inverted_range = true;
                   },
                   /*claims_correct=*/false, /*fixed_by=*/"rfc");
