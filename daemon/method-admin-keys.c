/*
 * method-admin-keys.c: io.roster.Admin — Backup and Rekey, the calls that
 * handle the keyring and the database file as a whole.
 *
 * A backup holds the registry's backup_busy and Rekey its key_op_busy, and
 * each refuses to start while either is held, so a backup never packs a
 * keyring that a passphrase change is replacing. Their slow parts (copying
 * the database, Argon2id) run on the libuv thread pool with their own
 * copies of the keys, so a Seal meanwhile wipes the registry's keys without
 * pulling memory from under them.
 *
 * Backup streams the file to the caller (Varlink "more", base64 chunks): the
 * daemon writes nothing outside its state directory, and the caller's file
 * is created by rosterctl with the caller's rights. Nothing here logs a
 * passphrase, a key or a byte of the backup.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/backup.h"
#include "daemon/dispatch.h"
#include "daemon/keys.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/server.h"
#include "daemon/util.h"
#include "daemon/validate.h"

/* Bytes of the file per reply (base64 makes 4/3 of it): two fit under OUTPUT_SOFT_LIMIT. */
#define BACKUP_CHUNK (96u * 1024u)
/* The database copy, in the state directory until it is open, then unlinked. */
#define BACKUP_TMP_FILE "backup.tmp"

struct backup_job {
	uv_work_t work;
	struct call *c;                 /* NULL once the connection has gone */
	struct registry *reg;
	struct keys *keys;              /* a copy (locked memory) for the worker */
	char tmp_path[4096];
	int fd;                         /* the database copy, already unlinked */
	struct backup_hdr hdr;
	unsigned char head[BACKUP_HDR_SIZE + KEYRING_MAX_SIZE];
	size_t head_len;                /* the header and the keyring as it is */
	crypto_generichash_state *mac;  /* locked memory */
	uint64_t total;                 /* the whole file's size */
	uint64_t sent;                  /* bytes sent (and hashed) so far */
	unsigned char *buf;             /* one chunk */
	char *b64;                      /* one chunk in base64 */
	int result;
	bool working;                   /* on the thread pool */
};

static void backup_job_free(struct backup_job *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	keys_free(j->keys);
	sodium_free(j->mac);
	free(j->buf);
	free(j->b64);
	j->reg->backup_busy = false;
	free(j);
}

