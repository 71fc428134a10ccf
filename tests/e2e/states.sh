#!/bin/sh
# The state machine (uninitialized -> unsealed -> sealed -> unsealed), the
# keyring's defences, and the start-up refusals, through rosterctl and the
# raw socket, against the real daemon.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

ID0=00000000000000000000000000000000

start_rosterd
expect_eq "$(state)" uninitialized "a new state dir starts uninitialized"
expect_exit 1 "client get on an uninitialized registry fails" ctl client get "$ID0"
expect_in "$T/err" "io.roster.Uninitialized" "... with io.roster.Uninitialized"
expect_exit 1 "unseal before init fails" ctl unseal --passphrase-file "$PASSFILE"
expect_in "$T/err" "io.roster.InvalidState" "... with io.roster.InvalidState"

printf 'short\n' > "$T/short"; chmod 600 "$T/short"
expect_exit 1 "init with a too-short passphrase fails" ctl init --passphrase-file "$T/short"
expect_in "$T/err" "InvalidParameter" "... with InvalidParameter"
expect_eq "$(state)" uninitialized "... and the registry stays uninitialized"

chmod 644 "$PASSFILE"
expect_exit 1 "rosterctl refuses a passphrase file readable by others" \
	ctl init --passphrase-file "$PASSFILE"
chmod 600 "$PASSFILE"

expect_exit 0 "init" ctl init --passphrase-file "$PASSFILE"
expect_eq "$(state)" unsealed "init leaves the registry unsealed"
mode=$(stat -c %a "$STATE/keyring")
expect_eq "$mode" 600 "the keyring is created 0600"
expect_exit 1 "a second init fails" ctl init --passphrase-file "$PASSFILE"
expect_in "$T/err" "io.roster.InvalidState" "... with io.roster.InvalidState"

expect_exit 0 "status" ctl status
expect_in "$T/out" "unsealed" "status prints the state"
expect_exit 0 "status --json" ctl --json status
check "status --json is one JSON document with state" \
	python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["state"] == "unsealed"' "$T/out"

ID=$(ctl client add --name "Carabinieri Test Unit" --kind police --country IT)
expect_exit 0 "seal" ctl seal
expect_eq "$(state)" sealed "seal leaves the registry sealed"
expect_exit 1 "client get while sealed fails" ctl client get "$ID"
expect_in "$T/err" "io.roster.Sealed" "... with io.roster.Sealed"
expect_exit 0 "seal again is harmless" ctl seal

printf 'not the passphrase\n' > "$T/wrong"; chmod 600 "$T/wrong"
expect_exit 1 "unseal with a wrong passphrase fails" ctl unseal --passphrase-file "$T/wrong"
expect_in "$T/err" "io.roster.BadPassphrase" "... with io.roster.BadPassphrase"
expect_eq "$(state)" sealed "... and the registry stays sealed"
expect_exit 0 "unseal with the right passphrase" ctl unseal --passphrase-file "$PASSFILE"
expect_exit 0 "the client is readable after unseal" ctl client get "$ID"
expect_in "$T/out" "Carabinieri Test Unit" "... with its name"

# Two key derivations at once: the second is told to wait, not queued.
ctl seal > /dev/null
python3 -c '
import sys; sys.path.insert(0, sys.argv[3])
from varlink import Conn
a, b = Conn(sys.argv[1]), Conn(sys.argv[1])
a.send("io.roster.Admin.Unseal", {"passphrase": sys.argv[2]})
import time; time.sleep(0.05)
rb = b.call("io.roster.Admin.Unseal", {"passphrase": sys.argv[2]})
ra = a.recv()
print(ra.get("error", "ok"), rb.get("error", "ok"))
' "$SOCK" "$PASSPHRASE" "$ROSTER_SRCDIR/tests/e2e" > "$T/busy"
expect_eq "$(cat "$T/busy")" "ok io.roster.Busy" "a second Unseal during key derivation gets io.roster.Busy"

