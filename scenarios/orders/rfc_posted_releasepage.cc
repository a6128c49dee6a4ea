// One path of the RFC as posted, on top of `rfc_sync_waits` (whose other
// paths are clean): btrfs_releasepage (RFC patch 06, "btrfs: lock extents
// while truncating") try-locks the page's range with the page locked and
// unlocks one byte more than it locked ([start, end + 1]), the off-by-one
// the patch's unlock_extent() call has: one byte of the next page's range
// it never owned is freed under whoever held it (extent locks have no
// owner, so the kernel cannot notice).
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_posted_releasepage,
                   "rfc_sync_waits, but releasepage unlocks one byte past the range it "
                   "try-locked (RFC patch 06)",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.rfc_sync_waits_for_range = true;
                     c.bug_releasepage_unlocks_past_range = true;
                   },
                   /*claims_correct=*/false, /*fixed_by=*/"rfc_sync_waits");
