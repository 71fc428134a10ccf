/*
 * store-ship.c: the shipper's SQLCipher connection (see store-ship.h).
 *
 * With store.c, this is the only file that touches SQLCipher. It reads
 * the audit trail and writes one thing, the shipping cursor in audit_ship;
 * it never changes a record or a checkpoint, never creates a table, never
 * logs a column's value (only sequence numbers and SQLite's own messages)
 * and never keeps the key: it is used once to key the connection.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "daemon/log.h"
#include "daemon/store-ship.h"
#include "daemon/store-internal.h"

enum ship_stmt {
	SS_CURSOR,
	SS_HEAD,
	SS_RECORDS,
	SS_CHECKPOINTS,
	SS_ADVANCE,
	SS_BEGIN,
	SS_END,
	SS__MAX
};

static const char *const ship_sql[SS__MAX] = {
	[SS_CURSOR] = "SELECT record_seq, checkpoint_seq FROM audit_ship WHERE id = 1",
	[SS_HEAD] = "SELECT COALESCE(max(seq), 0) FROM audit",
	/* Columns in doc/audit-format.md's order, then the two hashes. */
	[SS_RECORDS] = "SELECT seq, time_us, principal, uid, gid, pid, role, method, ids, "
		       "fields, records, result, error, alert, prev_hash, hash "
		       "FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[SS_CHECKPOINTS] = "SELECT seq, time_us, hash, pubkey, sig, next_pubkey FROM audit_checkpoints "
			   "WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[SS_ADVANCE] = STORE_SHIP_ADVANCE_SQL,
	[SS_BEGIN] = "BEGIN",
	[SS_END] = "COMMIT",
};

struct store_ship {
	sqlite3 *db;
	sqlite3_stmt *st[SS__MAX];
};

static int ship_fail(struct store_ship *s, const char *what)
{
	int rc = sqlite3_errcode(s->db);

	log_err("audit shipper: database: %s: %s", what, sqlite3_errmsg(s->db));
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY : -EIO;
}

/* Reset a statement so that it holds no row, no binding and no lock. */
static void ship_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}


static int ship_exec(struct store_ship *s, const char *sql)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return ship_fail(s, sql);
	return 0;
}

