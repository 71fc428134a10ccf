#!/bin/sh
# Varlink conformance (issue 10), against a real unsealed daemon: what a
# third-party client sees. tests/varlink-idl.go introspects with Debian's
# Varlink Go binding and parses every interface description with the
# binding's own IDL parser, and decodes the standard errors and a "more"
# stream through it; tests/e2e/conformance.py checks oneway, more and the
# error conventions on the raw socket (what protocol.py does not already).
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

init_registry
if python3 "$ROSTER_SRCDIR/tests/e2e/conformance.py" "$SOCK"; then
	ok "raw-socket conformance checks (see above)"
else
	not_ok "raw-socket conformance checks (see above)"
fi
if ! why=$(go_available); then
	stop_rosterd || true
	echo "# $N_OK passed, $N_FAIL failed"
	if [ "$N_FAIL" -eq 0 ]; then
		echo "# SKIP: the Go binding's checks were not run: $why"
		exit 77
	fi
	exit 1
fi
if go_build "$T/varlink-idl" "$ROSTER_SRCDIR/tests/varlink-idl.go" 2> "$T/go-build.err"; then
	ok "tests/varlink-idl.go builds offline against /usr/share/gocode"
	if "$T/varlink-idl" "$SOCK"; then
		ok "the Go binding's checks (see above)"
	else
		not_ok "the Go binding's checks (see above)"
	fi
else
	not_ok "tests/varlink-idl.go builds offline against /usr/share/gocode"
	sed 's/^/#   /' "$T/go-build.err"
fi
stop_rosterd && ok "SIGTERM: clean exit 0" || not_ok "SIGTERM: clean exit 0"
finish
