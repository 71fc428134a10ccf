/*
 * store.h: the encrypted database. The only module that touches SQLCipher.
 *
 * The database is opened with the raw data key (never a passphrase), page
 * size 4096, WAL, synchronous=FULL, foreign keys, secure_delete and
 * in-memory temporary storage (so no unencrypted temporary file is ever
 * written). store_open() refuses to continue unless SQLCipher answers
 * "PRAGMA cipher_version": linked against plain SQLite, PRAGMA key is a
 * silent no-op and the file would be plaintext.
 *
 * Client records cross this interface as jansson objects already validated
 * by validate.c. The store never logs a field value and never sees a
 * passphrase. Every statement is prepared once at open time.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "daemon/keys.h"
#include "daemon/util.h"

#define STORE_FILE "roster.db"

struct store;

/*
 * Open (creating if needed) the database at path with the DEK in k, check
 * that it is encrypted and that the key opens it, and apply any pending
 * migrations. Returns 0 and *ret, or -EACCES (the key does not open the
 * file), -ENOTSUP (not linked against SQLCipher), -EPROTO (the database is
 * from a newer rosterd), -EIO.
 */
int store_open(const char *path, const struct keys *k, struct store **ret);

/*
 * The same for a connection that one thread alone will ever use (a
 * verify's walk): SQLite then takes no mutex on each call into it, which
 * is a twentieth of a walk of the trail.
 */
int store_open_private(const char *path, const struct keys *k, struct store **ret);

/*
 * Copy the database at src_path, as it is at one instant, into a new file
 * dst_path (which must not exist) keyed with the same DEK: SQLite's backup
 * API on connections of its own, so the daemon's connections go on
 * meanwhile. The destination is keyed and checked to be encrypted before a
 * page is copied (an unkeyed destination would get plaintext). The audit
 * head (last seq and hash, 0 and zeros if empty) is read in the same read
 * transaction as the copy, so it describes exactly the copy. Returns 0,
 * -EEXIST, -ENOTSUP (not SQLCipher), -EIO or -ENOMEM; on failure dst_path
 * is removed.
 */
int store_backup(const char *src_path, const struct keys *k, const char *dst_path,
		 int64_t *ret_seq, unsigned char ret_hash[32]);

/* Close the database and free s. store_close(NULL) does nothing. */
void store_close(struct store *s);

/* SQLCipher's version string (owned by s). */
const char *store_cipher_version(const struct store *s);

/* Highest migration applied. */
int store_schema_version(const struct store *s);

int store_client_count(struct store *s, int64_t *ret);

/* Returns 0 and a new object in *ret, -ENOENT, or -EIO. */
int store_client_get(struct store *s, const char *id, json_t **ret);

/* Clients whose name contains query (ASCII case-insensitive), by name. */
int store_client_search(struct store *s, const char *query, int limit, json_t **ret_array);

/*
 * Up to limit clients with ids greater than after (NULL: from the start),
 * in id order. *ret_more is set when more clients follow.
 */
int store_client_list(struct store *s, const char *after, int limit,
		      json_t **ret_array, bool *ret_more);

/* Insert a validated ClientInput; writes the new id into ret_id. */
int store_client_create(struct store *s, const json_t *input, char ret_id[ID_HEX_LEN + 1]);

/*
 * The same, noting created_seq (> 0) as the audit record that creates the
 * client. Queries by client find that record through the id filters
 * (idfilter.h); the note also finds it for records older than the filters.
 */
int store_client_create_at(struct store *s, const json_t *input, int64_t created_seq,
			   char ret_id[ID_HEX_LEN + 1]);

/*
 * Apply validated changes if the record is at version. Returns 0 and the
 * new version in *ret_version; -ENOENT; -ESTALE with the current version in
 * *ret_version; or -EIO.
 */
int store_client_update(struct store *s, const char *id, const json_t *changes,
			int64_t version, int64_t *ret_version);

/*
 * Returns 0, -ENOENT or -EIO. The seq of the record that created the
 * client, if noted, moves to the audit id index first.
 */
int store_client_delete(struct store *s, const char *id);

/* ---- principals, roles and settings (auth.c is the only caller) ---------- */

/* A setting from the meta table into buf. Returns 0, -ENOENT or -EIO. */
int store_meta_get(struct store *s, const char *key, char *buf, size_t size);
int store_meta_set(struct store *s, const char *key, const char *value);

