#!/bin/sh
# The guard (issue 5), as a breach drill against the real daemon, a real
# syslog-ng receiving the audit trail, and callers under other uids
# (setpriv): a principal with a quota of 5 reading 30 distinct records gets
# exactly 5 and is locked, the LOCKOUT alert reaches syslog-ng, unlock
# restores access; quota state survives a restart; 60 random ids lock a
# guesser; a canary looks ordinary and its read alerts within a second;
# short or wildcard-like searches are refused to roles without clients.list.
# (The two-person rule for bulk export is tested in export.sh.)
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

need_root "principals are bound to uids"
need_syslog_ng


# as UID COMMAND...: run a command as another uid; group 0 reaches the socket.
as() { u=$1; shift; setpriv --reuid "$u" --regid 0 --clear-groups "$@"; }
ctl_as() { u=$1; shift; as "$u" "$ROSTERCTL" --socket "$SOCK" "$@"; }

# The system's Python, without the start-up cost of a version manager's
# shim: alert latencies below are measured in milliseconds.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# probe UID COMMAND ARGS...: raw Varlink calls as UID on ONE connection.
#   get ID...      a Get per id; one outcome per line
#   keys ID        "TOP-LEVEL-KEYS PARAMETER-KEYS CLIENT-KEYS" of a Get's reply
#                  (each sorted and comma-separated), or the outcome
#   search QUERY   "OUTCOME [PARAMETER]" of a Search
#   delete ID...   a Delete per id; one outcome per line
#   guess N        Gets of N random ids; one outcome per line
# An outcome is "ok" or the error name without "io.roster.". Just before
# each call it appends "sent TIME" (seconds since the epoch) to $T/sent.
PROBE="$T/probe.py"
cat > "$PROBE" << 'EOF'
import json, os, sys, time
sys.dont_write_bytecode = True
sys.path.insert(0, os.environ["E2E_DIR"])
from varlink import Conn

def outcome(r):
    if r is None:
        return "closed"
    e = r.get("error")
    if e is None:
        return "ok"
    return e[len("io.roster."):] if e.startswith("io.roster.") else e

c = Conn(sys.argv[1])

def call(method, params):
    sys.stderr.write("sent %.6f\n" % time.time())
    sys.stderr.flush()
    return c.call(method, params)

cmd, args = sys.argv[2], sys.argv[3:]
if cmd == "get":
    for i in args:
        print(outcome(call("io.roster.Clients.Get", {"id": i})), flush=True)
elif cmd == "delete":
    for i in args:
        print(outcome(call("io.roster.Clients.Delete", {"id": i})), flush=True)
elif cmd == "guess":
    for _ in range(int(args[0])):
        print(outcome(call("io.roster.Clients.Get", {"id": os.urandom(16).hex()})), flush=True)
elif cmd == "keys":
    r = call("io.roster.Clients.Get", {"id": args[0]})
    if r is None or "error" in r:
        print(outcome(r))
    else:
        p = r["parameters"]
        print(",".join(sorted(r)), ",".join(sorted(p)), ",".join(sorted(p["client"])))
elif cmd == "search":
    r = call("io.roster.Clients.Search", {"query": args[0]})
    par = (r.get("parameters") or {}).get("parameter", "") if r and "error" in r else ""
    print((outcome(r) + " " + par).strip())
else:
    sys.exit("unknown probe command " + cmd)
EOF
probe() {
	u=$1; shift
	if ! as "$u" env E2E_DIR="$ROSTER_SRCDIR/tests/e2e" "$PY" "$PROBE" "$SOCK" "$@" 2>> "$T/sent"; then
		echo "# probe as uid $u failed:" >&2
		grep -v "^sent " "$T/sent" | tail -5 | sed "s/^/#   /" >&2
	fi
}
# sent N: when call N of the probes since "$T/sent" was emptied was sent.
sent() { sed -n "${1}s/^sent //p" "$T/sent"; }

