/*
 * audit.h: the audit writer. Every call becomes one record, committed
 * before the call's reply is sent ("fail closed").
 *
 * Calls hand their finished reply and record to audit_submit(). A writer
 * thread with its own database connection opens a transaction, runs each
 * call's lookup or change and appends its record as the call comes, while
 * concurrent callers' calls keep coming (at most AUDIT_GATHER_MAX_US), then
 * commits them all at once (one fsync for the whole batch: group commit)
 * and hands the batch back to the loop thread, which sends the replies. Changes
 * to clients run on the writer thread inside the same transaction as their
 * record (audit_job.mutate), in a savepoint of their own, so a change is
 * never committed without its record nor its record without the change.
 * Create and Import, whose input is checked before they are queued, run
 * without one (audit_job.abort_batch says why and what replaces it).
 *
 * If the batch cannot be committed, every reply in it is replaced by
 * io.roster.AuditUnavailable; a job that waits longer than
 * AUDIT_REPLY_TIMEOUT_MS is answered that way too (and its record, if it
 * is written later, says so), so a stuck disk never hangs a caller. Nothing
 * is ever answered unaudited.
 *
 * Every checkpoint_every records or checkpoint_secs seconds the writer signs
 * the head of the chain (doc/audit-format.md). This module never sees a
 * client field value, passphrase or token: records hold ids only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "daemon/auth.h"

struct store;
struct keys;

#ifndef AUDIT_REPLY_TIMEOUT_MS
/* Overridable at compile time for a build run under valgrind (scripts/valgrind-e2e). */
#define AUDIT_REPLY_TIMEOUT_MS 5000
#endif
#define AUDIT_MAX_BATCH 4096
/* Group commit: keep a batch open for concurrent callers for at most this long... */
#define AUDIT_GATHER_MAX_US 2000
/* ...ending early after this long without a new call (or once the usual number came). */
#define AUDIT_GATHER_GAP_US 200
/*
 * An idle writer looks this often whether the shipper has moved, and if so
 * stores its cursor (a commit of that alone). While calls come, every batch
 * stores it. So however fast the shipper catches up after an outage, a
 * crash makes it resend at most this long's worth (plus SHIP_REWIND), well
 * inside what the offline verifier recognises as re-delivery
 * (AUDIT_VERIFY_WINDOW); at checkpoint_interval (10 s) it could be more.
 */
#define AUDIT_SHIP_STORE_MS 250
/*
 * The writer's page cache, in KiB. Lookups run on the writer's connection
 * (method-clients.c), so this is the cache that serves them: decrypted
 * pages kept here are not decrypted again. It holds the upper levels of
 * every index and the hot part of the tables; memory beyond it is the
 * kernel's page cache of ciphertext.
 */
#define AUDIT_WRITER_CACHE_KIB 32768
#define AUDIT_DEFAULT_CP_EVERY 1000
#define AUDIT_DEFAULT_CP_SECS 10

