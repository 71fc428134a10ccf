/*
 * registry.c: state machine, keyring and database lifecycle (see registry.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/shipper.h"
#include "daemon/util.h"

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

const char *registry_state_name(enum reg_state s)
{
	switch (s) {
	case REG_UNINITIALIZED:
		return "uninitialized";
	case REG_SEALED:
		return "sealed";
	case REG_UNSEALED:
		return "unsealed";
	}
	return "unknown";
}

static const char *keyring_problem(int r)
{
	switch (r) {
	case -EBADMSG:
		return "damaged or altered (checksum or structure mismatch)";
	case -EPROTONOSUPPORT:
		return "of a format version or algorithm this rosterd does not know";
	case -EINVAL:
		return "carrying key-derivation parameters out of range";
	case -EPERM:
		return "not a private regular file (it must be mode 0600 and not a symlink)";
	default:
		return strerror(-r);
	}
}

int registry_open(struct registry *reg, uv_loop_t *loop, const char *state_dir)
{
	struct keyring_hdr hdr;
	struct stat st;
	int r;

	memset(reg, 0, sizeof(*reg));
	reg->loop = loop;
	approvals_init(&reg->approvals, 0);
#ifdef ROSTER_WEAK_KDF
	/*
	 * A test build (configure --enable-weak-kdf, for scripts/valgrind-e2e):
	 * Argon2id at MODERATE cost takes minutes under valgrind. Unseal reads
	 * the cost from the keyring, so only keyrings made by this build are
	 * weak; it says so at every start.
	 */
	log_warn("built with --enable-weak-kdf: new keyrings get Argon2id's minimum cost; "
		 "for tests only");
	reg->kdf_opslimit = crypto_pwhash_OPSLIMIT_MIN;
	reg->kdf_memlimit = crypto_pwhash_MEMLIMIT_MIN;
#else
	reg->kdf_opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
	reg->kdf_memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
#endif
	r = check_private_dir(state_dir, geteuid());
	if (r < 0)
		return r;
	reg->state_dir = strdup(state_dir);
	reg->keyring_path = path_join(state_dir, KEYRING_FILE);
	reg->db_path = path_join(state_dir, STORE_FILE);
	if (reg->state_dir == NULL || reg->keyring_path == NULL || reg->db_path == NULL)
		return -ENOMEM;

	r = keyring_check(reg->keyring_path, &hdr);
	if (r == -ENOENT) {
		/* A database without its keyring can never be opened again: say so. */
		if (lstat(reg->db_path, &st) == 0) {
			log_err("%s exists but %s does not: the keyring is missing; restore it "
				"from a backup", reg->db_path, reg->keyring_path);
			return -ENOENT;
		}
		reg->state = REG_UNINITIALIZED;
		return 0;
	}
	if (r < 0) {
		log_err("keyring %s is %s; refusing to start", reg->keyring_path,
			keyring_problem(r));
		return r;
	}
	reg->state = REG_SEALED;
	return 0;
}

void registry_seal(struct registry *reg)
{
	struct audit *a = reg->audit;

	if (reg->state != REG_UNSEALED)
		return;
	/*
	 * Sealed first, writer detached second: stopping the writer answers
	 * its last calls, which may start new ones on their connections, and
	 * those must meet a sealed registry, not a writer that is going away.
	 */
	reg->state = REG_SEALED;
	reg->audit = NULL;
	audit_stop(a);
	shipper_stop(reg->shipper);
	reg->shipper = NULL;
	guard_free(&reg->guard);
	/* Approvals die with the session they were given in: a Seal is the brake. */
	approvals_clear(&reg->approvals);
	auth_unload(&reg->auth, reg->store);
	store_close(reg->store);
	reg->store = NULL;
	keys_free(reg->keys);
	reg->keys = NULL;
	log_info("registry sealed: keys wiped, database closed");
}

void registry_close(struct registry *reg)
{
	registry_seal(reg);
	free(reg->state_dir);
	free(reg->keyring_path);
	free(reg->db_path);
	memset(reg, 0, sizeof(*reg));
}

