/*
 * store.c: SQLCipher access (see store.h). Never logs a client field value
 * and never sees a passphrase; SQLite's own error messages, which name
 * tables and columns but not values, are the most it logs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "daemon/embedded.h"
#include "daemon/idfilter.h"
#include "daemon/log.h"
#include "daemon/store.h"
#include "daemon/store-internal.h"

/* The columns a Client has, in the order every SELECT below returns them. */
#define CLIENT_COLS "id, name, kind, country, contact_name, contact_email, " \
	"contact_phone, tier, notes, status, created_at, updated_at, version"

/* The settable fields, in the order of the bind parameters below. */
static const char *const input_fields[] = {
	"name", "kind", "country", "contact_name", "contact_email",
	"contact_phone", "tier", "notes", "status",
};
#define N_INPUT (sizeof(input_fields) / sizeof(input_fields[0]))

enum stmt_id {
	ST_GET,
	ST_SEARCH,
	ST_LIST,
	ST_INSERT,
	ST_UPDATE,
	ST_VERSION,
	ST_DELETE,
	ST_COUNT,
	/* The transaction statements (store_tx()). */
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_ROLLBACK_TO,
	ST_RELEASE,
	ST__MAX
};

static const char *const stmt_sql[ST__MAX] = {
	[ST_GET] = "SELECT " CLIENT_COLS " FROM clients WHERE id = ?1",
	[ST_SEARCH] = "SELECT " CLIENT_COLS " FROM clients WHERE name LIKE ?1 ESCAPE '\\' "
		      "ORDER BY name COLLATE NOCASE, id LIMIT ?2",
	[ST_LIST] = "SELECT " CLIENT_COLS " FROM clients WHERE id > ?1 ORDER BY id LIMIT ?2",
	[ST_INSERT] = "INSERT INTO clients (id, name, kind, country, contact_name, contact_email, "
		      "contact_phone, tier, notes, status, created_at, updated_at, version, "
		      "created_seq) "
		      "VALUES (?10, ?1, ?2, NULLIF(?3, ''), NULLIF(?4, ''), NULLIF(?5, ''), "
		      "NULLIF(?6, ''), NULLIF(?7, ''), NULLIF(?8, ''), COALESCE(?9, 'active'), "
		      "?11, ?11, 1, NULLIF(?12, 0))",
	/*
	 * One fixed statement serves every partial update: a NULL parameter
	 * keeps the column, an empty string clears an optional one.
	 */
	[ST_UPDATE] = "UPDATE clients SET "
		      "name = COALESCE(?1, name), kind = COALESCE(?2, kind), "
		      "country = CASE WHEN ?3 IS NULL THEN country ELSE NULLIF(?3, '') END, "
		      "contact_name = CASE WHEN ?4 IS NULL THEN contact_name ELSE NULLIF(?4, '') END, "
		      "contact_email = CASE WHEN ?5 IS NULL THEN contact_email ELSE NULLIF(?5, '') END, "
		      "contact_phone = CASE WHEN ?6 IS NULL THEN contact_phone ELSE NULLIF(?6, '') END, "
		      "tier = CASE WHEN ?7 IS NULL THEN tier ELSE NULLIF(?7, '') END, "
		      "notes = CASE WHEN ?8 IS NULL THEN notes ELSE NULLIF(?8, '') END, "
		      "status = COALESCE(?9, status), "
		      "updated_at = ?11, version = version + 1 "
		      "WHERE id = ?10 AND version = ?12",
	[ST_VERSION] = "SELECT version FROM clients WHERE id = ?1",
	[ST_DELETE] = "DELETE FROM clients WHERE id = ?1",
	[ST_COUNT] = "SELECT count(*) FROM clients",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT job",
	[ST_ROLLBACK_TO] = "ROLLBACK TO job",
	[ST_RELEASE] = "RELEASE job",
};

/*
 * The block of records not yet under a closed id filter (idfilter.h), as
 * the connection that appends knows it. next_seq is the seq the next append
 * must carry: any other (a batch rolled back, another connection appended
 * meanwhile) and the block is read again from the database first, so the
 * filter a block closes with always covers exactly its committed records.
 */
struct open_block {
	int64_t first_seq;
	int64_t next_seq;
	size_t records, ids;
	unsigned char bits[IDFILTER_BYTES];
};

/* How long a connection waits for another's lock before giving up. */
#define STORE_BUSY_TIMEOUT_MS 5000

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST__MAX];
	int64_t wal_retry_us;           /* the writer's next RESTART checkpoint, not before */
	sqlite3_stmt *audit_ins;        /* prepared on the writer's first append */
	sqlite3_stmt *ship_adv;         /* prepared on the writer's first cursor update */
	struct open_block *block;       /* the writer's open id-filter block, read on first append */
	dev_t wal_dev;                  /* the WAL file the writer writes to (store_files_note()) */
	ino_t wal_ino;
	char cipher_version[64];
	int schema_version;
};

static int db_fail(struct store *s, const char *what)
{
	log_err("database: %s: %s", what, sqlite3_errmsg(s->db));
	return -EIO;
}

/* Run SQL that returns no rows we need. */
static int exec(struct store *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("database: %s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}


static int migration_number(const char *name)
{
	return atoi(name);      /* names are "NNN-what": digits first, checked below */
}

static int migrate(struct store *s)
{
	char buf[32];
	int rc, current = 0, known = 0, r;

	r = exec(s, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    " version INTEGER PRIMARY KEY NOT NULL,"
		    " name TEXT NOT NULL,"
		    " applied_at INTEGER NOT NULL)");
	if (r < 0)
		return r;
	if (store_query_text(s->db, "SELECT COALESCE(max(version), 0) FROM schema_migrations",
		       buf, sizeof(buf), &rc))
		current = atoi(buf);
	if (rc != SQLITE_OK)
		return db_fail(s, "reading schema version");

	for (const struct embedded_file *m = embedded_migrations; m->name; m++) {
		int v = migration_number(m->name);
		sqlite3_stmt *st = NULL;

		if (v <= 0)
			return -EINVAL;   /* a build error: every migration is numbered */
		/*
		 * Also a build error: numbers must increase in build order. Two
		 * migrations of the same number (from two branches) would have
		 * the second skipped without a word wherever the first ran.
		 */
		if (v <= known) {
			log_err("database: migration %s is not numbered after the one before it; "
				"this rosterd was built wrong", m->name);
			return -EINVAL;
		}
		known = v;
		if (v <= current)
			continue;
		r = exec(s, "BEGIN IMMEDIATE");
		if (r < 0)
			return r;
		r = exec(s, m->text);
		if (r == 0) {
			if (sqlite3_prepare_v2(s->db, "INSERT INTO schema_migrations "
					       "(version, name, applied_at) VALUES (?1, ?2, ?3)",
					       -1, &st, NULL) != SQLITE_OK)
				r = -EIO;
			else {
				sqlite3_bind_int(st, 1, v);
				sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
				sqlite3_bind_int64(st, 3, now_usec());
				if (sqlite3_step(st) != SQLITE_DONE)
					r = -EIO;
			}
			sqlite3_finalize(st);
		}
		if (r == 0)
			r = exec(s, "COMMIT");
		if (r < 0) {
			log_err("database: migration %s failed; nothing of it was applied", m->name);
			(void)exec(s, "ROLLBACK");
			return r;
		}
		log_info("database: applied migration %s", m->name);
		current = v;
	}
	if (current > known) {
		log_err("database: schema version %d is newer than this rosterd knows (%d)",
			current, known);
		return -EPROTO;
	}
	s->schema_version = current;
	return 0;
}

int store_query_text(sqlite3 *db, const char *sql, char *buf, size_t size, int *ret_rc)
{
	sqlite3_stmt *st;
	int rc, got = 0;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);

			snprintf(buf, size, "%s", t ? (const char *)t : "");
			got = 1;
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	if (ret_rc)
		*ret_rc = rc;
	return got;
}

int store_connect(const char *path, const struct keys *k, int flags, const char *who,
		  sqlite3 **ret_db, char *cipher_version, size_t cvlen)
{
	static const char pre[] = "PRAGMA key = \"";
	char *lit = NULL, *sql = NULL, buf[16];
	sqlite3 *db = NULL;
	size_t n;
	int rc, r = 0;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | flags, NULL);
	if (rc != SQLITE_OK) {
		log_err("%s: opening %s: %s", who, path, db ? sqlite3_errmsg(db) : "out of memory");
		r = db ? -EIO : -ENOMEM;
		goto out;
	}
	/* Other connections commit beside this one: wait for their locks, never fail at once. */
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	/* The raw key, as x'<hex>', built in locked memory: never a passphrase, never PBKDF2. */
	lit = keys_dek_pragma(k);
	n = sizeof(pre) + (lit ? strlen(lit) : 0) + 2;
	sql = sodium_malloc(n);
	if (lit == NULL || sql == NULL) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(sql, n, "%s%s\"", pre, lit);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		log_err("%s: setting the key: %s", who, sqlite3_errmsg(db));
		r = -EIO;
		goto out;
	}
	/* Without SQLCipher, PRAGMA key did nothing: refuse rather than write plaintext. */
	if (!store_query_text(db, "PRAGMA cipher_version", cipher_version, cvlen, NULL) ||
	    cipher_version[0] == '\0') {
		log_err("%s: PRAGMA cipher_version gave no answer: not linked against SQLCipher; "
			"refusing to continue", who);
		r = -ENOTSUP;
		goto out;
	}
	if (sqlite3_exec(db, "PRAGMA cipher_page_size = 4096", NULL, NULL, NULL) != SQLITE_OK) {
		log_err("%s: setting the page size: %s", who, sqlite3_errmsg(db));
		r = -EIO;
		goto out;
	}
	/* The first read is where a wrong key shows (SQLITE_NOTADB). */
	(void)store_query_text(db, "SELECT count(*) FROM sqlite_master", buf, sizeof(buf), &rc);
	if (rc == SQLITE_NOTADB) {
		log_err("%s: the data key does not open %s", who, path);
		r = -EACCES;
	} else if (rc != SQLITE_OK) {
		log_err("%s: first read: %s", who, sqlite3_errmsg(db));
		r = -EIO;
	}
