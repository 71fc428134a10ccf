#!/bin/sh
# Key rotation ("rosterctl key rotate"): the data key (the database is
# copied under a new key and renamed over the old file) and the audit
# signing key (a key roll signed by the old key names the new one).
#
# Checked: the data, principals and service tokens carry on; the old
# keyring no longer opens the database; the audit chain verifies across
# every rotation, in the daemon and offline in the copy syslog-ng received,
# from the first audit key alone; calls made during a rotation get Busy
# and are on the record; a Seal during a rotation leaves the registry
# sealed; a wrong passphrase changes nothing. Then rosterd is killed
# (SIGKILL) at each step of a data-key rotation, and every time the
# restarted registry unseals with every client, a verifying chain and a
# keyring with one data key: the old one if the copy had not yet replaced
# the database, the new one if it had.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"
need_syslog_ng

NCLIENTS=3000
printf 'definitely not it\n' > "$T/wrong"
chmod 600 "$T/wrong"

# keyring_flags: the keyring's flags word (format 2: bytes 104..107), 1 while a rotation is pending.
keyring_flags() {
	python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); print(int.from_bytes(b[104:108], "big"))' \
		"$STATE/keyring"
}
# count_clients: the clients an approved export holds is overkill; List pages of 100 would need
# approvals. The database's own count (Status) is what a restart must keep.
count_clients() { vl_field io.roster.Admin.Status '{}' parameters.clients; }
# wait_log PATTERN SECONDS: until the daemon's log has PATTERN (fixed string).
wait_log() {
	for _ in $(seq 1 $(($2 * 100))); do
		grep -qF "$1" "$LOG" && return 0
		sleep 0.01
	done
	return 1
}

start_syslog
start_rosterd --syslog-socket "$SNG/syslog.sock"
vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > /dev/null
python3 - "$T/clients.jsonl" "$NCLIENTS" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"name": "Rotating Client %05d" % i, "kind": "bank", "country": "DE",
                            "notes": "x" * 200}) + "\n")
EOF
check "import $NCLIENTS clients" ctl client import "$T/clients.jsonl"
ID=$(ctl client add --name "Osprey Border Agency" --kind government --country FI)
ctl audit pubkey > "$T/pk0"

# A service with a token (root only: it runs under another uid).
TOKENS=0
if [ "$(id -u)" -eq 0 ]; then
	TOKENS=1
	ctl principal add svc --uid 5301 --role service --token > "$T/tok" 2> /dev/null
	chown 5301 "$T/tok"
	chmod 0600 "$T/tok"
	svc() { setpriv --reuid 5301 --regid 0 --clear-groups "$ROSTERCTL" --socket "$SOCK" \
		--token-file "$T/tok" "$@"; }
	svc client get "$ID" > "$T/g" 2>&1
	expect_in "$T/g" "Osprey Border Agency" "a service reads a client with its token"
else
	echo "# not root: the service-token checks are left out (they need another uid)"
fi

# --- refusals ---------------------------------------------------------------
cp "$STATE/keyring" "$T/keyring.0"
expect_exit 1 "key rotate with a wrong passphrase is refused" \
	ctl key rotate --passphrase-file "$T/wrong"
expect_in "$T/err" "BadPassphrase" "... as BadPassphrase"
check "... and the keyring is unchanged" cmp "$STATE/keyring" "$T/keyring.0"
expect_eq "$(state)" unsealed "... and the registry stays unsealed"
expect_exit 2 "key rotate with an operand is a usage error" ctl key rotate extra
vl io.roster.Admin.Rekey "{\"passphrase\":\"$PASSPHRASE\",\"rotate\":[\"keys\"]}" > "$T/r" 2>&1 || true
expect_in "$T/r" '"parameter": "rotate"' "Rekey with rotate [\"keys\"] names the bad parameter"
vl io.roster.Admin.Rekey "{\"passphrase\":\"$PASSPHRASE\",\"rotate\":[\"data\"],\"new_passphrase\":\"another passphrase entirely\"}" > "$T/r" 2>&1 || true
expect_in "$T/r" '"parameter": "new_passphrase"' "... and with rotate and new_passphrase together"
check "... and the keyring is unchanged" cmp "$STATE/keyring" "$T/keyring.0"

# --- the data key, with calls during it ----------------------------------------
ctl key rotate --passphrase-file "$PASSFILE" > "$T/rot" 2> "$T/rot.err" &
ROT=$!
: > "$T/states"
while kill -0 "$ROT" 2>/dev/null; do
	state >> "$T/states" 2>/dev/null || true
	vl io.roster.Clients.Get "{\"id\":\"$ID\"}" >> "$T/during" 2>&1 || true
	sleep 0.02