# alerts MSGID PRINCIPAL METHOD: how many records in syslog-ng's output carry
# this alert (MSGID, PRIORITY alert, and the record's own alert field) for
# this principal and method.
ALERTS_PY='
import json, sys
def alerts(path, msgid, principal, method):
    n = 0
    try:
        f = open(path)
    except FileNotFoundError:
        return 0
    with f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue        # a line syslog-ng is still writing
            if (o.get("MSGID") == msgid and o.get("PRIORITY") == "alert"
                    and o.get("alert") == msgid and o.get("principal") == principal
                    and o.get("method") == method):
                n += 1
    return n
'
alerts() { "$PY" -c "$ALERTS_PY
print(alerts(*sys.argv[1:]))" "$JSONL" "$@"; }

# watch_alert MSGID PRINCIPAL METHOD: in the background, wait (at most 10 s)
# for such an alert in a line added to syslog-ng's output from now on, and
# note when it is seen;
# returns once the watcher is looking. Then watch_result LIMIT T0 waits for
# the watcher, prints the seconds from T0 (seconds since the epoch, e.g.
# "$(sent 1)") to the sighting, and fails unless that is at most LIMIT.
watch_alert() {
	rm -f "$T/watch.ready" "$T/watch.seen"
	"$PY" -c '
import json, os, sys, time
path, want = sys.argv[1], sys.argv[2:5]
pos = os.path.getsize(path) if os.path.exists(path) else 0
open(sys.argv[5], "w").close()
deadline, buf = time.time() + 10 * int(os.environ["ROSTER_TEST_SLOW"]), b""
while time.time() < deadline:
    try:
        with open(path, "rb") as f:
            f.seek(pos)
            data = f.read()
    except FileNotFoundError:
        data = b""
    pos += len(data)
    buf += data
    *lines, buf = buf.split(b"\n")
    for line in lines:
        o = json.loads(line)
        if ([o.get("MSGID"), o.get("principal"), o.get("method")] == want
                and o.get("PRIORITY") == "alert" and o.get("alert") == want[0]):
            open(sys.argv[6], "w").write("%.6f\n" % time.time())
            sys.exit(0)
    time.sleep(0.002)' "$JSONL" "$@" "$T/watch.ready" "$T/watch.seen" &
	WATCH_PID=$!
	while [ ! -e "$T/watch.ready" ] && kill -0 "$WATCH_PID" 2>/dev/null; do sleep 0.01; done
}
watch_result() {
	wait "$WATCH_PID" || true
	if [ ! -s "$T/watch.seen" ] || [ -z "$2" ]; then
		echo "not seen"
		return 1
	fi
	"$PY" -c '
import os, sys
took = float(open(sys.argv[1]).read()) - float(sys.argv[3])
print("%.3f" % took)
# Under valgrind (scripts/valgrind-e2e) every limit stretches by ROSTER_TEST_SLOW.
sys.exit(0 if took <= float(sys.argv[2]) * int(os.environ["ROSTER_TEST_SLOW"]) else 1)' "$T/watch.seen" "$@"
}

# settle: wait (at most 10 s) until syslog-ng's output has every record
# committed so far, so that an alert that is not there will not come.
settle() {
	"$PY" -c '
import json, os, sys, time
head = int(sys.argv[2])
deadline = time.time() + 10 * int(os.environ["ROSTER_TEST_SLOW"])
while time.time() < deadline:
    try:
        for line in open(sys.argv[1]):
            o = json.loads(line)
            if o["type"] == "record" and int(o["seq"]) >= head:
                sys.exit(0)
    except (FileNotFoundError, ValueError):
        pass
    time.sleep(0.02)
sys.exit("record %d was not shipped within 10 s" % head)' "$JSONL" \
		"$(vl_field io.roster.Admin.Status '{}' parameters.audit_head)"
}
# count FILE WORD: lines of FILE that are exactly WORD.
count() { grep -cx -- "$2" "$1" || true; }

check "syslog-ng starts with the project's fragment" start_syslog
start_rosterd --syslog-socket "$SNG/syslog.sock"
vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > /dev/null
expect_eq "$(state)" unsealed "rosterd with --syslog-socket initialises"
chmod 0755 "$RUN"

# --- 30 clients -----------------------------------------------------------------
"$PY" -c '
for i in range(30):
    print("{\"name\": \"Drill Client %02d\", \"kind\": \"bank\", \"country\": \"NL\"}" % i)' \
	> "$T/clients.jsonl"
expect_exit 0 "import 30 clients" ctl client import "$T/clients.jsonl"
ctl --json client list --limit 100 > "$T/list"
"$PY" -c '
import json, sys
for c in json.load(open(sys.argv[1]))["clients"]:
    if c["name"].startswith("Drill Client"):
        print(c["id"])' "$T/list" > "$T/ids"
expect_eq "$(sort -u "$T/ids" | wc -l)" 30 "... 30 distinct ids"
IDS=$(paste -sd' ' "$T/ids")
id() { sed -n "${1}p" "$T/ids"; }
ID1=$(id 1) ID2=$(id 2) ID3=$(id 3) ID4=$(id 4) ID5=$(id 5) ID6=$(id 6) ID7=$(id 7) ID8=$(id 8)

# --- a quota of 5: the thief gets exactly 5 ------------------------------------------
expect_exit 0 "role add thief --quota 5/1h" \
	ctl role add thief --cap clients.get --fields identity --quota 5/1h
expect_exit 0 "role show thief" ctl role show thief
expect_in "$T/out" "quota: 5/1h" "... has the quota"
expect_in "$T/out" "lock_on_quota: yes" "... locks on quota"
expect_in "$T/out" "guessing: 20/600s" "... and the default guessing limit"
ctl principal add thief --uid 6101 --role thief

watch_alert LOCKOUT thief io.roster.Clients.Get
: > "$T/sent"
# shellcheck disable=SC2086
probe 6101 get $IDS > "$T/thief"
expect_eq "$(wc -l < "$T/thief")" 30 "the thief asks for 30 distinct records on one connection"
expect_eq "$(head -5 "$T/thief" | paste -sd' ' -)" "ok ok ok ok ok" "... the first 5 succeed"
expect_eq "$(sed -n 6p "$T/thief")" QuotaExceeded "... the 6th is QuotaExceeded"
expect_eq "$(tail -n +7 "$T/thief" | sort -u)" Locked "... the other 24 are Locked"
expect_eq "$(count "$T/thief" ok)" 5 "... exactly 5 records were received"

if took=$(watch_result 5 "$(sent 6)"); then
	ok "the LOCKOUT alert is in syslog-ng's output (MSGID LOCKOUT, PRIORITY alert) ${took} s after the 6th call"
else
	not_ok "the LOCKOUT alert is in syslog-ng's output within 5 s of the 6th call ($took)"
	tail -3 "$JSONL" 2>/dev/null | sed 's/^/#   /'
fi
expect_eq "$(alerts LOCKOUT thief io.roster.Clients.Get)" 1 "... exactly once"
check "... naming the uid and the pid" "$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("MSGID") == "LOCKOUT":
        assert o["uid"] == "6101" and int(o["pid"]) > 0 and o["result"] != "ok", o
        assert o["error"] == "io.roster.QuotaExceeded", o
        break
else:
    sys.exit("no LOCKOUT")' "$JSONL"

expect_exit 0 "audit query --alerts" ctl audit query --alerts
expect_in "$T/out" "LOCKOUT" "... lists the LOCKOUT alert"
ctl --json audit query --alerts > "$T/alerts"
check "... as the thief's refused Get, and only alerts" "$PY" -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
assert recs and all(r["alert"] for r in recs), recs
lo = [r for r in recs if r["alert"] == "LOCKOUT"]
assert len(lo) == 1 and lo[0]["principal"] == "thief" and lo[0]["uid"] == 6101, lo
assert lo[0]["method"] == "io.roster.Clients.Get", lo' "$T/alerts"
ctl --json audit query --principal thief --limit 1000 > "$T/thief.audit"
check "the audit trail agrees: 30 Gets by the thief, 5 records disclosed" "$PY" -c '
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))["records"]
        if r["method"] == "io.roster.Clients.Get"]