/*
 * Every role and every principal, as arrays of objects whose members are
 * the table's columns (token_hash as hex; NULL columns left out).
 */
int store_auth_load(struct store *s, json_t **ret_roles, json_t **ret_principals);

/*
 * Define a role. quota_n < 0 means no quota. Returns 0, -EEXIST (exists and
 * replace is false), -EPERM (a built-in role cannot be replaced), -EIO.
 */
int store_role_put(struct store *s, const char *name, const char *caps, const char *fields,
		   int64_t quota_n, int64_t quota_window, bool lock_on_quota, bool replace,
		   int64_t guess_n, int64_t guess_window);

/* Returns 0, -ENOENT, -EPERM (built-in), -EBUSY (held by principals), -EIO. */
int store_role_delete(struct store *s, const char *name);

/*
 * Add a principal; token_hash (32 bytes) may be NULL; expires 0 means never.
 * Returns 0, -EEXIST (name taken), -ENOENT (no such role), -EIO.
 */
int store_principal_add(struct store *s, const char *name, int64_t uid, const char *role,
			const unsigned char *token_hash, int64_t expires);
int store_principal_delete(struct store *s, const char *name);
int store_principal_set_lock(struct store *s, const char *name, bool locked, const char *reason);
int store_principal_set_token(struct store *s, const char *name,
			      const unsigned char *token_hash, int64_t expires);
int store_principal_touch(struct store *s, const char *name, int64_t last_seen);

/* ---- audit trail (audit.c is the only caller) ------------------------------ */

#include "lib/audit-hash.h"

/* Run SQL that returns no rows (tests, and statements run once). */
int store_exec(struct store *s, const char *sql);

/*
 * Transactions, and the one savepoint ("job") the audit writer puts around
 * each change it may have to undo alone. BEGIN is BEGIN IMMEDIATE: the
 * write lock is taken at once, not on the first write. 0 or -EIO (logged).
 */
enum store_tx {
	STORE_BEGIN,
	STORE_COMMIT,
	STORE_ROLLBACK,
	STORE_SAVEPOINT,
	STORE_ROLLBACK_TO,
	STORE_RELEASE,
};
int store_tx(struct store *s, enum store_tx op);

/* The integer the first row of sql gives (for tests and diagnostics): 0, -ENOENT or -EIO. */
int store_query_int(struct store *s, const char *sql, int64_t *ret);

/* Whether a transaction is open (SQLite ends one itself on some errors). */
bool store_in_transaction(struct store *s);

/*
 * For the one connection that commits most (the audit writer): keep the WAL
 * from growing without end under steady reads (store.c says how).
 */
void store_wal_restarts(struct store *s);

/*
 * The writer's guard against its files being removed or replaced under it
 * (an "rm roster.db-wal" of a file taken for a stray, a copy over
 * roster.db): SQLite goes on writing to the open, unlinked file, and all
 * it wrote since the WAL was last copied into the database would be gone
 * at the next start, acknowledged calls and their records with it.
 * store_files_note() records which WAL file the connection writes to;
 * store_files_moved(), after a commit, says whether the database and that
 * WAL are still the files at their paths: 0, or STORE_MOVED_WAL or
 * STORE_MOVED_DB.
 */
#define STORE_MOVED_WAL 1
#define STORE_MOVED_DB 2
void store_files_note(struct store *s);
int store_files_moved(struct store *s);

/*
 * Copy every committed frame of the WAL this connection has open (unlinked
 * or not) into the database file, and sync it. 0, or -EBUSY when a reader
 * kept some back, or -EIO.
 */
int store_checkpoint_all(struct store *s);

/* The connection's page cache, in KiB (SQLCipher's decrypted pages). */
int store_set_cache_kib(struct store *s, int64_t kib);

/* The chain's head: last seq (0 if empty) and its hash (zeros if empty). */
int store_audit_head(struct store *s, int64_t *ret_seq, unsigned char ret_hash[32]);

/*
 * Append one record, inside the caller's transaction. Its ids go into the
 * open id-filter block, and a full block's filter is stored in the same
 * transaction (idfilter.h); no index row is written per record.
 */
int store_audit_append(struct store *s, const struct audit_fields *f,
		       const unsigned char prev[32], const unsigned char hash[32]);

/* The latest checkpoint (seq 0 if none). */
int store_audit_last_checkpoint(struct store *s, int64_t *ret_seq, int64_t *ret_time_us);

