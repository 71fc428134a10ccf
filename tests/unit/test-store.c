/*
 * test-store.c: unit tests for daemon/store.c, the encrypted database. Keys
 * come from keyring_create() at the cheapest Argon2id cost, in a private
 * temporary directory. Covers opening and reopening, wrong keys, encryption
 * at rest (no plaintext in the database or its WAL), the CRUD operations
 * with their error codes, search escaping, pagination and the migrations,
 * and the audit writer's WAL policy (store_wal_restarts()) under readers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "daemon/embedded.h"
#include "daemon/keys.h"
#include "daemon/log.h"
#include "daemon/store.h"
#include "daemon/util.h"

static const char PASS[] = "correct horse battery staple";
/* A name that must never appear in the database files in plaintext. */
static const char SECRET_NAME[] = "Quetzalcoatl Plaintext Canary Holdings";
static const char SECRET_NOTES[] = "canary-notes-7f3e9a1c-never-in-plaintext";

static char base[PATH_MAX / 2];   /* made once in main() */
static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 16];
static struct keys *keys;       /* the registry's keys, made in setup */

static void setup(void)
{
	char kpath[sizeof(dir) + 16];

	snprintf(dir, sizeof(dir), "%s/t-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/%s", dir, STORE_FILE);
	snprintf(kpath, sizeof(kpath), "%s/%s", dir, KEYRING_FILE);
	keys = NULL;
	ck_assert_int_eq(keyring_create(kpath, PASS, strlen(PASS), crypto_pwhash_OPSLIMIT_MIN,
					crypto_pwhash_MEMLIMIT_MIN, &keys), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

/* Remove a directory tree (never following symlinks). */
static void rm_tree(const char *path)
{
	(void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void teardown(void)
{
	keys_free(keys);
	keys = NULL;
	rm_tree(dir);
}

/* --- helpers ------------------------------------------------------------ */

static struct store *open_store(void)
{
	struct store *s = NULL;

	ck_assert_int_eq(store_open(dbpath, keys, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Create a client from JSON text; returns its id in id. */
static void create(struct store *s, const char *text, char id[ID_HEX_LEN + 1])
{
	json_error_t err;
	json_t *in = json_loads(text, 0, &err);

	ck_assert_msg(in != NULL, "bad test JSON: %s", err.text);
	ck_assert_int_eq(store_client_create(s, in, id), 0);
	json_decref(in);
}

static void create_named(struct store *s, const char *name, char id[ID_HEX_LEN + 1])
{
	json_t *in = json_pack("{s:s, s:s}", "name", name, "kind", "enterprise");

	ck_assert_int_eq(store_client_create(s, in, id), 0);
	json_decref(in);
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool is_lower_hex_id(const char *id)
{
	if (id == NULL || strlen(id) != ID_HEX_LEN)
		return false;
	for (size_t i = 0; i < ID_HEX_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* Whole file into a new buffer (NULL and 0 if it does not exist). */
static unsigned char *slurp(const char *path, size_t *ret_len)
{
	struct stat st;
	unsigned char *buf;
	FILE *f;

	*ret_len = 0;
	if (stat(path, &st) < 0)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	*ret_len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	return buf;
}

/* Assert that neither the database nor its WAL holds needle in plaintext. */
static void expect_not_in_files(const char *needle)
{
	static const char *const suffixes[] = { "", "-wal", "-journal" };

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char p[sizeof(dbpath) + 16];
		unsigned char *buf;
		size_t len;

		snprintf(p, sizeof(p), "%s%s", dbpath, suffixes[i]);
		buf = slurp(p, &len);
		if (buf == NULL)
			continue;
		ck_assert_msg(memmem(buf, len, needle, strlen(needle)) == NULL,
			      "\"%s\" found in plaintext in %s", needle, p);
		if (i == 0 && len >= 16)
			ck_assert_msg(memcmp(buf, "SQLite format 3", 15) != 0,
				      "%s has a plaintext SQLite header", p);
		free(buf);
	}
}

/* Open the database file with SQLCipher directly, keyed with the raw DEK. */
static sqlite3 *raw_open(const struct keys *k, bool page_4096)
{
	char *lit = keys_dek_pragma(k), sql[128];
	sqlite3 *db = NULL;

	ck_assert_ptr_nonnull(lit);
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA key = \"%s\"", lit);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sodium_memzero(sql, sizeof(sql));
	sodium_free(lit);
	if (page_4096)
		ck_assert_int_eq(sqlite3_exec(db, "PRAGMA cipher_page_size = 4096", NULL, NULL, NULL),
				 SQLITE_OK);
	return db;
}

/* --- open / reopen / keys -------------------------------------------------- */

START_TEST(test_open_creates_encrypted_database)
{
	struct store *s;
	struct stat st;
	int64_t n = -1;
	int newest = 0;

	ck_assert_int_eq(access(dbpath, F_OK), -1);
	s = open_store();
	ck_assert_int_eq(stat(dbpath, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_ptr_nonnull(store_cipher_version(s));
	ck_assert_uint_gt(strlen(store_cipher_version(s)), 0);
	/*
	 * Every compiled-in migration applied, numbered 1, 2, 3... in build
	 * order: two of one number (from two branches) would skip the second.
	 */
	for (const struct embedded_file *m = embedded_migrations; m->name != NULL; m++) {
		ck_assert_msg(atoi(m->name) == newest + 1, "migration %s follows %d", m->name, newest);
		newest = atoi(m->name);
	}
	ck_assert_int_gt(newest, 0);
	ck_assert_int_eq(store_schema_version(s), newest);
	ck_assert_int_eq(store_client_count(s, &n), 0);
	ck_assert_int_eq(n, 0);
	store_close(s);
	store_close(NULL);   /* no-op */
}
END_TEST

START_TEST(test_reopen_with_same_keys_keeps_data)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *before = NULL, *after = NULL;
	int64_t n = 0;

	create(s, "{\"name\":\"Acme\",\"kind\":\"bank\",\"country\":\"DE\",\"notes\":\"n\"}", id);
	ck_assert_int_eq(store_client_get(s, id, &before), 0);
	store_close(s);

	s = open_store();
	ck_assert_int_eq(store_client_count(s, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_client_get(s, id, &after), 0);
	ck_assert(json_equal(before, after));
	/* Migrations are not applied twice. */
	ck_assert_int_gt(store_schema_version(s), 0);
	store_close(s);
	json_decref(before);
	json_decref(after);
}
END_TEST

START_TEST(test_reopen_with_different_keys_refused)
{
	struct store *s = open_store(), *sentinel = (struct store *)&s, *out = sentinel;
	char id[ID_HEX_LEN + 1], kpath2[sizeof(dir) + 16];
	struct keys *other = NULL;
	json_t *o = NULL;

	create_named(s, "Acme", id);
	store_close(s);

	snprintf(kpath2, sizeof(kpath2), "%s/other-keyring", dir);
	ck_assert_int_eq(keyring_create(kpath2, PASS, strlen(PASS), crypto_pwhash_OPSLIMIT_MIN,
					crypto_pwhash_MEMLIMIT_MIN, &other), 0);
	ck_assert_int_eq(store_open(dbpath, other, &out), -EACCES);
	ck_assert_ptr_eq(out, sentinel);
	/* A DEK differing in one bit is just as wrong. */
	memcpy(other->dek, keys->dek, DEK_BYTES);
	other->dek[DEK_BYTES - 1] ^= 0x01;
	ck_assert_int_eq(store_open(dbpath, other, &out), -EACCES);
	ck_assert_ptr_eq(out, sentinel);
	keys_free(other);

	/* The failed attempts did not harm the database. */
	s = open_store();
	ck_assert_int_eq(store_client_get(s, id, &o), 0);
	ck_assert_str_eq(str(o, "name"), "Acme");
	json_decref(o);
	store_close(s);
}
END_TEST

START_TEST(test_plaintext_database_refused)
{
	sqlite3 *db = NULL;
	struct store *s = NULL;

	/* An unkeyed SQLCipher connection writes an ordinary SQLite file. */
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(store_open(dbpath, keys, &s), -EACCES);
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_no_plaintext_in_database_or_wal)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *in = json_pack("{s:s, s:s, s:s, s:s}", "name", SECRET_NAME, "kind", "police",
			       "notes", SECRET_NOTES, "contact_email", "canary.person@example.org");
	json_t *ch = json_pack("{s:s}", "tier", "canary-tier-platinum");
	int64_t v = 0;
	unsigned char *buf;
	size_t len;
	char wal[sizeof(dbpath) + 8];

	ck_assert_int_eq(store_client_create(s, in, id), 0);
	ck_assert_int_eq(store_client_update(s, id, ch, 1, &v), 0);
	/* While open: the data sits in the WAL. */
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	buf = slurp(wal, &len);
	ck_assert_msg(buf != NULL && len > 0, "expected a WAL file while open");
	free(buf);
	expect_not_in_files(SECRET_NAME);
	expect_not_in_files(SECRET_NOTES);
	expect_not_in_files("canary.person@example.org");
	expect_not_in_files("canary-tier-platinum");
	expect_not_in_files(id);
	store_close(s);
	/* After close: checkpointed into the main file. */
	buf = slurp(dbpath, &len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_gt(len, 0);
	free(buf);
	expect_not_in_files(SECRET_NAME);
	expect_not_in_files(SECRET_NOTES);
	expect_not_in_files("canary-tier-platinum");
	expect_not_in_files("CREATE TABLE");
	json_decref(in);
	json_decref(ch);
}
END_TEST

START_TEST(test_database_uses_raw_dek_and_page_size_4096)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	sqlite3 *db;
	sqlite3_stmt *st;
	struct stat sb;

	create_named(s, "Raw Key Check", id);
	store_close(s);
	ck_assert_int_eq(stat(dbpath, &sb), 0);
	ck_assert_int_eq(sb.st_size % 4096, 0);

	/* The raw key literal and a 4096-byte page open it. */
	db = raw_open(keys, true);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT name FROM clients WHERE id = ?1", -1, &st,
					    NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "Raw Key Check");
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* SQLCipher's default page size does not. */
	db = raw_open(keys, false);
	ck_assert_int_ne(sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
}
END_TEST

START_TEST(test_database_from_newer_version_refused)
{
	struct store *s = open_store(), *out = NULL;
	sqlite3 *db;

	store_close(s);
	db = raw_open(keys, true);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO schema_migrations (version, name, applied_at) "
				      "VALUES (999, '999-future', 0)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(store_open(dbpath, keys, &out), -EPROTO);
	ck_assert_ptr_null(out);
}
END_TEST

/* --- create / get ----------------------------------------------------------- */

START_TEST(test_create_and_get_round_trip)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *o = NULL;
	int64_t n = 0;

	create(s, "{\"name\":\"Z\xc3\xbcrich Polizei\",\"kind\":\"police\",\"country\":\"CH\","
		  "\"contact_name\":\"Anna\",\"contact_email\":\"anna@example.ch\","
		  "\"contact_phone\":\"+41 44 123 45 67\",\"tier\":\"gold\","
		  "\"notes\":\"line 1\\nline 2\"}", id);
	ck_assert(is_lower_hex_id(id));
	ck_assert_int_eq(store_client_get(s, id, &o), 0);
	ck_assert_str_eq(str(o, "id"), id);
	ck_assert_str_eq(str(o, "name"), "Z\xc3\xbcrich Polizei");
	ck_assert_str_eq(str(o, "kind"), "police");
	ck_assert_str_eq(str(o, "country"), "CH");
	ck_assert_str_eq(str(o, "contact_name"), "Anna");
	ck_assert_str_eq(str(o, "contact_email"), "anna@example.ch");
	ck_assert_str_eq(str(o, "contact_phone"), "+41 44 123 45 67");
	ck_assert_str_eq(str(o, "tier"), "gold");
	ck_assert_str_eq(str(o, "notes"), "line 1\nline 2");
	ck_assert_str_eq(str(o, "status"), "active");     /* the default */
	ck_assert_int_eq(json_integer_value(json_object_get(o, "version")), 1);
	ck_assert(json_is_integer(json_object_get(o, "version")));
	/* RFC 3339 UTC, e.g. 2026-11-26T02:47:01Z. */
	ck_assert_ptr_nonnull(str(o, "created_at"));
	ck_assert_uint_eq(strlen(str(o, "created_at")), 20);
	ck_assert_int_eq(str(o, "created_at")[10], 'T');
	ck_assert_int_eq(str(o, "created_at")[19], 'Z');
	ck_assert_str_eq(str(o, "created_at"), str(o, "updated_at"));
	ck_assert_int_eq(store_client_count(s, &n), 0);
	ck_assert_int_eq(n, 1);
	json_decref(o);
	store_close(s);
}
END_TEST

START_TEST(test_unset_optional_fields_are_absent)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *o = NULL;
	static const char *const optional[] = {
		"country", "contact_name", "contact_email", "contact_phone", "tier", "notes",
	};

	/* Not given, and given as "" ("unset" on creation). */
	create(s, "{\"name\":\"Minimal\",\"kind\":\"other\",\"tier\":\"\",\"notes\":\"\"}", id);
	ck_assert_int_eq(store_client_get(s, id, &o), 0);
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
		ck_assert_msg(json_object_get(o, optional[i]) == NULL, "%s present", optional[i]);
	ck_assert_str_eq(str(o, "name"), "Minimal");
	json_decref(o);
	store_close(s);
}
END_TEST

START_TEST(test_create_with_status)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *o = NULL;

	create(s, "{\"name\":\"Old\",\"kind\":\"bank\",\"status\":\"closed\"}", id);
	ck_assert_int_eq(store_client_get(s, id, &o), 0);
	ck_assert_str_eq(str(o, "status"), "closed");
	json_decref(o);
	store_close(s);
}
END_TEST

START_TEST(test_created_ids_are_lower_hex_and_distinct)
{
	struct store *s = open_store();
	char ids[60][ID_HEX_LEN + 1];

	for (int i = 0; i < 60; i++) {
		create_named(s, "Same Name", ids[i]);
		ck_assert_msg(is_lower_hex_id(ids[i]), "bad id %s", ids[i]);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(ids[i], ids[j]);
	}
	store_close(s);
}
END_TEST

START_TEST(test_get_missing_is_enoent)
{
	struct store *s = open_store();
	json_t *sentinel = (json_t *)&s, *o = sentinel;
	char id[ID_HEX_LEN + 1];

	ck_assert_int_eq(store_client_get(s, "00000000000000000000000000000000", &o), -ENOENT);
	ck_assert_ptr_eq(o, sentinel);
	create_named(s, "Acme", id);
	/* Ids match exactly: not by prefix, not by case. */
	id[0] = id[0] == 'a' ? 'b' : 'a';
	ck_assert_int_eq(store_client_get(s, id, &o), -ENOENT);
	ck_assert_int_eq(store_client_get(s, "", &o), -ENOENT);
	ck_assert_int_eq(store_client_get(s, "%", &o), -ENOENT);
	ck_assert_ptr_eq(o, sentinel);
	store_close(s);
}
END_TEST

/* --- update / delete ---------------------------------------------------------- */

START_TEST(test_update_changes_given_fields_and_bumps_version)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *ch = json_pack("{s:s, s:s}", "tier", "silver", "status", "suspended");
	json_t *o = NULL;
	int64_t v = 0;

	create(s, "{\"name\":\"Acme\",\"kind\":\"bank\",\"country\":\"DE\",\"tier\":\"gold\"}", id);
	ck_assert_int_eq(store_client_update(s, id, ch, 1, &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(store_client_get(s, id, &o), 0);
	ck_assert_str_eq(str(o, "tier"), "silver");
	ck_assert_str_eq(str(o, "status"), "suspended");
	ck_assert_str_eq(str(o, "name"), "Acme");     /* not given: kept */
	ck_assert_str_eq(str(o, "kind"), "bank");
	ck_assert_str_eq(str(o, "country"), "DE");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "version")), 2);
	ck_assert_int_ge(strcmp(str(o, "updated_at"), str(o, "created_at")), 0);
	json_decref(o);
	json_decref(ch);

	ch = json_pack("{s:s}", "name", "Acme Renamed");
	ck_assert_int_eq(store_client_update(s, id, ch, 2, &v), 0);
	ck_assert_int_eq(v, 3);
	ck_assert_int_eq(store_client_get(s, id, &o), 0);
	ck_assert_str_eq(str(o, "name"), "Acme Renamed");
	ck_assert_str_eq(str(o, "tier"), "silver");
	json_decref(o);
	json_decref(ch);
	store_close(s);
}
END_TEST

START_TEST(test_update_with_stale_version_is_estale)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *ch = json_pack("{s:s}", "tier", "one"), *o = NULL;
	int64_t v = 0;

	create_named(s, "Acme", id);
	ck_assert_int_eq(store_client_update(s, id, ch, 1, &v), 0);
	ck_assert_int_eq(v, 2);
	/* A second writer still holding version 1. */
	json_decref(ch);
	ch = json_pack("{s:s}", "tier", "two");
	v = 0;
	ck_assert_int_eq(store_client_update(s, id, ch, 1, &v), -ESTALE);
	ck_assert_int_eq(v, 2);        /* the current version */
	v = 0;
	ck_assert_int_eq(store_client_update(s, id, ch, 3, &v), -ESTALE);   /* from the future */
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(store_client_get(s, id, &o), 0);
	ck_assert_str_eq(str(o, "tier"), "one");      /* unchanged */
	ck_assert_int_eq(json_integer_value(json_object_get(o, "version")), 2);
	json_decref(o);
	/* Retried with the current version, it goes through. */
	ck_assert_int_eq(store_client_update(s, id, ch, 2, &v), 0);
	ck_assert_int_eq(v, 3);
	json_decref(ch);
	store_close(s);
}
END_TEST

START_TEST(test_update_missing_id_is_enoent)
{
	struct store *s = open_store();
	json_t *ch = json_pack("{s:s}", "tier", "x");
	int64_t v = 4242;
	int64_t n = 0;

	ck_assert_int_eq(store_client_update(s, "0123456789abcdef0123456789abcdef", ch, 1, &v),
			 -ENOENT);
	ck_assert_int_eq(v, 4242);     /* untouched */
	ck_assert_int_eq(store_client_count(s, &n), 0);
	ck_assert_int_eq(n, 0);        /* nothing was created either */
	/* The store still works: the transaction was closed. */
	{
		char id[ID_HEX_LEN + 1];

		create_named(s, "After", id);
		ck_assert_int_eq(store_client_update(s, id, ch, 1, &v), 0);
	}
	json_decref(ch);
	store_close(s);
}
END_TEST

START_TEST(test_update_clearing_optional_field_removes_key)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *ch = json_pack("{s:s, s:s}", "country", "", "notes", ""), *o = NULL;
	int64_t v = 0;

	create(s, "{\"name\":\"Acme\",\"kind\":\"bank\",\"country\":\"DE\",\"notes\":\"keep?\","
		  "\"tier\":\"gold\"}", id);
	ck_assert_int_eq(store_client_update(s, id, ch, 1, &v), 0);
	ck_assert_int_eq(store_client_get(s, id, &o), 0);
	ck_assert_ptr_null(json_object_get(o, "country"));
	ck_assert_ptr_null(json_object_get(o, "notes"));
	ck_assert_str_eq(str(o, "tier"), "gold");        /* not mentioned: kept */
	ck_assert_str_eq(str(o, "name"), "Acme");
	json_decref(o);
	json_decref(ch);
	store_close(s);
}
END_TEST

START_TEST(test_delete_and_delete_missing)
{
	struct store *s = open_store();
	char a[ID_HEX_LEN + 1], b[ID_HEX_LEN + 1];
	json_t *o = NULL;
	int64_t n = 0, v = 0;

	create_named(s, "A", a);
	create_named(s, "B", b);
	ck_assert_int_eq(store_client_delete(s, a), 0);
	ck_assert_int_eq(store_client_get(s, a, &o), -ENOENT);
	ck_assert_int_eq(store_client_delete(s, a), -ENOENT);
	ck_assert_int_eq(store_client_delete(s, "ffffffffffffffffffffffffffffffff"), -ENOENT);
	ck_assert_int_eq(store_client_count(s, &n), 0);
	ck_assert_int_eq(n, 1);
	/* The other record is untouched. */
	ck_assert_int_eq(store_client_get(s, b, &o), 0);
	json_decref(o);
	/* A deleted record cannot be updated. */
	{
		json_t *ch = json_pack("{s:s}", "tier", "x");

		ck_assert_int_eq(store_client_update(s, a, ch, 1, &v), -ENOENT);
		json_decref(ch);
	}
	store_close(s);
}
END_TEST

/*
 * store_tx() runs statements prepared once, so each must still work after
 * the first use: a transaction rolled back leaves nothing, a savepoint
 * undone keeps what came before it, and a statement out of place (COMMIT
 * with no transaction, BEGIN inside one) fails cleanly and is ready again.
 */
START_TEST(test_store_tx_statements_are_reusable)
{
	struct store *s = open_store();
	char a[ID_HEX_LEN + 1], b[ID_HEX_LEN + 1], c[ID_HEX_LEN + 1];
	json_t *o = NULL;
	int64_t n = -1;

	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(store_tx(s, STORE_BEGIN), 0);
		ck_assert(store_in_transaction(s));
		create_named(s, "Rolled back", a);
		ck_assert_int_eq(store_tx(s, STORE_ROLLBACK), 0);
		ck_assert(!store_in_transaction(s));
		ck_assert_int_eq(store_client_get(s, a, &o), -ENOENT);
	}
	ck_assert_int_eq(store_tx(s, STORE_COMMIT), -EIO);      /* none open */
	ck_assert_int_eq(store_tx(s, STORE_ROLLBACK_TO), -EIO); /* no savepoint */

	ck_assert_int_eq(store_tx(s, STORE_BEGIN), 0);
	ck_assert_int_eq(store_tx(s, STORE_BEGIN), -EIO);       /* nested: refused, outer kept */
	ck_assert(store_in_transaction(s));
	create_named(s, "Kept", b);
	ck_assert_int_eq(store_tx(s, STORE_SAVEPOINT), 0);
	create_named(s, "Undone", c);
	ck_assert_int_eq(store_tx(s, STORE_ROLLBACK_TO), 0);
	ck_assert_int_eq(store_tx(s, STORE_RELEASE), 0);
	ck_assert(store_in_transaction(s));
	ck_assert_int_eq(store_tx(s, STORE_COMMIT), 0);
	ck_assert(!store_in_transaction(s));
	ck_assert_int_eq(store_tx(s, (enum store_tx)99), -EINVAL);

	ck_assert_int_eq(store_client_get(s, b, &o), 0);
	json_decref(o);
	ck_assert_int_eq(store_client_get(s, c, &o), -ENOENT);
	ck_assert_int_eq(store_client_count(s, &n), 0);
	ck_assert_int_eq(n, 1);
	store_close(s);
}
END_TEST

/* --- search ----------------------------------------------------------------- */

/* Search and return the names found, joined by '|', in order. */
static void search_names(struct store *s, const char *q, int limit, char *out, size_t size)
{
	json_t *arr = NULL, *o;
	size_t i;

	out[0] = '\0';
	ck_assert_int_eq(store_client_search(s, q, limit, &arr), 0);
	ck_assert(json_is_array(arr));
	json_array_foreach(arr, i, o) {
		if (i > 0)
			strncat(out, "|", size - strlen(out) - 1);
		strncat(out, str(o, "name"), size - strlen(out) - 1);
	}
	json_decref(arr);
}

START_TEST(test_search_is_case_insensitive_and_ordered)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1], got[512];

	create_named(s, "ACME Bank", id);
	create_named(s, "acme insurance", id);
	create_named(s, "Other", id);
	create_named(s, "The Acme Group", id);
	search_names(s, "acme", 20, got, sizeof(got));
	ck_assert_str_eq(got, "ACME Bank|acme insurance|The Acme Group");
	search_names(s, "ACME", 20, got, sizeof(got));
	ck_assert_str_eq(got, "ACME Bank|acme insurance|The Acme Group");
	search_names(s, "mE iN", 20, got, sizeof(got));
	ck_assert_str_eq(got, "acme insurance");
	search_names(s, "nothing like it", 20, got, sizeof(got));
	ck_assert_str_eq(got, "");
	/* The limit holds. */
	search_names(s, "acme", 2, got, sizeof(got));
	ck_assert_str_eq(got, "ACME Bank|acme insurance");
	store_close(s);
}
END_TEST

