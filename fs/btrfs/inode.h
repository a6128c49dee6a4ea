// The btrfs side of the buffered I/O path, on iomap, in both lock orders
// (a first slice of the filesystem model: buffered write, writeback
// through iomap with COW allocation and ordered extents, read, fsync;
// truncate, punch hole and mmap come next).
//
// Lock orders (configuration, ../shared/RFC-NOTES.md):
// - kLegacy (btrfs v5.13): pages before extents. A buffered write locks
//   each page, then the page's extent range; finding an ordered extent
//   there it unlocks both, waits and retries. Reads lock the page, then
//   the range. Writeback (map_blocks) runs with the page locked and takes
//   the range with a blocking lock.
// - kRfc (the RFC): extents before pages. A buffered write locks its whole
//   range and flushes ordered extents first, then the pages. Reads lock
//   the range before the pages. Writeback, handed a locked page, can only
//   try_lock_extent; failing, it redirties the page (best effort).
//
// Injectable mistakes (configuration, each the small difference a
// developer would really write):
// - bug_rfc_writepage_blocking_extent_lock: under kRfc, map_blocks takes a
//   blocking lock_extent with the page locked.
// - bug_rfc_page_mkwrite_page_before_extent: under kRfc, page_mkwrite
//   keeps the legacy order (page, then range), as the RFC left it.
// - bug_rfc_readahead_blocking_extent_lock: under kRfc, readahead, handed
//   locked pages, takes the range with a blocking lock and flushes ordered
//   extents (the read iomap_begin of RFC patches 27-31).
// - bug_commit_without_barrier_all_devices: the log commit flushes only
//   the device it lives on, not the other data devices (write_all_supers
//   without barrier_all_devices): fsync'd data on another disk can still
//   be in its volatile cache when the log pointing at it is durable.
// - bug_cont_expand_without_truncate_block: growing the file (truncate
//   up, a write or fallocate past EOF) skips btrfs_truncate_block() on the
//   old EOF page, so bytes a store through mmap left past EOF in that page
//   become file data.
// - bug_writeback_past_eof_after_truncate: writeback of a page that
//   truncate moved wholly past i_size submits it (and so finishes an
//   ordered extent for it) instead of redirtying it for truncate to drop.
// - bug_invalidatepage_no_ordered_accounting: btrfs_invalidatepage drops a
//   page whose ordered extent was allocated but whose write was never
//   submitted without accounting for it (no TestClearPagePrivate2,
//   truncated_len, btrfs_dec_test_ordered_pending): the extent never
//   finishes, and whoever waits for it hangs.
// - bug_free_extent_without_pinning: an extent no file extent item points
//   at any more returns to the free pool at once instead of after the
//   commit that makes the drop durable: a new write can reuse its blocks
//   while the durable metadata still points at them.
// - bug_iomap_merge_past_map_length: btrfs_map_bio handed a bio that
//   iomap merged past the mapping's map_length (a RAID0/RAID10 stripe end,
//   a chunk end) does not split it: the WARN the RFC saw.
// - bug_fsync_sync_all_skips_redirtied: under rfc_sync_waits_for_range,
//   fsync's data-integrity pass does not look at wbc->pages_skipped: a
//   page best-effort writeback redirtied because a reader held its range
//   stays dirty, and fsync returns 0 without it.
// - bug_lock_and_flush_ordered_leaks_ref: btrfs_lock_and_flush_ordered_range
//   waits for the ordered extent it looked up (btrfs_start_ordered_extent)
//   and loops without btrfs_put_ordered_extent: the lookup's reference
//   leaks, and the ordered extent is never freed (kmemleak after unmount).
// - bug_invalidatepage_keeps_data_reservation: btrfs_invalidatepage
//   clears EXTENT_DELALLOC without EXTENT_DO_ACCOUNTING: the dropped
//   page's data space reservation is never given back, and unmount WARNs
//   (btrfs_free_block_groups: bytes_may_use left).
// - bug_dirty_pages_write_bytes: btrfs_buffered_write() hands
//   btrfs_dirty_pages() write_bytes (what the batch asked for) instead of
//   copied after a short copy from the user buffer: the pages not copied
//   are marked uptodate and dirty with what they held, and i_size moves
//   past the bytes written, until the retry copies them.
// - bug_writepages_ioend_open_across_lock_page: the writeback pass keeps
//   its ioend open while it sleeps on a page lock (write_cache_pages's
//   lock_page, lock_delalloc_pages) instead of submitting it first as
//   extent_write_cache_pages flushes its bio: a holder of that page who
//   waits for an ordered extent whose pages sit in the unsubmitted ioend
//   never wakes.
// - bug_clone_lock_order_by_argument: a clone between two files takes
//   their locks in argument order (source, then destination) instead of
//   by inode: two files cloning into each other deadlock.
// - bug_fault_in_under_extent_lock: under extents before pages, the
//   buffered write faults the user buffer in page by page after
//   iomap_begin locked the range (v5.13's iomap_write_actor, as the RFC
//   has it) instead of before: a buffer mapping the range being written
//   faults into readpage, which waits for that range.
// - bug_delalloc_lock_pages_fail_keeps_range_locked: under extents before
//   pages, find_lock_delalloc_range() takes the range, then the run's
//   pages; when a page of the run went away it shortens the run and
//   retries without first unlocking the range it took.
// - bug_chained_bio_double_submit: when iomap_chain_bio() chains a full
//   bio to a new one, the full one goes to the filesystem's submit hook
//   twice (the RFC's hook added beside the submit_bio() iomap already
//   does): it completes twice, its parent's __bi_remaining runs out early,
//   the ioend finishes (pages end writeback, bios and ioend freed) while a
//   bio of it is still in flight, and that bio's completion reads freed
//   memory.
// - bug_end_io_wrong_container: btrfs's data write completion takes
//   container_of(bio, struct btrfs_io_bio, bio) of the bio iomap submitted
//   through the hook, which iomap allocated (iomap_ioend_bioset): the
//   fields read lie outside the bio's real allocation.
// - bug_fallocate_end_rounded_down: btrfs_fallocate computes alloc_end
//   rounding offset + len down to the block, not up: the range's last
//   partial block is left a hole, and a later write into it is COWed and
//   may fail with -ENOSPC, which fallocate(2) promised it would not.
// - bug_get_extent_trim_keeps_block_start: btrfs_get_extent, trimming a
//   map built from a file extent item to the part no cached map covers,
//   advances its start and shortens its block_len but leaves block_start:
//   a read through the trimmed map reads the extent's first blocks.
// - bug_punch_hole_keeps_extent_map: btrfs_punch_hole drops the file
//   extent items of the hole but not its cached extent maps
//   (btrfs_drop_extent_cache): a later read of a hole page that is not
//   cached follows the stale map to the freed (or reused) disk space.
// - bug_punch_hole_skips_page_retry: btrfs_punch_hole_lock_range retries
//   only for an ordered extent in the range, not for pages that came back
//   after truncate_pagecache_range (a reader's readpage between it and
//   lock_extent_bits): the page keeps the old bytes over the hole.
// - bug_read_created_page_without_uptodate_check: filemap_read, finding no
//   page, allocates one and calls ->readpage on what find_or_create_page
//   returns without looking whether it is uptodate: allocating may sleep,
//   and a writer may have added the page meanwhile, dirty with data not
//   yet on disk, which the read then overwrites from disk. (fsim's own
//   read path had this mistake for an hour; the default suite found it.)
// - bug_punch_hole_flush_before_inode_lock: btrfs_punch_hole() as v5.13
//   has it: btrfs_wait_ordered_range() before btrfs_inode_lock(). A write
//   and the flusher in between leave an ordered extent across the hole
//   whose unsubmitted page truncate_pagecache_range() then invalidates:
//   btrfs_invalidatepage() sets truncated_len to that page, and the
//   ordered extent completes with a file extent item that stops there,
//   so the extent's pages past the hole, written to disk, belong to no
//   item: their data is lost once the page cache lets them go. (The
//   retry in btrfs_punch_hole_lock_range() comes too late: the page is
//   already invalidated.) Upstream moved the lock first in 2022, which
//   closes the window; fsim's model takes that order.
// - bug_read_repair_rewrites_good_mirror: read repair hands
//   repair_io_failure() the mirror that read good (failrec->this_mirror)
//   instead of the one that failed (failrec->failed_mirror): the good copy
//   is rewritten with itself and the bad one stays bad, though every read
//   still returns the right data.
// - bug_writepage_skips_eof_zeroing: iomap_do_writepage writes the page
//   straddling EOF without zeroing its part past EOF first
//   (zero_user_segment). Bytes a store through mmap left there reach the
//   disk; the page cache is zeroed when the file grows
//   (btrfs_truncate_block), but a commit of the larger size before that
//   page is written again (another file's fsync) shows them after a power
//   cut.
// - bug_truncate_partial_skips_writeback_wait: truncate_inode_pages_range()
//   zeroes the tail of the partial page at the new size without
//   wait_on_page_writeback() (no stable pages): the device writes the
//   zeroed tail under the checksum btrfs took at submit. btrfs_truncate_block
//   rewrites the page later, so only a commit in between followed by a
//   power cut, or an eviction and re-read, shows it: a block that fails
//   its checksum.
// - bug_read_cache_page_skips_wait: do_read_cache_page() (a page fault on
//   a mapping, read_cache_page) tests PageUptodate right after ->readpage
//   without wait_on_page_locked(): an asynchronous read still in flight
//   is taken for a failed one, and a write whose user buffer maps a file
//   comes back short (-EFAULT for a page it could have read).
// - bug_compress_bail_stops_at_piece: compress_file_range()'s
//   cleanup_and_bail_uncompressed covers only the current 128 KiB piece,
//   not the rest of the async chunk: the chunk's later pages are never
//   written or unlocked (a truncate into the first page makes the first
//   piece bail out).
// - bug_dedupe_same_file_waits_lower_range: a dedupe within one file
//   writes back and waits for [lo, lo + len), the lower of its two ranges,
//   not the span covering both: a dirty source above the destination is
//   shared as the disk holds it, and the page cache's bytes are lost.
// - bug_remap_prep_waits_dst_for_src: btrfs_remap_file_range_prep() waits
//   for the source range on the destination inode (inode_out where
//   inode_in belongs): a dirty source range of another file is shared as
//   the disk holds it.
// - bug_chain_endio_drops_inherited_error: bio_chain_endio() passes a
//   child's own failure to its parent but not one the child inherited
//   from its own children: in a chain of three or more bios an error in
//   the first is lost, and the ioend completes as written.
// - bug_read_bio_past_max_vecs: the read side's bio building
//   (submit_extent_page) tests a bio's fullness with <= BIO_MAX_VECS: a
//   readahead batch longer than a bio puts 257 pages in one.
// - bug_dedupe_compare_drops_dst_error: vfs_dedupe_file_range_compare()
//   keeps the source's read error only: a destination page that cannot be
//   read ends the compare as "differs" (FILE_DEDUPE_RANGE_DIFFERS) with no
//   error, and the application is never told its data is unreadable.
// - bug_rw_degradable_misses_raid1: the commit's barrier check
//   (barrier_all_devices -> btrfs_check_rw_degradable) counts no failure
//   as tolerated for RAID1: an array with one dead mirror never commits
//   again, and every fsync fails.
// - bug_cow_fail_keeps_data_resv: cow_file_range()'s error path clears
//   the run's DELALLOC bit without EXTENT_CLEAR_DATA_RESV: the failed
//   range's data reservation is never given back (bytes_may_use leaks
//   until unmount warns).
// - bug_writepage_error_not_in_mapping: iomap_writepage_map() returns a
//   ->map_blocks error without mapping_set_error(): writeback run by the
//   flusher or kswapd drops the range it could not place, and no fsync
//   hears of it.
// - bug_zero_range_punches_hole: btrfs_zero_range() punches a hole over
//   the range's whole blocks instead of preallocating them: the range
//   reads as zeroes either way, but writes into it are COWed and can fail
//   for lack of space, which fallocate(2) promises they will not.
// - bug_compress_skips_clear_dirty_for_io: compress_file_range() leaves
//   out extent_range_clear_dirty_for_io() ("the pages are locked, nobody
//   can change them"): a store through a page still mapped writable
//   lands after the compressor read the page, and submit's
//   clear_page_dirty_for_io then cleans it with the store not on disk.
// - bug_compress_enospc_fallback_skips_redirty: when the compressed
//   extent cannot be allocated (-ENOSPC), submit_compressed_extents()
//   retries the range uncompressed without extent_range_redirty_for_io():
//   the uncompressed path writes only dirty pages, so it writes none and
//   finishes the ordered extent over blocks never written.
// - bug_compress_bail_skips_redirty: compress_file_range()'s
//   cleanup_and_bail_uncompressed leaves out extent_range_redirty_for_io(),
//   with the same effect for data that did not compress.
// - bug_release_extent_mapping_drops_pinned: try_release_extent_mapping()
//   without the EXTENT_FLAG_PINNED test: releasepage, between the end of
//   a page's writeback and the finish of its ordered extent, drops the map
//   that extent pinned.
// - bug_check_errors_keeps_as_eio: filemap_check_errors() tests AS_EIO
//   without clearing it (test_bit for test_and_clear_bit): a writeback
//   error is reported to every later fsync of the file, though what they
//   wrote is on disk.
// - bug_get_extent_orig_start_without_offset: btrfs_get_extent() builds
//   a map's orig_start as the item's file offset, forgetting the item's
//   offset into its extent: a clone from the middle of a compressed
//   extent decodes from the extent's start, and reads the wrong bytes.
// - bug_clone_eof_item_unaligned: btrfs_clone() ends the last cloned item
//   at the unaligned length a clone to the source's EOF asks for, not at
//   its block-aligned length: the item leaves the 4 KiB grid (the
//   tree-checker's WARN) and the EOF block's tail is lost.
// - bug_fsync_drops_writeback_error: btrfs_sync_file() returns the log
//   commit's status and drops the error of its write-and-wait
//   (btrfs_wait_ordered_range's -EIO, the mapping's AS_EIO): an fsync
//   after a failed write returns 0 although the data never reached the
//   disk, and the error, consumed, reaches no later fsync either.
// - bug_write_endio_ignores_error: btrfs_writepage_endio_finish_ordered()
//   is called with uptodate = 1 whatever the bio's status: the ordered
//   extent of a failed write completes as written, so
//   btrfs_finish_ordered_io() inserts the file extent item and the
//   checksums of blocks the device never wrote, and the next commit makes
//   them durable (the page's error still fails fsync).
// - bug_raid10_stripe_index_without_sub_stripes: __btrfs_map_block's
//   RAID10 stripe_index is (stripe_nr % factor) without "* sub_stripes":
//   a stripe unit's two copies go to the wrong devices (the second copy of
//   one pair and the first of the next). The model's own reads use the
//   same mapping and return the right data; the disk, read where the chunk
//   item says each copy lies, does not.
// - bug_dup_tolerates_failed_copy: __btrfs_map_block gives a DUP write
//   RAID1's max_errors (1) instead of DUP's tolerated_failures (0): a
//   write that lost one of its two copies (both on one device) succeeds,
//   its ordered extent commits the item, and a block the durable
//   metadata names has one copy that fails its checksum.
// - bug_read_endio_skips_repair: end_bio_extent_readpage fails a page
//   whose copy could not be read or failed its checksum, without reading
//   the other mirrors (btrfs_submit_read_repair() not called: the read
//   completion a port to iomap_read_end_io() would have). On RAID1 with a
//   dead or corrupt copy the read returns an error although the other
//   copy is good; fsim's reads copy such a page as zeroes.
// - bug_releasepage_unlocks_past_range: under extents before pages,
//   releasepage try-locks the page's range [start, end] and unlocks
//   [start, end + 1]: one byte of the next page's range it never owned
//   (extent range locks have no owner, so the kernel would not notice;
//   whoever held that byte now holds a range that is partly free).
// - bug_rfc_setsize_inverted_range: under extents before pages,
//   btrfs_setsize locks [round_down(oldsize), round_up(newsize) - 1]
//   around truncate_setsize (RFC patch 06, as posted) instead of
//   [round_down(newsize), round_up(oldsize) - 1]: when the file shrinks
//   past a block boundary the range is inverted, set_extent_bit's
//   insert_state() WARNs "end < start", and truncate_setsize runs with
//   no range held (the patch also took the lock out of invalidatepage).
// - bug_setsize_grow_without_inode_lock: a truncate that grows the file
//   (btrfs_setsize's btrfs_cont_expand and i_size_write) runs without
//   inode_lock, as a new caller that bypasses notify_change() would: its
//   i_size_write races a writer's, and the size one of them set is lost
//   (data_mismatch; with races=on, a data_race on inode->i_size at once).
// - bug_compressed_partial_io: with compress=on, the read side maps a
//   compressed extent as iomap maps a plain one (IOMAP_MAPPED at
//   em->block_start + (pos - em->start)) instead of IOMAP_ENCODED with
//   its io_size: it reads only the block asked for, not the whole encoded
//   extent, and copies it into the page undecoded.
// - bug_commit_ignores_barrier_error: write_all_supers() goes on to write
//   the superblocks after barrier_all_devices() failed on more devices
//   than the profile tolerates: the commit names extents whose data sat
//   in a volatile cache the failed flush never emptied (the fsync still
//   returns -EIO, but the metadata is durable and the data is not).
// - bug_compressed_disk_len_unaligned: submit_compressed_extents() sizes
//   the encoded extent by the compressed stream's length, not rounded up
//   to the sector size: the allocation, the ordered extent's
//   disk_num_bytes and the file extent item are off the 4 KiB grid, and
//   the last page of the write bio reaches past the buffer holding the
//   stream (KASAN's slab-out-of-bounds at submit_bio; the item, had it
//   been written, the tree-checker's invalid disk_num_bytes).
// - bug_nocow_skips_cross_ref_check: run_delalloc_nocow writes into a
//   preallocated extent in place without btrfs_cross_ref_exist(): when a
//   clone shares the extent, both files' writes land in the same blocks.
// - bug_rfc_compress_worker_relocks_range: under extents before pages,
//   compressed writeback keeps v5.13's async path as it is (the RFC left
//   compression as a TODO): cow_file_range_async unlocks the range and
//   submit_compressed_extents takes it again with the run's pages locked,
//   pages before extents, while readers take the range before the pages.

