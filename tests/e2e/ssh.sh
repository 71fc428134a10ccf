#!/bin/sh
# Remote access through OpenSSH's Unix-socket forwarding (README "Querying
# from a service"), end to end: a private sshd on 127.0.0.1 with its own host
# key and configuration, a dedicated system account for one remote service
# whose key may do nothing but forward to a Unix socket, and
# "ssh -N -L LOCAL.sock:ROSTER.sock". Through the forwarded socket the daemon
# sees that account's uid (not the uid of whoever uses the local socket),
# applies its role (field filtering and quota) and audits under it.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

need_root "the test creates a system account for the remote service (useradd)"
SSHD=/usr/sbin/sshd
# useradd and userdel live in /usr/sbin, which a non-login root PATH may lack.
PATH=$PATH:/usr/sbin:/sbin
for prog in "$SSHD" ssh ssh-keygen useradd userdel; do
	if ! command -v "$prog" > /dev/null 2>&1; then
		echo "# SKIP: $prog is not installed (openssh-server, openssh-client, passwd)"
		exit 77
	fi
done

# The service account on the "registry host": a system user with no shell
# and no password, but not a locked one (sshd without PAM refuses accounts
# whose password field starts with "!"). Its own group is the socket's group.
ACCOUNT=rosterssh$$
SSH_DIR=$T/ssh
SSHD_PID=
SSH_PID=
ssh_cleanup() {
	for pid in $SSH_PID $SSHD_PID; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# sshd's per-connection processes outlive the listener; they run as the
	# account (or for it) and must end before userdel can remove it.
	if [ -n "${ACCOUNT_UID:-}" ]; then
		for pid in $(ps -o pid= -u "$ACCOUNT_UID" 2>/dev/null); do
			kill -TERM "$pid" 2>/dev/null || true
		done
		sleep 0.2
	fi
	if [ "$N_FAIL" -gt 0 ] || [ "${KEEP_TMP:-}" = 1 ]; then
		echo "# sshd log:"
		sed 's/^/#   /' "$SSH_DIR/sshd.log" 2>/dev/null | tail -20 || true
	fi
	userdel "$ACCOUNT" 2>/dev/null || true
	groupdel "$ACCOUNT" 2>/dev/null || true
}
trap 'ssh_cleanup; cleanup' EXIT

check "useradd --system $ACCOUNT (nologin shell, no home, no password)" \
	useradd --system --user-group --shell /usr/sbin/nologin --home-dir /nonexistent \
	--no-create-home --password '*' "$ACCOUNT"
ACCOUNT_UID=$(id -u "$ACCOUNT")
ACCOUNT_UID=${ACCOUNT_UID:?}

# --- the registry: its socket reaches the account through the group ---------
cat > "$T/roster.conf" << EOF2
[rosterd]
socket_mode = 0660
socket_group = $ACCOUNT
EOF2
start_rosterd --config "$T/roster.conf"
vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > /dev/null
expect_eq "$(state)" unsealed "rosterd initialised with socket_group = $ACCOUNT"
chmod 0755 "$RUN"
A=$(ctl client add --name "Remote Police Service" --kind police --country DE \
	--contact-email desk@remote.example --notes "internal")
B=$(ctl client add --name "Remote Bank" --kind bank --country DE)
C=$(ctl client add --name "Remote Agency" --kind government --country DE)
expect_exit 0 "role add remote: Get only, identity fields, quota 2/1h" \
	ctl role add remote --cap clients.get --fields identity --quota 2/1h
expect_exit 0 "principal add remote-app --uid $ACCOUNT_UID (the account's uid)" \
	ctl principal add remote-app --uid "$ACCOUNT_UID" --role remote

