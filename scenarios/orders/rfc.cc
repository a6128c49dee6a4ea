// The RFC's extents-before-pages order, completed: every path that is
// handed a locked page (writepage, readahead) only tries the extent lock,
// and page_mkwrite takes the range first. It loses fsync'd data: fsync's
// writeback, failing the try-lock on a range another task holds
// (page_mkwrite waiting for the page fsync holds, the flusher), redirties
// the page and returns 0 without it (README "What fsim finds in the
// RFC"); rfc_sync_waits mends that.
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc, "extents before pages, every path converted (best effort where a page comes locked)",
                   [](fsim::fs::FsConfig& c) { c.order = fsim::fs::LockOrder::kRfc; },
                   /*claims_correct=*/false, /*fixed_by=*/"rfc_sync_waits");