//
// Persistence: ordered extents finish in a worker fiber that records the
// file extent item and inode size in the metadata log; fsync writes and
// waits the range, then commits the log (flush + FUA).
//
// Locking rules: i_rwsem (write) serialises writers and fsync against
// writers; reads take no i_rwsem (as buffered reads in btrfs).
#ifndef FSIM_FS_BTRFS_INODE_H_
#define FSIM_FS_BTRFS_INODE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "fs/btrfs/extent_io_tree.h"
#include "fs/btrfs/extent_map.h"
#include "fs/iomap/buffered_io.h"
#include "fs/btrfs/metadata_log.h"
#include "fs/btrfs/ordered_data.h"
#include "fs/mm/page_cache.h"
#include "fs/btrfs/volumes.h"
#include "sim/block.h"
#include "sim/memory.h"
#include "sim/sync.h"

namespace fsim::fs {

enum class LockOrder { kLegacy, kRfc };

struct FsConfig {
  LockOrder order = LockOrder::kLegacy;
  bool bug_rfc_writepage_blocking_extent_lock = false;
  bool bug_rfc_page_mkwrite_page_before_extent = false;
  bool bug_writeback_past_eof_after_truncate = false;
  bool bug_rfc_readahead_blocking_extent_lock = false;
  bool bug_commit_without_barrier_all_devices = false;
  bool bug_cont_expand_without_truncate_block = false;
  bool bug_invalidatepage_no_ordered_accounting = false;
  bool bug_iomap_merge_past_map_length = false;
  bool bug_free_extent_without_pinning = false;
  bool bug_invalidatepage_keeps_data_reservation = false;
  bool bug_fsync_sync_all_skips_redirtied = false;
  bool bug_writepages_ioend_open_across_lock_page = false;
  bool bug_delalloc_lock_pages_fail_keeps_range_locked = false;
  bool bug_fault_in_under_extent_lock = false;
  bool bug_clone_lock_order_by_argument = false;
  bool bug_releasepage_unlocks_past_range = false;
  bool bug_rfc_setsize_inverted_range = false;
  bool bug_setsize_grow_without_inode_lock = false;
  bool bug_chained_bio_double_submit = false;
  bool bug_punch_hole_keeps_extent_map = false;
  bool bug_punch_hole_skips_page_retry = false;
  bool bug_fallocate_end_rounded_down = false;
  bool bug_get_extent_trim_keeps_block_start = false;
  bool bug_read_created_page_without_uptodate_check = false;
  bool bug_read_endio_skips_repair = false;
  bool bug_read_repair_rewrites_good_mirror = false;
  bool bug_writepage_skips_eof_zeroing = false;
  bool bug_truncate_partial_skips_writeback_wait = false;
  bool bug_raid10_stripe_index_without_sub_stripes = false;
  bool bug_dup_tolerates_failed_copy = false;
  bool bug_write_endio_ignores_error = false;
  bool bug_fsync_drops_writeback_error = false;
  bool bug_get_extent_orig_start_without_offset = false;
  bool bug_clone_eof_item_unaligned = false;
  bool bug_read_cache_page_skips_wait = false;
  bool bug_check_errors_keeps_as_eio = false;
  bool bug_punch_hole_flush_before_inode_lock = false;
  bool bug_end_io_wrong_container = false;
  bool bug_compressed_partial_io = false;
  bool bug_compressed_disk_len_unaligned = false;
  bool bug_commit_ignores_barrier_error = false;
  bool bug_nocow_skips_cross_ref_check = false;
  bool bug_rfc_compress_worker_relocks_range = false;
  bool bug_lock_and_flush_ordered_leaks_ref = false;
  bool bug_dirty_pages_write_bytes = false;
  bool bug_compress_bail_stops_at_piece = false;
  bool bug_dedupe_same_file_waits_lower_range = false;
  bool bug_remap_prep_waits_dst_for_src = false;
  bool bug_dedupe_compare_drops_dst_error = false;
  bool bug_read_bio_past_max_vecs = false;
  bool bug_chain_endio_drops_inherited_error = false;
  bool bug_rw_degradable_misses_raid1 = false;
  bool bug_cow_fail_keeps_data_resv = false;
  bool bug_writepage_error_not_in_mapping = false;
  bool bug_zero_range_punches_hole = false;
  bool bug_compress_skips_clear_dirty_for_io = false;
  bool bug_compress_enospc_fallback_skips_redirty = false;
  bool bug_compress_bail_skips_redirty = false;
  bool bug_release_extent_mapping_drops_pinned = false;
  // Mount option compress (compress=zlib): writeback compresses delalloc
  // ranges through the async COW workers (cow_file_range_async(),
  // compress_file_range(), submit_compressed_extents()).
  bool compress = false;
  // try_release_extent_mapping() drops cached extent maps under reclaim
  // only for a file larger than this (the kernel's SZ_16M). fsim's files
  // are at most 2 MiB, so a scenario that wants the maps dropped scales it
  // down with the rest of its world (config em_release_min_isize).
  uint64_t em_release_min_isize = uint64_t{16} << 20;
  // The backing device's readahead window at most, in pages (bdi->ra_pages:
  // VM_READAHEAD_PAGES, 128 KiB). 0 turns readahead off.
  uint64_t ra_pages = 32;
  // BIO_MAX_VECS: the pages a bio holds at most (256 in v5.13; config
  // bio_max_vecs). fsim's files are at most 2 MiB, so one writeback unit
  // spans at most two full bios; a scenario that wants a chain of several
  // (an error inherited through bio_chain from child to parent to
  // grandparent) scales the bio down with the rest of its world, as
  // em_release_min_isize does.
  uint64_t bio_max_vecs = sim::kBioMaxVecs;
  // The metadata area's length on device 0 (MetadataLog: superblock, log,
  // two checkpoint slots of a quarter each). At the default 1 MiB the log
  // holds 127 one-block records between checkpoints; a scenario that
  // wants checkpoints (and power cuts during them) within a few fsyncs
  // scales it down (config log_kib; 64 KiB: 7 records).
  uint64_t log_len = uint64_t{1} << 20;
  // A fault (config enospc_window): one btrfs_reserve_extent() of
  // cow_file_range(), the k-th, fails with -ENOSPC, k drawn below this
  // window through the Chooser at the first call (0: none fails). In
  // v5.13 that needs the data space gone at writeback (the write's
  // reservation notwithstanding: pinned extents, fragmentation below
  // min_alloc_size); it opens the writepage error path: the run's range
  // cleared of delalloc with its reservation released, its other pages
  // cleaned and unlocked unwritten, the page handed to writepage no
  // longer uptodate, and the error left in the mapping for fsync.
  uint64_t enospc_window = 0;
  // A design knob of extents-before-pages (not a mistake): fsync's
  // data-integrity writeback counts the pages best-effort writeback
  // redirtied because another task held their range (wbc->pages_skipped),
  // waits for that range with no page locked (extents before pages), and
  // writes again, so that no page it owes is left dirty when it waits.
  bool rfc_sync_waits_for_range = false;
  // A design knob of extents-before-pages (an intermediate attempt, not a
  // mistake): data-integrity writeback (WB_SYNC_ALL, fsync) takes the
  // page's range with a blocking lock_extent while it holds the page
  // handed to it, so that it never redirties a page it owes; the flusher
  // and kswapd stay best effort. That is pages before extents again, on
  // fsync's path only.
  bool rfc_sync_all_blocks_on_range = false;
  // The data chunk's profile (mkfs -d): SINGLE on device 0, DUP on device
  // 0, RAID0 over every device, RAID1 over devices 0 and 1.
  Profile data_profile = Profile::kSingle;
};

// fs_info: the mount.
// The data checksum btrfs keeps per 4 KiB block (xxhash64, truncated as
// the csum tree stores it here).
uint32_t BtrfsDataCsum(const uint8_t* block);

// set_page_extent_mapped(): every btrfs data page in use carries
// EXTENT_PAGE_PRIVATE, so truncate and reclaim ask the fs about it.
void SetPageExtentMapped(Page& page);

class BtrfsInode;

// The superblock shrinker (super_cache_scan() -> prune_icache_sb()): under
// reclaim that may enter the filesystem (__GFP_FS, in practice kswapd, as
// btrfs allocates with GFP_NOFS), inodes nobody holds whose pages are all
// clean and settled are evicted: btrfs_evict_inode() drops their page
// cache and locks and clears their io_tree ranges, blocking, under
// fs_reclaim, which is how lockdep learns fs_reclaim -> extent lock.
class SuperShrinker final : public sim::Shrinker {
 public:
  explicit SuperShrinker(class BtrfsFs& fs) : fs_(fs) {}
  std::string_view name() const override { return "super_cache_scan"; }
  bool every_pass() const override { return true; }
  uint64_t Count() override;
  uint64_t Scan(uint64_t nr_to_scan, uint64_t, sim::Gfp gfp) override;

