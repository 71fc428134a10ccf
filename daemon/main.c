/*
 * main.c: rosterd start-up and shutdown.
 *
 * Order matters: the process is made undumpable and its umask private
 * before any secret or file exists; what needs root (reading a root-only
 * passphrase file, binding a socket in /run) happens first; then the daemon
 * becomes its configured user with no capabilities and NoNewPrivs; only as
 * that user does it check, lock and read the state directory; the seccomp
 * sandbox goes on once everything is open; and the socket starts listening
 * last, so no client can connect to a daemon that is not ready.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "lib/roster.h"
#include "daemon/conf.h"
#include "daemon/keys.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/sandbox.h"
#include "daemon/secmem.h"
#include "daemon/server.h"
#include "daemon/util.h"

/* The same default as rosterctl and libroster use. */
#define DEFAULT_SOCKET ROSTER_DEFAULT_SOCKET

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rosterd --state-dir DIR [--socket PATH] [--config FILE] [--syslog-socket PATH]\n"
		"               [--passphrase-file FILE | --passphrase-fd N] [--user USER] [--verbose]\n"
		"\n"
		"Serves the Roster registry in DIR over a Unix socket (default %s).\n"
		"Runs in the foreground and logs to standard error. See rosterd(8).\n",
		DEFAULT_SOCKET);
}

static struct server srv;
static struct registry reg;
static uv_signal_t sig_term, sig_int;

static void on_signal(uv_signal_t *h, int signum)
{
	log_info("%s received: sealing and shutting down", strsignal(signum));
	server_stop(&srv);
	registry_seal(&reg);
	server_drop_held(&srv);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	(void)h;
}

/*
 * Refuse passphrase files others could read or replace: owned by root or
 * by the user the daemon runs as (uid), and no access for group or others.
 */
static int read_passphrase_file(const char *path, uid_t uid, char **ret)
{
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		log_err("%s: %s", path, strerror(errno));
		return -errno;
	}
	r = check_private_file(fd, path, uid, true);
	if (r < 0) {
		log_err("%s: a passphrase file must be owned by the daemon's user or root and "
			"not accessible to group or others", path);
		close(fd);
		return r;
	}
	r = read_secret_fd(fd, PASSPHRASE_MAX, ret);
	close(fd);
	if (r < 0)
		log_err("%s: cannot read a passphrase (%s)", path,
			r == -EMSGSIZE ? "too long" : strerror(-r));
	return r;
}

/* Create the socket's directory 0750 if it is missing; refuse a shared one. */
static int prepare_socket_dir(const char *socket_path)
{
	char *copy = strdup(socket_path), *dir;
	int r = 0;

	if (copy == NULL)
		return -ENOMEM;
	dir = dirname(copy);
	if (mkdir(dir, 0750) == 0) {
		/* mkdir's mode went through our umask of 077: widen it to what was asked. */
		if (chmod(dir, 0750) < 0)
			r = -errno;
		log_info("created %s", dir);
	}
	else if (errno != EEXIST)
		r = -errno;
	if (r == 0)
		r = check_private_dir(dir, geteuid());
	else
		log_err("%s: %s", dir, strerror(-r));
	free(copy);
	return r;
}

/*
 * Like OpenSSH's StrictModes: everything in the state directory (database,
 * keyring, journals, lock) must belong to the daemon's user or root, must
 * not be writable by group or others, and must not be a symbolic link.
 * Whoever could change these files could change the registry or its keys.
 */
static int check_state_files(const char *dir)
{
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);
	int r = 0;

	if (d == NULL) {
		log_err("%s: %s", dir, strerror(errno));
		return -errno;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			r = -errno;
			log_err("%s/%s: %s", dir, de->d_name, strerror(errno));
		} else if (S_ISLNK(st.st_mode)) {
			log_err("%s/%s: a symbolic link in the state directory; refusing to use it",
				dir, de->d_name);
			r = -ELOOP;
		} else if (st.st_uid != geteuid() && st.st_uid != 0) {
			log_err("%s/%s: owned by uid %u, not by the daemon's user (uid %u) or root; "
				"refusing to use it", dir, de->d_name, (unsigned)st.st_uid,
				(unsigned)geteuid());
			r = -EPERM;
		} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
			log_err("%s/%s: writable by group or others (mode %04o); refusing to use it",
				dir, de->d_name, (unsigned)(st.st_mode & 07777));
			r = -EPERM;
		}
	}
	closedir(d);
	return r;
}

static int lock_state_dir(const char *dir)
{
	char path[4096];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/lock", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_err("%s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_err("%s: another rosterd is using this state directory", dir);
		close(fd);
		return -EBUSY;
	}
	return fd;      /* held open, and so locked, until exit */
}

