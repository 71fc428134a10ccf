#!/bin/sh
# The Clients interface through rosterctl: create, get, search, list,
# update with versions, delete, import, validation errors with the
# parameter's name, --json output, and persistence across a restart.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

init_registry

# --- create and get ---------------------------------------------------------
expect_exit 0 "client add" ctl client add --name "Bundespolizei Test" --kind police --country DE \
	--contact-name "Erika Muster" --contact-email "erika@bpol.example" \
	--contact-phone "+49 30 1234567" --tier gold --notes "line one"
A=$(cat "$T/out")
check "client add prints a 32-hex-digit id" sh -c "printf '%s' '$A' | grep -Eqx '[0-9a-f]{32}'"
B=$(ctl client add --name "Banco Ejemplo" --kind bank --country ES)
C=$(ctl client add --name "Ministère Exemple" --kind government --country FR)
expect_eq "$(printf '%s\n%s\n%s\n' "$A" "$B" "$C" | sort -u | wc -l)" 3 "ids are distinct"

expect_exit 0 "client get" ctl client get "$A"
expect_in "$T/out" "Bundespolizei Test" "get shows the name"
expect_in "$T/out" "erika@bpol.example" "get shows the contact e-mail"
expect_in "$T/out" "+49 30 1234567" "get shows the phone"
expect_in "$T/out" "active" "the status defaults to active"
expect_exit 0 "client get --json" ctl --json client get "$A"
check "get --json has every field set and version 1" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["client"]
assert c["id"] == sys.argv[2] and c["kind"] == "police" and c["country"] == "DE", c
assert c["tier"] == "gold" and c["notes"] == "line one" and c["version"] == 1, c
assert c["created_at"].endswith("Z") and c["updated_at"] == c["created_at"], c' "$T/out" "$A"
expect_exit 0 "a name in another script round-trips" ctl --json client get "$C"
expect_in "$T/out" "Ministère Exemple" "... unchanged (UTF-8)"

# --- validation: a precise parameter name, nothing stored ----------------------
bad() {  # bad PARAMETER DESCRIPTION ARGS...
	p=$1; d=$2; shift 2
	expect_exit 1 "$d is refused" ctl client add "$@"
	expect_in "$T/err" "$p" "... naming $p"
}
bad client.kind "an unknown kind" --name X --kind spy
bad client.country "a lower-case country" --name X --kind bank --country de
bad client.country "an unassigned country code" --name X --kind bank --country XX
bad client.contact_email "an e-mail without a domain" --name X --kind bank --contact-email bob@
bad client.contact_phone "a phone with letters" --name X --kind bank --contact-phone 555-CALL-NOW
bad client.status "an unknown status" --name X --kind bank --status deleted
bad client.name "an empty name" --name "" --kind bank
bad client.name "a name with a control character" --name "$(printf 'A\033[2JB')" --kind bank
bad client.name "a 201-character name" --name "$(printf '%0201d' 0)" --kind bank
bad client.notes "notes over 4000 characters" --name X --kind bank --notes "$(printf '%04001d' 0)"
expect_exit 0 "count after the refusals" ctl --json status
check "no refused client was stored" python3 -c '
import json, sys; assert json.load(open(sys.argv[1]))["clients"] == 3' "$T/out"
out=$(vl io.roster.Clients.Create '{"client":{"name":"X","kind":"bank","ssn":"123"}}')
case $out in *'"client.ssn"'*) ok "an unknown field is refused by name" ;;
	*) not_ok "an unknown field is refused by name: $out" ;; esac

