#!/bin/sh
# Privileges and sandbox (rosterd(8) "Privileges"): started as root with
# --user, rosterd runs as that user with no capabilities, NoNewPrivs and a
# seccomp filter; without a user it stays uid 0 but with no capabilities; a
# forbidden system call kills it with SIGSYS (--sandbox-selftest); state
# files, the config file and the passphrase file that others could change
# are refused, naming the path. (The state directory's own mode and the
# passphrase file's are covered by states.sh.)
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"
need_root "switching users and checking other owners"

RUNAS=nobody
RUNAS_UID=$(id -u "$RUNAS")
# proc_field PID FIELD: a line of /proc/PID/status, tabs squeezed to spaces.
proc_field() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr -s '\t ' '  '; }
seccomp_built() { grep -q '^#define HAVE_SECCOMP 1' "$(dirname "$ROSTERD")/config.h" 2>/dev/null; }
# An ASan build defaults to sandbox = no (LeakSanitizer's exit check hangs under
# the filter; see daemon/sandbox.h): the filter is checked there only with an
# explicit sandbox = yes, on the self-test, which never exits normally.
sanitized() { grep -q '^SAN_CFLAGS = .*fsanitize' "$(dirname "$ROSTERD")/Makefile" 2>/dev/null; }
printf '[rosterd]\nsandbox = yes\n' > "$T/sb.conf"

# --- --user: root binds, then becomes nobody -----------------------------------
chown "$RUNAS" "$STATE"
start_rosterd --user "$RUNAS"
P=$ROSTERD_PID
expect_eq "$(proc_field "$P" Uid)" "$RUNAS_UID $RUNAS_UID $RUNAS_UID $RUNAS_UID" "--user: real, effective, saved and fs uid are $RUNAS's"
expect_eq "$(proc_field "$P" Gid | cut -d' ' -f1-3)" "$(id -g "$RUNAS") $(id -g "$RUNAS") $(id -g "$RUNAS")" "... and its gid"
expect_eq "$(proc_field "$P" CapEff)" 0000000000000000 "... with no effective capabilities"
expect_eq "$(proc_field "$P" CapPrm)" 0000000000000000 "... none permitted"
expect_eq "$(proc_field "$P" CapBnd)" 0000000000000000 "... and an empty bounding set"
expect_eq "$(proc_field "$P" NoNewPrivs)" 1 "... and NoNewPrivs set"
if seccomp_built && ! sanitized; then
	expect_eq "$(proc_field "$P" Seccomp)" 2 "... and a seccomp filter on the main thread"
	n=0; bad=0
	for t in /proc/"$P"/task/*; do
		n=$((n + 1)); [ "$(sed -n 's/^Seccomp:[[:space:]]*//p' "$t/status")" = 2 ] || bad=$((bad + 1))
	done
	expect_eq "$bad" 0 "... and on every one of its $n threads (TSYNC)"
fi
expect_eq "$(stat -c '%U %a' "$SOCK")" "root 660" "the socket was bound by root before the switch"
vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > "$T/o"
expect_eq "$(state)" unsealed "the unprivileged daemon initialises the registry"
expect_eq "$(stat -c '%U' "$STATE/keyring") $(stat -c '%U' "$STATE/roster.db")" "$RUNAS $RUNAS" "... and its files belong to $RUNAS"
check "a client can be created" ctl client add --name "Sandboxed Org" --kind other
stop_rosterd && ok "SIGTERM: clean exit 0" || not_ok "SIGTERM: clean exit 0"

# The passphrase file may belong to root or to the daemon's user.
chown "$RUNAS" "$PASSFILE"
start_rosterd --user "$RUNAS" --passphrase-file "$PASSFILE"
expect_eq "$(state)" unsealed "a passphrase file owned by the --user is accepted (read before the switch)"
stop_rosterd
chown root "$PASSFILE"

printf '[rosterd]\nuser = %s\n' "$RUNAS" > "$T/user.conf"
start_rosterd --config "$T/user.conf" --passphrase-file "$PASSFILE"
expect_eq "$(proc_field "$ROSTERD_PID" Uid | cut -d' ' -f2)" "$RUNAS_UID" "\"user =\" in roster.conf does the same"
stop_rosterd

expect_exit 1 "a user that does not exist is refused" \
	"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --user no-such-user-here
expect_in "$T/err" 'no such user' "... saying so"
expect_exit 1 "a non-root daemon cannot switch to another user" \
	setpriv --reuid "$RUNAS_UID" --regid "$(id -g "$RUNAS")" --clear-groups \
	"$ROSTERD" --state-dir "$STATE" --socket "$T/other.sock" --user root
expect_in "$T/err" "only root can switch to another user" "... saying so"

