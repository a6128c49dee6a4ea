#!/usr/bin/env bash
# End-to-end checks of the fsim command line, each in its own process: the
# same seed gives the same digest across processes, a finding's trace
# replays (exit 1) with the same digest, DFS exhausts a correct program,
# bad input is one line on stderr with exit 2, and the JSON summary has the
# documented shape.
set -u
FSIM="${TEST_SRCDIR}/${TEST_WORKSPACE}/tools/fsim"
OUT="${TEST_TMPDIR}/out"
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

expect_exit() {  # expected, actual, what
  [ "$1" -eq "$2" ] || fail "$3: exit $2, expected $1"
}

# The summary is one line of JSON; plain tools suffice to read a field
# (no python on a fresh machine).
str_field() {  # file, key: the first "key":"value"
  grep -o "\"$2\":\"[^\"]*\"" "$1" | head -1 | sed 's/.*:"\(.*\)"/\1/'
}

cd "$TEST_TMPDIR"

# Same seed, same digest, in two processes; the finding's trace replays.
"$FSIM" explore --scenario abba --runs 200 --json --out "$OUT" > a.json 2> a.err
expect_exit 1 $? "explore abba"
"$FSIM" explore --scenario abba --runs 200 --json --out "$OUT" > b.json 2> b.err
expect_exit 1 $? "explore abba again"
da=$(str_field a.json digest); db=$(str_field b.json digest)
[ -n "$da" ] && [ "$da" = "$db" ] || fail "digests differ across processes: $da vs $db"
grep -q '^{.*"fsim_summary":1' a.json || fail "fsim_summary field"
for key in runs seconds runs_per_sec digest findings; do
  grep -q "\"$key\":" a.json || fail "summary lacks $key"
done
[ "$(wc -l < a.json)" -eq 1 ] || fail "--json printed more than one line"
[ "$(str_field a.json kind)" = "deadlock" ] || fail "abba finding kind"
trace=$(str_field a.json trace)
[ -f "$trace" ] || fail "trace $trace not on disk"
replay=$("$FSIM" replay "$trace")
expect_exit 1 $? "replay"
case "$replay" in
  "reproduced: deadlock deadlock:mutex:A,mutex:B") ;;
  *) fail "replay said: $replay" ;;
esac

# Data races (races=on): the racy variable of reorder_3 is a data_race in
# the first run, its trace replays, and the event log shows the accesses;
# off by default, the same exploration finds the assertion instead.
"$FSIM" explore --scenario reorder_3 --strategy pct --runs 100 --config races=on --json --out "$OUT" > r.json 2>/dev/null
expect_exit 1 $? "explore reorder_3 races=on"
[ "$(str_field r.json kind)" = "data_race" ] || fail "reorder_3 races=on: first finding is not data_race"
rtrace=$(str_field r.json trace)
"$FSIM" replay --log "$rtrace" > r.log 2>&1
expect_exit 1 $? "replay data_race"
grep -q "store 'a'  sctbench/programs_racy.cc:" r.log || fail "event log lacks the store to 'a'"
grep -q "^reproduced: data_race data_race:a:" r.log || fail "data_race replay: $(tail -1 r.log)"
"$FSIM" explore --scenario reorder_3 --strategy pct --runs 2000 --json --out "$OUT" > r2.json 2>/dev/null
expect_exit 1 $? "explore reorder_3"
[ "$(str_field r2.json kind)" = "assertion" ] || fail "reorder_3 races off: not the assertion"

# The race detector on the filesystem model: a growing truncate without
# inode_lock (bug=setsize_grow_without_inode_lock) is a data_race on
# inode->i_size in the first run, signed by the writer's and truncate's
# i_size_write; the same exploration without the bug is clean.
"$FSIM" explore --scenario fs_truncate --config bug=setsize_grow_without_inode_lock --config races=on \
  --runs 50 --json --out "$OUT" > t.json 2>/dev/null
expect_exit 1 $? "explore fs_truncate races=on with the bug"
grep -q '"signature":"data_race:inode->i_size:' t.json || fail "no data_race on i_size: $(head -c 300 t.json)"
"$FSIM" explore --scenario fs_truncate --config races=on --runs 300 --json --out "$OUT" > t2.json 2>/dev/null
expect_exit 0 $? "explore fs_truncate races=on"

# A different seed explores differently.
"$FSIM" explore --scenario abba --runs 200 --seed 99 --all --json --out "$OUT" > c.json 2>/dev/null
dc=$(str_field c.json digest)
[ "$dc" != "$da" ] || fail "seed 99 gave the digest of seed 1"

# DFS exhausts the correct twin with no finding.
"$FSIM" explore --scenario abba_fixed --strategy dfs --json --out "$OUT" > d.json 2>/dev/null
expect_exit 0 $? "dfs abba_fixed"
grep -q '"exhausted":true' d.json || fail "dfs not exhausted"
grep -q '"findings":\[\]' d.json || fail "dfs abba_fixed found something"

