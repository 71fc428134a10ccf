#!/bin/sh
# The shipped copy of the audit trail: a real syslog-ng, started by
# scripts/syslog-ng/run with the project's own roster.conf, receives every
# record and checkpoint from rosterd's shipper and writes JSON lines; the
# counts match the calls (denied and malformed ones too); the file verifies
# offline with only the public key, and an edited or deleted line fails,
# naming its sequence number; 100 calls made while syslog-ng is down all
# arrive once it is back; no client name or e-mail is ever in the file.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

need_syslog_ng


# head_seq: the audit chain's last sequence number (this Status is recorded after it).
head_seq() { vl_field io.roster.Admin.Status '{}' parameters.audit_head; }

# shipped FILE: "DISTINCT MAXSEQ CHECKPOINTS" of the records in a shipped file.
shipped() {
	python3 -c '
import json, sys
seqs, cps = set(), set()
try:
    for line in open(sys.argv[1]):
        if line.strip():
            o = json.loads(line)
            (seqs if o["type"] == "record" else cps).add(int(o["seq"]))
except FileNotFoundError:
    pass
print(len(seqs), max(seqs, default=0), len(cps))' "$1"
}

# wait_shipped SEQ: until every record up to SEQ is in the file (at most 30 s).
wait_shipped() {
	for _ in $(seq 1 300); do
		# $2 distinct records, $3 the highest seq: all there when they agree.
		set -- "$1" $(shipped "$JSONL")
		if [ "$3" -ge "$1" ] && [ "$2" -eq "$3" ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "# not shipped within 30 s: wanted $1, have $(shipped "$JSONL")"
	return 1
}

check "syslog-ng starts with the project's fragment" start_syslog
start_rosterd --syslog-socket "$SNG/syslog.sock"
vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > /dev/null
expect_eq "$(state)" unsealed "rosterd with --syslog-socket initialises"
# An admin tells the threads apart by name (top -H, rosterd(8)).
cat /proc/"$ROSTERD_PID"/task/*/comm > "$T/threads" 2>/dev/null || true
expect_in "$T/threads" rosterd-audit "the audit writer thread is named rosterd-audit"
expect_in "$T/threads" rosterd-ship "the shipper thread is named rosterd-ship"
chmod 0755 "$RUN"

NAME="Shipping Test Constabulary"
EMAIL="ship-secret@constabulary.example"
ID=$(ctl client add --name "$NAME" --kind police --country DE --contact-email "$EMAIL" \
	--contact-phone "+49 30 1234567" --notes "never in a log")

# --- counts match calls -------------------------------------------------------
before=$(head_seq)
n=0
call() { vl "$@" > /dev/null; n=$((n + 1)); }
call io.roster.Clients.Get "{\"id\":\"$ID\"}"                                      # ok
call io.roster.Clients.Get '{"id":"0123456789abcdef0123456789abcdef"}'              # not_found
call io.roster.Clients.Get '{"id":"nope"}'                                         # invalid
call io.roster.Clients.Nope                                                        # no such method
call io.roster.Clients.Search "{\"query\":\"Shipping\"}"                           # ok
call io.roster.Clients.Update "{\"id\":\"$ID\",\"changes\":{\"tier\":\"x\"},\"version\":9}"  # conflict
call io.roster.Clients.List '{"limit":5}'                                          # ok
# Malformed: not JSON, and a method name full of quotes, backslashes and escapes.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"{not json\0"); s.recv(4096)' "$SOCK"
n=$((n + 1))
call "io.roster.Clients.G'et\\\"x\\n%41=1, result='ok'"
denied=0
if [ "$(id -u)" -eq 0 ]; then
	# A caller that is no principal: denied.
	setpriv --reuid 5999 --regid 0 --clear-groups /usr/bin/python3 \
		"$ROSTER_SRCDIR/tests/e2e/varlink.py" "$SOCK" io.roster.Clients.Get "{\"id\":\"$ID\"}" > "$T/denied"
	n=$((n + 1))
	denied=1
	expect_in "$T/denied" "PermissionDenied" "a caller that is no principal is denied"
else
	echo "# (no denied call: that needs root to run a caller under another uid)"
fi
after=$(head_seq)
expect_eq $((after - before)) $((n + 1)) "$n calls and the Status that counted them are $((n + 1)) records"
check "every record reaches the shipped file" wait_shipped "$after"

python3 -c '
import json, sys
lo, hi, denied = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
recs = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["type"] == "record" and lo < int(o["seq"]) <= hi:
        recs[int(o["seq"])] = o
assert sorted(recs) == list(range(lo + 1, hi + 1)), sorted(recs)
results = sorted(r["result"] for r in recs.values())
for want in ["ok", "not_found", "invalid", "error"] + (["denied"] if denied else []):
    assert want in results, (want, results)
assert any(r["error"] == "io.roster.ProtocolError" for r in recs.values()), "malformed frame"
print(len(recs))' "$JSONL" "$before" "$after" "$denied" > "$T/counted" 2> "$T/counted.err" \
	&& ok "the shipped records of these calls are all there, with their results" \
	|| { not_ok "the shipped records of these calls"; sed 's/^/#   /' "$T/counted.err"; }

check "every line is an RFC 5424 message from rosterd, facility authpriv" python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["PROGRAM"] == "rosterd" and o["FACILITY"] == "authpriv", o
    assert o["MSGID"] == ("AUDIT" if o["type"] == "record" else "CHECKPOINT"), o
    assert o["PRIORITY"] == "info", o' "$JSONL"

# The shipped records are the daemon's: same hashes.
ctl --json audit query --limit 1000 > "$T/q"
check "the shipped records carry the database's hashes" python3 -c '
import json, sys
db = {r["seq"]: r["hash"] for r in json.load(open(sys.argv[2]))["records"]}
shipped = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["type"] == "record":
        shipped[int(o["seq"])] = o["hash"]
common = set(db) & set(shipped)
assert len(common) >= int(sys.argv[3]), (len(common), sys.argv[3])
bad = [s for s in common if db[s] != shipped[s]]
assert not bad, bad' "$JSONL" "$T/q" "$after"

# --- offline verification -------------------------------------------------------
ctl audit pubkey > "$T/pubkey"
expect_exit 0 "audit checkpoint" ctl audit checkpoint
cp_seq=$(head_seq)
check "the checkpoint reaches the shipped file" wait_shipped "$cp_seq"
for _ in $(seq 1 100); do
	set -- $(shipped "$JSONL")
	[ "$3" -ge 1 ] && break
	sleep 0.1
done
check "a checkpoint line is in the file" test "$(shipped "$JSONL" | cut -d' ' -f3)" -ge 1
cp "$JSONL" "$T/good.jsonl"
expect_exit 0 "the shipped file verifies offline" \
	ctl audit verify --log "$T/good.jsonl" --pubkey "$T/pubkey"
expect_in "$T/out" "ok:" "... and says ok"
expect_exit 0 "verify --json" ctl --json audit verify --log "$T/good.jsonl" --pubkey "$T/pubkey"
check "... counts records and the checkpoint" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["ok"] and v["records"] >= int(sys.argv[2]) and v["checkpoints"] >= 1, v' "$T/out" "$after"

# One field of one record changed.
victim=$((before + 3))
python3 -c '
import json, sys
out = []
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["type"] == "record" and o["seq"] == sys.argv[3]:
        o["result"] = "ok"; o["error"] = ""
        line = json.dumps(o) + "\n"
    out.append(line)
open(sys.argv[2], "w").writelines(out)' "$T/good.jsonl" "$T/edited.jsonl" "$victim"
expect_exit 1 "an edited line fails verification" \
	ctl audit verify --log "$T/edited.jsonl" --pubkey "$T/pubkey"
expect_in "$T/out" "first bad seq: $victim" "... naming the edited record's seq ($victim)"
ctl --json audit verify --log "$T/edited.jsonl" --pubkey "$T/pubkey" > "$T/ej" || true
check "... as an edit" python3 -c '
import json, sys
v = json.load(open(sys.argv[1])); assert v["problem"] == "edited" and v["first_bad"] == int(sys.argv[2]), v' \
	"$T/ej" "$victim"

# One line deleted.
victim=$((before + 5))
grep -v "\"seq\":\"$victim\",\|\"seq\":\"$victim\"}" "$T/good.jsonl" > "$T/deleted.jsonl" || true
check "... (the deleted line is gone)" test "$(wc -l < "$T/deleted.jsonl")" -lt "$(wc -l < "$T/good.jsonl")"
expect_exit 1 "a deleted line fails verification" \
	ctl audit verify --log "$T/deleted.jsonl" --pubkey "$T/pubkey"
expect_in "$T/out" "first bad seq: $victim" "... naming the missing record's seq ($victim)"

# Two lines swapped.
python3 -c '
import sys
lines = open(sys.argv[1]).readlines()
i = next(k for k, l in enumerate(lines) if "\"seq\":\"%s\"" % sys.argv[3] in l and "\"record\"" in l)
lines[i], lines[i + 1] = lines[i + 1], lines[i]
open(sys.argv[2], "w").writelines(lines)' "$T/good.jsonl" "$T/swapped.jsonl" "$((before + 2))"
expect_exit 1 "reordered lines fail verification" \
	ctl audit verify --log "$T/swapped.jsonl" --pubkey "$T/pubkey"
expect_in "$T/out" "out of order" "... saying so"

head -c 64 /dev/zero | tr '\0' 'a' > "$T/otherkey"
expect_exit 1 "another public key fails verification" \
	ctl audit verify --log "$T/good.jsonl" --pubkey "$T/otherkey"
expect_exit 2 "--log without --pubkey is a usage error" ctl audit verify --log "$T/good.jsonl"
mkdir "$T/adir"
expect_exit 1 "a directory given as the log is refused" ctl audit verify --log "$T/adir" --pubkey "$T/pubkey"
expect_in "$T/err" "Is a directory" "... saying so, not \"Input/output error\""
expect_exit 1 "a directory given as the key file is refused" \
	ctl audit verify --log "$T/good.jsonl" --pubkey "$T/adir"
expect_in "$T/err" "Is a directory" "... saying so"

# --- an outage of syslog-ng -------------------------------------------------------
stop_syslog KILL
expect_eq "$(vl_field io.roster.Admin.Status '{}' parameters.state)" unsealed \
	"rosterd keeps serving while syslog-ng is down"
start=$(date +%s)
python3 -c '
import sys
sys.path.insert(0, sys.argv[3])
from varlink import Conn
c = Conn(sys.argv[1])
for _ in range(100):
    r = c.call("io.roster.Clients.Get", {"id": sys.argv[2]})
    assert "parameters" in r, r' "$SOCK" "$ID" "$ROSTER_SRCDIR/tests/e2e"
took=$(( $(date +%s) - start ))
check "100 calls during the outage are answered at once (took ${took} s)" test "$took" -le 10
outage_head=$(head_seq)
sleep 1
check "syslog-ng restarts" start_syslog
check "all 100 calls made during the outage arrive after it" wait_shipped "$outage_head"
ctl audit checkpoint > /dev/null
wait_shipped "$(head_seq)" || true
sleep 0.5
expect_exit 0 "the file still verifies (re-deliveries are recognised)" \
	ctl audit verify --log "$JSONL" --pubkey "$T/pubkey"

# A rosterd restart continues from the persisted cursor.
check "SIGTERM exits 0" stop_rosterd
start_rosterd --syslog-socket "$SNG/syslog.sock" --passphrase-file "$PASSFILE"
ctl client get "$ID" > /dev/null
h=$(head_seq)
check "after a restart, shipping continues" wait_shipped "$h"
expect_exit 0 "... and the file verifies" ctl audit verify --log "$JSONL" --pubkey "$T/pubkey"

# --- what never leaves ------------------------------------------------------------
expect_not_in "$JSONL" "$NAME" "no client name in the shipped file"
expect_not_in "$JSONL" "$EMAIL" "no client e-mail in the shipped file"
expect_not_in "$JSONL" "never in a log" "no client notes in the shipped file"
expect_not_in "$JSONL" "$PASSPHRASE" "no passphrase in the shipped file"

# A clean stop signs the head and ships it before it exits: no unsigned
# tail, even for calls made just before it.
for _ in 1 2 3; do ctl client get "$ID" > /dev/null; done
check "SIGTERM exits 0" stop_rosterd
# (syslog-ng writes what it received a moment later: poll for it.)
signed_to_the_end() {
	for _ in $(seq 50); do
		ctl audit verify --log "$JSONL" --pubkey "$T/pubkey" --max-unsigned 0 > /dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	ctl audit verify --log "$JSONL" --pubkey "$T/pubkey" --max-unsigned 0 | sed 's/^/# /'
	return 1
}
check "after a clean stop the file verifies with --max-unsigned 0" signed_to_the_end

# The same with syslog-ng slow at that moment (frozen for 0.3 s around the
# stop): the delivery under way goes on, for up to a second.
start_rosterd --syslog-socket "$SNG/syslog.sock" --passphrase-file "$PASSFILE"
ctl client get "$ID" > /dev/null
wait_shipped "$(head_seq)" || true
kill -STOP "$SNG_PID"
for _ in 1 2 3; do ctl client get "$ID" > /dev/null; done
sleep 0.2
(sleep 0.3; kill -CONT "$SNG_PID") &
CONT=$!
check "SIGTERM exits 0 while syslog-ng is frozen" stop_rosterd
wait "$CONT" || true
check "... and the copy still ends with the stop's checkpoint" signed_to_the_end
# Without its checkpoints the same records prove nothing.
grep -v '"type":"checkpoint"' "$JSONL" > "$T/nocp.jsonl"
expect_exit 1 "... and without its checkpoints it fails as unsigned" \
	ctl audit verify --log "$T/nocp.jsonl" --pubkey "$T/pubkey"
stop_syslog TERM
finish
