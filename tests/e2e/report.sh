#!/bin/sh
# The incident scope report (issue 9), from a scripted incident against the
# real daemon, a real syslog-ng receiving the audit trail, and callers under
# other uids (setpriv):
#   - etl, a service principal with a quota of 5, asks for 10 records: 5
#     are disclosed, the 6th is refused and locks it (LOCKOUT), 4 Locked;
#   - a guesser asks for 25 random ids: 20 NotFound lock it (GUESSING),
#     5 Locked;
#   - a support principal reads a canary (CANARY) and two clients;
#   - web, an ordinary service, reads 3 clients and one of them again.
# The report's JSON must give exactly these figures; the shipped copy must
# match the database; an edited or shortened shipped copy must make the
# report's first line say FAILED, and so must a record rewritten in the
# database with the sqlcipher CLI; names are shown to an admin only; the
# HTML must be self-contained, escaped, created 0600, and render in
# headless Chromium, whose screenshots are kept as test artefacts in
# $ROSTER_ARTEFACTS (default: tests/artefacts under the directory the
# test runs in, i.e. the build directory under "make check"): report.html
# and report.png (intact), tampered.html and tampered.png (the database
# rewritten). "make clean" removes them.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

need_root "principals are bound to uids"
need_syslog_ng
ARTEFACTS=${ROSTER_ARTEFACTS:-$PWD/tests/artefacts}


PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
as() { u=$1; shift; setpriv --reuid "$u" --regid 0 --clear-groups "$@"; }
ctl_as() { u=$1; shift; as "$u" "$ROSTERCTL" --socket "$SOCK" "$@"; }

# probe UID get ID... | guess N: raw Gets as UID on one connection, one outcome a line.
PROBE="$T/probe.py"
cat > "$PROBE" << 'EOF'
import os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.environ["E2E_DIR"])
from varlink import Conn
c = Conn(sys.argv[1])
def get(i):
    r = c.call("io.roster.Clients.Get", {"id": i})
    e = (r or {}).get("error")
    print("closed" if r is None else "ok" if e is None else e.replace("io.roster.", ""), flush=True)
if sys.argv[2] == "get":
    for i in sys.argv[3:]:
        get(i)
else:
    for _ in range(int(sys.argv[3])):
        get(os.urandom(16).hex())
EOF
probe() { u=$1; shift; as "$u" env E2E_DIR="$ROSTER_SRCDIR/tests/e2e" "$PY" "$PROBE" "$SOCK" "$@"; }

# settle: until syslog-ng's file holds every record committed so far,
# including that of the Status call that asks (audit_head + 1), so that
# nothing is left in flight for a copy taken next.
settle() {
	"$PY" -c '
import json, sys, time
head, deadline = int(sys.argv[2]), time.time() + 10
while time.time() < deadline:
    try:
        if any(json.loads(l).get("type") == "record" and int(json.loads(l)["seq"]) >= head
               for l in open(sys.argv[1])):
            sys.exit(0)
    except (FileNotFoundError, ValueError):
        pass
    time.sleep(0.05)
sys.exit("record %d was not shipped within 10 s" % head)' "$JSONL" \
		"$(($(vl_field io.roster.Admin.Status '{}' parameters.audit_head) + 1))"
}

# jcheck DESCRIPTION FILE CODE [ARG...]: Python assertions (CODE) over the JSON
# document in FILE, loaded as r; the ARGs are sys.argv[2:].
jcheck() {
	desc=$1; file=$2; code=$3; shift 3
	check "$desc" "$PY" -c "
import json, sys
r = json.load(open(sys.argv[1]))
$code" "$file" "$@"
}

check "syslog-ng starts with the project's fragment" start_syslog
start_rosterd --syslog-socket "$SNG/syslog.sock"
vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > /dev/null
expect_eq "$(state)" unsealed "rosterd with --syslog-socket initialises"
chmod 0755 "$RUN"

# --- set-up (before the incident's time window) -----------------------------------
"$PY" -c '
for i in range(30):
    print("{\"name\": \"Report Client %02d\", \"kind\": \"bank\", \"country\": \"%s\"}"
          % (i, ["NL", "DE", "FR"][i % 3]))' > "$T/clients.jsonl"