# The brake wins over a passphrase being checked. A Seal during an Unseal's
# key derivation left the registry unsealed, keys in memory, right after the
# Seal was answered ok; a SIGTERM then left a daemon that never exited.
ctl seal > /dev/null
python3 -c '
import sys; sys.path.insert(0, sys.argv[3])
from varlink import Conn
a, b = Conn(sys.argv[1]), Conn(sys.argv[1])
a.send("io.roster.Admin.Unseal", {"passphrase": sys.argv[2]})
import time; time.sleep(0.05)
rb = b.call("io.roster.Admin.Seal")
ra = a.recv()
print(rb.get("error", "ok"), ra.get("error", "ok"))
' "$SOCK" "$PASSPHRASE" "$ROSTER_SRCDIR/tests/e2e" > "$T/brake"
expect_eq "$(cat "$T/brake")" "ok io.roster.Sealed" \
	"a Seal during an Unseal's key derivation is answered ok, the Unseal io.roster.Sealed"
expect_eq "$(state)" sealed "... and the registry stays sealed"
expect_exit 0 "... and a later Unseal works" ctl unseal --passphrase-file "$PASSFILE"
ctl seal > /dev/null
# A Seal during an Unseal that then fails (a wrong passphrase) is used up
# with it: it must not cancel the next, right, Unseal.
python3 -c '
import sys; sys.path.insert(0, sys.argv[2])
from varlink import Conn
a, b = Conn(sys.argv[1]), Conn(sys.argv[1])
a.send("io.roster.Admin.Unseal", {"passphrase": "not the passphrase at all"})
import time; time.sleep(0.05)
rb = b.call("io.roster.Admin.Seal")
ra = a.recv()
print(rb.get("error", "ok"), ra.get("error", "ok"))
' "$SOCK" "$ROSTER_SRCDIR/tests/e2e" > "$T/brake2"
expect_eq "$(cat "$T/brake2")" "ok io.roster.BadPassphrase" \
	"a Seal during an Unseal with a wrong passphrase: the Unseal is told BadPassphrase"
expect_exit 0 "... and the next Unseal, with the right one, works" \
	ctl unseal --passphrase-file "$PASSFILE"
expect_eq "$(state)" unsealed "... and unseals"
ctl seal > /dev/null
python3 -c '
import os, signal, sys, time; sys.path.insert(0, sys.argv[3])
from varlink import Conn
a = Conn(sys.argv[1])
a.send("io.roster.Admin.Unseal", {"passphrase": sys.argv[2]})
time.sleep(0.05)
os.kill(int(sys.argv[4]), signal.SIGTERM)
' "$SOCK" "$PASSPHRASE" "$ROSTER_SRCDIR/tests/e2e" "$ROSTERD_PID"
for _ in $(seq 1 $((100 * ROSTER_TEST_SLOW))); do kill -0 "$ROSTERD_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$ROSTERD_PID" 2>/dev/null; then
	not_ok "SIGTERM during an Unseal's key derivation: rosterd still running after 10 s"
	kill -KILL "$ROSTERD_PID"; wait "$ROSTERD_PID" 2>/dev/null || true
else
	set +e; wait "$ROSTERD_PID"; rc=$?; set -e
	expect_eq "$rc" 0 "SIGTERM during an Unseal's key derivation: rosterd exits 0"
fi
ROSTERD_PID=
start_rosterd

# Restart: always sealed, data persists.
check "SIGTERM exits 0" stop_rosterd
start_rosterd
expect_eq "$(state)" sealed "a restarted daemon is sealed"
ctl unseal --passphrase-file "$PASSFILE" > /dev/null
expect_exit 0 "data persists across a restart" ctl client get "$ID"
stop_rosterd

start_rosterd --passphrase-file "$PASSFILE"
expect_eq "$(state)" unsealed "--passphrase-file unseals at start"
stop_rosterd
start_rosterd --passphrase-fd 5 5< "$PASSFILE"
expect_eq "$(state)" unsealed "--passphrase-fd unseals at start"

# Start-up refusals. Each leaves the daemon not running, with a reason logged.
expect_exit 1 "a second daemon on the same socket refuses to start" \
	"$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
