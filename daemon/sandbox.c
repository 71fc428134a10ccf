/*
 * sandbox.c: see sandbox.h.
 *
 * The allow-list was built from what the end-to-end suite makes rosterd do
 * (strace -f over every tests/e2e script, the ASan build included) and is kept to
 * what a Unix-socket server with a SQLite database needs: no exec, no
 * ptrace, no network families but AF_UNIX, no mount, no changes of user,
 * no kernel keyring or BPF. Libraries that probe for newer calls (io_uring,
 * in later libuv) get ENOSYS rather than death, so they fall back.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <ucontext.h>
#include <unistd.h>

#include <linux/capability.h>

#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/sandbox.h"
#include "daemon/util.h"

int sandbox_lookup_user(const char *name, struct run_user *u)
{
	struct passwd *pw;
	uint64_t n;

	memset(u, 0, sizeof(*u));
	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL && parse_uint(name, 0, UINT32_MAX - 1, &n) == 0)
		pw = getpwuid((uid_t)n);
	if (pw == NULL) {
		log_err("user \"%s\": no such user%s%s", name, errno ? ": " : "",
			errno ? strerror(errno) : "");
		return -ESRCH;
	}
	if (pw->pw_uid != geteuid() && geteuid() != 0) {
		log_err("user %s: only root can switch to another user (running as uid %u)",
			pw->pw_name, (unsigned)geteuid());
		return -EPERM;
	}
	u->set = true;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
	return 0;
}

/* Empty the capability bounding and ambient sets (needs CAP_SETPCAP, i.e. root). */
static int drop_bounding_set(void)
{
	int cap;

	for (cap = 0; cap <= 63; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break;          /* past the last capability this kernel knows */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			log_err("prctl(PR_CAPBSET_DROP, %d): %s", cap, strerror(errno));
			return -errno;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		log_err("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* Set the effective, permitted and inheritable sets to nothing, and check it. */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int i;

	/*
	 * Nothing to drop (started unprivileged, as under systemd's User=):
	 * skip capset, which a unit's SystemCallFilter=~@privileged denies.
	 */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) == 0 && !data[0].effective && !data[0].permitted &&
	    !data[0].inheritable && !data[1].effective && !data[1].permitted && !data[1].inheritable)
		return 0;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0) {
		log_err("capset: %s", strerror(errno));
		return -errno;
	}
	if (syscall(SYS_capget, &hdr, data) < 0) {
		log_err("capget: %s", strerror(errno));
		return -errno;
	}
	for (i = 0; i < 2; i++) {
		if (data[i].effective || data[i].permitted || data[i].inheritable) {
			log_err("capabilities remain after dropping them; refusing to run");
			return -EPERM;
		}
	}
	return 0;
}

