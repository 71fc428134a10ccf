#!/bin/sh
# The audit trail: every call — allowed, denied, malformed, not found,
# unauthenticated — is one record; the chain verifies; records hold ids,
# never field values; group commit serves many calls per batch; and when
# the trail cannot be written, calls fail with io.roster.AuditUnavailable
# and nothing is answered or changed unaudited.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

# head: the audit chain's last sequence number.
head_seq() { vl_field io.roster.Admin.Status '{}' parameters.audit_head; }

init_registry
ID=$(ctl client add --name "Audit Trail Police" --kind police --country NL --contact-email "x@y.example")
before=$(head_seq)

# Ten calls of different outcomes, each one record.
vl io.roster.Clients.Get "{\"id\":\"$ID\"}" > /dev/null                              # ok
vl io.roster.Clients.Get '{"id":"0123456789abcdef0123456789abcdef"}' > /dev/null      # not_found
vl io.roster.Clients.Get '{"id":"nope"}' > /dev/null                                 # invalid
vl io.roster.Clients.Nope > /dev/null                                                # invalid (method)
vl io.roster.Clients.Search '{"query":"Audit"}' > /dev/null                          # ok
vl io.roster.Clients.Update "{\"id\":\"$ID\",\"changes\":{\"tier\":\"x\"},\"version\":9}" > /dev/null  # conflict: error
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"{not json\0"); s.recv(4096)' "$SOCK"  # malformed
vl io.roster.Clients.Delete '{"id":"0123456789abcdef0123456789abcdef"}' > /dev/null   # not_found
vl io.roster.Admin.Status > /dev/null                                                # ok
vl io.roster.Clients.List '{"limit":5}' > /dev/null                                  # ok
after=$(head_seq)
# The Status that reads "after" is itself recorded, after the read: 10 calls between.
expect_eq $((after - before)) 11 "ten calls plus the Status that counted them are 11 records"

ctl --json audit query --limit 1000 > "$T/q"
check "every outcome is recorded with the right result" python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
by = [(r["method"], r["result"], r["error"]) for r in recs]
need = [
  ("io.roster.Clients.Get", "ok", ""),
  ("io.roster.Clients.Get", "not_found", "io.roster.NotFound"),
  ("io.roster.Clients.Get", "invalid", "org.varlink.service.InvalidParameter"),
  ("io.roster.Clients.Nope", "invalid", "org.varlink.service.MethodNotFound"),
  ("io.roster.Clients.Search", "ok", ""),
  ("io.roster.Clients.Update", "error", "io.roster.Conflict"),
  ("", "invalid", "io.roster.ProtocolError"),
  ("io.roster.Clients.Delete", "not_found", "io.roster.NotFound"),
]
missing = [n for n in need if n not in by]
assert not missing, missing' "$T/q"
check "a Get records the id, the records returned and the field classes disclosed" python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
g = [r for r in recs if r["method"] == "io.roster.Clients.Get" and r["result"] == "ok"][0]
assert g["ids"] == [sys.argv[2]] and g["records"] == 1, g
assert g["fields"] == ["identity", "contact", "commercial", "internal"], g
assert g["principal"] == "bootstrap" and g["uid"] == 0 or g["uid"] > 0, g
assert len(g["hash"]) == 64 and len(g["prev_hash"]) == 64, g' "$T/q" "$ID"
check "sequence numbers have no gaps" python3 -c '
import json, sys
seqs = [r["seq"] for r in json.load(open(sys.argv[1]))["records"]]
assert seqs == list(range(1, len(seqs) + 1)), seqs[:20]' "$T/q"

expect_exit 0 "audit query --client finds who touched a client" ctl --json audit query --client "$ID"
check "... the create, the get, the search, the list and the update" python3 -c '
import json, sys
ms = sorted(set(r["method"] for r in json.load(open(sys.argv[1]))["records"]))
assert ms == ["io.roster.Clients.Create", "io.roster.Clients.Get", "io.roster.Clients.List",
              "io.roster.Clients.Search", "io.roster.Clients.Update"], ms' "$T/out"
# An import's one record names every new client, found by client whether the
# client still exists or has been deleted since (the record that created a
# client is noted in its row, not in an index row per client).
printf '%s\n' '{"name": "Audit Import A", "kind": "bank"}' '{"name": "Audit Import B", "kind": "bank"}' \
	> "$T/imp.jsonl"
