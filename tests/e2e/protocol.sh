#!/bin/sh
# Protocol: framing, limits, envelope errors, introspection, over the raw
# socket (tests/e2e/protocol.py), against a real unsealed daemon. Then, as
# root, a caller under another uid is refused everything but the public
# methods.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

init_registry
if python3 "$ROSTER_SRCDIR/tests/e2e/protocol.py" "$SOCK" "$ROSTER_SRCDIR/schema"; then
	ok "protocol checks (see above)"
else
	not_ok "protocol checks (see above)"
fi

if [ "$(id -u)" -eq 0 ]; then
	# The socket is 0660 root:root; a service account reaches it through the group.
	other() { setpriv --reuid 4242 --regid 0 --clear-groups /usr/bin/python3 \
		"$ROSTER_SRCDIR/tests/e2e/varlink.py" "$SOCK" "$@"; }
	chmod 0755 "$RUN"
	other io.roster.Admin.Status > "$T/o1"
	expect_in "$T/o1" '"state": "unsealed"' "another uid may call Status"
	other io.roster.Clients.Get '{"id":"00000000000000000000000000000000"}' > "$T/o2"
	expect_in "$T/o2" '"io.roster.PermissionDenied"' "another uid is denied Clients.Get"
	other io.roster.Admin.Seal > "$T/o3"
	expect_in "$T/o3" '"io.roster.PermissionDenied"' "another uid is denied Admin.Seal"
	expect_eq "$(state)" unsealed "the registry is still unsealed after the denied Seal"
else
	echo "# SKIP: other-uid checks need root (setpriv)"
fi
stop_rosterd && ok "SIGTERM: clean exit 0" || not_ok "SIGTERM: clean exit 0"
finish