# Livelock and stack overflow through the CLI, both replaying.
for scenario in spin stack_overflow; do
  "$FSIM" explore --scenario "$scenario" --config steps_max=5000 --runs 5 --json \
      --out "$OUT" > e.json 2>/dev/null
  expect_exit 1 $? "explore $scenario"
  t=$(str_field e.json trace)
  "$FSIM" replay "$t" > /dev/null
  expect_exit 1 $? "replay $scenario"
done

# Bad input: one line on stderr naming the problem, exit 2, no stdout.
check_usage() {  # description, args...
  local what=$1; shift
  "$FSIM" "$@" > u.out 2> u.err
  local rc=$?
  expect_exit 2 $rc "$what"
  [ "$(wc -l < u.err)" -eq 1 ] || fail "$what: stderr is not one line: $(cat u.err)"
  [ ! -s u.out ] || fail "$what: printed on stdout"
}
check_usage "unknown scenario" explore --scenario nope
check_usage "bad strategy" explore --strategy bogus
check_usage "bad config" explore --config novalue
check_usage "unknown config key" explore --scenario abba --config colour=red
check_usage "bad shard" explore --shard 2/2
check_usage "a key no scenario takes" explore --config colour=red
check_usage "bad races value" explore --scenario reorder_3 --config races=maybe
check_usage "missing trace" replay "$TEST_TMPDIR/missing.json"
echo '{"format":"fsim-trace","version":2}' > v2.json
check_usage "future trace version" replay v2.json
grep -q "version 2 is not supported" u.err || fail "version error: $(cat u.err)"

# bench --compare: a baseline this fsim saved compares (exit 0), with a raw
# and a machine-normalised ratio per figure; a baseline that is missing,
# not JSON or of the wrong shape is one line naming the file, exit 2.
"$FSIM" bench --json --min-time 0.01 --scenario abba_fixed > base.json 2> /dev/null
expect_exit 0 $? "bench --json"
grep -q '"calibration_ns":' base.json || fail "bench --json lacks calibration_ns"
"$FSIM" bench --compare base.json --min-time 0.01 --scenario abba_fixed > cmp.out 2> /dev/null
expect_exit 0 $? "bench --compare"
grep -q "^calibration: .* this machine runs at [0-9.]*x" cmp.out || fail "compare: no calibration"
grep -q "^runs_per_sec.abba_fixed  *[0-9.]*  *[0-9.]*  *[0-9.]*x  *[0-9.]*x$" cmp.out \
  || fail "bench --compare printed: $(cat cmp.out)"
check_usage "missing baseline" bench --compare "$TEST_TMPDIR/missing.json"
grep -q "missing.json: cannot read" u.err || fail "missing baseline: $(cat u.err)"
echo 'not json' > nojson.json
check_usage "baseline not JSON" bench --compare nojson.json
grep -q "nojson.json: not JSON" u.err || fail "baseline not JSON: $(cat u.err)"
echo '{"fsim_bench":1,"calibration_ns":5,"runs_per_sec":[1]}' > shape.json
check_usage "baseline of the wrong shape" bench --compare shape.json
grep -q "shape.json: /runs_per_sec: not a number" u.err || fail "wrong shape: $(cat u.err)"

# A trace whose digest does not match the run does not reproduce: exit 4.
sed 's/"digest": "[0-9a-f]*"/"digest": "0000000000000000"/' "$trace" > tampered.json
grep -q '"digest": "0000000000000000"' tampered.json || fail "could not tamper the trace"
"$FSIM" replay tampered.json > /dev/null
expect_exit 4 $? "replay of a tampered trace"

# lockgraph: the ABBA cycle in red, from a scenario and from a trace.
"$FSIM" lockgraph --scenario abba --runs 5 > g.dot 2>/dev/null
expect_exit 0 $? "lockgraph --scenario"
grep -q '^digraph lockdep {' g.dot || fail "lockgraph: not DOT"
grep -q '"A" -> "B" .*color=red' g.dot || fail "lockgraph: A -> B not red"
grep -q '"B" -> "A" .*color=red' g.dot || fail "lockgraph: B -> A not red"
"$FSIM" lockgraph --scenario abba_fixed --runs 5 > f.dot 2>/dev/null
grep -q '"A" -> "B"' f.dot || fail "lockgraph abba_fixed: no A -> B"
! grep -q 'color=red' f.dot || fail "lockgraph abba_fixed: a cycle where there is none"
"$FSIM" lockgraph "$trace" -o t.dot 2>/dev/null
expect_exit 0 $? "lockgraph TRACE"
grep -q 'color=red' t.dot || fail "lockgraph of the abba trace shows no cycle"
check_usage "lockgraph without input" lockgraph
# --svg: with graphviz, an SVG beside the DOT; without it, the DOT and
# exit 2, the last line naming the package.
if command -v dot > /dev/null 2>&1; then
  "$FSIM" lockgraph "$trace" -o s.dot --svg 2>/dev/null
  expect_exit 0 $? "lockgraph --svg"
  [ -s s.svg ] || fail "lockgraph --svg wrote no SVG"
