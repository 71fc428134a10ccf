/*
 * cmd-backup.c: rosterctl's "backup" commands: create (io.roster.Admin.
 * Backup, streamed), and verify and restore, which work on the file alone,
 * offline, with the admin's passphrase (doc/backup-format.md).
 *
 * create writes the file with the caller's rights, never over an existing
 * file or through a symlink (O_EXCL | O_NOFOLLOW, mode 0600), and removes
 * it again if the stream does not complete. verify and restore unwrap the
 * keyring inside the backup with the passphrase only to derive the key that
 * checks the tag; restore writes nothing under its final name until every
 * byte has been checked, and never replaces an existing registry. The
 * passphrase and the keys are wiped after use and never printed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl/ctl.h"
#include "daemon/backup.h"
#include "daemon/keys.h"
#include "daemon/store.h"
#include "daemon/util.h"

/* Bytes read from a backup file at a time. */
#define READ_CHUNK (1024u * 1024u)

/* ---- progress ------------------------------------------------------------------- */

/*
 * Progress on stderr: on a terminal a line redrawn in place; with
 * --progress and no terminal, a line per tenth. Nothing otherwise, so that
 * scripts see only the result.
 */
struct progress {
	const char *what;
	bool on, tty;
	int last;                       /* last percentage shown, -1: none */
};

static void progress_init(struct progress *p, const char *what, bool forced)
{
	p->what = what;
	p->tty = isatty(STDERR_FILENO);
	p->on = forced || p->tty;
	p->last = -1;
}

static void progress_show(struct progress *p, uint64_t done, uint64_t total)
{
	int pct = total ? (int)(done * 100 / total) : 100;

	if (!p->on || pct == p->last || (!p->tty && pct / 10 == p->last / 10 && pct != 100))
		return;
	p->last = pct;
	fprintf(stderr, "%s%s: %3d%% (%llu of %llu bytes)%s", p->tty ? "\r" : "", p->what, pct,
		(unsigned long long)done, (unsigned long long)total, p->tty ? "" : "\n");
	if (p->tty && pct == 100)
		fputc('\n', stderr);
}

/* Write all of buf to fd; 0 or -errno. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- create ------------------------------------------------------------------- */

struct create_state {
	const char *file;
	int fd;
	uint64_t size;                  /* announced by the first reply */
	uint64_t written;
	int64_t audit_seq;
	unsigned char *buf;
	size_t cap;
	struct progress prog;
};