expect_exit 0 "import 30 clients" ctl client import "$T/clients.jsonl"
ctl --json client list --limit 100 > "$T/list"
"$PY" -c '
import json, sys
cs = sorted((c["name"], c["id"]) for c in json.load(open(sys.argv[1]))["clients"])
print("\n".join(i for _, i in cs))' "$T/list" > "$T/ids"
id() { sed -n "${1}p" "$T/ids"; }
# A client whose name would be markup if it were not escaped.
XSS=$(ctl client add --name 'Evil <img src=x onerror=alert(1)> & Co' --kind other --country GB)
CANARY=$(ctl canary add --name "Northfield Police Service" --kind police --country GB \
	--contact-email desk@northfield.example)
ctl role add etl --cap clients.get --fields identity --quota 5/1h
ctl principal add etl --uid 6301 --role etl
ctl principal add guesser --uid 6302 --role service
ctl principal add sup --uid 6303 --role support
ctl principal add web --uid 6304 --role service
ctl principal add auditor --uid 6305 --role auditor
sleep 1
SINCE=$(date +%s)

# --- the incident -------------------------------------------------------------------
probe 6304 get "$(id 1)" "$(id 2)" > "$T/web1"                             # normal traffic
probe 6301 get "$(id 1)" "$XSS" "$(id 3)" "$(id 4)" "$(id 5)" "$(id 6)" "$(id 7)" "$(id 8)" \
	"$(id 9)" "$(id 10)" > "$T/etl"
expect_eq "$(paste -sd' ' "$T/etl")" "ok ok ok ok ok QuotaExceeded Locked Locked Locked Locked" \
	"etl (quota 5) gets 5 of 10, is refused the 6th and locked"
probe 6302 guess 25 > "$T/guess"
expect_eq "$(sort "$T/guess" | uniq -c | awk '{print $1 $2}' | paste -sd' ' -)" "5Locked 20NotFound" \
	"the guesser gets 20 NotFound and is locked for the last 5"
probe 6303 get "$CANARY" "$(id 20)" "$(id 21)" > "$T/sup"
expect_eq "$(paste -sd' ' "$T/sup")" "ok ok ok" "support reads the canary and two clients"
probe 6304 get "$(id 25)" "$(id 1)" > "$T/web2"                            # normal traffic
expect_eq "$(cat "$T/web1" "$T/web2" | paste -sd' ' -)" "ok ok ok ok" "web reads 3 clients, one twice"
sleep 1
UNTIL=$(date +%s)
sleep 1

ctl audit pubkey > "$T/pubkey"
ctl audit checkpoint
settle || true

# --- the report, as JSON -------------------------------------------------------------
expect_exit 0 "audit report --format json (admin, with the shipped copy)" \
	ctl audit report --since "$SINCE" --until "$UNTIL" --format json --log "$JSONL" --pubkey "$T/pubkey"
cp "$T/out" "$T/r.json"
check "the report is valid JSON with a top-level integrity verdict" \
	"$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["integrity"]["verdict"] == "intact", r["integrity"]' "$T/r.json"
