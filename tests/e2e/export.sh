#!/bin/sh
# The two-person rule (issue 5, point 4) against the real daemon, with
# admins on different uids (setpriv): an export request by one admin must be
# approved by an admin on another uid; only the requester can run it, once,
# within the window (export_window, 3 s here); it writes every client as
# JSON lines to a new 0600 file of the requester's; every step is on the
# audit trail. List answers its first page only, unless the caller walks
# the registry once with an approval.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

need_root "the rule is about two admins on two different uids"

# as UID COMMAND...: run a command as another uid; group 0 reaches the socket.
as() { u=$1; shift; setpriv --reuid "$u" --regid 0 --clear-groups "$@"; }
ctl_as() { u=$1; shift; as "$u" "$ROSTERCTL" --socket "$SOCK" "$@"; }
json() { python3 -c "import json, sys; v = json.load(open(sys.argv[1])); print($1)" "$2"; }

# A long window first (each rosterctl call may take a while on a busy
# machine); the expiry tests at the end restart the daemon with a short one.
printf '[rosterd]\nexport_window = 600\n' > "$T/roster.conf"
start_rosterd --config "$T/roster.conf"
vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > /dev/null
[ "$(state)" = unsealed ]

# alice and bob are admins on two uids, carol a third; lister may list but not export.
ctl principal add alice --uid 6201 --role admin > /dev/null
ctl principal add bob --uid 6202 --role admin > /dev/null
ctl principal add carol --uid 6203 --role admin > /dev/null
ctl role add lister --cap clients.list --fields identity > /dev/null
ctl principal add lister --uid 6204 --role lister > /dev/null
# Each admin's own directory, for the files it writes.
for u in 6201 6202 6203; do mkdir -m 0700 "$T/home$u"; chown "$u" "$T/home$u"; done
A="$T/home6201"

# 250 clients (two and a half pages) and a canary: an export holds them all.
python3 -c '
import json
for i in range(250):
    print(json.dumps({"name": "Export Client %03d" % i, "kind": "bank", "country": "DE",
                      "contact_email": "c%d@bank.example" % i, "tier": "gold", "notes": "n%d" % i}))' \
	> "$T/clients.jsonl"
