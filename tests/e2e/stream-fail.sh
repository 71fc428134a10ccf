#!/bin/sh
# A reply that cannot be queued (no memory for it) while a stream is
# pumping: the follower of Audit.Tail, or a Backup sending its chunks, to a
# caller that has stopped reading. The connection must close without
# freeing the stream under its own pump (a use-after-free the sanitizer
# build catches), the daemon must go on serving, and the backup must not
# stay "busy". tests/e2e/failwrite.c, preloaded, makes the queueing fail
# while $T/failwrite exists; everything else is the real daemon.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

SHIM=${ROSTER_BUILDDIR:-$(dirname "$ROSTERD")}/tests/e2e/.libs/failwrite.so
[ -f "$SHIM" ] || { echo "# $SHIM was not built (make check builds it)"; exit 1; }
TRIGGER="$T/failwrite"
export ROSTER_TEST_FAILWRITE="$TRIGGER"
# The sanitizer runtime must be the first library; the shim may follow it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
ROSTERD_WRAPPER="env LD_PRELOAD=$SHIM ${ROSTERD_WRAPPER:-}"

init_registry
touch "$TRIGGER"

# stalled METHOD: a caller starts METHOD as a stream and reads nothing,
# while another connection makes 3000 calls (each one a record, each commit
# a pump of the followers). Prints whether the daemon still answered, then
# whether it closed the stalled connection.
stalled() {
	python3 - "$SOCK" "$1" <<'PY'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["ROSTER_SRCDIR"], "tests/e2e"))
from varlink import Conn
sock, method = sys.argv[1], sys.argv[2]
stuck = Conn(sock)
stuck.send(method, {}, more=True)
try:
    other = Conn(sock)
    for _ in range(3000):
        other.call("io.roster.Admin.Status", {})
    time.sleep(0.5)
    r = other.call("io.roster.Admin.Status", {})
    print("answered" if r is not None and "error" not in r else "no answer: %r" % (r,))
except OSError as e:
    print("no answer: %s" % e)
print("closed" if stuck.closed(10) else "still open")
PY
}

stalled io.roster.Audit.Tail > "$T/tail.out"
expect_eq "$(sed -n 1p "$T/tail.out")" answered "a follower whose reply could not be queued: the daemon goes on"
expect_eq "$(sed -n 2p "$T/tail.out")" closed "... and closes that follower's connection"
expect_in "$LOG" "a reply could not be queued" "... saying why in its log"

stalled io.roster.Admin.Backup > "$T/backup.out"
expect_eq "$(sed -n 1p "$T/backup.out")" answered "a backup whose chunk could not be queued: the daemon goes on"
expect_eq "$(sed -n 2p "$T/backup.out")" closed "... and closes that backup's connection"

rm -f "$TRIGGER"
expect_exit 0 "once memory is back, a backup works: the failed one left nothing busy" \
	ctl backup create "$T/after.bk"
expect_exit 0 "... and it verifies" ctl backup verify --passphrase-file "$PASSFILE" "$T/after.bk"
check "rosterd is still running" kill -0 "$ROSTERD_PID"
expect_exit 0 "and stops cleanly" stop_rosterd

finish