static void backup_work(uv_work_t *w)
{
	struct backup_job *j = w->data;
	struct registry *reg = j->reg;
	unsigned char key[BACKUP_MAC_KEY_BYTES];
	struct stat st;
	size_t klen;
	int r;

	/* A copy left by a daemon killed half-way holds nothing but ciphertext: replace it. */
	(void)unlink(j->tmp_path);
	r = store_backup(reg->db_path, j->keys, j->tmp_path, &j->hdr.audit_seq, j->hdr.audit_hash);
	if (r < 0)
		goto out;
	j->fd = open(j->tmp_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (j->fd < 0 || fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > BACKUP_DB_MAX) {
		r = j->fd < 0 ? -errno : -EIO;
		(void)unlink(j->tmp_path);
		goto out;
	}
	/* The open descriptor keeps the copy; no name is left behind for anyone. */
	(void)unlink(j->tmp_path);
	r = keyring_read(reg->keyring_path, j->head + BACKUP_HDR_SIZE, &klen);
	if (r < 0)
		goto out;
	j->head_len = BACKUP_HDR_SIZE + klen;
	j->hdr.version = BACKUP_VERSION;
	j->hdr.keyring_len = (uint32_t)klen;
	j->hdr.created_us = now_usec();
	j->hdr.db_len = (uint64_t)st.st_size;
	backup_hdr_pack(&j->hdr, j->head);
	j->total = backup_file_size(&j->hdr);
	keys_backup_mac_key(j->keys, key);
	crypto_generichash_init(j->mac, key, sizeof(key), BACKUP_TAG_SIZE);
	sodium_memzero(key, sizeof(key));
out:
	/* The worker's copy of the keys is needed no longer. */
	keys_free(j->keys);
	j->keys = NULL;
	j->result = r;
}

static void backup_pump(struct call *c);

/* End the stream with an error, release everything. */
static void backup_fail(struct backup_job *j, const char *error, const char *message)
{
	struct call *c = j->c;

	c->stream = NULL;
	backup_job_free(j);
	call_stream_end(c, json_pack("{s:s, s:{s:s}}", "error", error, "parameters",
				     "message", message));
}

/* The next piece of the file (not the tag) into j->buf; returns its length or -errno. */
static ssize_t backup_read(struct backup_job *j)
{
	uint64_t db_off;
	ssize_t n;

	if (j->sent < j->head_len) {
		memcpy(j->buf, j->head + j->sent, j->head_len - j->sent);
		return (ssize_t)(j->head_len - j->sent);
	}
	db_off = j->sent - j->head_len;
	n = (ssize_t)(j->hdr.db_len - db_off < BACKUP_CHUNK ? j->hdr.db_len - db_off : BACKUP_CHUNK);
	do
		n = pread(j->fd, j->buf, (size_t)n, (off_t)db_off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -EIO : n;    /* the copy cannot shrink: it has no name */
}

static json_t *chunk_params(struct backup_job *j, const unsigned char *data, size_t len)
{
	sodium_bin2base64(j->b64, sodium_base64_ENCODED_LEN(BACKUP_CHUNK,
				  sodium_base64_VARIANT_ORIGINAL), data, len,
			  sodium_base64_VARIANT_ORIGINAL);
	return json_pack("{s:s, s:I, s:I, s:I}", "data", j->b64, "offset", (json_int_t)j->sent,
			 "size", (json_int_t)j->total, "audit_seq", (json_int_t)j->hdr.audit_seq);
}

/* Send as much as the connection takes; the tag last, in the final reply. */
static void backup_pump(struct call *c)
{
	struct backup_job *j = c->stream;
	uint64_t body = j->total - BACKUP_TAG_SIZE;
	unsigned char tag[BACKUP_TAG_SIZE];
	json_t *p;

	if (j->reg->state != REG_UNSEALED) {
		backup_fail(j, "io.roster.Sealed", "the registry was sealed during the backup");
		return;
	}
	while (j->sent < body) {
		ssize_t n = backup_read(j);
		int r;

		if (n < 0) {
			log_err("backup: reading the copy: %s", strerror((int)-n));
			backup_fail(j, "io.roster.InternalError", "reading the copy failed (see the log)");
			return;
		}
		p = chunk_params(j, j->buf, (size_t)n);
		if (p == NULL) {
			backup_fail(j, "io.roster.InternalError", "out of memory");
			return;
		}
		r = call_continue(c, p);
		if (r == -EAGAIN) {
			c->on_drain = backup_pump;      /* the rest when the client has read */
			return;
		}
		if (r < 0)
			return;                         /* the connection is going: on_conn_close */
		crypto_generichash_update(j->mac, j->buf, (size_t)n);
		j->sent += (uint64_t)n;
	}
	crypto_generichash_final(j->mac, tag, sizeof(tag));
	p = chunk_params(j, tag, sizeof(tag));
	log_info("backup of %llu bytes (audit head %lld) sent to uid %u",
		 (unsigned long long)j->total, (long long)j->hdr.audit_seq, (unsigned)c->uid);
	c->stream = NULL;
	backup_job_free(j);
	call_stream_end(c, p ? json_pack("{s:o}", "parameters", p)
			     : json_pack("{s:s, s:{s:s}}", "error", "io.roster.InternalError",
					 "parameters", "message", "out of memory"));
}

static void backup_work_done(uv_work_t *w, int status)
{
	struct backup_job *j = w->data;

	j->working = false;
	if (j->c == NULL) {             /* the caller has gone */
		backup_job_free(j);
		return;
	}
	if (status < 0 || j->result < 0) {
		log_err("backup failed: %s", strerror(status < 0 ? ECANCELED : -j->result));
		backup_fail(j, "io.roster.InternalError", "the backup failed (see the daemon's log)");
		return;
	}
	backup_pump(j->c);
}

static void backup_conn_closed(struct call *c)
{
	struct backup_job *j = c->stream;

	c->stream = NULL;
	if (j != NULL) {
		log_info("backup: uid %u went away after %llu bytes", (unsigned)c->uid,
			 (unsigned long long)j->sent);
		if (j->working)
			j->c = NULL;    /* freed when the worker is done */
		else
			backup_job_free(j);
	}
	call_stream_end(c, NULL);
}

/* The Backup call's own record is committed: now copy. */
static void backup_started(struct call *c, int status)
{
	struct registry *reg;
	struct backup_job *j;

	if (status < 0 || c == NULL)
		return;
	reg = c->srv->reg;
	if (reg->state != REG_UNSEALED || reg->key_op_busy || reg->backup_busy) {
		call_stream_end(c, json_pack("{s:s, s:{s:s}}", "error", "io.roster.Busy", "parameters",
					     "message", "another key operation or backup is running"));
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		call_stream_end(c, json_pack("{s:s, s:{s:s}}", "error", "io.roster.InternalError",
					     "parameters", "message", "out of memory"));
		return;
	}
	j->fd = -1;
	j->reg = reg;
	j->c = c;
	reg->backup_busy = true;
	j->keys = keys_dup(reg->keys);
	j->mac = sodium_malloc(sizeof(*j->mac));
	j->buf = malloc(BACKUP_CHUNK);
	j->b64 = malloc(sodium_base64_ENCODED_LEN(BACKUP_CHUNK, sodium_base64_VARIANT_ORIGINAL));
	c->stream = j;
	c->on_conn_close = backup_conn_closed;
	if (j->keys == NULL || j->mac == NULL || j->buf == NULL || j->b64 == NULL ||
	    (size_t)snprintf(j->tmp_path, sizeof(j->tmp_path), "%s/%s", reg->state_dir,
			     BACKUP_TMP_FILE) >= sizeof(j->tmp_path)) {
		backup_fail(j, "io.roster.InternalError", "out of memory");
		return;
	}
	j->work.data = j;
	if (uv_queue_work(reg->loop, &j->work, backup_work, backup_work_done) < 0) {
		backup_fail(j, "io.roster.InternalError", "cannot start the copy");
		return;
	}
	j->working = true;
}

void method_admin_backup(struct call *c)
{
	char bad[VALIDATE_NAME_MAX];

	if (!validate_params(c->params, NULL, 0, bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	if (!c->more) {
		call_error(c, "org.varlink.service.ExpectedMore", NULL);
		return;
	}
	if (c->srv->reg->key_op_busy || c->srv->reg->backup_busy) {
		call_error_message(c, "io.roster.Busy", "another key operation or backup is running");
		return;
	}
	call_stream_start(c, backup_started);
}

/* ---- Rekey ------------------------------------------------------------------- */

struct rekey_job {
	uv_work_t work;
	struct call *c;
	struct registry *reg;
	struct keys *keys;              /* a copy of the keys in memory */
	char *old_pass, *new_pass;      /* locked copies */
	size_t old_len, new_len;
	int result;
};

static void rekey_work(uv_work_t *w)
{
	struct rekey_job *j = w->data;
	int r;

	r = keyring_confirm(j->reg->keyring_path, j->old_pass, j->old_len, j->keys);
	if (r == -EBADMSG)
		log_err("rekey: the keyring on disk does not hold the keys in use; not rewrapping");
	if (r == 0)
		r = keyring_rewrap(j->reg->keyring_path, j->keys, j->new_pass, j->new_len,
				   j->reg->kdf_opslimit, j->reg->kdf_memlimit);
	sodium_memzero(j->old_pass, j->old_len);
	sodium_memzero(j->new_pass, j->new_len);
	j->result = r;
}

/*
 * The refusals Rekey shares in both its forms: a wrong passphrase, or a
 * keyring that is damaged or not the one in use. Answers c and returns
 * true for those; false for any other result. op names it in the log.
 */
static bool reply_keyring_refusal(struct call *c, int r, const char *op)
{
	switch (r) {
	case -EACCES:
		log_warn("%s refused: wrong passphrase (uid %u)", op, (unsigned)c->uid);
		call_error_message(c, "io.roster.BadPassphrase",
				   "the passphrase does not open the keyring; nothing was changed");
		return true;
	case -EBADMSG:
	case -EPROTONOSUPPORT:
	case -EINVAL:
	case -EPERM:
		call_error_message(c, "io.roster.KeyringCorrupt",
				   "the keyring file is damaged, altered or not private; nothing "
				   "was changed (see the daemon's log)");
		return true;
	default:
		return false;
	}
}

static void rekey_work_done(uv_work_t *w, int status)
{
	struct rekey_job *j = w->data;
	struct call *c = j->c;
	int r = status < 0 ? -ECANCELED : j->result;

	j->reg->key_op_busy = false;
	keys_free(j->keys);
	sodium_free(j->old_pass);
	sodium_free(j->new_pass);
	free(j);
	if (r == 0) {
		log_info("keyring rewrapped under a new passphrase by uid %u", (unsigned)c->uid);
		call_reply(c, NULL);
	} else if (!reply_keyring_refusal(c, r, "rekey")) {
		log_err("rekey failed: %s; the old keyring is still in place", strerror(-r));
		call_error_message(c, "io.roster.InternalError",
				   "the keyring could not be rewritten; the old passphrase still "
				   "works (see the daemon's log)");
	}
}

/* A passphrase parameter of min to PASSPHRASE_MAX bytes; NULL when absent or bad. */
static const char *passphrase_param(const json_t *params, const char *name, size_t min,
				    size_t *ret_len)
{
	const json_t *v = json_object_get(params, name);
	size_t len = json_string_length(v);

	if (!json_is_string(v) || len < min || len > PASSPHRASE_MAX ||
	    strlen(json_string_value(v)) != len)
		return NULL;
	*ret_len = len;
	return json_string_value(v);
}

static char *secret_dup(const char *s, size_t len)
{
	char *p = sodium_malloc(len + 1);

	if (p != NULL) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

static void rotate_done(int r, void *data)
{
	struct call *c = data;

	if (r != 0 && reply_keyring_refusal(c, r, "rotation"))
		return;
	switch (r) {
	case 0:
		log_info("keys rotated by uid %u", (unsigned)c->uid);
		call_reply(c, NULL);
		break;
	case -EBUSY:
		call_error_message(c, "io.roster.Busy", "another key operation, a backup or an audit "
				   "verify is running; try again when it is done");
		break;
	case -EALREADY:
		call_error(c, "io.roster.InvalidState",
			   json_pack("{s:s}", "state", registry_state_name(c->srv->reg->state)));
		break;
	case -ENOSPC:
		call_error_message(c, "io.roster.TooManyKeys",
				   "the keyring remembers 16 earlier audit keys and has no room for "
				   "another; nothing was changed");
		break;
	default:
		call_error_message(c, "io.roster.InternalError",
				   "the rotation failed; the registry holds the keys in force before "
				   "it, or after it if the daemon's log says so");
		break;
	}
}

/* The rotate parameter: a non-empty array of "data" and "audit"; 0 if bad. */
static unsigned rotate_param(const json_t *v)
{
	unsigned what = 0;
	size_t i;
	json_t *e;

	if (json_array_size(v) == 0 || json_array_size(v) > 2)
		return 0;
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);

		if (s != NULL && strcmp(s, "data") == 0)
			what |= ROTATE_DATA_KEY;
		else if (s != NULL && strcmp(s, "audit") == 0)
			what |= ROTATE_AUDIT_KEY;
		else
			return 0;
	}
	return what;
}

void method_admin_rekey(struct call *c)
{
	static const char *const spec[] = { "passphrase:s", "?new_passphrase:s", "?rotate:a" };
	struct registry *reg = c->srv->reg;
	char bad[VALIDATE_NAME_MAX];
	const char *old, *new;
	struct rekey_job *j;
	size_t old_len, new_len;
	const json_t *rot;

	if (!validate_params(c->params, spec, 3, bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	old = passphrase_param(c->params, "passphrase", 1, &old_len);
	if (old == NULL) {
		call_invalid_parameter(c, "passphrase");
		return;
	}
	rot = json_object_get(c->params, "rotate");
	if (rot != NULL && !json_is_null(rot)) {
		struct rotate_who who;
		unsigned what = rotate_param(rot);

		if (what == 0) {
			call_error(c, "org.varlink.service.InvalidParameter",
				   json_pack("{s:s, s:s}", "parameter", "rotate", "message",
					     "rotate is [\"data\"], [\"audit\"] or both"));
			return;
		}
		if (json_object_get(c->params, "new_passphrase") != NULL &&
		    !json_is_null(json_object_get(c->params, "new_passphrase"))) {
			call_error(c, "org.varlink.service.InvalidParameter",
				   json_pack("{s:s, s:s}", "parameter", "new_passphrase", "message",
					     "change the passphrase and rotate keys in separate calls"));
			return;
		}
		memset(&who, 0, sizeof(who));
		snprintf(who.principal, sizeof(who.principal), "%s", c->rec.principal[0]
			 ? c->rec.principal : "bootstrap");
		snprintf(who.role, sizeof(who.role), "%s", c->rec.role);
		who.uid = c->uid;
		who.gid = c->gid;
		who.pid = c->pid;
		log_info("key rotation (%s%s%s) started by uid %u", what & ROTATE_DATA_KEY ? "data key" : "",
			 what == (ROTATE_DATA_KEY | ROTATE_AUDIT_KEY) ? " and " : "",
			 what & ROTATE_AUDIT_KEY ? "audit key" : "", (unsigned)c->uid);
		registry_rotate_async(reg, old, old_len, what, &who, rotate_done, c);
		return;
	}
	if (json_object_get(c->params, "new_passphrase") == NULL) {
		call_error(c, "org.varlink.service.InvalidParameter",
			   json_pack("{s:s, s:s}", "parameter", "new_passphrase", "message",
				     "give new_passphrase, or rotate"));
		return;
	}
	new = passphrase_param(c->params, "new_passphrase", PASSPHRASE_MIN, &new_len);
	if (new == NULL) {
		call_error(c, "org.varlink.service.InvalidParameter",
			   json_pack("{s:s, s:s}", "parameter", "new_passphrase", "message",
				     "a new passphrase is 12 to 1024 bytes without NUL"));
		return;
	}
	if (reg->key_op_busy || reg->backup_busy) {
		call_error_message(c, "io.roster.Busy", "another key operation or backup is running");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->keys = keys_dup(reg->keys)) == NULL ||
	    (j->old_pass = secret_dup(old, old_len)) == NULL ||
	    (j->new_pass = secret_dup(new, new_len)) == NULL) {
		if (j != NULL) {
			keys_free(j->keys);
			sodium_free(j->old_pass);
			free(j);
		}
		call_error_message(c, "io.roster.InternalError", "out of memory");
		return;
	}
	j->old_len = old_len;
	j->new_len = new_len;
	j->c = c;
	j->reg = reg;
	j->work.data = j;
	if (uv_queue_work(reg->loop, &j->work, rekey_work, rekey_work_done) < 0) {
		keys_free(j->keys);
		sodium_free(j->old_pass);
		sodium_free(j->new_pass);
		free(j);
		call_error_message(c, "io.roster.InternalError", "cannot start the key operation");
		return;
	}
	reg->key_op_busy = true;
}