done
check "key rotate (the data key) succeeds" wait "$ROT"
expect_in "$T/rot" "data key rotated" "... and says so"
expect_in "$T/states" "rotating" "Status said \"rotating\" during the rotation"
expect_in "$T/during" "io.roster.Busy" "a Get during the rotation got io.roster.Busy"
expect_eq "$(state)" unsealed "the registry is unsealed after it"
if cmp -s "$STATE/keyring" "$T/keyring.0"; then not_ok "the keyring was rewritten"
else ok "the keyring was rewritten"; fi
expect_eq "$(keyring_flags)" 0 "... with no rotation pending"
expect_eq "$(stat -c %a "$STATE/keyring") $(stat -c %a "$STATE/roster.db")" "600 600" \
	"keyring and database are 0600"
check "no copy is left behind" test ! -e "$STATE/roster.db.rotate"
expect_eq "$(count_clients)" $((NCLIENTS + 1)) "every client is there"
ctl client get "$ID" > "$T/g"
expect_in "$T/g" "Osprey Border Agency" "... and reads back"
if [ "$TOKENS" = 1 ]; then
	svc client get "$ID" > "$T/g" 2>&1
	expect_in "$T/g" "Osprey Border Agency" "the service's token still works"
fi
expect_not_in "$STATE/roster.db" "Osprey Border Agency" "the new database file holds no plaintext"
expect_exit 0 "the audit chain verifies across the rotation" ctl audit verify
ctl --json audit query --method io.roster.Admin.Rekey > "$T/q"
python3 -c '
import json, sys
print(" ".join("%s:%s:%s" % (r["result"], r.get("error", ""), r.get("alert", ""))
               for r in json.load(open(sys.argv[1]))["records"]))' "$T/q" > "$T/results"
expect_eq "$(cat "$T/results")" \
	"error:io.roster.BadPassphrase: invalid:org.varlink.service.InvalidParameter: invalid:org.varlink.service.InvalidParameter: ok::REKEY ok::" \
	"the trail has the refusals, the REKEY record and the call"
ctl --json audit query --method io.roster.Clients.Get --result error > "$T/q"
expect_in "$T/q" "io.roster.Busy" "the calls answered Busy are on the record"
expect_not_in "$LOG" "$PASSPHRASE" "the daemon's log holds no passphrase"

# The old keyring no longer opens the database.
check "SIGTERM stops the daemon" stop_rosterd
cp "$STATE/keyring" "$T/keyring.1"
cp "$T/keyring.0" "$STATE/keyring"
check "rosterd starts sealed with the old keyring" start_rosterd
expect_exit 1 "the old keyring's data key does not open the rotated database" \
	ctl unseal --passphrase-file "$PASSFILE"
expect_in "$LOG" "the data key does not open" "... and the log says why"
check "SIGTERM stops the daemon" stop_rosterd
cp "$T/keyring.1" "$STATE/keyring"
check "rosterd restarts unsealed with the rotated keyring" \
	start_rosterd --passphrase-file "$PASSFILE" --syslog-socket "$SNG/syslog.sock"
expect_eq "$(state)" unsealed "... and is unsealed"

# --- the audit key ------------------------------------------------------------------
ctl audit tail > "$T/tail" 2>&1 &
TAIL=$!
sleep 0.5
check "key rotate --audit-key succeeds" ctl key rotate --audit-key --passphrase-file "$PASSFILE"
for _ in $(seq 1 60); do grep -q KEYROLL "$T/tail" && break; sleep 0.1; done
check "audit tail follows the trail across the rotation" kill -0 "$TAIL"
expect_in "$T/tail" "KEYROLL" "... and shows its KEYROLL record"
kill "$TAIL"; wait "$TAIL" 2>/dev/null || true
ctl audit pubkey > "$T/pk1"
if cmp -s "$T/pk0" "$T/pk1"; then not_ok "the audit public key changed"
else ok "the audit public key changed"; fi
ctl audit pubkey --all > "$T/pk-all"
expect_eq "$(cat "$T/pk-all")" "$(cat "$T/pk0" "$T/pk1")" "audit pubkey --all lists the old key, then the new"
ctl --json audit query --method io.roster.Admin.Rekey > "$T/q"
expect_in "$T/q" '"KEYROLL"' "the audit-key rotation has its KEYROLL record"
check "both keys at once" ctl key rotate --data-key --audit-key --passphrase-file "$PASSFILE"
expect_eq "$(ctl audit pubkey --all | wc -l)" 3 "... three audit keys are known"
check "a checkpoint under the newest key" ctl audit checkpoint
expect_exit 0 "the chain verifies in the daemon, from the first key through both rolls" \
	ctl audit verify
if [ "$TOKENS" = 1 ]; then
	svc client get "$ID" > "$T/g" 2>&1
	expect_in "$T/g" "Osprey Border Agency" "the service's token still works"
fi

