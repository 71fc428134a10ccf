#!/bin/sh
# Nothing readable at rest: after clients are written, no file in the state
# directory contains a client's name, e-mail or notes, plain sqlite3 cannot
# open the database, every file is private, and the daemon's log holds no
# client data.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

init_registry
NAME="Zebrafish Constabulary Unit"
MAIL="secret.contact@zebrafish-police.example"
NOTE="covert-marker-7731"
i=0
while [ $i -lt 20 ]; do
	ctl client add --name "$NAME $i" --kind police --country GB \
		--contact-email "$MAIL" --notes "$NOTE $i" > /dev/null
	i=$((i + 1))
done
ID=$(ctl --json client search Zebrafish --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["clients"][0]["id"])')
ctl client get "$ID" > /dev/null

# Look while the daemon runs (the WAL holds fresh pages) and after it stops.
scan() {
	for word in "Zebrafish" "zebrafish-police" "covert-marker" "$PASSPHRASE"; do
		if grep -rlaF -- "$word" "$STATE" > "$T/hits"; then
			not_ok "$1: '$word' appears in $(cat "$T/hits" | tr '\n' ' ')"
		else
			ok "$1: no file in the state dir contains '$word'"
		fi
	done
}
check "the WAL file exists while running" test -s "$STATE/roster.db-wal"
scan "while running"
check "SIGTERM exits 0" stop_rosterd
scan "after shutdown"

head -c 16 "$STATE/roster.db" > "$T/magic"
expect_not_in "$T/magic" "SQLite format 3" "the database has no SQLite header"
if command -v sqlite3 > /dev/null; then
	set +e
	sqlite3 "$STATE/roster.db" "SELECT * FROM clients" > "$T/out" 2> "$T/err"
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then ok "plain sqlite3 cannot read the database (exit $rc)"; else
		not_ok "plain sqlite3 read the database"; fi
	expect_in "$T/err" "not a database" "... 'file is not a database'"
else
	echo "# sqlite3 not installed; skipping that check"
fi
for f in "$STATE"/*; do
	m=$(stat -c %a "$f")
	case $m in
	600) ok "$(basename "$f") is 0600" ;;
	*) not_ok "$(basename "$f") is $m, expected 600" ;;
	esac
done
expect_eq "$(stat -c %a "$STATE")" 700 "the state dir is still 0700"
expect_not_in "$LOG" "Zebrafish" "the daemon's log holds no client name"
expect_not_in "$LOG" "$MAIL" "the daemon's log holds no contact e-mail"
expect_not_in "$LOG" "$PASSPHRASE" "the daemon's log holds no passphrase"
finish