else
  "$FSIM" lockgraph "$trace" -o s.dot --svg > u.out 2> u.err
  expect_exit 2 $? "lockgraph --svg without graphviz"
  tail -n 1 u.err | grep -q 'apt-get install graphviz' || fail "lockgraph --svg: no install hint: $(cat u.err)"
  [ -s s.dot ] || fail "lockgraph --svg without graphviz wrote no DOT"
fi

# A key the filesystem scenarios take reaches them over the default suite.
# (order=rfc_sync_waits, the extents-before-pages order that is correct:
# under order=rfc default exploration finds its fsync_lost within 20 runs.)
"$FSIM" explore --config order=rfc_sync_waits --runs 20 --json --out "$OUT" > o.json 2>/dev/null
expect_exit 0 $? "default suite with order=rfc_sync_waits"
grep -q '"scenario":"fs_writers"' o.json || fail "order=rfc_sync_waits did not reach fs_writers"
# Extents before pages: lockdep saw the io_tree taken before a page lock.
grep -q 'io_tree -> PG_locked' o.json || fail "order=rfc_sync_waits: no extents-before-pages edge"

# list: one line per scenario, "name - description".
"$FSIM" list > list.out
expect_exit 0 $? "list"
grep -qx "abba - two fibers take mutexes A and B in opposite orders (deadlock)" list.out \
  || fail "list line for abba"

# compare-orders: the same seeds under every lock-order variant. The
# completed orders are clean; the RFC as posted is found; JSON rows have
# the documented shape and name a trace that replays.
"$FSIM" compare-orders --scenario fs_small_truncate --runs 100 --json --out "$OUT/cmp" \
  > cmp.json 2> cmp.err
expect_exit 1 $? "compare-orders (rfc_as_posted finds)"
grep -q '^{.*"fsim_compare":1' cmp.json || fail "compare-orders JSON tag"
grep -q '"order":"legacy","runs":100,"scenario":"fs_small_truncate"' cmp.json \
  || grep -q '"findings":\[\],"order":"legacy","runs":100,"scenario":"fs_small_truncate"' cmp.json \
  || fail "compare-orders legacy row"
grep -q '"findings":\[\],"order":"rfc","runs":100' cmp.json || fail "compare-orders: rfc not clean"
# The order x oracle matrix: a correct order's row is clean, rfc_as_posted's
# names lockdep (the order inversion) with its first trace.
grep -q '"matrix":\[.*"clean":true,"oracles":{},"order":"legacy"' cmp.json \
  || fail "compare-orders matrix: legacy not clean"
grep -q '"claims_correct":false,"clean":false,"oracles":{[^]]*"lockdep":{"first":{[^}]*"trace":"[^"]*rfc_as_posted' cmp.json \
  || fail "compare-orders matrix: rfc_as_posted's lockdep cell"
cmp_trace=$(grep -o '"trace":"[^"]*rfc_as_posted[^"]*"' cmp.json | head -1 | sed 's/.*:"\(.*\)"/\1/')
[ -f "$cmp_trace" ] || fail "compare-orders trace $cmp_trace not on disk"
"$FSIM" replay "$cmp_trace" > /dev/null 2>&1
expect_exit 1 $? "replay of a compare-orders trace"
"$FSIM" compare-orders --scenario fs_small_truncate --order legacy --order rfc --runs 50 \
  --out "$OUT/cmp" > cmp.txt 2>&1
expect_exit 0 $? "compare-orders legacy vs rfc"
grep -q '^fs_small_truncate *legacy *50  -$' cmp.txt || fail "compare-orders table row"
grep -q '^legacy *correct .* clean$' cmp.txt || fail "compare-orders matrix row"
# -j 2: the same matrix as one process (rows without the seconds).
"$FSIM" compare-orders --scenario fs_small_truncate --runs 100 -j 2 --json --out "$OUT/cmpj" \
  > cmpj.json 2> /dev/null
expect_exit 1 $? "compare-orders -j 2"
strip_seconds() { sed -e 's/"seconds":[0-9.e+-]*//' -e "s#$OUT/cmpj#$OUT/cmp#g" "$1"; }
[ "$(strip_seconds cmp.json)" = "$(strip_seconds cmpj.json)" ] ||
  fail "compare-orders -j 2 differs from -j 1: $(strip_seconds cmpj.json | head -c 400)"
