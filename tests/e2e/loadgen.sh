#!/bin/sh
# The benchmark's load generator (tests/bench/loadgen), the instrument
# behind every figure of scripts/bench: it counts the calls rosterd
# answered (each one an audit record), whatever number of threads drives
# the connections; it names the errors it was given; it authenticates with
# a token, again after a reconnection; and it outlives a daemon that goes
# away.
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

# --- a peer that breaks the protocol ---------------------------------------------
# One call is out at a time on a connection, so a second reply to it must
# be an error, not the answer to the call that follows.
python3 - "$T/fake.sock" <<'PY' &
import json, os, socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(16)
rep = json.dumps({"parameters": {"client": {"id": "x"}}}).encode() + b"\0"
def serve(c):
    buf, n = b"", 0
    try:
        while True:
            d = c.recv(4096)
            if not d:
                return
            buf += d
            while b"\0" in buf:
                _, _, buf = buf.partition(b"\0")
                n += 1
                c.sendall(rep + rep if n % 50 == 0 else rep)
    except OSError:
        pass    # loadgen hung up on the broken connection, as it should
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
PY
FAKE=$!
for _ in $(seq 1 100); do [ -S "$T/fake.sock" ] && break; sleep 0.05; done
expect_exit 0 "a peer that answers one call twice" \
	"$LOADGEN" --socket "$T/fake.sock" --ids "$T/ids" --clients 2 --seconds 0.5 --warmup 0
expect_in "$T/out" '"local.Protocol":' "... counts a protocol error"
check "... and no latency of a call that never left (p999 $(field p999_ms) ms)" python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["max_ms"] < 1000, o' "$T/out"
kill "$FAKE"

# --- usage ------------------------------------------------------------------------
expect_exit 2 "--threads 0 is a usage error" lg 5010 --ids "$T/ids" --clients 2 --seconds 1 --threads 0
expect_in "$T/err" "--threads" "... naming the option"

# --- the daemon goes away and comes back ---------------------------------------
# A long window, ended by SIGTERM once the restarted daemon has been
# unsealed for 2 s, however long the Unseal (Argon2id) took on a busy host.
# (Not through lg: the signal must reach loadgen, not a subshell.)
setpriv --reuid 5011 --regid 0 --clear-groups "$LOADGEN" --socket "$SOCK" --warmup 0 \
	--ids "$T/ids" --clients 4 --threads 2 --seconds 300 --token-file "$T/tok" \
	> "$T/out" 2> "$T/err" &
LG=$!
sleep 1
stop_rosterd
start_rosterd
ctl unseal --passphrase-file "$PASSFILE" > /dev/null
sleep 2
kill -TERM "$LG"
set +e
wait "$LG"
rc=$?
set -e
expect_eq "$rc" 0 "a restart during the run, then SIGTERM: it reports and exits 0"
check "... over the time it ran ($(field seconds) s of 300)" python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert 3 < o["seconds"] < 300 and o["ops"] > 0, o
assert abs(o["ops_per_sec"] * o["seconds"] - o["ops"]) < 2, o' "$T/out"
check "... having connected again ($(field reconnects) times)" test "$(field reconnects)" -ge 1
# Until the Unseal no token can be checked, so the connections wait, then
# authenticate again: the only errors are the calls the stop cut off.
expect_not_in "$T/out" "AuthenticationRequired" "... each new connection authenticated with the token again"
check "... and the only errors are the calls the stop cut off ($(field errors))" \
	test "$(field errors)" -le 4

finish