mkdir -m 700 "$T/state2"
expect_exit 1 "a second daemon on a live socket refuses to start (another state dir)" \
	"$ROSTERD" --state-dir "$T/state2" --socket "$SOCK"
expect_in "$T/err" "another daemon is answering" "... saying another daemon answers"
expect_exit 1 "a second daemon on the same state dir refuses to start" \
	"$ROSTERD" --state-dir "$STATE" --socket "$T/run/other.sock"
expect_in "$T/err" "another rosterd is using this state directory" "... saying the state dir is locked"
expect_eq "$(state)" unsealed "the first daemon is unaffected"
kill -KILL "$ROSTERD_PID"; wait "$ROSTERD_PID" 2>/dev/null || true; ROSTERD_PID=
check "a killed daemon leaves its socket file behind" test -S "$SOCK"
start_rosterd
expect_eq "$(state)" sealed "a stale socket nobody answers on is replaced"
stop_rosterd

chmod 644 "$PASSFILE"
expect_exit 1 "a passphrase file readable by others is refused" \
	"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --passphrase-file "$PASSFILE"
chmod 600 "$PASSFILE"
expect_exit 1 "a wrong --passphrase-file stops the start" \
	"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --passphrase-file "$T/wrong"
expect_in "$T/err" "does not open the keyring" "... saying so"

chmod 770 "$STATE"
expect_exit 1 "a group-writable state dir is refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
expect_in "$T/err" "writable by group or others" "... saying why"
chmod 700 "$STATE"

cp "$STATE/keyring" "$T/keyring.good"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[120]^=1; open(p,"wb").write(b)' "$STATE/keyring"
expect_exit 1 "a keyring with a flipped byte is refused at start" \
	"$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
expect_in "$T/err" "damaged or altered" "... naming it damaged or altered"
cp "$T/keyring.good" "$STATE/keyring"; chmod 600 "$STATE/keyring"

chmod 644 "$STATE/keyring"
expect_exit 1 "a keyring readable by others is refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
chmod 600 "$STATE/keyring"

mv "$STATE/keyring" "$T/keyring.moved"
expect_exit 1 "a database without its keyring is refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
expect_in "$T/err" "keyring is missing" "... saying the keyring is missing"
mv "$T/keyring.moved" "$STATE/keyring"

expect_exit 2 "rosterd without --state-dir is a usage error" "$ROSTERD"
expect_exit 2 "rosterd with an unknown option is a usage error" "$ROSTERD" --frobnicate

printf '[rosterd]\nidle_timeout = soon\n' > "$T/bad.conf"
expect_exit 1 "a config file with a bad value is refused" \
	"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --config "$T/bad.conf"
expect_in "$T/err" "idle_timeout" "... naming the key"
printf '[rosterd]\nsocket = /%0250d\n' 0 > "$T/long.conf"
expect_exit 1 "a config line longer than inih reads is refused, not truncated" \
	"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --config "$T/long.conf"
printf '[rosterd]\nsocket_group = nosuchgroup-roster\n' > "$T/grp.conf"
expect_exit 1 "an unknown socket_group is refused" \
	"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --config "$T/grp.conf"
printf '[rosterd]\nsocket_group = 4321\nsocket_mode = 0660\n' > "$T/grp.conf"
start_rosterd --config "$T/grp.conf"
expect_eq "$(stat -c '%a %g' "$SOCK")" "660 4321" "socket_group and socket_mode set the socket's group and mode"
stop_rosterd
printf '[rosterd]\nidle_timeout = 1\n' > "$T/idle.conf"
start_rosterd --config "$T/idle.conf"
python3 -c '
import sys; sys.path.insert(0, sys.argv[2])
from varlink import Conn
c = Conn(sys.argv[1])
print("closed" if c.closed(timeout=4) else "open")' "$SOCK" "$ROSTER_SRCDIR/tests/e2e" > "$T/idle"
expect_eq "$(cat "$T/idle")" closed "an idle connection is closed after idle_timeout"
check "SIGTERM exits 0" stop_rosterd
finish