jcheck "the shipped copy verifies and matches the database: nothing missing or different" "$T/r.json" '
s = r["integrity"]["shipped"]
assert s["ok"] and s["missing_in_log_count"] == 0 and s["missing_in_database_count"] == 0, s
assert s["differing_count"] == 0 and s["compared_through"] == r["scope"]["head_seq"], s
assert r["integrity"]["database"]["ok"], r["integrity"]'
jcheck "42 calls in scope, by exactly the 4 incident principals" "$T/r.json" '
assert r["scope"]["records"] == 42, r["scope"]
assert sorted(r["summary"]["principals"]) == ["etl", "guesser", "sup", "web"], r["summary"]'
jcheck "etl: 10 Gets (5 ok, 1 denied, 4 locked), 5 clients of class identity, uid 6301, one LOCKOUT" "$T/r.json" '
p = {x["name"]: x for x in r["principals"]}["etl"]
assert p["calls"] == 10 and p["calls_by_result"] == {"ok": 5, "denied": 1, "locked": 4}, p
assert p["clients_disclosed"] == 5 and p["records_returned"] == 5, p
assert p["fields_disclosed"] == ["identity"] and p["uids"] == [6301], p
assert [a["alert"] for a in p["alerts"]] == ["LOCKOUT"], p["alerts"]
a = p["alerts"][0]
assert a["method"] == "io.roster.Clients.Get" and a["result"] == "denied" and a["uid"] == 6301, a
assert a["error"] == "io.roster.QuotaExceeded" and a["pid"] > 0, a'
jcheck "guesser: 25 Gets (20 not_found, 5 locked), nothing disclosed, one GUESSING" "$T/r.json" '
p = {x["name"]: x for x in r["principals"]}["guesser"]
assert p["calls"] == 25 and p["calls_by_result"] == {"not_found": 20, "locked": 5}, p
assert p["clients_disclosed"] == 0 and p["fields_disclosed"] == [], p
assert [a["alert"] for a in p["alerts"]] == ["GUESSING"] and p["uids"] == [6302], p'
jcheck "sup: 3 clients, classes identity and contact, one CANARY naming the canary" "$T/r.json" "
p = {x['name']: x for x in r['principals']}['sup']
assert p['calls'] == 3 and p['clients_disclosed'] == 3, p
assert p['fields_disclosed'] == ['identity', 'contact'], p
assert [a['alert'] for a in p['alerts']] == ['CANARY'] and p['alerts'][0]['ids'] == ['$CANARY'], p"
jcheck "web: 4 Gets, 3 distinct clients, 4 records, no alert" "$T/r.json" '
p = {x["name"]: x for x in r["principals"]}["web"]
assert p["calls"] == 4 and p["clients_disclosed"] == 3 and p["records_returned"] == 4, p
assert p["alerts"] == [] and p["alerts_total"] == 0, p'
jcheck "10 affected clients (5 + 3 + 3, one shared), 3 alerts" "$T/r.json" '
assert r["summary"]["affected_clients"] == 10 == len(r["clients"]), r["summary"]
assert r["summary"]["alerts"] == 3, r["summary"]
assert r["summary"]["alerts_by_type"] == {"LOCKOUT": 1, "GUESSING": 1, "CANARY": 1}, r["summary"]'
jcheck "the client read by etl and web lists both, with 3 reads" "$T/r.json" "
c = {x['id']: x for x in r['clients']}
assert set(c) == set(sys.argv[2:]), sorted(c)
assert c['$(id 1)']['principals'] == ['etl', 'web'] and c['$(id 1)']['reads'] == 3, c['$(id 1)']
" "$(id 1)" "$XSS" "$(id 3)" "$(id 4)" "$(id 5)" "$(id 2)" "$(id 25)" "$CANARY" "$(id 20)" "$(id 21)"
jcheck "an admin gets names and countries; the canary is marked; the look-ups are counted" "$T/r.json" "
assert r['names']['shown'] and r['names']['lookups'] == 9, r['names']
c = {x['id']: x for x in r['clients']}
assert c['$CANARY']['name'] == 'Northfield Police Service' and c['$CANARY'].get('canary'), c['$CANARY']
assert c['$(id 3)']['name'] == 'Report Client 02' and c['$(id 3)']['country'] == 'FR', c['$(id 3)']"
jcheck "the timeline counts 42 calls in per-minute points, with the 3 alerts" "$T/r.json" '
t = r["timeline"]
assert sum(m["calls"] for s in t["series"] for m in s["minutes"]) == 42, t
assert sorted(a["alert"] for a in t["alerts"]) == ["CANARY", "GUESSING", "LOCKOUT"], t["alerts"]
assert sorted(a for s in t["series"] for m in s["minutes"] for a in m["alerts"]) == ["CANARY", "GUESSING", "LOCKOUT"]'
# validate SCHEMA DOC: JSON Schema draft 2020-12, by python3-jsonschema.
validate() {
	"$PY" -c '
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
errors = sorted(Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2]))), key=str)
for e in errors[:5]:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errors else 0)' "$@"
}
check "the JSON validates against schema/audit-report.schema.json (draft 2020-12)" \
	validate "$ROSTER_SRCDIR/schema/audit-report.schema.json" "$T/r.json"
jcheck "the report's own name look-ups are in the trail, after its last record" "$T/r.json" "
import subprocess
q = json.loads(subprocess.check_output(['$ROSTERCTL', '--socket', '$SOCK', '--json', 'audit', 'query',
    '--principal', 'bootstrap', '--method', 'io.roster.Clients.Get', '--limit', '1000']))['records']
after = [x for x in q if x['seq'] > r['scope']['head_seq']]
assert len(after) == 9, len(after)"