 private:
  class BtrfsFs& fs_;
};

class BtrfsFs {
 public:
  // Device 0 holds the metadata log (first 1 MiB); one data chunk of
  // config.data_profile follows it, on the devices that profile uses, at
  // the same physical offset on each. REQUIRES: devices of at least 4 MiB;
  // RAID0 and RAID1 at least two devices.
  BtrfsFs(sim::Scheduler& sched, sim::BlockArray& array, FsConfig config);
  ~BtrfsFs();
  BtrfsFs(const BtrfsFs&) = delete;
  BtrfsFs& operator=(const BtrfsFs&) = delete;
  // The superblock's inode list (s_inodes), in creation order.
  void AddInode(BtrfsInode* inode);
  void RemoveInode(BtrfsInode* inode);
  const std::vector<BtrfsInode*>& inodes() const { return inodes_; }

  // Data space (the extent tree and free space cache, reduced to what
  // crash safety depends on). AllocData() takes the lowest free run of
  // `len` bytes (page-rounded) for a new extent. ExtentReferenced() says a
  // file extent item now points at it; ReleaseUnreferenced() (after any
  // change that drops or trims items) finds extents no item points at any
  // more and pins them: their space returns to the free pool only when the
  // next log commit has made the drop durable (btrfs_free_extent() ->
  // pinned extents -> unpin at transaction commit), since until then the
  // durable metadata still points at their blocks. ExtentUnused() frees at
  // once an extent no item ever pointed at (an ordered extent that failed
  // or was truncated to nothing). REQUIRES: the transaction lock, for all
  // but AllocData.
  uint64_t AllocData(uint64_t len);
  // btrfs_reserve_extent() for cow_file_range(): AllocData, or -ENOSPC
  // (returns false) where the enospc_window fault falls.
  bool ReserveExtent(uint64_t len, uint64_t* disk);
  // Reservations that failed with -ENOSPC so far (the fault above).
  uint64_t enospc_failures() const { return enospc_failures_; }
  void ExtentReferenced(uint64_t disk_bytenr);
  void ExtentUnused(uint64_t disk_bytenr);
  void ReleaseUnreferenced();
  // For tests and invariants: the live extents (start -> length) and the
  // free and pinned space.
  const std::map<uint64_t, uint64_t>& free_space() const { return free_; }
  uint64_t pinned_bytes() const;
  // Checks the allocator's invariants: live, pinned and free space are
  // disjoint and together the whole chunk. Returns "" or the first problem.
  std::string CheckSpace() const;
  // Commits the metadata log, durable on return. First every data device
  // other than device 0 is flushed (barrier_all_devices(): data written
  // before the commit must not sit in a volatile cache of another disk
  // while the log that points at it is durable); device 0's flush is the
  // superblock's PREFLUSH. Returns false on an I/O error.
  bool CommitLog();