check_usage "compare-orders -j and --shard" compare-orders -j 2 --shard 0/2
check_usage "compare-orders with an unknown order" compare-orders --order sideways
check_usage "compare-orders with --config order=" compare-orders --config order=rfc

# Ctrl-C: the exploration stops after the run in progress, prints its
# summary (findings so far, traces on disk) and exits 1 (findings) or 130.
# Not a terminal here: progress comes as plain periodic lines.
FSIM_PROGRESS_SECONDS=0.2 "$FSIM" explore --scenario abba_fixed --scenario abba --all \
  --runs 1000000000 --out "$OUT/int" > int.out 2> int.err &
pid=$!
for _ in $(seq 100); do grep -q 'progress' int.err 2>/dev/null && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
expect_exit 1 $? "explore interrupted with a finding"
grep -q 'interrupted after' int.err || fail "no interruption notice"
grep -q '^fsim: progress: explore: [0-9]* runs, [0-9]* runs/s, [0-9]* finding(s)' int.err \
  || fail "no plain progress line"
grep -q '^abba  ' int.out || fail "no summary table after Ctrl-C"
int_trace=$(grep -o 'trace: [^ ]*' int.out | head -1 | cut -d' ' -f2)
[ -f "$int_trace" ] || fail "the trace found before Ctrl-C is not on disk"
FSIM_PROGRESS_SECONDS=0.2 "$FSIM" explore --scenario abba_fixed --runs 1000000000 \
  --out "$OUT/int" > int2.out 2> int2.err &
pid=$!
for _ in $(seq 100); do grep -q 'progress' int2.err 2>/dev/null && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
expect_exit 130 $? "explore interrupted without a finding"
grep -q 'no findings' int2.out || fail "no summary after a clean Ctrl-C"

# replay --chrome-trace and --log only observe: same verdict and exit code,
# a JSON timeline on disk, one event per line on stdout.
"$FSIM" replay "$trace" --chrome-trace chrome.json > chrome.out
expect_exit 1 $? "replay --chrome-trace"
grep -q "^reproduced: deadlock" chrome.out || fail "replay --chrome-trace said: $(cat chrome.out)"
grep -q '"traceEvents":\[' chrome.json || fail "--chrome-trace: no traceEvents"
if command -v python3 > /dev/null; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["traceEvents"]' chrome.json \
    || fail "--chrome-trace: not valid JSON"
fi
"$FSIM" replay "$trace" --log > log.out
expect_exit 1 $? "replay --log"
grep -q "^step [0-9]*  t=[0-9]*ns  T[12]  lock [AB]  scenarios/" log.out || fail "--log: no lock line"
grep -q "^reproduced: deadlock" log.out || fail "--log: no verdict"
[ "$(grep -c '^step ' log.out)" -gt 5 ] || fail "--log printed too few lines"
check_usage "chrome trace to an unwritable path" replay "$trace" --chrome-trace /nonexistent/x.json

# shrink: a found trace shrinks to a trace that replays (exit 1) with the
# same finding; two shrinks write the same bytes; the default output name;
# a trace with no finding or garbage is one line with exit 2; a trace that
# does not reproduce exits 4.
"$FSIM" shrink "$trace" -o shrunk.trace.json > shrink.out
expect_exit 1 $? "shrink"
grep -q "^decisions [0-9]* -> [0-9]*, preemptions .*runs tried [0-9]*" shrink.out \
  || fail "shrink said: $(cat shrink.out)"
grep -q "^replay: fsim replay shrunk.trace.json" shrink.out || fail "shrink: no replay line"
shrunk_replay=$("$FSIM" replay shrunk.trace.json)
expect_exit 1 $? "replay of the shrunk trace"
[ "$shrunk_replay" = "$replay" ] || fail "shrunk trace replays as: $shrunk_replay"
"$FSIM" shrink "$trace" -o shrunk2.trace.json > /dev/null
cmp -s shrunk.trace.json shrunk2.trace.json || fail "two shrinks differ"
cp "$trace" copy.trace.json
"$FSIM" shrink copy.trace.json --max-runs 3 > /dev/null
expect_exit 1 $? "shrink with the default output"
[ -f copy.shrunk.trace.json ] || fail "shrink did not write copy.shrunk.trace.json"
"$FSIM" replay copy.shrunk.trace.json > /dev/null
expect_exit 1 $? "replay of a shrink cut short by --max-runs"
echo 'not json at all' > garbage.trace.json
check_usage "shrink of garbage" shrink garbage.trace.json
sed '/"finding": {/,/^ },/c\ "finding": null,' "$trace" > clean.trace.json
grep -q '"finding": null' clean.trace.json || fail "could not make a clean trace"
check_usage "shrink of a trace with no finding" shrink clean.trace.json
grep -q "no finding" u.err || fail "no-finding error: $(cat u.err)"
"$FSIM" shrink tampered.json -o t.out.json > shrink4.out
expect_exit 4 $? "shrink of a trace that does not reproduce"
grep -q "^not reproduced" shrink4.out || fail "shrink of tampered: $(cat shrink4.out)"
[ ! -f t.out.json ] || fail "shrink wrote a trace that does not reproduce"

