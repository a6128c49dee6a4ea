// Writes the regression corpus: `bazel run //traces:make_corpus -- DIR`.
// Deterministic: the same fsim writes the same files. Regenerate after a
// change that alters runs on purpose (a model change moves digests), and
// review the diff: a bug trace that no longer finds its bug is news.
//
// Bug traces: the first finding of a PCT exploration (seed 1) of a
// scenario under a buggy configuration, shrunk (model::Shrink, its default
// budget) so that the trace a README cell links reads as the mechanism.
// Clean traces: run 0 of a correct configuration, recorded whole.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "model/explorer.h"
#include "model/random_walk.h"
#include "model/shrink.h"
#include "model/trace.h"
#include "scenarios/registry.h"

namespace {

struct Entry {
  std::string file;
  std::string scenario;
  fsim::model::Config config;
  bool bug;
  const char* strategy = "pct";  // what explores for the bug trace
};

const std::vector<Entry>& Entries() {
  static const std::vector<Entry> entries = {
      {"abba-deadlock", "abba", {}, true},
      {"abba-lock_order", "abba", {{"lockdep", "on"}}, true},
      {"fs_writers-rfc_writepage_blocking_extent_lock", "fs_writers",
       {{"order", "rfc"}, {"bug", "rfc_writepage_blocking_extent_lock"}}, true},
      {"fs_mmap_truncate-rfc_page_mkwrite_page_before_extent", "fs_mmap_truncate",
       {{"order", "rfc"}, {"bug", "rfc_page_mkwrite_page_before_extent"}}, true},
      {"fs_truncate-rfc_readahead_blocking_extent_lock", "fs_truncate",
       {{"order", "rfc"}, {"bug", "rfc_readahead_blocking_extent_lock"}}, true},
      {"fs_small_truncate-rfc_as_posted", "fs_small_truncate", {{"order", "rfc_as_posted"}}, true},
      {"fs_raid0_fsync_powercut-commit_without_barrier_all_devices", "fs_raid0_fsync_powercut",
       {{"bug", "commit_without_barrier_all_devices"}}, true},
      {"fs_raid1_writers-commit_without_barrier_all_devices", "fs_raid1_writers",
       {{"bug", "commit_without_barrier_all_devices"}}, true},
      {"fs_raid0_large_write-iomap_merge_past_map_length", "fs_raid0_large_write",
       {{"bug", "iomap_merge_past_map_length"}}, true},
      {"fs_multipage_truncate-invalidatepage_no_ordered_accounting", "fs_multipage_truncate",
       {{"order", "legacy"}, {"bug", "invalidatepage_no_ordered_accounting"}}, true},
      // Not a flag: the RFC order itself (best-effort extent locking in
      // data-integrity writeback) loses fsync'd data when page_mkwrite
      // holds the range of a page fsync is writing.
      {"fs_fsync_mmap_powercut-rfc-fsync_lost", "fs_fsync_mmap_powercut", {{"order", "rfc"}}, true},
      {"fs_reuse_powercut-free_extent_without_pinning", "fs_reuse_powercut",
       {{"bug", "free_extent_without_pinning"}}, true},
      {"fs_zero_range_fallocate-rfc-data_lost", "fs_zero_range_fallocate", {{"order", "rfc"}}, true,
       "random"},
      {"fs_mmap_truncate-invalidatepage_keeps_data_reservation", "fs_mmap_truncate",
       {{"order", "legacy"}, {"bug", "invalidatepage_keeps_data_reservation"}}, true},
      {"fs_raid1_evict_reread-lock_and_flush_ordered_leaks_ref", "fs_raid1_evict_reread",
       {{"order", "legacy"}, {"bug", "lock_and_flush_ordered_leaks_ref"}}, true},
      {"fs_fsync_readers_powercut-rfc_sync_waits-clean", "fs_fsync_readers_powercut",
       {{"order", "rfc_sync_waits"}}, false},
      {"fs_mmap_eof_extend-cont_expand_without_truncate_block", "fs_mmap_eof_extend",
       {{"bug", "cont_expand_without_truncate_block"}}, true},
      {"fs_raid0_stripe_cross-writepages_ioend_open_across_lock_page", "fs_raid0_stripe_cross",
       {{"order", "legacy"}, {"bug", "writepages_ioend_open_across_lock_page"}}, true},
      {"fs_truncate-delalloc_lock_pages_fail_keeps_range_locked", "fs_truncate",
       {{"order", "rfc_sync_waits"}, {"bug", "delalloc_lock_pages_fail_keeps_range_locked"}}, true},
      {"fs_write_from_mmap-fault_in_under_extent_lock", "fs_write_from_mmap",
       {{"order", "rfc_sync_waits"}, {"bug", "fault_in_under_extent_lock"}}, true},
      {"fs_evict_idle_inode-releasepage_unlocks_past_range", "fs_evict_idle_inode",
       {{"order", "rfc_sync_waits"}, {"bug", "releasepage_unlocks_past_range"}}, true},
      {"fs_small_fsync_mmap-rfc-fsync_lost", "fs_small_fsync_mmap", {{"order", "rfc"}}, true},
      {"fs_write_from_mmap_extend-dirty_pages_write_bytes", "fs_write_from_mmap_extend",
       {{"order", "legacy"}, {"bug", "dirty_pages_write_bytes"}}, true},
      {"fs_compress_truncate_bail-compress_bail_stops_at_piece", "fs_compress_truncate_bail",
       {{"order", "legacy"}, {"bug", "compress_bail_stops_at_piece"}}, true},
      {"fs_compress_mmap_stores-compress_skips_clear_dirty_for_io", "fs_compress_mmap_stores",
       {{"order", "legacy"}, {"bug", "compress_skips_clear_dirty_for_io"}}, true},
      {"fs_compress_enospc-compress_enospc_fallback_skips_redirty", "fs_compress_enospc",
       {{"order", "legacy"}, {"bug", "compress_enospc_fallback_skips_redirty"}}, true},
      {"fs_compress_bail_mmap_past_eof-compress_bail_skips_redirty", "fs_compress_bail_mmap_past_eof",
       {{"order", "legacy"}, {"bug", "compress_bail_skips_redirty"}}, true},
      {"fs_em_cache_reclaim_inflight-release_extent_mapping_drops_pinned", "fs_em_cache_reclaim_inflight",
       {{"order", "legacy"}, {"bug", "release_extent_mapping_drops_pinned"}}, true},
      {"fs_dedupe_dirty_source_same_file-dedupe_same_file_waits_lower_range",
       "fs_dedupe_dirty_source_same_file",
       {{"order", "legacy"}, {"bug", "dedupe_same_file_waits_lower_range"}}, true},
      {"fs_raid1_device_failure-rw_degradable_misses_raid1", "fs_raid1_device_failure",
       {{"order", "legacy"}, {"bug", "rw_degradable_misses_raid1"}}, true},
      {"fs_writeback_enospc-cow_fail_keeps_data_resv", "fs_writeback_enospc",
       {{"order", "legacy"}, {"bug", "cow_fail_keeps_data_resv"}}, true},
      {"fs_writeback_enospc-writepage_error_not_in_mapping", "fs_writeback_enospc",
       {{"order", "legacy"}, {"bug", "writepage_error_not_in_mapping"}}, true},
      {"fs_zero_range_enospc-zero_range_punches_hole", "fs_zero_range_enospc",
       {{"order", "legacy"}, {"bug", "zero_range_punches_hole"}}, true},
      {"fs_dedupe_dirty_source_two_files-remap_prep_waits_dst_for_src",
       "fs_dedupe_dirty_source_two_files",
       {{"order", "legacy"}, {"bug", "remap_prep_waits_dst_for_src"}}, true},
      {"fs_chained3_bio_io_errors-chain_endio_drops_inherited_error", "fs_chained3_bio_io_errors",
       {{"order", "legacy"}, {"bug", "chain_endio_drops_inherited_error"}}, true},
      {"fs_large_readahead-read_bio_past_max_vecs", "fs_large_readahead",
       {{"order", "legacy"}, {"bug", "read_bio_past_max_vecs"}}, true},
      {"fs_dedupe_read_error-dedupe_compare_drops_dst_error", "fs_dedupe_read_error",
       {{"order", "legacy"}, {"bug", "dedupe_compare_drops_dst_error"}}, true},
      {"fs_chained_bio_fsync-chained_bio_double_submit", "fs_chained_bio_fsync",
       {{"order", "legacy"}, {"bug", "chained_bio_double_submit"}}, true},
      {"fs_writers-end_io_wrong_container", "fs_writers",
       {{"order", "legacy"}, {"bug", "end_io_wrong_container"}}, true},
      {"fs_fsx_falloc-punch_hole_keeps_extent_map", "fs_fsx_falloc",
       {{"order", "legacy"}, {"bug", "punch_hole_keeps_extent_map"}}, true},
      {"fs_em_trim_cold_read-get_extent_trim_keeps_block_start", "fs_em_trim_cold_read",
       {{"order", "legacy"}, {"bug", "get_extent_trim_keeps_block_start"}}, true},
      {"fs_fallocate_enospc-fallocate_end_rounded_down", "fs_fallocate_enospc",
       {{"order", "legacy"}, {"bug", "fallocate_end_rounded_down"}}, true},
      {"fs_punch_hole_cold_readers-punch_hole_skips_page_retry", "fs_punch_hole_cold_readers",
       {{"order", "legacy"}, {"bug", "punch_hole_skips_page_retry"}}, true},
      {"fs_read_no_readahead-read_created_page_without_uptodate_check", "fs_read_no_readahead",
       {{"order", "legacy"}, {"bug", "read_created_page_without_uptodate_check"}}, true},
      {"fs_raid1_device_failure-read_endio_skips_repair", "fs_raid1_device_failure",
       {{"order", "legacy"}, {"bug", "read_endio_skips_repair"}}, true},
      {"fs_raid1_bitrot_repair-read_repair_rewrites_good_mirror", "fs_raid1_bitrot_repair",
       {{"order", "legacy"}, {"bug", "read_repair_rewrites_good_mirror"}}, true},
      {"fs_mmap_eof_powercut-writepage_skips_eof_zeroing", "fs_mmap_eof_powercut",
       {{"order", "legacy"}, {"bug", "writepage_skips_eof_zeroing"}}, true},
      {"fs_raid10_stripe_cross-raid10_stripe_index_without_sub_stripes", "fs_raid10_stripe_cross",
       {{"order", "legacy"}, {"bug", "raid10_stripe_index_without_sub_stripes"}}, true},
      {"fs_truncate_writeback_powercut-truncate_partial_skips_writeback_wait",
       "fs_truncate_writeback_powercut",
       {{"order", "legacy"}, {"bug", "truncate_partial_skips_writeback_wait"}}, true},
      {"fs_io_errors-write_endio_ignores_error", "fs_io_errors",
       {{"order", "legacy"}, {"bug", "write_endio_ignores_error"}}, true},
      {"fs_io_errors-fsync_drops_writeback_error", "fs_io_errors",
       {{"order", "legacy"}, {"bug", "fsync_drops_writeback_error"}}, true},
      {"fs_write_from_mmap_extend-read_cache_page_skips_wait", "fs_write_from_mmap_extend",
       {{"order", "legacy"}, {"bug", "read_cache_page_skips_wait"}}, true},
      {"fs_fsync_after_write_error-check_errors_keeps_as_eio", "fs_fsync_after_write_error",
       {{"order", "legacy"}, {"bug", "check_errors_keeps_as_eio"}}, true},
      {"fs_punch_hole-punch_hole_flush_before_inode_lock", "fs_punch_hole",
       {{"order", "legacy"}, {"bug", "punch_hole_flush_before_inode_lock"}}, true, "surw"},
      {"fs_compress_overwrite_truncate-compressed_partial_io", "fs_compress_overwrite_truncate",
       {{"order", "legacy"}, {"bug", "compressed_partial_io"}}, true},
      {"fs_raid0_io_errors-commit_ignores_barrier_error", "fs_raid0_io_errors",
       {{"order", "legacy"}, {"bug", "commit_ignores_barrier_error"}}, true},
      {"fs_compress_clone-compressed_disk_len_unaligned", "fs_compress_clone",
       {{"order", "legacy"}, {"bug", "compressed_disk_len_unaligned"}}, true},
      {"fs_compress_clone-get_extent_orig_start_without_offset", "fs_compress_clone",
       {{"order", "legacy"}, {"bug", "get_extent_orig_start_without_offset"}}, true},
      {"fs_clone_eof_block-clone_eof_item_unaligned", "fs_clone_eof_block",
       {{"order", "legacy"}, {"bug", "clone_eof_item_unaligned"}}, true},
      {"fs_dup_io_errors-dup_tolerates_failed_copy", "fs_dup_io_errors",
       {{"order", "legacy"}, {"bug", "dup_tolerates_failed_copy"}}, true},
      {"fs_compress_fsync_powercut-rfc-clean", "fs_compress_fsync_powercut", {{"order", "rfc"}}, false},
      {"fs_reflink_prealloc-nocow_skips_cross_ref_check", "fs_reflink_prealloc",
       {{"order", "legacy"}, {"bug", "nocow_skips_cross_ref_check"}}, true},
      {"fs_compress_overwrite_truncate-rfc_compress_worker_relocks_range", "fs_compress_overwrite_truncate",
       {{"order", "rfc_sync_waits"}, {"bug", "rfc_compress_worker_relocks_range"}}, true},
      {"fs_clone_two_files-clone_lock_order_by_argument", "fs_clone_two_files",
       {{"order", "legacy"}, {"bug", "clone_lock_order_by_argument"}}, true},
      {"fs_truncate-setsize_grow_without_inode_lock", "fs_truncate",
       {{"order", "legacy"}, {"bug", "setsize_grow_without_inode_lock"}}, true},
      // The same mistake seen by the race detector: two unordered
      // i_size_writes, in the first run.
      {"fs_truncate-setsize_grow_without_inode_lock-races", "fs_truncate",
       {{"order", "legacy"}, {"bug", "setsize_grow_without_inode_lock"}, {"races", "on"}}, true},
      // The obvious mend of rfc's lost fsync data: fsync's writepage blocks
      // on the range with the page locked (lockdep's inversion).
      {"fs_fsync_mmap_powercut-rfc_sync_blocks", "fs_fsync_mmap_powercut", {{"order", "rfc_sync_blocks"}}, true},
      // The RFC as posted, one path each on top of rfc_sync_waits (README
      // "What fsim finds in the RFC", the matrix's failing cells).
      {"fs_writers-rfc_posted_writepage", "fs_writers", {{"order", "rfc_posted_writepage"}}, true},
      {"fs_truncate-rfc_posted_readahead", "fs_truncate", {{"order", "rfc_posted_readahead"}}, true},
      {"fs_mmap_truncate-rfc_posted_mkwrite", "fs_mmap_truncate", {{"order", "rfc_posted_mkwrite"}}, true},
      {"fs_evict_idle_inode-rfc_posted_releasepage", "fs_evict_idle_inode",
       {{"order", "rfc_posted_releasepage"}}, true},
      {"fs_small_truncate-rfc_posted_setsize", "fs_small_truncate", {{"order", "rfc_posted_setsize"}}, true},
      {"fs_truncate-legacy-clean", "fs_truncate", {{"order", "legacy"}}, false},
      {"fs_truncate-rfc-clean", "fs_truncate", {{"order", "rfc"}}, false},
      {"fs_fsync_powercut-rfc-clean", "fs_fsync_powercut", {{"order", "rfc"}}, false},
  };
  return entries;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "make_corpus: %s\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fsim;
  if (argc != 2) return Fail("usage: make_corpus DIR");
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  for (const Entry& e : Entries()) {
    std::string error;
    auto target = scenarios::MakeTarget(e.scenario, e.config, &error);
    if (!target) return Fail(e.file + ": " + error);
    model::Trace trace;
    if (e.bug) {
      model::ExploreOptions o;
      o.runs = 50000;
      o.strategy.name = e.strategy;
      o.out_dir = (dir / ".work").string();
      model::ExploreSummary s = model::Explore({*target}, o);
      if (s.findings.empty()) return Fail(e.file + ": no finding in 50000 runs");
      auto found = model::ReadTrace(s.findings[0].trace_path, &error);
      if (!found) return Fail(error);
      model::ShrinkResult shrunk = model::Shrink(*found, *target, {});
      if (shrunk.status != model::ShrinkStatus::kShrunk) {
        return Fail(e.file + ": the finding's trace does not shrink: " + shrunk.problem);
      }
      trace = shrunk.trace;
    } else {
      sim::Scheduler sched;
      model::RandomWalk walk;
      const uint64_t seed = model::RunSeed(1, e.scenario, 0);
      sim::RunResult r = model::RunOnce(*target, sched, walk, seed);
      if (!r.findings.empty()) return Fail(e.file + ": the clean run found something");
      model::StrategyInfo random;
      random.name = "random";
      trace = model::TraceOfRun(*target, random, seed, 0, r, sched.chooser().decisions());
    }
    const std::string path = (dir / (e.file + ".trace.json")).string();
    error = model::WriteTrace(path, trace);
    if (!error.empty()) return Fail(error);
    std::printf("%s: %s, %zu decisions\n", path.c_str(),
                trace.finding ? trace.finding->signature.c_str() : "clean",
                trace.decisions.size());
  }
  std::filesystem::remove_all(dir / ".work");
  return 0;
}
