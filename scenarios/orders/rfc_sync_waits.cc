// Extents before pages, completed as `rfc` is, with data-integrity
// writeback mended: fsync counts the pages best-effort writeback
// redirtied because another task held their range (wbc->pages_skipped),
// takes and drops that range with no page locked (extents before pages:
// it waits for the holder, page_mkwrite or the flusher, to finish), and
// writes them again before it waits and commits. The flusher and kswapd
// stay best effort: they owe no page to anyone.
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_sync_waits,
                   "extents before pages (as rfc), and fsync waits for a range it could not "
                   "try-lock, then writes the redirtied pages again",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.rfc_sync_waits_for_range = true;
                   });
