/*
 * store-ship.h: the shipper's own read connection to the encrypted
 * database. Besides store.c, store-ship.c is the only file that touches
 * SQLCipher; it reads the audit trail and moves the shipping cursor
 * (audit_ship), and nothing else.
 *
 * It is a separate connection, keyed exactly as store_open() keys its own,
 * so the shipper thread never shares a handle (or a transaction) with the
 * loop thread or the audit writer. It never creates tables and never runs
 * migrations: it opens a database store_open() has already prepared.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "daemon/keys.h"

struct store_ship;

/* Bytes of a TEXT or BLOB column, valid only during the callback that sees them. */
struct ship_bytes {
	const unsigned char *p;
	size_t n;
};

/* One row of audit, in doc/audit-format.md's field order. */
struct ship_record {
	int64_t seq;
	int64_t time_us;
	struct ship_bytes principal;
	int64_t uid;
	int64_t gid;
	int64_t pid;
	struct ship_bytes role;
	struct ship_bytes method;
	struct ship_bytes ids;
	struct ship_bytes fields;
	int64_t records;
	struct ship_bytes result;
	struct ship_bytes error;
	struct ship_bytes alert;
	struct ship_bytes prev_hash;
	struct ship_bytes hash;
};

/* One row of audit_checkpoints. */
struct ship_checkpoint {
	int64_t seq;
	int64_t time_us;
	struct ship_bytes hash;
	struct ship_bytes pubkey;
	struct ship_bytes sig;
	struct ship_bytes next_pubkey;  /* a key roll's next key; empty for other checkpoints */
};

/*
 * What store_ship_read() calls for each row, in shipping order. A callback
 * returns 0 to go on, 1 to stop after this row (its budget is spent), or a
 * negative errno to abort the read.
 */
struct store_ship_ops {
	int (*record)(const struct ship_record *r, void *data);
	int (*checkpoint)(const struct ship_checkpoint *c, void *data);
};

/*
 * Open the database at path with the DEK in k (which is not kept), check
 * that SQLCipher opened it with that key and that the audit tables exist.
 * Returns 0 and *ret (store_ship_close() frees it), or -EACCES (the key does
 * not open the file), -ENOTSUP (not linked against SQLCipher), -ENOENT (no
 * audit tables: the database was not migrated), -ENOMEM or -EIO.
 */
int store_ship_open(const char *path, const struct keys *k, struct store_ship **ret);

/* Close the connection and free s. store_ship_close(NULL) does nothing. */
void store_ship_close(struct store_ship *s);

/* The persisted cursor: the last record and checkpoint delivered. Returns 0 or -EIO. */
int store_ship_cursor(struct store_ship *s, int64_t *ret_record_seq, int64_t *ret_checkpoint_seq);

/* The highest record seq committed (0 when there is none). Returns 0 or -EIO. */
int store_ship_head(struct store_ship *s, int64_t *ret_seq);

/*
 * In one read transaction, hand ops the records with seq > after_record
 * and the checkpoints with seq > after_checkpoint, in seq order, each
 * checkpoint right after the record it covers (never before it), until
 * max rows were handed over or a callback stops. Returns the number of rows
 * handed over (0: nothing new), a callback's negative errno, or -EIO.
 */
int store_ship_read(struct store_ship *s, int64_t after_record, int64_t after_checkpoint,
		    int max, const struct store_ship_ops *ops, void *data);

/*
 * Persist the cursor. It only moves forward: a value lower than the stored
 * one leaves that one. Returns 0 or -EIO (-EBUSY if the writer held the
 * database longer than the busy timeout). Only for a stopping shipper:
 * while the audit writer runs, it stores the cursor (see
 * audit_set_ship_cursor() for why).
 */
int store_ship_advance(struct store_ship *s, int64_t record_seq, int64_t checkpoint_seq);