ctl client import "$T/clients.jsonl" > /dev/null
ctl canary add --name "Export Canary" --kind other > /dev/null
TOTAL=251
ONE=$(ctl --json client search "Export Client 117" | python3 -c '
import json, sys; print(json.load(sys.stdin)["clients"][0]["id"])')

# --- List: one page without an approval ---------------------------------------------
expect_exit 0 "an admin lists the first page without an approval" ctl_as 6201 --json client list
check "... 100 clients and a next" python3 -c '
import json, sys; p = json.load(open(sys.argv[1]))
assert len(p["clients"]) == 100 and "next" in p, (len(p["clients"]), p.get("next"))' "$T/out"
NEXT=$(json 'v["next"]' "$T/out")
expect_exit 1 "paging on with --after and no approval is refused" \
	ctl_as 6201 client list --after "$NEXT"
expect_in "$T/err" "io.roster.ApprovalRequired" "... with io.roster.ApprovalRequired"
expect_exit 1 "bootstrap admins (root) may not page on either" ctl client list --after "$NEXT"
expect_in "$T/err" "io.roster.ApprovalRequired" "... with io.roster.ApprovalRequired"
expect_exit 1 "a List of more than one page at once is refused" ctl client list --limit 101
expect_in "$T/err" "limit" "... naming limit"
expect_exit 1 "an --after past every id is refused too (no way around the rule)" \
	ctl_as 6204 client list --after 00000000000000000000000000000000
expect_in "$T/err" "io.roster.ApprovalRequired" "... with io.roster.ApprovalRequired"
expect_exit 0 "client list says that more follow, and what that needs" ctl_as 6201 client list
expect_in "$T/err" "export request" "... on stderr"
expect_exit 1 "a role without clients.export may not request an export" ctl_as 6204 export request
expect_in "$T/err" "io.roster.PermissionDenied" "... PermissionDenied"

# --- request, approval, run ------------------------------------------------------------
expect_exit 0 "alice requests an export" ctl_as 6201 export request
ID=$(cat "$T/out")
expect_in "$T/err" "export approve $ID" "... and is told what the second admin runs"
case $ID in
[0-9a-f]*) [ ${#ID} -eq 32 ] && ok "the request id is 32 hex digits" || not_ok "request id: $ID" ;;
*) not_ok "request id: $ID" ;;
esac
expect_exit 1 "running before approval is refused" ctl_as 6201 export run "$ID" --out "$A/early.jsonl"
expect_in "$T/err" "io.roster.ApprovalRequired" "... with io.roster.ApprovalRequired"
[ ! -e "$A/early.jsonl" ] && ok "... and leaves no file behind" || not_ok "early.jsonl was left"
expect_exit 1 "alice may not approve her own request" ctl_as 6201 export approve "$ID"
expect_in "$T/err" "io.roster.SelfApproval" "... io.roster.SelfApproval"
expect_exit 1 "a principal without clients.export may not approve" ctl_as 6204 export approve "$ID"
expect_in "$T/err" "io.roster.PermissionDenied" "... PermissionDenied"
expect_exit 1 "approving an unknown request id" ctl_as 6202 export approve "$(printf 'a%.0s' $(seq 32))"
expect_in "$T/err" "io.roster.NotFound" "... NotFound"
expect_exit 0 "bob, on another uid, approves it" ctl_as 6202 export approve "$ID"
expect_in "$T/out" "requested by alice (uid 6201)" "... and is told whose request it was"
expect_exit 1 "a second approval is refused" ctl_as 6203 export approve "$ID"
expect_in "$T/err" "io.roster.ApprovalUsed" "... io.roster.ApprovalUsed"
expect_exit 1 "carol (a third admin) may not run alice's export" \
	ctl_as 6203 export run "$ID" --out "$T/home6203/x.jsonl"
expect_in "$T/err" "io.roster.PermissionDenied" "... PermissionDenied"
expect_exit 1 "nor may bob, who approved it" ctl_as 6202 export run "$ID" --out "$T/home6202/x.jsonl"
expect_in "$T/err" "io.roster.PermissionDenied" "... PermissionDenied"
[ ! -e "$T/home6203/x.jsonl" ] && [ ! -e "$T/home6202/x.jsonl" ] && ok "... and neither left a file" \
	|| not_ok "a refused run left a file"
echo "keep me" > "$A/existing.jsonl"
expect_exit 1 "run refuses an existing file" ctl_as 6201 export run "$ID" --out "$A/existing.jsonl"
expect_eq "$(cat "$A/existing.jsonl")" "keep me" "... and leaves it as it was"
ln -s "$A/elsewhere" "$A/link.jsonl"
expect_exit 1 "run refuses a symbolic link" ctl_as 6201 export run "$ID" --out "$A/link.jsonl"
[ ! -e "$A/elsewhere" ] && ok "... and writes nothing through it" || not_ok "wrote through a link"
out=$(vl io.roster.Clients.Export "{\"approval\":\"$ID\"}")
case $out in *ExpectedMore*) ok "Export without \"more\" is refused (ExpectedMore)" ;;
	*) not_ok "Export without more: $out" ;; esac

expect_exit 0 "alice runs the approved export" ctl_as 6201 export run "$ID" --out "$A/export.jsonl"
expect_in "$T/out" "exported $TOTAL clients" "... and is told how many"
expect_eq "$(stat -c '%a %u' "$A/export.jsonl")" "600 6201" "the file is mode 0600 and alice's"
expect_eq "$(wc -l < "$A/export.jsonl")" "$TOTAL" "it has one line per client, canary included"
ctl --json client get "$ONE" > "$T/one"
check "every line is a whole client, ids unique, and one matches client get field for field" \
	python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ids = [c["id"] for c in lines]
assert len(set(ids)) == len(ids) == int(sys.argv[3]), len(ids)
one = json.load(open(sys.argv[2]))["client"]
got = [c for c in lines if c["id"] == one["id"]]
assert got == [one], (got, one)
assert all("notes" in c and "contact_email" in c for c in lines if c["name"].startswith("Export Client"))
' "$A/export.jsonl" "$T/one" "$TOTAL"
expect_exit 1 "the approval is single use: a second run is refused" \
	ctl_as 6201 export run "$ID" --out "$A/again.jsonl"