# The state now belongs to nobody: as root without --user, the files are another user's.
expect_exit 1 "state files owned by another user are refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
expect_in "$T/err" "owned by uid $RUNAS_UID" "... naming the owner"
chown -R root "$STATE"

# --- root without --user: uid 0, but nothing else ----------------------------------
start_rosterd --passphrase-file "$PASSFILE"
P=$ROSTERD_PID
expect_eq "$(proc_field "$P" Uid | cut -d' ' -f2)" 0 "without --user, root stays uid 0"
expect_eq "$(proc_field "$P" CapEff)" 0000000000000000 "... with no effective capabilities"
expect_eq "$(proc_field "$P" CapBnd)" 0000000000000000 "... and an empty bounding set"
expect_eq "$(proc_field "$P" NoNewPrivs)" 1 "... and NoNewPrivs"
expect_in "$LOG" 'running as root (with no capabilities)' "... and says so in the log"
expect_eq "$(state)" unsealed "... and serves as before"
stop_rosterd

# --- the seccomp filter kills a forbidden call --------------------------------------
if seccomp_built; then
	expect_exit 159 "--sandbox-selftest: socket(AF_INET) kills the daemon with SIGSYS (exit 128+31)" \
		"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --passphrase-file "$PASSFILE" \
		--config "$T/sb.conf" --sandbox-selftest
	expect_in "$T/err" "seccomp sandbox on" "... after saying the sandbox is on"
	expect_not_in "$T/err" "the sandbox is not working" "... and before the call could return"
	printf '[rosterd]\nsandbox = no\n' > "$T/nosb.conf"
	expect_exit 1 "with sandbox = no, the same call is allowed (and the self-test says so)" \
		"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --config "$T/nosb.conf" --sandbox-selftest
	expect_in "$T/err" "the sandbox is not working" "... in the log"
	if sanitized; then
		echo "# SKIP: sandbox = log exits normally under the filter, which LeakSanitizer cannot"
	else
		printf '[rosterd]\nsandbox = log\n' > "$T/logsb.conf"
		expect_exit 1 "with sandbox = log, a forbidden call is reported and fails instead" \
			"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --config "$T/logsb.conf" --sandbox-selftest
		expect_in "$T/err" "rosterd: sandbox: system call" "... naming the call by number"
		expect_in "$T/err" "Function not implemented" "... which failed with ENOSYS"
	fi
else
	echo "# SKIP: built without libseccomp (configure --with-seccomp)"
	expect_exit 1 "sandbox = yes is refused by a build without seccomp" \
		"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --config "$T/sb.conf"
fi

# --- StrictModes: files others could change ----------------------------------------
chmod 0666 "$STATE/roster.db"
expect_exit 1 "a world-writable database is refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
expect_in "$T/err" "$STATE/roster.db: writable by group or others (mode 0666)" "... naming the file and its mode"
chmod 0600 "$STATE/roster.db"
chown 4242 "$STATE/roster.db"
expect_exit 1 "a database owned by another user is refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
expect_in "$T/err" "$STATE/roster.db: owned by uid 4242" "... naming the file and its owner"
chown root "$STATE/roster.db"
ln -s /etc/passwd "$STATE/extra"
expect_exit 1 "a symbolic link in the state directory is refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
expect_in "$T/err" "$STATE/extra: a symbolic link" "... naming it"
rm "$STATE/extra"
chown 4242 "$STATE"
expect_exit 1 "a state directory owned by another user is refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK"
expect_in "$T/err" "$STATE: owned by uid 4242" "... naming it"
chown root "$STATE"

printf '[rosterd]\nmax_connections = 10\n' > "$T/strict.conf"
chmod 0664 "$T/strict.conf"
expect_exit 1 "a group-writable config file is refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --config "$T/strict.conf"
expect_in "$T/err" "$T/strict.conf: writable by group or others (mode 0664)" "... naming it"
chmod 0644 "$T/strict.conf"
chown 4242 "$T/strict.conf"
expect_exit 1 "a config file owned by another user is refused" "$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --config "$T/strict.conf"
expect_in "$T/err" "$T/strict.conf: owned by uid 4242" "... naming it"
chown root "$T/strict.conf"
chown 4242 "$PASSFILE"
expect_exit 1 "a passphrase file owned by another user is refused" \
	"$ROSTERD" --state-dir "$STATE" --socket "$SOCK" --passphrase-file "$PASSFILE"
expect_in "$T/err" "$PASSFILE: owned by uid 4242" "... naming it"
chown root "$PASSFILE"

start_rosterd --config "$T/strict.conf" --passphrase-file "$PASSFILE"
expect_eq "$(state)" unsealed "with everything put right, the daemon starts again"
stop_rosterd && ok "SIGTERM: clean exit 0" || not_ok "SIGTERM: clean exit 0"
finish