ctl --json client import "$T/imp.jsonl" > "$T/imp"
IA=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ids"][0])' "$T/imp")
IB=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ids"][1])' "$T/imp")
ctl client rm "$IA" > /dev/null
expect_exit 0 "audit query --client of an imported client" ctl --json audit query --client "$IB"
check "... finds its Import, naming both new clients" python3 -c '
import json, sys
rs = json.load(open(sys.argv[1]))["records"]
assert [r["method"] for r in rs] == ["io.roster.Clients.Import"], rs
assert rs[0]["ids"] == sys.argv[2:], rs' "$T/out" "$IA" "$IB"
expect_exit 0 "audit query --client of an imported client since deleted" ctl --json audit query --client "$IA"
check "... finds its Import and its Delete" python3 -c '
import json, sys
ms = [r["method"] for r in json.load(open(sys.argv[1]))["records"]]
assert ms == ["io.roster.Clients.Import", "io.roster.Clients.Delete"], ms' "$T/out"
expect_exit 0 "audit query --result not_found" ctl --json audit query --result not_found
check "... exactly the two not_found calls" python3 -c '
import json, sys; assert len(json.load(open(sys.argv[1]))["records"]) == 2' "$T/out"
# A time filter is the instant it names, to the microsecond, both ends included;
# the epoch (0) is a time like any other, not "no filter".
T3=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][2]["time"])' "$T/q")
expect_exit 0 "audit query --since and --until a record's own time" \
	ctl --json audit query --since "$T3" --until "$T3"
check "... finds that record and only records of that microsecond" python3 -c '
import json, sys
rs = json.load(open(sys.argv[1]))["records"]
assert 3 in [r["seq"] for r in rs] and all(r["time"] == sys.argv[2] for r in rs), (sys.argv[2], rs)' \
	"$T/out" "$T3"
expect_exit 0 "audit query --until 0" ctl --json audit query --until 0
check "... finds nothing" python3 -c '
import json, sys; assert json.load(open(sys.argv[1]))["records"] == []' "$T/out"
expect_exit 1 "a time whose fraction has no digits is refused" \
	ctl audit query --since 2026-11-26T00:00:00.Z
expect_in "$T/err" "since" "... naming the parameter"
expect_exit 1 "an impossible date is refused, not moved on to March" \
	ctl audit query --until 2026-02-31T00:00:00Z
expect_in "$T/err" "until" "... naming the parameter"
# A misspelt result would otherwise match nothing, and read as "there were none".
expect_exit 1 "an unknown --result is refused" ctl audit query --result denid
expect_in "$T/err" "result" "... naming the parameter"
expect_exit 0 "audit query (table)" ctl audit query --method io.roster.Clients.Get
expect_in "$T/out" "not_found" "the table shows results"
expect_exit 0 "audit export" ctl audit export --out "$T/export.jsonl"
expect_eq "$(stat -c %a "$T/export.jsonl")" 600 "the export file is created 0600"
expect_exit 1 "audit export refuses to overwrite a file" ctl audit export --out "$T/export.jsonl"
# A failed export leaves no file: neither a partial copy that looks whole,
# nor an empty one that makes the corrected retry fail with "File exists".
expect_exit 1 "audit export with a bad filter fails" ctl audit export --out "$T/bad.jsonl" --since garbage
check "... and leaves no file behind" test ! -e "$T/bad.jsonl"
expect_exit 0 "... so the corrected export can be run at once" \
	ctl audit export --out "$T/bad.jsonl" --result denied

expect_not_in "$T/export.jsonl" "Audit Trail Police" "no client name in the trail"
expect_not_in "$T/export.jsonl" "x@y.example" "no client e-mail in the trail"
expect_not_in "$T/export.jsonl" "$PASSPHRASE" "no passphrase in the trail"

expect_exit 0 "audit verify passes" ctl audit verify
expect_in "$T/out" "ok: yes" "verify says ok"
expect_exit 0 "audit checkpoint" ctl audit checkpoint
ctl --json audit verify > "$T/v"
check "the checkpoint is counted by verify" python3 -c '
import json, sys; v = json.load(open(sys.argv[1])); assert v["ok"] and v["checkpoints"] >= 1, v' "$T/v"
expect_exit 0 "audit pubkey" ctl audit pubkey
check "the public key is 64 hex digits" sh -c "grep -Eqx '[0-9a-f]{64}' '$T/out'"