# Numbers that wrap or are not numbers, and an --out that cannot hold a
# trace, are refused before anything runs.
check_usage "negative runs" explore --scenario abba_fixed --runs -1
check_usage "negative seed" explore --scenario abba_fixed --seed -1
check_usage "nan time" explore --scenario abba_fixed --time nan
check_usage "nan min-time" bench --min-time nan
check_usage "empty --out" explore --scenario abba_fixed --runs 1 --out ""
touch "$TEST_TMPDIR/a_file"
check_usage "--out a file" explore --scenario abba_fixed --runs 1 --out "$TEST_TMPDIR/a_file"
check_usage "--out under a file" explore --scenario abba_fixed --runs 1 --out "$TEST_TMPDIR/a_file/sub"

# A trace whose step count was altered does not reproduce (exit 4), and
# the replay names steps and virtual time.
sed 's/"steps": \([0-9]*\)/"steps": 1\1/' "$trace" > steps.json
"$FSIM" replay steps.json > steps.out
expect_exit 4 $? "replay of a trace with other steps"
grep -q "steps and .* ns of virtual time, trace says" steps.out || fail "steps mismatch: $(cat steps.out)"

# An unknown command is named, with the nearest one; an option where a
# file name belongs is refused (it once became a file named --log).
check_usage "a misspelt command" explor
grep -q "unknown command 'explor' (did you mean 'explore'?)" u.err || fail "suggestion: $(cat u.err)"
check_usage "an option as a file name" replay "$trace" --chrome-trace --log
[ ! -e ./--log ] || fail "replay wrote a file named --log"

# A directory where a file belongs says so.
mkdir -p "$TEST_TMPDIR/dir.json"
check_usage "a directory as a scenario" explore --scenario "$TEST_TMPDIR/dir.json" --runs 1
grep -q "is a directory" u.err || fail "directory scenario message: $(cat u.err)"
check_usage "a directory as a trace" replay "$TEST_TMPDIR/dir.json"
grep -q "is a directory" u.err || fail "directory trace message: $(cat u.err)"

# Input nested 100,000 deep is refused, not a stack overflow.
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]"; print "" }' > deep.json
check_usage "a deeply nested trace" replay deep.json
check_usage "a deeply nested scenario" explore --scenario deep.json --runs 1
grep -q "nested deeper than" u.err || fail "deep scenario message: $(cat u.err)"

# User strings in errors are escaped and cut: a newline or an escape
# sequence in a name does not pass through, a 1 MB name is not a 1 MB line.
check_usage "a scenario name with control characters" explore --scenario "$(printf 'evil\n\033[31mname')" --runs 1
grep -q 'evil\\n\\x1b\[31mname' u.err || fail "control characters not escaped: $(cat u.err)"
# (One argument is at most 128 KiB on Linux; a 1 MB name comes in a file.)
long=$(head -c 100000 /dev/zero | tr '\0' 'x')
check_usage "a 100 KB scenario name" explore --scenario "$long" --runs 1
[ "$(wc -c < u.err)" -lt 1200 ] || fail "a 100 KB name printed $(wc -c < u.err) bytes"
check_usage "a 100 KB unknown command" "$long"
[ "$(wc -c < u.err)" -lt 1200 ] || fail "a 100 KB command printed $(wc -c < u.err) bytes"
check_usage "a 100 KB --config key" explore --scenario abba --runs 1 --config "$long=1"
[ "$(wc -c < u.err)" -lt 1200 ] || fail "a 100 KB config key printed $(wc -c < u.err) bytes"

# Contradictory flags are errors, not silently ignored.
check_usage "dfs --depth" explore --scenario abba_fixed --strategy dfs --depth 2
grep -q -- "--depth is PCT's" u.err || fail "dfs --depth message: $(cat u.err)"
check_usage "random --depth" explore --scenario abba_fixed --strategy random --depth 2
check_usage "pct --preemptions" explore --scenario abba_fixed --strategy pct --preemptions 2
grep -q -- "--preemptions bounds DFS" u.err || fail "pct --preemptions message: $(cat u.err)"
check_usage "default strategy --preemptions" explore --scenario abba_fixed --preemptions 2
check_usage "a repeated --config with two values" explore --scenario fs_writers --runs 1 \
  --config order=rfc --config order=legacy
grep -q "order given twice, as 'rfc' and 'legacy'" u.err || fail "repeated config: $(cat u.err)"
check_usage "a repeated --config in compare-orders" compare-orders --runs 1 \
  --config bug=a --config bug=b
