/*
 * test-rotate.c: unit tests for the pieces of a key rotation below the
 * registry: store_rotate_copy() (the database copied under a new data key
 * and checked), store_probe(), and audit_verify() across key rolls of the
 * audit signing key. The whole rotation, with kills in the middle, is
 * tested end to end by tests/e2e/rotate.sh. Also audit_verify_path(), which
 * walks a long trail in two halves on two threads, against tampering in
 * either half and at the seam.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "daemon/audit.h"
#include "daemon/keys.h"
#include "daemon/log.h"
#include "daemon/store.h"
#include "lib/audit-hash.h"

static const char PASS[] = "correct horse battery staple";
/* Must never appear in plaintext in the copy. */
static const char SECRET_NAME[] = "Rotating Plaintext Canary Holdings";

static char base[PATH_MAX / 2];   /* made once in main() */
static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 16];
static char dstpath[PATH_MAX + 32];
static struct keys *keys;

static void setup(void)
{
	char kpath[sizeof(dir) + 16];

	snprintf(dir, sizeof(dir), "%s/t-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/%s", dir, STORE_FILE);
	snprintf(dstpath, sizeof(dstpath), "%s/%s.rotate", dir, STORE_FILE);
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

static struct store *open_store(const struct keys *k, const char *path)
{
	struct store *s = NULL;

	ck_assert_int_eq(store_open(path, k, &s), 0);
	return s;
}

/* Append one record to s's chain; its hash in out (for checkpoints). */
static void append(struct store *s, unsigned char out[32])
{
	struct audit_fields f = {
		.principal = "bootstrap", .role = "", .method = "io.roster.Clients.Get",
		.ids = "", .fields = "", .result = "ok", .error = "", .alert = "",
	};
	unsigned char prev[32];

	ck_assert_int_eq(store_audit_head(s, &f.seq, prev), 0);
	f.seq++;
	f.time_us = 1764132000000000 + f.seq;
	audit_hash(prev, &f, out);
	ck_assert_int_eq(store_audit_append(s, &f, prev, out), 0);
}

static int64_t head(struct store *s)
{
	unsigned char h[32];
	int64_t seq;

	ck_assert_int_eq(store_audit_head(s, &seq, h), 0);
	return seq;
}

static void checkpoint(struct store *s, const unsigned char *sk, const unsigned char *pk,
		       const unsigned char hash[32])
{
	unsigned char msg[AUDIT_CP_MSG_BYTES], sig[64];
	int64_t seq = head(s);

	audit_checkpoint_message(seq, hash, 7, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	ck_assert_int_eq(store_audit_checkpoint_add(s, seq, 7, hash, pk, sig), 0);
}

static void keyroll(struct store *s, const unsigned char *sk, const unsigned char *pk,
		    const unsigned char *next_pk, const unsigned char hash[32])
{
	unsigned char msg[AUDIT_KEYROLL_MSG_BYTES], sig[64];
	int64_t seq = head(s);

	audit_keyroll_message(seq, hash, 7, next_pk, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	ck_assert_int_eq(store_audit_keyroll_add(s, seq, 7, hash, pk, next_pk, sig), 0);
}

static struct audit_verify_result verify(const unsigned char *first, const unsigned char *current)
{
	struct audit_verify_result v;
	struct store *s = open_store(keys, dbpath);

	ck_assert_int_eq(audit_verify(s, (const unsigned char (*)[32])first, 1, current, &v), 0);
	store_close(s);
	return v;
}

/* Whether needle occurs in the file at path. */
static bool file_contains(const char *path, const char *needle)
{
	size_t n = strlen(needle), len = 0;
	char *buf = NULL;
	bool found = false;
	FILE *f = fopen(path, "rb");
	struct stat st;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	for (size_t i = 0; i + n <= len && !found; i++)
		found = memcmp(buf + i, needle, n) == 0;
	free(buf);
	return found;
}

/* --- the copy ------------------------------------------------------------- */

START_TEST(test_copy_is_under_the_new_key_and_whole)
{
	unsigned char next[DEK_BYTES], h[32];
	struct keys *nk;
	struct store *s;
	struct stat st;
	int64_t n = 0;
	json_t *got = NULL;
	char id[ID_HEX_LEN + 1];

	s = open_store(keys, dbpath);
	for (int i = 0; i < 50; i++) {
		json_t *in = json_pack("{s:s, s:s}", "name", i == 7 ? SECRET_NAME : "Acme",
				       "kind", "bank");

		ck_assert_int_eq(store_client_create(s, in, id), 0);
		json_decref(in);
		append(s, h);
	}
	checkpoint(s, keys->sign_sk, keys->sign_pk, h);
	store_close(s);

	randombytes_buf(next, sizeof(next));
	ck_assert_int_eq(store_rotate_copy(dbpath, keys, next, dstpath), 0);
	ck_assert_int_eq(stat(dstpath, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* No plaintext in the copy, and it opens under the new key only. */
	ck_assert(!file_contains(dstpath, SECRET_NAME));
	ck_assert_int_eq(store_probe(dstpath, keys), -EACCES);
	nk = keys_dup(keys);
	memcpy(nk->dek, next, DEK_BYTES);
	ck_assert_int_eq(store_probe(dstpath, nk), 0);
	s = open_store(nk, dstpath);
	ck_assert_int_eq(store_client_count(s, &n), 0);
	ck_assert_int_eq(n, 50);
	ck_assert_int_eq(head(s), 50);
	ck_assert_int_eq(store_client_get(s, id, &got), 0);
	ck_assert_str_eq(json_string_value(json_object_get(got, "kind")), "bank");
	json_decref(got);
	store_close(s);
	/* The chain verifies in the copy as it did in the source. */
	{
		struct audit_verify_result v;

		s = open_store(nk, dstpath);
		ck_assert_int_eq(audit_verify(s, (const unsigned char (*)[32])keys->sign_pk, 1,
					      keys->sign_pk, &v), 0);
		ck_assert(v.ok);
		ck_assert_int_eq(v.records, 50);
		ck_assert_int_eq(v.checkpoints, 1);
		store_close(s);
	}
	/* The source is untouched and still under the old key. */
	ck_assert_int_eq(store_probe(dbpath, keys), 0);
	ck_assert_int_eq(store_probe(dbpath, nk), -EACCES);
	keys_free(nk);
	/* A copy that is already there is never overwritten. */
	ck_assert_int_eq(store_rotate_copy(dbpath, keys, next, dstpath), -EEXIST);
	store_rotate_discard(dstpath);
	ck_assert_int_eq(access(dstpath, F_OK), -1);
}
END_TEST

START_TEST(test_copy_fails_cleanly_under_a_wrong_source_key)
{
	unsigned char next[DEK_BYTES];
	struct keys *wrong = keys_dup(keys);
	struct store *s = open_store(keys, dbpath);

	store_close(s);
	randombytes_buf(wrong->dek, DEK_BYTES);
	randombytes_buf(next, sizeof(next));
	ck_assert_int_eq(store_rotate_copy(dbpath, wrong, next, dstpath), -EACCES);
	/* Nothing is left behind. */
	ck_assert_int_eq(access(dstpath, F_OK), -1);
	keys_free(wrong);
}
END_TEST

/* --- key rolls ------------------------------------------------------------ */

START_TEST(test_key_roll_carries_trust_to_the_next_key)
{
	unsigned char pk1[32], sk1[64], h[32];
	struct audit_verify_result v;
	struct store *s = open_store(keys, dbpath);

	crypto_sign_keypair(pk1, sk1);
	for (int i = 0; i < 5; i++)
		append(s, h);
	checkpoint(s, keys->sign_sk, keys->sign_pk, h);
	append(s, h);
	keyroll(s, keys->sign_sk, keys->sign_pk, pk1, h);
	for (int i = 0; i < 5; i++)
		append(s, h);
	checkpoint(s, sk1, pk1, h);
	store_close(s);

	/* From the first key, through the roll, to the key in use. */
	v = verify(keys->sign_pk, pk1);
	ck_assert_msg(v.ok, "%s", v.problem);
	ck_assert_int_eq(v.records, 11);
	ck_assert_int_eq(v.checkpoints, 3);
	/* The new key alone does not vouch for the old checkpoints. */
	v = verify(pk1, pk1);
	ck_assert(!v.ok);
	ck_assert_int_eq(v.first_bad, 5);
	/* A key in use that no roll announced is reported. */
	{
		unsigned char pk2[32], sk2[64];

		crypto_sign_keypair(pk2, sk2);
		v = verify(keys->sign_pk, pk2);
		ck_assert(!v.ok);
		ck_assert_ptr_nonnull(strstr(v.problem, "never announced"));
	}
}
END_TEST

START_TEST(test_forged_key_roll_refused)
{
	unsigned char pk1[32], sk1[64], pk2[32], sk2[64], h[32];
	struct audit_verify_result v;
	struct store *s = open_store(keys, dbpath);

	crypto_sign_keypair(pk1, sk1);
	crypto_sign_keypair(pk2, sk2);
	for (int i = 0; i < 3; i++)
		append(s, h);
	checkpoint(s, keys->sign_sk, keys->sign_pk, h);
	append(s, h);
	/* A thief with a key of their own "rolls" to it: signed by an untrusted key. */
	keyroll(s, sk2, pk2, pk1, h);
	append(s, h);
	checkpoint(s, sk1, pk1, h);
	store_close(s);
	v = verify(keys->sign_pk, NULL);
	ck_assert(!v.ok);
	ck_assert_int_eq(v.first_bad, 4);
}
END_TEST

/*
 * A retired key that is stolen: once the key a roll named has signed, the
 * old key's checkpoints after the roll are refused (the daemon's verifier
 * applies the same rule as the offline one, lib/audit-trust.c).
 */
START_TEST(test_retired_key_signs_nothing_after_its_roll)
{
	unsigned char pk1[32], sk1[64], h[32];
	struct audit_verify_result v;
	struct store *s = open_store(keys, dbpath);

	crypto_sign_keypair(pk1, sk1);
	for (int i = 0; i < 3; i++)
		append(s, h);
	keyroll(s, keys->sign_sk, keys->sign_pk, pk1, h);
	/* Before the new key signs, the old one still counts (a crash before the keyring). */
	append(s, h);
	checkpoint(s, keys->sign_sk, keys->sign_pk, h);
	append(s, h);
	checkpoint(s, sk1, pk1, h);
	store_close(s);
	v = verify(keys->sign_pk, pk1);
	ck_assert_msg(v.ok, "%s", v.problem);
	ck_assert_int_eq(v.checkpoints, 3);

	s = open_store(keys, dbpath);
	append(s, h);
	checkpoint(s, keys->sign_sk, keys->sign_pk, h);
	store_close(s);
	v = verify(keys->sign_pk, pk1);
	ck_assert(!v.ok);
	ck_assert_int_eq(v.first_bad, 6);
	ck_assert_ptr_nonnull(strstr(v.problem, "retired"));
}
END_TEST

START_TEST(test_key_roll_with_altered_next_key_refused)
{
	unsigned char pk1[32], sk1[64], h[32];
	struct audit_verify_result v;
	struct store *s = open_store(keys, dbpath);

	crypto_sign_keypair(pk1, sk1);
	append(s, h);
	keyroll(s, keys->sign_sk, keys->sign_pk, pk1, h);
	append(s, h);
	checkpoint(s, sk1, pk1, h);
	/* Swap the named key for another after signing: the signature no longer covers it. */
	pk1[0] ^= 1;
	ck_assert_int_eq(store_exec(s, "UPDATE audit_checkpoints SET next_pubkey = "
				       "randomblob(32) WHERE next_pubkey IS NOT NULL"), 0);
	store_close(s);
	v = verify(keys->sign_pk, NULL);
	ck_assert(!v.ok);
	ck_assert_int_eq(v.first_bad, 1);
	ck_assert_ptr_nonnull(strstr(v.problem, "key roll"));
}
END_TEST

/* --- the trail walked in two halves ------------------------------------------ */

#define LONG_TRAIL 30000        /* over AUDIT_VERIFY_SPLIT_MIN: two threads */

/* A trail of LONG_TRAIL records with a checkpoint every 1000, then sql applied to it. */
static struct audit_verify_result long_trail(const char *sql)
{
	struct audit_verify_result v;
	unsigned char h[32];
	struct store *s = open_store(keys, dbpath);

	ck_assert_int_eq(store_exec(s, "BEGIN"), 0);
	for (int i = 1; i <= LONG_TRAIL; i++) {
		append(s, h);
		if (i % 1000 == 0)
			checkpoint(s, keys->sign_sk, keys->sign_pk, h);
	}
	ck_assert_int_eq(store_exec(s, "COMMIT"), 0);
	if (sql != NULL)
		ck_assert_int_eq(store_exec(s, sql), 0);
	store_close(s);
	memset(&v, 0x5a, sizeof(v));
	ck_assert_int_eq(audit_verify_path(dbpath, keys, &v), 0);
	return v;
}

START_TEST(test_halves_verify_a_whole_trail)
{
	struct audit_verify_result v = long_trail(NULL);

	ck_assert_msg(v.ok, "%s", v.problem);
	ck_assert_int_eq(v.records, LONG_TRAIL);
	ck_assert_int_eq(v.checkpoints, LONG_TRAIL / 1000);
}
END_TEST

START_TEST(test_halves_find_an_edit_in_the_second_half)
{
	struct audit_verify_result v = long_trail("UPDATE audit SET principal = 'mallory' "
						  "WHERE seq = 25000");

	ck_assert(!v.ok);
	ck_assert_int_eq(v.first_bad, 25000);
}
END_TEST

START_TEST(test_halves_find_the_first_of_two_edits)
{
	struct audit_verify_result v = long_trail("UPDATE audit SET records = 99 "
						  "WHERE seq IN (5000, 25000)");

	ck_assert(!v.ok);
	ck_assert_int_eq(v.first_bad, 5000);
}
END_TEST

START_TEST(test_halves_find_a_deletion_at_the_seam)
{
	/* The second half starts at LONG_TRAIL / 2 + 1. */
	struct audit_verify_result v = long_trail("DELETE FROM audit WHERE seq = 15001");

	ck_assert(!v.ok);
	ck_assert_int_eq(v.first_bad, 15001);
}
END_TEST

START_TEST(test_halves_find_a_broken_link_at_the_seam)
{
	/*
	 * The second half's first record names another predecessor, with its
	 * own hash made to match: only the stitching of the halves sees it.
	 */
	struct audit_verify_result v;
	struct store *s;
	unsigned char prev[32], h[32];
	struct audit_fields f = {
		.seq = 15001, .principal = "bootstrap", .role = "", .method = "io.roster.Clients.Get",
		.ids = "", .fields = "", .result = "ok", .error = "", .alert = "",
	};
	char sql[256], hex[65];

	v = long_trail(NULL);
	ck_assert(v.ok);
	f.time_us = 1764132000000000 + f.seq;
	memset(prev, 0xee, sizeof(prev));
	audit_hash(prev, &f, h);
	s = open_store(keys, dbpath);
	sodium_bin2hex(hex, sizeof(hex), prev, 32);
	snprintf(sql, sizeof(sql), "UPDATE audit SET prev_hash = x'%s' WHERE seq = 15001", hex);
	ck_assert_int_eq(store_exec(s, sql), 0);
	sodium_bin2hex(hex, sizeof(hex), h, 32);
	snprintf(sql, sizeof(sql), "UPDATE audit SET hash = x'%s' WHERE seq = 15001", hex);
	ck_assert_int_eq(store_exec(s, sql), 0);
	store_close(s);
	ck_assert_int_eq(audit_verify_path(dbpath, keys, &v), 0);
	ck_assert(!v.ok);
	ck_assert_int_eq(v.first_bad, 15001);
}
END_TEST

START_TEST(test_halves_find_a_truncated_tail)
{
	struct audit_verify_result v = long_trail("DELETE FROM audit WHERE seq > 29500");

	ck_assert(!v.ok);
	ck_assert_int_eq(v.first_bad, 30000);   /* the checkpoint that covers what is gone */
}
END_TEST

static Suite *rotate_suite(void)
{
	Suite *s = suite_create("rotate");
	TCase *tc;

	tc = tcase_create("copy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_copy_is_under_the_new_key_and_whole);
	tcase_add_test(tc, test_copy_fails_cleanly_under_a_wrong_source_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("keyroll");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_key_roll_carries_trust_to_the_next_key);
	tcase_add_test(tc, test_forged_key_roll_refused);
	tcase_add_test(tc, test_retired_key_signs_nothing_after_its_roll);
	tcase_add_test(tc, test_key_roll_with_altered_next_key_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("halves");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_halves_verify_a_whole_trail);
	tcase_add_test(tc, test_halves_find_an_edit_in_the_second_half);
	tcase_add_test(tc, test_halves_find_the_first_of_two_edits);
	tcase_add_test(tc, test_halves_find_a_deletion_at_the_seam);
	tcase_add_test(tc, test_halves_find_a_broken_link_at_the_seam);
	tcase_add_test(tc, test_halves_find_a_truncated_tail);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failures;

	if (sodium_init() < 0)
		return 1;
	snprintf(base, sizeof(base), "%s/test-rotate-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(base) == NULL)
		return 1;
	/* Errors only: the wrong keys tried on purpose are logged as such. */
	log_set_level(LOG_LVL_ERR);
	sr = srunner_create(rotate_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_tree(base);
	return failures ? 1 : 0;
}
