#include "scenarios/fs_config.h"

#include "model/error_line.h"
#include "scenarios/orders/order_variant.h"
#include "scenarios/registry.h"

namespace fsim::scenarios {
namespace {

struct Bug {
  const char* name;
  bool fs::FsConfig::*flag;
  // The mistake is in code only some configurations run (the RFC's
  // extents-before-pages paths; fsync's wait for a skipped range): under
  // another it would change nothing, so it is refused there.
  enum Needs { kAny, kRfc, kRfcSyncWaits } needs;
  const char* hunt_order;  // the order `fsim bugs --hunt` explores it under
  const char* kinds;       // the finding kinds it is expected to show
  const char* what;        // one line: the mistake
  const char* not_found;   // why default exploration cannot show it, or ""
};

// Sorted by name. The README's table says more of each.
constexpr Bug kBugs[] = {
    {"chained_bio_double_submit", &fs::FsConfig::bug_chained_bio_double_submit, Bug::kAny,
     "legacy", "use_after_free,lock_misuse,warn,data_mismatch",
     "iomap_chain_bio's full bio also goes through the filesystem's submit hook a second time",
     ""},
    {"clone_lock_order_by_argument", &fs::FsConfig::bug_clone_lock_order_by_argument, Bug::kAny,
     "legacy", "deadlock,lock_order",
     "a clone between two files locks them in argument order (source first), not by inode", ""},
    {"commit_without_barrier_all_devices", &fs::FsConfig::bug_commit_without_barrier_all_devices,
     Bug::kAny, "legacy", "crash_inconsistency,data_mismatch,checksum",
     "the log commit flushes only its own disk, not the other data devices", ""},
    {"compressed_partial_io", &fs::FsConfig::bug_compressed_partial_io, Bug::kAny, "legacy",
     "data_mismatch,checksum",
     "a read maps a compressed extent as a plain one: the block asked for, read undecoded, not "
     "the whole encoded extent (IOMAP_ENCODED, io_size)",
     ""},
    {"commit_ignores_barrier_error", &fs::FsConfig::bug_commit_ignores_barrier_error, Bug::kAny,
     "legacy", "checksum",
     "the log commit writes the superblock although a data device's flush failed: it names "
     "extents whose data never left the device's cache",
     ""},
    {"compressed_disk_len_unaligned", &fs::FsConfig::bug_compressed_disk_len_unaligned,
     Bug::kAny, "legacy", "use_after_free,warn",
     "the compressed extent is sized by the stream's length, not rounded to the sector: its "
     "write bio's last page reaches past the stream's buffer",
     ""},
    {"cont_expand_without_truncate_block", &fs::FsConfig::bug_cont_expand_without_truncate_block,
     Bug::kAny, "legacy", "data_mismatch",
     "growing the file skips zeroing the old EOF page's tail (btrfs_truncate_block)", ""},
    {"delalloc_lock_pages_fail_keeps_range_locked",
     &fs::FsConfig::bug_delalloc_lock_pages_fail_keeps_range_locked, Bug::kRfc, "rfc_sync_waits",
     "lock_misuse,deadlock,lock_order",
     "find_lock_delalloc_range (extents first) shortens the run without unlocking the range", ""},
    {"dirty_pages_write_bytes", &fs::FsConfig::bug_dirty_pages_write_bytes, Bug::kAny, "legacy",
     "data_mismatch",
     "after a short copy from the user buffer, btrfs_buffered_write hands btrfs_dirty_pages "
     "write_bytes instead of copied: pages never copied become uptodate and dirty, and i_size "
     "moves past what was written",
     ""},
    {"compress_bail_stops_at_piece", &fs::FsConfig::bug_compress_bail_stops_at_piece, Bug::kAny,
     "legacy", "deadlock",
     "compress_file_range's uncompressed bail-out covers only the current 128 KiB piece, not the "
     "rest of the async chunk: the chunk's later pages stay locked",
     ""},
    {"compress_skips_clear_dirty_for_io", &fs::FsConfig::bug_compress_skips_clear_dirty_for_io,
     Bug::kAny, "legacy", "data_mismatch,crash_inconsistency",
     "compress_file_range leaves out extent_range_clear_dirty_for_io: a store through mmap "
     "lands after the compressor read its page, and submit's clear_page_dirty_for_io cleans the "
     "page with the store not on disk",
     ""},
    {"compress_enospc_fallback_skips_redirty",
     &fs::FsConfig::bug_compress_enospc_fallback_skips_redirty, Bug::kAny, "legacy",
     "data_mismatch,crash_inconsistency,checksum",
     "after -ENOSPC for a compressed extent, submit_compressed_extents retries the range "
     "uncompressed without extent_range_redirty_for_io: the uncompressed path writes only dirty "
     "pages, so it writes none and finishes the ordered extent over blocks never written",
     ""},
    {"compress_bail_skips_redirty", &fs::FsConfig::bug_compress_bail_skips_redirty, Bug::kAny,
     "legacy", "data_mismatch,crash_inconsistency,checksum",
     "compress_file_range's cleanup_and_bail_uncompressed leaves out extent_range_redirty_for_io: "
     "data that did not compress is never written, its ordered extent finished all the same",
     ""},
    {"release_extent_mapping_drops_pinned",
     &fs::FsConfig::bug_release_extent_mapping_drops_pinned, Bug::kAny, "legacy", "warn",
     "try_release_extent_mapping without the EXTENT_FLAG_PINNED test: releasepage drops the map "
     "of an ordered extent not yet finished",
     ""},
    {"dedupe_same_file_waits_lower_range", &fs::FsConfig::bug_dedupe_same_file_waits_lower_range,
     Bug::kAny, "legacy", "data_mismatch",
     "a dedupe within one file writes back and waits for the lower of its two ranges, not the "
     "span of both: a dirty source above the destination is shared as the disk holds it",
     ""},
    {"rw_degradable_misses_raid1", &fs::FsConfig::bug_rw_degradable_misses_raid1, Bug::kAny,
     "legacy", "data_mismatch",
     "the commit's barrier check (btrfs_check_rw_degradable) tolerates no failed device for "
     "RAID1: with one dead mirror the array never commits again and every fsync fails",
     ""},
    {"cow_fail_keeps_data_resv", &fs::FsConfig::bug_cow_fail_keeps_data_resv, Bug::kAny, "legacy",
     "warn",
     "cow_file_range's -ENOSPC path clears the run's DELALLOC bit without EXTENT_CLEAR_DATA_RESV: "
     "the failed range's data reservation leaks until unmount warns",
     ""},
    {"writepage_error_not_in_mapping", &fs::FsConfig::bug_writepage_error_not_in_mapping, Bug::kAny,
     "legacy", "crash_inconsistency",
     "iomap_writepage_map returns a ->map_blocks error (-ENOSPC) without mapping_set_error: the "
     "flusher drops a range it could not place and no fsync reports it",
     ""},
    {"zero_range_punches_hole", &fs::FsConfig::bug_zero_range_punches_hole, Bug::kAny, "legacy",
     "warn",
     "btrfs_zero_range punches a hole over the range's whole blocks instead of preallocating them: "
     "writes into it are COWed and may fail with -ENOSPC, which fallocate(2) promises they will not",
     ""},
    {"remap_prep_waits_dst_for_src", &fs::FsConfig::bug_remap_prep_waits_dst_for_src, Bug::kAny,
     "legacy", "data_mismatch",
     "btrfs_remap_file_range_prep waits for the source range on the destination inode: a dirty "
     "source range of another file is shared as the disk holds it",
     ""},
    {"chain_endio_drops_inherited_error", &fs::FsConfig::bug_chain_endio_drops_inherited_error, Bug::kAny,
     "legacy", "checksum",
     "bio_chain_endio passes a child's own failure to its parent but not one the child inherited: in a "
     "chain of three or more bios an error in the first is lost and the ioend completes as written",
     ""},
    {"read_bio_past_max_vecs", &fs::FsConfig::bug_read_bio_past_max_vecs, Bug::kAny, "legacy", "warn",
     "the read side's bio building (submit_extent_page) tests a bio's fullness with <= BIO_MAX_VECS: "
     "a readahead batch longer than a bio puts 257 pages in one",
     ""},
    {"dedupe_compare_drops_dst_error", &fs::FsConfig::bug_dedupe_compare_drops_dst_error, Bug::kAny,
     "legacy", "data_mismatch",
     "vfs_dedupe_file_range_compare keeps the source's read error only: a destination page that "
     "cannot be read makes the dedupe answer \"differs\" with no error",
     ""},
    {"end_io_wrong_container", &fs::FsConfig::bug_end_io_wrong_container, Bug::kAny, "legacy",
     "use_after_free",
     "btrfs's write completion takes container_of(bio, btrfs_io_bio) of a bio iomap allocated",
     ""},
    {"fault_in_under_extent_lock", &fs::FsConfig::bug_fault_in_under_extent_lock, Bug::kRfc,
     "rfc_sync_waits", "deadlock,lock_order,lock_misuse",
     "the buffered write faults its user buffer in after iomap_begin locked the range "
     "(v5.13's iomap_write_actor, as the RFC has it)",
     ""},
    {"free_extent_without_pinning", &fs::FsConfig::bug_free_extent_without_pinning, Bug::kAny,
     "legacy", "crash_inconsistency,checksum",
     "an extent no item points at is reused before the commit that dropped it is durable", ""},
    {"invalidatepage_no_ordered_accounting",
     &fs::FsConfig::bug_invalidatepage_no_ordered_accounting, Bug::kAny, "legacy", "deadlock",
     "btrfs_invalidatepage drops an unsubmitted page of an ordered extent without accounting", ""},
    {"fsync_sync_all_skips_redirtied", &fs::FsConfig::bug_fsync_sync_all_skips_redirtied, Bug::kRfcSyncWaits,
     "rfc_sync_waits", "crash_inconsistency,data_mismatch",
     "fsync ignores wbc->pages_skipped: a page redirtied for a held range is left unwritten", ""},
    {"invalidatepage_keeps_data_reservation",
     &fs::FsConfig::bug_invalidatepage_keeps_data_reservation, Bug::kAny, "legacy", "warn",
     "btrfs_invalidatepage clears EXTENT_DELALLOC without EXTENT_DO_ACCOUNTING (reservation leak)",
     ""},
    {"iomap_merge_past_map_length", &fs::FsConfig::bug_iomap_merge_past_map_length, Bug::kAny,
     "legacy", "warn", "btrfs_map_bio does not split a bio merged past map_length (RFC TODO 1)",
     ""},
    {"lock_and_flush_ordered_leaks_ref", &fs::FsConfig::bug_lock_and_flush_ordered_leaks_ref,
     Bug::kAny, "legacy", "warn",
     "btrfs_lock_and_flush_ordered_range waits for the ordered extent it found and loops without "
     "btrfs_put_ordered_extent (the lookup's reference leaks: kmemleak after unmount)",
     ""},
    {"nocow_skips_cross_ref_check", &fs::FsConfig::bug_nocow_skips_cross_ref_check, Bug::kAny,
     "legacy", "data_mismatch,checksum",
     "run_delalloc_nocow writes into a preallocated extent a clone shares, without "
     "btrfs_cross_ref_exist: both files' writes land in the same blocks",
     ""},
    {"get_extent_orig_start_without_offset", &fs::FsConfig::bug_get_extent_orig_start_without_offset,
     Bug::kAny, "legacy", "data_mismatch",
     "btrfs_get_extent sets a map's orig_start to the item's file offset, without the item's "
     "offset into its extent: a clone of a compressed extent's middle decodes from its start",
     ""},
    {"clone_eof_item_unaligned", &fs::FsConfig::bug_clone_eof_item_unaligned, Bug::kAny, "legacy",
     "data_mismatch,warn",
     "btrfs_clone ends the last cloned item at the unaligned length of a clone to the source's "
     "EOF, not at its block-aligned length",
     ""},
    {"fsync_drops_writeback_error", &fs::FsConfig::bug_fsync_drops_writeback_error, Bug::kAny,
     "legacy", "crash_inconsistency",
     "btrfs_sync_file returns the log commit's status, dropping its write-and-wait's -EIO: "
     "fsync returns 0 after a failed write whose data never reached the disk",
     ""},
    {"read_cache_page_skips_wait", &fs::FsConfig::bug_read_cache_page_skips_wait, Bug::kAny,
     "legacy", "data_mismatch",
     "do_read_cache_page tests PageUptodate right after ->readpage without wait_on_page_locked: "
     "a write from a mapping of a file comes back short",
     ""},
    {"check_errors_keeps_as_eio", &fs::FsConfig::bug_check_errors_keeps_as_eio, Bug::kAny,
     "legacy", "data_mismatch",
     "filemap_check_errors tests AS_EIO without clearing it: after one failed write every later "
     "fsync of the file returns -EIO, though what it wrote is on disk",
     ""},
    {"punch_hole_flush_before_inode_lock", &fs::FsConfig::bug_punch_hole_flush_before_inode_lock,
     Bug::kAny, "legacy", "data_mismatch,checksum,crash_inconsistency",
     "btrfs_punch_hole flushes and waits for ordered extents before it locks the inode (v5.13's "
     "order): an ordered extent written meanwhile across the hole loses its pages past the hole "
     "(truncated_len)",
     ""},
    {"punch_hole_keeps_extent_map", &fs::FsConfig::bug_punch_hole_keeps_extent_map, Bug::kAny,
     "legacy", "data_mismatch,checksum",
     "punch hole drops the hole's file extent items but not its cached extent maps", ""},
    {"get_extent_trim_keeps_block_start", &fs::FsConfig::bug_get_extent_trim_keeps_block_start,
     Bug::kAny, "legacy", "data_mismatch",
     "btrfs_get_extent trims a map built from an item to the part no cached map covers without "
     "advancing its disk start: a read through it reads the extent's first blocks",
     ""},
    {"fallocate_end_rounded_down", &fs::FsConfig::bug_fallocate_end_rounded_down, Bug::kAny,
     "legacy", "warn",
     "btrfs_fallocate rounds the range's end down to the block, not up: its last partial block "
     "stays a hole, and a write into it may fail with -ENOSPC although fallocate promised space",
     ""},
    {"punch_hole_skips_page_retry", &fs::FsConfig::bug_punch_hole_skips_page_retry, Bug::kAny,
     "legacy", "data_mismatch",
     "btrfs_punch_hole_lock_range retries for an ordered extent in the range but not for pages a "
     "reader brought back after truncate_pagecache_range: the old bytes stay cached over the hole",
     ""},
    {"raid10_stripe_index_without_sub_stripes",
     &fs::FsConfig::bug_raid10_stripe_index_without_sub_stripes, Bug::kAny, "legacy",
     "checksum,data_mismatch",
     "RAID10's stripe_index is stripe_nr % factor without * sub_stripes: a unit's copies go to "
     "the wrong pair of devices",
     ""},
    {"dup_tolerates_failed_copy", &fs::FsConfig::bug_dup_tolerates_failed_copy, Bug::kAny,
     "legacy", "checksum",
     "a DUP write's max_errors is RAID1's 1, not DUP's 0: a write that lost one of its copies "
     "succeeds and commits a block one copy of which fails its checksum",
     ""},
    {"read_created_page_without_uptodate_check",
     &fs::FsConfig::bug_read_created_page_without_uptodate_check, Bug::kAny, "legacy",
     "data_mismatch,deadlock",
     "filemap_read reads from disk a page it found after allocating, without checking uptodate",
     ""},
    {"read_endio_skips_repair", &fs::FsConfig::bug_read_endio_skips_repair, Bug::kAny,
     "legacy", "data_mismatch,checksum",
     "the read completion fails a page whose copy failed (I/O error or checksum) without trying "
     "the other mirrors (no btrfs_submit_read_repair, as iomap's own read end_io has none)",
     ""},
    {"read_repair_rewrites_good_mirror", &fs::FsConfig::bug_read_repair_rewrites_good_mirror,
     Bug::kAny, "legacy", "checksum",
     "read repair rewrites the mirror that read good (this_mirror), not the one that failed "
     "(failed_mirror): the bad copy stays bad",
     ""},
    {"releasepage_unlocks_past_range", &fs::FsConfig::bug_releasepage_unlocks_past_range,
     Bug::kRfc, "rfc_sync_waits", "lock_misuse,data_mismatch,deadlock",
     "releasepage (extents first) try-locks the page's range and unlocks one byte past it", ""},
    {"rfc_setsize_inverted_range", &fs::FsConfig::bug_rfc_setsize_inverted_range, Bug::kRfc,
     "rfc_sync_waits", "warn",
     "btrfs_setsize locks [round_down(oldsize), round_up(newsize) - 1], inverted when the file "
     "shrinks (RFC patch 06 as posted)",
     ""},
    {"setsize_grow_without_inode_lock", &fs::FsConfig::bug_setsize_grow_without_inode_lock,
     Bug::kAny, "legacy", "data_mismatch,data_race",
     "a growing truncate (btrfs_cont_expand, i_size_write) runs without inode_lock", ""},
    {"rfc_compress_worker_relocks_range", &fs::FsConfig::bug_rfc_compress_worker_relocks_range,
     Bug::kRfc, "rfc_sync_waits", "deadlock,lock_order",
     "with compress, the async worker takes the range again with the run's pages locked "
     "(v5.13's submit_compressed_extents, unchanged by the RFC)",
     ""},
    {"rfc_page_mkwrite_page_before_extent", &fs::FsConfig::bug_rfc_page_mkwrite_page_before_extent,
     Bug::kRfc, "rfc_sync_waits", "lock_order,deadlock", "page_mkwrite left page-then-range, as the RFC left it", ""},
    {"rfc_readahead_blocking_extent_lock", &fs::FsConfig::bug_rfc_readahead_blocking_extent_lock,
     Bug::kRfc, "rfc_sync_waits", "lock_order,deadlock",
     "readahead, handed locked pages, takes the range blocking (the RFC's read iomap_begin)", ""},
    {"rfc_writepage_blocking_extent_lock", &fs::FsConfig::bug_rfc_writepage_blocking_extent_lock,
     Bug::kRfc, "rfc_sync_waits", "lock_order,deadlock",
     "writepage, handed a locked page, takes a blocking extent lock", ""},
    {"truncate_partial_skips_writeback_wait",
     &fs::FsConfig::bug_truncate_partial_skips_writeback_wait, Bug::kAny, "legacy", "checksum",
     "truncate zeroes the partial page's tail without wait_on_page_writeback: the device writes "
     "it under the checksum taken at submit",
     ""},
    {"write_endio_ignores_error", &fs::FsConfig::bug_write_endio_ignores_error, Bug::kAny,
     "legacy", "checksum",
     "the write completion finishes the ordered extent as written whatever the bio's status: "
     "a failed write's extent item and checksums are committed",
     ""},
    {"writepage_skips_eof_zeroing", &fs::FsConfig::bug_writepage_skips_eof_zeroing, Bug::kAny,
     "legacy", "crash_inconsistency,data_mismatch",
     "iomap_do_writepage writes the page straddling EOF without zeroing what lies past EOF: "
     "bytes a store through mmap left there reach the disk",
     ""},
    {"writepages_ioend_open_across_lock_page",
     &fs::FsConfig::bug_writepages_ioend_open_across_lock_page, Bug::kAny, "legacy", "deadlock",
     "writeback sleeps on a page lock with its ioend unsubmitted (no flush before lock_page)", ""},
    {"writeback_past_eof_after_truncate", &fs::FsConfig::bug_writeback_past_eof_after_truncate,
     Bug::kAny, "legacy", "data_mismatch",
     "iomap writes a page wholly past EOF instead of redirtying it",
     "harmless in btrfs: truncate waits for the page's writeback and btrfs_truncate for its "
     "ordered extent before dropping the items past the size (fs/btrfs/contract_test.cc pins it)"},
};

// Whether `c` runs the code the flag changes.
bool Runs(const Bug& b, const fs::FsConfig& c) {
  switch (b.needs) {
    case Bug::kAny: return true;
    case Bug::kRfc: return c.order == fs::LockOrder::kRfc;
    case Bug::kRfcSyncWaits: return c.order == fs::LockOrder::kRfc && c.rfc_sync_waits_for_range;
  }
  return false;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// As many whole names as fit in `budget` characters, then how many more.
std::string JoinWithin(const std::vector<std::string>& names, size_t budget) {
  std::string out;
  size_t listed = 0;
  for (const std::string& n : names) {
    const std::string next = (out.empty() ? "" : ", ") + n;
    if (out.size() + next.size() > budget) break;
    out += next;
    ++listed;
  }
  if (listed < names.size()) out += ", and " + std::to_string(names.size() - listed) + " more";
  return out;
}

std::vector<std::string> OrderNames() {
  std::vector<std::string> names;
  for (const OrderVariant& v : OrderVariants()) names.push_back(v.name);
  return names;
}

}  // namespace

std::vector<BugInfo> BugCatalogue() {
  std::vector<BugInfo> out;
  for (const Bug& b : kBugs) {
    out.push_back({b.name, b.hunt_order, b.kinds, b.what, b.not_found, b.needs != Bug::kAny});
  }
  return out;
}

std::vector<std::string> BugNames() {
  std::vector<std::string> names;
  for (const Bug& b : kBugs) names.push_back(b.name);
  return names;
}

std::vector<std::pair<std::string, std::string>> FsConfigKeys() {
  return {
      {"order", "the lock-order variant: " + Join(OrderNames())},
      {"bug", "an injected mistake: " + Join(BugNames())},
      {"compress", "on: mount with compress (zlib), off: without (the default)"},
      {"em_release_min_isize",
       "bytes: releasepage drops cached extent maps of files larger than this (default 16 MiB, "
       "the kernel's; fsim's files stop at 2 MiB)"},
      {"bio_max_vecs",
       "pages: BIO_MAX_VECS, the pages a bio holds at most (default 256, the kernel's; 16 to 256: "
       "fsim's files stop at 2 MiB, so a chain of several bios needs it smaller)"},
      {"ra_pages",
       "pages: the readahead window at most (bdi->ra_pages; default 32, the kernel's 128 KiB; "
       "0: no readahead)"},
      {"log_kib",
       "KiB: the metadata area (superblock, log, two checkpoint slots), a multiple of 4 from 64 "
       "to 1024 (the default; 127 log records between checkpoints, 64: 7)"},
      {"enospc_window",
       "a fault: one of the first N data allocations of cow_file_range (btrfs_reserve_extent) "
       "fails with -ENOSPC, which one drawn per run (default 0: none)"},
  };
}

fs::FsConfig ParseFsConfig(const model::Config& config) {
  fs::FsConfig c;
  auto order = config.find("order");
  if (order != config.end()) {
    const OrderVariant* v = FindOrderVariant(order->second);
    if (v == nullptr) {
      throw ConfigError{"config order=" + order->second + ": expected one of " +
                        Join(OrderNames())};
    }
    v->apply(c);
  }
  if (auto compress = config.find("compress"); compress != config.end()) {
    if (compress->second != "on" && compress->second != "off") {
      throw ConfigError{"config compress=" + compress->second + ": expected on or off"};
    }
    c.compress = compress->second == "on";
  }
  c.em_release_min_isize = ConfigNumber(config, "em_release_min_isize", c.em_release_min_isize, 0,
                                        c.em_release_min_isize);
  c.ra_pages = ConfigNumber(config, "ra_pages", c.ra_pages, 0, 4096);
  c.bio_max_vecs = ConfigNumber(config, "bio_max_vecs", c.bio_max_vecs, 16, sim::kBioMaxVecs);
  // Readahead holds its batch's pages locked at once, and fsim's lockdep
  // tracks each PG_locked (the kernel's has no lockdep map): a window
  // near MAX_LOCK_DEPTH would be reported as "MAX_LOCK_DEPTH too low",
  // a limit of fsim, not the filesystem's. Such windows need lockdep off.
  if (auto lockdep = config.find("lockdep");
      c.ra_pages > kRaPagesWithLockdepMax && (lockdep == config.end() || lockdep->second != "off")) {
    throw ConfigError{"config ra_pages=" + std::to_string(c.ra_pages) + ": above " +
                      std::to_string(kRaPagesWithLockdepMax) +
                      " pages readahead holds more page locks at once than fsim's lockdep tracks "
                      "(MAX_LOCK_DEPTH 48; the kernel's PG_locked has no lockdep map): add lockdep=off"};
  }
  c.enospc_window = ConfigNumber(config, "enospc_window", c.enospc_window, 0, 4096);
  const uint64_t log_kib = ConfigNumber(config, "log_kib", c.log_len >> 10, 64, fs::BtrfsFs::kLogLen >> 10);
  if (log_kib % 4 != 0) {
    throw ConfigError{"config log_kib=" + std::to_string(log_kib) + ": expected a multiple of 4"};
  }
  c.log_len = log_kib << 10;
  auto bug = config.find("bug");
  if (bug != config.end()) {
    const Bug* found = nullptr;
    for (const Bug& b : kBugs) {
      if (bug->second == b.name) found = &b;
    }
    if (found == nullptr) {
      // One line: the pointer to the catalogue, then as many whole names
      // as fit.
      const std::vector<std::string> names = BugNames();
      const std::string head = "config bug=" + model::OneLine(bug->second, 64) +
                               ": unknown ('fsim bugs' lists all " +
                               std::to_string(names.size()) + "; known: ";
      throw ConfigError{head + JoinWithin(names, model::kErrorLineMax - head.size() - 32) + ")"};
    }
    if (!Runs(*found, c)) {
      std::vector<std::string> fit;
      for (const OrderVariant& v : OrderVariants()) {
        fs::FsConfig probe;
        v.apply(probe);
        if (Runs(*found, probe)) fit.push_back(v.name);
      }
      throw ConfigError{"config bug=" + bug->second + " needs " +
                        (found->needs == Bug::kRfc ? "an extents-before-pages order"
                                                   : "an order whose fsync waits for a skipped range") +
                        " (order=" + Join(fit) + "); this configuration's order is " +
                        (order != config.end() ? order->second : std::string("legacy (the default)"))};
    }
    c.*(found->flag) = true;
  }
  return c;
}

}  // namespace fsim::scenarios