  // Data space reservations, the data space_info's bytes_may_use.
  // ReserveData(): btrfs_check_data_free_space() on write, page_mkwrite
  // and truncate_block, before the bytes become delalloc.
  // FreeReservedData(): btrfs_free_reserved_data_space(), when delalloc
  // bytes are cleared with EXTENT_CLEAR_DATA_RESV (invalidatepage,
  // truncate, punch, an overwrite's cleanup) or a reservation goes unused.
  // ConvertReserved(): cow_file_range's allocation takes over the
  // reservation of the delalloc bytes it allocates
  // (btrfs_add_reserved_bytes()). Going below zero is the kernel's
  // underflow WARN.
  void ReserveData(uint64_t len);
  void FreeReservedData(uint64_t len);
  void ConvertReserved(uint64_t len);
  uint64_t bytes_may_use() const { return bytes_may_use_; }
  // bytes_may_use against the delalloc bytes of `inodes`: each delalloc
  // byte holds exactly one reservation. Returns "" or the mismatch.
  std::string CheckReservations(const std::vector<const BtrfsInode*>& inodes) const;
  // close_ctree()'s btrfs_free_block_groups(): after every inode is
  // evicted no reservation may remain. Returns "" or the WARN's report.
  std::string CheckUnmount() const;
  // btrfs_free_block_groups()'s other WARN: data space reserved for an
  // extent (btrfs_reserve_extent) that no item ever took and nothing
  // freed, at unmount: a leak ("" if none).
  std::string CheckReservedAtUnmount() const;

  sim::Scheduler& sched() { return sched_; }
  Volumes& volumes() { return volumes_; }
  MetadataLog& log() { return log_; }
  sim::Mutex& transaction_lock() { return transaction_lock_; }
  const FsConfig& config() const { return config_; }