/* A record being assembled by the dispatcher and handlers. */
struct audit_rec {
	int64_t time_us;
	char principal[AUTH_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char role[AUTH_NAME_MAX + 1];
	char method[256];
	char *ids;                      /* space-separated, malloc'ed; NULL for none */
	size_t ids_len;
	size_t ids_cap;
	unsigned fields;                /* field classes disclosed */
	int64_t records;
	char alert[16];
};

struct audit_job;

/*
 * A change to run on the writer thread, inside the batch transaction. It
 * must set j->reply (the whole reply message) and may add ids to j->rec.
 * If the reply is an error the savepoint is rolled back.
 */
typedef void (*audit_mutate_fn)(struct store *w, struct audit_job *j);

/*
 * What a committed job changed besides clients, for the loop thread to act
 * on after the batch (the commit hook gets them all, ORed together).
 */
#define AUDIT_EFFECT_AUTH 1u            /* principals changed: reload them */
#define AUDIT_EFFECT_SEAL 2u            /* the files were replaced under the writer: seal */

/* Called on the loop thread when the job's record is committed (status 0) or not. */
typedef void (*audit_done_fn)(struct audit_job *j, int status);

struct audit_job {
	struct audit_rec rec;
	json_t *reply;                  /* the reply message; owned by the job */
	audit_mutate_fn mutate;
	json_t *mctx;                   /* for mutate; a reference owned (and released) by the job */
	void *ctx;                      /* for mutate, when JSON will not do; freed by ctx_free */
	void (*ctx_free)(void *ctx);
	/*
	 * mutate only reads, or makes one change that belongs with the record
	 * whatever the reply: it runs without a savepoint of its own, which a
	 * lookup (the commonest call) does not need to pay for.
	 */
	bool plain;
	/*
	 * Set by a plain mutate that failed part-way through a change of
	 * several rows (call_write_bulk()): without a savepoint what it wrote
	 * cannot be taken back alone, so the whole batch is rolled back and
	 * every call in it is answered io.roster.AuditUnavailable.
	 */
	bool abort_batch;
	/*
	 * Sign the head in the batch of this job's record, after it
	 * (io.roster.Audit.Checkpoint): the call's own record is then covered
	 * by the checkpoint it asked for, whatever batch the writer is in when
	 * it is asked.
	 */
	bool checkpoint;
	/* The seq the job's record gets, set before mutate runs (same transaction). */
	int64_t seq;
	unsigned effects;               /* AUDIT_EFFECT_*, set by mutate */
	/* Clients mutate created (or, negative, deleted): counted once its batch commits. */
	int clients_delta;
	audit_done_fn done;
	void *data;
	int status;
	bool answered;                  /* done() has run (timeout or commit) */
	bool in_writer;                 /* taken by the writer: may still commit */
	int64_t queued_ms;
	struct audit_job *next;
};

struct audit_config {
	int64_t checkpoint_every;
	int64_t checkpoint_secs;
};

struct audit;

/*
 * Open the writer's own connection to db_path and start the thread.
 * Returns 0 and *ret, or a negative errno.
 */
int audit_start(struct audit **ret, uv_loop_t *loop, const char *db_path, const struct keys *k,
		const struct audit_config *cfg);

/*
 * Commit everything still queued, stop the thread, run the remaining done
 * callbacks, and free a. NULL does nothing.
 */
void audit_stop(struct audit *a);

/* Queue a job (loop thread only). The job is freed by audit after done() returns. */
void audit_submit(struct audit *a, struct audit_job *j);

/*
 * Ask for a checkpoint with the batch the writer ends next, whichever
 * records it holds (a job's checkpoint flag ties it to that job's record).
 */
void audit_request_checkpoint(struct audit *a);

/*
 * Where the audit shipper has got to (the last record and checkpoint
 * syslog-ng has), read on the writer thread: any thread may be running fn.
 */
typedef void (*audit_ship_cursor_fn)(void *data, int64_t *ret_record_seq, int64_t *ret_checkpoint_seq);

/*
 * Have the writer store the shipper's cursor (audit_ship) in its batches,
 * and on its own after a quiet checkpoint interval (at most that much
 * late when no call comes). The shipper must not commit it on a
 * connection of its own while the writer runs: SQLite empties a
 * connection's whole page cache when it finds the WAL changed by another
 * connection, and one such commit per batch made the writer decrypt again
 * every page its lookups touched (2.5 page reads per Get, measured). fn
 * (with data) must stay callable until audit_stop() returns; NULL stops.
 */
void audit_set_ship_cursor(struct audit *a, audit_ship_cursor_fn fn, void *data);

struct audit_stats {
	int64_t head_seq;
	int64_t records;                /* committed since start */
	int64_t batches;
	int64_t failures;
	int64_t last_checkpoint_seq;
	/*
	 * Clients in the registry as committed: counted once at start, then
	 * kept by the writer, so that Status (answered to anyone) costs no
	 * scan of the table on the loop thread.
	 */
	int64_t clients;
};
void audit_get_stats(struct audit *a, struct audit_stats *ret);

/* Record helpers. */
void audit_rec_init(struct audit_rec *r);
void audit_rec_free(struct audit_rec *r);
int audit_rec_add_id(struct audit_rec *r, const char *id);

/* The audit result for a reply message ("ok", "denied", ...) and its error name ("" if ok). */
const char *audit_result_of(const json_t *msg, const char **ret_error);

/*
 * Whether result is one audit_result_of() gives: a query filter naming any
 * other (a typo, "DENIED") is refused rather than matching nothing, which
 * an investigator would read as "there were none".
 */
bool audit_result_valid(const char *result);

/* Allocate a job with an initialised record. */
struct audit_job *audit_job_new(void);
void audit_job_free(struct audit_job *j);

/*
 * A callback run on the loop thread after every committed batch (for Tail,
 * the shipper, and the effects of the batch's jobs, AUDIT_EFFECT_*).
 */
typedef void (*audit_commit_hook)(int64_t head_seq, unsigned effects, void *data);
void audit_set_commit_hook(struct audit *a, audit_commit_hook hook, void *data);

/* The outcome of audit_verify(). */
struct audit_verify_result {
	bool ok;
	int64_t records;
	int64_t checkpoints;
	int64_t first_bad;              /* the first record (or checkpoint's record) that fails */
	char problem[160];
};

/*
 * Check the whole chain in s: sequence without gaps, each prev_hash, each
 * hash recomputed, and every checkpoint's signature and hash. A checkpoint
 * must be signed by one of the n_pubkeys keys given, or by a key that a
 * key roll (a checkpoint with next_pubkey, signed by a trusted key) named
 * at an earlier or the same place in the chain. With current, that key must
 * be trusted by the end (the key in use was announced by a key roll, or is
 * one of pubkeys). Returns 0 with *ret filled
 * in (ret->ok says whether all is well), or a negative errno if the trail
 * could not be read.
 */
int audit_verify(struct store *s, const unsigned char (*pubkeys)[32], size_t n_pubkeys,
		 const unsigned char *current, struct audit_verify_result *ret);

/*
 * The same for the registry at db_path with its keys k, as Audit.Verify
 * does: trust starts from the registry's first audit key (its oldest
 * retired one) and the key rolls must lead to k's key in use. Long trails
 * are walked in two halves on two connections and threads. Blocks; call
 * it off the loop thread.
 */
int audit_verify_path(const char *db_path, const struct keys *k, struct audit_verify_result *ret);
