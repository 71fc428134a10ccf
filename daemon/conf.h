/*
 * conf.h: rosterd's settings, from defaults, the INI file given by
 * --config (section [rosterd], see roster.conf(5)), then the command line,
 * each overriding the one before.
 */
#pragma once

#include <stdint.h>

struct rosterd_config {
	char *state_dir;
	char *socket_path;
	char *passphrase_file;
	char *syslog_socket;             /* NULL: audit records are not shipped */
	int64_t checkpoint_every;        /* records between signed checkpoints */
	int64_t checkpoint_secs;         /* seconds between signed checkpoints */
	int64_t export_window;           /* seconds an export request or approval stays valid */
	int passphrase_fd;               /* -1: none */
	unsigned socket_mode;
	char *socket_group;              /* NULL: the daemon's own group */
	unsigned max_connections;
	unsigned max_connections_per_uid;
	uint64_t idle_timeout_ms;
	uint64_t frame_timeout_ms;
	uint64_t write_timeout_ms;
	char *user;                      /* NULL: keep the invoking user */
	int sandbox;                     /* SANDBOX_* */
	int verbose;
};

/* The seccomp sandbox: off, on (default where built), or logging what it would kill. */
enum { SANDBOX_NO = 0, SANDBOX_YES, SANDBOX_LOG };

/* Fill in the defaults. */
void config_defaults(struct rosterd_config *cfg);

/*
 * Read an INI file into cfg. Lines longer than CONFIG_LINE_MAX, unknown
 * sections or keys, and bad values are errors (logged with file and line).
 * So is a file that is not regular, writable by group or others, or owned
 * by anyone but root or the daemon's user (like OpenSSH's StrictModes).
 * Returns 0 or a negative errno.
 */
#define CONFIG_LINE_MAX 199
int config_load(struct rosterd_config *cfg, const char *path);

void config_free(struct rosterd_config *cfg);