  // The largest metadata area (FsConfig::log_len), below the data chunk.
  static constexpr uint64_t kLogLen = 1 << 20;
  static constexpr uint64_t kDataStart = 1 << 20;  // logical start of the data chunk

 private:
  sim::Scheduler& sched_;
  FsConfig config_;
  Volumes volumes_;
  MetadataLog log_;
  sim::Mutex transaction_lock_;
  sim::BlockArray& array_;
  uint64_t data_end_;
  struct Extent {
    uint64_t len;
    bool referenced = false;  // a file extent item has pointed at it
    bool pinned = false;      // unreferenced, free after the next commit
  };
  std::map<uint64_t, Extent> extents_;  // allocated: disk_bytenr -> extent
  std::set<uint64_t> referenced_;       // of them: referenced, not pinned
  std::map<uint64_t, uint64_t> free_;   // start -> length, merged
  int64_t enospc_at_ = -1;              // the reservation that fails (drawn at the first)
  uint64_t reservations_ = 0;           // ReserveExtent calls so far
  uint64_t enospc_failures_ = 0;
  uint64_t bytes_may_use_ = 0;          // data space reserved for delalloc
  std::vector<BtrfsInode*> inodes_;
  SuperShrinker super_shrinker_{*this};
  void SpaceWarn(const std::string& what, uint64_t len);
};

class BtrfsInode;

// The source of a write's bytes: the user buffer behind the iov_iter.
class UserBuffer {
 public:
  virtual ~UserBuffer() = default;
  // iov_iter_fault_in_readable(): makes [off, off + len) of the buffer
  // present, taking the page faults that needs (and their locks). False
  // if it cannot (-EFAULT).
  virtual bool FaultIn(uint64_t off, uint64_t len) = 0;
  // iov_iter_copy_from_user_atomic(): copies [off, off + len) to `dst`
  // with page faults disabled; returns what it copied, short at the first
  // source page not present. Never sleeps.
  virtual uint64_t CopyAtomic(uint64_t off, uint8_t* dst, uint64_t len) = 0;
};

// A kernel buffer (or a user buffer that is always present): never faults.
class KernelBuffer final : public UserBuffer {
 public:
  explicit KernelBuffer(const std::vector<uint8_t>& data) : data_(data) {}
  bool FaultIn(uint64_t, uint64_t) override { return true; }
  uint64_t CopyAtomic(uint64_t off, uint8_t* dst, uint64_t len) override;

 private:
  const std::vector<uint8_t>& data_;
};

// A user buffer that is a shared mapping of `file` from `offset`: faulting
// it in reads its pages through filemap_fault (readpage, with its extent
// lock); the atomic copy takes what the page cache holds uptodate.
class MappedBuffer final : public UserBuffer {
 public:
  MappedBuffer(BtrfsInode& file, uint64_t offset) : file_(file), offset_(offset) {}
  bool FaultIn(uint64_t off, uint64_t len) override;
  uint64_t CopyAtomic(uint64_t off, uint8_t* dst, uint64_t len) override;

 private:
  BtrfsInode& file_;
  uint64_t offset_;
};

class BtrfsInode final : public AddressSpaceOps, public IomapWritebackOps, public ExtentIoTreeHooks {
 public:
  BtrfsInode(BtrfsFs& fs, uint64_t ino);
  ~BtrfsInode() override;

  // write(2), buffered. REQUIRES: process context.
  // Returns the bytes written: fewer than asked when a partial page's
  // read fails (-EIO), as btrfs_buffered_write() returns what it wrote.
  uint64_t BufferedWrite(uint64_t pos, const std::vector<uint8_t>& data);
  // write(2) of `len` bytes from `buffer` (which may fault, even on this
  // file). Returns the bytes written: short only if the buffer faults.
  uint64_t BufferedWriteFrom(uint64_t pos, uint64_t len, UserBuffer& buffer);
  // read(2), buffered: the bytes up to EOF. A page that cannot be read
  // (an I/O error no copy repairs) ends the read there, as filemap_read()
  // does: the bytes before it, with `error` (if given) set to -EIO.
  std::vector<uint8_t> Read(uint64_t pos, uint64_t len, int* error = nullptr);
  // fsync(2): data and size durable on return. Returns 0 or -EIO.
  int Fsync();
  // truncate(2) (btrfs_setsize + btrfs_truncate): the size, the page
  // cache past it, the partial page's tail (zeroed and written), and the
  // file extent items past it. Legacy: truncate_setsize, then the items;
  // RFC: the range [round_down(new), round_up(old)) locked around
  // truncate_setsize.
  void Truncate(uint64_t newsize);
  // fallocate(PUNCH_HOLE) (btrfs_punch_hole): [offset, offset+len) within
  // EOF reads as zeroes; partial pages are zeroed through the write path,
  // whole pages dropped from the page cache (before the extent lock, as
  // btrfs does) and their file extent items removed.
  void PunchHole(uint64_t offset, uint64_t len);
  // fallocate(ZERO_RANGE): [offset, offset+len) reads as zeroes; the size
  // grows to cover it unless keep_size (modelled as a punch within EOF
  // and an extension past it).
  void ZeroRange(uint64_t offset, uint64_t len, bool keep_size);
  // fallocate(0 or KEEP_SIZE): the size grows to offset+len unless
  // keep_size; data is unchanged (preallocation reads as zeroes).
  void Fallocate(uint64_t offset, uint64_t len, bool keep_size);
  // copy_file_range(2) within the file, as v5.13 does it when it cannot
  // remap (generic_copy_file_range(), do_splice_direct()): the source read
  // through the page cache, then written through the write path. fsx's
  // clone_range goes here too: its data effect, not shared extents.
  // Returns the bytes copied; with `error`, -EIO there when a read or
  // write of the copy failed (what was copied before it stays copied).
  uint64_t CopyFileRange(uint64_t src, uint64_t len, uint64_t dst, int* error = nullptr);
  // FIDEDUPERANGE within the file (btrfs_remap_file_range(REMAP_FILE_DEDUP)):
  // both ranges written back and their ordered extents finished, then
  // compared; equal ranges would share extents, unequal ones are left;
  // no byte changes either way. Returns whether they were equal; a read
  // that fails ends the compare (with `error`: -EIO there), and nothing
  // is shared.
  bool DedupeRange(uint64_t src, uint64_t len, uint64_t dst, int* error = nullptr);
  // FIDEDUPERANGE from `src` (another file, or this one): both inodes
  // locked as a clone locks them (lock_two_nondirectories), both ranges
  // written back and settled, the bytes compared (to the nearer EOF), and
  // equal ranges that can be remapped then share the source's extents.
  // No byte changes. Returns whether they were equal (false, with
  // `error` set, when a read failed).
  bool DedupeRangeFrom(BtrfsInode& src, uint64_t src_off, uint64_t len, uint64_t dst_off,
                       int* error = nullptr);
  // FICLONERANGE from `src` (another file, or this one) into this file
  // (btrfs_remap_file_range()): lock_two_nondirectories() takes both
  // i_rwsem, the lower inode first and the other nested (by inode number,
  // fsim's stand-in for the kernel's address order), the mmap locks the
  // same way, both ranges are written back with their ordered extents
  // finished, then the bytes: by their data effect (read, then the write
  // path), not as shared extents. Returns the bytes cloned (to src's EOF).
  // fsim reads the source range first, for the harness's record of what
  // the clone wrote; when that read fails (-EIO, set in `error`) nothing
  // is cloned and nothing returned, as a clone whose reads of the source's
  // items fail returns -EIO.
  std::vector<uint8_t> CloneRangeFrom(BtrfsInode& src, uint64_t src_off, uint64_t len,
                                      uint64_t dst_off, int* error = nullptr);
  uint64_t ino() const { return ino_; }
  // A store through a shared mapping into one page. If a PTE maps the
  // page writable, the store goes straight to it (no fault, no lock).
  // Otherwise it faults first: btrfs_page_mkwrite (i_mmap_lock read;
  // legacy: page, then range, retrying around ordered extents; RFC:
  // range, then page) dirties the page and the PTE maps it writable; the
  // store then retries, and faults again if the page was write-protected
  // meanwhile. A page wholly past EOF is SIGBUS. In the page holding EOF
  // a program that stores `past_eof` puts the whole store in the page (as
  // Linux lets it), but only the bytes before EOF are file data; one that
  // does not stores only up to EOF as i_size is at the store. Returns how
  // many bytes of the file were written, from `pos`.
  // REQUIRES: [pos, pos+len) within one page.
  uint64_t MmapWrite(uint64_t pos, const std::vector<uint8_t>& data, bool past_eof = false);
  // page_cache_sync_readahead() for a read of `req_pages` pages from
  // `index`, as v5.13's ondemand_readahead() sizes it (see RaState): the
  // absent pages of the window are created, locked, and handed to
  // ->readahead in contiguous batches; their reads are in flight when it
  // returns.
  void SyncReadahead(uint64_t index, uint64_t req_pages);
  // page_cache_async_readahead(): a read reached `page` (at `index`),
  // which carries the PG_readahead mark: the mark goes and the next
  // window is started, unless the page is under writeback.
  void AsyncReadahead(Page& page, uint64_t index, uint64_t req_pages);
  // btrfs_readahead() (legacy: extent_readahead(); RFC: iomap_readahead())
  // for `pages`, contiguous, new, locked, not uptodate. Legacy: the range
  // locked (and ordered extents flushed) with the pages locked; RFC: only
  // if try_lock_extent succeeds and no ordered extent is there, else the
  // pages are unlocked, !uptodate, and the read fills them under its own
  // locks. Takes over the caller's references.
  void Readahead(std::vector<Page*> pages);
  // file_ra_state (one per inode in fsim: its tasks share the file).
  struct RaState {
    uint64_t start = 0;
    uint64_t size = 0;
    uint64_t async_size = 0;
    uint64_t prev_pos = ~uint64_t{0};  // -1: nothing read yet
  };
  const RaState& ra() const { return ra_; }
  // posix_fadvise(POSIX_FADV_DONTNEED), generic_fadvise() in v5.13: the
  // range's dirty pages are written back (WB_SYNC_NONE, not waited for),
  // then invalidate_mapping_pages() drops the whole pages of the range
  // that are clean, not under writeback, unlocked and unused (a partial
  // page at either end stays). `len` 0: to EOF and beyond.
  void FadviseDontneed(uint64_t offset, uint64_t len);
  // The flusher: writes back every dirty page (WB_SYNC_NONE).
  void WritebackAll();
  // evict() at unmount: btrfs_evict_inode()'s evict_inode_truncate_pages()
  // (every page dropped, then what delalloc is left cleared with its
  // reservation) and btrfs_destroy_inode()'s WARN_ON(delalloc_bytes).
  // REQUIRES: the last user of the inode, after sync.
  void EvictAtUnmount();
  // What must hold once a successful fsync has written and waited for
  // everything and nothing else dirties the file: no EXTENT_DELALLOC left
  // (every delalloc byte belonged to a dirty page, which fsync wrote), the
  // delalloc_bytes counter agreeing with the tree, no page dirty or in an
  // ordered extent (PG_private_2), no ordered extent, no extent map still
  // pinned for writeback. Returns one line per violation.
  std::vector<std::string> CheckQuiescent() const;
  // The inode's users (i_count): each operation holds a reference for
  // its length (igrab/iput). Igrab waits for an eviction in progress
  // (find_inode() waits out I_FREEING).
  void Igrab();
  void Iput();
  // Evictable by the superblock shrinker: no user, no dirty page, no page
  // under writeback, no ordered extent, no range locked.
  bool Evictable() const;
  // evict() -> btrfs_evict_inode(): truncate_inode_pages_final(), then
  // each io_tree range locked (blocking) and cleared with its accounting,
  // the extent maps dropped; the inode is then as iget() reads it back
  // from the tree: i_size is the inode item's. REQUIRES: Evictable().
  void Evict();
  uint64_t evictions() const { return evictions_; }
  // BTRFS_I(inode)->delalloc_bytes: bytes with EXTENT_DELALLOC.
  uint64_t delalloc_bytes() const { return delalloc_bytes_; }

