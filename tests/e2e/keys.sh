#!/bin/sh
# Passphrase change: "rosterctl key passwd" rewraps the keyring atomically
# under a new passphrase; the old one no longer unseals (live or after a
# restart), the new one does and the data is all there; a wrong current
# passphrase changes nothing; the change is on the audit trail; a backup
# made before the change still opens with the passphrase of its time.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

NEWFILE="$T/new-passphrase"
NEWPASS="a brand new passphrase for the keyring"
printf '%s\n' "$NEWPASS" > "$NEWFILE"
chmod 600 "$NEWFILE"
printf 'definitely not it\n' > "$T/wrong"
printf 'short\n' > "$T/short"
chmod 600 "$T/wrong" "$T/short"

init_registry
ctl client add --name "Narwhal Customs Office" --kind government --country NO > /dev/null
check "a backup made before the change" ctl backup create "$T/before.rbk"
cp "$STATE/keyring" "$T/keyring.orig"

expect_exit 1 "key passwd with a wrong current passphrase is refused" \
	ctl key passwd --passphrase-file "$T/wrong" --new-passphrase-file "$NEWFILE"
expect_in "$T/err" "BadPassphrase" "... as BadPassphrase"
check "... and the keyring is unchanged" cmp "$STATE/keyring" "$T/keyring.orig"
expect_exit 1 "a new passphrase shorter than 12 bytes is refused" \
	ctl key passwd --passphrase-file "$PASSFILE" --new-passphrase-file "$T/short"
expect_in "$T/err" "InvalidParameter" "... as InvalidParameter"
check "... and the keyring is unchanged" cmp "$STATE/keyring" "$T/keyring.orig"
expect_exit 2 "key passwd with an operand is a usage error" ctl key passwd extra

expect_exit 0 "key passwd with the right passphrase succeeds" \
	ctl key passwd --passphrase-file "$PASSFILE" --new-passphrase-file "$NEWFILE"
if cmp -s "$STATE/keyring" "$T/keyring.orig"; then not_ok "the keyring was rewritten"
else ok "the keyring was rewritten"; fi
expect_eq "$(stat -c %a "$STATE/keyring")" 600 "the new keyring is 0600"
check "no temporary keyring is left behind" test ! -e "$STATE/keyring.tmp"
expect_eq "$(state)" unsealed "the registry stays unsealed"

ctl --json audit query --method io.roster.Admin.Rekey > "$T/q"
python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
print(" ".join("%s:%s" % (r["result"], r.get("error", "")) for r in recs))' "$T/q" > "$T/results"
expect_eq "$(cat "$T/results")" \
	"error:io.roster.BadPassphrase invalid:org.varlink.service.InvalidParameter ok:" \
	"the audit trail has both refusals and the change"
expect_not_in "$LOG" "$NEWPASS" "the daemon's log holds no new passphrase"
expect_not_in "$T/q" "$NEWPASS" "the audit records hold no passphrase"

check "seal" ctl seal
expect_exit 1 "the old passphrase no longer unseals" ctl unseal --passphrase-file "$PASSFILE"
expect_in "$T/err" "BadPassphrase" "... BadPassphrase"
expect_exit 0 "the new passphrase unseals" ctl unseal --passphrase-file "$NEWFILE"
ctl client search Narwhal > "$T/s"
expect_in "$T/s" "Narwhal Customs Office" "the data is all there"

check "SIGTERM stops the daemon" stop_rosterd
check "rosterd restarts with --passphrase-file NEW" start_rosterd --passphrase-file "$NEWFILE"
expect_eq "$(state)" unsealed "... and is unsealed"
expect_exit 0 "the audit chain verifies across the change" ctl audit verify

# A backup keeps the keyring of its time: the passphrase then in force opens it.
expect_exit 0 "the earlier backup verifies with the passphrase of its time" \
	ctl backup verify --passphrase-file "$PASSFILE" "$T/before.rbk"
expect_exit 1 "... and not with the new one" \
	ctl backup verify --passphrase-file "$NEWFILE" "$T/before.rbk"

# SIGTERM while a Rekey derives its key: the Rekey's record can only be held
# (the registry is sealed by then) and is lost with the shutdown. That must
# be said in the log, as for every call held at shutdown, not lost silently.
python3 -c '
import os, signal, sys, time; sys.path.insert(0, sys.argv[4])
from varlink import Conn
a = Conn(sys.argv[1])
a.send("io.roster.Admin.Rekey", {"passphrase": sys.argv[2], "new_passphrase": sys.argv[3]})
time.sleep(0.05)
os.kill(int(sys.argv[5]), signal.SIGTERM)
' "$SOCK" "$(cat "$NEWFILE")" "a third passphrase, long enough" "$ROSTER_SRCDIR/tests/e2e" "$ROSTERD_PID"
set +e; wait "$ROSTERD_PID"; rc=$?; set -e; ROSTERD_PID=
expect_eq "$rc" 0 "SIGTERM during a Rekey: rosterd exits 0"
expect_in "$LOG" "lost with this shutdown" "... and logs that the Rekey's record is lost"
finish
