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
	case REG_ROTATING:
		return "rotating";
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
	reg->rotate_path = path_join(state_dir, STORE_FILE ".rotate");
	if (reg->state_dir == NULL || reg->keyring_path == NULL || reg->db_path == NULL ||
	    reg->rotate_path == NULL)
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

/*
 * Stop the writer and the shipper and close every connection to the
 * database, leaving the registry in state to_state with its keys.
 */
static void take_down(struct registry *reg, enum reg_state to_state)
{
	struct audit *a = reg->audit;

	/*
	 * The state first, writer detached second: stopping the writer answers
	 * its last calls, which may start new ones on their connections, and
	 * those must meet a sealed (or rotating) registry, not a writer that is
	 * going away.
	 */
	reg->state = to_state;
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
}

void registry_seal(struct registry *reg)
{
	if (reg->state == REG_ROTATING) {
		/* Closed already; the keys go when the rotation's worker is done with the files. */
		reg->seal_requested = true;
		log_info("seal requested during a key rotation: the registry seals when it ends");
		return;
	}
	if (reg->key_op_busy && (reg->state == REG_SEALED || reg->state == REG_UNINITIALIZED)) {
		/*
		 * An Unseal or Init is checking its passphrase on the thread pool:
		 * the brake must win over it, whichever finishes first, or the
		 * registry would come up with its keys in memory right after a
		 * Seal (or SIGTERM) was answered.
		 */
		reg->seal_requested = true;
		log_info("seal requested while a passphrase is being checked: the registry stays sealed");
		return;
	}
	if (reg->state != REG_UNSEALED)
		return;
	take_down(reg, REG_SEALED);
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
	free(reg->rotate_path);
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
	/*
	 * Last: sealing stops the writer whose batch this was (audit_stop()
	 * answers and frees what is left; drain_done() touches nothing after
	 * this hook). The writer logged why.
	 */
	if (effects & AUDIT_EFFECT_SEAL)
		registry_seal(reg);
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

/*
 * With the database open as s under k: load principals, rebuild the guard,
 * start the writer and the shipper, and become unsealed, taking k and s.
 * On failure everything is released, k and s included.
 */
static int bring_up(struct registry *reg, struct keys *k, struct store *s)
{
	int r;

	if ((r = auth_load(&reg->auth, s, geteuid())) < 0)
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
	/* take_down() stops the writer before the shipper it reads from. */
	if (r == 0 && reg->shipper != NULL)
		audit_set_ship_cursor(reg->audit, shipper_position, reg->shipper);
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
	return 0;
}

/*
 * The keyring says a data-key rotation was under way when the daemon
 * stopped (a crash, a kill, a power cut). Exactly one of the two keys opens
 * the database, and that one is in force: the old one if the copy had not
 * yet replaced the file, the new one if it had. Settle the keys in k on it
 * and rewrite the keyring without the other (with pass, which just opened
 * it); a failure to rewrite is only logged, as the next unseal settles it
 * again. Runs on a worker thread or at start-up, with no database open.
 */
static int settle_rotation(struct registry *reg, struct keys *k, const char *pass, size_t passlen)
{
	struct keys *probe;
	int r_old, r_new, r;

	if (!k->rotating)
		return 0;
	probe = keys_dup(k);
	if (probe == NULL)
		return -ENOMEM;
	r_old = store_probe(reg->db_path, probe);
	memcpy(probe->dek, k->next_dek, DEK_BYTES);
	r_new = r_old == 0 ? -EACCES : store_probe(reg->db_path, probe);
	keys_free(probe);
	if (r_old == 0) {
		log_warn("a data-key rotation was interrupted before it took effect: the database "
			 "is under the old data key, which stays in force; run the rotation again");
		keys_end_rotation(k, false);
	} else if (r_new == 0) {
		log_warn("a data-key rotation was interrupted after the database was replaced: "
			 "finishing it (the new data key is in force)");
		keys_end_rotation(k, true);
	} else {
		log_err("neither the data key nor the rotation's new key opens %s", reg->db_path);
		return r_old == -EACCES && r_new == -EACCES ? -EACCES : (r_old < 0 ? r_old : r_new);
	}
	store_rotate_discard(reg->rotate_path);
	r = keyring_rewrap(reg->keyring_path, k, pass, passlen, reg->kdf_opslimit, reg->kdf_memlimit);
	if (r < 0)
		log_warn("cannot rewrite the keyring after settling the rotation (%s); the next unseal "
			 "will settle it again", strerror(-r));
	return 0;
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
	r = settle_rotation(reg, k, pass, passlen);
	if (r == 0)
		r = open_with(reg, k, &s);
	if (r < 0) {
		keys_free(k);
		return r;
	}
	r = bring_up(reg, k, s);
	if (r == 0)
		log_info("registry unsealed");
	return r;
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
	if (op->result == 0 && !op->init)
		op->result = settle_rotation(reg, op->keys, op->pass, op->passlen);
	sodium_memzero(op->pass, op->passlen);
	if (op->result < 0) {
		keys_free(op->keys);
		op->keys = NULL;
		return;
	}
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
	bool sealed_meanwhile = r == 0 && reg->seal_requested;

	reg->key_op_busy = false;
	/* Asked for during this operation: used up whatever its outcome (a wrong passphrase too). */
	reg->seal_requested = false;
	if (sealed_meanwhile) {
		/* Sealed meanwhile (registry_seal()): the keys go without ever being used. */
		store_close(op->store);
		keys_free(op->keys);
		if (op->init)
			reg->state = REG_SEALED;        /* initialised: the keyring exists now */
		r = -ECANCELED;
	} else if (r == 0) {
		r = bring_up(reg, op->keys, op->store);   /* takes them, or frees them */
	} else if (op->result == 0) {
		store_close(op->store);
		keys_free(op->keys);
	}
	if (r == 0) {
		log_info(op->init ? "registry initialised and unsealed" : "registry unsealed");
	} else if (sealed_meanwhile) {
		log_info("%s: the passphrase was right, but a seal came meanwhile: the registry stays "
			 "sealed", op->init ? "init" : "unseal");
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

/* ---- key rotation ------------------------------------------------------------ */

struct rotate_op {
	uv_work_t work;
	struct registry *reg;
	unsigned what;
	struct rotate_who who;
	char *pass;                   /* sodium_malloc'ed copy */
	size_t passlen;
	/*
	 * The keys the files hold so far: a copy of the registry's at first,
	 * then what each step that took effect made of them. The registry
	 * reopens under these, whatever the outcome.
	 */
	struct keys *keys;
	bool checked;                 /* the passphrase opened the keyring */
	int result;
	registry_cb cb;
	void *data;
};

static void rotate_op_free(struct rotate_op *op)
{
	keys_free(op->keys);
	sodium_free(op->pass);
	free(op);
}

/*
 * The record that says, inside the trail, that keys were rotated and by
 * whom, appended before the rotation takes effect: the audit key's roll
 * checkpoint is anchored on it, and a rotation cut short by a crash is on
 * the record too. For an audit-key rotation, the checkpoint at this record
 * is signed by the old key and names the new one (next_pk), in the same
 * transaction.
 */
static int append_rotation_record(struct registry *reg, const struct rotate_op *op,
				  const unsigned char *next_pk)
{
	unsigned char msg[AUDIT_KEYROLL_MSG_BYTES], sig[64], prev[32], hash[32];
	struct audit_fields f;
	struct store *s = NULL;
	int r;

	r = store_open(reg->db_path, op->keys, &s);
	if (r < 0)
		return r;
	r = store_tx(s, STORE_BEGIN);
	if (r == 0)
		r = store_audit_head(s, &f.seq, prev);
	if (r == 0) {
		f.seq++;
		f.time_us = now_usec();
		f.principal = op->who.principal;
		f.uid = op->who.uid;
		f.gid = op->who.gid;
		f.pid = op->who.pid;
		f.role = op->who.role;
		f.method = "io.roster.Admin.Rekey";
		f.ids = "";
		f.fields = "";
		f.records = 0;
		f.result = "ok";
		f.error = "";
		f.alert = next_pk != NULL ? "KEYROLL" : "REKEY";
		audit_hash(prev, &f, hash);
		r = store_audit_append(s, &f, prev, hash);
	}
	if (r == 0 && next_pk != NULL) {
		audit_keyroll_message(f.seq, hash, f.time_us, next_pk, msg);
		crypto_sign_detached(sig, NULL, msg, sizeof(msg), op->keys->sign_sk);
		r = store_audit_keyroll_add(s, f.seq, f.time_us, hash, op->keys->sign_pk, next_pk, sig);
	}
	if (r == 0)
		r = store_tx(s, STORE_COMMIT);
	else if (store_in_transaction(s))
		(void)store_tx(s, STORE_ROLLBACK);  /* none when BEGIN failed: no second error */
	store_close(s);
	if (r == 0)
		log_info("rotation: record %lld (%s) committed", (long long)f.seq, f.alert);
	return r;
}

/*
 * The rotation proper, on the thread pool, with every connection to the
 * database closed. Each step logs a line, so that an operator (and the
 * crash test) can tell how far it got:
 *
 *  1. Append the rotation's record. For the audit key, with the key-roll
 *     checkpoint, then write the keyring with the new audit key (the old
 *     public key joins the retired ones). A crash between the two leaves
 *     the old key in force, and its later checkpoints still verify, since
 *     a verifier that was told of the new key keeps trusting the old.
 *  2. Data key: write the keyring with a new DEK beside the old one
 *     ("pending"), then copy the database into roster.db.rotate under the
 *     new key and check the copy (store_rotate_copy).
 *  3. Rename the copy over roster.db and fsync the directory. This rename
 *     is the commit point: before it the old key opens roster.db, after it
 *     the new one, and the pending keyring holds both.
 *  4. Write the keyring with the new DEK alone.
 *
 * An export into a new file and a rename, rather than PRAGMA rekey in
 * place: rekey rewrites every page of the live file in one transaction
 * whose journal must be replayed under the right key after a crash, with
 * the keyring (another file) changed separately; the copy is checked
 * before it replaces anything, and the old file stays whole until the
 * rename.
 */
static void rotate_work(uv_work_t *w)
{
	struct rotate_op *op = w->data;
	struct registry *reg = op->reg;
	struct keys *next = NULL;
	char wal[4096];
	struct stat st;
	int r;

	if (!op->checked) {
		r = keyring_confirm(reg->keyring_path, op->pass, op->passlen, op->keys);
		if (r == -EBADMSG)
			log_err("rotation: the keyring on disk does not hold the keys in use; not rotating");
		op->result = r;
		return;
	}
	next = keys_dup(op->keys);
	if (next == NULL) {
		op->result = -ENOMEM;
		return;
	}
	if (op->what & ROTATE_AUDIT_KEY) {
		r = keys_roll_sign(next);
		if (r == 0)
			r = append_rotation_record(reg, op, next->sign_pk);
		if (r == 0) {
			r = keyring_rewrap(reg->keyring_path, next, op->pass, op->passlen,
					   reg->kdf_opslimit, reg->kdf_memlimit);
			if (r < 0)
				log_err("rotation: cannot write the keyring with the new audit key (%s); "
					"the old key stays in force", strerror(-r));
		}
		if (r < 0)
			goto out;
		/* From here on the new audit key is the one on disk. */
		keys_free(op->keys);
		op->keys = keys_dup(next);
		if (op->keys == NULL) {
			r = -ENOMEM;
			goto out;
		}
		log_info("rotation: the audit key is rotated; the keyring holds the new one");
	} else {
		r = append_rotation_record(reg, op, NULL);
		if (r < 0)
			goto out;
	}
	if (!(op->what & ROTATE_DATA_KEY))
		goto out;

	keys_begin_rotation(next);
	/* A copy left by an earlier rotation that was cut short holds nothing we need. */
	store_rotate_discard(reg->rotate_path);
	r = keyring_rewrap(reg->keyring_path, next, op->pass, op->passlen, reg->kdf_opslimit,
			   reg->kdf_memlimit);
	if (r < 0) {
		log_err("rotation: cannot write the pending keyring (%s)", strerror(-r));
		goto out;
	}
	log_info("rotation: pending keyring written; copying the database under the new data key");
	r = store_rotate_copy(reg->db_path, next, next->next_dek, reg->rotate_path);
	if (r == 0 && ((size_t)snprintf(wal, sizeof(wal), "%s-wal", reg->db_path) >= sizeof(wal) ||
		       (lstat(wal, &st) == 0 && st.st_size > 0))) {
		/* Never put the copy beside a WAL of the old file: it would be replayed into it. */
		log_err("rotation: %s is not empty after the last connection closed", wal);
		r = -EBUSY;
	}
	if (r == 0) {
		(void)unlink(wal);
		log_info("rotation: copy checked; replacing the database");
		if (rename(reg->rotate_path, reg->db_path) < 0) {
			r = -errno;
			log_err("rotation: renaming the copy: %s", strerror(-r));
		}
	}
	if (r < 0) {
		/* Not committed: the old key stays in force; say so in the keyring too. */
		store_rotate_discard(reg->rotate_path);
		keys_end_rotation(next, false);
		if (keyring_rewrap(reg->keyring_path, next, op->pass, op->passlen, reg->kdf_opslimit,
				   reg->kdf_memlimit) < 0)
			log_warn("rotation: cannot rewrite the keyring after the failed copy; the next "
				 "unseal settles it");
		goto out;
	}
	/*
	 * The rename is durable once its directory is. Until then a crash
	 * could bring the old file back, so the keyring must keep the old key:
	 * if the fsync fails, the pending keyring stays, and the next unseal
	 * keeps whichever key opens the file it finds.
	 */
	keys_end_rotation(next, true);
	keys_free(op->keys);
	op->keys = keys_dup(next);
	if (op->keys == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = fsync_parent_dir(reg->db_path);
	if (r < 0) {
		log_warn("rotation: fsync of the state directory failed (%s); the keyring keeps both "
			 "data keys until the next unseal settles it", strerror(-r));
		r = 0;
		goto out;
	}
	log_info("rotation: database replaced; writing the keyring with the new data key alone");
	if (keyring_rewrap(reg->keyring_path, next, op->pass, op->passlen, reg->kdf_opslimit,
			   reg->kdf_memlimit) < 0)
		log_warn("rotation: cannot write the final keyring; the pending one still opens the "
			 "registry and the next unseal finishes it");
	else
		log_info("rotation: the data key is rotated");
out:
	keys_free(next);
	op->result = r;
}

static void rotate_done(uv_work_t *w, int status)
{
	struct rotate_op *op = w->data;
	struct registry *reg = op->reg;
	struct store *s = NULL;
	struct keys *k;
	int r = status < 0 ? -ECANCELED : op->result;

	if (!op->checked) {
		if (r == 0 && reg->state != REG_UNSEALED)
			r = -EALREADY;          /* sealed meanwhile */
		if (r < 0) {
			reg->key_op_busy = false;
			op->cb(r, op->data);
			rotate_op_free(op);
			return;
		}
		op->checked = true;
		take_down(reg, REG_ROTATING);
		if (uv_queue_work(reg->loop, &op->work, rotate_work, rotate_done) == 0)
			return;
		r = -ENOMEM;
		op->result = r;
	}
	/* Reopen under whatever the files now hold (op->keys), unless a Seal came. */
	reg->key_op_busy = false;
	keys_free(reg->keys);
	reg->keys = NULL;
	k = op->keys;
	op->keys = NULL;
	if (reg->seal_requested) {
		reg->seal_requested = false;
		reg->state = REG_SEALED;
		keys_free(k);
		log_info("registry sealed after the rotation: keys wiped, database closed");
	} else {
		int ro = k != NULL ? open_with(reg, k, &s) : -ENOMEM;

		if (ro == 0)
			ro = bring_up(reg, k, s);
		else
			keys_free(k);
		if (ro < 0) {
			reg->state = REG_SEALED;
			log_err("cannot reopen the registry after the rotation (%s); it is sealed: "
				"unseal it", strerror(-ro));
			if (r == 0)
				r = ro;
		}
	}
	op->cb(r, op->data);
	rotate_op_free(op);
}

void registry_rotate_async(struct registry *reg, const char *pass, size_t passlen,
			   unsigned what, const struct rotate_who *who, registry_cb cb,
			   void *data)
{
	struct rotate_op *op;

	/* A rotation closes every connection: not while another has one open. */
	if (reg->key_op_busy || reg->backup_busy || reg->verify_busy > 0) {
		cb(-EBUSY, data);
		return;
	}
	if (reg->state != REG_UNSEALED) {
		cb(-EALREADY, data);
		return;
	}
	if ((what & ROTATE_AUDIT_KEY) && reg->keys->n_retired >= KEYRING_RETIRED_MAX) {
		cb(-ENOSPC, data);
		return;
	}
	op = calloc(1, sizeof(*op));
	if (op == NULL || (op->pass = sodium_malloc(passlen + 1)) == NULL ||
	    (op->keys = keys_dup(reg->keys)) == NULL) {
		if (op != NULL)
			rotate_op_free(op);
		cb(-ENOMEM, data);
		return;
	}
	memcpy(op->pass, pass, passlen);
	op->pass[passlen] = '\0';
	op->passlen = passlen;
	op->reg = reg;
	op->what = what;
	op->who = *who;
	op->cb = cb;
	op->data = data;
	op->work.data = op;
	if (uv_queue_work(reg->loop, &op->work, rotate_work, rotate_done) < 0) {
		rotate_op_free(op);
		cb(-ENOMEM, data);
		return;
	}
	reg->key_op_busy = true;
}
