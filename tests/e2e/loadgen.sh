#!/bin/sh
# The benchmark's load generator (tests/bench/loadgen), the instrument
# behind every figure of scripts/bench: it counts the calls rosterd
# answered (each one an audit record), whatever number of threads drives
# the connections; it names the errors it was given; it authenticates with
# a token; and it outlives a daemon that goes away.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

need_root "the load runs as service principals under their own uids"
LOADGEN=${ROSTER_BUILDDIR:-$(dirname "$ROSTERD")}/tests/bench/loadgen
[ -x "$LOADGEN" ] || { echo "# $LOADGEN was not built"; exit 1; }

init_registry
for n in 1 2 3; do
	ctl client add --name "Load $n" --kind bank --country DE
done > "$T/ids"
ctl principal add lg --uid 5010 --role service > /dev/null
ctl principal add lgmiss --uid 5012 --role service > /dev/null
ctl principal add lgtok --uid 5011 --role service --token > "$T/tok" 2> /dev/null
chown 5011 "$T/tok"
chmod 0600 "$T/tok"
printf '%s\n' 0123456789abcdef0123456789abcdef > "$T/missing"

# lg UID ARGS...: loadgen against this daemon as UID (out: $T/out, $T/err).
lg() {
	u=$1; shift
	setpriv --reuid "$u" --regid 0 --clear-groups \
		"$LOADGEN" --socket "$SOCK" --warmup 0 "$@" > "$T/out" 2> "$T/err"
}
# field KEY: a number (or, for error_names, the object) from loadgen's output.
field() { python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$T/out" "$1"; }
records() { vl_field io.roster.Admin.Status '{}' parameters.audit_records; }

# --- what it counts is what the daemon did -----------------------------------
# 8 connections on 3 threads: an uneven share (3, 3, 2) on each epoll set.
R0=$(records)
expect_exit 0 "8 connections on 3 threads for 1 s" lg 5010 --ids "$T/ids" --clients 8 --threads 3 --seconds 1
R1=$(records)
OPS=$(field ops)
expect_eq "$(field errors)" 0 "... no errors"
check "... some calls were made ($OPS)" test "$OPS" -gt 0
# Every Get is one record. Calls still out when the window closed were
# answered but not counted (at most one per connection); the two Status
# calls of this script add theirs.
check "... the daemon recorded as many calls as it counted ($((R1 - R0)) records, $OPS calls)" \
	test $((R1 - R0)) -ge "$OPS" -a $((R1 - R0)) -le $((OPS + 8 + 2))
check "... its latencies are in order" python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert 0 < o["p50_ms"] <= o["p99_ms"] <= o["p999_ms"] <= o["max_ms"], o
assert o["clients"] == 8 and o["reconnects"] == 0 and o["unrecorded"] == 0, o' "$T/out"
expect_exit 0 "one thread per connection (the old way)" lg 5010 --ids "$T/ids" --clients 4 --threads 4 --seconds 0.3
expect_eq "$(field errors)" 0 "... no errors"
expect_exit 0 "more threads than connections: one each" lg 5010 --ids "$T/ids" --clients 2 --threads 9 --seconds 0.3
expect_eq "$(field errors)" 0 "... no errors"

# --- errors are counted under their names --------------------------------------
expect_exit 0 "an id that does not exist" lg 5012 --ids "$T/missing" --clients 2 --seconds 0.5
check "... every call is an error" test "$(field errors)" -eq "$(field ops)" -a "$(field ops)" -gt 0
expect_in "$T/out" '"io.roster.NotFound":' "... named io.roster.NotFound"

# --- a token --------------------------------------------------------------------
expect_exit 0 "with --token-file" lg 5011 --ids "$T/ids" --clients 2 --seconds 0.5 --token-file "$T/tok"
expect_eq "$(field errors)" 0 "... no errors"
printf 'not-the-token\n' > "$T/badtok"
chmod 0644 "$T/badtok"
expect_exit 1 "a wrong token: it does not start" lg 5011 --ids "$T/ids" --clients 2 --seconds 0.5 --token-file "$T/badtok"
expect_in "$T/err" "cannot authenticate" "... and says why"

# --- usage ------------------------------------------------------------------------
expect_exit 2 "--threads 0 is a usage error" lg 5010 --ids "$T/ids" --clients 2 --seconds 1 --threads 0
expect_in "$T/err" "--threads" "... naming the option"

# --- the daemon goes away and comes back ---------------------------------------
lg 5010 --ids "$T/ids" --clients 4 --threads 2 --seconds 3 &
LG=$!
sleep 1
stop_rosterd
start_rosterd
set +e
wait "$LG"
rc=$?
set -e
expect_eq "$rc" 0 "a restart during the run: it ends on time"
check "... having connected again ($(field reconnects) times)" test "$(field reconnects)" -ge 1
# After the restart the registry is sealed, where a service may not call
# Get: its answers are errors, by name, as are the calls the stop cut off.
expect_in "$T/out" '"io.roster.PermissionDenied":' "... counting the sealed registry's refusals by name"

finish
