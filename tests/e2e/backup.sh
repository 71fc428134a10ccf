#!/bin/sh
# Backups: "rosterctl backup create" streams a consistent, encrypted copy of
# a live registry into a new private file; "backup verify" checks it offline
# with the passphrase and reports a flipped byte anywhere; "backup restore"
# writes a new state directory that a daemon starts on and unseals, with the
# data (and only the data) of the instant of the backup, and never
# overwrites a registry.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

NAME="Quokka Gendarmerie"
MAIL="quokka.desk@gendarmerie.example"
NOTE="backup-marker-5521"

# load N PREFIX: create N clients over 8 connections at once (group commit).
load() {
	python3 - "$SOCK" "$1" "$2" <<'EOF'
import sys, threading
sys.path.insert(0, __import__("os").environ["ROSTER_SRCDIR"] + "/tests/e2e")
from varlink import Conn
sock, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
errors = []
def worker(k):
    c = Conn(sock, timeout=60)
    for i in range(k, n, 8):
        r = c.call("io.roster.Clients.Create", {"client": {
            "name": "%s %d" % (prefix, i), "kind": "police", "country": "FR",
            "contact_email": "quokka.desk@gendarmerie.example",
            "notes": "backup-marker-5521 " + "x" * 200}})
        if "error" in r:
            errors.append(r["error"])
    c.close()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
for t in ts: t.start()
for t in ts: t.join()
sys.exit(1 if errors else 0)
EOF
}

init_registry
# Enough clients that the database takes many stream chunks (96 KiB each).
check "600 clients created" load 600 "$NAME"
ctl client add --name "Walrus Before" --kind police --country GB > /dev/null

B="$T/backup.rbk"
# Writers go on creating clients while the backup is taken: the copy must
# still be one instant (checked after the restore).
load 300 "$NAME late" > "$T/late.out" 2>&1 &
LOADER=$!
# Start the backup once the writers are under way.
for _ in $(seq 1 100); do
	n=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["clients"])')
	[ "$n" -lt 621 ] || break
	sleep 0.1
done
expect_exit 0 "backup create succeeds on a live registry being written" ctl backup create "$B"
expect_in "$T/out" "backup written" "... and says so"
if wait "$LOADER"; then ok "the writers ran unhindered during the backup"; else
	not_ok "the writers failed during the backup"; sed 's/^/#   /' "$T/late.out"; fi
expect_eq "$(stat -c %a "$B")" 600 "the backup file is mode 0600"
size=$(stat -c %s "$B")
if [ "$size" -gt 400000 ]; then ok "the backup holds the whole database ($size bytes)"; else
	not_ok "the backup is only $size bytes"; fi
for word in "Quokka" "gendarmerie" "backup-marker" "Walrus Before" "$PASSPHRASE" "SQLite format 3"; do
	if grep -qaF -- "$word" "$B"; then not_ok "the backup contains '$word' in plaintext"
	else ok "no '$word' in the backup file"; fi
done
expect_not_in "$LOG" "Quokka" "the daemon's log holds no client name"

# The live registry keeps a record of the backup.
ctl --json audit query --method io.roster.Admin.Backup > "$T/q"
expect_in "$T/q" '"io.roster.Admin.Backup"' "the backup is on the live audit trail"

# Never over an existing file or through a symlink; an existing file is untouched.
echo "precious" > "$T/exists"
expect_exit 1 "backup create refuses an existing file" ctl backup create "$T/exists"
expect_eq "$(cat "$T/exists")" "precious" "... and leaves it as it was"
ln -s "$T/elsewhere" "$T/link"
expect_exit 1 "backup create refuses a symlink" ctl backup create "$T/link"
check "... and creates nothing through it" test ! -e "$T/elsewhere"

# Progress: only on a terminal or with --progress.
expect_exit 0 "backup create --progress succeeds" ctl backup create --progress "$T/b2"
expect_in "$T/err" "100%" "--progress reports progress on stderr"
check "without --progress and without a terminal, nothing on stderr" test ! -s "$T/check.err"
ctl backup create "$T/b3" 2> "$T/quiet.err" > /dev/null
check "no progress on stderr without a terminal" test ! -s "$T/quiet.err"

# Clients made after the backup are not in it.
ctl client add --name "Walrus After" --kind police --country GB > /dev/null

# Offline verification with the passphrase.
expect_exit 0 "backup verify accepts the intact backup" \
	ctl backup verify --passphrase-file "$PASSFILE" "$B"
expect_in "$T/out" "backup ok" "... and says so"
printf 'not the right passphrase\n' > "$T/wrong"
chmod 600 "$T/wrong"
expect_exit 1 "backup verify refuses the wrong passphrase" \
	ctl backup verify --passphrase-file "$T/wrong" "$B"
expect_in "$T/err" "passphrase" "... naming the passphrase as the problem"