assert len(recs) == 30, len(recs)
assert sum(r["records"] for r in recs) == 5, [r["records"] for r in recs]' "$T/thief.audit"

expect_exit 0 "principal list" ctl principal list
check "... shows the thief locked (quota)" grep -Eq '^thief +6101 +thief +no +yes \(quota\) ' "$T/out"
expect_eq "$(probe 6101 get "$ID1")" Locked \
	"re-reading one of the 5 records already read is Locked too (new connection)"
expect_exit 1 "rosterctl client get as the thief" ctl_as 6101 client get "$ID2"
expect_in "$T/err" "io.roster.Locked" "... io.roster.Locked"
expect_exit 0 "principal unlock thief" ctl principal unlock thief
expect_eq "$(probe 6101 get "$ID1" "$ID7")" "ok
ok" "after unlock the thief can Get again (an old and a new record)"
ctl principal list > "$T/plist"
check "... and principal list shows it unlocked" grep -Eq '^thief +6101 +thief +no +no ' "$T/plist"

# --- quota state survives a restart (--no-lock) ---------------------------------
expect_exit 0 "role add hoarder --quota 5/1h --no-lock" \
	ctl role add hoarder --cap clients.get --fields identity --quota 5/1h --no-lock
ctl principal add hoard --uid 6102 --role hoarder
expect_eq "$(probe 6102 get "$ID1" "$ID2" "$ID3" | paste -sd' ' -)" "ok ok ok" \
	"a second principal reads 3 records"
