/*
 * install-test.c: built by tests/e2e/install.sh against an installed
 * libroster (header and library found through its pkg-config file only),
 * to prove that what "make install" puts in place is enough to write a
 * client. It connects to a socket path that does not exist and expects
 * libroster's own error, so it needs no daemon.
 */
#include <stdio.h>

#include <roster.h>

int main(void)
{
	struct roster *r = NULL;
	int rc = roster_connect("/nonexistent/roster-install-test.sock", &r);

	printf("%s\n", roster_strerror(rc));
	roster_free(r);
	return rc == ROSTER_E_CONNECT ? 0 : 1;
}