# A flipped byte anywhere is reported: header fields, keyring, database, tag.
flip() {   # flip FILE OFFSET OUT
	cp "$1" "$3"
	python3 - "$3" "$2" <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x01]))
EOF
}
# Offsets: magic, keyring length, creation time, audit seq, audit hash,
# database length, keyring (header, ciphertext), database (first page,
# middle: the keyring is 832 bytes from offset 80), tag.
for off in 0 14 20 40 75 150 700 914 $((size / 2)) $((size - 1)); do
	flip "$B" "$off" "$T/bad"
	expect_exit 1 "a byte flipped at offset $off is refused" \
		ctl backup verify --passphrase-file "$PASSFILE" "$T/bad"
done
head -c $((size - 1)) "$B" > "$T/short"
expect_exit 1 "a truncated backup is refused" ctl backup verify --passphrase-file "$PASSFILE" "$T/short"
cp "$B" "$T/long"; printf 'x' >> "$T/long"
expect_exit 1 "a backup with a byte appended is refused" \
	ctl backup verify --passphrase-file "$PASSFILE" "$T/long"

# A corrupted backup restores nothing.
flip "$B" $((size / 2)) "$T/bad"
expect_exit 1 "restore refuses a corrupted backup" \
	ctl backup restore --passphrase-file "$PASSFILE" --state-dir "$T/badrestore" "$T/bad"
check "... and leaves no state directory behind" test ! -e "$T/badrestore"

# Restore into a fresh directory.
R="$T/restored"
expect_exit 0 "restore into a fresh directory succeeds" \
	ctl backup restore --passphrase-file "$PASSFILE" --state-dir "$R" "$B"
expect_eq "$(stat -c %a "$R")" 700 "the restored state dir is 0700"
expect_eq "$(stat -c %a "$R/keyring")" 600 "the restored keyring is 0600"
expect_eq "$(stat -c %a "$R/roster.db")" 600 "the restored database is 0600"
expect_exit 1 "restore refuses a directory that holds a registry" \
	ctl backup restore --passphrase-file "$PASSFILE" --state-dir "$R" "$B"
expect_in "$T/err" "refusing to overwrite" "... and says why"
mkdir -m 700 "$T/partial"; : > "$T/partial/keyring"
expect_exit 1 "restore refuses a directory with a stray keyring" \
	ctl backup restore --passphrase-file "$PASSFILE" --state-dir "$T/partial" "$B"
check "... which is left as it was" test ! -s "$T/partial/keyring"

ctl --json backup verify --passphrase-file "$PASSFILE" "$B" > "$T/head.json"
seq_in_backup=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["audit_seq"])' "$T/head.json")
hash_in_backup=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["audit_hash"])' "$T/head.json")

# A daemon starts on the restored directory and unseals with the passphrase.
check "SIGTERM stops the live daemon" stop_rosterd
STATE="$R"
check "rosterd starts on the restored state dir" start_rosterd
expect_eq "$(state)" sealed "... sealed"
expect_exit 0 "unseal with the passphrase of the backup" ctl unseal --passphrase-file "$PASSFILE"
n=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["clients"])')
creates=$(ctl --json audit query --method io.roster.Clients.Create --result ok --limit 1000 |
	python3 -c 'import json,sys; print(len(json.load(sys.stdin)["records"]))')
expect_eq "$n" "$creates" "the restored clients are exactly those the restored trail says were created"
if [ "$n" -ge 601 ] && [ "$n" -le 901 ]; then ok "... $n of them, made before or during the backup"
else not_ok "$n clients restored, expected 601 to 901"; fi
ctl client search "Walrus" > "$T/w"
expect_in "$T/w" "Walrus Before" "a client made before the backup is restored"
expect_not_in "$T/w" "Walrus After" "a client made after the backup is not"
ctl client search "Quokka Gendarmerie 599" > "$T/w"
expect_in "$T/w" "Quokka Gendarmerie 599" "the last of the bulk clients is restored"
expect_exit 0 "the restored audit chain verifies" ctl audit verify
# The header's audit head is the copy's: its hash is the stored record's.
ctl --json audit query --limit 1000 > "$T/recs"
rec_hash=$(python3 -c '
import json, sys
for r in json.load(open(sys.argv[1]))["records"]:
    if r["seq"] == int(sys.argv[2]):
        print(r.get("hash", ""))' "$T/recs" "$seq_in_backup")
expect_eq "$rec_hash" "$hash_in_backup" "the header's audit head hash is that of record $seq_in_backup"
next=$(ctl --json audit query --method io.roster.Admin.Unseal | python3 -c '
import json, sys
print(json.load(sys.stdin)["records"][-1]["seq"])')
if [ "$next" -gt "$seq_in_backup" ]; then
	ok "the restored chain goes on after the backup's head ($seq_in_backup -> $next)"
else
	not_ok "the restored chain's Unseal record is $next, the backup's head $seq_in_backup"
fi
finish
