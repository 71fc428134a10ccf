#!/bin/sh
# The service examples of examples/ (README "Querying from a service"), run
# against the real daemon under service accounts' uids: the C one (libroster,
# built by make), the Python one (standard library only) and the Go one
# (Debian's Varlink Go binding, built here offline). Each must print only the
# fields its role may see and tell NotFound, PermissionDenied, QuotaExceeded
# and Locked apart by message and exit status.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

need_root "principals are bound to uids"

LOOKUP_C=${ROSTER_LOOKUP:-$(dirname "$ROSTERD")/examples/lookup}
LOOKUP_PY=$ROSTER_SRCDIR/examples/lookup.py
LOOKUP_GO=$T/lookup-go
if [ ! -x "$LOOKUP_C" ]; then
	echo "# $LOOKUP_C is missing: run make first"
	exit 1
fi
GO_SKIP=
if why=$(go_available); then
	if go_build "$LOOKUP_GO" "$ROSTER_SRCDIR/examples/lookup.go" 2> "$T/go-build.err"; then
		ok "examples/lookup.go builds offline against /usr/share/gocode"
	else
		not_ok "examples/lookup.go builds offline against /usr/share/gocode"
		sed 's/^/#   /' "$T/go-build.err"
	fi
else
	GO_SKIP=$why
	echo "# the Go example is not run: $why"
fi

# as UID COMMAND...: run a command as another uid; group 0 reaches the socket.
as() { u=$1; shift; setpriv --reuid "$u" --regid 0 --clear-groups "$@"; }
# lookup LANG UID ID...: the example in LANG (c, py, go) as UID.
lookup() {
	l=$1 u=$2; shift 2
	case $l in
	c) as "$u" env ROSTER_SOCKET="$SOCK" "$LOOKUP_C" "$@" ;;
	py) as "$u" env ROSTER_SOCKET="$SOCK" /usr/bin/python3 "$LOOKUP_PY" "$@" ;;
	go) as "$u" env ROSTER_SOCKET="$SOCK" "$LOOKUP_GO" "$@" ;;
	esac
}

init_registry
chmod 0755 "$RUN"
A=$(ctl client add --name "Example Police Service" --kind police --country GB \
	--contact-email desk@example.police.uk --tier gold --notes "internal note")
B=$(ctl client add --name "Example Bank" --kind bank --country NL)
C=$(ctl client add --name "Example Agency" --kind government --country FR)
MISSING=00000000000000000000000000000000
# A service role: Get only, identity fields only, 2 distinct records an hour,
# and a lock when it asks for more.
expect_exit 0 "role add lookup --cap clients.get --fields identity --quota 2/1h" \
	ctl role add lookup --cap clients.get --fields identity --quota 2/1h

uid=6300
for l in c py go; do
	if [ "$l" = go ] && [ -n "$GO_SKIP" ]; then
		continue
	fi
	uid=$((uid + 1))
	ctl principal add "lookup-$l" --uid "$uid" --role lookup > /dev/null
	expect_exit 0 "$l: a client it may read: exit 0" lookup "$l" "$uid" "$A"
	cp "$T/out" "$T/found-$l"
	check "$l: prints the client's identity fields, and nothing hidden by the role" \
		python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["id"] == sys.argv[2] and c["name"] == "Example Police Service", c
assert c["kind"] == "police" and c["country"] == "GB", c
for hidden in ("contact_email", "tier", "notes"):
    assert hidden not in c, c' "$T/out" "$A"
	expect_exit 3 "$l: an unknown id: exit 3" lookup "$l" "$uid" "$MISSING"
	expect_in "$T/err" "no client has the id $MISSING" "$l: ... says no client has that id"
	expect_exit 0 "$l: a second distinct record, within the quota of 2" lookup "$l" "$uid" "$B"
	expect_exit 5 "$l: a third distinct record: exit 5" lookup "$l" "$uid" "$C"
	expect_in "$T/err" "quota exceeded" "$l: ... says the quota is exceeded"
	expect_exit 6 "$l: then even a record read before: exit 6" lookup "$l" "$uid" "$A"
	expect_in "$T/err" "principal is locked; an admin must unlock it" "$l: ... says it is locked"
	expect_exit 4 "$l: an account that is not a principal: exit 4" lookup "$l" 6399 "$A"
	expect_in "$T/err" "permission denied" "$l: ... says permission denied"
	expect_in "$T/err" "this uid is not a principal" "$l: ... with the daemon's reason"
	expect_exit 2 "$l: no argument: usage, exit 2" lookup "$l" "$uid"
	ctl --json audit query --principal "lookup-$l" --limit 100 > "$T/audit-$l"
	check "$l: the audit trail has its 5 Gets under its principal and uid, 2 records disclosed" \
		python3 -c '
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))["records"]
        if r["method"] == "io.roster.Clients.Get"]
assert len(recs) == 5, recs
assert all(r["uid"] == int(sys.argv[2]) for r in recs), recs
assert sum(r["records"] for r in recs) == 2, recs' "$T/audit-$l" "$uid"
done

check "the examples print the same client" python3 -c '
import json, sys
outs = [json.load(open(f)) for f in sys.argv[1:]]
assert all(o == outs[0] for o in outs), outs' "$T"/found-*

stop_rosterd && ok "SIGTERM: clean exit 0" || not_ok "SIGTERM: clean exit 0"
if [ -n "$GO_SKIP" ] && [ "$N_FAIL" -eq 0 ]; then
	echo "# $N_OK passed, $N_FAIL failed"
	echo "# SKIP: the Go example was not run: $GO_SKIP"
	exit 77
fi
finish