START_TEST(test_search_treats_like_metacharacters_literally)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1], got[512];

	create_named(s, "50% off", id);
	create_named(s, "500 off", id);
	create_named(s, "a_b", id);
	create_named(s, "axb", id);
	create_named(s, "back\\slash", id);
	create_named(s, "plain", id);

	search_names(s, "%", 20, got, sizeof(got));
	ck_assert_str_eq(got, "50% off");
	search_names(s, "0%", 20, got, sizeof(got));
	ck_assert_str_eq(got, "50% off");
	search_names(s, "50%", 20, got, sizeof(got));
	ck_assert_str_eq(got, "50% off");
	search_names(s, "_", 20, got, sizeof(got));
	ck_assert_str_eq(got, "a_b");
	search_names(s, "a_b", 20, got, sizeof(got));
	ck_assert_str_eq(got, "a_b");
	search_names(s, "\\", 20, got, sizeof(got));
	ck_assert_str_eq(got, "back\\slash");
	search_names(s, "k\\s", 20, got, sizeof(got));
	ck_assert_str_eq(got, "back\\slash");
	search_names(s, "\\%", 20, got, sizeof(got));
	ck_assert_str_eq(got, "");
	search_names(s, "%%", 20, got, sizeof(got));
	ck_assert_str_eq(got, "");
	store_close(s);
}
END_TEST

