/*
 * sandbox.h: what rosterd gives up once it has bound its socket.
 *
 *  1. privileges: started as root with a user configured (user = roster, or
 *     --user), it switches to that user's uid, gid and groups for good;
 *     started as root without one, it stays uid 0 but gives up every
 *     capability. Either way no capability is left (CapEff, CapPrm and the
 *     bounding set are empty) and PR_SET_NO_NEW_PRIVS is set.
 *  2. system calls: with libseccomp (configure --with-seccomp), an
 *     allow-list of the calls rosterd makes; anything else kills the whole
 *     process with SIGSYS. It is applied to every thread (TSYNC), since the
 *     audit writer, the shipper and libuv's pool may already be running.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct run_user {
	bool set;               /* false: keep the invoking user */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/*
 * Look up name (a user name, or a number) in the user database. Must run
 * before the sandbox, which forbids the files and sockets NSS may use.
 */
int sandbox_lookup_user(const char *name, struct run_user *u);

/*
 * Switch to u (if set and not already it; only root may), drop every
 * capability and set PR_SET_NO_NEW_PRIVS. Returns 0 or a negative errno,
 * with the reason logged; the caller must then exit.
 */
int sandbox_drop_privileges(const struct run_user *u);

/*
 * Install the system call allow-list on every thread. mode is SANDBOX_YES
 * (forbidden calls kill the process) or SANDBOX_LOG (they are logged to
 * standard error by number and fail with ENOSYS: for finding a missing
 * entry, never for production). Returns 0, -ENOTSUP when built without
 * libseccomp, or another negative errno.
 */
int sandbox_apply(int mode);

/*
 * For the test suite (--sandbox-selftest): make a call the allow-list
 * forbids, socket(AF_INET). Under the sandbox it does not return.
 */
void sandbox_selftest(void);
