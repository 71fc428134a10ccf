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

/*
 * An AddressSanitizer build. LeakSanitizer's check at exit stops the world
 * with ptrace from a cloned task, and under the seccomp filter it spins
 * forever instead of finishing, so such builds default to sandbox = no
 * (the filter is still tested there with an explicit sandbox = yes, on
 * paths that do not exit normally) and allow ptrace when it is on.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

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
 * entry, never for production). Returns 1 when the filter is on, 0 when it
 * is off (mode SANDBOX_NO, or a kernel or valgrind without seccomp, which is
 * logged), -ENOTSUP when built without libseccomp, or another negative errno.
 */
int sandbox_apply(int mode);

/*
 * For the test suite (--sandbox-selftest): make a call the allow-list
 * forbids, socket(AF_INET). Under the sandbox it does not return.
 */
void sandbox_selftest(void);