START_TEST(test_search_results_are_full_records)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *arr = NULL, *o = NULL;

	create(s, "{\"name\":\"Findme\",\"kind\":\"bank\",\"country\":\"FR\"}", id);
	ck_assert_int_eq(store_client_search(s, "findme", 10, &arr), 0);
	ck_assert_uint_eq(json_array_size(arr), 1);
	ck_assert_int_eq(store_client_get(s, id, &o), 0);
	ck_assert(json_equal(json_array_get(arr, 0), o));
	json_decref(o);
	json_decref(arr);
	store_close(s);
}
END_TEST

/* --- list ------------------------------------------------------------------ */

START_TEST(test_list_paginates_without_duplicates)
{
	struct store *s = open_store();
	char ids[25][ID_HEX_LEN + 1], after[ID_HEX_LEN + 1] = "", prev[ID_HEX_LEN + 1] = "";
	int seen = 0, pages = 0;
	bool more = true;

	for (int i = 0; i < 25; i++)
		create_named(s, "Paged", ids[i]);
	while (more) {
		json_t *arr = NULL, *o;
		size_t i;

		ck_assert_int_eq(store_client_list(s, pages ? after : NULL, 10, &arr, &more), 0);
		pages++;
		ck_assert_uint_eq(json_array_size(arr), pages < 3 ? 10 : 5);
		ck_assert_int_eq(more, pages < 3);
		json_array_foreach(arr, i, o) {
			const char *id = str(o, "id");
			int found = 0;

			/* Strictly ascending across pages: no duplicates, no going back. */
			ck_assert_int_gt(strcmp(id, prev), 0);
			snprintf(prev, sizeof(prev), "%s", id);
			for (int k = 0; k < 25; k++)
				found += strcmp(ids[k], id) == 0;
			ck_assert_int_eq(found, 1);
			seen++;
		}
		snprintf(after, sizeof(after), "%s", prev);
		json_decref(arr);
		ck_assert_int_le(pages, 3);
	}
	ck_assert_int_eq(pages, 3);
	ck_assert_int_eq(seen, 25);
	store_close(s);
}
END_TEST