check "SIGTERM exits 0" stop_rosterd
start_rosterd --syslog-socket "$SNG/syslog.sock" --passphrase-file "$PASSFILE"
expect_eq "$(state)" unsealed "rosterd restarts unsealed with --passphrase-file"
probe 6102 get "$ID1" "$ID2" "$ID3" "$ID4" "$ID5" "$ID6" "$ID1" > "$T/hoard"
expect_eq "$(sed -n 1,3p "$T/hoard" | paste -sd' ' -)" "ok ok ok" \
	"after the restart the same 3 records are free to re-read"
expect_eq "$(sed -n 4,5p "$T/hoard" | paste -sd' ' -)" "ok ok" "... 2 new ones are allowed"
expect_eq "$(sed -n 6p "$T/hoard")" QuotaExceeded \
	"... and a 3rd new one is QuotaExceeded: the 3 reads before the restart counted"
expect_eq "$(sed -n 7p "$T/hoard")" ok "... not locked (--no-lock): an old record can still be read"
expect_eq "$(probe 6102 get "$ID8")" QuotaExceeded "... while a new one is still refused"
ctl principal list > "$T/plist"
check "... and principal list shows it unlocked" grep -Eq '^hoard +6102 +hoarder +no +no ' "$T/plist"
expect_eq "$(alerts QUOTA hoard io.roster.Clients.Get)" 2 \
	"each refusal is a QUOTA alert (not LOCKOUT) in syslog-ng's output"
expect_eq "$(alerts LOCKOUT hoard io.roster.Clients.Get)" 0 "... and no LOCKOUT for it"

# --- a principal added again under an old name starts afresh ---------------------------
expect_exit 0 "principal rm hoard (at its quota)" ctl principal rm hoard
expect_exit 0 "principal add hoard again, same uid and role" \
	ctl principal add hoard --uid 6102 --role hoarder
# The old hoard had counted ID1 to ID5; the new one has counted nothing.
expect_eq "$(probe 6102 get "$ID6" "$ID7" "$ID8" "$ID1" "$ID2" "$ID3" | paste -sd' ' -)" \
	"ok ok ok ok ok QuotaExceeded" "... and has a quota of 5 of its own, not the old one's leftovers"
