# lib.sh: harness for the end-to-end tests. Each test script sources this,
# gets a private temporary directory, starts the real rosterd on a real
# SQLCipher file there, and talks to it over the real socket with rosterctl
# or the raw Varlink client (varlink.py).
#
# Variables from the test environment (Makefile.am): ROSTERD, ROSTERCTL,
# ROSTER_SRCDIR. A test exits 0 (pass), 1 (fail) or 77 (skip, with a reason).
# Optional: ROSTERD_WRAPPER, a command (split on spaces) that rosterd runs
# under, e.g. valgrind (scripts/valgrind-e2e); ROSTER_TEST_SLOW, a whole
# number that multiplies the harness's waits for such a slow daemon.
set -eu

: "${ROSTERD:?ROSTERD must name the rosterd binary}"
: "${ROSTERCTL:?ROSTERCTL must name the rosterctl binary}"
: "${ROSTER_SRCDIR:?ROSTER_SRCDIR must name the source tree}"

T=$(mktemp -d "${TMPDIR:-/tmp}/roster-e2e.XXXXXX")
chmod 0755 "$T"     # other uids (setpriv tests) must reach the socket dir below
STATE="$T/state"
RUN="$T/run"
SOCK="$RUN/roster.sock"
LOG="$T/rosterd.log"
PASSFILE="$T/passphrase"
PASSPHRASE="correct horse battery staple"
mkdir -m 0700 "$STATE"
printf '%s\n' "$PASSPHRASE" > "$PASSFILE"
chmod 0600 "$PASSFILE"
export ROSTER_SOCKET="$SOCK"
ROSTER_TEST_SLOW=${ROSTER_TEST_SLOW:-1}
export ROSTER_TEST_SLOW     # varlink.py scales its socket timeouts by it too
ROSTERD_PID=
N_OK=0
N_FAIL=0

UNMOUNT=
SNG="$T/sng"                # a private syslog-ng (start_syslog), for tests of the shipped trail
JSONL="$SNG/audit.jsonl"
SNG_PID=
cleanup() {
	stop_syslog TERM
	if [ -n "$ROSTERD_PID" ] && kill -0 "$ROSTERD_PID" 2>/dev/null; then
		kill -KILL "$ROSTERD_PID" 2>/dev/null || true
		wait "$ROSTERD_PID" 2>/dev/null || true
	fi
	# A file system a test mounted (root only) goes before the directory does.
	[ -z "$UNMOUNT" ] || umount "$UNMOUNT" 2>/dev/null || true
	if [ "$N_FAIL" -gt 0 ] || [ "${KEEP_TMP:-}" = 1 ]; then
		echo "# daemon log ($LOG):"
		sed 's/^/#   /' "$LOG" 2>/dev/null | tail -40 || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

ok() { N_OK=$((N_OK + 1)); echo "ok $((N_OK + N_FAIL)) - $*"; }
not_ok() { N_FAIL=$((N_FAIL + 1)); echo "not ok $((N_OK + N_FAIL)) - $*"; }

# check DESCRIPTION COMMAND...: passes if the command exits 0.
check() {
	desc=$1; shift
	# Its own output files, so the command may read $T/out from before.
	if "$@" > "$T/check.out" 2> "$T/check.err"; then ok "$desc"; else
		not_ok "$desc"; sed 's/^/#   /' "$T/check.out" "$T/check.err"; fi
}

# expect_exit CODE DESCRIPTION COMMAND...: passes if the command exits CODE.
# Its output is kept in $T/out and $T/err for later checks.
expect_exit() {
	code=$1; desc=$2; shift 2
	set +e
	"$@" > "$T/out" 2> "$T/err"
	rc=$?
	set -e
	if [ "$rc" -eq "$code" ]; then ok "$desc"; else
		not_ok "$desc (exit $rc, expected $code)"
		sed 's/^/#   out: /' "$T/out"; sed 's/^/#   err: /' "$T/err"
	fi
}

# expect_in FILE TEXT DESCRIPTION: passes if FILE contains TEXT (fixed string).
expect_in() {
	if grep -qF -- "$2" "$1"; then ok "$3"; else
		not_ok "$3 ('$2' not in output)"; sed 's/^/#   /' "$1" | head -20; fi
}

# expect_not_in FILE TEXT DESCRIPTION
expect_not_in() {
	if grep -qF -- "$2" "$1"; then not_ok "$3 ('$2' found)"; sed 's/^/#   /' "$1" | head -20
	else ok "$3"; fi
}

# expect_eq ACTUAL EXPECTED DESCRIPTION
expect_eq() {
	if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3 (got '$1', expected '$2')"; fi
}

ctl() { "$ROSTERCTL" --socket "$SOCK" "$@"; }

# vl METHOD [JSON-PARAMETERS]: one raw Varlink call; prints the reply JSON.
vl() { python3 "$ROSTER_SRCDIR/tests/e2e/varlink.py" "$SOCK" "$@"; }

# vl_field METHOD PARAMS EXPR: a field of the reply, e.g. 'error' or 'parameters.state'.
vl_field() {
	vl "$1" "$2" | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$3"
}

# start_rosterd [ARGS...]: start the daemon and wait until it answers.
# Under ROSTERD_WRAPPER the pid is the wrapper's (valgrind runs the daemon in
# its own process, so signals still reach rosterd).
start_rosterd() {
	# shellcheck disable=SC2086 # the wrapper is a command with its options
	${ROSTERD_WRAPPER:-} "$ROSTERD" --state-dir "$STATE" --socket "$SOCK" "$@" 2>> "$LOG" &
	ROSTERD_PID=$!
	for _ in $(seq 1 $((200 * ROSTER_TEST_SLOW))); do
		if [ -S "$SOCK" ] && vl io.roster.Admin.Status > /dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$ROSTERD_PID" 2>/dev/null; then
			echo "# rosterd exited during start-up"; tail -5 "$LOG" | sed 's/^/#   /'
			ROSTERD_PID=
			return 1
		fi
		sleep 0.05
	done
	echo "# rosterd did not answer within $((10 * ROSTER_TEST_SLOW)) s"
	return 1
}

# stop_rosterd: SIGTERM and wait; returns the daemon's exit status.
stop_rosterd() {
	[ -n "$ROSTERD_PID" ] || return 0
	kill -TERM "$ROSTERD_PID"
	set +e
	wait "$ROSTERD_PID"
	rc=$?
	set -e
	ROSTERD_PID=
	return $rc
}

# state: the daemon's state as Status reports it.
state() { vl_field io.roster.Admin.Status '{}' parameters.state; }

# init_registry: start a daemon on an empty state dir and initialise it.
init_registry() {
	start_rosterd
	vl io.roster.Admin.Init "{\"passphrase\":\"$PASSPHRASE\"}" > /dev/null
	[ "$(state)" = unsealed ]
}

# finish: print the totals and exit with the result.
finish() {
	echo "# $N_OK passed, $N_FAIL failed"
	[ "$N_FAIL" -eq 0 ]
}

# need_root REASON: skip (77) unless running as root.
need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "# SKIP: $1 (needs root to run clients under other uids with setpriv)"
		exit 77
	fi
}

