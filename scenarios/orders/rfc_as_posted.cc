// The RFC series as posted (June 2021): extents before pages in write and
// truncate, but map_blocks takes a blocking lock_extent with the page
// locked, readahead's iomap_begin locks the range with the pages locked,
// and page_mkwrite stays page-before-extent (../shared/RFC-NOTES.md).
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