# --- search -------------------------------------------------------------------
expect_exit 0 "client search (case-insensitive substring)" ctl client search bundespol
expect_in "$T/out" "$A" "search finds the client"
expect_not_in "$T/out" "$B" "search does not return others"
expect_exit 0 "client search with a LIKE wildcard" ctl --json client search "%"
check "'%' is matched literally, not as a wildcard" python3 -c '
import json, sys; assert json.load(open(sys.argv[1]))["clients"] == []' "$T/out"
expect_exit 1 "an empty search query is refused" ctl client search ""
out=$(vl io.roster.Clients.Search '{"query":"a","limit":0}')
case $out in *'"parameter": "limit"'*) ok "a search limit of 0 is refused, naming limit" ;;
	*) not_ok "a search limit of 0 is refused, naming limit: $out" ;; esac
expect_exit 2 "rosterctl refuses --limit 0 as a usage error" ctl client search a --limit 0

# --- list and paging --------------------------------------------------------------
i=0
while [ $i -lt 12 ]; do ctl client add --name "Paging Client $i" --kind other > /dev/null; i=$((i + 1)); done
ctl --json client list --limit 5 > "$T/p1"
check "a page of 5 holds the first 5 clients in id order, and a next" python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
ids = [c["id"] for c in p["clients"]]
assert len(ids) == 5 and ids == sorted(ids) and p["next"] == ids[-1], p' "$T/p1"
N1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["next"])' "$T/p1")
# Paging past the first page is the two-person rule's (tests/e2e/export.sh walks it).
expect_exit 1 "the next page needs an approved export request" ctl client list --limit 5 --after "$N1"
expect_in "$T/err" "io.roster.ApprovalRequired" "... io.roster.ApprovalRequired"
expect_exit 0 "client list (table)" ctl client list
expect_in "$T/out" "Banco Ejemplo" "the table shows names"
expect_exit 1 "list --after a malformed id is refused" ctl client list --after nonsense
expect_exit 1 "list --limit above one page (100) is refused" ctl client list --limit 101

# A page far larger than one call may be (64 KiB): 200 clients with long notes.
python3 -c '
import json
for i in range(200):
    print(json.dumps({"name": "Bulk %03d" % i, "kind": "enterprise", "notes": "n" * 3000}))' > "$T/bulk.jsonl"
expect_exit 0 "import 200 clients with 3000-character notes" ctl client import "$T/bulk.jsonl"
ctl --json client list --limit 100 > "$T/big" 2> "$T/big.err"
check "a List page of about 250 KB reaches rosterctl whole" python3 -c '
import json, os, sys
assert len(json.load(open(sys.argv[1]))["clients"]) == 100 and os.path.getsize(sys.argv[1]) > 200000' "$T/big"

# --- update with versions ----------------------------------------------------------
expect_exit 0 "client update --version 1" ctl client update "$A" --tier platinum --version 1
expect_eq "$(cat "$T/out")" 2 "update prints the new version"
expect_exit 1 "update with a stale version fails" ctl client update "$A" --tier silver --version 1
expect_in "$T/err" "io.roster.Conflict" "... with io.roster.Conflict"
ctl --json client get "$A" > "$T/g"
check "the stale update changed nothing" python3 -c '
import json, sys; c = json.load(open(sys.argv[1]))["client"]
assert c["tier"] == "platinum" and c["version"] == 2, c' "$T/g"
expect_exit 0 "update without --version uses the current one" ctl client update "$A" --notes ""
ctl --json client get "$A" > "$T/g"
check "an empty string clears an optional field" python3 -c '
import json, sys; c = json.load(open(sys.argv[1]))["client"]
assert "notes" not in c and c["version"] == 3, c' "$T/g"
expect_exit 1 "update with an invalid e-mail fails" ctl client update "$A" --contact-email "no at sign"
expect_in "$T/err" "changes.contact_email" "... naming changes.contact_email"
expect_exit 1 "update of an unknown id fails" ctl client update 0123456789abcdef0123456789abcdef --tier x --version 1
expect_in "$T/err" "io.roster.NotFound" "... with io.roster.NotFound"

# --- delete ---------------------------------------------------------------------------
expect_exit 0 "client rm" ctl client rm "$B"
expect_exit 1 "a deleted client is gone" ctl client get "$B"
expect_in "$T/err" "io.roster.NotFound" "... io.roster.NotFound"
expect_exit 1 "deleting it again fails" ctl client rm "$B"