START_TEST(test_list_more_flag_at_exact_boundaries)
{
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];
	json_t *arr = NULL;
	bool more = true;

	/* Empty store. */
	ck_assert_int_eq(store_client_list(s, NULL, 10, &arr, &more), 0);
	ck_assert_uint_eq(json_array_size(arr), 0);
	ck_assert(!more);
	json_decref(arr);

	for (int i = 0; i < 20; i++)
		create_named(s, "Boundary", id);
	ck_assert_int_eq(store_client_list(s, NULL, 20, &arr, &more), 0);
	ck_assert_uint_eq(json_array_size(arr), 20);
	ck_assert(!more);
	json_decref(arr);
	ck_assert_int_eq(store_client_list(s, NULL, 19, &arr, &more), 0);
	ck_assert_uint_eq(json_array_size(arr), 19);
	ck_assert(more);
	json_decref(arr);
	ck_assert_int_eq(store_client_list(s, NULL, 1000, &arr, &more), 0);
	ck_assert_uint_eq(json_array_size(arr), 20);
	ck_assert(!more);
	/* After the last id: nothing, and no more. */
	snprintf(id, sizeof(id), "%s", str(json_array_get(arr, 19), "id"));
	json_decref(arr);
	ck_assert_int_eq(store_client_list(s, id, 10, &arr, &more), 0);
	ck_assert_uint_eq(json_array_size(arr), 0);
	ck_assert(!more);
	json_decref(arr);
	store_close(s);
}
END_TEST

