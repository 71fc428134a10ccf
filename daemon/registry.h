/*
 * registry.h: the registry's state machine and the keys and database that
 * go with it.
 *
 *   uninitialized --Init--> unsealed --Seal--> sealed --Unseal--> unsealed
 *   unsealed --Rekey(rotate)--> rotating --> unsealed (or sealed, if a Seal came)
 *
 * "uninitialized": no keyring in the state directory. "sealed": a keyring,
 * but no key in memory and the database closed. "unsealed": keys in locked
 * memory, database open. Every start is sealed (or uninitialized) unless a
 * passphrase is supplied at start-up.
 *
 * Key derivation (Argon2id, hundreds of MiB, about a second) runs on the
 * libuv thread pool so the loop keeps answering; one key operation at a
 * time. This module never logs a passphrase.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include <uv.h>

#include "daemon/approval.h"
#include "daemon/audit.h"
#include "daemon/auth.h"
#include "daemon/guard.h"
#include "daemon/keys.h"
#include "daemon/store.h"

enum reg_state {
	REG_UNINITIALIZED,
	REG_SEALED,
	REG_UNSEALED,
	/*
	 * A key rotation has closed the database to copy it or to roll the
	 * audit key: the keys are in memory, but no call can be served (they
	 * get io.roster.Busy) until it reopens, seconds later.
	 */
	REG_ROTATING,
};

/* What a rotation rotates (registry_rotate_async). */
#define ROTATE_DATA_KEY 1u
#define ROTATE_AUDIT_KEY 2u

/* Who asked for a rotation: its record (alert KEYROLL or REKEY) names them. */
struct rotate_who {
	char principal[AUTH_NAME_MAX + 1];
	char role[AUTH_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

struct registry {
	uv_loop_t *loop;
	char *state_dir;
	char *keyring_path;
	char *db_path;
	char *rotate_path;             /* a data-key rotation's copy, until it is renamed */
	enum reg_state state;
	struct keys *keys;             /* non-NULL only while unsealed */
	struct store *store;           /* non-NULL only while unsealed */
	struct auth auth;              /* principals and roles, while unsealed */
	struct guard guard;            /* quotas, guessing runs, canaries, while unsealed */
	struct approvals approvals;    /* export requests (in memory only; cleared by Seal) */
	struct audit *audit;           /* the audit writer, while unsealed */
	struct shipper *shipper;       /* the audit shipper, while unsealed with a syslog_socket */
	struct audit_config audit_cfg;
	const char *syslog_socket;     /* where the shipper delivers; NULL: nowhere (borrowed) */
	/* Called on the loop thread after every committed audit batch (Tail). */
	void (*on_commit)(int64_t head_seq, void *data);
	void *on_commit_data;
	bool key_op_busy;              /* an Init, Unseal or Rekey is deriving a key */
	/*
	 * A backup is being copied or streamed. Kept apart from key_op_busy:
	 * a backup whose client stalls must not hold up an Unseal after a
	 * Seal; it only keeps Rekey (which rewrites the keyring it packs) and
	 * other backups out.
	 */
	bool backup_busy;
	/* Audit.Verify walks in progress, each on a connection of its own. */
	int verify_busy;
	/* A Seal came during a rotation: stay sealed when it ends. */
	bool seal_requested;
	uint64_t kdf_opslimit;         /* Argon2id cost for new keyrings */
	size_t kdf_memlimit;
};

/*
 * Look at the state directory (which must exist, be owned by us or root,
 * and not be group/world writable) and settle the start state. A keyring
 * that fails its checksum or has an unknown format is refused here, at
 * start-up, with a clear message. Returns 0 or a negative errno.
 */
int registry_open(struct registry *reg, uv_loop_t *loop, const char *state_dir);

/* Seal (if needed) and release everything. */
void registry_close(struct registry *reg);

const char *registry_state_name(enum reg_state s);

/*
 * Unseal synchronously (start-up with --passphrase-file/-fd). Returns 0,
 * -EACCES (wrong passphrase) or another negative errno.
 */
int registry_unseal_now(struct registry *reg, const char *pass, size_t passlen);

/*
 * Start Init or Unseal on the thread pool. pass is copied into locked memory
 * at once (the caller may wipe its copy on return). When done, cb runs on
 * the loop thread with 0 or a negative errno: -EACCES wrong passphrase,
 * -EBADMSG / -EPROTONOSUPPORT / -EINVAL keyring damaged or unknown, -EBUSY
 * another key operation is running (then cb is called before this returns),
 * -EALREADY the state no longer allows it.
 */
typedef void (*registry_cb)(int result, void *data);
void registry_init_async(struct registry *reg, const char *pass, size_t passlen,
			 uid_t init_uid, registry_cb cb, void *data);
void registry_unseal_async(struct registry *reg, const char *pass, size_t passlen,
			   registry_cb cb, void *data);

/*
 * Wipe the keys and close the database. Nothing happens if not unsealed.
 * During a rotation, the registry seals as soon as the rotation ends.
 */
void registry_seal(struct registry *reg);

/*
 * Rotate the data key, the audit signing key or both (what: ROTATE_*), on
 * the thread pool; pass must be the passphrase in force (it also wraps the
 * new keyring). The registry is REG_ROTATING meanwhile. cb runs on the loop
 * thread with 0, -EACCES (wrong passphrase), -EBUSY (another key operation,
 * a backup or an Audit.Verify walk, which hold connections of their own), -EALREADY (not unsealed), -ENOSPC (KEYRING_RETIRED_MAX audit
 * keys retired already), -EBADMSG (the keyring on disk is not the one in
 * use) or another negative errno; nothing was rotated unless 0, except
 * that an audit-key roll done before a failed data-key copy stands.
 *
 * The data key is rotated by copying the database into a new file under
 * the new key (sqlcipher_export) and renaming it over the old one, with a
 * keyring that holds both keys meanwhile: whichever key opens the file is
 * the one in force, so a crash at any point leaves the old state or the
 * new one, and the next unseal finishes or undoes the keyring's part
 * (registry_unseal_*). See the comment above rotate_work for the steps.
 */
void registry_rotate_async(struct registry *reg, const char *pass, size_t passlen,
			   unsigned what, const struct rotate_who *who, registry_cb cb,
			   void *data);
