#!/bin/sh
# Principals, roles and capabilities (issue 3), against the real daemon with
# callers running under other uids (setpriv): the role x method matrix for
# every method the daemon describes, field filtering in Get, Search and List,
# unknown uids, tokens (missing, wrong, rotated, expired, removed, bound to
# their uid), locking on an already open connection, role management, and
# the rosterctl commands and their output.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

need_root "principals are bound to uids"

RP="$ROSTER_SRCDIR/tests/e2e/roles.py"
# as UID COMMAND...: run a command as another uid. Group 0 reaches the
# 0660 root:root socket, as a service account reaches it through the group.
as() { u=$1; shift; setpriv --reuid "$u" --regid 0 --clear-groups "$@"; }
# rp UID COMMAND ARGS...: a roles.py probe as UID (see roles.py).
rp() { u=$1; shift; as "$u" /usr/bin/python3 "$RP" "$SOCK" "$@"; }
# ctl_as UID ARGS...: rosterctl as UID.
ctl_as() { u=$1; shift; as "$u" "$ROSTERCTL" --socket "$SOCK" "$@"; }
# wait_lines FILE N: wait up to 10 s until FILE has N lines.
wait_lines() {
	for _ in $(seq 1 200); do
		[ "$(wc -l < "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
# line FILE N: line N of FILE.
line() { sed -n "${2}p" "$1"; }
# session_start UID METHOD PARAMS [--token T]: one connection held open by
# UID in the background (roles.py session), which makes the call at once
# and sets FIRST to its outcome; session_next makes it again on the same
# connection and sets LAST; session_end closes it.
session_start() {
	u=$1; shift
	rm -f "$T/fifo" "$T/session"
	mkfifo "$T/fifo"
	# If the session died, writing to it must fail, not kill this script.
	trap '' PIPE
	rp "$u" session "$@" < "$T/fifo" > "$T/session" 2> "$T/session.err" &
	SESSION=$!
	exec 3> "$T/fifo"
	SESSION_N=1
	wait_lines "$T/session" 1 || true
	FIRST=$(line "$T/session" 1)
}
session_next() {
	echo >&3 || true
	SESSION_N=$((SESSION_N + 1))
	wait_lines "$T/session" $SESSION_N || sed 's/^/#   session: /' "$T/session.err"
	LAST=$(line "$T/session" $SESSION_N)
}
session_end() {
	exec 3>&-
	wait "$SESSION" || true
	trap - PIPE
}
# unseal_after DESCRIPTION: the registry is sealed (by an allowed Seal); unseal it.
unseal_after() {
	expect_eq "$(state)" sealed "$1"
	ctl unseal --passphrase-file "$PASSFILE" > /dev/null
}

init_registry
chmod 0755 "$RUN"

FIX=$(ctl client add --name "Fixture Constabulary" --kind police --country GB \
	--contact-name "Ann Other" --contact-email ann@fixture.example \
	--contact-phone "+44 20 7946 0000" --tier gold --notes "internal only")

# --- principals and roles for the matrix -------------------------------------
expect_exit 0 "principal add (admin role, uid 5001)" ctl principal add adm --uid 5001 --role admin
expect_eq "$(cat "$T/out")" "" "... prints nothing without --token"
ctl principal add aud --uid 5002 --role auditor
ctl principal add svc --uid 5003 --role service
ctl principal add sup --uid 5004 --role support
expect_exit 0 "role add: a custom role with exactly one capability" \
	ctl role add finder --cap clients.search --fields identity
ctl principal add find --uid 5007 --role finder
expect_exit 0 "role add: a custom role with a comma-separated list and repeated options" \
	ctl role add reporter --cap clients.get,clients.search --cap clients.list \
	--fields identity --fields commercial
ctl principal add rep --uid 5009 --role reporter
expect_exit 0 "principal add --token (service role, uid 5008)" \
	ctl principal add tsvc8 --uid 5008 --role service --token
TOK8=$(cat "$T/out")
printf '%s\n' "$TOK8" > "$T/tok8"
chown 5008 "$T/tok8"
chmod 0600 "$T/tok8"

# --- the role x method matrix --------------------------------------------------
ADMIN=all
AUDITOR=audit.read,audit.verify
SERVICE=clients.get
SUPPORT=clients.get,clients.search
FINDER=clients.search
REPORTER=clients.get,clients.search,clients.list
# row LABEL UID CAPS [--token T]: every method as UID, checked against CAPS.
row() {
	label=$1; u=$2; caps=$3; shift 3
	if rp "$u" matrix "$caps" "$FIX" "$@" > "$T/m.$label" 2> "$T/m.$label.err"; then
		ok "matrix: $label (uid $u) gets exactly what $caps allows, for every method"
	else
		not_ok "matrix: $label (uid $u) gets exactly what $caps allows, for every method"
		python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["mismatches"]: print("#   " + m)' "$T/m.$label" \
			2>/dev/null || sed 's/^/#   /' "$T/m.$label" "$T/m.$label.err"
	fi
	COLS="$COLS $label=$T/m.$label"
}
COLS=
row root 0 "$ADMIN"
expect_exit 0 "while sealed, rosterctl --token-file status still works" \
	ctl_as 5008 --token-file "$T/tok8" status
expect_in "$T/out" "state: sealed" "... and shows the registry sealed"
unseal_after "... Seal by root really sealed the registry"
row admin 5001 "$ADMIN"
unseal_after "... Seal by the admin principal really sealed the registry"
row auditor 5002 "$AUDITOR"
row service 5003 "$SERVICE"
row service+tok 5008 "$SERVICE" --token "$TOK8"
row support 5004 "$SUPPORT"
row finder 5007 "$FINDER"
row reporter 5009 "$REPORTER"
row unknown 5999 none
expect_eq "$(state)" unsealed "no denied Seal sealed the registry"
# shellcheck disable=SC2086
python3 "$RP" "$SOCK" table $COLS || not_ok "print the matrix"

# --- field filtering ------------------------------------------------------------
ALWAYS=created_at,id,updated_at,version
IDENT=country,kind,name,status
CONTACT=contact_email,contact_name,contact_phone
sorted() { printf '%s\n' "$@" | tr ',' '\n' | sort | paste -sd, -; }
SERVICE_KEYS=$(sorted $ALWAYS $IDENT)
SUPPORT_KEYS=$(sorted $ALWAYS $IDENT $CONTACT)
REPORTER_KEYS=$(sorted $ALWAYS $IDENT tier)
ALL_KEYS=$(sorted $ALWAYS $IDENT $CONTACT tier notes)
# keys UID METHOD [--token T]: the fixture's keys as METHOD returns it to UID.
keys() { u=$1; m=$2; shift 2; rp "$u" keys "$m" "$FIX" Fixture "$@"; }
expect_eq "$(keys 5003 Get)" "$SERVICE_KEYS" "service: Get shows only identity fields"
expect_eq "$(keys 5008 Get --token "$TOK8")" "$SERVICE_KEYS" \
	"service with a token: Get shows only identity fields"
expect_eq "$(keys 5004 Get)" "$SUPPORT_KEYS" "support: Get shows identity and contact fields"
expect_eq "$(keys 5004 Search)" "$SUPPORT_KEYS" "support: Search the same"
expect_eq "$(keys 5007 Search)" "$SERVICE_KEYS" \
	"finder (identity): Search shows only identity fields"
expect_eq "$(keys 5009 Get)" "$REPORTER_KEYS" "reporter (identity, commercial): Get"
expect_eq "$(keys 5009 Search)" "$REPORTER_KEYS" "reporter: Search the same"
expect_eq "$(keys 5009 List)" "$REPORTER_KEYS" "reporter: List the same"
expect_eq "$(keys 5001 List)" "$ALL_KEYS" "admin principal: List shows every field"
expect_eq "$(keys 0 Get)" "$ALL_KEYS" "root: Get shows every field"
expect_eq "$(keys 5002 Get)" PermissionDenied "auditor: no client data at all (Get)"
expect_exit 0 "rosterctl client get as the service principal" ctl_as 5003 client get "$FIX"
expect_in "$T/out" "name: Fixture Constabulary" "... shows the name"
expect_not_in "$T/out" "contact_" "... and no contact field"
expect_not_in "$T/out" "gold" "... nor the tier"
expect_not_in "$T/out" "internal only" "... nor the notes"

# --- unknown uid ---------------------------------------------------------------
expect_eq "$(rp 5999 call io.roster.Clients.Get "{\"id\":\"$FIX\"}")" PermissionDenied \
	"an unknown uid is denied Clients.Get"
expect_eq "$(rp 5999 call io.roster.Admin.PrincipalList)" PermissionDenied \
	"an unknown uid is denied PrincipalList"
expect_eq "$(rp 5999 call io.roster.Admin.Status)" ok "an unknown uid may call Status"
expect_exit 0 "whoami as an unknown uid" ctl_as 5999 whoami
expect_in "$T/out" "principal: -" "... names no principal"
expect_in "$T/out" "capabilities: -" "... and no capability"
expect_in "$T/out" "uid: 5999" "... but the kernel's uid"

# --- whoami --------------------------------------------------------------------
expect_exit 0 "whoami as the service principal" ctl_as 5003 whoami
expect_in "$T/out" "principal: svc" "... names the principal"
expect_in "$T/out" "role: service" "... its role"
expect_in "$T/out" "capabilities: clients.get" "... its capabilities"
expect_in "$T/out" "fields: identity" "... its field classes"
expect_in "$T/out" "bootstrap: no" "... and it is not a bootstrap admin"
expect_exit 0 "whoami as root" ctl whoami
expect_in "$T/out" "role: admin" "... root is admin"
expect_in "$T/out" "bootstrap: yes" "... as a bootstrap admin"
expect_exit 0 "whoami --json as the support principal" ctl_as 5004 --json whoami
check "... has the role's capabilities and fields" python3 -c '
import json, sys
w = json.load(open(sys.argv[1]))
assert w["principal"] == "sup" and w["role"] == "support", w
assert sorted(w["capabilities"]) == ["clients.get", "clients.search"], w
assert sorted(w["fields"]) == ["contact", "identity"] and w["bootstrap"] is False, w
assert w["uid"] == 5004 and w["gid"] == 0 and w["pid"] > 0, w' "$T/out"

# --- tokens ---------------------------------------------------------------------
check "the token printed by principal add looks like roster_ and 64 hex digits" \
	sh -c "printf '%s' '$TOK8' | grep -Eqx 'roster_[0-9a-f]{64}'"
expect_exit 0 "principal add --token (uid 5005, service)" \
	ctl principal add tsvc --uid 5005 --role service --token
TOK=$(cat "$T/out")
expect_eq "$(wc -l < "$T/out")" 1 "... prints the token alone on stdout"
expect_in "$T/err" "shown only once" "... and says on stderr that it is shown only once"
expect_exit 0 "a second token principal on the same uid (support)" \
	ctl principal add tsup --uid 5005 --role support --token
TOKS=$(cat "$T/out")
[ "$TOK" != "$TOKS" ] && ok "... gets a different token" || not_ok "... gets a different token"
GET="{\"id\":\"$FIX\"}"
SEARCH='{"query":"Fixture"}'
expect_eq "$(rp 5005 call io.roster.Clients.Get "$GET")" AuthenticationRequired \
	"a token principal's uid without Authenticate: AuthenticationRequired"
expect_eq "$(rp 5005 call io.roster.Clients.Get "$GET" --token roster_0123)" \
	"AuthenticationRequired AuthenticationRequired" "a wrong token is refused, and so is the call"
expect_eq "$(rp 5005 call io.roster.Clients.Get "$GET" --token "$TOK")" "ok ok" \
	"the right token: Authenticate and Get succeed"
expect_eq "$(rp 5005 call io.roster.Clients.Search "$SEARCH" --token "$TOK")" \
	"ok PermissionDenied" "... as the service principal, which may not search"
expect_eq "$(rp 5005 call io.roster.Clients.Search "$SEARCH" --token "$TOKS")" "ok ok" \
	"the other token on the same uid acts as the support principal"
expect_eq "$(rp 5006 call io.roster.Clients.Get "$GET" --token "$TOK")" \
	"AuthenticationRequired PermissionDenied" "a token is refused from another uid"
expect_exit 0 "principal list" ctl principal list
expect_not_in "$T/out" "$TOK" "... never shows a token"
ctl --json audit query --method io.roster.Admin.Authenticate > "$T/authq"
check "Authenticate's records: a success under the name and role it proved, a refusal as unknown" \
	python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
rs = [(r["uid"], r["principal"], r["result"]) for r in recs]
roles = {(r["principal"], r["role"]) for r in recs if r["result"] == "ok"}
assert ("tsvc", "service") in roles and ("tsup", "support") in roles, roles
assert (5005, "tsvc", "ok") in rs and (5005, "tsup", "ok") in rs, rs
assert (5005, "unknown", "denied") in rs and (5006, "unknown", "denied") in rs, rs
assert all(p != "unknown" for u, p, res in rs if res == "ok"), rs' "$T/authq"

printf '%s\n' "$TOK" > "$T/token"
chown 5005 "$T/token"
chmod 0600 "$T/token"
expect_exit 0 "rosterctl --token-file FILE whoami as the token's uid" \
	ctl_as 5005 --token-file "$T/token" whoami
expect_in "$T/out" "principal: tsvc" "... names the token's principal"
expect_exit 0 "ROSTER_TOKEN_FILE: client get" \
	as 5005 env ROSTER_TOKEN_FILE="$T/token" "$ROSTERCTL" --socket "$SOCK" client get "$FIX"
expect_in "$T/out" "name: Fixture Constabulary" "... shows the client"
expect_exit 1 "rosterctl without the token as that uid fails" ctl_as 5005 client get "$FIX"
expect_in "$T/err" "io.roster.AuthenticationRequired" "... with AuthenticationRequired"
chmod 0640 "$T/token"
expect_exit 1 "rosterctl refuses a token file others may read" \
	ctl_as 5005 --token-file "$T/token" whoami
expect_in "$T/err" "group or others" "... and says why"
chmod 0600 "$T/token"

session_start 5005 io.roster.Clients.Get "$GET" --token "$TOK"
expect_eq "$FIRST" ok "a connection authenticated with the token: Get"
expect_exit 0 "token rotate" ctl token rotate tsvc
TOK2=$(cat "$T/out")
check "... prints a new token" sh -c "printf '%s' '$TOK2' | grep -Eqx 'roster_[0-9a-f]{64}'"
expect_in "$T/err" "shown only once" "... once"
session_next
expect_eq "$LAST" AuthenticationRequired \
	"... the connection that presented the old token is refused at once"
session_end
expect_eq "$(rp 5005 call io.roster.Clients.Get "$GET" --token "$TOK")" \
	"AuthenticationRequired AuthenticationRequired" "the rotated-away token is refused"
expect_eq "$(rp 5005 call io.roster.Clients.Get "$GET" --token "$TOK2")" "ok ok" \
	"the new token works"
expect_exit 1 "token rotate of an unknown principal" ctl token rotate nobody
expect_in "$T/err" "io.roster.NotFound" "... NotFound"

expect_exit 0 "principal add --token --expires 2s" \
	ctl principal add texp --uid 5005 --role service --token --expires 2s
TOKX=$(cat "$T/out")
session_start 5005 io.roster.Clients.Get "$GET" --token "$TOKX"
expect_eq "$FIRST" ok "the expiring token works at first"
ctl --json principal list > "$T/plist"
check "principal list --json shows the token's expiry" python3 -c '
import json, sys
p = {x["name"]: x for x in json.load(open(sys.argv[1]))["principals"]}
assert p["texp"]["token"] is True and p["texp"]["token_expires"].endswith("Z"), p["texp"]
assert "token_expires" not in p["tsup"] or p["tsup"]["token_expires"] is None, p["tsup"]
assert p["svc"]["token"] is False and p["svc"]["uid"] == 5003, p["svc"]' "$T/plist"
sleep 3
expect_eq "$(rp 5005 call io.roster.Clients.Get "$GET" --token "$TOKX")" \
	"AuthenticationRequired AuthenticationRequired" "after 3 s the 2 s token is refused"
session_next
expect_eq "$LAST" AuthenticationRequired "... also on the connection that presented it in time"
session_end

session_start 5005 io.roster.Clients.Get "$GET" --token "$TOK2"
expect_exit 0 "principal rm of a token principal" ctl principal rm tsvc
expect_eq "$(rp 5005 call io.roster.Clients.Get "$GET" --token "$TOK2")" \
	"AuthenticationRequired AuthenticationRequired" "its token is refused after principal rm"
session_next
expect_eq "$FIRST $LAST" "ok AuthenticationRequired" \
	"... also on a connection that presented it before"
session_end
expect_eq "$(rp 5005 call io.roster.Clients.Search "$SEARCH" --token "$TOKS")" "ok ok" \
	"... while the uid's other token principal still works"
ctl principal rm tsup
ctl principal rm texp
expect_eq "$(rp 5005 call io.roster.Clients.Get "$GET")" PermissionDenied \
	"with all its principals removed the uid is unknown"

# --- locking takes effect on an open connection ---------------------------------
session_start 5003 io.roster.Clients.Get "$GET"
expect_eq "$FIRST" ok "service: Get on an open connection"
expect_exit 0 "principal lock" ctl principal lock svc
session_next
expect_eq "$LAST" Locked "... the same open connection now gets Locked"
expect_eq "$(rp 5003 call io.roster.Clients.Get "$GET")" Locked "... and so does a new one"
expect_eq "$(rp 5003 call io.roster.Admin.WhoAmI)" ok "... but public methods still answer"
ctl principal list > "$T/plist"
check "principal list shows it locked" grep -Eq '^svc +5003 +service +no +yes' "$T/plist"
expect_exit 0 "principal unlock" ctl principal unlock svc
session_next
expect_eq "$LAST" ok "... and the open connection works again"
session_end
expect_exit 1 "principal lock of an unknown principal" ctl principal lock nobody
expect_in "$T/err" "io.roster.NotFound: no principal named nobody" "... NotFound, naming it"

# --- principal list ---------------------------------------------------------------
expect_exit 0 "principal list" ctl principal list
check "... has the header NAME UID ROLE TOKEN LOCKED LAST SEEN" \
	grep -Eq '^NAME +UID +ROLE +TOKEN +LOCKED +LAST SEEN$' "$T/out"
check "... a principal that made calls has a last-seen time" \
	grep -Eq '^svc +5003 +service +no +no +[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$T/out"
check "... a token principal shows token yes" grep -Eq '^tsvc8 +5008 +service +yes +no ' "$T/out"

# --- principal add refusals ------------------------------------------------------
expect_exit 1 "principal add with an unknown role" ctl principal add x1 --uid 5010 --role nosuch
expect_in "$T/err" "io.roster.NotFound" "... NotFound"
expect_in "$T/err" "nosuch" "... naming the role"
expect_exit 1 "principal add with a name already taken" \
	ctl principal add svc --uid 5011 --role service
expect_in "$T/err" "io.roster.Exists" "... Exists"
expect_exit 1 "a second principal without a token on one uid" \
	ctl principal add svc2 --uid 5003 --role support
expect_in "$T/err" "io.roster.Exists" "... Exists"
expect_exit 1 "principal add for uid 0 (a bootstrap admin)" \
	ctl principal add root2 --uid 0 --role auditor
expect_in "$T/err" "io.roster.Exists" "... Exists"
expect_exit 1 "principal add with an invalid name" \
	ctl principal add 'bad name' --uid 5012 --role service
expect_in "$T/err" "invalid parameter: name" "... InvalidParameter, naming name"
expect_exit 2 "principal add without --role is a usage error" ctl principal add x2 --uid 5012
expect_exit 2 "principal add --expires without --token is a usage error" \
	ctl principal add x3 --uid 5012 --role service --expires 1h
expect_exit 2 "a malformed duration is a usage error" \
	ctl principal add x4 --uid 5012 --role service --token --expires 1w
ctl --json principal list > "$T/plist"
check "none of the refused principals was stored" python3 -c '
import json, sys
names = {x["name"] for x in json.load(open(sys.argv[1]))["principals"]}
assert not names & {"x1", "svc2", "root2", "bad name", "x2", "x3", "x4"}, names' "$T/plist"

# --- role management -------------------------------------------------------------
expect_exit 0 "role show finder" ctl role show finder
expect_in "$T/out" "name: finder" "... name"
expect_in "$T/out" "builtin: no" "... not built in"
expect_in "$T/out" "capabilities: clients.search" "... its one capability"
expect_in "$T/out" "fields: identity" "... its field class"
expect_in "$T/out" "lock_on_quota: yes" "... locks on quota by default"
expect_in "$T/out" "principals: find" "... lists the principals holding it"
CHANGED=$(sed -n 's/^changed_at: //p' "$T/out")
expect_exit 1 "role rm of a role in use" ctl role rm finder
expect_in "$T/err" "io.roster.InUse" "... InUse"
expect_exit 1 "role rm of a built-in role" ctl role rm service
expect_in "$T/err" "io.roster.InUse" "... InUse"
expect_exit 1 "role rm of an unknown role" ctl role rm nosuch
expect_in "$T/err" "io.roster.NotFound: no role named nosuch" "... NotFound, naming it"
expect_exit 1 "role add --replace of a built-in role" \
	ctl role add service --cap clients.get,clients.list --fields identity --replace
expect_in "$T/err" "io.roster.InUse" "... InUse"
expect_exit 1 "role add of an existing name without --replace" ctl role add finder --cap clients.get
expect_in "$T/err" "io.roster.Exists" "... Exists"
expect_exit 0 "role show service after the refusals" ctl --json role show service
check "... the built-in service role is unchanged" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["role"]
assert r["builtin"] is True and r["capabilities"] == ["clients.get"], r
assert r["fields"] == ["identity"] and sorted(r["principals"]) == ["svc", "tsvc8"], r' "$T/out"
sleep 1  # changed_at has a resolution of one second
expect_exit 0 "role add --replace of a custom role in use" \
	ctl role add finder --cap clients.search --fields identity,contact --replace
expect_eq "$(keys 5007 Search)" "$SUPPORT_KEYS" "... its principal sees the new fields at once"
ctl role show finder > "$T/out"
expect_in "$T/out" "fields: identity contact" "... role show has the new fields"
NOW=$(sed -n 's/^changed_at: //p' "$T/out")
[ -n "$NOW" ] && [ "$NOW" != "$CHANGED" ] && ok "... and a new changed_at ($NOW)" ||
	not_ok "... and a new changed_at (was '$CHANGED', now '$NOW')"
expect_exit 0 "role add with --quota and --no-lock" \
	ctl role add temp --cap audit.read --quota 50/1h --no-lock
expect_exit 0 "role show temp" ctl role show temp
expect_in "$T/out" "quota: 50/1h" "... quota"
expect_in "$T/out" "lock_on_quota: no" "... no lock"
expect_in "$T/out" "principals: -" "... no principals"
expect_exit 0 "role list" ctl role list
check "... header NAME BUILTIN CAPABILITIES FIELDS QUOTA PRINCIPALS" \
	grep -Eq '^NAME +BUILTIN +CAPABILITIES +FIELDS +QUOTA +PRINCIPALS$' "$T/out"
check "... the auditor row" grep -Eq '^auditor +yes +audit.read,audit.verify +- +- +1$' "$T/out"
check "... the temp row" grep -Eq '^temp +no +audit.read +- +50/1h +0$' "$T/out"
check "... the admin row has all 13 capabilities" sh -c \
	"grep -E '^admin +yes ' '$T/out' | awk '{print \$3}' | tr ',' '\n' | sort -u | wc -l | grep -qx 13"
expect_exit 0 "role rm of an unused custom role" ctl role rm temp
expect_exit 1 "... then role show temp" ctl role show temp
expect_in "$T/err" "io.roster.NotFound" "... NotFound"
expect_exit 1 "role add with an unknown capability" ctl role add bad --cap clients.fly
expect_in "$T/err" "invalid parameter: capabilities" "... InvalidParameter, naming capabilities"
expect_exit 1 "role add with an unknown field class" \
	ctl role add bad --cap clients.get --fields secret
expect_in "$T/err" "invalid parameter: fields" "... InvalidParameter, naming fields"
expect_exit 1 "role add with a malformed quota" ctl role add bad --cap clients.get --quota 5/1w
expect_in "$T/err" "invalid parameter: quota" "... InvalidParameter, naming quota"
expect_exit 1 "... none was stored" ctl role show bad
expect_exit 2 "role add without --cap is a usage error" ctl role add bad --fields identity
expect_exit 1 "the service principal may not add roles" ctl_as 5003 role add x --cap clients.get
expect_in "$T/err" "io.roster.PermissionDenied" "... PermissionDenied"

# --- a principal's unknown method and garbage are on its own name ---------------
as 5003 /usr/bin/python3 -c '
import os, sys
sys.path.insert(0, os.path.join(os.environ["ROSTER_SRCDIR"], "tests/e2e"))
from varlink import Conn
c = Conn(sys.argv[1])
c.call("io.roster.Clients.Nope", {})
c.send_raw(b"{bad\0")
c.closed(5)' "$SOCK"
ctl --json audit query --limit 1000 > "$T/own"
check "the service principal's unknown method and malformed message name it, not unknown" \
	python3 -c '
import json, sys
rs = [r for r in json.load(open(sys.argv[1]))["records"] if r["uid"] == 5003]
nope = [r for r in rs if r["method"] == "io.roster.Clients.Nope"]
bad = [r for r in rs if r["method"] == "" and r["result"] == "invalid"]
assert len(nope) == 1 and len(bad) == 1, rs
for r in nope + bad:
    assert r["principal"] == "svc" and r["role"] == "service", r' "$T/own"

stop_rosterd && ok "SIGTERM: clean exit 0" || not_ok "SIGTERM: clean exit 0"
finish