/* After every committed audit batch: wake whoever follows the trail. */
static void on_audit_commit(int64_t head_seq, unsigned effects, void *data)
{
	struct registry *reg = data;

	/* A principal locked on the writer thread (a guessing run): every connection sees it now. */
	if ((effects & AUDIT_EFFECT_AUTH) && reg->store != NULL) {
		auth_flush(&reg->auth, reg->store);
		if (auth_load(&reg->auth, reg->store, reg->auth.own_uid) < 0)
			log_err("cannot reload principals after a batch changed them");
	}

	if (reg->shipper != NULL)
		shipper_kick(reg->shipper);
	if (reg->on_commit != NULL)
		reg->on_commit(head_seq, reg->on_commit_data);
}

/*
 * Start the shipper if records are to be shipped. Failing to start it keeps
 * the registry sealed: an operator who configured shipping relies on it.
 * (An unreachable syslog-ng is no failure: the shipper retries.)
 */
static int start_shipper(struct registry *reg, const struct keys *k)
{
	int r;

	if (reg->syslog_socket == NULL)
		return 0;
	r = shipper_start(&reg->shipper, reg->db_path, k, reg->syslog_socket);
	if (r < 0)
		log_err("cannot start the audit shipper (%s); staying sealed", strerror(-r));
	return r;
}

/* Open the database with freshly unwrapped keys; on failure the keys are freed. */
static int open_with(struct registry *reg, struct keys *k, struct store **ret)
{
	int r = store_open(reg->db_path, k, ret);

	if (r < 0)
		log_err("cannot open the database %s (%s)", reg->db_path,
			r == -EACCES ? "the data key does not open it" : strerror(-r));
	return r;
}

int registry_unseal_now(struct registry *reg, const char *pass, size_t passlen)
{
	struct keys *k = NULL;
	struct store *s = NULL;
	int r;

	if (reg->state != REG_SEALED)
		return -EALREADY;
	r = keyring_unlock(reg->keyring_path, pass, passlen, &k);
	if (r < 0)
		return r;
	r = open_with(reg, k, &s);
	if (r == 0 && (r = auth_load(&reg->auth, s, geteuid())) < 0)
		log_err("cannot load principals and roles");
	if (r == 0 && (r = guard_load(&reg->guard, s, &reg->auth)) < 0)
		log_err("cannot rebuild the guard's state from the audit trail");
	if (r == 0 && (r = audit_start(&reg->audit, reg->loop, reg->db_path, k, &reg->audit_cfg)) < 0)
		log_err("cannot start the audit writer; staying sealed");
	if (r == 0)
		audit_set_commit_hook(reg->audit, on_audit_commit, reg);
	if (r == 0 && (r = start_shipper(reg, k)) < 0) {
		audit_stop(reg->audit);
		reg->audit = NULL;
	}
	if (r < 0) {
		guard_free(&reg->guard);
		auth_unload(&reg->auth, NULL);
		store_close(s);
		keys_free(k);
		return r;
	}
	reg->keys = k;
	reg->store = s;
	reg->state = REG_UNSEALED;
	log_info("registry unsealed");
	return 0;
}

/* A key operation on the thread pool. */
struct key_op {
	uv_work_t work;
	struct registry *reg;
	bool init;
	uid_t init_uid;
	char *pass;                   /* sodium_malloc'ed copy */
	size_t passlen;
	struct keys *keys;
	struct store *store;
	int result;
	registry_cb cb;
	void *data;
};