# Sealed calls are recorded when the registry is next unsealed.
ctl seal > /dev/null
vl io.roster.Clients.Get "{\"id\":\"$ID\"}" > /dev/null
ctl unseal --passphrase-file "$PASSFILE" > /dev/null
ctl --json audit query --result error --method io.roster.Clients.Get > "$T/sealed"
check "a call refused while sealed is on the record after unseal" python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
assert any(r["error"] == "io.roster.Sealed" for r in recs), recs' "$T/sealed"
expect_exit 0 "the chain still verifies after seal and unseal" ctl audit verify

# Streams whose callers hang up before the stream's record is committed:
# nothing may be left running for them. (A backup left so held
# backup_busy, refusing every later backup and key operation; a follower
# was pumped at every commit for good. The sanitizer build's SIGTERM below
# also fails on what they leaked.)
python3 - "$SOCK" <<'PY'
import json, socket, sys, time
for method in ["io.roster.Audit.Tail", "io.roster.Admin.Backup", "io.roster.Clients.Export"]:
    for i in range(20):
        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
        s.sendall(json.dumps({"method": method, "parameters": {}, "more": True}).encode() + b"\0")
        s.close()
    time.sleep(0.3)
PY
expect_exit 0 "a backup after 20 callers hung up on theirs" ctl backup create "$T/after-hangups.bk"
# One follower hangs up as another's Tail is committed, under load: each run
# of followers has its own timer, never one still closing (which aborted
# the daemon in libuv: "uv__finish_close: Assertion ... CLOSING failed").
check "followers coming and going under load leave the daemon up" python3 - "$SOCK" "$ROSTERD_PID" <<'PY'
import json, os, random, socket, sys, threading, time
sock, pid = sys.argv[1], int(sys.argv[2])
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(sock); return s
def send(s, method, more=False):
    m = {"method": method, "parameters": {}}
    if more:
        m["more"] = True
    s.sendall(json.dumps(m).encode() + b"\0")
stop = False
def load():
    s = conn()
    while not stop:
        send(s, "io.roster.Admin.Status")
        buf = b""
        while not buf.endswith(b"\0"):
            buf += s.recv(65536)
threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
for t in threads:
    t.start()
end = time.monotonic() + 5
while time.monotonic() < end:
    a = conn(); send(a, "io.roster.Audit.Tail", True)
    time.sleep(0.002)
    b = conn(); send(b, "io.roster.Audit.Tail", True)
    time.sleep(random.random() * 0.002)
    a.close()
    time.sleep(0.002)
    b.close()
    os.kill(pid, 0)
stop = True
for t in threads:
    t.join(10)
os.kill(pid, 0)
PY

# Restart: the chain continues and verifies.
check "SIGTERM exits 0" stop_rosterd
start_rosterd --passphrase-file "$PASSFILE"
expect_exit 0 "after a restart the chain verifies" ctl audit verify

# Group commit: 8 concurrent clients, 200 Gets each; far fewer batches than records.
b0=$(vl_field io.roster.Admin.Status '{}' parameters.audit_batches)
r0=$(vl_field io.roster.Admin.Status '{}' parameters.audit_records)
python3 -c '
import sys, threading
sys.path.insert(0, sys.argv[3])
from varlink import Conn
def worker():
    c = Conn(sys.argv[1])
    for _ in range(200):
        r = c.call("io.roster.Clients.Get", {"id": sys.argv[2]})
        assert "parameters" in r, r
ts = [threading.Thread(target=worker) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]' "$SOCK" "$ID" "$ROSTER_SRCDIR/tests/e2e"
b1=$(vl_field io.roster.Admin.Status '{}' parameters.audit_batches)
r1=$(vl_field io.roster.Admin.Status '{}' parameters.audit_records)
echo "# group commit: $((r1 - r0)) records in $((b1 - b0)) batches"
check "1600 concurrent calls were committed in fewer than 1600 batches" test $((b1 - b0)) -lt $((r1 - r0))

