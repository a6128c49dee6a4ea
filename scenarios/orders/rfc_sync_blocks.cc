// An intermediate attempt at mending `rfc`'s lost fsync data, kept to
// show what it breaks: data-integrity writeback (WB_SYNC_ALL, from fsync)
// takes the page's extent range with a blocking lock_extent while it
// holds the page write_cache_pages handed it, instead of try-locking it
// and redirtying the page (RFC patch 05's best effort, kept for the
// flusher and kswapd). No page fsync owes is skipped any more, but on
// that path the order is pages before extents again, against every path
// that takes the range first (buffered write, page_mkwrite, readahead's
// retry): lockdep reports the inversion, and with page_mkwrite or a
// writer on the other side it deadlocks. rfc_sync_waits takes the range
// with no page held instead.
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_sync_blocks,
                   "extents before pages (as rfc), but fsync's writepage blocks on the range "
                   "with the page locked",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.rfc_sync_all_blocks_on_range = true;
                   },
                   /*claims_correct=*/false, /*fixed_by=*/"rfc_sync_waits");