int store_ship_open(const char *path, const struct keys *k, struct store_ship **ret)
{
	struct store_ship *s;
	char buf[64];
	int rc, r;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	/*
	 * One keying sequence for every connection (store_connect). No
	 * SQLITE_OPEN_CREATE: store_open() made the file; a missing one is an error.
	 */
	r = store_connect(path, k, 0, "audit shipper", &s->db, buf, sizeof(buf));
	if (r < 0)
		goto fail;
	if (!store_query_text(s->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
			     "name IN ('audit', 'audit_checkpoints', 'audit_ship')",
			     buf, sizeof(buf), &rc) || rc != SQLITE_OK) {
		r = ship_fail(s, "reading the schema");
		goto fail;
	}
	if (strcmp(buf, "3") != 0) {
		log_err("audit shipper: %s has no audit tables (not migrated)", path);
		r = -ENOENT;
		goto fail;
	}
	/*
	 * Reading while the writer commits relies on WAL, which store_open()
	 * set and the file remembers; in another journal mode our reads
	 * would block the writer, so refuse.
	 */
	if (!store_query_text(s->db, "PRAGMA journal_mode", buf, sizeof(buf), NULL) ||
	    strcmp(buf, "wal") != 0) {
		log_err("audit shipper: %s is not in WAL mode", path);
		r = -EIO;
		goto fail;
	}
	/*
	 * temp_store: no unencrypted temporary file, ever. synchronous=NORMAL
	 * (for this connection only): a cursor update lost in a power cut just
	 * resends records the verifier recognises as identical re-deliveries,
	 * so it is not worth an fsync competing with the audit writer's.
	 */
	r = ship_exec(s, "PRAGMA temp_store = MEMORY; PRAGMA synchronous = NORMAL");
	if (r < 0)
		goto fail;
	for (int i = 0; i < SS__MAX; i++)
		if (sqlite3_prepare_v2(s->db, ship_sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
			r = ship_fail(s, "preparing statements");
			goto fail;
		}
	*ret = s;
	return 0;
fail:
	store_ship_close(s);
	return r;
}

void store_ship_close(struct store_ship *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < SS__MAX; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		log_warn("audit shipper: database: close: %s", sqlite3_errmsg(s->db));
	free(s);
}

int store_ship_cursor(struct store_ship *s, int64_t *ret_record_seq, int64_t *ret_checkpoint_seq)
{
	sqlite3_stmt *st = s->st[SS_CURSOR];
	int r;

	if (sqlite3_step(st) != SQLITE_ROW) {
		r = ship_fail(s, "reading the shipping cursor");
		goto out;
	}
	*ret_record_seq = sqlite3_column_int64(st, 0);
	*ret_checkpoint_seq = sqlite3_column_int64(st, 1);
	r = 0;
out:
	ship_done(st);
	return r;
}

int store_ship_head(struct store_ship *s, int64_t *ret_seq)
{
	sqlite3_stmt *st = s->st[SS_HEAD];
	int r = 0;

	if (sqlite3_step(st) != SQLITE_ROW)
		r = ship_fail(s, "reading the audit head");
	else
		*ret_seq = sqlite3_column_int64(st, 0);
	ship_done(st);
	return r;
}

static struct ship_bytes col_bytes(sqlite3_stmt *st, int i)
{
	struct ship_bytes b;

	/* sqlite3_column_blob() before _bytes(): the order SQLite documents. */
	b.p = sqlite3_column_blob(st, i);
	b.n = (size_t)sqlite3_column_bytes(st, i);
	if (b.p == NULL) {
		b.p = (const unsigned char *)"";
		b.n = 0;
	}
	return b;
}

static void row_record(sqlite3_stmt *st, struct ship_record *r)
{
	r->seq = sqlite3_column_int64(st, 0);
	r->time_us = sqlite3_column_int64(st, 1);
	r->principal = col_bytes(st, 2);
	r->uid = sqlite3_column_int64(st, 3);
	r->gid = sqlite3_column_int64(st, 4);
	r->pid = sqlite3_column_int64(st, 5);
	r->role = col_bytes(st, 6);
	r->method = col_bytes(st, 7);
	r->ids = col_bytes(st, 8);
	r->fields = col_bytes(st, 9);
	r->records = sqlite3_column_int64(st, 10);
	r->result = col_bytes(st, 11);
	r->error = col_bytes(st, 12);
	r->alert = col_bytes(st, 13);
	r->prev_hash = col_bytes(st, 14);
	r->hash = col_bytes(st, 15);
}

static void row_checkpoint(sqlite3_stmt *st, struct ship_checkpoint *c)
{
	c->seq = sqlite3_column_int64(st, 0);
	c->time_us = sqlite3_column_int64(st, 1);
	c->hash = col_bytes(st, 2);
	c->pubkey = col_bytes(st, 3);
	c->sig = col_bytes(st, 4);
	c->next_pubkey = col_bytes(st, 5);
}

/* Step st: 1 with a row, 0 at the end, or a negative errno. */
static int ship_step(struct store_ship *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return ship_fail(s, "reading the audit trail");
}

int store_ship_read(struct store_ship *s, int64_t after_record, int64_t after_checkpoint,
		    int max, const struct store_ship_ops *ops, void *data)
{
	sqlite3_stmt *rs = s->st[SS_RECORDS], *cs = s->st[SS_CHECKPOINTS];
	int64_t high = after_record;      /* the last record handed over */
	int have_r, have_c, n = 0, r;

	if (max <= 0)
		return 0;
	/* One snapshot, so a checkpoint and the records it covers agree. */
	if (sqlite3_step(s->st[SS_BEGIN]) != SQLITE_DONE) {
		r = ship_fail(s, "starting a read");
		ship_done(s->st[SS_BEGIN]);
		return r;
	}
	ship_done(s->st[SS_BEGIN]);
	sqlite3_bind_int64(rs, 1, after_record);
	sqlite3_bind_int(rs, 2, max);
	sqlite3_bind_int64(cs, 1, after_checkpoint);
	sqlite3_bind_int(cs, 2, max);
	have_r = ship_step(s, rs);
	have_c = ship_step(s, cs);
	r = have_r < 0 ? have_r : have_c < 0 ? have_c : 0;
	while (r == 0 && n < max) {
		int cb;

		/*
		 * A checkpoint goes out only once the record it covers has:
		 * in an earlier batch (seq <= after_record) or just now.
		 */
		if (have_c > 0 && sqlite3_column_int64(cs, 0) <= high) {
			struct ship_checkpoint c;

			row_checkpoint(cs, &c);
			cb = ops->checkpoint(&c, data);
			n++;
			if (cb != 0) {
				r = cb < 0 ? cb : 0;
				break;
			}
			r = have_c = ship_step(s, cs);
		} else if (have_r > 0) {
			struct ship_record rec;

			row_record(rs, &rec);
			high = rec.seq;
			cb = ops->record(&rec, data);
			n++;
			if (cb != 0) {
				r = cb < 0 ? cb : 0;
				break;
			}
			r = have_r = ship_step(s, rs);
		} else {
			break;
		}
		if (r > 0)
			r = 0;
	}
	ship_done(rs);
	ship_done(cs);
	if (sqlite3_step(s->st[SS_END]) != SQLITE_DONE && r >= 0)
		r = ship_fail(s, "ending a read");
	ship_done(s->st[SS_END]);
	return r < 0 ? r : n;
}

int store_ship_advance(struct store_ship *s, int64_t record_seq, int64_t checkpoint_seq)
{
	sqlite3_stmt *st = s->st[SS_ADVANCE];
	int r = 0;

	sqlite3_bind_int64(st, 1, record_seq);
	sqlite3_bind_int64(st, 2, checkpoint_seq);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = ship_fail(s, "moving the shipping cursor");
	ship_done(st);
	return r;
}