  uint64_t i_size() const { return i_size_; }
  // Pages writeback wrote wholly past EOF (bug_writeback_past_eof_after_truncate).
  uint64_t pages_written_past_eof() const { return pages_written_past_eof_; }
  // The page indexes whose writeback failed so far (a failed request, not
  // ENOSPC): what a failed write may have lost, Linux's way. Under the
  // legacy order such a page is read from the disk again
  // (end_extent_writepage clears PG_uptodate); under either order reclaim
  // may drop it. For the harness's read checks.
  const std::set<uint64_t>& write_failed_pages() const { return write_failed_pages_; }
  AddressSpace& mapping() { return mapping_; }
  // The extent map cache (for tests).
  const ExtentMapTree& em_tree() const { return em_tree_; }
  ExtentIoTree& io_tree() { return io_tree_; }
  OrderedTree& ordered() { return ordered_; }

  // a_ops
  int Writepage(Page& page, WritebackControl& wbc) override;
  int Writepages(AddressSpace& mapping, WritebackControl& wbc) override;
  int Readpage(Page& page) override;
  bool Releasepage(Page& page, sim::Gfp gfp) override;
  void Invalidatepage(Page& page, uint64_t offset, uint64_t length) override;
  // iomap writeback ops
  int MapBlocks(IomapWritepageCtx& wpc, uint64_t offset) override;
  uint64_t DelallocRunEnd(const IomapWritepageCtx& wpc, uint64_t start);
  // lock_delalloc_pages() / __unlock_for_delalloc() over the pages of
  // [start, end) after `start`'s (which the caller holds).
  bool LockDelallocPages(IomapWritepageCtx& wpc, uint64_t start, uint64_t end);
  void UnlockDelallocPages(uint64_t start, uint64_t end);
  // find_or_create_page(GFP_NOFS), locked; `nest` as LockPage's.
  Page* GrabPage(uint64_t index, const sim::LockMap* nest = nullptr);
  // The ordered extent (referenced) of the page at `start` if the page
  // carries PG_private_2, else null.
  OrderedExtent* OrderedOfPage(uint64_t start);
  void SubmitBio(Ioend& ioend, sim::Bio* bio) override;
  bool DoubleSubmitChained() const override { return fs_.config().bug_chained_bio_double_submit; }
  void EndIoend(Ioend& ioend) override;
  size_t BioMaxVecs() const override { return fs_.config().bio_max_vecs; }
  bool ChainEndioDropsInheritedError() const override {
    return fs_.config().bug_chain_endio_drops_inherited_error;
  }
  // v5.13's end_extent_writepage(): the legacy order's failed write
  // leaves its pages !uptodate (the RFC's iomap completion does not).
  bool ClearUptodateOnWriteError() const override { return fs_.config().order == LockOrder::kLegacy; }
  // io_tree hooks
  void SetDelallocExtent(uint64_t bytes) override;
  void ClearDelallocExtent(uint64_t bytes, uint32_t bits) override;