expect_exit 0 "--principal etl narrows the report to one principal" \
	ctl --json audit report --principal etl --since "$SINCE" --until "$UNTIL"
jcheck "... 10 calls, 5 affected clients" "$T/out" '
assert [p["name"] for p in r["principals"]] == ["etl"] and r["scope"]["records"] == 10, r["scope"]
assert r["summary"]["affected_clients"] == 5, r["summary"]'

# --- names only for an admin ---------------------------------------------------------
expect_exit 0 "an auditor may run the report" \
	ctl_as 6305 audit report --since "$SINCE" --until "$UNTIL" --format json --no-names
expect_exit 0 "an auditor's report" ctl_as 6305 --json audit report --since "$SINCE" --until "$UNTIL"
cp "$T/out" "$T/aud.json"
jcheck "... has the same figures, ids only, and says why" "$T/aud.json" '
assert not r["names"]["shown"] and r["names"]["lookups"] == 0, r["names"]
assert "auditor" in r["names"]["explanation"], r["names"]
assert r["summary"]["affected_clients"] == 10 and all("name" not in c for c in r["clients"]), r["clients"]'
ctl_as 6305 audit report --since "$SINCE" --until "$UNTIL" --format html > "$T/aud.html"
expect_not_in "$T/aud.html" "Report Client" "... and its HTML holds no client name"
expect_not_in "$T/aud.html" "Northfield" "... not even the canary's"
expect_exit 1 "a service principal may not run the report" ctl_as 6304 audit report
expect_in "$T/err" "PermissionDenied" "... PermissionDenied"

expect_exit 2 "--format pdf is a usage error" ctl audit report --format pdf
expect_exit 2 "--log without --pubkey is a usage error" ctl audit report --log "$JSONL"
expect_exit 1 "a malformed --since is refused by the daemon" ctl audit report --since yesterday
expect_in "$T/err" "since" "... naming the parameter"

# --- text: the verdict on the first line ----------------------------------------------
expect_exit 0 "audit report (text)" ctl audit report --since "$SINCE" --until "$UNTIL" \
	--log "$JSONL" --pubkey "$T/pubkey"
check "the first line states the verdict: INTACT" sh -c "head -1 '$T/out' | grep -q '^INTEGRITY: INTACT: '"
expect_in "$T/out" "records missing from the shipped copy: 0" "... the comparison is shown"
expect_in "$T/out" "PRINCIPAL etl" "... and each principal"