check_usage "a repeated --config in lockgraph" lockgraph --scenario abba --runs 1 \
  --config lockdep=on --config lockdep=off
"$FSIM" explore --scenario abba_fixed --strategy dfs --preemptions 1 --json --out "$OUT" > /dev/null 2>&1
expect_exit 0 $? "dfs --preemptions"
"$FSIM" explore --scenario abba_fixed --strategy pct --depth 2 --runs 5 \
  --config lockdep=on --config lockdep=on --json --out "$OUT" > /dev/null 2> same.err
expect_exit 0 $? "the same --config twice with one value ($(cat same.err))"

# A trace of an unsupported version names the file and the version read.
echo '{"format":"fsim-trace","version":"1"}' > vstr.json
check_usage "a string version" replay vstr.json
grep -q 'vstr.json: trace format version "1" is not supported (this fsim reads trace format version 1)' u.err ||
  fail "string version message: $(cat u.err)"
echo '{"format":"fsim-trace"}' > vnone.json
check_usage "no version" replay vnone.json
grep -q 'vnone.json: trace has no "version" (this fsim reads trace format version 1)' u.err ||
  fail "missing version message: $(cat u.err)"

# The bug catalogue: one JSON object whose rows are the flags bug= takes;
# a flag the catalogue does not know, or an rfc_* flag without the order
# that runs its code, is a usage error.
"$FSIM" bugs --json > bugs.json
expect_exit 0 $? "bugs --json"
grep -q '^{.*"fsim_bugs":1.*"rows":\[' bugs.json || fail "bugs --json shape: $(head -c 200 bugs.json)"
grep -q '"bug":"rfc_writepage_blocking_extent_lock"' bugs.json || fail "bugs --json lacks a flag"
check_usage "bugs --bug unknown" bugs --bug nope
check_usage "an rfc flag without the rfc order" explore --scenario fs_writers \
  --config bug=rfc_writepage_blocking_extent_lock
grep -q "needs an extents-before-pages order" u.err || fail "needs-order message: $(cat u.err)"
# The hunt of one flag: found, as the catalogue says (exit 0), JSON shape.
"$FSIM" bugs --hunt --bug cont_expand_without_truncate_block --runs 2000 --json \
  --out "$OUT/hunt" > hunt.json 2> /dev/null
expect_exit 0 $? "bugs --hunt --bug cont_expand_without_truncate_block"
grep -q '"found":true' hunt.json || fail "hunt: $(cat hunt.json)"
grep -q '"shrunk_decisions":' hunt.json || fail "hunt lacks shrunk_decisions: $(cat hunt.json)"
# The same hunt with another strategy: its trace records that strategy.
"$FSIM" bugs --hunt --bug cont_expand_without_truncate_block --runs 2000 --json \
  --strategy surw --seed 3 --out "$OUT/hunt_surw" > hunt_surw.json 2> /dev/null
