#!/usr/bin/env bash
# The example's own fsim CLI (bank_fsim: @fsim//:fsim_main with the bank
# programs registered): it lists them, finds the mistakes, replays what it
# found, and finds nothing in the correct program.
set -euo pipefail
fsim=$(pwd)/bank_fsim
out=${TEST_TMPDIR:-/tmp}/bank-out
rm -rf "$out"
# The listing goes to a file first: grep -q would close the pipe on the
# first match, and under pipefail the lister's SIGPIPE fails the check.
"$fsim" list > "$out.list"
grep -q '^ *bank_ordered' "$out.list" || { echo "bank_ordered not listed"; cat "$out.list"; exit 1; }
"$fsim" explore --scenario bank_ordered --strategy pct --runs 2000 --out "$out"
set +e
"$fsim" explore --scenario bank_abba --strategy pct --runs 2000 --out "$out" > "$out.log" 2>&1
rc=$?
set -e
cat "$out.log"
[[ $rc == 1 ]] || { echo "bank_abba: expected exit 1 (a finding), got $rc"; exit 1; }
grep -q 'lock_order' "$out.log" || { echo "bank_abba: no lock_order finding"; exit 1; }
trace=$(ls "$out"/bank_abba-*.trace.json | head -1)
set +e
"$fsim" replay "$trace"
rc=$?
set -e
[[ $rc == 1 ]] || { echo "replay of $trace: expected exit 1 (reproduced finding), got $rc"; exit 1; }
echo "bank_cli_test: ok"
