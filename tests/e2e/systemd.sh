#!/bin/sh
# systemd (rosterd(8) "Running under systemd"): socket activation through
# systemd-socket-activate (the same LISTEN_FDS/LISTEN_PID protocol systemd
# uses), a passphrase from $CREDENTIALS_DIRECTORY, and the shipped units pass
# "systemd-analyze verify". Skips (77) without systemd-socket-activate or a
# build without libsystemd.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

if ! command -v systemd-socket-activate > /dev/null 2>&1; then
	echo "# SKIP: systemd-socket-activate not installed (package systemd)"
	exit 77
fi
if ! grep -q '^#define HAVE_SYSTEMD 1' "$(dirname "$ROSTERD")/config.h" 2>/dev/null; then
	echo "# SKIP: rosterd built without libsystemd (configure --with-systemd)"
	exit 77
fi

# --- socket activation ------------------------------------------------------------
mkdir -m 0750 "$RUN"
# systemd-socket-activate binds and listens, then execs rosterd (same pid) on
# the first connection with the socket as fd 3.
systemd-socket-activate -l "$SOCK" "$ROSTERD" --state-dir "$STATE" 2>> "$LOG" &
ROSTERD_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
check "the socket exists before rosterd has started" test -S "$SOCK"
expect_eq "$(state)" uninitialized "the first connection starts rosterd and is answered"
expect_in "$LOG" "listening on an inherited socket" "rosterd took over the inherited socket"
vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > /dev/null
expect_eq "$(state)" unsealed "Init works over the activated socket"
check "a client can be added" ctl client add --name "Activated Org" --kind other
stop_rosterd && ok "SIGTERM: clean exit 0" || not_ok "SIGTERM: clean exit 0"

# A socket that is not a listening Unix stream socket is refused.
rm -f "$SOCK"
systemd-socket-activate --datagram -l "$SOCK" "$ROSTERD" --state-dir "$STATE" 2>> "$LOG" &
ROSTERD_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"x", sys.argv[1])' "$SOCK"
set +e
wait "$ROSTERD_PID"
rc=$?
set -e
ROSTERD_PID=
expect_eq "$rc" 1 "an inherited datagram socket is refused (exit 1)"
expect_in "$LOG" "other than a listening Unix stream socket" "... saying why"
rm -f "$SOCK"

# --- the passphrase as a systemd credential -----------------------------------------
mkdir -m 0700 "$T/creds"
cp "$PASSFILE" "$T/creds/passphrase"
chmod 0400 "$T/creds/passphrase"
CREDENTIALS_DIRECTORY="$T/creds" start_rosterd
expect_eq "$(state)" unsealed "a passphrase in \$CREDENTIALS_DIRECTORY/passphrase unseals at start"
stop_rosterd
start_rosterd
expect_eq "$(state)" sealed "without it (and no --passphrase-file), the daemon starts sealed"
stop_rosterd

# --- the units ------------------------------------------------------------------------
UNITS="$(dirname "$ROSTERD")/scripts/systemd"
check "make built rosterd.service and rosterd.socket" test -f "$UNITS/rosterd.service" -a -f "$UNITS/rosterd.socket"
for k in ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes MemoryDenyWriteExecute=yes \
	RestrictAddressFamilies=AF_UNIX User=roster StateDirectory=roster RuntimeDirectory=roster \
	LoadCredentialEncrypted=passphrase CapabilityBoundingSet= 'SystemCallFilter=@system-service'; do
	expect_in "$UNITS/rosterd.service" "$k" "rosterd.service sets $k"
done
if command -v systemd-analyze > /dev/null 2>&1; then
	# verify checks that ExecStart's program exists: point it at this build.
	mkdir "$T/units"
	sed "s|^ExecStart=[^ ]*|ExecStart=$ROSTERD|" "$UNITS/rosterd.service" > "$T/units/rosterd.service"
	cp "$UNITS/rosterd.socket" "$T/units/"
	check "systemd-analyze verify passes on both units" \
		sh -c 'cd "$1" && systemd-analyze verify --man=no rosterd.socket rosterd.service' sh "$T/units"
	if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
		systemd-analyze security --offline=yes "$T/units/rosterd.service" > "$T/sec" 2>&1 || true
		score=$(sed -n 's/.*Overall exposure level for rosterd.service: \([0-9.]*\).*/\1/p' "$T/sec")
		echo "# systemd-analyze security: exposure $score"
		python3 -c 'import sys; sys.exit(not float(sys.argv[1] or 99) < 2)' "$score" &&
			ok "systemd-analyze security rates rosterd.service under 2 (got $score)" ||
			not_ok "systemd-analyze security rates rosterd.service under 2 (got $score)"
	fi
else
	echo "# SKIP: systemd-analyze not installed; units not verified"
fi
finish
