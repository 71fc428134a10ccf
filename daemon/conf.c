/*
 * conf.c: the INI configuration file (inih). inih truncates long lines
 * without a word, so the file is first read here and any line too long for
 * it is refused, rather than half of a path being used.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "daemon/approval.h"
#include "daemon/audit.h"
#include "daemon/conf.h"
#include "daemon/limits.h"
#include "daemon/log.h"
#include "daemon/sandbox.h"
#include "daemon/server.h"
#include "daemon/util.h"

void config_defaults(struct rosterd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->passphrase_fd = -1;
	cfg->socket_mode = 0660;
	cfg->max_connections = DEFAULT_MAX_CONNECTIONS;
	cfg->max_connections_per_uid = DEFAULT_MAX_CONNECTIONS_PER_UID;
	cfg->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
	cfg->frame_timeout_ms = DEFAULT_FRAME_TIMEOUT_MS;
	cfg->write_timeout_ms = DEFAULT_WRITE_TIMEOUT_MS;
#if defined(HAVE_SECCOMP) && !defined(SANITIZED)
	cfg->sandbox = SANDBOX_YES;
#else
	cfg->sandbox = SANDBOX_NO;
#endif
	cfg->checkpoint_every = AUDIT_DEFAULT_CP_EVERY;
	cfg->checkpoint_secs = AUDIT_DEFAULT_CP_SECS;
	cfg->export_window = APPROVAL_WINDOW_DEFAULT;
}

void config_free(struct rosterd_config *cfg)
{
	free(cfg->state_dir);
	free(cfg->socket_path);
	free(cfg->passphrase_file);
	free(cfg->socket_group);
	free(cfg->syslog_socket);
	free(cfg->user);
	memset(cfg, 0, sizeof(*cfg));
}

struct load_ctx {
	struct rosterd_config *cfg;
	const char *path;
	int error;
};

static int set_string(char **dst, const char *v)
{
	char *s;

	if (*v == '\0')
		return -EINVAL;
	s = strdup(v);
	if (s == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	struct rosterd_config *cfg = ctx->cfg;
	uint64_t n;
	char *end;
	int r;

	if (strcmp(section, "rosterd") != 0) {
		log_err("%s: unknown section [%s]", ctx->path, section);
		ctx->error = -EINVAL;
		return 1;   /* recorded in ctx; keep reading to report every error */
	}
	if (strcmp(name, "state_dir") == 0) {
		r = set_string(&cfg->state_dir, value);
	} else if (strcmp(name, "socket") == 0) {
		r = set_string(&cfg->socket_path, value);
	} else if (strcmp(name, "syslog_socket") == 0) {
		r = set_string(&cfg->syslog_socket, value);
	} else if (strcmp(name, "checkpoint_every") == 0) {
		r = parse_uint(value, 1, 1000000000, &n);
		if (r == 0)
			cfg->checkpoint_every = (int64_t)n;
	} else if (strcmp(name, "checkpoint_interval") == 0) {
		r = parse_uint(value, 1, 86400, &n);
		if (r == 0)
			cfg->checkpoint_secs = (int64_t)n;
	} else if (strcmp(name, "export_window") == 0) {
		r = parse_uint(value, 1, APPROVAL_WINDOW_MAX, &n);
		if (r == 0)
			cfg->export_window = (int64_t)n;
	} else if (strcmp(name, "socket_group") == 0) {
		r = set_string(&cfg->socket_group, value);
	} else if (strcmp(name, "passphrase_file") == 0) {
		r = set_string(&cfg->passphrase_file, value);
	} else if (strcmp(name, "max_connections") == 0) {
		r = parse_uint(value, 1, MAX_CONNECTIONS_CEILING, &n);
		if (r == 0)
			cfg->max_connections = (unsigned)n;
	} else if (strcmp(name, "max_connections_per_uid") == 0) {
		r = parse_uint(value, 1, MAX_CONNECTIONS_CEILING, &n);
		if (r == 0)
			cfg->max_connections_per_uid = (unsigned)n;
	} else if (strcmp(name, "idle_timeout") == 0) {
		r = parse_uint(value, 1, 86400, &n);
		if (r == 0)
			cfg->idle_timeout_ms = n * 1000;
	} else if (strcmp(name, "frame_timeout") == 0) {
		r = parse_uint(value, 1, 3600, &n);
		if (r == 0)
			cfg->frame_timeout_ms = n * 1000;
	} else if (strcmp(name, "write_timeout") == 0) {
		r = parse_uint(value, 1, 3600, &n);
		if (r == 0)
			cfg->write_timeout_ms = n * 1000;
	} else if (strcmp(name, "user") == 0) {
		r = set_string(&cfg->user, value);
	} else if (strcmp(name, "sandbox") == 0) {
		r = 0;
		if (strcmp(value, "yes") == 0)
			cfg->sandbox = SANDBOX_YES;
		else if (strcmp(value, "no") == 0)
			cfg->sandbox = SANDBOX_NO;
		else if (strcmp(value, "log") == 0)
			cfg->sandbox = SANDBOX_LOG;
		else
			r = -EINVAL;
#ifndef HAVE_SECCOMP
		if (r == 0 && cfg->sandbox != SANDBOX_NO) {
			log_err("%s: \"sandbox = %s\": this rosterd was built without seccomp "
				"(configure --with-seccomp)", ctx->path, value);
			cfg->sandbox = SANDBOX_NO;
			r = -ENOTSUP;
		}
#endif
	} else if (strcmp(name, "socket_mode") == 0) {
		errno = 0;
		n = strtoul(value, &end, 8);
		r = (errno || *end || end == value || (n & ~0770UL) || !(n & 0600)) ? -EINVAL : 0;
		if (r == 0)
			cfg->socket_mode = (unsigned)n;
	} else {
		log_err("%s: unknown key \"%s\" in [rosterd]", ctx->path, name);
		ctx->error = -EINVAL;
		return 1;   /* recorded in ctx; keep reading to report every error */
	}
	if (r < 0) {
		log_err("%s: bad value for \"%s\" in [rosterd]", ctx->path, name);
		ctx->error = r;
	}
	return 1;   /* recorded in ctx; keep reading to report every error */
}

static int check_line_lengths(const char *path)
{
	FILE *f = fopen(path, "re");
	int ch, col = 0, line = 1, r = 0;

	if (f == NULL) {
		r = -errno;
		log_err("%s: %s", path, strerror(errno));
		return r;
	}
	/*
	 * Whoever can write the configuration chooses the state directory and
	 * the user the daemon runs as: refuse a file anyone else could change.
	 */
	r = check_private_file(fileno(f), path, geteuid(), false);
	if (r < 0) {
		fclose(f);
		return r;
	}
	while ((ch = getc(f)) != EOF) {
		if (ch == '\n') {
			line++;
			col = 0;
		} else if (++col > CONFIG_LINE_MAX) {
			log_err("%s:%d: line longer than %d characters", path, line, CONFIG_LINE_MAX);
			r = -EINVAL;
			break;
		}
	}
	fclose(f);
	return r;
}

int config_load(struct rosterd_config *cfg, const char *path)
{
	struct load_ctx ctx = { cfg, path, 0 };
	int r;

	r = check_line_lengths(path);
	if (r < 0)
		return r;
	r = ini_parse(path, on_entry, &ctx);
	if (r < 0) {
		log_err("%s: cannot read", path);
		return -EIO;
	}
	if (r > 0) {
		log_err("%s:%d: syntax error", path, r);
		return -EINVAL;
	}
	return ctx.error;
}