check "SIGTERM exits 0" stop_rosterd
start_rosterd --syslog-socket "$SNG/syslog.sock" --passphrase-file "$PASSFILE"
expect_eq "$(probe 6102 get "$ID1" "$ID3" | paste -sd' ' -)" "ok QuotaExceeded" \
	"... also after a restart (the rebuild from the trail starts at its creation)"

# --- a missing id is NotFound, never a quota matter ----------------------------------
# (Get counts an id against the quota before looking it up, and takes the
# count back when the id does not exist: see method-clients.c.)
expect_exit 0 "role add miser --quota 2/1h --no-lock" \
	ctl role add miser --cap clients.get --fields identity --quota 2/1h --no-lock
ctl principal add miser --uid 6110 --role miser
M1=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
M2=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
M3=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
expect_eq "$(probe 6110 get "$M1" "$M2" "$ID1" "$ID2" "$M3" "$ID3" "$ID1" | paste -sd' ' -)" \
	"NotFound NotFound ok ok NotFound QuotaExceeded ok" \
	"quota 2: two missing ids use none of it, a missing id at the quota is NotFound"

# --- only a Get's NotFound is a guess, live and after an unseal -----------------------
expect_exit 0 "role add deleter --guessing 3/10m (Get and Delete)" \
	ctl role add deleter --cap clients.get,clients.delete --fields identity --guessing 3/10m
ctl principal add deleter --uid 6112 --role deleter
expect_eq "$(probe 6112 delete "$M1" "$M2" | paste -sd' ' -)" "NotFound NotFound" \
	"two Deletes of missing ids: NotFound"
expect_eq "$(probe 6112 get "$M1" | paste -sd' ' -)" NotFound "... a Get of one: NotFound, not locked"
expect_exit 0 "seal" ctl seal
expect_exit 0 "unseal (the guard's counts rebuilt from the trail)" \
	ctl unseal --passphrase-file "$PASSFILE"
expect_eq "$(probe 6112 get "$M2" "$M3" | paste -sd' ' -)" "NotFound NotFound" \
	"... after the unseal its 2nd and 3rd Get misses still answer NotFound: the Deletes were not guesses"
expect_eq "$(probe 6112 get "$M1" | paste -sd' ' -)" Locked "... and the 3rd locked it, as it would have live"

# --- a Search refused for its quota names what it sought ------------------------------
expect_exit 0 "role add peeker --quota 2/1h --no-lock (Search only)" \
	ctl role add peeker --cap clients.search --fields identity --quota 2/1h --no-lock
ctl principal add peeker --uid 6111 --role peeker
expect_eq "$(probe 6111 search "Drill Client 0")" QuotaExceeded \
	"a Search matching 10 clients, with a quota of 2, is refused"
ctl --json audit query --principal peeker --method io.roster.Clients.Search > "$T/peek"
check "... and its record names the 10 ids it sought, none disclosed" "$PY" -c '
import json, sys
rs = json.load(open(sys.argv[1]))["records"]
assert len(rs) == 1, rs
r = rs[0]
assert r["result"] == "denied" and r["error"] == "io.roster.QuotaExceeded", r
want = sorted(c["id"] for c in json.load(open(sys.argv[2]))["clients"]
              if c["name"].startswith("Drill Client 0"))
assert len(want) == 10 and sorted(r["ids"]) == want and r["records"] == 0, (r, want)' \
	"$T/peek" "$T/list"

# --- id guessing ------------------------------------------------------------------
ctl principal add guesser --uid 6103 --role service
watch_alert GUESSING guesser io.roster.Clients.Get
: > "$T/sent"
probe 6103 guess 60 > "$T/guess"
expect_eq "$(wc -l < "$T/guess")" 60 "a service principal asks for 60 random ids"
expect_eq "$(head -20 "$T/guess" | sort -u)" NotFound "... the first 20 are NotFound"
expect_eq "$(tail -n +21 "$T/guess" | sort -u)" Locked "... the 21st onwards are Locked"
if took=$(watch_result 5 "$(sent 20)"); then
	ok "the GUESSING alert is in syslog-ng's output ${took} s after the 20th NotFound"
