#!/usr/bin/env bash
# Extending fsim the way the README says must never turn CI red: in a
# temporary copy of this tree, add the README's lock-order variant (one
# file in scenarios/orders/) and a new scenario file (one file in
# scenarios/fs/, in the default suite), then run the tests that take their
# lists from the registry (scenario files, variants, bug flags) on the copy.
# Prints one line "extension check: passed" or "... FAILED: why"; exit 0 or 1.
# Uses the same Bazel disk cache as the tree it copies (.bazelrc), so only
# what the two new files change is rebuilt.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# A fixed path: Bazel keys its output base by the workspace path, so the
# next check reuses this one's instead of leaving a new one each time.
WORK=${TMPDIR:-/tmp}/fsim-extension-$(id -u)
COPY=$WORK/fsim
cleanup() {
  # The copy's Bazel server goes too, not only its files.
  [[ -x $COPY/fsim ]] && (cd "$COPY" && bazel shutdown >/dev/null 2>&1)
  rm -rf "$COPY"
}
trap cleanup EXIT
rm -rf "$COPY"
mkdir -p "$COPY"
# The sources, not the build outputs or git's objects.
(cd "$ROOT" && tar --exclude='./bazel-*' --exclude='./.git' --exclude='./fsim-out' \
  --exclude='./.ci/*.log' --exclude='./examples/bazel-*' -cf - .) | (cd "$COPY" && tar -xf -) || {
  echo "extension check FAILED: cannot copy the tree"; exit 1; }

cat > "$COPY/scenarios/orders/rfc_mkwrite_only.cc" <<'CC'
#include "scenarios/orders/order_variant.h"

FSIM_ORDER_VARIANT(rfc_mkwrite_only, "the RFC with only page_mkwrite left page-before-extent",
                   [](fsim::fs::FsConfig& c) {
                     c.order = fsim::fs::LockOrder::kRfc;
                     c.bug_rfc_page_mkwrite_page_before_extent = true;
                   },
                   /*claims_correct=*/false);
CC
cat > "$COPY/scenarios/fs/fs_ext_writers.json" <<'JSON'
{
  "name": "fs_ext_writers",
  "description": "added by tools/extension_check.sh: two writers over overlapping ranges, a reader and the flusher",
  "default_suite": true,
  "memory": {"budget_pages": 12, "low_pages": 2, "high_pages": 1},
  "fibers": [
    {"name": "writer_a", "ops": [{"op": "write", "offset": 0, "length": 8192, "byte": 97}]},
    {"name": "writer_b", "ops": [{"op": "write", "offset": 4096, "length": 8192, "byte": 98}]},
    {"name": "reader", "ops": [{"op": "read", "offset": 0, "length": 12288}]},
    {"name": "flusher", "ops": [{"op": "writeback"}]}
  ]
}
JSON

TARGETS="//scenarios:registry_test //scenarios:json_scenario_test //scenarios:fs_programs_test //scenarios:explore_property_test //scenarios:bug_hunt_test //tools:cli_test"
cd "$COPY" || exit 1
out=$(FSIM_TEST_TARGETS="$TARGETS" ./fsim test </dev/null 2>&1)
rc=$?
listed=$(./fsim list 2>/dev/null | grep -c '^fs_ext_writers - ')
orders=$(./fsim compare-orders --scenario fs_ext_writers --runs 1 2>/dev/null | grep -c 'rfc_mkwrite_only')
if ((rc != 0)); then
  echo "$out" | tail -30
  echo "extension check FAILED: the registry tests failed on a copy with one variant and one scenario added (exit $rc)"
  exit 1
fi
if ((listed != 1 || orders == 0)); then
  echo "extension check FAILED: the added scenario ($listed) or variant ($orders) did not register"
  exit 1
fi
echo "extension check: passed (variant rfc_mkwrite_only and scenario fs_ext_writers added; $(echo "$out" | grep -c ' PASSED') registry test targets passed)"
exit 0