# --- import -------------------------------------------------------------------------
cat > "$T/good.jsonl" <<'J'
{"name": "Import One", "kind": "bank", "country": "NL"}

{"name": "Import Two", "kind": "financial", "contact_email": "two@import.example"}
{"name": "Import Three", "kind": "enterprise", "notes": "multi\nline"}
J
expect_exit 0 "client import of a good file" ctl client import "$T/good.jsonl"
expect_in "$T/out" "imported 3" "import reports 3 imported"
expect_exit 0 "imported clients are searchable" ctl --json client search "Import"
check "... all three" python3 -c '
import json, sys; assert len(json.load(open(sys.argv[1]))["clients"]) == 3' "$T/out"
cat > "$T/bad.jsonl" <<'J'
{"name": "Bad Import A", "kind": "bank"}
{"name": "Bad Import B", "kind": "bank"
["not", "an", "object"]
{"name": "Bad Import D", "kind": "bank", "colour": "red"}
{"name": "Bad Import E", "kind": "bank"}
J
expect_exit 1 "client import with bad lines fails" ctl client import "$T/bad.jsonl"
expect_in "$T/err" "bad.jsonl:2" "the error names line 2"
expect_in "$T/err" "bad.jsonl:3" "the error names line 3"
expect_in "$T/err" "bad.jsonl:4" "the error names line 4"
expect_exit 0 "search after the failed import" ctl --json client search "Bad Import"
check "a failed import imports nothing" python3 -c '
import json, sys; assert json.load(open(sys.argv[1]))["clients"] == []' "$T/out"
printf '{"name": "Server Side A", "kind": "bank"}\n{"name": "Server Side B", "kind": "bank", "country": "QQ"}\n' > "$T/bad2.jsonl"
expect_exit 1 "an import the daemon refuses half-way fails" ctl client import "$T/bad2.jsonl"
expect_in "$T/err" "bad2.jsonl:2" "... naming line 2"
ctl --json client search "Server Side" > "$T/out"
check "... and leaves nothing imported" python3 -c '
import json, sys; assert json.load(open(sys.argv[1]))["clients"] == []' "$T/out"

# Import goes in chunks of up to 100 per io.roster.Clients.Import call, each
# all-or-none in the daemon; a refusal in a later chunk undoes the earlier ones.
python3 -c '
import json
for i in range(150):
    c = {"name": "Chunked %03d" % i, "kind": "bank"}
    if i == 139:
        c["country"] = "QQ"
    print(json.dumps(c))' > "$T/chunks.jsonl"
expect_exit 1 "an import refused in its second chunk fails" ctl client import "$T/chunks.jsonl"
expect_in "$T/err" "chunks.jsonl:140: parameter country invalid" "... naming line 140 and the field"
expect_in "$T/err" "deleted the 100 clients created before the failure" \
	"... after deleting the first chunk's 100 clients"
ctl --json client search "Chunked" --limit 100 > "$T/out"
check "... so that nothing of it is left" python3 -c '
import json, sys; assert json.load(open(sys.argv[1]))["clients"] == []' "$T/out"

# The Import method itself.
vl io.roster.Clients.Import '{"clients": [{"name": "Trio One", "kind": "bank"},
	{"name": "Trio Two", "kind": "police", "country": "XX"}, {"name": "Trio Three", "kind": "bank"}]}' \
	> "$T/imp.bad"
check "Import with a bad entry is InvalidParameter naming clients[1].country" python3 -c '
import json, sys; r = json.load(open(sys.argv[1]))
assert r["error"] == "org.varlink.service.InvalidParameter", r
assert r["parameters"]["parameter"] == "clients[1].country", r' "$T/imp.bad"
vl io.roster.Clients.Import "{\"clients\": [$(python3 -c '
import json; print(",".join(json.dumps({"name": "Many %d" % i, "kind": "bank"}) for i in range(101)))')]}" \
	> "$T/imp.many"