# --- a private sshd --------------------------------------------------------------
mkdir -p "$SSH_DIR/keys"
chmod 0755 "$SSH_DIR" "$SSH_DIR/keys"
# Debian's sshd needs its privilege separation directory.
mkdir -p /run/sshd && chmod 0755 /run/sshd
ssh-keygen -q -t ed25519 -N '' -C "roster-e2e host" -f "$SSH_DIR/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C "remote-app@app-host" -f "$SSH_DIR/client_ed25519"
# The recipe's authorized_keys line: no shell, no pty, no agent or X11,
# forwarding only. (permitopen cannot help: OpenSSH 9.2 cannot name a socket
# path there, and any permitopen entry denies every Unix-socket forward.)
printf 'restrict,port-forwarding %s\n' "$(cat "$SSH_DIR/client_ed25519.pub")" \
	> "$SSH_DIR/keys/$ACCOUNT"
chmod 0644 "$SSH_DIR/keys/$ACCOUNT"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$SSH_DIR/sshd_config" << EOF2
ListenAddress 127.0.0.1
Port $PORT
HostKey $SSH_DIR/host_ed25519
PidFile $SSH_DIR/sshd.pid
# The test's files live under /tmp (world-writable), which StrictModes refuses.
StrictModes no
AuthorizedKeysFile $SSH_DIR/keys/%u
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $ACCOUNT
AllowTcpForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
AllowAgentForwarding no
PermitTTY no
# Only local forwards (ssh -L). In OpenSSH 9.2 a Unix-socket forward also
# needs AllowTcpForwarding to allow local forwards: with "no" (or any
# PermitOpen list) sshd denies Unix-socket forwards too.
Match User $ACCOUNT
	AllowStreamLocalForwarding local
	AllowTcpForwarding local
EOF2
check "sshd -t accepts the configuration" "$SSHD" -t -f "$SSH_DIR/sshd_config"
# The README says PermitOpen cannot name a socket path; keep that true.
expect_exit 255 "sshd -t refuses PermitOpen naming a socket path" \
	"$SSHD" -t -f "$SSH_DIR/sshd_config" -o "PermitOpen=$SOCK:*"
expect_in "$T/err" "missing host" "... as a host:port without a host"
"$SSHD" -D -e -f "$SSH_DIR/sshd_config" 2> "$SSH_DIR/sshd.log" &
SSHD_PID=$!
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" \
	> "$SSH_DIR/known_hosts"

# ssh_as ARGS...: the client on the "application host", strict about the host key.
ssh_as() {
	ssh -F /dev/null -p "$PORT" -i "$SSH_DIR/client_ed25519" -o IdentitiesOnly=yes \
		-o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$SSH_DIR/known_hosts" -o ConnectTimeout=10 "$@"
}
for _ in $(seq 1 100); do
	grep -q "Server listening" "$SSH_DIR/sshd.log" 2>/dev/null && break
	sleep 0.1
done
expect_in "$SSH_DIR/sshd.log" "Server listening on 127.0.0.1 port $PORT" "the private sshd listens on 127.0.0.1:$PORT"

# --- the forward -------------------------------------------------------------------
mkdir -p "$T/app"
LOCAL=$T/app/roster.sock
# A stale socket from an earlier ssh: without StreamLocalBindUnlink the forward fails.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$LOCAL"
expect_exit 255 "without StreamLocalBindUnlink a stale local socket makes the forward fail" \
	ssh_as -N -o ExitOnForwardFailure=yes -L "$LOCAL:$SOCK" "$ACCOUNT@127.0.0.1"
ssh_as -N -o ExitOnForwardFailure=yes -o StreamLocalBindUnlink=yes \
	-L "$LOCAL:$SOCK" "$ACCOUNT@127.0.0.1" 2> "$T/ssh.err" &
SSH_PID=$!
# The stale file is replaced by ssh's listener: wait until it answers.
for _ in $(seq 1 100); do
	python3 "$ROSTER_SRCDIR/tests/e2e/varlink.py" "$LOCAL" io.roster.Admin.Status \
		> /dev/null 2>&1 && break
	sleep 0.1
done
check "ssh -N -L $LOCAL:ROSTER.sock with StreamLocalBindUnlink forwards the socket" \
	python3 "$ROSTER_SRCDIR/tests/e2e/varlink.py" "$LOCAL" io.roster.Admin.Status