expect_in "$T/err" "io.roster.ApprovalUsed" "... io.roster.ApprovalUsed"
[ ! -e "$A/again.jsonl" ] && ok "... and leaves no file behind" || not_ok "again.jsonl was left"

# An export is not counted against a quota: the second admin is its limit.
ctl role add exporter --cap clients.get,clients.export --fields identity --quota 3/1h > /dev/null
ctl principal add dave --uid 6205 --role exporter > /dev/null
mkdir -m 0700 "$T/home6205"; chown 6205 "$T/home6205"
ctl_as 6205 export request > "$T/idq" 2> /dev/null
ctl_as 6202 export approve "$(cat "$T/idq")" > /dev/null
expect_exit 0 "a principal with a quota of 3 exports all $TOTAL clients once approved" \
	ctl_as 6205 export run "$(cat "$T/idq")" --out "$T/home6205/all.jsonl"
expect_eq "$(wc -l < "$T/home6205/all.jsonl")" "$TOTAL" "... every one of them"
head -4 "$T/home6205/all.jsonl" | python3 -c '
import json, sys; print("\n".join(json.loads(l)["id"] for l in sys.stdin))' > "$T/four"

# --- List past the first page, with an approval: one walk ------------------------------
ctl_as 6201 export request > "$T/id4" 2> /dev/null
ID4=$(cat "$T/id4")
expect_exit 1 "a walk with an unapproved request is refused" \
	ctl_as 6201 client list --approval "$ID4"
expect_in "$T/err" "io.roster.ApprovalRequired" "... io.roster.ApprovalRequired"
ctl_as 6202 export approve "$ID4" > /dev/null
expect_exit 1 "bob cannot walk with alice's approval" ctl_as 6202 client list --approval "$ID4"
expect_in "$T/err" "io.roster.PermissionDenied" "... PermissionDenied"
expect_exit 1 "a walk starts at the first page" ctl_as 6201 client list --approval "$ID4" --after "$NEXT"
expect_in "$T/err" "after" "... (InvalidParameter after)"
ctl_as 6201 --json client list --approval "$ID4" > "$T/w1"
W1=$(json 'v["next"]' "$T/w1")
expect_exit 1 "the walk goes on only where it stopped" ctl_as 6201 client list --approval "$ID4"
expect_in "$T/err" "after" "... (InvalidParameter after)"
ctl_as 6201 --json client list --approval "$ID4" --after "$W1" > "$T/w2"
W2=$(json 'v["next"]' "$T/w2")
ctl_as 6201 --json client list --approval "$ID4" --after "$W2" > "$T/w3"
check "three pages of the walk hold every client once, the last without next" python3 -c '
import json, sys
pages = [json.load(open(p)) for p in sys.argv[1:4]]
ids = [c["id"] for p in pages for c in p["clients"]]
assert len(ids) == len(set(ids)) == int(sys.argv[4]) and ids == sorted(ids), len(ids)
assert "next" not in pages[2]' "$T/w1" "$T/w2" "$T/w3" "$TOTAL"
expect_exit 1 "the walk is single use: its approval is spent at the last page" \
	ctl_as 6201 client list --approval "$ID4"
expect_in "$T/err" "io.roster.ApprovalUsed" "... io.roster.ApprovalUsed"
expect_exit 1 "... and cannot be used for an export either" \
	ctl_as 6201 export run "$ID4" --out "$A/after-walk.jsonl"
expect_in "$T/err" "io.roster.ApprovalUsed" "... io.roster.ApprovalUsed"

# --- bounds, and a seal drops every request ------------------------------------------
for i in 1 2 3 4; do ctl_as 6203 export request > /dev/null 2>&1; done
expect_exit 1 "a fifth outstanding request from one uid is refused" ctl_as 6203 export request
expect_in "$T/err" "io.roster.TooManyRequests" "... io.roster.TooManyRequests"
ctl_as 6201 export request > "$T/id5" 2> /dev/null
ID5=$(cat "$T/id5")
ctl_as 6202 export approve "$ID5" > /dev/null
ctl seal > /dev/null
ctl unseal --passphrase-file "$PASSFILE" > /dev/null
expect_exit 1 "approvals live in memory only: after a seal the request is gone" \
	ctl_as 6201 export run "$ID5" --out "$A/sealed.jsonl"