out:
	sodium_free(sql);
	sodium_free(lit);
	if (r < 0) {
		sqlite3_close(db);
		return r;
	}
	*ret_db = db;
	return 0;
}

static int open_flags(const char *path, const struct keys *k, int flags, struct store **ret)
{
	struct store *s;
	char mode[16];
	int r;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	r = store_connect(path, k, SQLITE_OPEN_CREATE | flags, "database", &s->db,
			  s->cipher_version, sizeof(s->cipher_version));
	if (r < 0)
		goto fail;
	/* Created by us or not, the file is for the daemon's user alone. */
	(void)chmod(path, 0600);
	if (!store_query_text(s->db, "PRAGMA journal_mode = WAL", mode, sizeof(mode), NULL) ||
	    strcmp(mode, "wal") != 0) {
		log_err("database: cannot switch to WAL");
		r = -EIO;
		goto fail;
	}
	r = exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
		    "PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY");
	if (r < 0)
		goto fail;
	r = migrate(s);
	if (r < 0)
		goto fail;
	for (int i = 0; i < ST__MAX; i++)
		if (sqlite3_prepare_v2(s->db, stmt_sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
			r = db_fail(s, "preparing statements");
			goto fail;
		}
	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

int store_open(const char *path, const struct keys *k, struct store **ret)
{
	return open_flags(path, k, 0, ret);
}

int store_open_private(const char *path, const struct keys *k, struct store **ret)
{
	return open_flags(path, k, SQLITE_OPEN_NOMUTEX, ret);
}

int store_backup(const char *src_path, const struct keys *k, const char *dst_path,
		 int64_t *ret_seq, unsigned char ret_hash[32])
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	sqlite3_stmt *st = NULL;
	char cv[64];
	struct stat stb;
	unsigned char hash[32];
	int64_t seq = 0;
	bool in_txn = false;
	int rc, r;

	/* SQLite would open an existing file and copy over it: a new file only. */
	if (lstat(dst_path, &stb) == 0)
		return -EEXIST;
	r = store_connect(src_path, k, 0, "backup", &src, cv, sizeof(cv));
	if (r < 0)
		return r;
	/* store_connect refuses unless SQLCipher keyed it: the copy is never plaintext. */
	r = store_connect(dst_path, k, SQLITE_OPEN_CREATE, "backup", &dst, cv, sizeof(cv));
	if (r < 0)
		goto out;
	(void)chmod(dst_path, 0600);
	if (sqlite3_exec(src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	in_txn = true;
	/* The first read opens the read transaction that the copy then shares. */
	if (sqlite3_prepare_v2(src, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	memset(hash, 0, sizeof(hash));
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
		seq = sqlite3_column_int64(st, 0);
		memcpy(hash, sqlite3_column_blob(st, 1), 32);
	} else if (rc != SQLITE_DONE) {
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (b == NULL) {
		log_err("backup: %s", sqlite3_errmsg(dst));
		r = -EIO;
		goto out;
	}
	/* All pages in one step: one read transaction, so one instant. */
	rc = sqlite3_backup_step(b, -1);
	if (rc != SQLITE_DONE) {
		log_err("backup: copying: %s", sqlite3_errstr(rc));
		r = -EIO;
		goto out;
	}
	rc = sqlite3_backup_finish(b);
	b = NULL;
	if (rc != SQLITE_OK) {
		log_err("backup: finishing: %s", sqlite3_errstr(rc));
		r = -EIO;
		goto out;
	}
	*ret_seq = seq;
	memcpy(ret_hash, hash, 32);
	r = 0;
	goto out;
fail:
	log_err("backup: reading the source: %s", sqlite3_errmsg(src));
	r = -EIO;
out:
	sqlite3_finalize(st);
	if (b != NULL)
		sqlite3_backup_finish(b);
	if (in_txn)
		(void)sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	if (dst != NULL && sqlite3_close(dst) != SQLITE_OK && r == 0) {
		log_err("backup: closing the copy: %s", sqlite3_errmsg(dst));
		r = -EIO;
	}
	sqlite3_close(src);
	if (r < 0)
		unlink(dst_path);
	return r;
}

/* What a rotation's copy must have of its source: clients, checkpoints, audit head. */
struct rotate_facts {
	int64_t clients, checkpoints, head_seq;
	unsigned char head_hash[32];
};

static int rotate_facts(sqlite3 *db, struct rotate_facts *f)
{
	static const char *const sql[] = {
		"SELECT count(*) FROM clients",
		"SELECT count(*) FROM audit_checkpoints",
		"SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	};
	int64_t *out[] = { &f->clients, &f->checkpoints, &f->head_seq };
	sqlite3_stmt *st;
	int rc;

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		if (sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) != SQLITE_OK)
			return -EIO;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out[i] = sqlite3_column_int64(st, 0);
			if (i == 2 && sqlite3_column_bytes(st, 1) == 32)
				memcpy(f->head_hash, sqlite3_column_blob(st, 1), 32);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return -EIO;
	}
	return 0;
}

int store_rotate_copy(const char *path, const struct keys *k, const unsigned char *next_dek,
		      const char *dst_path)
{
	struct rotate_facts before, after;
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_stmt *st = NULL;
	struct keys *nk = NULL;
	char cv[64], check[64], *lit = NULL;
	int fd, rc, r, logged = 0, done_frames = 0;

	/*
	 * The copy's file is made here, empty, private and new (an empty file
	 * is a valid empty database to SQLite): ATTACH would otherwise create
	 * it with whatever mode, or open a file someone had put there.
	 */
	fd = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? -EEXIST : -errno;
	close(fd);
	r = store_connect(path, k, 0, "rotate", &src, cv, sizeof(cv));
	if (r < 0)
		goto out;
	/*
	 * Everything committed goes into the main file and the WAL is cut to
	 * nothing: the file alone is then the whole database, so replacing it
	 * by its copy loses nothing, and no WAL of the old key is left for
	 * the new file to replay.
	 */
	rc = sqlite3_wal_checkpoint_v2(src, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &done_frames);
	if (rc != SQLITE_OK || logged != done_frames) {
		log_err("rotate: cannot checkpoint the WAL (%s): another connection is open",
			sqlite3_errstr(rc));
		r = -EBUSY;
		goto out;
	}
	if (rotate_facts(src, &before) < 0) {
		log_err("rotate: reading the source: %s", sqlite3_errmsg(src));
		r = -EIO;
		goto out;
	}
	lit = keys_raw_pragma(next_dek);
	if (lit == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* The key as a bound parameter: never spelled into SQL text. */
	rc = sqlite3_prepare_v2(src, "ATTACH DATABASE ?1 AS rotate KEY ?2", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, dst_path, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, lit, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		log_err("rotate: attaching the copy: %s", sqlite3_errmsg(src));
		r = -EIO;
		goto out;
	}
	if (sqlite3_exec(src, "PRAGMA rotate.cipher_page_size = 4096", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(src, "SELECT sqlcipher_export('rotate')", NULL, NULL, NULL) != SQLITE_OK) {
		log_err("rotate: exporting: %s", sqlite3_errmsg(src));
		r = -EIO;
		goto out;
	}
	if (sqlite3_exec(src, "DETACH DATABASE rotate", NULL, NULL, NULL) != SQLITE_OK) {
		log_err("rotate: detaching the copy: %s", sqlite3_errmsg(src));
		r = -EIO;
		goto out;
	}
	/* Now the copy, as the daemon will open it: under the new key alone. */
	nk = keys_dup(k);
	if (nk == NULL) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(nk->dek, next_dek, DEK_BYTES);
	r = store_connect(dst_path, nk, 0, "rotate (the copy)", &dst, cv, sizeof(cv));
	if (r < 0)
		goto out;
	/* Every page is read, so decrypted and authenticated under the new key. */
	if (!store_query_text(dst, "PRAGMA quick_check", check, sizeof(check), &rc) ||
	    strcmp(check, "ok") != 0) {
		log_err("rotate: the copy fails its check: %s", rc == SQLITE_OK ? check
			: sqlite3_errmsg(dst));
		r = -EIO;
		goto out;
	}
	if (rotate_facts(dst, &after) < 0 || after.clients != before.clients ||
	    after.checkpoints != before.checkpoints || after.head_seq != before.head_seq ||
	    sodium_memcmp(after.head_hash, before.head_hash, 32) != 0) {
		log_err("rotate: the copy does not hold what the source holds");
		r = -EIO;
		goto out;
	}
	/* WAL from the first open on, like every database the daemon opens. */
	if (!store_query_text(dst, "PRAGMA journal_mode = WAL", check, sizeof(check), NULL) ||
	    strcmp(check, "wal") != 0) {
		log_err("rotate: cannot switch the copy to WAL");
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(st);
	sodium_free(lit);
	keys_free(nk);
	if (dst != NULL && sqlite3_close(dst) != SQLITE_OK && r == 0) {
		log_err("rotate: closing the copy: %s", sqlite3_errmsg(dst));
		r = -EIO;
	}
	if (src != NULL && sqlite3_close(src) != SQLITE_OK && r == 0) {
		log_err("rotate: closing the source: %s", sqlite3_errmsg(src));
		r = -EIO;
	}
	if (r == 0) {
		/* SQLite synced the export's commit; this makes the file's length and mode safe too. */
		fd = open(dst_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fsync(fd) < 0)
			r = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (r < 0)
		store_rotate_discard(dst_path);
	return r;
}

int store_probe(const char *path, const struct keys *k)
{
	sqlite3 *db = NULL;
	char cv[64];
	int r = store_connect(path, k, 0, "probe", &db, cv, sizeof(cv));

	sqlite3_close(db);
	return r;
}

void store_rotate_discard(const char *dst_path)
{
	static const char *const sfx[] = { "", "-journal", "-wal", "-shm" };
	char p[4096];

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		if ((size_t)snprintf(p, sizeof(p), "%s%s", dst_path, sfx[i]) < sizeof(p))
			(void)unlink(p);
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < ST__MAX; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_finalize(s->audit_ins);
	sqlite3_finalize(s->ship_adv);
	free(s->block);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		log_warn("database: close: %s", sqlite3_errmsg(s->db));
	free(s);
}

const char *store_cipher_version(const struct store *s)
{
	return s->cipher_version;
}

int store_schema_version(const struct store *s)
{
	return s->schema_version;
}

/* Reset a statement so that it holds no row, no binding and no lock. */
static void done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static json_t *row_to_json(sqlite3_stmt *st)
{
	static const char *const cols[] = {
		"id", "name", "kind", "country", "contact_name", "contact_email",
		"contact_phone", "tier", "notes", "status",
	};
	char ts[32];
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (int i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++) {
		const unsigned char *t = sqlite3_column_text(st, i);

		/* A NULL column is an unset optional field: the key is left out. */
		if (t != NULL && json_object_set_new(o, cols[i], json_string((const char *)t)) < 0)
			goto fail;
	}
	format_rfc3339(sqlite3_column_int64(st, 10), ts, sizeof(ts));
	if (json_object_set_new(o, "created_at", json_string(ts)) < 0)
		goto fail;
	format_rfc3339(sqlite3_column_int64(st, 11), ts, sizeof(ts));
	if (json_object_set_new(o, "updated_at", json_string(ts)) < 0 ||
	    json_object_set_new(o, "version", json_integer(sqlite3_column_int64(st, 12))) < 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Step st to the end, appending each row to a new array. */
static int rows_to_array(struct store *s, sqlite3_stmt *st, int max, json_t **ret, int *ret_n)
{
	json_t *arr = json_array();
	int rc, n = 0;

	if (arr == NULL)
		return -ENOMEM;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o;

		if (n == max) {
			n++;            /* one row past the page: there is more */
			break;
		}
		o = row_to_json(st);
		if (o == NULL || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return -ENOMEM;
		}
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		json_decref(arr);
		return db_fail(s, "reading clients");
	}
	*ret = arr;
	*ret_n = n;
	return 0;
}

int store_client_count(struct store *s, int64_t *ret)
{
	sqlite3_stmt *st = s->st[ST_COUNT];
	int r = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = db_fail(s, "counting clients");
	done(st);
	return r;
}

int store_client_get(struct store *s, const char *id, json_t **ret)
{
	sqlite3_stmt *st = s->st[ST_GET];
	json_t *o;
	int rc, r = 0;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		o = row_to_json(st);
		if (o == NULL)
			r = -ENOMEM;
		else
			*ret = o;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = db_fail(s, "reading a client");
	}
	done(st);
	return r;
}

int store_client_search(struct store *s, const char *query, int limit, json_t **ret_array)
{
	sqlite3_stmt *st = s->st[ST_SEARCH];
	size_t qlen = strlen(query);
	char *pat;
	int n, r;

	/* Escape LIKE's metacharacters so the query is matched as plain text. */
	pat = malloc(qlen * 2 + 3);
	if (pat == NULL)
		return -ENOMEM;
	n = 0;
	pat[n++] = '%';
	for (size_t i = 0; i < qlen; i++) {
		if (query[i] == '%' || query[i] == '_' || query[i] == '\\')
			pat[n++] = '\\';
		pat[n++] = query[i];
	}
	pat[n++] = '%';
	pat[n] = '\0';
	sqlite3_bind_text(st, 1, pat, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit);
	r = rows_to_array(s, st, limit, ret_array, &n);
	done(st);
	sodium_memzero(pat, qlen * 2 + 3);
	free(pat);
	return r;
}

int store_client_list(struct store *s, const char *after, int limit,
		      json_t **ret_array, bool *ret_more)
{
	sqlite3_stmt *st = s->st[ST_LIST];
	json_t *arr;
	int n, r;

	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit + 1);
	r = rows_to_array(s, st, limit, &arr, &n);
	done(st);
	if (r < 0)
		return r;
	*ret_array = arr;
	*ret_more = n > limit;
	return 0;
}

static void bind_input(sqlite3_stmt *st, const json_t *input)
{
	for (size_t i = 0; i < N_INPUT; i++) {
		const json_t *v = json_object_get(input, input_fields[i]);

		if (json_is_string(v))
			sqlite3_bind_text(st, (int)i + 1, json_string_value(v), -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, (int)i + 1);
	}
}

int store_client_create(struct store *s, const json_t *input, char ret_id[ID_HEX_LEN + 1])
{
	return store_client_create_at(s, input, 0, ret_id);
}

int store_client_create_at(struct store *s, const json_t *input, int64_t created_seq,
			   char ret_id[ID_HEX_LEN + 1])
{
	sqlite3_stmt *st = s->st[ST_INSERT];
	char id[ID_HEX_LEN + 1];
	int rc, r = 0;

	/*
	 * 128 random bits make a collision practically impossible; the
	 * primary key turns one into a failed insert rather than an overwrite,
	 * and one retry covers it.
	 */
	for (int attempt = 0; attempt < 2; attempt++) {
		id_generate(id);
		bind_input(st, input);
		sqlite3_bind_text(st, 10, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 11, now_usec());
		sqlite3_bind_int64(st, 12, created_seq);
		rc = sqlite3_step(st);
		done(st);
		if (rc == SQLITE_DONE) {
			memcpy(ret_id, id, sizeof(id));
			return 0;
		}
		if (sqlite3_extended_errcode(s->db) != SQLITE_CONSTRAINT_PRIMARYKEY)
			break;
	}
	r = db_fail(s, "inserting a client");
	return r;
}

int store_client_update(struct store *s, const char *id, const json_t *changes,
			int64_t version, int64_t *ret_version)
{
	sqlite3_stmt *st = s->st[ST_UPDATE], *vst = s->st[ST_VERSION];
	int64_t cur = 0;
	int rc, changed, r = 0;

	/*
	 * No transaction of its own: the audit writer runs every change inside
	 * its batch transaction, in a savepoint, together with its record.
	 */
	bind_input(st, changes);
	sqlite3_bind_text(st, 10, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, now_usec());
	sqlite3_bind_int64(st, 12, version);
	rc = sqlite3_step(st);
	changed = sqlite3_changes(s->db);
	done(st);
	if (rc != SQLITE_DONE) {
		r = db_fail(s, "updating a client");
		goto out;
	}
	/* Whether it changed or not, read the version now in force. */
	sqlite3_bind_text(vst, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(vst);
	if (rc == SQLITE_ROW)
		cur = sqlite3_column_int64(vst, 0);
	done(vst);
	if (rc == SQLITE_DONE)
		r = -ENOENT;
	else if (rc != SQLITE_ROW)
		r = db_fail(s, "reading a version");
	else if (changed == 0)
		r = -ESTALE;
out:
	if (r == 0 || r == -ESTALE)
		*ret_version = cur;
	return r;
}

int store_client_delete(struct store *s, const char *id)
{
	sqlite3_stmt *st = s->st[ST_DELETE], *keep;
	int rc;

	/*
	 * First the seq of the record that created the client, if noted in its
	 * row, moves to the audit id index, so that queries by client still
	 * find it. Prepared here rather than at open: deletes are rare, and the
	 * audit tables are the writer's (store_audit_append() prepares late too).
	 */
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO audit_ids (client_id, seq) "
			       "SELECT id, created_seq FROM clients WHERE id = ?1 "
			       "AND created_seq IS NOT NULL", -1, &keep, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	sqlite3_bind_text(keep, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(keep);
	sqlite3_finalize(keep);
	if (rc != SQLITE_DONE)
		return db_fail(s, "keeping a client's creating record");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	done(st);
	if (rc != SQLITE_DONE)
		return db_fail(s, "deleting a client");
	return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

/* ---- principals, roles and settings ----------------------------------- */

/*
 * These run on administrative calls only, so each prepares its statement
 * when called; the hot path (client reads) keeps its statements prepared.
 */
static int run(struct store *s, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc, ext, changes, ro, i = 1;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++, i++) {
		switch (*f) {
		case 's': {
			const char *v = va_arg(ap, const char *);

			if (v)
				sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
			else
				sqlite3_bind_null(st, i);
			break;
		}
		case 'i':
			sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 'b': {
			const unsigned char *v = va_arg(ap, const unsigned char *);

			if (v)
				sqlite3_bind_blob(st, i, v, 32, SQLITE_TRANSIENT);
			else
				sqlite3_bind_null(st, i);
			break;
		}
		case 'n':
			(void)va_arg(ap, int64_t);
			sqlite3_bind_null(st, i);
			break;
		}
	}
	va_end(ap);
	ro = sqlite3_stmt_readonly(st);
	rc = sqlite3_step(st);
	ext = sqlite3_extended_errcode(s->db);
	changes = ro ? 0 : sqlite3_changes(s->db);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW && rc != SQLITE_CONSTRAINT)
		(void)db_fail(s, "writing");
	sqlite3_finalize(st);
	/* A query answers "is there such a row"; a change "did it change a row". */
	if (rc == SQLITE_CONSTRAINT)
		return ext == SQLITE_CONSTRAINT_FOREIGNKEY ? -ENOENT : -EEXIST;
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return -EIO;
	return changes > 0 ? 0 : -ENOENT;
}

int store_meta_get(struct store *s, const char *key, char *buf, size_t size)
{
	sqlite3_stmt *st;
	int rc, r = -ENOENT;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = db_fail(s, "reading a setting");
	}
	sqlite3_finalize(st);
	return r;
}

int store_meta_set(struct store *s, const char *key, const char *value)
{
	return run(s, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", "ss", key, value);
}

/* Every row of a query as an object keyed by column name. */
static int rows_as_objects(struct store *s, const char *sql, json_t **ret)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();
	int rc;

	if (arr == NULL)
		return -ENOMEM;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		json_decref(arr);
		return db_fail(s, "preparing");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();

		for (int i = 0; o && i < sqlite3_column_count(st); i++) {
			const char *name = sqlite3_column_name(st, i);
			json_t *v = NULL;

			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				v = json_integer(sqlite3_column_int64(st, i));
				break;
			case SQLITE_TEXT:
				v = json_string((const char *)sqlite3_column_text(st, i));
				break;
			case SQLITE_BLOB: {
				char hex[65];
				int n = sqlite3_column_bytes(st, i);

				if (n == 32) {
					sodium_bin2hex(hex, sizeof(hex), sqlite3_column_blob(st, i), 32);
					v = json_string(hex);
				}
				break;
			}
			default:
				break;
			}
			if (v != NULL)
				json_object_set_new(o, name, v);
		}
		if (o == NULL || json_array_append_new(arr, o) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return rc == SQLITE_NOMEM ? -ENOMEM : db_fail(s, "reading");
	}
	*ret = arr;
	return 0;
}

int store_auth_load(struct store *s, json_t **ret_roles, json_t **ret_principals)
{
	json_t *roles, *princ;
	int r;

	r = rows_as_objects(s, "SELECT name, builtin, capabilities, fields, quota_n, quota_window, "
			       "lock_on_quota, guess_n, guess_window, changed_at FROM roles ORDER BY name",
			    &roles);
	if (r < 0)
		return r;
	r = rows_as_objects(s, "SELECT name, uid, role, token_hash, token_expires, locked, "
			       "locked_reason, last_seen, created_at, guard_reset FROM principals "
			       "ORDER BY name", &princ);
	if (r < 0) {
		json_decref(roles);
		return r;
	}
	*ret_roles = roles;
	*ret_principals = princ;
	return 0;
}

int store_role_put(struct store *s, const char *name, const char *caps, const char *fields,
		   int64_t quota_n, int64_t quota_window, bool lock_on_quota, bool replace,
		   int64_t guess_n, int64_t guess_window)
{
	int r;

	r = run(s, "SELECT 1 FROM roles WHERE name = ?1 AND builtin = 1", "s", name);
	if (r == 0)
		return -EPERM;
	if (replace)
		r = run(s, "UPDATE roles SET capabilities = ?2, fields = ?3, quota_n = ?4, "
			   "quota_window = ?5, lock_on_quota = ?6, changed_at = ?7, guess_n = ?8, "
			   "guess_window = ?9 WHERE name = ?1",
			quota_n < 0 ? "sssnniiii" : "sssiiiiii", name, caps, fields, quota_n, quota_window,
			(int64_t)lock_on_quota, now_usec(), guess_n, guess_window);
	else
		r = run(s, "INSERT INTO roles (name, builtin, capabilities, fields, quota_n, "
			   "quota_window, lock_on_quota, changed_at, guess_n, guess_window) "
			   "VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
			quota_n < 0 ? "sssnniiii" : "sssiiiiii", name, caps, fields, quota_n, quota_window,
			(int64_t)lock_on_quota, now_usec(), guess_n, guess_window);
	return r;
}

int store_role_delete(struct store *s, const char *name)
{
	int r = run(s, "SELECT 1 FROM roles WHERE name = ?1 AND builtin = 1", "s", name);

	if (r == 0)
		return -EPERM;
	if (run(s, "SELECT 1 FROM principals WHERE role = ?1", "s", name) == 0)
		return -EBUSY;
	return run(s, "DELETE FROM roles WHERE name = ?1", "s", name);
}

int store_principal_add(struct store *s, const char *name, int64_t uid, const char *role,
			const unsigned char *token_hash, int64_t expires)
{
	if (run(s, "SELECT 1 FROM roles WHERE name = ?1", "s", role) != 0)
		return -ENOENT;
	/*
	 * The guard counts start at creation: a principal added again under a
	 * name used before does not inherit the old one's reads from the trail.
	 */
	return run(s, "INSERT INTO principals (name, uid, role, token_hash, token_expires, created_at, "
		      "guard_reset) VALUES (?1, ?2, ?3, ?4, NULLIF(?5, 0), ?6, ?6)",
		   "sisbii", name, uid, role, token_hash, expires, now_usec());
}

int store_principal_delete(struct store *s, const char *name)
{
	return run(s, "DELETE FROM principals WHERE name = ?1", "s", name);
}

int store_principal_set_lock(struct store *s, const char *name, bool locked, const char *reason)
{
	/* An unlock also restarts the guard's counts for the principal. */
	if (!locked)
		return run(s, "UPDATE principals SET locked = 0, locked_reason = NULL, guard_reset = ?2 "
			      "WHERE name = ?1", "si", name, now_usec());
	return run(s, "UPDATE principals SET locked = 1, locked_reason = ?2 WHERE name = ?1",
		   "ss", name, reason);
}

int store_principal_set_token(struct store *s, const char *name,
			      const unsigned char *token_hash, int64_t expires)
{
	return run(s, "UPDATE principals SET token_hash = ?2, token_expires = NULLIF(?3, 0) "
		      "WHERE name = ?1", "sbi", name, token_hash, expires);
}

int store_principal_touch(struct store *s, const char *name, int64_t last_seen)
{
	return run(s, "UPDATE principals SET last_seen = ?2 WHERE name = ?1", "si", name, last_seen);
}

/* ---- audit trail ------------------------------------------------------------ */

int store_exec(struct store *s, const char *sql)
{
	return exec(s, sql);
}

int store_query_int(struct store *s, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : db_fail(s, "querying");
}

/*
 * The audit writer begins and commits a transaction for every batch, so
 * these run from statements prepared once. sqlite3_exec() would compile
 * each again, and the parser's large allocation makes glibc first merge
 * every small block the last batch freed (malloc_consolidate): a tenth of
 * the writer's time under load, before this.
 */
int store_tx(struct store *s, enum store_tx op)
{
	static const enum stmt_id ids[] = {
		[STORE_BEGIN] = ST_BEGIN,
		[STORE_COMMIT] = ST_COMMIT,
		[STORE_ROLLBACK] = ST_ROLLBACK,
		[STORE_SAVEPOINT] = ST_SAVEPOINT,
		[STORE_ROLLBACK_TO] = ST_ROLLBACK_TO,
		[STORE_RELEASE] = ST_RELEASE,
	};
	sqlite3_stmt *st;
	int rc;

	if ((unsigned)op >= sizeof(ids) / sizeof(ids[0]))
		return -EINVAL;
	st = s->st[ids[op]];
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(s, stmt_sql[ids[op]]);
	return 0;
}

bool store_in_transaction(struct store *s)
{
	return !sqlite3_get_autocommit(s->db);
}

/*
 * The writer's WAL policy (see store.h). SQLite's own auto-checkpoint is
 * PASSIVE: it copies what no reader still needs, but the WAL can only start
 * again from its beginning when no reader is using it, and under steady load
 * (the loop's reads, the shipper's) there nearly always is one. The WAL then
 * grows without end (760 MiB after a 100,000-client import was seen), and
 * every page lookup searches its whole index. Past STORE_WAL_RESTART_PAGES a
 * RESTART checkpoint waits briefly for the readers of the moment, which are
 * short, so that the next commit starts the WAL again. A reader that is not
 * short (a backup copying the database) makes it give up quickly and not try
 * again for a while, so the audit writer is never held up for long.
 */
#define STORE_WAL_PASSIVE_PAGES 1000
#define STORE_WAL_RESTART_PAGES 8192
#define STORE_WAL_RESTART_WAIT_MS 20
#define STORE_WAL_RESTART_BACKOFF_US 1000000

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store *s = arg;

	if (pages >= STORE_WAL_RESTART_PAGES && mono_usec() >= s->wal_retry_us) {
		int rc;

		sqlite3_busy_timeout(db, STORE_WAL_RESTART_WAIT_MS);
		rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
		sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
		if (rc != SQLITE_OK)
			s->wal_retry_us = mono_usec() + STORE_WAL_RESTART_BACKOFF_US;
	} else if (pages >= STORE_WAL_PASSIVE_PAGES) {
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return SQLITE_OK;
}

void store_wal_restarts(struct store *s)
{
	sqlite3_wal_hook(s->db, wal_hook, s);
}

/* The path of the connection's WAL file into buf; false if it does not fit. */
static bool wal_path(struct store *s, char *buf, size_t size)
{
	const char *db = sqlite3_db_filename(s->db, "main");
	int n;

	if (db == NULL)
		return false;
	n = snprintf(buf, size, "%s-wal", db);
	return n > 0 && (size_t)n < size;
}

void store_files_note(struct store *s)
{
	char wal[4096];
	struct stat st;

	/*
	 * The connection opened the WAL (WAL mode, then migrate()'s reads)
	 * and keeps it open: SQLite removes it only when the last connection
	 * to the database closes, so it stays this file while s is open.
	 */
	if (wal_path(s, wal, sizeof(wal)) && stat(wal, &st) == 0) {
		s->wal_dev = st.st_dev;
		s->wal_ino = st.st_ino;
	}
}

int store_files_moved(struct store *s)
{
	char wal[4096];
	struct stat st;
	int moved = 0;

	/* SQLite's own test for the database: unlinked, or another file at its path. */
	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
	    moved)
		return STORE_MOVED_DB;
	/*
	 * Its VFS does not track the WAL's inode (HAS_MOVED always says no
	 * for it), so the path is compared with the file noted at open. A
	 * stat() that fails otherwise than ENOENT proves nothing either way.
	 */
	if (s->wal_ino == 0 || !wal_path(s, wal, sizeof(wal)))
		return 0;
	if (stat(wal, &st) < 0)
		return errno == ENOENT ? STORE_MOVED_WAL : 0;
	return st.st_dev == s->wal_dev && st.st_ino == s->wal_ino ? 0 : STORE_MOVED_WAL;
}

int store_checkpoint_all(struct store *s)
{
	int logged = -1, done = -1, rc;

	/* FULL waits (busy timeout) for readers of older snapshots, then syncs the database. */
	rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_FULL, &logged, &done);
	if (rc == SQLITE_BUSY)
		return -EBUSY;
	if (rc != SQLITE_OK)
		return db_fail(s, "checkpointing the WAL into the database");
	return logged >= 0 && done == logged ? 0 : -EBUSY;
}

int store_set_cache_kib(struct store *s, int64_t kib)
{
	char sql[64];

	/* A negative cache_size is in KiB, not pages. */
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%lld", (long long)kib);
	return exec(s, sql);
}

int store_audit_head(struct store *s, int64_t *ret_seq, unsigned char ret_hash[32])
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
		*ret_seq = sqlite3_column_int64(st, 0);
		memcpy(ret_hash, sqlite3_column_blob(st, 1), 32);
	} else if (rc == SQLITE_DONE) {
		*ret_seq = 0;
		memset(ret_hash, 0, 32);
	} else {
		r = db_fail(s, "reading the audit head");
	}
	sqlite3_finalize(st);
	return r;
}

/* Read the open block again: the records after the last closed filter. */
static int block_load(struct store *s)
{
	struct open_block *b = s->block;
	sqlite3_stmt *st;
	int64_t last = 0;
	int rc, r;

	r = store_query_int(s, "SELECT COALESCE(max(last_seq), 0) FROM audit_idfilters", &last);
	if (r < 0)
		return r;
	memset(b, 0, sizeof(*b));
	b->first_seq = b->next_seq = last + 1;
	if (sqlite3_prepare_v2(s->db, "SELECT seq, ids FROM audit WHERE seq > ?1 ORDER BY seq", -1,
			       &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	sqlite3_bind_int64(st, 1, last);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *ids = sqlite3_column_text(st, 1);

		b->ids += idfilter_add_words(b->bits, ids ? (const char *)ids : "");
		b->records++;
		b->next_seq = sqlite3_column_int64(st, 0) + 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(s, "reading the open id-filter block");
}

/* Note a record's ids in the open block, and close the block when full. */
static int block_note(struct store *s, const struct audit_fields *f)
{
	struct open_block *b = s->block;
	sqlite3_stmt *st;
	int rc;

	b->ids += idfilter_add_words(b->bits, f->ids);
	b->records++;
	b->next_seq = f->seq + 1;
	if (b->records < IDFILTER_BLOCK_MAX && b->ids < IDFILTER_BLOCK_MAX)
		return 0;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO audit_idfilters (last_seq, first_seq, bits) "
			       "VALUES (?1, ?2, ?3)", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	sqlite3_bind_int64(st, 1, f->seq);
	sqlite3_bind_int64(st, 2, b->first_seq);
	sqlite3_bind_blob(st, 3, b->bits, sizeof(b->bits), SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(s, "closing an id-filter block");
	/*
	 * The next block starts empty. Should this transaction roll back, the
	 * next append's seq will not be next_seq, and the block is read again.
	 */
	memset(b->bits, 0, sizeof(b->bits));
	b->records = b->ids = 0;
	b->first_seq = f->seq + 1;
	return 0;
}

int store_audit_append(struct store *s, const struct audit_fields *f,
		       const unsigned char prev[32], const unsigned char hash[32])
{
	sqlite3_stmt *st = s->audit_ins;
	int rc, r;

	if (st == NULL) {
		if (sqlite3_prepare_v2(s->db, "INSERT INTO audit (seq, time_us, principal, uid, gid, pid, "
				       "role, method, ids, fields, records, result, error, alert, "
				       "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
				       "?10, ?11, ?12, ?13, ?14, ?15, ?16)", -1, &s->audit_ins,
				       NULL) != SQLITE_OK)
			return db_fail(s, "preparing the audit insert");
		st = s->audit_ins;
	}
	if (s->block == NULL && (s->block = calloc(1, sizeof(*s->block))) == NULL)
		return -ENOMEM;
	if (s->block->next_seq != f->seq) {
		r = block_load(s);
		if (r < 0) {
			s->block->next_seq = 0;         /* read again at the next append */
			return r;
		}
	}
	sqlite3_bind_int64(st, 1, f->seq);
	sqlite3_bind_int64(st, 2, f->time_us);
	sqlite3_bind_text(st, 3, f->principal, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, f->uid);
	sqlite3_bind_int64(st, 5, f->gid);
	sqlite3_bind_int64(st, 6, f->pid);
	sqlite3_bind_text(st, 7, f->role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, f->method, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, f->ids, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, f->fields, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, f->records);
	sqlite3_bind_text(st, 12, f->result, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, f->error, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 14, f->alert, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 15, prev, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 16, hash, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	done(st);
	if (rc != SQLITE_DONE)
		return db_fail(s, "appending an audit record");
	return block_note(s, f);
}

int store_audit_last_checkpoint(struct store *s, int64_t *ret_seq, int64_t *ret_time_us)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT seq, time_us FROM audit_checkpoints ORDER BY seq DESC "
			       "LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret_seq = sqlite3_column_int64(st, 0);
		*ret_time_us = sqlite3_column_int64(st, 1);
	} else if (rc == SQLITE_DONE) {
		*ret_seq = 0;
		*ret_time_us = 0;
	} else {
		r = db_fail(s, "reading the last checkpoint");
	}
	sqlite3_finalize(st);
	return r;
}

int store_audit_ship_advance(struct store *s, int64_t record_seq, int64_t checkpoint_seq)
{
	int rc;

	if (s->ship_adv == NULL &&
	    sqlite3_prepare_v2(s->db, STORE_SHIP_ADVANCE_SQL, -1, &s->ship_adv, NULL) != SQLITE_OK)
		return db_fail(s, "preparing the shipper's cursor update");
	sqlite3_bind_int64(s->ship_adv, 1, record_seq);
	sqlite3_bind_int64(s->ship_adv, 2, checkpoint_seq);
	rc = sqlite3_step(s->ship_adv);
	sqlite3_reset(s->ship_adv);
	return rc == SQLITE_DONE ? 0 : db_fail(s, "storing the shipper's cursor");
}

/* One row of audit_checkpoints; next_pubkey NULL for an ordinary checkpoint. */
static int checkpoint_insert(struct store *s, int64_t seq, int64_t time_us,
			     const unsigned char hash[32], const unsigned char pubkey[32],
			     const unsigned char *next_pubkey, const unsigned char sig[64])
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "INSERT INTO audit_checkpoints (seq, time_us, hash, pubkey, sig, "
			       "next_pubkey) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, time_us);
	sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, pubkey, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, sig, 64, SQLITE_STATIC);
	if (next_pubkey != NULL)
		sqlite3_bind_blob(st, 6, next_pubkey, 32, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(s, next_pubkey ? "adding a key-roll checkpoint"
							   : "adding a checkpoint");
}

int store_audit_checkpoint_add(struct store *s, int64_t seq, int64_t time_us,
			       const unsigned char hash[32], const unsigned char pubkey[32],
			       const unsigned char sig[64])
{
	return checkpoint_insert(s, seq, time_us, hash, pubkey, NULL, sig);
}

int store_audit_keyroll_add(struct store *s, int64_t seq, int64_t time_us,
			    const unsigned char hash[32], const unsigned char pubkey[32],
			    const unsigned char next_pubkey[32], const unsigned char sig[64])
{
	return checkpoint_insert(s, seq, time_us, hash, pubkey, next_pubkey, sig);
}

#define AUDIT_COLS "seq, time_us, principal, uid, gid, pid, role, method, ids, fields, records, " \
	"result, error, alert, prev_hash, hash"

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

static void row_fields(sqlite3_stmt *st, struct audit_fields *f)
{
	f->seq = sqlite3_column_int64(st, 0);
	f->time_us = sqlite3_column_int64(st, 1);
	f->principal = col_text(st, 2);
	f->uid = sqlite3_column_int64(st, 3);
	f->gid = sqlite3_column_int64(st, 4);
	f->pid = sqlite3_column_int64(st, 5);
	f->role = col_text(st, 6);
	f->method = col_text(st, 7);
	f->ids = col_text(st, 8);
	f->fields = col_text(st, 9);
	f->records = sqlite3_column_int64(st, 10);
	f->result = col_text(st, 11);
	f->error = col_text(st, 12);
	f->alert = col_text(st, 13);
}

static json_t *words(const char *s)
{
	json_t *a = json_array();

	while (a && *s) {
		size_t n = strcspn(s, " ");

		if (n > 0)
			json_array_append_new(a, json_stringn(s, n));
		s += n;
		s += strspn(s, " ");
	}
	return a;
}

static json_t *audit_row_json(sqlite3_stmt *st)
{
	struct audit_fields f;
	char ts[48], prev[65], hash[65];
	time_t secs;
	struct tm tm;

	row_fields(st, &f);
	secs = (time_t)(f.time_us / 1000000);
	gmtime_r(&secs, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(f.time_us % 1000000));
	sodium_bin2hex(prev, sizeof(prev), sqlite3_column_blob(st, 14),
		       sqlite3_column_bytes(st, 14) == 32 ? 32 : 0);
	sodium_bin2hex(hash, sizeof(hash), sqlite3_column_blob(st, 15),
		       sqlite3_column_bytes(st, 15) == 32 ? 32 : 0);
	return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:o, s:o, s:I, s:s, s:s, s:s, "
			 "s:s, s:s}", "seq", (json_int_t)f.seq, "time", ts, "principal", f.principal,
			 "uid", (json_int_t)f.uid, "gid", (json_int_t)f.gid, "pid", (json_int_t)f.pid,
			 "role", f.role, "method", f.method, "ids", words(f.ids),
			 "fields", words(f.fields), "records", (json_int_t)f.records,
			 "result", f.result, "error", f.error, "alert", f.alert,
			 "prev_hash", prev, "hash", hash);
}

/* The filters but the client's, bound from ?3 on (see the statements below). */
#define AUDIT_QUERY_REST "AND (?3 IS NULL OR principal = ?3) AND (?4 IS NULL OR method = ?4) " \
	"AND (?5 IS NULL OR result = ?5) AND (?6 = 0 OR alert <> '') " \
	"AND (?7 IS NULL OR time_us >= ?7) AND (?8 IS NULL OR time_us <= ?8) " \
	"ORDER BY seq LIMIT ?9"

struct seq_range {
	int64_t lo, hi;
};

struct ranges {
	struct seq_range *v;
	size_t n, cap;
};

static int ranges_add(struct ranges *r, int64_t lo, int64_t hi)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct seq_range *v = realloc(r->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n].lo = lo;
	r->v[r->n].hi = hi;
	r->n++;
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct seq_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * Where the records that name client (after after_seq) can be: the records
 * the old index and created_seq name exactly, the blocks whose id filter
 * may hold it, and the open block. Sorted and merged. A record in them
 * names the client only if its ids say so, which the query checks.
 */
static int client_ranges(struct store *s, const char *client, int64_t after, struct ranges *r)
{
	size_t len = strlen(client), k = 0;
	int64_t open_from = 1;
	sqlite3_stmt *st;
	int rc, e = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT seq FROM audit_ids WHERE client_id = ?1 AND seq > ?2 "
			       "UNION SELECT created_seq FROM clients WHERE id = ?1 AND "
			       "created_seq > ?2", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after);
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);

		e = ranges_add(r, seq, seq);
	}
	sqlite3_finalize(st);
	if (e < 0)
		return e;
	if (rc != SQLITE_DONE)
		return db_fail(s, "reading the audit id index");

	if (sqlite3_prepare_v2(s->db, "SELECT first_seq, last_seq, bits FROM audit_idfilters "
			       "ORDER BY last_seq", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	while (e == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t first = sqlite3_column_int64(st, 0), last = sqlite3_column_int64(st, 1);
		const void *bits = sqlite3_column_blob(st, 2);

		open_from = last + 1;
		if (last <= after)
			continue;
		if (idfilter_may_have(bits, (size_t)sqlite3_column_bytes(st, 2), client, len))
			e = ranges_add(r, first > after ? first : after + 1, last);
	}
	sqlite3_finalize(st);
	if (e < 0)
		return e;
	if (rc != SQLITE_DONE)
		return db_fail(s, "reading the audit id filters");
	e = ranges_add(r, open_from > after ? open_from : after + 1, INT64_MAX);
	if (e < 0)
		return e;

	qsort(r->v, r->n, sizeof(*r->v), range_cmp);
	for (size_t i = 1; i < r->n; i++) {
		if (r->v[i].lo <= r->v[k].hi || r->v[i].lo - 1 == r->v[k].hi) {
			if (r->v[i].hi > r->v[k].hi)
				r->v[k].hi = r->v[i].hi;
		} else {
			r->v[++k] = r->v[i];
		}
	}
	r->n = r->n ? k + 1 : 0;
	return 0;
}

/* Bind the filters ?3 to ?8 (AUDIT_QUERY_REST). */
static void bind_rest(sqlite3_stmt *st, const struct audit_filter *f)
{
	if (f->principal)
		sqlite3_bind_text(st, 3, f->principal, -1, SQLITE_STATIC);
	if (f->method)
		sqlite3_bind_text(st, 4, f->method, -1, SQLITE_STATIC);
	if (f->result)
		sqlite3_bind_text(st, 5, f->result, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, f->alerts);
	if (f->has_since)
		sqlite3_bind_int64(st, 7, f->since_us);
	if (f->has_until)
		sqlite3_bind_int64(st, 8, f->until_us);
}

/* Append the rows of a stepped statement to arr; *n counts them. */
static int rows_into(sqlite3_stmt *st, json_t *arr, int *n)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = audit_row_json(st);

		if (o == NULL || json_array_append_new(arr, o) < 0)
			return SQLITE_NOMEM;
		(*n)++;
	}
	return rc;
}