 private:
  // Waits for ordered extents in [start, end) with the range unlocked in
  // between (btrfs_lock_and_flush_ordered_range); returns with it locked.
  void LockAndFlushOrdered(uint64_t start, uint64_t end);
  // One batch of btrfs_buffered_write(): the pages of [pos, end) (at most
  // nrptrs of them) prepared, copied into and dirtied. `buffer` holds the
  // write's bytes from `pos - base` on.
  uint64_t WriteBatchLegacy(uint64_t pos, uint64_t end, uint64_t base, UserBuffer& buffer,
                            int* error);
  // The page at `index`, locked and out of writeback, with its range
  // locked and no ordered extent over it: extents first (range, flushing
  // ordered extents, then page) or pages first (page, then range; an
  // ordered extent there means unlock both, wait, retry).
  Page* LockPageAndRange(uint64_t index, bool extents_first);
  // A write fault on page `index`: btrfs_page_mkwrite, then finish_fault
  // mapping the page writable, then fault_dirty_shared_page's throttle.
  // False: SIGBUS (the page is wholly past EOF).
  bool PageMkwriteFault(uint64_t index);
  // btrfs_cont_expand()'s btrfs_truncate_block(oldsize): before the size
  // grows past `oldsize`, the rest of the page holding it is zeroed (in
  // the page cache, dirtied so the disk gets it too). REQUIRES: i_rwsem.
  void TruncateBlockForExpand(uint64_t oldsize);
  // btrfs_truncate_block(from): the page holding `from`, locked with its
  // range (in the configured order), read if needed, zeroed from `from` to
  // its end and dirtied, so the zeroes reach the disk too.
  void TruncateBlock(uint64_t from);
  // The write path with i_rwsem already held.
  uint64_t WriteLocked(uint64_t pos, const std::vector<uint8_t>& data);
  // The same from any buffer; returns the bytes written.
  uint64_t WriteLockedFrom(uint64_t pos, uint64_t len, UserBuffer& buffer);
  // btrfs_wait_ordered_range(): [start, +len) written back and its ordered
  // extents finished. REQUIRES: len > 0.
  int WaitOrderedRange(uint64_t start, uint64_t len);
  // Punch hole with i_rwsem (and i_mmap_lock) held, ordered I/O over the
  // range waited for by the caller. With `prealloc` (zero range,
  // btrfs_zero_range()), the whole pages get one preallocated extent
  // instead of a hole.
  void PunchHoleLocked(uint64_t offset, uint64_t len, bool prealloc = false);
  // btrfs_prealloc_file_range() over [start, end) (page aligned): with
  // `replace`, what items are there are dropped and one preallocated
  // (unwritten) extent covers the range; without, each hole between items
  // gets one. Marks the inode BTRFS_INODE_PREALLOC. REQUIRES: the range
  // locked with no ordered extent in it.
  void PreallocRange(uint64_t start, uint64_t end, bool replace);
  // btrfs_fallocate()'s step over [start, end) (page aligned): written
  // back and settled, locked with no ordered extent, its holes
  // preallocated, unlocked.
  void FallocateRange(uint64_t start, uint64_t end);
  // lock_two_nondirectories() and btrfs_double_mmap_lock() for a remap
  // from `src` into this inode: both i_rwsem, then both mmap locks, the
  // lower inode first (in argument order, source first, with
  // `by_argument`: bug_clone_lock_order_by_argument), one inode once.
  // Returns them in the order taken, for UnlockRemapInodes().
  std::pair<BtrfsInode*, BtrfsInode*> LockRemapInodes(BtrfsInode& src, bool by_argument);
  static void UnlockRemapInodes(BtrfsInode& first, BtrfsInode& second);
  // run_delalloc_nocow()'s look at the file extent items for a run from
  // `start`: the preallocated item covering `start` (then the run is
  // written in place, up to that item's end) or the first one after it
  // (the run is COWed up to its start). Returns the run's new end.
  uint64_t NocowRunEnd(uint64_t start, uint64_t end, std::optional<FileExtentItem>* prealloc) const;
  // btrfs_cross_ref_exist(): another item (of another inode, or of this
  // one at another place) references `item`'s disk extent.
  bool CrossRefExists(const FileExtentItem& item) const;
  // [start, end) cut at the file extent items' edges, in file order:
  // each piece with the item covering it, or none (a hole). The pointers
  // hold until the items change.
  struct ItemSpan {
    uint64_t from, to;
    const FileExtentItem* item;  // nullptr: a hole
  };
  std::vector<ItemSpan> ItemSpans(uint64_t start, uint64_t end) const;
  // Fills a locked, not uptodate page from disk (or zeroes). REQUIRES: its
  // range locked by the caller.
  int FillPage(Page& page);
  // btrfs_do_readpage()'s look at the block behind `page`: its disk address
  // when it is plain data, left for the caller to read; otherwise kHole,
  // with the page filled here (zeroes past EOF, in a hole or a
  // preallocated extent; a compressed block read whole and decoded, over
  // zeroes) and `*ret` the result. REQUIRES: as FillPage.
  // The encoded extent one read pass last decoded: the pages of one
  // compressed extent in one read bio share one btrfs_submit_compressed_read()
  // (one read of the extent, one decode), as submit_extent_page() merges
  // them. Valid for that pass only (its range is locked throughout).
  struct DecodedExtent {
    uint64_t addr = kHole;
    uint64_t io_size = 0;
    std::vector<uint8_t> bytes;
  };
  uint64_t DataBlockOrFill(Page& page, int* ret, DecodedExtent* decoded = nullptr);
  // btrfs_submit_compressed_read() for the block at `off` of compressed
  // extent map `em`: the whole encoded extent read (each block checked and
  // repaired as ReadDataBlock does), decoded, the block's part copied;
  // with `cache`, an extent it already holds is not read again.
  int ReadCompressedBlock(const ExtentMap& em, uint64_t off, uint8_t* data,
                          DecodedExtent* cache = nullptr);
  // create_io_em(): the cached maps over `em`'s range dropped and `em`
  // (pinned: its ordered extent is in flight) added in their place.
  void CreateIoEm(const ExtentMap& em);
  // cow_file_range_async(): the run [start, end), its pages locked by
  // writeback (the page it holds and those lock_delalloc_pages took) and
  // its range locked, goes to the delalloc workers in chunks of 512 KiB,
  // each holding the inode; the pages stay locked for them. Legacy
  // unlocks the range first (v5.13; the worker takes it again with the
  // pages locked); extents before pages hands it to the worker, which
  // cannot take it under pages it holds. Returns kIomapPageStarted.
  int CowFileRangeAsync(uint64_t start, uint64_t end);
  int CowFileRangeFailed(uint64_t start, uint64_t end);
  // The delalloc worker: compress_file_range() then
  // submit_compressed_extents() for [start, end).
  void CompressFileRange(uint64_t start, uint64_t end, bool range_held);
  // submit_compressed_extents() for one async extent [start, end):
  // `encoded` is its zlib stream, or null to write it uncompressed
  // (submit_uncompressed_range()). Allocates, adds the ordered extent and
  // the extent map, starts writeback on the pages and unlocks them and
  // the range, then submits (btrfs_submit_compressed_write()).
  void SubmitAsyncExtent(uint64_t start, uint64_t end, const std::vector<uint8_t>* encoded,
                         bool range_held);
  // end_compressed_bio_write() once every bio of an async extent's write
  // is done (or at once, if it wrote nothing): the ordered extent's
  // accounting, then end_compressed_writeback() of its pages.
  void EndAsyncExtentWrite(uint64_t start, uint64_t len, const std::vector<Page*>& pages, bool error);
  // extent_range_redirty_for_io(): dirties the locked pages of [start,
  // end) again (they were cleaned for I/O when compression began).
  void RedirtyRangeForIo(uint64_t start, uint64_t end);
  // btrfs_fdatawrite_range(): a data-integrity pass over [start, end],
  // and, once the inode has handed ranges to the async workers, a second
  // one, which waits on the page locks those workers hold until they
  // have started writeback (so that what follows waits for it).
  int FdatawriteRange(uint64_t start, uint64_t end);
  // filemap_write_and_wait_range() with btrfs_fdatawrite_range().
  int WriteAndWaitRange(uint64_t start, uint64_t end);
  int ReadDataBlock(uint64_t disk, uint64_t off, uint8_t* data);
  // The copies of the block at `disk` from mirror `first` + `tried` on
  // (0-based, modulo the copies), those from `first` up to there having
  // failed (`csum_failed_mirror`, 1-based, the first that failed its
  // checksum, 0: none): the first good copy fills `data` and is written
  // over every bad one (repair_io_failure()); -EIO (-5) if none is good.
  int ReadMirrors(uint64_t disk, uint64_t off, uint8_t* data, int first, int tried,
                  int csum_failed_mirror);
  // ondemand_readahead() and do_page_cache_ra() / page_cache_ra_unbounded().
  void OndemandReadahead(uint64_t index, uint64_t req_pages, bool hit_marker);
  void DoPageCacheRa(uint64_t index, uint64_t nr, uint64_t lookahead);
  // Reads `pages` (contiguous, locked, not uptodate, their range locked by
  // the caller; references taken over): btrfs_do_readpage() per page and
  // submit_extent_page() (RFC: iomap_readpage_actor()) merging the pages
  // of disk-contiguous blocks into bios. A page past EOF, in a hole or a
  // preallocated extent is zeroed, and a compressed one read whole and
  // decoded, here; the page and its range are unlocked at once. The
  // others are read by bios whose completion (EndBioExtentReadpage())
  // unlocks them: the caller returns with their locks handed to the I/O.
  void SubmitReads(const std::vector<Page*>& pages);
  struct ReadBio;
  // end_bio_extent_readpage(), in the btrfs-endio worker (data read bios
  // complete through btrfs_bio_wq_end_io(): checksums are verified in
  // process context): each page's checksum (looked up at submission, as
  // btrfs_lookup_bio_sums() does) verified, a bad copy repaired from
  // another mirror, the page marked uptodate (or error) and unlocked, then
  // its range (end_page_read(), endio_readpage_release_extent()).
  void EndBioExtentReadpage(const ReadBio& io, sim::BlkStatus status);
  RaState ra_;
  ExtentMap GetExtent(uint64_t start);
  void FinishOrderedIo(OrderedExtent* oe);
  // evict_inode_truncate_pages(): the page cache dropped
  // (truncate_inode_pages_final()), then every io_tree range cleared with
  // its reservation; with `lock_ranges` each is locked first, blocking, as
  // btrfs does (under reclaim that is the fs_reclaim -> extent lock edge).
  void EvictInodeTruncatePages(bool lock_ranges);
  // btrfs_update_inode() after a size change that writes no data (the
  // file grown by truncate or fallocate): the inode item takes i_size in
  // the running transaction. REQUIRES: i_rwsem.
  void UpdateInodeSize();
  // btrfs_sync_file()'s start_ordered_ops() and wait: every dirty page of
  // the file written and waited for (see rfc_sync_waits_for_range).
  // Over [start, end]; `fsync` names fsync's pass (where
  // bug_fsync_sync_all_skips_redirtied lives).
  int SyncWriteAndWait(uint64_t start, uint64_t end, bool fsync);
  // btrfs_clone() from `src` [src_off, +len) to [dst_off, +len) of this
  // inode: both ranges locked (btrfs_double_extent_lock(), the lower
  // inode, or the lower offset, first), this range's items replaced by
  // items sharing the source's disk extents (holes stay holes), the size
  // grown to cover the range, and this range's extent maps and page cache
  // dropped. REQUIRES: both inodes' i_rwsem and mmap locks held, both
  // ranges written back with no ordered extent, page-aligned offsets.
  void CloneExtents(BtrfsInode& src, uint64_t src_off, uint64_t len, uint64_t dst_off);
  // Whether [src_off, +len) of `src` can be remapped to dst_off here
  // (btrfs_remap_file_range_prep()'s rules): page-aligned offsets, a
  // length page-aligned or reaching the source's EOF and the destination's
  // EOF, and, within one file, ranges that do not overlap.
  bool CanRemap(const BtrfsInode& src, uint64_t src_off, uint64_t len, uint64_t dst_off) const;
  // vfs_dedupe_file_range_compare(): `src`'s [src_off, +len) against
  // this file's [dst_off, +len), read through the page cache. False (with
  // *error, if given, set to the read's error) when either read failed.
  bool CompareForDedupe(BtrfsInode& src, uint64_t src_off, uint64_t dst_off, uint64_t len, int* error);
  // Checksums of data as submitted, by disk address, until its ordered
  // extent finishes.
  std::map<uint64_t, uint32_t> submitted_csums_;
  uint64_t pages_written_past_eof_ = 0;
  std::set<uint64_t> write_failed_pages_;  // write_failed_pages()
  uint64_t delalloc_bytes_ = 0;
  // BTRFS_INODE_NOCOMPRESS: a range did not compress, so this inode is
  // not compressed any more (compress, not compress-force).
  bool nocompress_ = false;
  // BTRFS_INODE_HAS_ASYNC_EXTENT: a range went to the async workers.
  bool has_async_extent_ = false;
  // BTRFS_INODE_PREALLOC: fallocate gave the inode an extent; writeback
  // then looks for preallocated extents to write in place.
  bool has_prealloc_ = false;
  // fallocate(2)'s promise ("subsequent writes into the range will not
  // fail because of lack of disk space"), as btrfs keeps it: the blocks
  // (page indices) a zero range preallocated, until their first write
  // lands in place (btrfs_mark_extent_written) or something replaces
  // their extent (punch hole, truncate, a remap into or out of them: a
  // shared preallocated extent is COWed). A write into them goes to
  // run_delalloc_nocow and needs no allocation, so cow_file_range failing
  // with -ENOSPC over one is a WARN (CowFileRangeFailed). Zero range
  // promises its whole blocks; fallocate's mode 0 only the holes it
  // preallocated: a block with data keeps being COWed (btrfs's own limit).
  std::set<uint64_t> promised_;
  // Each task's open file's f_wb_err (see FileCheckAndAdvanceWbErr).
  std::map<sim::FiberId, uint64_t> f_wb_err_;
  int FileCheckAndAdvanceWbErr();
  void Promise(uint64_t start, uint64_t end);    // the whole blocks of [start, end)
  // Promise()s the blocks of [start, end) (block aligned) that hold no
  // data: a hole, or a preallocated extent (fallocate's promise).
  void PromiseNoData(uint64_t start, uint64_t end);
  void Unpromise(uint64_t start, uint64_t end);  // every block touching [start, end)
  int i_count_ = 0;
  bool freeing_ = false;  // I_FREEING: an eviction is in progress
  bool evicted_ = false;  // evicted and not looked up since
  uint64_t evictions_ = 0;
  std::unique_ptr<sim::WaitQueue> freeing_wait_;
  // Reserves data space for [start, end] and makes it delalloc, as a
  // write's copy does: the old delalloc there is cleared with its
  // reservation first (lock_and_cleanup_extent_if_need() /
  // btrfs_truncate_block() / page_mkwrite), then set anew
  // (btrfs_set_extent_delalloc()). REQUIRES: the range locked.
  void DirtyDelalloc(uint64_t start, uint64_t end);