expect_exit 0 $? "bugs --hunt --strategy surw"
grep -q '"found":true' hunt_surw.json || fail "surw hunt: $(cat hunt_surw.json)"
cat "$OUT"/hunt_surw/*.trace.json | grep -A4 '"strategy": {' | grep -q '"name": "surw"' ||
  fail "surw hunt trace does not record surw: $(ls "$OUT"/hunt_surw)"
check_usage "bugs --hunt --strategy dfs" bugs --hunt --strategy dfs

# DFS with iterative preemption bounding: abba's inversion needs one
# preemption, found at bound 1 within a handful of schedules; abba_fixed's
# whole space is explored (a bound that cuts nothing off ends it).
"$FSIM" explore --scenario abba --strategy dfs --iterative --json --out "$OUT/it" > it.json 2> /dev/null
expect_exit 1 $? "dfs --iterative abba"
grep -q '"preemption_bound":1' it.json || fail "iterative abba bound: $(cat it.json)"
"$FSIM" explore --scenario abba_fixed --strategy dfs --iterative --json > itf.json 2> /dev/null
expect_exit 0 $? "dfs --iterative abba_fixed"
grep -q '"exhausted":true' itf.json || fail "iterative abba_fixed not exhausted: $(cat itf.json)"
check_usage "--iterative without dfs" explore --scenario abba --iterative

# -j 2: two processes, shard 0/2 and 1/2; together the unsharded runs,
# and a finding is a finding (exit 1, one per signature, its trace on disk).
"$FSIM" explore --scenario abba_fixed --scenario fs_small_truncate --runs 300 -j 2 --json \
  --out "$OUT/j" > j.json 2> /dev/null
expect_exit 0 $? "explore -j 2"
grep -q '"runs":600' j.json || fail "-j 2 runs: $(cat j.json)"
"$FSIM" explore --scenario abba --runs 100 -j 2 --json --out "$OUT/j" > jf.json 2> /dev/null
expect_exit 1 $? "explore -j 2 abba"
[ "$(grep -o '"signature":"deadlock:mutex:A,mutex:B"' jf.json | wc -l)" -eq 1 ] ||
  fail "-j 2: one finding per signature: $(cat jf.json)"
[ -f "$(str_field jf.json trace)" ] || fail "-j 2: trace not on disk"
# -j 1 and -j 2 (and 3) are the same exploration: the same digest and the
# same findings (scenario, signature, run, seed, in the order found), for
# sampled runs with findings in several scenarios and for DFS.
findings_of() {  # file: its findings, one line each
  grep -o '"run":[0-9]*,"scenario":"[^"]*","seed":[0-9]*,"signature":"[^"]*"' "$1"
}
for args in "--scenario abba --scenario fs_small_truncate --scenario lost_update --runs 200 --all --strategy pct" \
            "--scenario abba_fixed --scenario fs_small_truncate --strategy dfs --preemptions 1"; do
  for j in 1 2 3; do
    # shellcheck disable=SC2086
    "$FSIM" explore $args -j $j --json --out "$OUT/jeq$j" > "jeq$j.json" 2> /dev/null
    rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 1 ] || fail "explore -j $j ($args) exited $rc"
  done
  case "$args" in
    *pct*) [ "$(findings_of jeq1.json | wc -l)" -ge 2 ] || fail "pct: findings $(findings_of jeq1.json)" ;;
  esac
  for j in 2 3; do
    [ "$(str_field jeq1.json digest)" = "$(str_field "jeq$j.json" digest)" ] ||
      fail "-j $j digest differs from -j 1's ($args): $(str_field jeq1.json digest) $(str_field "jeq$j.json" digest)"
    [ "$(findings_of jeq1.json)" = "$(findings_of "jeq$j.json")" ] ||
      fail "-j $j findings differ from -j 1's ($args): $(findings_of jeq1.json) / $(findings_of "jeq$j.json")"
  done
done
[ "$(findings_of jeq1.json | wc -l)" -eq 0 ] || fail "dfs abba_fixed: findings $(findings_of jeq1.json)"

# fsx: a generated log replays clean (exit 0) and writes the file's bytes;
# a malformed log, an op btrfs refuses, a directory: one line naming the
# file (and the line), exit 2.
"$FSIM" fsx --generate 60 --seed 5 -o gen.ops
expect_exit 0 $? "fsx --generate"
grep -q '^write \|^mapwrite \|^truncate ' gen.ops || fail "generated log: $(head -3 gen.ops)"
"$FSIM" fsx gen.ops --seed 5 --trace-dir "$OUT/fsx" -o gen.bin > fsx.out 2> fsx.err
expect_exit 0 $? "fsx replay of a generated log"
[ -f gen.bin ] || fail "fsx -o wrote no file"
printf 'write 0x0 zz 0x0\n' > bad.ops
"$FSIM" fsx bad.ops > /dev/null 2> u.err
expect_exit 2 $? "fsx malformed log"
grep -q "bad.ops:1: write needs 3 numbers" u.err || fail "fsx malformed message: $(cat u.err)"
printf 'write 0x0 0x10 0x0\ncollapse_range 0x0 0x1000 0x10\n' > refused.ops
"$FSIM" fsx refused.ops > /dev/null 2> u.err
expect_exit 2 $? "fsx refused op"
grep -q "refused.ops:2: unsupported op collapse_range" u.err || fail "fsx refused message: $(cat u.err)"
"$FSIM" fsx "$TEST_TMPDIR" > /dev/null 2> u.err
expect_exit 2 $? "fsx directory"
[ "$(wc -l < u.err)" -eq 1 ] || fail "fsx directory: more than one line: $(cat u.err)"

# Coverage: explore --coverage FILE records, per scenario, the runs that
# reached each point and the first run that did; fsim coverage prints it
# and draws the curve; a memory-pressure scenario shows kswapd reclaiming,
# one without a memory budget shows no reclaim; --save-clean writes clean
# runs as traces that replay.
"$FSIM" explore --scenario fs_raid1_device_failure --scenario fs_small_truncate --runs 40 \
  --coverage cov.json --save-clean 20 --out "$OUT/clean" > cov.out 2> /dev/null
expect_exit 0 $? "explore --coverage FILE"
grep -q '"fsim_coverage": 1' cov.json || fail "coverage file header: $(head -3 cov.json)"
grep -q '"coverage_first"' cov.json || fail "coverage file lacks coverage_first"
grep -q "reclaim:kswapd .*first run" cov.out || fail "coverage table lacks kswapd reclaim: $(cat cov.out)"
"$FSIM" coverage cov.json --svg cov.svg > covp.out 2> /dev/null
expect_exit 0 $? "fsim coverage --svg"
grep -q "^fs_raid1_device_failure (40 runs" covp.out || fail "coverage print: $(cat covp.out)"
sed -n '/^fs_small_truncate/,$p' covp.out | grep -q "reclaim:" && fail "no memory budget, yet reclaim: $(cat covp.out)"
grep -q "<polyline" cov.svg || fail "coverage svg has no curve"
n_clean=$(ls "$OUT/clean" | grep -c -- "-clean-")
[ "$n_clean" -eq 4 ] || fail "--save-clean 20 over 2x40 runs wrote $n_clean traces, expected 4"
clean_trace=$(ls "$OUT/clean"/*-clean-* | head -1)
"$FSIM" replay "$clean_trace" > /dev/null 2>&1
expect_exit 0 $? "a clean trace replays clean"
"$FSIM" explore --scenario fs_small_truncate --runs 10 --coverage "$TEST_TMPDIR" > /dev/null 2> u.err
expect_exit 2 $? "--coverage a directory"
"$FSIM" coverage missing.json > /dev/null 2> u.err
expect_exit 2 $? "coverage of a missing file"
echo '{"targets": 3}' > notcov.json
"$FSIM" coverage notcov.json > /dev/null 2> u.err
expect_exit 2 $? "coverage of a file that is not one"
[ "$(wc -l < u.err)" -eq 1 ] || fail "coverage bad file: more than one line: $(cat u.err)"

# --json on every command that prints a result: one line, its own tag.
"$FSIM" list --json > l.json 2> /dev/null
expect_exit 0 $? "list --json"
grep -q '^{"fsim_list":1,.*"name":"abba"' l.json || fail "list --json: $(head -c 200 l.json)"
"$FSIM" replay "$trace" --json > r.json 2> /dev/null
expect_exit 1 $? "replay --json of a finding"
grep -q '"fsim_replay":1' r.json && grep -q '"reproduced":true' r.json || fail "replay --json: $(cat r.json)"
"$FSIM" shrink "$trace" -o shr.trace.json --json > s.json 2> /dev/null
expect_exit 1 $? "shrink --json"
grep -q '"fsim_shrink":1' s.json && grep -q '"output":"shr.trace.json"' s.json || fail "shrink --json: $(cat s.json)"
[ -f shr.trace.json ] || fail "shrink -o/--output wrote nothing"
"$FSIM" lockgraph --scenario abba --runs 20 --json > g.json 2> /dev/null
expect_exit 0 $? "lockgraph --json"
grep -q '"fsim_lockgraph":1' g.json && grep -q '"cycles":\[\["' g.json || fail "lockgraph --json: $(cat g.json)"
for f in l.json r.json s.json g.json; do
  [ "$(wc -l < $f)" -eq 1 ] || fail "$f: more than one line"
done
# compare-orders takes explore's budget flags: --time (split over the
# orders), --shard I/N, --all.
"$FSIM" compare-orders --scenario fs_small_truncate --order legacy --order rfc_sync_waits \
  --runs 1000000 --time 1 --shard 1/2 --all --json --out "$OUT/cmp" > c.json 2> /dev/null
expect_exit 0 $? "compare-orders --time --shard --all"
grep -q '"fsim_compare' c.json || fail "compare-orders --json: $(head -c 200 c.json)"
"$FSIM" compare-orders --shard 2/2 > /dev/null 2> u.err
expect_exit 2 $? "compare-orders --shard out of range"

# bench --scenario for a scenario bench cannot run: exit 2 before measuring.
"$FSIM" bench --scenario no_such_scenario > /dev/null 2> u.err
expect_exit 2 $? "bench --scenario unknown"
grep -q "no_such_scenario: no such scenario" u.err || fail "bench unknown scenario message: $(cat u.err)"
"$FSIM" bench --scenario spin > /dev/null 2> u.err
expect_exit 2 $? "bench --scenario spin"

# bench --only: just the matching measurements, one line each; a pattern
# that matches none, or is not a pattern, is refused in one line.
"$FSIM" bench --only 'decision/pct|runs/abba_fixed$' --min-time 0.01 > only.out 2> /dev/null
expect_exit 0 $? "bench --only"
[ "$(wc -l < only.out)" -eq 2 ] || fail "bench --only printed: $(cat only.out)"
grep -q '^decision/pct .* ns ' only.out || fail "bench --only lacks decision/pct: $(cat only.out)"
grep -q '^runs/abba_fixed ' only.out || fail "bench --only lacks runs/abba_fixed: $(cat only.out)"
"$FSIM" bench --only 'decision/pct' --json --min-time 0.01 > only.json 2> /dev/null
expect_exit 0 $? "bench --only --json"
grep -q '"decision/pct":{"items_per_sec":' only.json || fail "bench --only --json: $(cat only.json)"
check_usage "bench --only matching nothing" bench --only no_such_measurement
check_usage "bench --only not a pattern" bench --only '('
check_usage "bench --only with --compare" bench --only decision/ --compare base.json

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