int store_audit_query(struct store *s, const struct audit_filter *f, json_t **ret)
{
	/* One fixed statement each: a filter is inert when its parameter is NULL. */
	static const char all_sql[] =
		"SELECT " AUDIT_COLS " FROM audit WHERE seq > ?1 " AUDIT_QUERY_REST;
	/* ?1 to ?10 is one range of seqs; the ids must name the client ?2. */
	static const char client_sql[] =
		"SELECT " AUDIT_COLS " FROM audit WHERE seq >= ?1 AND seq <= ?10 "
		"AND instr(' ' || ids || ' ', ' ' || ?2 || ' ') > 0 " AUDIT_QUERY_REST;
	struct ranges rg = { NULL, 0, 0 };
	sqlite3_stmt *st;
	json_t *arr;
	int rc = SQLITE_DONE, n = 0, r;

	if (f->client != NULL && (f->client[0] == '\0' || strchr(f->client, ' ') != NULL)) {
		/* No record names an empty word or two words as one id. */
		*ret = json_array();
		return *ret ? 0 : -ENOMEM;
	}
	if (f->client != NULL) {
		r = client_ranges(s, f->client, f->after_seq, &rg);
		if (r < 0) {
			free(rg.v);
			return r;
		}
	}
	if (sqlite3_prepare_v2(s->db, f->client ? client_sql : all_sql, -1, &st, NULL) != SQLITE_OK) {
		free(rg.v);
		return db_fail(s, "preparing the audit query");
	}
	arr = json_array();
	if (arr != NULL && f->client == NULL) {
		sqlite3_bind_int64(st, 1, f->after_seq);
		bind_rest(st, f);
		sqlite3_bind_int(st, 9, f->limit);
		rc = rows_into(st, arr, &n);
	}
	/* Range by range, in order, until the limit. */
	for (size_t i = 0; arr != NULL && f->client && i < rg.n && n < f->limit; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, rg.v[i].lo);
		sqlite3_bind_int64(st, 10, rg.v[i].hi);
		sqlite3_bind_text(st, 2, f->client, -1, SQLITE_STATIC);
		bind_rest(st, f);
		sqlite3_bind_int(st, 9, f->limit - n);
		rc = rows_into(st, arr, &n);
		if (rc != SQLITE_DONE)
			break;
	}
	sqlite3_finalize(st);
	free(rg.v);
	if (arr == NULL || rc != SQLITE_DONE) {
		json_decref(arr);
		return arr == NULL || rc == SQLITE_NOMEM ? -ENOMEM : db_fail(s, "querying the audit trail");
	}
	*ret = arr;
	return 0;
}