/* --- the writer's WAL policy (store_wal_restarts) ------------------------------ */

/*
 * store.c's thresholds, repeated here on purpose: the tests check the
 * numbers the policy promises, and a change to them should be a change to
 * these tests as well.
 */
#define WAL_RESTART_PAGES 8192
#define WAL_RESTART_BACKOFF_US 1000000
/* A WAL frame: the page plus its 24-byte header. */
#define WAL_FRAME_BYTES (4096 + 24)
/* Pages each test commit dirties: one 400 KB blob is ~100 overflow pages. */
#define FILL_PAGES 100
#define FILL_SQL "INSERT INTO filler (b) VALUES (randomblob(400000))"

static off_t wal_size(void)
{
	char p[sizeof(dbpath) + 8];
	struct stat st;

	snprintf(p, sizeof(p), "%s-wal", dbpath);
	return stat(p, &st) == 0 ? st.st_size : 0;
}

/* Frames in the WAL now, from a checkpoint that copies only what no reader needs. */
static int wal_frames(sqlite3 *db)
{
	sqlite3_stmt *st;
	int frames;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(PASSIVE)", -1, &st, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	frames = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	return frames;
}

/* Rows in filler as db sees it; -1 if the read failed (never asserted off the main thread). */
static int64_t count_filler(sqlite3 *db)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM filler", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/*
 * A short reader that overlaps every commit, as the loop's reads and the
 * shipper's do under load, made deterministic: before each commit it takes
 * a snapshot; it lets go READER_HOLD_US after the commit has become visible
 * (it watches through a second connection), and takes the next one only
 * when the next commit is about to start. So every commit ends while a
 * reader still needs an older snapshot: SQLite's PASSIVE checkpoint at the
 * end of the commit can never copy all of the WAL, the next transaction
 * never finds it fully copied, and without store_wal_restarts() the WAL
 * never starts again. A RESTART checkpoint that waits a little outlasts the
 * reader and succeeds.
 */