# Fail closed: on a full disk, calls get AuditUnavailable and change nothing.
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=3m tmpfs "$T/small"; then
	UNMOUNT="$T/small"
	stop_rosterd
	mkdir -m 700 "$T/small/state"
	STATE_SAVE=$STATE; STATE="$T/small/state"
	start_rosterd
	vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > /dev/null
	FID=$(ctl client add --name "Before The Disk Filled" --kind bank)
	# Fill the file system, leaving nothing for the WAL to grow into.
	dd if=/dev/zero of="$T/small/filler" bs=64k 2> /dev/null || true
	fails=0
	i=0
	while [ $i -lt 40 ]; do
		out=$(vl io.roster.Clients.Create "{\"client\":{\"name\":\"Filler $i\",\"kind\":\"bank\",\"notes\":\"$(printf '%03000d' 0)\"}}")
		case $out in *AuditUnavailable*) fails=$((fails + 1)) ;; esac
		i=$((i + 1))
	done
	check "with the disk full, calls are answered io.roster.AuditUnavailable" test "$fails" -gt 0
	out=$(vl io.roster.Clients.Get "{\"id\":\"$FID\"}")
	case $out in
	*AuditUnavailable*) ok "a read on a full disk is refused: no answer without its record" ;;
	*'"client"'*) not_ok "a read on a full disk was answered (it must not be without a record)" ;;
	*) not_ok "unexpected answer on a full disk: $out" ;;
	esac
	# The emergency brake never fails: with no room for its record, Seal still seals.
	set +e
	ctl seal > /dev/null 2>&1
	set -e
	expect_eq "$(state)" sealed "with the disk full, seal still seals the registry"
	rm -f "$T/small/filler"
	expect_exit 0 "unseal once space returns" ctl unseal --passphrase-file "$PASSFILE"
	expect_exit 0 "after space returns, calls work again" ctl client get "$FID"
	ctl --json client search Filler > "$T/f"
	created=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["clients"]))' "$T/f")
	ctl --json audit query --method io.roster.Clients.Create --result ok --limit 1000 > "$T/fq"
	audited=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["records"]))' "$T/fq")
	# One Create ok record is the first client's, made before the disk filled.
	expect_eq "$created" "$((audited - 1))" "every client that exists has its Create record, and no other"
	expect_exit 0 "the chain verifies after the failures" ctl audit verify
	stop_rosterd
	STATE=$STATE_SAVE
	umount "$T/small" && UNMOUNT=
else
	echo "# SKIP: the full-disk check needs root to mount a small tmpfs"
fi

# The WAL removed under the daemon (taken for a stray file): SQLite would go
# on writing to the unlinked file, and everything since its last copy into
# the database would be gone at the next start. The writer sees it after
# its next commit, copies the WAL into the database and seals the registry.
start_rosterd --passphrase-file "$PASSFILE"
W1=$(ctl client add --name "Before The Removal" --kind bank)
rm "$STATE/roster.db-wal"
set +e
W2=$(ctl client add --name "After The Removal" --kind bank 2> "$T/w2.err")
w2=$?
set -e
for _ in $(seq 50); do [ "$(state)" = sealed ] && break; sleep 0.1; done
expect_eq "$(state)" sealed "a removed WAL file seals the registry at the next commit"
expect_in "$LOG" "ALERT STORAGE" "... with an alert in the daemon's log"
# A crash now: what was acknowledged must be in the database file itself.
kill -KILL "$ROSTERD_PID"
wait "$ROSTERD_PID" 2> /dev/null || true
ROSTERD_PID=
start_rosterd --passphrase-file "$PASSFILE"
expect_exit 0 "after a crash, the client added before the removal is there" ctl client get "$W1"
if [ "$w2" -eq 0 ]; then
	expect_exit 0 "... and so is the one acknowledged after it" ctl client get "$W2"
else
	ok "... the call after it was refused ($(cat "$T/w2.err")), so nothing to find"
fi
expect_exit 0 "... and the chain verifies" ctl audit verify
# The same on an idle daemon: no call comes after the removal, and the
# writer's own tick finds it (no Status here: a call would commit).
W3=$(ctl client add --name "Before An Idle Removal" --kind bank)
alerts=$(grep -c "ALERT STORAGE" "$LOG" || true)
rm "$STATE/roster.db-wal"
for _ in $(seq 50); do [ "$(grep -c "ALERT STORAGE" "$LOG")" -gt "$alerts" ] && break; sleep 0.1; done
check "a WAL removed while no call comes is found within seconds" \
	test "$(grep -c "ALERT STORAGE" "$LOG")" -gt "$alerts"
kill -KILL "$ROSTERD_PID"
wait "$ROSTERD_PID" 2> /dev/null || true
ROSTERD_PID=
start_rosterd --passphrase-file "$PASSFILE"
expect_exit 0 "... and after a crash the client acknowledged before it is there" ctl client get "$W3"
expect_exit 0 "... and the chain verifies" ctl audit verify
stop_rosterd
finish