else
	not_ok "the GUESSING alert is in syslog-ng's output within 5 s of the 20th NotFound ($took)"
fi
expect_eq "$(alerts GUESSING guesser io.roster.Clients.Get)" 1 "... exactly once"
ctl principal list > "$T/plist"
check "principal list shows the guesser locked (guessing)" \
	grep -Eq '^guesser +6103 +service +no +yes \(guessing\) ' "$T/plist"
expect_eq "$(probe 6103 get "$ID1")" Locked "... even an existing record is Locked to it"

# --- canaries ---------------------------------------------------------------------
ctl principal add sup --uid 6104 --role support
NORMAL=$(ctl client add --name "Harbourside Police Service" --kind police --country GB \
	--contact-email desk@harbourside.example --tier gold)
expect_exit 0 "canary add (the options of client add)" \
	ctl canary add --name "Northfield Police Service" --kind police --country GB \
	--contact-email desk@northfield.example --tier gold
CANARY=$(cat "$T/out")
check "... prints an ordinary-looking id (32 hex digits)" \
	sh -c "printf '%s\n' '$CANARY' | grep -Eqx '[0-9a-f]{32}'"
expect_exit 2 "canary add without --kind is a usage error" ctl canary add --name "No Kind"
expect_exit 0 "canary list as root" ctl canary list
check "... header ID NAME KIND COUNTRY STATUS" \
	grep -Eq '^ID +NAME +KIND +COUNTRY +STATUS$' "$T/out"
expect_in "$T/out" "$CANARY" "... lists the canary"
expect_not_in "$T/out" "$NORMAL" "... and not an ordinary client"
ctl --json canary list > "$T/clist"
check "canary list --json has exactly the canary" "$PY" -c '
import json, sys
cs = json.load(open(sys.argv[1]))["clients"]
assert [c["id"] for c in cs] == [sys.argv[2]], cs' "$T/clist" "$CANARY"
ctl role add canwatch --cap admin.principals --fields identity
ctl principal add canwatch --uid 6113 --role canwatch
expect_exit 0 "canary list by a role that sees identity fields only" \
	ctl_as 6113 --json canary list
check "... shows the canary without its contact or tier" "$PY" -c '
import json, sys
cs = json.load(open(sys.argv[1]))["clients"]
assert [c["id"] for c in cs] == [sys.argv[2]], cs
assert cs[0]["name"] == "Northfield Police Service", cs
assert "contact_email" not in cs[0] and "tier" not in cs[0], cs' "$T/out" "$CANARY"
ctl --json audit query --principal canwatch --method io.roster.Admin.CanaryList > "$T/cq"
check "... and its record names the canary it disclosed" "$PY" -c '
import json, sys
rs = json.load(open(sys.argv[1]))["records"]
assert len(rs) == 1 and rs[0]["ids"] == [sys.argv[2]], rs
assert rs[0]["records"] == 1 and rs[0]["fields"] == ["identity"] and rs[0]["alert"] == "", rs' \
	"$T/cq" "$CANARY"
expect_exit 1 "canary list as the support principal" ctl_as 6104 canary list
expect_in "$T/err" "io.roster.PermissionDenied" "... PermissionDenied"
expect_exit 1 "canary add as the support principal" \
	ctl_as 6104 canary add --name "Fake Canary" --kind bank
expect_in "$T/err" "io.roster.PermissionDenied" "... PermissionDenied"

expect_eq "$(alerts CANARY sup io.roster.Clients.Get)" 0 "no CANARY alert for the support principal yet"
NORMAL_KEYS=$(probe 6104 keys "$NORMAL")
watch_alert CANARY sup io.roster.Clients.Get
: > "$T/sent"
CANARY_KEYS=$(probe 6104 keys "$CANARY")
if took=$(watch_result 1 "$(sent 1)"); then
	ok "a canary read reaches syslog-ng as a CANARY alert within 1 s (${took} s)"
else
	not_ok "a canary read reaches syslog-ng as a CANARY alert within 1 s ($took s)"