# --- tampering with the shipped copy ------------------------------------------------------
# Each copy is taken once everything is shipped, so it is complete up to the
# report's head; only the tampering makes it differ.
check "everything is shipped" settle
cp "$JSONL" "$T/good.jsonl"
LOCK_SEQ=$("$PY" -c '
import json, sys
print(next(json.loads(l)["seq"] for l in open(sys.argv[1]) if json.loads(l).get("alert") == "LOCKOUT"))' "$T/good.jsonl")
# The intruder hides the lock-out: the record now says the call succeeded.
"$PY" -c '
import json, sys
out = []
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("type") == "record" and o["seq"] == sys.argv[3]:
        o.update(result="ok", error="", alert="")
        line = json.dumps(o) + "\n"
    out.append(line)
open(sys.argv[2], "w").writelines(out)' "$T/good.jsonl" "$T/edited.jsonl" "$LOCK_SEQ"
expect_exit 1 "a report against an edited shipped copy exits 1" \
	ctl audit report --since "$SINCE" --until "$UNTIL" --log "$T/edited.jsonl" --pubkey "$T/pubkey"
check "... and its first line says FAILED, naming the record" \
	sh -c "head -1 '$T/out' | grep -q '^INTEGRITY: FAILED: .*record $LOCK_SEQ.s hash does not match'"
expect_exit 1 "... and as JSON" ctl --json audit report --since "$SINCE" --until "$UNTIL" \
	--log "$T/edited.jsonl" --pubkey "$T/pubkey"
jcheck "... whose verdict is failed, and which lists the differing record" "$T/out" "
assert r['integrity']['verdict'] == 'failed', r['integrity']
s = r['integrity']['shipped']
assert not s['ok'] and s['problem'] == 'edited' and s['differing'] == [[$LOCK_SEQ, $LOCK_SEQ]], s"
# The intruder deletes the canary read's line instead.
check "everything is shipped" settle
cp "$JSONL" "$T/good.jsonl"
grep -v '"alert":"CANARY"' "$T/good.jsonl" > "$T/deleted.jsonl" || true
expect_exit 1 "a report against a copy with a deleted line exits 1" \
	ctl --json audit report --since "$SINCE" --until "$UNTIL" --log "$T/deleted.jsonl" --pubkey "$T/pubkey"
jcheck "... listing the record missing from the shipped copy" "$T/out" '
s = r["integrity"]["shipped"]
assert r["integrity"]["verdict"] == "failed" and s["missing_in_log_count"] == 1, s
assert s["missing_in_log"] == [[s["first_bad"], s["first_bad"]]], s'
ctl audit report --log "$T/deleted.jsonl" --pubkey "$T/pubkey" > "$T/del.txt" || true
check "... and the text's first line says FAILED" sh -c "head -1 '$T/del.txt' | grep -q '^INTEGRITY: FAILED: '"

# --- HTML -------------------------------------------------------------------------------
HTML="$T/report.html"
expect_exit 0 "audit report --format html --out FILE" \
	ctl audit report --since "$SINCE" --until "$UNTIL" --format html --out "$HTML" \
	--log "$JSONL" --pubkey "$T/pubkey"
expect_eq "$(stat -c %a "$HTML")" 600 "the HTML file is created 0600"
expect_exit 1 "--out refuses to overwrite a file" \
	ctl audit report --format html --out "$HTML"
expect_in "$T/err" "exists" "... saying it exists"
ln -s "$T/elsewhere" "$T/link.html"
expect_exit 1 "--out refuses a symbolic link" ctl audit report --format html --out "$T/link.html"
check "... and writes nothing through it" test ! -e "$T/elsewhere"
check "the HTML is self-contained: no script, no external URL or font, no link element" \
	sh -c "! grep -Eiq '<script|https?://|@import|@font-face|<link|src=\"[a-z]+:' '$HTML'"
expect_in "$HTML" "&lt;img src=x onerror=alert(1)&gt; &amp; Co" "a client name with markup is escaped"
expect_not_in "$HTML" "<img" "... and no img element made it in"
expect_in "$HTML" "<svg" "the timeline is an inline SVG chart"
expect_in "$HTML" "@media print" "the CSS has print rules"
check "the summary box comes first and states the verdict" "$PY" -c '
import sys
h = open(sys.argv[1]).read()
i, j = h.index("class=\"summary ok\""), h.index("<svg")
assert i < j and h.index("INTACT", i) < j, (i, j)' "$HTML"

if command -v chromium > /dev/null 2>&1; then
	PNG="$T/report.png"
	timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--user-data-dir="$T/chromium" --screenshot="$PNG" --window-size=1200,1600 \
		"file://$HTML" > "$T/chromium.log" 2>&1 || true
	check "headless Chromium renders the report to a PNG" test -s "$PNG"
	check "... 1200x1600, mostly drawn, with the verdict's green and the alerts' red" "$PY" -c '
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert (w, h, depth) == (1200, 1600, 8) and ctype in (2, 6), (w, h, depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
# The top 800 rows hold the summary box and the chart; decoding more in pure
# Python only costs time (rows depend on the ones above, not below).
for y in range(800):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
px = [(r[i], r[i + 1], r[i + 2]) for r in rows[::4] for i in range(0, stride, bpp * 4)]
colours = len(set(px))
ink = sum(1 for p in px if max(p) - min(p) > 40 or max(p) < 200) / len(px)
green = any(g > 100 and g > r + 50 and g > b + 30 for r, g, b in px)
red = any(r > 180 and g < 80 and b < 80 for r, g, b in px)
print(colours, round(ink, 3), green, red)
assert colours > 50 and ink > 0.03 and green and red, (colours, ink, green, red)' "$PNG"
	mkdir -p "$ARTEFACTS"
	cp "$HTML" "$ARTEFACTS/report.html"
	cp "$PNG" "$ARTEFACTS/report.png"
	chmod 0644 "$ARTEFACTS/report.png" "$ARTEFACTS/report.html"
	echo "# screenshot kept: $ARTEFACTS/report.png"
else
	not_ok "headless Chromium renders the report (chromium is not installed: run scripts/deps)"
fi

# --- tampering with the database itself ------------------------------------------------
# Root with the passphrase stops the daemon, unwraps the data key from the
# keyring (Argon2id, XChaCha20-Poly1305: daemon/keys.h; pages of 4096
# bytes: daemon/store.c) and rewrites the
# LOCKOUT record with the sqlcipher CLI; the chain no longer verifies.
check "SIGTERM exits 0" stop_rosterd
DEK=$("$PY" -c '
import ctypes, ctypes.util, sys
na = ctypes.CDLL(ctypes.util.find_library("sodium"))
assert na.sodium_init() >= 0
buf = open(sys.argv[1], "rb").read()
# Keyring format 2 (832 bytes): the ciphertext at 624..799, the header before it its AD.
assert len(buf) == 832 and buf[:8] == b"ROSTERKR" and buf[8:12] == b"\0\0\0\2"
ops, mem = int.from_bytes(buf[16:24], "big"), int.from_bytes(buf[24:32], "big")
salt, nonce, ct = buf[32:48], buf[48:72], buf[624:800]
pw = open(sys.argv[2], "rb").read().rstrip(b"\n")
kek, pt = ctypes.create_string_buffer(32), ctypes.create_string_buffer(160)
assert na.crypto_pwhash(kek, ctypes.c_ulonglong(32), pw, ctypes.c_ulonglong(len(pw)), salt,
                        ctypes.c_ulonglong(ops), ctypes.c_size_t(mem), 2) == 0
assert na.crypto_aead_xchacha20poly1305_ietf_decrypt(pt, None, None, ct, ctypes.c_ulonglong(176),
        buf[:624], ctypes.c_ulonglong(624), nonce, kek) == 0
print(pt.raw[:32].hex())' "$STATE/keyring" "$PASSFILE") || DEK=
check "the data key unwraps with the passphrase (the tamperer's position)" test -n "$DEK"
check "the sqlcipher CLI rewrites the LOCKOUT record in the database" \
	sqlcipher "$STATE/roster.db" "PRAGMA key = \"x'$DEK'\";" "PRAGMA cipher_page_size = 4096;" \
	"UPDATE audit SET result = 'ok', error = '', alert = '' WHERE seq = $LOCK_SEQ;"
start_rosterd --syslog-socket "$SNG/syslog.sock" --passphrase-file "$PASSFILE"
expect_eq "$(state)" unsealed "rosterd restarts unsealed"
expect_exit 1 "a report on the tampered database exits 1" \
	ctl audit report --since "$SINCE" --until "$UNTIL"
check "... and its first line says FAILED, naming the first bad record" \
	sh -c "head -1 '$T/out' | grep -q '^INTEGRITY: FAILED: .*database.*seq $LOCK_SEQ'"
expect_exit 1 "with the shipped copy too" ctl --json audit report --since "$SINCE" --until "$UNTIL" \
	--log "$JSONL" --pubkey "$T/pubkey"
# The copy holds the true record first. (The restarted shipper re-sends its
# last 2000 records, the rewritten one among them: that re-delivery with
# other contents is what the offline check of the copy reports.)
jcheck "... the copy holds the true record: the database's differs from it" "$T/out" "
i = r['integrity']
assert i['verdict'] == 'failed' and i['database']['first_bad'] == $LOCK_SEQ, i
assert i['shipped']['differing'] == [[$LOCK_SEQ, $LOCK_SEQ]], i['shipped']
assert not i['shipped']['ok'] and i['shipped']['first_bad'] == $LOCK_SEQ, i['shipped']
assert [a['alert'] for p in r['principals'] if p['name'] == 'etl' for a in p['alerts']] == [], r"
ctl audit report --since "$SINCE" --until "$UNTIL" --log "$JSONL" --pubkey "$T/pubkey" \
	--format html --out "$T/tampered.html" || true
expect_in "$T/tampered.html" 'class="summary bad"' "the HTML summary box shows the failure"
if command -v chromium > /dev/null 2>&1; then
	timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--user-data-dir="$T/chromium" --screenshot="$T/tampered.png" --window-size=1200,1600 \
		"file://$T/tampered.html" > "$T/chromium.log" 2>&1 || true
	check "... and renders" test -s "$T/tampered.png"
	cp "$T/tampered.html" "$T/tampered.png" "$ARTEFACTS/" 2>/dev/null &&
		chmod 0644 "$ARTEFACTS/tampered.html" "$ARTEFACTS/tampered.png" || true
fi

check "SIGTERM exits 0" stop_rosterd
stop_syslog
finish