int store_audit_get(struct store *s, int64_t seq, json_t **ret)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT " AUDIT_COLS " FROM audit WHERE seq = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	sqlite3_bind_int64(st, 1, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = audit_row_json(st);
		if (*ret == NULL)
			r = -ENOMEM;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : db_fail(s, "reading a record");
	}
	sqlite3_finalize(st);
	return r;
}

int store_audit_walk(struct store *s,
		     int (*rec)(const struct audit_fields *f, const unsigned char *prev,
				const unsigned char *hash, void *data),
		     int (*cp)(int64_t seq, int64_t time_us, const unsigned char *hash,
			       const unsigned char *pubkey, const unsigned char *sig,
			       const unsigned char *next_pubkey, void *data),
		     void *data)
{
	return store_audit_walk_range(s, 1, INT64_MAX, rec, cp, data);
}

int store_audit_walk_range(struct store *s, int64_t from, int64_t to,
			   int (*rec)(const struct audit_fields *f, const unsigned char *prev,
				      const unsigned char *hash, void *data),
			   int (*cp)(int64_t seq, int64_t time_us, const unsigned char *hash,
				     const unsigned char *pubkey, const unsigned char *sig,
				     const unsigned char *next_pubkey, void *data),
			   void *data)
{
	static const unsigned char zero[64];
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r = 0;

	/* One read transaction, so the walk sees one consistent snapshot. */
	if (exec(s, "BEGIN") < 0)
		return -EIO;
	if (cp == NULL)
		goto records;
	if (sqlite3_prepare_v2(s->db, "SELECT seq, time_us, hash, pubkey, sig, next_pubkey "
			       "FROM audit_checkpoints WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(s, "preparing");
		goto out;
	}
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = cp(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		       sqlite3_column_bytes(st, 2) == 32 ? sqlite3_column_blob(st, 2) : zero,
		       sqlite3_column_bytes(st, 3) == 32 ? sqlite3_column_blob(st, 3) : zero,
		       sqlite3_column_bytes(st, 4) == 64 ? sqlite3_column_blob(st, 4) : zero,
		       /* A key roll names the next key; a damaged one (not 32 bytes) names zeros. */
		       sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL
		       : sqlite3_column_bytes(st, 5) == 32 ? sqlite3_column_blob(st, 5) : zero, data);
	if (r == 0 && rc != SQLITE_DONE)
		r = db_fail(s, "walking the checkpoints");
	sqlite3_finalize(st);
	st = NULL;
	if (r != 0)
		goto out;
records:
	if (rec == NULL)
		goto out;
	if (sqlite3_prepare_v2(s->db, "SELECT " AUDIT_COLS " FROM audit WHERE seq BETWEEN ?1 AND ?2 "
			       "ORDER BY seq", -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(s, "preparing");
		goto out;
	}
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_fields f;

		row_fields(st, &f);
		r = rec(&f, sqlite3_column_bytes(st, 14) == 32 ? sqlite3_column_blob(st, 14) : zero,
			sqlite3_column_bytes(st, 15) == 32 ? sqlite3_column_blob(st, 15) : zero, data);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_fail(s, "walking the audit trail");
	sqlite3_finalize(st);
out:
	(void)exec(s, "COMMIT");
	return r;
}

/* ---- guard ------------------------------------------------------------------- */

int store_audit_recent(struct store *s, const char *principal, int64_t since_us,
		       int (*cb)(int64_t time_us, const char *ids, int64_t records,
				 const char *result, const char *method, void *data), void *data)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	/*
	 * An approved Export is not counted against a quota (the second admin
	 * is its limit), and its record's ids name the request, not clients.
	 * Nor is CanaryList (its clients are decoys), as when it runs.
	 */
	if (sqlite3_prepare_v2(s->db, "SELECT time_us, ids, records, result, method FROM audit "
			       "WHERE principal = ?1 AND time_us >= ?2 "
			       "AND method NOT IN ('io.roster.Clients.Export', "
			       "'io.roster.Admin.CanaryList') ORDER BY seq", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since_us);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = cb(sqlite3_column_int64(st, 0), col_text(st, 1), sqlite3_column_int64(st, 2),
		       col_text(st, 3), col_text(st, 4), data);
	if (r == 0 && rc != SQLITE_DONE)
		r = db_fail(s, "reading recent records");
	sqlite3_finalize(st);
	return r;
}

int store_canary_ids(struct store *s, json_t **ret)
{
	sqlite3_stmt *st;
	json_t *o = json_object();
	int rc;

	if (o == NULL)
		return -ENOMEM;
	if (sqlite3_prepare_v2(s->db, "SELECT id FROM clients WHERE canary = 1", -1, &st,
			       NULL) != SQLITE_OK) {
		json_decref(o);
		return db_fail(s, "preparing");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(o, col_text(st, 0), json_true());
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(o);
		return db_fail(s, "reading canaries");
	}
	*ret = o;
	return 0;
}

int store_client_mark_canary(struct store *s, const char *id)
{
	return run(s, "UPDATE clients SET canary = 1 WHERE id = ?1", "s", id);
}

int store_canary_list(struct store *s, json_t **ret)
{
	sqlite3_stmt *st;
	json_t *arr;
	int n, r;

	if (sqlite3_prepare_v2(s->db, "SELECT " CLIENT_COLS " FROM clients WHERE canary = 1 "
			       "ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, "preparing");
	r = rows_to_array(s, st, 100000, &arr, &n);
	sqlite3_finalize(st);
	if (r == 0)
		*ret = arr;
	return r;
}