fi
case $CANARY_KEYS in
parameters\ *) ok "the support principal's Get of the canary succeeds" ;;
*) not_ok "the support principal's Get of the canary succeeds (got '$CANARY_KEYS')" ;;
esac
expect_eq "$CANARY_KEYS" "$NORMAL_KEYS" "... with the same reply keys as an ordinary client's"
ctl_as 6104 --json client get "$CANARY" > "$T/cget"
expect_not_in "$T/cget" "canary" "... and no canary marker anywhere in the reply"
check "the alert names principal, uid, pid, method and the canary's id" "$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("MSGID") == "CANARY" and o.get("principal") == "sup":
        assert o["uid"] == "6104" and int(o["pid"]) > 0, o
        assert o["method"] == "io.roster.Clients.Get" and sys.argv[2] in o["ids"], o
        break
else:
    sys.exit("no CANARY alert")' "$JSONL" "$CANARY"
expect_eq "$(probe 6104 get "$NORMAL")" ok "an ordinary client's Get ..."
settle
expect_eq "$(alerts CANARY sup io.roster.Clients.Get)" 2 "... raises no CANARY alert (only the 2 canary Gets did)"

watch_alert CANARY sup io.roster.Clients.Search
: > "$T/sent"
expect_eq "$(probe 6104 search Northfield)" ok "a search hit on the canary succeeds"
if took=$(watch_result 1 "$(sent 1)"); then
	ok "... and raises a CANARY alert within 1 s (${took} s)"
else
	not_ok "... and raises a CANARY alert within 1 s ($took s)"
fi
expect_eq "$(probe 6104 search Harbourside)" ok "a search without the canary succeeds"
settle
expect_eq "$(alerts CANARY sup io.roster.Clients.Search)" 1 "... and raises no alert"
ctl --json audit query --alerts > "$T/alerts"
check "the canary reads are marked CANARY in the audit trail" "$PY" -c '
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))["records"] if r["alert"] == "CANARY"]
ms = sorted(r["method"] for r in recs if r["principal"] == "sup")
assert ms == ["io.roster.Clients.Get"] * 2 + ["io.roster.Clients.Search"], ms' "$T/alerts"

# --- searches that would enumerate -------------------------------------------------
expect_eq "$(probe 6104 search ab)" "org.varlink.service.InvalidParameter query" \
	"support (no clients.list) searching \"ab\": InvalidParameter, parameter query"
expect_eq "$(probe 6104 search '%%%')" "org.varlink.service.InvalidParameter query" \
	"support searching \"%%%\": InvalidParameter, parameter query"
expect_eq "$(probe 6104 search 'a_%*')" "org.varlink.service.InvalidParameter query" \
	"support searching \"a_%*\": InvalidParameter, parameter query"
expect_exit 1 "rosterctl client search ab as support" ctl_as 6104 client search ab
expect_in "$T/err" "query" "... names the query"
expect_exit 0 "support searching a 3-letter name works" ctl_as 6104 client search Har
expect_in "$T/out" "Harbourside Police Service" "... and finds it"
expect_exit 0 "root may search \"ab\"" ctl client search ab
expect_exit 0 "root may search \"%%%\"" ctl client search '%%%'

# --- role add --guessing ------------------------------------------------------------
expect_exit 0 "role add --guessing 3/1m" \
	ctl role add wary --cap clients.get --fields identity --guessing 3/1m
expect_exit 0 "role show wary" ctl role show wary
expect_in "$T/out" "guessing: 3/60s" "... shows the guessing limit"
expect_exit 1 "role add with a malformed --guessing" \
	ctl role add bad --cap clients.get --guessing 3/1w
expect_in "$T/err" "invalid parameter: guessing" "... InvalidParameter, naming guessing"
ctl principal add wary --uid 6105 --role wary
expect_eq "$(probe 6105 guess 5 | paste -sd' ' -)" "NotFound NotFound NotFound Locked Locked" \
	"a --guessing 3/1m principal is locked after 3 NotFound"

check "SIGTERM exits 0" stop_rosterd
stop_syslog
finish