/*
 * Move the audit shipper's stored cursor (audit_ship) forward to these
 * seqs; it never moves back. The audit writer calls it inside its batch
 * (see audit_set_ship_cursor() for why the writer and not the shipper).
 */
int store_audit_ship_advance(struct store *s, int64_t record_seq, int64_t checkpoint_seq);

int store_audit_checkpoint_add(struct store *s, int64_t seq, int64_t time_us,
			       const unsigned char hash[32], const unsigned char pubkey[32],
			       const unsigned char sig[64]);

/* A key-roll checkpoint (doc/audit-format.md): signed by pubkey, naming next_pubkey. */
int store_audit_keyroll_add(struct store *s, int64_t seq, int64_t time_us,
			    const unsigned char hash[32], const unsigned char pubkey[32],
			    const unsigned char next_pubkey[32], const unsigned char sig[64]);

/*
 * The copy step of a data-key rotation. With no other connection open on
 * path (the caller has closed them all): checkpoint the WAL into the file
 * and truncate it, export the whole database with sqlcipher_export() into
 * a new file dst_path keyed with next_dek, and check the copy: every page
 * opens under next_dek (PRAGMA quick_check), and it has the same number of
 * clients and the same audit head as the source. The copy is fsynced and
 * closed; dst_path must not exist. Returns 0, -EEXIST, -EBUSY (something
 * still holds the database), -EIO (see the log) or -ENOMEM; on failure
 * dst_path is removed.
 */
int store_rotate_copy(const char *path, const struct keys *k, const unsigned char *next_dek,
		      const char *dst_path);

/*
 * Whether k's DEK opens the database at path: 0, -EACCES (it does not) or
 * another negative errno. Opens nothing for writing and changes nothing.
 */
int store_probe(const char *path, const struct keys *k);

/* Remove a rotation's copy and whatever SQLite kept beside it (journal, WAL, shm). */
void store_rotate_discard(const char *dst_path);

/* Filters for store_audit_query; NULL / 0 / false mean "any". */
struct audit_filter {
	const char *client;
	const char *principal;
	const char *method;
	const char *result;
	bool alerts;
	bool has_since, has_until;      /* since_us, until_us apply (both ends included) */
	int64_t since_us;
	int64_t until_us;
	int64_t after_seq;
	int limit;
};

/* Matching records, oldest first, as io.roster.Audit Record objects. */
int store_audit_query(struct store *s, const struct audit_filter *f, json_t **ret);

/*
 * Walk every checkpoint, then every record, in order, in one read
 * transaction. cp is called for each checkpoint; rec for each record with
 * its fields, stored prev_hash and hash. A
 * callback returning non-zero stops the walk and that value is returned.
 */
int store_audit_walk(struct store *s,
		     int (*rec)(const struct audit_fields *f, const unsigned char *prev,
				const unsigned char *hash, void *data),
		     int (*cp)(int64_t seq, int64_t time_us, const unsigned char *hash,
			       const unsigned char *pubkey, const unsigned char *sig,
			       const unsigned char *next_pubkey, void *data),
		     void *data);

/* The same for the checkpoints and records with seq in [from, to]; either callback may be NULL. */
int store_audit_walk_range(struct store *s, int64_t from, int64_t to,
			   int (*rec)(const struct audit_fields *f, const unsigned char *prev,
				      const unsigned char *hash, void *data),
			   int (*cp)(int64_t seq, int64_t time_us, const unsigned char *hash,
				     const unsigned char *pubkey, const unsigned char *sig,
				     const unsigned char *next_pubkey, void *data),
			   void *data);

/* One record by seq as a Record object; -ENOENT if none. */
int store_audit_get(struct store *s, int64_t seq, json_t **ret);

/* ---- guard (guard.c and the canary methods) ----------------------------------- */

/*
 * The principal's records since since_us, oldest first, through cb (non-zero
 * stops); Export and CanaryList records left out (not counted by the guard).
 */
int store_audit_recent(struct store *s, const char *principal, int64_t since_us,
		       int (*cb)(int64_t time_us, const char *ids, int64_t records,
				 const char *result, const char *method, void *data), void *data);

/* The ids of canary clients, as an object id -> true. */
int store_canary_ids(struct store *s, json_t **ret);
int store_client_mark_canary(struct store *s, const char *id);
/* Canary clients as Client objects. */
int store_canary_list(struct store *s, json_t **ret);