#define READER_HOLD_US 2000

struct overlap {
	pthread_t thread;
	sqlite3 *db, *watch;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int phase;              /* 0 idle, 1 take a snapshot, 2 holding, 3 let go, -1 stop */
	int failures;
	int64_t longest_us;     /* the longest snapshot read (BEGIN and the count) */
};

static void overlap_set(struct overlap *o, int phase)
{
	pthread_mutex_lock(&o->mu);
	o->phase = phase;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static void overlap_wait(struct overlap *o, int phase)
{
	pthread_mutex_lock(&o->mu);
	while (o->phase != phase && o->phase != -1)
		pthread_cond_wait(&o->cv, &o->mu);
	pthread_mutex_unlock(&o->mu);
}

static void *overlap_main(void *arg)
{
	struct overlap *o = arg;

	for (;;) {
		int64_t seen, t0;
		bool fail;

		overlap_wait(o, 1);
		if (o->phase == -1)
			break;
		t0 = now_usec();
		fail = sqlite3_exec(o->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
		       (seen = count_filler(o->db)) < 0;
		pthread_mutex_lock(&o->mu);
		o->failures += fail;
		if (now_usec() - t0 > o->longest_us)
			o->longest_us = now_usec() - t0;
		o->phase = 2;
		pthread_cond_broadcast(&o->cv);
		pthread_mutex_unlock(&o->mu);
		/* Until the commit shows, plus a little: the commit's own checkpoint has run by then. */
		while (!fail && count_filler(o->watch) == seen)
			usleep(100);
		usleep(READER_HOLD_US);
		if (sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			fail = true;
		pthread_mutex_lock(&o->mu);
		o->failures += fail;
		if (o->phase != -1)
			o->phase = 3;
		pthread_cond_broadcast(&o->cv);
		pthread_mutex_unlock(&o->mu);
	}
	return NULL;
}

static void overlap_start(struct overlap *o)
{
	memset(o, 0, sizeof(*o));
	o->db = raw_open(keys, true);
	o->watch = raw_open(keys, true);
	sqlite3_busy_timeout(o->db, 5000);
	sqlite3_busy_timeout(o->watch, 5000);
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	ck_assert_int_eq(pthread_create(&o->thread, NULL, overlap_main, o), 0);
}

static void overlap_stop(struct overlap *o)
{
	overlap_set(o, -1);
	ck_assert_int_eq(pthread_join(o->thread, NULL), 0);
	sqlite3_close(o->db);
	sqlite3_close(o->watch);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
}

/*
 * One commit of about FILL_PAGES pages on s, overlapped by o's reader when
 * o is not NULL; returns how long the commit took (µs).
 */
static int64_t fill_commit(struct store *s, struct overlap *o)
{
	int64_t t0, took;

	if (o != NULL) {
		overlap_set(o, 1);
		overlap_wait(o, 2);
	}
	t0 = now_usec();
	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE; " FILL_SQL "; COMMIT"), 0);
	took = now_usec() - t0;
	if (o != NULL)
		overlap_wait(o, 3);
	return took;
}

/* The audit writer's connection, as audit.c sets it up, with a table to fill. */
static struct store *open_writer(void)
{
	struct store *s = open_store();

	store_wal_restarts(s);
	ck_assert_int_eq(store_exec(s, "CREATE TABLE filler (b BLOB)"), 0);
	return s;
}

/*
 * Under reads that overlap every commit, commit four times the RESTART
 * threshold: the WAL file must stay near the threshold. Without the policy
 * it holds every frame written (about four times as many).
 */
START_TEST(test_wal_bounded_under_steady_reads)
{
	struct store *s = open_writer();
	struct overlap o;
	const int commits = 4 * WAL_RESTART_PAGES / FILL_PAGES;
	off_t max_wal = 0;
	/* One failed try (a reader descheduled for 20 ms) costs a second of growth: allow it. */
	const off_t bound = (off_t)2 * WAL_RESTART_PAGES * WAL_FRAME_BYTES;

	overlap_start(&o);
	for (int i = 0; i < commits; i++) {
		fill_commit(s, &o);
		if (wal_size() > max_wal)
			max_wal = wal_size();
	}
	overlap_stop(&o);
	ck_assert_int_eq(o.failures, 0);
	ck_assert_msg(max_wal <= bound,
		      "the WAL grew to %lld bytes (%lld frames) over %d commits of ~%d pages, each "
		      "overlapped by a short reader; the bound is %lld bytes", (long long)max_wal,
		      (long long)(max_wal / WAL_FRAME_BYTES), commits, FILL_PAGES, (long long)bound);
	store_close(s);
}
END_TEST

/*
 * A reader that is not short (a backup copying the database) holds its
 * snapshot across more than the RESTART threshold of commits. No commit
 * may wait for it longer than the policy's brief wait (20 ms, far from the
 * 5 s busy timeout of every other wait) nor pay that wait at every commit,
 * the reader must keep reading its snapshot undisturbed, and once it is gone the WAL must start again even though
 * short readers still overlap every commit.
 */
START_TEST(test_wal_long_reader_holds_up_no_commit_and_restart_follows)
{
	struct store *s = open_writer();
	sqlite3 *lr = raw_open(keys, true), *probe = raw_open(keys, true);
	struct overlap o;
	const int past = 30, phase1 = WAL_RESTART_PAGES / FILL_PAGES + past;
	int64_t worst = 0, t_end;
	int frames, commits2 = 0, waited = 0;

	/* The long reader: a snapshot taken before any filler was written. */
	ck_assert_int_eq(sqlite3_exec(lr, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(count_filler(lr), 0);
	for (int i = 0; i < phase1; i++) {
		int64_t took = fill_commit(s, NULL);

		if (took > worst)
			worst = took;
		/* Past the threshold, a commit that tried a RESTART waited its 20 ms. */
		if (i >= phase1 - past && took >= 20000)
			waited++;
	}
	/* The WAL could not start again: the long reader needs its first frames. */
	frames = wal_frames(probe);
	ck_assert_int_ge(frames, WAL_RESTART_PAGES);
	ck_assert_msg(worst < 1000000, "a commit waited %lld us for a long reader",
		      (long long)worst);
	/*
	 * After a try that failed, the writer leaves the WAL alone for a
	 * second: not every commit past the threshold may pay the wait. (A
	 * commit can be slow for other reasons on a busy machine, hence half.)
	 */
	ck_assert_msg(waited <= past / 2, "%d of the %d commits past the threshold waited >= 20 ms "
		      "for the long reader", waited, past);
	/* The long reader is not disturbed: it still reads its own snapshot. */
	ck_assert_int_eq(count_filler(lr), 0);
	ck_assert_int_eq(sqlite3_exec(lr, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lr);
	ck_assert_int_eq(count_filler(probe), phase1);

	/*
	 * Past the back-off the writer tries again, outlasts the short reader
	 * and the next commit starts the WAL from its beginning: the WAL then
	 * holds fewer frames than the threshold.
	 */
	overlap_start(&o);
	t_end = now_usec() + WAL_RESTART_BACKOFF_US + 500000;
	while (now_usec() < t_end || commits2 < 10) {
		fill_commit(s, &o);
		commits2++;
	}
	overlap_stop(&o);
	ck_assert_int_eq(o.failures, 0);
	ck_assert_int_eq(count_filler(probe), phase1 + commits2);
	frames = wal_frames(probe);
	ck_assert_msg(frames < WAL_RESTART_PAGES,
		      "the WAL still holds %d frames after the long reader ended and %d more commits",
		      frames, commits2);
	sqlite3_close(probe);
	store_close(s);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_creates_encrypted_database);
	tcase_add_test(tc, test_reopen_with_same_keys_keeps_data);
	tcase_add_test(tc, test_reopen_with_different_keys_refused);
	tcase_add_test(tc, test_plaintext_database_refused);
	tcase_add_test(tc, test_no_plaintext_in_database_or_wal);
	tcase_add_test(tc, test_database_uses_raw_dek_and_page_size_4096);
	tcase_add_test(tc, test_database_from_newer_version_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("crud");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_create_and_get_round_trip);
	tcase_add_test(tc, test_unset_optional_fields_are_absent);
	tcase_add_test(tc, test_create_with_status);
	tcase_add_test(tc, test_created_ids_are_lower_hex_and_distinct);
	tcase_add_test(tc, test_get_missing_is_enoent);
	tcase_add_test(tc, test_update_changes_given_fields_and_bumps_version);
	tcase_add_test(tc, test_update_with_stale_version_is_estale);
	tcase_add_test(tc, test_update_missing_id_is_enoent);
	tcase_add_test(tc, test_update_clearing_optional_field_removes_key);
	tcase_add_test(tc, test_delete_and_delete_missing);
	tcase_add_test(tc, test_store_tx_statements_are_reusable);
	suite_add_tcase(s, tc);

	tc = tcase_create("query");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_search_is_case_insensitive_and_ordered);
	tcase_add_test(tc, test_search_treats_like_metacharacters_literally);
	tcase_add_test(tc, test_search_results_are_full_records);
	tcase_add_test(tc, test_list_paginates_without_duplicates);
	tcase_add_test(tc, test_list_more_flag_at_exact_boundaries);
	suite_add_tcase(s, tc);

	tc = tcase_create("wal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_wal_bounded_under_steady_reads);
	tcase_add_test(tc, test_wal_long_reader_holds_up_no_commit_and_restart_follows);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failures;

	if (sodium_init() < 0)
		return 1;
	/*
	 * Every test works in its own directory under base. A failing test
	 * ends its process before its teardown, so base is removed here.
	 */
	snprintf(base, sizeof(base), "%s/test-store-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(base) == NULL)
		return 1;
	/* The store logs migrations at info level; keep the test output to errors. */
	log_set_level(LOG_LVL_ERR);
	sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_tree(base);
	return failures ? 1 : 0;
}