# Everything below runs as root on this side: the daemon must still see the account.
python3 "$ROSTER_SRCDIR/tests/e2e/varlink.py" "$LOCAL" io.roster.Admin.WhoAmI > "$T/whoami"
check "WhoAmI through the forward: the account's uid, principal remote-app, role remote" \
	python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["parameters"]
assert p["uid"] == int(sys.argv[2]) and p["principal"] == "remote-app", p
assert p["role"] == "remote" and p["fields"] == ["identity"], p' "$T/whoami" "$ACCOUNT_UID"

LOOKUP="$ROSTER_SRCDIR/examples/lookup.py"
expect_exit 0 "examples/lookup.py through the forward reads a client" \
	env ROSTER_SOCKET="$LOCAL" python3 "$LOOKUP" "$A"
check "... with the role's identity fields only" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["name"] == "Remote Police Service" and c["country"] == "DE", c
assert "contact_email" not in c and "notes" not in c, c' "$T/out"
expect_exit 0 "a second distinct record, within the quota of 2" \
	env ROSTER_SOCKET="$LOCAL" python3 "$LOOKUP" "$B"
expect_exit 5 "a third distinct record: QuotaExceeded (exit 5)" \
	env ROSTER_SOCKET="$LOCAL" python3 "$LOOKUP" "$C"
expect_exit 6 "then the principal is locked (exit 6)" \
	env ROSTER_SOCKET="$LOCAL" python3 "$LOOKUP" "$A"
ctl --json audit query --principal remote-app --limit 100 > "$T/audit"
check "the audit trail records the 4 Gets under remote-app and the account's uid" python3 -c '
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))["records"]
        if r["method"] == "io.roster.Clients.Get"]
assert len(recs) == 4, recs
assert all(r["uid"] == int(sys.argv[2]) and r["role"] == "remote" for r in recs), recs
assert [r["result"] == "ok" for r in recs] == [True, True, False, False], recs
assert sum(r["records"] for r in recs) == 2, recs' "$T/audit" "$ACCOUNT_UID"

# --- what the key may not do ---------------------------------------------------------
expect_exit 1 "the account runs no command (its shell is nologin; the key gets no pty)" \
	ssh_as "$ACCOUNT@127.0.0.1" id
expect_in "$T/out" "This account is currently not available" "... nologin refuses"
expect_not_in "$T/out" "uid=" "... and prints nothing of the account"
# sshd connects to the target as the account: a socket only root may use is
# out of its reach, whatever the forward names.
OTHER=$T/other.sock
python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o600)
s.listen(1)
time.sleep(30)' "$OTHER" &
OTHER_PID=$!
for _ in $(seq 1 50); do [ -S "$OTHER" ] && break; sleep 0.1; done
set +e
ssh_as -N -o ExitOnForwardFailure=yes -L "$T/app/other.sock:$OTHER" "$ACCOUNT@127.0.0.1" \
	2> /dev/null &
OTHER_SSH=$!
for _ in $(seq 1 50); do [ -S "$T/app/other.sock" ] && break; sleep 0.1; done
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b"x")
    sys.exit(0 if s.recv(1) == b"" else 2)
except ConnectionError:
    sys.exit(0)' "$T/app/other.sock"
other_rc=$?
kill -TERM "$OTHER_SSH" "$OTHER_PID" 2>/dev/null
wait "$OTHER_SSH" "$OTHER_PID" 2>/dev/null
set -e
expect_eq "$other_rc" 0 "a forward to a root-only Unix socket is closed at once"
expect_in "$SSH_DIR/sshd.log" "connect to $OTHER port -2 failed: Permission denied" \
	"... sshd's connect as the account was denied"

kill -TERM "$SSH_PID" && wait "$SSH_PID" 2>/dev/null || true
SSH_PID=
stop_rosterd && ok "SIGTERM: clean exit 0" || not_ok "SIGTERM: clean exit 0"
finish