  BtrfsFs& fs_;
  sim::Scheduler& sched_;
  uint64_t ino_;
  uint64_t i_size_ = 0;
  // i_size_write(): the callers hold i_rwsem, which is what serialises
  // writers of i_size (the kernel's note on i_size_write). With races=on,
  // two writes that nothing orders are a data_race (KCSAN's
  // ASSERT_EXCLUSIVE_WRITER); lockless readers (i_size_read) are not
  // checked.
  void ISizeWrite(uint64_t size, std::source_location where = std::source_location::current());
  // BTRFS_I(inode)->disk_i_size: the size the inode item in the running
  // transaction holds (what a commit makes durable). Its writers and
  // readers hold fs_info->trans_lock here (the kernel's inode->lock
  // around btrfs_inode_safe_disk_i_size_write()); with races=on, two
  // accesses nothing orders, one a write, are a data_race.
  void DiskISizeWrite(uint64_t size, std::source_location where = std::source_location::current());
  // btrfs_inode_safe_disk_i_size_write() at an ordered extent's end:
  // disk_i_size raised to min(i_size, end), never lowered (a read of it,
  // then perhaps a write).
  void DiskISizeRaise(uint64_t end, std::source_location where = std::source_location::current());
  AddressSpace mapping_;
  ExtentIoTree io_tree_;
  ExtentMapTree em_tree_;
  OrderedTree ordered_;
  sim::RwSemaphore i_rwsem_;
  sim::RwSemaphore i_mmap_lock_;  // read: page_mkwrite; write: fallocate
};

}  // namespace fsim::fs

#endif  // FSIM_FS_BTRFS_INODE_H_