expect_in "$T/err" "io.roster.NotFound" "... io.roster.NotFound"

# --- the window: a daemon restarted with export_window = 4 s ---------------------------
WINDOW=4
stop_rosterd
printf '[rosterd]\nexport_window = %s\n' "$WINDOW" > "$T/roster.conf"
start_rosterd --config "$T/roster.conf" --passphrase-file "$PASSFILE"
ctl_as 6201 export request > "$T/id2" 2> /dev/null
ID2=$(cat "$T/id2")
ctl_as 6202 export approve "$ID2" > /dev/null
sleep $((WINDOW + 1))
expect_exit 1 "an approval older than export_window is refused" \
	ctl_as 6201 export run "$ID2" --out "$A/late.jsonl"
expect_in "$T/err" "io.roster.ApprovalExpired" "... io.roster.ApprovalExpired"
ctl_as 6201 export request > "$T/id3" 2> /dev/null
ID3=$(cat "$T/id3")
sleep $((WINDOW + 1))
expect_exit 1 "a request not approved within export_window cannot be approved" \
	ctl_as 6202 export approve "$ID3"
expect_in "$T/err" "io.roster.ApprovalExpired" "... io.roster.ApprovalExpired"

# After the restart too (quotas are rebuilt from the trail), the export did not count.
for i in 1 2 3; do
	expect_exit 0 "dave still reads client $i of his quota of 3" \
		ctl_as 6205 client get "$(sed -n "${i}p" "$T/four")"
done
expect_exit 1 "... and the fourth crosses it" ctl_as 6205 client get "$(sed -n 4p "$T/four")"
expect_in "$T/err" "io.roster.QuotaExceeded" "... io.roster.QuotaExceeded"

# --- the audit trail -------------------------------------------------------------------
ctl --json audit query --client "$ID" --limit 1000 > "$T/trail"
check "every step of the export is on the trail under its request id" python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
steps = [(r["principal"], r["uid"], r["method"].split(".")[-1], r["result"], r["error"]) for r in recs]
want = [
    ("alice", 6201, "ExportRequest", "ok", ""),
    ("alice", 6201, "Export", "denied", "io.roster.ApprovalRequired"),
    ("alice", 6201, "ExportApprove", "denied", "io.roster.SelfApproval"),
    ("bob", 6202, "ExportApprove", "ok", ""),
    ("carol", 6203, "ExportApprove", "denied", "io.roster.ApprovalUsed"),
    ("carol", 6203, "Export", "denied", "io.roster.PermissionDenied"),
    ("bob", 6202, "Export", "denied", "io.roster.PermissionDenied"),
    ("alice", 6201, "Export", "ok", ""),
    ("alice", 6201, "Export", "denied", "io.roster.ApprovalUsed"),
]
# Leaving out the raw call by root without "more": the runs into an existing
# file or a link never reached the daemon, and lister was refused before the
# id was read.
assert [s for s in steps if s[1] != 0] == want, steps
run = [r for r in recs if r["method"].endswith(".Export") and r["result"] == "ok"][0]
assert run["records"] == int(sys.argv[2]), run
assert run["ids"] == [sys.argv[3]], run
assert run["alert"] == "EXPORT", run
' "$T/trail" "$TOTAL" "$ID"
ctl --json audit query --alerts --limit 1000 > "$T/alerts"
check "both runs (alice and dave) are listed among the alerts (EXPORT)" python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
runs = [(r["principal"], r["alert"]) for r in recs if r["method"] == "io.roster.Clients.Export"]
assert runs == [("alice", "EXPORT"), ("dave", "EXPORT")], runs' "$T/alerts"
ctl --json audit query --method io.roster.Clients.List --principal alice --result ok --limit 1000 > "$T/lists"
check "each page of the walk is on the trail with the ids it returned" python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
walk = [r for r in recs if r["records"] > 0]
assert sum(r["records"] for r in walk[-3:]) == int(sys.argv[2]), [r["records"] for r in walk]
assert sum(len(r["ids"]) for r in walk[-3:]) == int(sys.argv[2])' "$T/lists" "$TOTAL"
expect_exit 0 "the trail still verifies" ctl audit verify

finish