# The copy syslog-ng received, offline.
for _ in $(seq 1 200); do
	lag=$(vl_field io.roster.Admin.Status '{}' parameters.audit_ship_lag)
	[ "$lag" = 0 ] && break
	sleep 0.05
done
expect_eq "$lag" 0 "syslog-ng has every record"
expect_in "$JSONL" '"next_pubkey"' "the shipped copy has the key rolls"
expect_exit 0 "the shipped copy verifies offline with the first audit key alone" \
	ctl audit verify --log "$JSONL" --pubkey "$T/pk0"
expect_exit 1 "... but not with the newest key alone (the old checkpoints are not its)" \
	ctl audit verify --log "$JSONL" --pubkey "$T/pk1"
expect_exit 0 "... and with every key (audit pubkey --all)" \
	ctl audit verify --log "$JSONL" --pubkey "$T/pk-all"

# --- a Seal during a rotation --------------------------------------------------------
ctl key rotate --passphrase-file "$PASSFILE" > /dev/null 2>&1 &
ROT=$!
seen=
while kill -0 "$ROT" 2>/dev/null; do
	if [ "$(state 2>/dev/null)" = rotating ]; then seen=1; break; fi
	sleep 0.01
done
expect_eq "$seen" 1 "a rotation was caught in state rotating"
check "seal during the rotation is accepted" ctl seal
wait "$ROT" || true
expect_eq "$(state)" sealed "the registry is sealed when the rotation ends"
check "it unseals" ctl unseal --passphrase-file "$PASSFILE"
expect_eq "$(count_clients)" $((NCLIENTS + 1)) "... with every client"
expect_eq "$(keyring_flags)" 0 "... and one data key in the keyring"
expect_exit 0 "... and a chain that verifies" ctl audit verify

# --- kills in the middle ---------------------------------------------------------------
# kill_at MARK EXPECT: start a data-key rotation, SIGKILL rosterd as soon as
# its log has MARK, restart it, and check the registry is whole, with the
# data key EXPECT ("old", "new" or "either") in force.
round=0
kill_at() {
	round=$((round + 1))
	cp "$STATE/keyring" "$T/keyring.before"
	lines=$(wc -l < "$LOG")
	ctl key rotate --passphrase-file "$PASSFILE" > /dev/null 2>&1 &
	ROT=$!
	found=0
	for _ in $(seq 1 3000); do
		if tail -n +"$((lines + 1))" "$LOG" | grep -qF "$1"; then found=1; break; fi
		sleep 0.005
	done
	kill -KILL "$ROSTERD_PID"
	wait "$ROSTERD_PID" 2>/dev/null || true
	ROSTERD_PID=
	wait "$ROT" 2>/dev/null || true
	expect_eq "$found" 1 "kill $round: rosterd was killed at \"$1\""
	after_kill=$(keyring_flags)
	check "kill $round: rosterd restarts and unseals" \
		start_rosterd --passphrase-file "$PASSFILE" --syslog-socket "$SNG/syslog.sock"
	expect_eq "$(state)" unsealed "kill $round: ... unsealed"
	expect_eq "$(keyring_flags)" 0 "kill $round: the keyring is settled on one data key (it was $after_kill)"
	check "kill $round: no copy is left behind" test ! -e "$STATE/roster.db.rotate"
	expect_eq "$(count_clients)" $((NCLIENTS + 1)) "kill $round: every client is there"
	ctl client get "$ID" > "$T/g" 2>&1
	expect_in "$T/g" "Osprey Border Agency" "kill $round: ... and reads back"
	expect_exit 0 "kill $round: the audit chain verifies" ctl audit verify
	settled=$(tail -n +"$((lines + 1))" "$LOG" | grep -o 'interrupted [a-z ]*' | head -1)
	case $2 in
	old) expect_eq "$settled" "interrupted before it took effect" \
		"kill $round: the old data key stayed in force" ;;
	new) expect_eq "$settled" "interrupted after the database was replaced" \
		"kill $round: the new data key is in force" ;;
	either) case $settled in
		"interrupted before it took effect"|"interrupted after the database was replaced"|"")
			ok "kill $round: one key or the other is in force (${settled:-nothing was pending})" ;;
		*) not_ok "kill $round: unexpected settlement \"$settled\"" ;;
		esac ;;
	esac
}
kill_at "rotation: pending keyring written" old
kill_at "rotation: copy checked" either
kill_at "rotation: database replaced" new
kill_at "rotation: record" either
check "after the kills, a rotation runs to the end" ctl key rotate --passphrase-file "$PASSFILE"
if [ "$TOKENS" = 1 ]; then
	svc client get "$ID" > "$T/g" 2>&1
	expect_in "$T/g" "Osprey Border Agency" "the service's token still works after all that"
fi
expect_exit 0 "the chain verifies after all that" ctl audit verify
finish