expect_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parameters"]["parameter"])' \
	"$T/imp.many")" clients "Import of 101 clients is InvalidParameter clients"
vl io.roster.Clients.Import '{"clients": []}' > "$T/imp.none"
expect_in "$T/imp.none" "InvalidParameter" "Import of no clients is InvalidParameter"
ctl --json client search "Trio" > "$T/out"
check "... and the refused Imports added nothing" python3 -c '
import json, sys; assert json.load(open(sys.argv[1]))["clients"] == []' "$T/out"
vl io.roster.Clients.Import '{"clients": [{"name": "Trio One", "kind": "bank"},
	{"name": "Trio Two", "kind": "police", "country": "IT"}, {"name": "Trio Three", "kind": "bank"}]}' \
	> "$T/imp.ok"
check "Import of 3 returns 3 ids, each readable in order at version 1" python3 -c '
import json, subprocess, sys
ids = json.load(open(sys.argv[1]))["parameters"]["ids"]
assert len(ids) == 3 and len(set(ids)) == 3, ids
for i, name in zip(ids, ["Trio One", "Trio Two", "Trio Three"]):
    c = json.loads(subprocess.run([sys.argv[2], "--socket", sys.argv[3], "--json", "client", "get", i],
                   check=True, capture_output=True).stdout)["client"]
    assert c["name"] == name and c["version"] == 1, c' "$T/imp.ok" "$ROSTERCTL" "$SOCK"
ctl --json audit query --method io.roster.Clients.Import \
	--client "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parameters"]["ids"][1])' \
	"$T/imp.ok")" > "$T/out"
check "... on one audit record naming all 3 ids" python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
ids = json.load(open(sys.argv[2]))["parameters"]["ids"]
assert len(recs) == 1 and sorted(recs[0]["ids"]) == sorted(ids), recs' "$T/out" "$T/imp.ok"

# --- usage errors ------------------------------------------------------------------------
expect_exit 2 "an unknown command is a usage error (2)" ctl frobnicate
expect_exit 2 "client add without --kind is a usage error (2)" ctl client add --name X
expect_exit 2 "client get without an id is a usage error (2)" ctl client get
expect_exit 1 "no daemon at the socket is a failure (1)" "$ROSTERCTL" --socket "$T/none.sock" status
ROSTER_SOCKET="$SOCK" expect_exit 0 "\$ROSTER_SOCKET names the socket" "$ROSTERCTL" status

# --- Status's count -----------------------------------------------------------------
# Kept by the audit writer as creates, imports and deletes commit (no scan
# of the table per Status); a restart counts the table afresh, so the tally
# of everything this test did must equal that count.
count() { vl_field io.roster.Admin.Status '{}' parameters.clients; }
n=$(count)
D=$(ctl client add --name "Counted Then Deleted" --kind bank)
expect_eq "$(count)" "$((n + 1))" "Status counts one more client after a create"
ctl client rm "$D" > /dev/null
expect_eq "$(count)" "$n" "... one fewer after its delete"
vl io.roster.Clients.Delete "{\"id\":\"$D\"}" > /dev/null
expect_eq "$(count)" "$n" "... and as many after a delete of a client that is gone"

# --- persistence -----------------------------------------------------------------
check "SIGTERM exits 0" stop_rosterd
start_rosterd --passphrase-file "$PASSFILE"
expect_eq "$(count)" "$n" "after a restart the table's count equals the tally kept before it ($n)"
ctl --json client get "$A" > "$T/g"
check "after a restart the updated client is intact" python3 -c '
import json, sys; c = json.load(open(sys.argv[1]))["client"]
assert c["tier"] == "platinum" and c["version"] == 3 and c["name"] == "Bundespolizei Test", c' "$T/g"
expect_exit 1 "after a restart the deleted client is still gone" ctl client get "$B"
finish