static void harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	umask(077);
	/* No core files and no ptrace by other processes of the same uid. */
	if (prctl(PR_SET_DUMPABLE, 0) < 0)
		log_warn("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		log_warn("setrlimit(RLIMIT_CORE): %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "passphrase-fd", required_argument, NULL, 'P' },
		{ "syslog-socket", required_argument, NULL, 'L' },
		{ "user", required_argument, NULL, 'u' },
		{ "sandbox-selftest", no_argument, NULL, 'T' },   /* for the test suite */
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct rosterd_config cfg;
	struct server_config scfg;
	const char *config_path = NULL;
	char *opt_state = NULL, *opt_socket = NULL, *opt_passfile = NULL, *opt_syslog = NULL;
	char *opt_user = NULL, *pass = NULL;
	struct run_user run_user = { 0 };
	bool selftest = false, bound = false;
	int opt_passfd = -1, opt, lock_fd = -1, rc = 1, r;
	uint64_t n;
	uv_loop_t *loop = uv_default_loop();

	harden_process();
	if (sodium_init() < 0) {
		fprintf(stderr, "rosterd: libsodium failed to initialise\n");
		return 1;
	}
	secmem_init();
	config_defaults(&cfg);

	while ((opt = getopt_long(argc, argv, "d:s:c:p:P:L:u:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			opt_state = optarg;
			break;
		case 's':
			opt_socket = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'p':
			opt_passfile = optarg;
			break;
		case 'L':
			opt_syslog = optarg;
			break;
		case 'u':
			opt_user = optarg;
			break;
		case 'T':
			selftest = true;
			break;
		case 'P':
			if (parse_uint(optarg, 0, 65535, &n) < 0) {
				fprintf(stderr, "rosterd: --passphrase-fd needs a file descriptor number\n");
				return 2;
			}
			opt_passfd = (int)n;
			break;
		case 'v':
			cfg.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("rosterd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (cfg.verbose)
		log_set_level(LOG_LVL_DEBUG);
	if (config_path != NULL && config_load(&cfg, config_path) < 0)
		goto out;
	/* The command line overrides the file. */
	if ((opt_state && !(cfg.state_dir = (free(cfg.state_dir), strdup(opt_state)))) ||
	    (opt_socket && !(cfg.socket_path = (free(cfg.socket_path), strdup(opt_socket)))) ||
	    (opt_passfile && !(cfg.passphrase_file = (free(cfg.passphrase_file), strdup(opt_passfile)))) ||
	    (opt_syslog && !(cfg.syslog_socket = (free(cfg.syslog_socket), strdup(opt_syslog)))) ||
	    (opt_user && !(cfg.user = (free(cfg.user), strdup(opt_user)))))
		goto out;
	if (opt_passfd >= 0)
		cfg.passphrase_fd = opt_passfd;
	if (cfg.state_dir == NULL) {
		fprintf(stderr, "rosterd: --state-dir is required\n");
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (cfg.passphrase_file != NULL && cfg.passphrase_fd >= 0) {
		fprintf(stderr, "rosterd: give --passphrase-file or --passphrase-fd, not both\n");
		rc = 2;
		goto out;
	}
	if (cfg.socket_path == NULL && (cfg.socket_path = strdup(DEFAULT_SOCKET)) == NULL)
		goto out;

	/*
	 * Under systemd, a passphrase given as a credential (LoadCredential=
	 * or LoadCredentialEncrypted=passphrase) is used when no other is.
	 */
	if (cfg.passphrase_file == NULL && cfg.passphrase_fd < 0 && getenv("CREDENTIALS_DIRECTORY")) {
		char path[4096];

		if ((size_t)snprintf(path, sizeof(path), "%s/passphrase",
				     getenv("CREDENTIALS_DIRECTORY")) < sizeof(path) &&
		    access(path, F_OK) == 0 && (cfg.passphrase_file = strdup(path)) == NULL)
			goto out;
	}
	if (cfg.user != NULL && sandbox_lookup_user(cfg.user, &run_user) < 0)
		goto out;

	/* What may need root: the passphrase file, the socket's group and directory, the bind. */
	if (cfg.passphrase_file != NULL) {
		r = read_passphrase_file(cfg.passphrase_file, run_user.set ? run_user.uid : geteuid(),
					 &pass);
		if (r < 0)
			goto out;
	} else if (cfg.passphrase_fd >= 0) {
		r = read_secret_fd(cfg.passphrase_fd, PASSPHRASE_MAX, &pass);
		close(cfg.passphrase_fd);
		if (r < 0) {
			log_err("--passphrase-fd %d: cannot read a passphrase", cfg.passphrase_fd);
			goto out;
		}
	}

	memset(&scfg, 0, sizeof(scfg));
	scfg.socket_path = cfg.socket_path;
	scfg.socket_mode = cfg.socket_mode;
	scfg.socket_gid = (gid_t)-1;
	if (cfg.socket_group != NULL) {
		struct group *gr = getgrnam(cfg.socket_group);

		if (gr != NULL)
			scfg.socket_gid = gr->gr_gid;
		else if (parse_uint(cfg.socket_group, 0, UINT32_MAX - 1, &n) == 0)
			scfg.socket_gid = (gid_t)n;
		else {
			log_err("socket_group: no group named \"%s\"", cfg.socket_group);
			goto out;
		}
	}
	scfg.max_connections = cfg.max_connections;
	scfg.max_connections_per_uid = cfg.max_connections_per_uid;
	scfg.idle_timeout_ms = cfg.idle_timeout_ms;
	scfg.frame_timeout_ms = cfg.frame_timeout_ms;
	scfg.write_timeout_ms = cfg.write_timeout_ms;
	scfg.listen_fd = -1;
#ifdef HAVE_SYSTEMD
	r = sd_listen_fds(1);
	if (r > 1) {
		log_err("socket activation passed %d sockets; expected one", r);
		goto out;
	}
	if (r == 1) {
		if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
			log_err("socket activation passed something other than a listening Unix "
				"stream socket");
			goto out;
		}
		scfg.listen_fd = SD_LISTEN_FDS_START;
	}
#endif
	if (scfg.listen_fd < 0 && prepare_socket_dir(cfg.socket_path) < 0)
		goto out;
	if (server_bind(&srv, loop, &scfg) < 0)
		goto out;
	bound = true;

	/* From here on: the daemon's own user, no capabilities, no new privileges. */
	if (sandbox_drop_privileges(&run_user) < 0)
		goto out;

	if (check_private_dir(cfg.state_dir, geteuid()) < 0 || check_state_files(cfg.state_dir) < 0)
		goto out;
	lock_fd = lock_state_dir(cfg.state_dir);
	if (lock_fd < 0)
		goto out;
	if (registry_open(&reg, loop, cfg.state_dir) < 0)
		goto out;
	reg.audit_cfg.checkpoint_every = cfg.checkpoint_every;
	reg.audit_cfg.checkpoint_secs = cfg.checkpoint_secs;
	reg.syslog_socket = cfg.syslog_socket;
	approvals_init(&reg.approvals, cfg.export_window);

	if (pass != NULL) {
		if (reg.state == REG_UNINITIALIZED) {
			log_warn("the registry is not initialised; the passphrase was not used "
				 "(run rosterctl init)");
			r = 0;
		} else {
			r = registry_unseal_now(&reg, pass, strlen(pass));
			if (r == -EACCES)
				log_err("the passphrase does not open the keyring");
		}
		sodium_free(pass);
		pass = NULL;
		if (r < 0)
			goto out;
	}

	uv_signal_init(loop, &sig_term);
	uv_signal_init(loop, &sig_int);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);

	/*
	 * Everything is open and every thread that exists now gets the
	 * filter (TSYNC); threads started later inherit it.
	 */
	r = sandbox_apply(cfg.sandbox);
	if (r < 0)
		goto out;
	if (r > 0)
		log_info("seccomp sandbox on%s", cfg.sandbox == SANDBOX_LOG ? " (log mode)" : "");
	if (selftest) {
		sandbox_selftest();
		goto out;
	}
	if (server_listen(&srv, &reg) < 0)
		goto out;
#ifdef HAVE_SYSTEMD
	/* Type=notify: ready once clients can connect. A no-op outside systemd. */
	sd_notify(0, "READY=1");
#endif

	log_info("rosterd %s: state %s, listening on %s", PACKAGE_VERSION,
		 registry_state_name(reg.state),
		 scfg.listen_fd >= 0 ? "an inherited socket" : cfg.socket_path);
	uv_run(loop, UV_RUN_DEFAULT);
	/*
	 * Work that was running on the thread pool at SIGTERM (a Rekey, a
	 * Verify) finished after on_signal() sealed, and its record was held
	 * for an unseal that will not come: say so, as on_signal() does.
	 */
	server_drop_held(&srv);
	log_info("stopped");
	rc = 0;
out:
	if (pass != NULL)
		sodium_free(pass);
	if (bound && !srv.stopping)
		server_stop(&srv);
	registry_close(&reg);
	if (uv_loop_close(loop) == UV_EBUSY)
		log_debug("event loop still had handles at exit");
	if (lock_fd >= 0)
		close(lock_fd);
	config_free(&cfg);
	return rc;
}