/* One reply of the stream: its piece goes at its offset, which must be where we are. */
static int create_each(json_t *params, void *data)
{
	struct create_state *st = data;
	const char *b64 = json_string_value(json_object_get(params, "data"));
	json_int_t off = json_integer_value(json_object_get(params, "offset"));
	json_int_t size = json_integer_value(json_object_get(params, "size"));
	size_t len, need;
	int r;

	if (b64 == NULL || !json_is_integer(json_object_get(params, "offset")) ||
	    size <= BACKUP_HDR_SIZE + BACKUP_TAG_SIZE ||
	    (uint64_t)size > BACKUP_DB_MAX + BACKUP_HDR_SIZE + KEYRING_MAX_SIZE + BACKUP_TAG_SIZE ||
	    (st->size != 0 && (uint64_t)size != st->size) || off < 0 ||
	    (uint64_t)off != st->written) {
		ctl_warnx("the daemon's backup stream is malformed");
		return CTL_E_FAIL;
	}
	st->size = (uint64_t)size;
	st->audit_seq = json_integer_value(json_object_get(params, "audit_seq"));
	need = strlen(b64) / 4 * 3 + 3;
	if (need > st->cap) {
		unsigned char *nb = realloc(st->buf, need);

		if (nb == NULL) {
			ctl_warnx("out of memory");
			return CTL_E_FAIL;
		}
		st->buf = nb;
		st->cap = need;
	}
	if (sodium_base642bin(st->buf, st->cap, b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || len == 0 ||
	    st->written + len > st->size) {
		ctl_warnx("the daemon's backup stream is malformed");
		return CTL_E_FAIL;
	}
	r = write_all(st->fd, st->buf, len);
	if (r < 0) {
		ctl_warnx("%s: %s", st->file, strerror(-r));
		return CTL_E_FAIL;
	}
	st->written += len;
	progress_show(&st->prog, st->written, st->size);
	return 0;
}

static int cmd_create(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "progress", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct create_state st = { 0 };
	bool progress = false, done = false;
	int c, rc = CTL_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			progress = true;
			break;
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	if (optind != argc - 1)
		return ctl_usage(ctx);
	st.file = argv[optind];
	if (ctl_connect(ctx) < 0)
		return CTL_EXIT_FAIL;
	/* Never over an existing file, never through a symlink, private from the start. */
	st.fd = open(st.file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (st.fd < 0) {
		ctl_warnx("%s: %s", st.file, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	progress_init(&st.prog, "backup", progress);
	if (roster_call_more(ctx->r, "io.roster.Admin.Backup", NULL, create_each, &st) != 0) {
		if (roster_error_name(ctx->r) != NULL)
			ctl_fail(ctx);
		goto out;
	}
	if (st.size == 0 || st.written != st.size) {
		ctl_warnx("the backup stream ended early (%llu of %llu bytes)",
			  (unsigned long long)st.written, (unsigned long long)st.size);
		goto out;
	}
	if (fsync(st.fd) < 0 || fsync_parent_dir(st.file) < 0) {
		ctl_warnx("%s: cannot sync: %s", st.file, strerror(errno));
		goto out;
	}
	done = true;
	rc = CTL_EXIT_OK;
	if (ctx->json) {
		json_t *j = json_pack("{s:s, s:I, s:I}", "file", st.file, "size", (json_int_t)st.size,
				      "audit_seq", (json_int_t)st.audit_seq);

		ctl_print_json(j);
		json_decref(j);
	} else {
		printf("backup written: %llu bytes, audit head %lld\n",
		       (unsigned long long)st.size, (long long)st.audit_seq);
	}
out:
	close(st.fd);
	/* We made the file (O_EXCL): an incomplete one must not pass for a backup. */
	if (!done)
		unlink(st.file);
	free(st.buf);
	return rc;
}

/* ---- verify and restore ------------------------------------------------------------ */

static int read_full(int fd, unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

struct checked {
	struct backup_hdr hdr;
	unsigned char keyring[KEYRING_MAX_SIZE];
	size_t keyring_len;
};

/*
 * Check the backup in file with the passphrase from passfile (or a prompt),
 * and, with out >= 0, copy its database to out on the way. Every byte is
 * covered: the header and sizes by parsing, the keyring by its checksum and
 * by unwrapping, and everything by the tag. Prints the reason on failure.
 */
static int check_backup(const char *file, const char *passfile, int out, bool progress,
			const char *what, struct checked *ret)
{
	unsigned char head[BACKUP_HDR_SIZE + KEYRING_MAX_SIZE], tag[BACKUP_TAG_SIZE],
		want[BACKUP_TAG_SIZE];
	unsigned char key[BACKUP_MAC_KEY_BYTES];
	crypto_generichash_state *mac = NULL;
	struct keyring_hdr kh;
	struct keys *k = NULL;
	struct progress prog;
	unsigned char *buf = NULL;
	char *pass = NULL;
	size_t passlen = 0;
	uint64_t left, done = 0;
	struct stat sb;
	int fd, r, rc = CTL_E_FAIL;

	/* Locked memory and Argon2id need libsodium set up (idempotent). */
	if (sodium_init() < 0) {
		ctl_warnx("cannot initialise libsodium");
		return CTL_E_FAIL;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		ctl_warnx("%s: %s", file, strerror(errno));
		return CTL_E_FAIL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		ctl_warnx("%s: not a regular file", file);
		goto out;
	}
	if (sb.st_size < BACKUP_HDR_SIZE || read_full(fd, head, BACKUP_HDR_SIZE) < 0) {
		ctl_warnx("%s: too short to be a Roster backup", file);
		goto out;
	}
	r = backup_hdr_parse(head, BACKUP_HDR_SIZE, &ret->hdr);
	if (r == -EPROTONOSUPPORT) {
		ctl_warnx("%s: a backup format version this rosterctl does not know", file);
		goto out;
	}
	if (r < 0) {
		ctl_warnx("%s: not a Roster backup, or its header is damaged", file);
		goto out;
	}
	if ((uint64_t)sb.st_size != backup_file_size(&ret->hdr)) {
		ctl_warnx("%s: %lld bytes where the header says %llu: truncated, extended or damaged",
			  file, (long long)sb.st_size,
			  (unsigned long long)backup_file_size(&ret->hdr));
		goto out;
	}
	/* backup_hdr_parse bounds keyring_len to the lengths of the known formats. */
	ret->keyring_len = ret->hdr.keyring_len;
	if (read_full(fd, head + BACKUP_HDR_SIZE, ret->keyring_len) < 0) {
		ctl_warnx("%s: too short to be a Roster backup", file);
		goto out;
	}
	memcpy(ret->keyring, head + BACKUP_HDR_SIZE, ret->keyring_len);
	r = keyring_parse(ret->keyring, ret->keyring_len, &kh);
	if (r < 0) {
		ctl_warnx("%s: the keyring inside is damaged or altered", file);
		goto out;
	}
	rc = ctl_passphrase_get(passfile, 0, &pass, &passlen);
	if (rc < 0)
		goto out;
	rc = CTL_E_FAIL;
	r = keyring_unlock_buf(ret->keyring, ret->keyring_len, pass, passlen, &k);
	if (r == -EACCES) {
		ctl_warnx("%s: the passphrase does not open this backup's keyring (it must be the "
			  "passphrase in force when the backup was made)", file);
		goto out;
	}
	if (r < 0) {
		ctl_warnx("%s: the keyring inside cannot be used: %s", file, strerror(-r));
		goto out;
	}
	mac = sodium_malloc(sizeof(*mac));
	buf = malloc(READ_CHUNK);
	if (mac == NULL || buf == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	keys_backup_mac_key(k, key);
	crypto_generichash_init(mac, key, sizeof(key), BACKUP_TAG_SIZE);
	sodium_memzero(key, sizeof(key));
	crypto_generichash_update(mac, head, BACKUP_HDR_SIZE + ret->keyring_len);
	progress_init(&prog, what, progress);
	for (left = ret->hdr.db_len; left > 0;) {
		size_t n = left < READ_CHUNK ? (size_t)left : READ_CHUNK;

		if (read_full(fd, buf, n) < 0) {
			ctl_warnx("%s: read error", file);
			goto out;
		}
		/* SQLCipher's file has no plaintext header: a plain SQLite one was never ours. */
		if (done == 0 && n >= 16 && memcmp(buf, "SQLite format 3", 16) == 0) {
			ctl_warnx("%s: the database inside is not encrypted; refusing it", file);
			goto out;
		}
		crypto_generichash_update(mac, buf, n);
		if (out >= 0 && (r = write_all(out, buf, n)) < 0) {
			ctl_warnx("cannot write the database: %s", strerror(-r));
			goto out;
		}
		left -= n;
		done += n;
		progress_show(&prog, done, ret->hdr.db_len);
	}
	if (read_full(fd, tag, sizeof(tag)) < 0) {
		ctl_warnx("%s: read error", file);
		goto out;
	}
	crypto_generichash_final(mac, want, sizeof(want));
	if (sodium_memcmp(tag, want, sizeof(tag)) != 0) {
		ctl_warnx("%s: integrity check FAILED: the backup was altered or damaged", file);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	sodium_free(mac);
	free(buf);
	keys_free(k);
	ctl_passphrase_free(pass);
	return rc;
}

static void print_checked(const struct ctl_ctx *ctx, const char *file, const struct checked *c,
			  const char *dir)
{
	char when[32], hash[65];
	time_t t = (time_t)(c->hdr.created_us / 1000000);
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	sodium_bin2hex(hash, sizeof(hash), c->hdr.audit_hash, sizeof(c->hdr.audit_hash));
	if (ctx->json) {
		json_t *j = json_pack("{s:s, s:b, s:i, s:s, s:I, s:s, s:I}", "file", file, "ok", 1,
				      "version", (int)c->hdr.version, "created", when,
				      "audit_seq", (json_int_t)c->hdr.audit_seq, "audit_hash", hash,
				      "database_bytes", (json_int_t)c->hdr.db_len);

		if (j != NULL && dir != NULL)
			json_object_set_new(j, "state_dir", json_string(dir));
		ctl_print_json(j);
		json_decref(j);
		return;
	}
	printf("backup ok: format %u, created %s, audit head %lld (%s), database %llu bytes\n",
	       c->hdr.version, when, (long long)c->hdr.audit_seq, hash,
	       (unsigned long long)c->hdr.db_len);
	if (dir != NULL) {
		fputs("restored into ", stdout);
		ctl_put_safe(stdout, dir);
		fputs("; start rosterd there and unseal with the passphrase of the backup\n", stdout);
	}
}

/* Options shared by verify and restore. */
static int parse_offline(struct ctl_ctx *ctx, int argc, char **argv, bool want_dir,
			 const char **ret_pass, const char **ret_dir, bool *ret_progress)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'f' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "progress", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			*ret_pass = optarg;
			break;
		case 'd':
			if (!want_dir)
				return ctl_usage(ctx);
			*ret_dir = optarg;
			break;
		case 'p':
			*ret_progress = true;
			break;
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	if (optind != argc - 1 || (want_dir && *ret_dir == NULL))
		return ctl_usage(ctx);
	return -1;
}

static int cmd_verify(struct ctl_ctx *ctx, int argc, char **argv)
{
	const char *pass = NULL, *dir = NULL;
	bool progress = false;
	struct checked c;
	int rc;

	rc = parse_offline(ctx, argc, argv, false, &pass, &dir, &progress);
	if (rc >= 0)
		return rc;
	rc = check_backup(argv[optind], pass, -1, progress, "verify", &c);
	if (rc < 0)
		return ctl_exit_for(ctx, rc);
	print_checked(ctx, argv[optind], &c, NULL);
	return CTL_EXIT_OK;
}

/* True if dir already holds any file of a registry. */
static bool holds_registry(const char *dir)
{
	static const char *const names[] = {
		KEYRING_FILE, STORE_FILE, STORE_FILE "-wal", STORE_FILE "-shm", STORE_FILE "-journal",
	};
	char p[PATH_MAX];
	struct stat sb;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (lstat(p, &sb) == 0 || errno != ENOENT)
			return true;
	}
	return false;
}

/* Write buf into a new file path (O_EXCL, 0600) and fsync it. */
static int write_new(const char *path, const unsigned char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		unlink(path);
	return r;
}

static int cmd_restore(struct ctl_ctx *ctx, int argc, char **argv)
{
	const char *pass = NULL, *dir = NULL;
	char db_tmp[PATH_MAX], kr_tmp[PATH_MAX], db[PATH_MAX], kr[PATH_MAX];
	bool progress = false, made_dir = false;
	struct checked c;
	struct stat sb;
	int fd = -1, rc, r;

	rc = parse_offline(ctx, argc, argv, true, &pass, &dir, &progress);
	if (rc >= 0)
		return rc;
	if ((size_t)snprintf(db, sizeof(db), "%s/%s", dir, STORE_FILE) >= sizeof(db) ||
	    (size_t)snprintf(kr, sizeof(kr), "%s/%s", dir, KEYRING_FILE) >= sizeof(kr) ||
	    (size_t)snprintf(db_tmp, sizeof(db_tmp), "%s.restore", db) >= sizeof(db_tmp) ||
	    (size_t)snprintf(kr_tmp, sizeof(kr_tmp), "%s.restore", kr) >= sizeof(kr_tmp)) {
		ctl_warnx("the state directory's path is too long");
		return CTL_EXIT_USAGE;
	}
	if (mkdir(dir, 0700) == 0) {
		made_dir = true;
	} else if (errno != EEXIST) {
		ctl_warnx("cannot create %s: %s", dir, strerror(errno));
		return CTL_EXIT_FAIL;
	} else if (lstat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		ctl_warnx("%s exists and is not a directory", dir);
		return CTL_EXIT_FAIL;
	} else if (holds_registry(dir)) {
		ctl_warnx("%s already holds a registry (or part of one); refusing to overwrite it",
			  dir);
		return CTL_EXIT_FAIL;
	}
	/* The database goes to a temporary name first: nothing final before every byte is checked. */
	fd = open(db_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ctl_warnx("%s: %s", db_tmp, strerror(errno));
		goto fail;
	}
	rc = check_backup(argv[optind], pass, fd, progress, "restore", &c);
	if (rc < 0)
		goto fail;
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		ctl_warnx("%s: %s", db_tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	r = write_new(kr_tmp, c.keyring, c.keyring_len);
	if (r < 0) {
		ctl_warnx("%s: %s", kr_tmp, strerror(-r));
		goto fail;
	}
	/*
	 * The database under its name first, the keyring last: the daemon
	 * takes a directory with a keyring for a registry, so it is never
	 * shown half a restore. RENAME_NOREPLACE: a registry that appeared
	 * meanwhile is not overwritten either.
	 */
	if (renameat2(AT_FDCWD, db_tmp, AT_FDCWD, db, RENAME_NOREPLACE) < 0) {
		ctl_warnx("%s: %s", db, strerror(errno));
		goto fail;
	}
	if (renameat2(AT_FDCWD, kr_tmp, AT_FDCWD, kr, RENAME_NOREPLACE) < 0) {
		ctl_warnx("%s: %s", kr, strerror(errno));
		unlink(db);
		goto fail;
	}
	if ((r = fsync_parent_dir(kr)) < 0) {
		ctl_warnx("%s: cannot sync: %s", dir, strerror(-r));
		return CTL_EXIT_FAIL;
	}
	print_checked(ctx, argv[optind], &c, dir);
	return CTL_EXIT_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlink(db_tmp);
	unlink(kr_tmp);
	if (made_dir)
		rmdir(dir);
	return rc == CTL_E_USAGE ? ctl_exit_for(ctx, rc) : CTL_EXIT_FAIL;
}

const struct ctl_cmd ctl_backup_cmds[] = {
	{ "backup", "create", "[--progress] FILE", cmd_create },
	{ "backup", "verify", "[--passphrase-file FILE] [--progress] BACKUP", cmd_verify },
	{ "backup", "restore", "--state-dir DIR [--passphrase-file FILE] [--progress] BACKUP",
	  cmd_restore },
	{ NULL, NULL, NULL, NULL },
};