# go_available: true when the Go toolchain (golang-go) and Debian's Varlink
# Go binding (golang-github-varlink-go-dev) are installed; else prints why.
GOPATH_DEBIAN=/usr/share/gocode
go_available() {
	if ! command -v go > /dev/null 2>&1; then
		echo "go is not installed (golang-go)"
		return 1
	fi
	if [ ! -d "$GOPATH_DEBIAN/src/github.com/varlink/go/varlink" ]; then
		echo "the Varlink Go binding is not installed (golang-github-varlink-go-dev)"
		return 1
	fi
}

# go_build OUT SOURCE.go: build one Go file offline, against the packages
# Debian installs under /usr/share/gocode (GOPATH mode: no module download,
# no proxy), with the build cache in the test's directory.
go_build() {
	env GO111MODULE=off GOPATH="$GOPATH_DEBIAN" GOCACHE="$T/go-cache" GOPROXY=off \
		GOFLAGS= GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0 \
		go build -o "$1" "$2"
}

# need_syslog_ng: skip (77) unless syslog-ng is installed.
need_syslog_ng() {
	command -v syslog-ng > /dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	if ! command -v syslog-ng > /dev/null 2>&1; then
		echo "# SKIP: syslog-ng is not installed (syslog-ng-core)"
		exit 77
	fi
}

# start_syslog: the private syslog-ng (scripts/syslog-ng/run) on
# $SNG/syslog.sock, writing $JSONL, in the background, ready to accept.
start_syslog() {
	# Count this start's line only: after a KILL the last one's line (and
	# socket file) are still there, and it would seem ready before it is.
	_sng_starts=$(grep -c "syslog-ng starting up" "$T/syslog-ng.log" 2>/dev/null || true)
	"$ROSTER_SRCDIR/scripts/syslog-ng/run" "$SNG" -e >> "$T/syslog-ng.log" 2>&1 &
	SNG_PID=$!
	for _ in $(seq 1 100); do
		if [ -S "$SNG/syslog.sock" ] &&
		   [ "$(grep -c "syslog-ng starting up" "$T/syslog-ng.log")" -gt "${_sng_starts:-0}" ]; then
			return 0
		fi
		if ! kill -0 "$SNG_PID" 2>/dev/null; then
			echo "# syslog-ng exited during start-up:"; sed 's/^/#   /' "$T/syslog-ng.log"
			SNG_PID=
			return 1
		fi
		sleep 0.1
	done
	echo "# syslog-ng did not start within 10 s"
	return 1
}

# stop_syslog [SIGNAL]: stop it (TERM by default; KILL: as if it crashed).
stop_syslog() {
	[ -n "$SNG_PID" ] || return 0
	kill "-${1:-TERM}" "$SNG_PID" 2>/dev/null || true
	wait "$SNG_PID" 2>/dev/null || true
	SNG_PID=
}