int sandbox_drop_privileges(const struct run_user *u)
{
	bool root = geteuid() == 0;
	int r;

	if (u->set && u->uid != geteuid() && !root) {
		log_err("user %s: only root can switch to another user (running as uid %u)",
			u->name, (unsigned)geteuid());
		return -EPERM;
	}
	if (root) {
		r = drop_bounding_set();
		if (r < 0)
			return r;
	}
	if (u->set && u->uid != geteuid()) {
		/* Groups first: once the uid is gone, so is the right to change them. */
		if (initgroups(u->name, u->gid) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
		    setresuid(u->uid, u->uid, u->uid) < 0) {
			log_err("cannot switch to user %s (uid %u gid %u): %s", u->name,
				(unsigned)u->uid, (unsigned)u->gid, strerror(errno));
			return -errno ? -errno : -EPERM;
		}
		/* Paranoia, as OpenSSH's permanently_set_uid(): root must be gone for good. */
		if (u->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
			log_err("could regain root after switching to %s; refusing to run", u->name);
			return -EPERM;
		}
		log_info("running as user %s (uid %u gid %u)", u->name, (unsigned)u->uid,
			 (unsigned)u->gid);
	} else if (root) {
		log_warn("running as root (with no capabilities); set \"user\" in roster.conf to "
			 "run as an unprivileged user");
	}
	r = drop_capabilities();
	if (r < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_err("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return -errno;
	}
	return 0;
}

#ifdef HAVE_SECCOMP

/* SANDBOX_LOG: name the call by number, make it fail with ENOSYS, carry on. */
static void on_sigsys(int sig, siginfo_t *info, void *uctx)
{
	char msg[96];
	int n, saved = errno;

	n = snprintf(msg, sizeof(msg), "rosterd: sandbox: system call %d is not allowed\n",
		     info->si_syscall);
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n);
#if defined(__x86_64__)
	((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	((ucontext_t *)uctx)->uc_mcontext.regs[0] = (unsigned long long)-ENOSYS;
#else
	_exit(128 + sig);
#endif
	errno = saved;
	(void)sig;
}

/* Plainly allowed calls. Names this architecture lacks are skipped. */
static const char *const allowed[] = {
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "mlock2", "munlock",
	"mincore", "membarrier",
	/* files (all under the state directory; permissions do the rest) */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
	"preadv2", "pwritev2", "open", "openat", "close", "close_range", "lseek",
	"stat", "fstat", "lstat", "newfstatat", "statx", "fstatfs", "statfs",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd", "getdents64",
	"fsync", "fdatasync", "ftruncate", "fallocate", "flock", "fcntl", "dup", "dup2", "dup3",
	"rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir",
	"chmod", "fchmod", "fchmodat", "fchown", "umask",
	/* the event loop */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
	"select", "pselect6", "pipe", "pipe2", "eventfd2",
	/* Unix sockets already open, and connect() for the audit shipper */
	"accept", "accept4", "connect", "listen", "getsockopt", "setsockopt", "getsockname",
	"getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown",
	/* threads, time, signals, identity */
	"futex", "set_robust_list", "get_robust_list", "rseq", "clone", "clone3",
	"set_tid_address", "exit", "exit_group", "sched_yield", "sched_getaffinity",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
	"getpid", "gettid", "getppid", "tgkill", "getrandom",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
	"uname", "sysinfo", "getrlimit", "prlimit64", "getrusage",
#ifdef SANITIZED
	/* LeakSanitizer's stop-the-world at exit; never in a production build. */
	"ptrace", "wait4", "waitid", "sched_getparam", "sched_getscheduler", "kill",
	"sched_setaffinity", "getpriority", "setpriority", "prctl", "ioctl",
#endif
};

/* Libraries probe these and fall back when told they do not exist. */
static const char *const enosys[] = {
	"io_uring_setup", "io_uring_enter", "io_uring_register",
};

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
		    const struct scmp_arg_cmp *args)
{
	int nr = seccomp_syscall_resolve_name(name);
	int r;

	if (nr == __NR_SCMP_ERROR)
		return 0;       /* not a call on this architecture */
	r = seccomp_rule_add_array(ctx, action, nr, n, args);
	if (r < 0)
		log_err("seccomp: cannot add a rule for %s: %s", name, strerror(-r));
	return r;
}

int sandbox_apply(int mode)
{
	/* SIOCOUTQ (TIOCOUTQ): the shipper waits for syslog-ng to take every byte. */
	static const unsigned long ioctls[] = { FIONBIO, FIOCLEX, FIONCLEX, FIONREAD, TCGETS,
						TIOCOUTQ };
	static const int prctls[] = { PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE,
				      PR_SET_VMA, PR_CAPBSET_READ };
	scmp_filter_ctx ctx;
	struct scmp_arg_cmp arg;
	size_t i;
	int r = 0;

	if (mode == SANDBOX_NO)
		return 0;
	/*
	 * KILL_PROCESS and TSYNC need the kernel's seccomp API level 3 (Linux
	 * 4.14). Without it (an old kernel, or valgrind, which does not
	 * emulate seccomp()), carry on without the filter and say so, as
	 * OpenSSH's seccomp sandbox does: the privilege drop and NoNewPrivs
	 * still hold.
	 */
	if (seccomp_api_get() < 3) {
		log_warn("seccomp: the filter features the sandbox needs are not available here "
			 "(API level %u); running without the system call filter", seccomp_api_get());
		return 0;
	}
	if (mode == SANDBOX_LOG) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigsys;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, NULL) < 0)
			return -errno;
		log_warn("sandbox in log mode: forbidden system calls are reported, not stopped");
	}
	ctx = seccomp_init(mode == SANDBOX_LOG ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		return -ENOMEM;
	/* Every thread, not just this one: the writer, the shipper and libuv's pool. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		r = add_rule(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL);
	for (i = 0; r == 0 && i < sizeof(enosys) / sizeof(enosys[0]); i++)
		r = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), enosys[i], 0, NULL);
	/* New sockets: Unix only (the shipper's connection to syslog-ng). */
	arg = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	if (r == 0)
		r = add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &arg);
#ifndef SANITIZED
	/* ioctl: non-blocking, close-on-exec, bytes readable, isatty (stderr), bytes unsent. */
	for (i = 0; r == 0 && i < sizeof(ioctls) / sizeof(ioctls[0]); i++) {
		arg = SCMP_A1(SCMP_CMP_EQ, ioctls[i]);
		r = add_rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &arg);
	}
	for (i = 0; r == 0 && i < sizeof(prctls) / sizeof(prctls[0]); i++) {
		arg = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctls[i]);
		r = add_rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, &arg);
	}
#else
	(void)ioctls;
	(void)prctls;
#endif
	if (r == 0) {
		r = seccomp_load(ctx);
		if (r == 0)
			r = 1;
	}
	if (r < 0)
		log_err("seccomp: cannot install the sandbox: %s", strerror(-r));
	seccomp_release(ctx);
	return r;
}

#else /* !HAVE_SECCOMP */

int sandbox_apply(int mode)
{
	return mode == SANDBOX_NO ? 0 : -ENOTSUP;
}

#endif

void sandbox_selftest(void)
{
	int fd;

	log_info("sandbox self-test: calling socket(AF_INET), which the sandbox forbids");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		close(fd);
	log_err("sandbox self-test: socket(AF_INET) was allowed (%s); the sandbox is not working",
		fd >= 0 ? "it returned a socket" : strerror(errno));
}