static void key_op_work(uv_work_t *w)
{
	struct key_op *op = w->data;
	struct registry *reg = op->reg;

	if (op->init)
		op->result = keyring_create(reg->keyring_path, op->pass, op->passlen,
					    reg->kdf_opslimit, reg->kdf_memlimit, &op->keys);
	else
		op->result = keyring_unlock(reg->keyring_path, op->pass, op->passlen, &op->keys);
	sodium_memzero(op->pass, op->passlen);
	if (op->result < 0)
		return;
	op->result = open_with(reg, op->keys, &op->store);
	if (op->result == 0 && op->init) {
		char uid[16];

		snprintf(uid, sizeof(uid), "%u", (unsigned)op->init_uid);
		op->result = store_meta_set(op->store, "init_uid", uid);
		if (op->result < 0) {
			store_close(op->store);
			op->store = NULL;
		}
	}
	if (op->result < 0) {
		keys_free(op->keys);
		op->keys = NULL;
		if (op->init) {
			/* Init failed half-way: leave the directory as it was. */
			unlink(reg->keyring_path);
			unlink(reg->db_path);
		}
	}
}

static void key_op_done(uv_work_t *w, int status)
{
	struct key_op *op = w->data;
	struct registry *reg = op->reg;
	int r = status < 0 ? -ECANCELED : op->result;

	reg->key_op_busy = false;
	if (r == 0 && (r = auth_load(&reg->auth, op->store, geteuid())) < 0)
		log_err("cannot load principals and roles");
	if (r == 0 && (r = guard_load(&reg->guard, op->store, &reg->auth)) < 0)
		log_err("cannot rebuild the guard's state from the audit trail");
	if (r == 0 && (r = audit_start(&reg->audit, reg->loop, reg->db_path, op->keys,
				       &reg->audit_cfg)) < 0)
		log_err("cannot start the audit writer; staying sealed");
	if (r == 0)
		audit_set_commit_hook(reg->audit, on_audit_commit, reg);
	if (r == 0 && (r = start_shipper(reg, op->keys)) < 0) {
		audit_stop(reg->audit);
		reg->audit = NULL;
	}
	if (r < 0 && op->result == 0) {
		guard_free(&reg->guard);
		auth_unload(&reg->auth, NULL);
		store_close(op->store);
		keys_free(op->keys);
	}
	if (r == 0) {
		reg->keys = op->keys;
		reg->store = op->store;
		reg->state = REG_UNSEALED;
		log_info(op->init ? "registry initialised and unsealed" : "registry unsealed");
	} else if (r == -EACCES) {
		log_warn("unseal refused: wrong passphrase");
	} else {
		log_err("%s failed: %s", op->init ? "init" : "unseal",
			(r == -EBADMSG || r == -EPROTONOSUPPORT || r == -EINVAL || r == -EPERM)
				? keyring_problem(r) : strerror(-r));
	}
	op->cb(r, op->data);
	sodium_free(op->pass);
	free(op);
}

static void start_key_op(struct registry *reg, bool init, uid_t init_uid, const char *pass,
			 size_t passlen, registry_cb cb, void *data)
{
	struct key_op *op;
	int r;

	if (reg->key_op_busy) {
		cb(-EBUSY, data);
		return;
	}
	if ((init && reg->state != REG_UNINITIALIZED) || (!init && reg->state != REG_SEALED)) {
		cb(-EALREADY, data);
		return;
	}
	op = calloc(1, sizeof(*op));
	if (op == NULL || (op->pass = sodium_malloc(passlen + 1)) == NULL) {
		free(op);
		cb(-ENOMEM, data);
		return;
	}
	memcpy(op->pass, pass, passlen);
	op->pass[passlen] = '\0';
	op->passlen = passlen;
	op->reg = reg;
	op->init = init;
	op->init_uid = init_uid;
	op->cb = cb;
	op->data = data;
	op->work.data = op;
	r = uv_queue_work(reg->loop, &op->work, key_op_work, key_op_done);
	if (r < 0) {
		sodium_free(op->pass);
		free(op);
		cb(-ENOMEM, data);
		return;
	}
	reg->key_op_busy = true;
}

void registry_init_async(struct registry *reg, const char *pass, size_t passlen,
			 uid_t init_uid, registry_cb cb, void *data)
{
	start_key_op(reg, true, init_uid, pass, passlen, cb, data);
}

void registry_unseal_async(struct registry *reg, const char *pass, size_t passlen,
			   registry_cb cb, void *data)
{
	start_key_op(reg, false, 0, pass, passlen, cb, data);
}
