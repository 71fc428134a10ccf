/*
 * test-keys.c: unit tests for daemon/keys.c, the keyring. Every keyring here
 * uses the cheapest Argon2id cost libsodium allows, in a private temporary
 * directory. Covers the round trip, wrong passphrases, every single-bit
 * flip of the file, altered headers with a recomputed checksum, size,
 * magic, version, file mode and symlink checks, and the documented layout
 * (checked by unwrapping a keyring independently of keys.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "daemon/backup.h"
#include "daemon/keys.h"

#define OPS crypto_pwhash_OPSLIMIT_MIN
#define MEM crypto_pwhash_MEMLIMIT_MIN

static const char PASS[] = "correct horse battery staple";

/* Per test (each runs in its own process, or sequentially with CK_FORK=no). */
static char base[PATH_MAX / 2];   /* made once in main() */
static char dir[PATH_MAX];
static char kpath[PATH_MAX + 16];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s/t-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(kpath, sizeof(kpath), "%s/%s", dir, KEYRING_FILE);
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
	rm_tree(dir);
}

/* --- helpers ------------------------------------------------------------ */

static struct keys *create_default(void)
{
	struct keys *k = NULL;

	ck_assert_int_eq(keyring_create(kpath, PASS, strlen(PASS), OPS, MEM, &k), 0);
	ck_assert_ptr_nonnull(k);
	return k;
}

static size_t read_all(const char *path, unsigned char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, size);
	ck_assert_int_ge(n, 0);
	close(fd);
	return (size_t)n;
}

static void write_all(const char *path, const unsigned char *buf, size_t len, mode_t mode)
{
	int fd;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * The documented layouts (keys.h), written out here rather than taken from
 * keys.c, so that the tests read the format independently of the code.
 */
#define V2_OFF_FLAGS 104
#define V2_OFF_NRETIRED 108
#define V2_OFF_RETIRED 112
#define V2_OFF_CT 624
#define V2_PT_LEN (32 + 64 + 32 + 32)
#define V2_CT_LEN (V2_PT_LEN + 16)
#define V2_OFF_SUM 800
#define V1_OFF_CT 104
#define V1_CT_LEN 112
#define V1_OFF_SUM 216

/* Recompute the trailing BLAKE2b-256 of a format-2 keyring, as a careful forger would. */
static void fix_checksum(unsigned char *buf)
{
	crypto_generichash(buf + V2_OFF_SUM, 32, buf, V2_OFF_SUM, NULL, 0);
}

static void fix_checksum_v1(unsigned char *buf)
{
	crypto_generichash(buf + V1_OFF_SUM, 32, buf, V1_OFF_SUM, NULL, 0);
}

/* Unlock the file at kpath with PASS; assert the result; the keys must not leak out on failure. */
static void expect_unlock(int want)
{
	struct keys *sentinel = (struct keys *)&want, *k = sentinel;
	int r = keyring_unlock(kpath, PASS, strlen(PASS), &k);

	ck_assert_msg(r == want, "keyring_unlock gave %d (%s), want %d (%s)", r, strerror(-r),
		      want, strerror(-want));
	if (want < 0)
		ck_assert_ptr_eq(k, sentinel);
	else
		keys_free(k);
}

/* Write orig back with n bytes at off replaced, the checksum recomputed if asked. */
static void rewrite_with(const unsigned char *orig, size_t off, const unsigned char *bytes,
			 size_t n, int recompute)
{
	unsigned char buf[KEYRING_SIZE];

	memcpy(buf, orig, KEYRING_SIZE);
	memcpy(buf + off, bytes, n);
	if (recompute)
		fix_checksum(buf);
	write_all(kpath, buf, KEYRING_SIZE, 0600);
}

/* --- round trip ------------------------------------------------------------ */

START_TEST(test_create_then_unlock_gives_identical_keys)
{
	struct keys *k1 = create_default(), *k2 = NULL;
	static const unsigned char zero[DEK_BYTES];
	unsigned char sig[crypto_sign_BYTES];
	struct stat st;

	ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &k2), 0);
	ck_assert_ptr_nonnull(k2);
	ck_assert_mem_eq(k1->dek, k2->dek, DEK_BYTES);
	ck_assert_mem_eq(k1->sign_sk, k2->sign_sk, 64);
	ck_assert_mem_eq(k1->sign_pk, k2->sign_pk, 32);
	ck_assert(memcmp(k1->dek, zero, DEK_BYTES) != 0);
	/* The signing pair works. */
	crypto_sign_detached(sig, NULL, (const unsigned char *)"audit", 5, k2->sign_sk);
	ck_assert_int_eq(crypto_sign_verify_detached(sig, (const unsigned char *)"audit", 5,
						     k1->sign_pk), 0);
	/* The file: exactly KEYRING_SIZE bytes, 0600, and no temporary left behind. */
	ck_assert_int_eq(lstat(kpath, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_size, KEYRING_SIZE);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	{
		char tmp[sizeof(kpath) + 8];

		snprintf(tmp, sizeof(tmp), "%s.tmp", kpath);
		ck_assert_int_eq(access(tmp, F_OK), -1);
	}
	keys_free(k1);
	keys_free(k2);
}
END_TEST

START_TEST(test_create_mode_0600_even_with_permissive_umask)
{
	mode_t old = umask(0);
	struct keys *k = create_default();
	struct stat st;

	umask(old);
	ck_assert_int_eq(stat(kpath, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	keys_free(k);
}
END_TEST

START_TEST(test_two_keyrings_have_different_keys_and_salts)
{
	unsigned char a[KEYRING_SIZE], b[KEYRING_SIZE];
	struct keys *k1 = create_default(), *k2;

	ck_assert_uint_eq(read_all(kpath, a, sizeof(a)), KEYRING_SIZE);
	k2 = create_default();
	ck_assert_uint_eq(read_all(kpath, b, sizeof(b)), KEYRING_SIZE);
	ck_assert(memcmp(k1->dek, k2->dek, DEK_BYTES) != 0);
	ck_assert(memcmp(k1->sign_pk, k2->sign_pk, 32) != 0);
	ck_assert(memcmp(a + 32, b + 32, 16) != 0);     /* salt */
	ck_assert(memcmp(a + 48, b + 48, 24) != 0);     /* nonce */
	keys_free(k1);
	keys_free(k2);
}
END_TEST

START_TEST(test_layout_matches_header_and_unwraps_independently)
{
	struct keys *k = create_default();
	unsigned char buf[KEYRING_SIZE], sum[32], kek[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char pt[V2_PT_LEN];
	static const unsigned char zero[KEYRING_RETIRED_MAX * 32];
	unsigned long long ptlen = 0;
	struct keyring_hdr h;

	ck_assert_uint_eq(KEYRING_SIZE, V2_OFF_SUM + 32);
	ck_assert_uint_eq(read_all(kpath, buf, sizeof(buf)), KEYRING_SIZE);
	ck_assert_mem_eq(buf, KEYRING_MAGIC, 8);
	ck_assert_uint_eq(get_be(buf + 8, 4), 2);
	ck_assert_uint_eq(get_be(buf + 12, 4), crypto_pwhash_ALG_ARGON2ID13);
	ck_assert_uint_eq(get_be(buf + 16, 8), OPS);
	ck_assert_uint_eq(get_be(buf + 24, 8), MEM);
	ck_assert_mem_eq(buf + 72, k->sign_pk, 32);
	ck_assert_uint_eq(get_be(buf + V2_OFF_FLAGS, 4), 0);            /* no rotation pending */
	ck_assert_uint_eq(get_be(buf + V2_OFF_NRETIRED, 4), 0);
	ck_assert_mem_eq(buf + V2_OFF_RETIRED, zero, sizeof(zero));
	crypto_generichash(sum, sizeof(sum), buf, V2_OFF_SUM, NULL, 0);
	ck_assert_mem_eq(buf + V2_OFF_SUM, sum, 32);

	/* Parsed header agrees with the bytes. */
	ck_assert_int_eq(keyring_parse(buf, sizeof(buf), &h), 0);
	ck_assert_uint_eq(h.version, KEYRING_VERSION);
	ck_assert_uint_eq(h.alg, crypto_pwhash_ALG_ARGON2ID13);
	ck_assert_uint_eq(h.opslimit, OPS);
	ck_assert_uint_eq(h.memlimit, MEM);
	ck_assert_mem_eq(h.salt, buf + 32, 16);
	ck_assert_mem_eq(h.nonce, buf + 48, 24);
	ck_assert_mem_eq(h.sign_pk, buf + 72, 32);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(h.n_retired, 0);
	ck_assert_uint_eq(h.size, KEYRING_SIZE);

	/* Unwrap with nothing but the documented format: Argon2id, XChaCha20-Poly1305, AD = 0..623. */
	ck_assert_int_eq(crypto_pwhash(kek, sizeof(kek), PASS, strlen(PASS), buf + 32, OPS, MEM,
				       crypto_pwhash_ALG_ARGON2ID13), 0);
	ck_assert_int_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL, buf + V2_OFF_CT,
								    V2_CT_LEN, buf, V2_OFF_CT,
								    buf + 48, kek), 0);
	ck_assert_uint_eq(ptlen, V2_PT_LEN);
	ck_assert_mem_eq(pt, k->dek, DEK_BYTES);
	ck_assert_mem_eq(pt + DEK_BYTES, k->sign_sk, 64);
	ck_assert_mem_eq(pt + DEK_BYTES + 64, k->token_key, 32);
	ck_assert_mem_eq(pt + DEK_BYTES + 96, zero, 32);                /* no next DEK */
	sodium_memzero(pt, sizeof(pt));
	sodium_memzero(kek, sizeof(kek));
	keys_free(k);
}
END_TEST

START_TEST(test_keyring_check_reads_header_without_passphrase)
{
	struct keys *k = create_default();
	struct keyring_hdr h;

	ck_assert_int_eq(keyring_check(kpath, &h), 0);
	ck_assert_mem_eq(h.sign_pk, k->sign_pk, 32);
	ck_assert_uint_eq(h.opslimit, OPS);
	ck_assert_int_eq(chmod(kpath, 0644), 0);
	ck_assert_int_eq(keyring_check(kpath, &h), -EPERM);
	keys_free(k);
}
END_TEST

START_TEST(test_dek_pragma_is_raw_key_literal)
{
	struct keys *k = create_default();
	char *s = keys_dek_pragma(k);
	char hex[DEK_BYTES * 2 + 1];

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), 2 + DEK_BYTES * 2 + 1);
	ck_assert_int_eq(s[0], 'x');
	ck_assert_int_eq(s[1], '\'');
	ck_assert_int_eq(s[2 + DEK_BYTES * 2], '\'');
	sodium_bin2hex(hex, sizeof(hex), k->dek, DEK_BYTES);
	ck_assert_mem_eq(s + 2, hex, DEK_BYTES * 2);
	for (size_t i = 2; i < 2 + DEK_BYTES * 2; i++)
		ck_assert(strchr("0123456789abcdef", s[i]) != NULL);
	sodium_free(s);
	keys_free(k);
	keys_free(NULL);       /* no-op */
}
END_TEST

/* --- passphrases ------------------------------------------------------------- */

START_TEST(test_wrong_passphrase_refused)
{
	struct keys *k = create_default(), *sentinel = (struct keys *)&k, *out = sentinel;
	static const char wrong[] = "correct horse battery stapler";

	ck_assert_int_eq(keyring_unlock(kpath, wrong, strlen(wrong), &out), -EACCES);
	ck_assert_ptr_eq(out, sentinel);
	/* A prefix of the right passphrase is a different passphrase. */
	ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS) - 1, &out), -EACCES);
	/* Case matters. */
	ck_assert_int_eq(keyring_unlock(kpath, "CORRECT HORSE BATTERY STAPLE", strlen(PASS), &out),
			 -EACCES);
	ck_assert_ptr_eq(out, sentinel);
	/* And the right one still works afterwards. */
	ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &out), 0);
	ck_assert_mem_eq(out->dek, k->dek, DEK_BYTES);
	keys_free(out);
	keys_free(k);
}
END_TEST

START_TEST(test_passphrase_with_nul_bytes_uses_full_length)
{
	static const char p1[] = "twelve bytes\0and more";
	static const char p2[] = "twelve bytes\0and MORE";
	struct keys *k = NULL, *out = NULL;

	ck_assert_int_eq(keyring_create(kpath, p1, sizeof(p1) - 1, OPS, MEM, &k), 0);
	ck_assert_int_eq(keyring_unlock(kpath, p2, sizeof(p2) - 1, &out), -EACCES);
	ck_assert_int_eq(keyring_unlock(kpath, p1, sizeof(p1) - 1, &out), 0);
	keys_free(out);
	keys_free(k);
}
END_TEST

START_TEST(test_create_refuses_short_and_long_passphrases)
{
	char longp[PASSPHRASE_MAX + 2];
	struct keys *sentinel = (struct keys *)&sentinel, *k = sentinel;

	memset(longp, 'p', sizeof(longp));
	ck_assert_int_eq(keyring_create(kpath, "short", 5, OPS, MEM, &k), -EINVAL);
	ck_assert_int_eq(keyring_create(kpath, "elevenbytes", PASSPHRASE_MIN - 1, OPS, MEM, &k),
			 -EINVAL);
	ck_assert_int_eq(keyring_create(kpath, "", 0, OPS, MEM, &k), -EINVAL);
	ck_assert_int_eq(keyring_create(kpath, longp, PASSPHRASE_MAX + 1, OPS, MEM, &k), -EINVAL);
	ck_assert_ptr_eq(k, sentinel);
	ck_assert_int_eq(access(kpath, F_OK), -1);      /* nothing written */

	/* The bounds themselves are fine. */
	ck_assert_int_eq(keyring_create(kpath, "twelve bytes", PASSPHRASE_MIN, OPS, MEM, &k), 0);
	keys_free(k);
	ck_assert_int_eq(keyring_create(kpath, longp, PASSPHRASE_MAX, OPS, MEM, &k), 0);
	keys_free(k);
	k = NULL;
	ck_assert_int_eq(keyring_unlock(kpath, longp, PASSPHRASE_MAX, &k), 0);
	keys_free(k);
	/* One byte past the maximum never unlocks. */
	k = sentinel;
	ck_assert_int_eq(keyring_unlock(kpath, longp, PASSPHRASE_MAX + 1, &k), -EACCES);
	ck_assert_ptr_eq(k, sentinel);
}
END_TEST

/* --- damage ---------------------------------------------------------------- */

START_TEST(test_every_single_bit_flip_is_bad_message)
{
	struct keys *k = create_default();
	unsigned char orig[KEYRING_SIZE], buf[KEYRING_SIZE];

	ck_assert_uint_eq(read_all(kpath, orig, sizeof(orig)), KEYRING_SIZE);
	for (size_t off = 0; off < KEYRING_SIZE; off++) {
		struct keys *sentinel = (struct keys *)&off, *out = sentinel;
		int r;

		memcpy(buf, orig, sizeof(buf));
		buf[off] ^= (unsigned char)(1u << (off % 8));
		write_all(kpath, buf, sizeof(buf), 0600);
		r = keyring_unlock(kpath, PASS, strlen(PASS), &out);
		ck_assert_msg(r == -EBADMSG, "flip at offset %zu: unlock gave %d, want -EBADMSG",
			      off, r);
		ck_assert_ptr_eq(out, sentinel);
		/* keyring_parse says the same of the image itself. */
		{
			struct keyring_hdr h;

			ck_assert_int_eq(keyring_parse(buf, sizeof(buf), &h), -EBADMSG);
		}
	}
	/* The original, put back, still opens. */
	write_all(kpath, orig, sizeof(orig), 0600);
	expect_unlock(0);
	keys_free(k);
}
END_TEST

START_TEST(test_altered_header_with_recomputed_checksum_refused)
{
	struct keys *k = create_default();
	unsigned char orig[KEYRING_SIZE], b[32];
	static const struct {
		size_t off, len;
		const char *what;
	} fields[] = {
		{ 32, 16, "salt" }, { 48, 24, "nonce" }, { 72, 32, "public key" },
		{ V2_OFF_RETIRED, KEYRING_RETIRED_MAX * 32, "retired keys" },
		{ V2_OFF_CT, V2_CT_LEN, "ciphertext" },
	};

	ck_assert_uint_eq(read_all(kpath, orig, sizeof(orig)), KEYRING_SIZE);

	/* KDF cost changed within range: a different KEK, and the AD no longer matches. */
	put_be(b, OPS + 1, 8);
	rewrite_with(orig, 16, b, 8, 1);
	expect_unlock(-EACCES);
	put_be(b, MEM * 2, 8);
	rewrite_with(orig, 24, b, 8, 1);
	expect_unlock(-EACCES);

	/* Any byte of salt, nonce, public key or ciphertext. */
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t offs[3] = { fields[i].off, fields[i].off + fields[i].len / 2,
				   fields[i].off + fields[i].len - 1 };

		for (int j = 0; j < 3; j++) {
			int r;
			struct keys *out = NULL;

			b[0] = orig[offs[j]] ^ 0x01;
			rewrite_with(orig, offs[j], b, 1, 1);
			r = keyring_unlock(kpath, PASS, strlen(PASS), &out);
			ck_assert_msg(r == -EACCES, "%s altered at %zu: unlock gave %d, want -EACCES",
				      fields[i].what, offs[j], r);
			ck_assert_ptr_null(out);
		}
	}
	keys_free(k);
}
END_TEST

START_TEST(test_kdf_parameters_out_of_range_refused)
{
	struct keys *k = create_default();
	unsigned char orig[KEYRING_SIZE], b[8];
	struct keyring_hdr h;

	ck_assert_uint_eq(read_all(kpath, orig, sizeof(orig)), KEYRING_SIZE);
	put_be(b, 0, 8);                                      /* opslimit 0 */
	rewrite_with(orig, 16, b, 8, 1);
	expect_unlock(-EINVAL);
	ck_assert_int_eq(keyring_check(kpath, &h), -EINVAL);
	put_be(b, 65, 8);                                     /* more than 64 passes */
	rewrite_with(orig, 16, b, 8, 1);
	expect_unlock(-EINVAL);
	put_be(b, UINT64_MAX, 8);
	rewrite_with(orig, 16, b, 8, 1);
	expect_unlock(-EINVAL);
	put_be(b, MEM - 1, 8);                                /* below the library minimum */
	rewrite_with(orig, 24, b, 8, 1);
	expect_unlock(-EINVAL);
	put_be(b, (UINT64_C(4) << 30) + 1, 8);                /* over 4 GiB */
	rewrite_with(orig, 24, b, 8, 1);
	expect_unlock(-EINVAL);
	put_be(b, UINT64_MAX, 8);
	rewrite_with(orig, 24, b, 8, 1);
	expect_unlock(-EINVAL);
	keys_free(k);
}
END_TEST

START_TEST(test_truncated_or_extended_file_refused)
{
	struct keys *k = create_default();
	unsigned char orig[KEYRING_SIZE * 2 + 1];
	const size_t lens[] = { 0, 1, 8, 100, KEYRING_SIZE - 1, KEYRING_SIZE + 1,
				KEYRING_SIZE * 2, KEYRING_SIZE * 2 + 1 };

	ck_assert_uint_eq(read_all(kpath, orig, sizeof(orig)), KEYRING_SIZE);
	/* Extensions: the original followed by a copy of itself. */
	memcpy(orig + KEYRING_SIZE, orig, KEYRING_SIZE);
	orig[KEYRING_SIZE * 2] = '\n';
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct keys *out = NULL;
		int r;

		write_all(kpath, orig, lens[i], 0600);
		r = keyring_unlock(kpath, PASS, strlen(PASS), &out);
		ck_assert_msg(r == -EBADMSG, "file of %zu bytes: unlock gave %d", lens[i], r);
		ck_assert_ptr_null(out);
	}
	keys_free(k);
}
END_TEST

START_TEST(test_wrong_magic_refused)
{
	struct keys *k = create_default();
	unsigned char orig[KEYRING_SIZE];

	ck_assert_uint_eq(read_all(kpath, orig, sizeof(orig)), KEYRING_SIZE);
	rewrite_with(orig, 0, (const unsigned char *)"ROSTERKS", 8, 1);
	expect_unlock(-EBADMSG);
	rewrite_with(orig, 0, (const unsigned char *)"rosterkr", 8, 1);
	expect_unlock(-EBADMSG);
	rewrite_with(orig, 0, (const unsigned char *)"\0\0\0\0\0\0\0\0", 8, 1);
	expect_unlock(-EBADMSG);
	keys_free(k);
}
END_TEST

START_TEST(test_unknown_version_or_algorithm_refused)
{
	struct keys *k = create_default();
	unsigned char orig[KEYRING_SIZE], b[4];

	ck_assert_uint_eq(read_all(kpath, orig, sizeof(orig)), KEYRING_SIZE);
	put_be(b, KEYRING_VERSION + 1, 4);
	rewrite_with(orig, 8, b, 4, 1);
	expect_unlock(-EPROTONOSUPPORT);
	put_be(b, 0, 4);
	rewrite_with(orig, 8, b, 4, 1);
	expect_unlock(-EPROTONOSUPPORT);
	put_be(b, 0x01000000u | KEYRING_VERSION, 4);          /* little-endian reading of 1 */
	rewrite_with(orig, 8, b, 4, 1);
	expect_unlock(-EPROTONOSUPPORT);
	put_be(b, crypto_pwhash_ALG_ARGON2I13, 4);
	rewrite_with(orig, 12, b, 4, 1);
	expect_unlock(-EPROTONOSUPPORT);
	/* Format 1 said of a file of format 2's length: the length does not fit the version. */
	put_be(b, 1, 4);
	rewrite_with(orig, 8, b, 4, 1);
	expect_unlock(-EBADMSG);
	/* A flag this version does not know is a newer format's. */
	put_be(b, 2, 4);
	rewrite_with(orig, V2_OFF_FLAGS, b, 4, 1);
	expect_unlock(-EPROTONOSUPPORT);
	/* More retired keys than there is room for. */
	put_be(b, KEYRING_RETIRED_MAX + 1, 4);
	rewrite_with(orig, V2_OFF_NRETIRED, b, 4, 1);
	expect_unlock(-EBADMSG);
	/* Without the recomputed checksum the same change is plain damage. */
	put_be(b, KEYRING_VERSION + 1, 4);
	rewrite_with(orig, 8, b, 4, 0);
	expect_unlock(-EBADMSG);
	keys_free(k);
}
END_TEST

START_TEST(test_public_key_not_matching_secret_key_refused)
{
	/*
	 * A keyring correctly wrapped under the right passphrase, but whose
	 * header names a public key that is not the secret key's: built here
	 * with the documented format 1 (which this version still reads), so
	 * keys.c cannot catch it earlier.
	 */
	unsigned char buf[KEYRING_V1_SIZE], kek[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char pt[DEK_BYTES + 64], pk[32], sk[64], other_pk[32], other_sk[64];

	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(other_pk, other_sk);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, KEYRING_MAGIC, 8);
	put_be(buf + 8, 1, 4);
	put_be(buf + 12, crypto_pwhash_ALG_ARGON2ID13, 4);
	put_be(buf + 16, OPS, 8);
	put_be(buf + 24, MEM, 8);
	randombytes_buf(buf + 32, 16);
	randombytes_buf(buf + 48, 24);
	memcpy(buf + 72, other_pk, 32);
	randombytes_buf(pt, DEK_BYTES);
	memcpy(pt + DEK_BYTES, sk, 64);
	ck_assert_int_eq(crypto_pwhash(kek, sizeof(kek), PASS, strlen(PASS), buf + 32, OPS, MEM,
				       crypto_pwhash_ALG_ARGON2ID13), 0);
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + V1_OFF_CT, NULL, pt, sizeof(pt), buf,
						   V1_OFF_CT, NULL, buf + 48, kek);
	fix_checksum_v1(buf);
	write_all(kpath, buf, sizeof(buf), 0600);
	expect_unlock(-EBADMSG);

	/* The same built with the matching key opens: the construction above is right. */
	memcpy(buf + 72, pk, 32);
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + V1_OFF_CT, NULL, pt, sizeof(pt), buf,
						   V1_OFF_CT, NULL, buf + 48, kek);
	fix_checksum_v1(buf);
	write_all(kpath, buf, sizeof(buf), 0600);
	{
		struct keys *k = NULL, *k2 = NULL;
		unsigned char tk[32], img[KEYRING_MAX_SIZE];
		size_t len = 0;

		ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &k), 0);
		ck_assert_mem_eq(k->dek, pt, DEK_BYTES);
		ck_assert_mem_eq(k->sign_pk, pk, 32);
		/* Format 1's token key is derived from the DEK (documented in keys.h). */
		crypto_kdf_derive_from_key(tk, sizeof(tk), 1, "rostertk", pt);
		ck_assert_mem_eq(k->token_key, tk, 32);
		ck_assert(!k->rotating);
		ck_assert_uint_eq(k->n_retired, 0);
		ck_assert_int_eq(keyring_read(kpath, img, &len), 0);
		ck_assert_uint_eq(len, KEYRING_V1_SIZE);
		/* Rewrapped, it becomes format 2 with the same keys, token key included. */
		ck_assert_int_eq(keyring_rewrap(kpath, k, PASS, strlen(PASS), OPS, MEM), 0);
		ck_assert_int_eq(keyring_read(kpath, img, &len), 0);
		ck_assert_uint_eq(len, KEYRING_SIZE);
		ck_assert_uint_eq(get_be(img + 8, 4), 2);
		ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &k2), 0);
		ck_assert_mem_eq(k2->dek, k->dek, DEK_BYTES);
		ck_assert_mem_eq(k2->token_key, tk, 32);
		keys_free(k);
		keys_free(k2);
	}
}
END_TEST

/*
 * keyring_create must not write a keyring that keyring_unlock will refuse
 * for ever: a cost outside the range parse accepts (more than 64 passes) is
 * either refused at creation or the result opens.
 */
START_TEST(test_create_never_writes_a_keyring_unlock_refuses)
{
	struct keys *k = NULL, *out = NULL;
	int r = keyring_create(kpath, PASS, strlen(PASS), 65, MEM, &k);

	if (r == 0) {
		keys_free(k);
		ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &out), 0);
		keys_free(out);
	} else {
		ck_assert_int_lt(r, 0);
		ck_assert_ptr_null(k);
	}
}
END_TEST


/* --- rewrap (key passwd) and keyrings in memory (backups) ------------------- */

START_TEST(test_rewrap_changes_passphrase_keeps_keys)
{
	static const char NEWP[] = "a different passphrase entirely";
	struct keys *k = create_default(), *out = NULL;
	unsigned char before[KEYRING_MAX_SIZE], after[KEYRING_MAX_SIZE];
	struct stat st;
	size_t len = 0;

	ck_assert_int_eq(keyring_read(kpath, before, &len), 0);
	ck_assert_uint_eq(len, KEYRING_SIZE);
	ck_assert_int_eq(keyring_rewrap(kpath, k, NEWP, strlen(NEWP), OPS, MEM), 0);
	ck_assert_int_eq(keyring_read(kpath, after, &len), 0);
	/* Fresh salt and nonce: nothing of the old wrapping is reused. */
	ck_assert(memcmp(before + 32, after + 32, 40) != 0);
	ck_assert_int_eq(stat(kpath, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &out), -EACCES);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(keyring_unlock(kpath, NEWP, strlen(NEWP), &out), 0);
	ck_assert_mem_eq(out->dek, k->dek, DEK_BYTES);
	ck_assert_mem_eq(out->sign_sk, k->sign_sk, sizeof(k->sign_sk));
	ck_assert_mem_eq(out->token_key, k->token_key, sizeof(k->token_key));
	keys_free(out);
	/* A too short new passphrase leaves the keyring as it was. */
	ck_assert_int_eq(keyring_rewrap(kpath, k, "short", 5, OPS, MEM), -EINVAL);
	ck_assert_int_eq(keyring_read(kpath, before, &len), 0);
	ck_assert_mem_eq(before, after, KEYRING_SIZE);
	keys_free(k);
}
END_TEST

START_TEST(test_unlock_buf_matches_file_and_backup_key_is_stable)
{
	struct keys *k = create_default(), *out = NULL;
	unsigned char buf[KEYRING_SIZE], m1[BACKUP_MAC_KEY_BYTES], m2[BACKUP_MAC_KEY_BYTES];
	size_t len = 0;

	ck_assert_int_eq(keyring_read(kpath, buf, &len), 0);
	ck_assert_uint_eq(len, sizeof(buf));
	ck_assert_int_eq(keyring_unlock_buf(buf, sizeof(buf), PASS, strlen(PASS), &out), 0);
	ck_assert_mem_eq(out->dek, k->dek, DEK_BYTES);
	keys_backup_mac_key(k, m1);
	keys_backup_mac_key(out, m2);
	ck_assert_mem_eq(m1, m2, sizeof(m1));
	/* Not the token key (which is a key of its own). */
	ck_assert(memcmp(m1, k->token_key, sizeof(m1)) != 0);
	keys_free(out);
	out = NULL;
	buf[104] ^= 1;   /* the ciphertext: the checksum no longer matches */
	ck_assert_int_eq(keyring_unlock_buf(buf, sizeof(buf), PASS, strlen(PASS), &out), -EBADMSG);
	ck_assert_ptr_null(out);
	keys_free(k);
}
END_TEST

/* A data-key rotation's pending keyring carries both keys; ending it keeps one. */
START_TEST(test_pending_rotation_round_trip)
{
	struct keys *k = create_default(), *out = NULL;
	unsigned char old_dek[DEK_BYTES], next[DEK_BYTES], img[KEYRING_MAX_SIZE];
	struct keyring_hdr h;
	size_t len = 0;

	memcpy(old_dek, k->dek, DEK_BYTES);
	keys_begin_rotation(k);
	ck_assert(k->rotating);
	ck_assert(memcmp(k->next_dek, k->dek, DEK_BYTES) != 0);
	memcpy(next, k->next_dek, DEK_BYTES);
	ck_assert_int_eq(keyring_rewrap(kpath, k, PASS, strlen(PASS), OPS, MEM), 0);
	ck_assert_int_eq(keyring_read(kpath, img, &len), 0);
	ck_assert_uint_eq(get_be(img + V2_OFF_FLAGS, 4), KEYRING_FLAG_ROTATING);
	ck_assert_int_eq(keyring_parse(img, len, &h), 0);
	ck_assert_uint_eq(h.flags, KEYRING_FLAG_ROTATING);
	ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &out), 0);
	ck_assert(out->rotating);
	ck_assert_mem_eq(out->dek, old_dek, DEK_BYTES);
	ck_assert_mem_eq(out->next_dek, next, DEK_BYTES);
	ck_assert_mem_eq(out->token_key, k->token_key, 32);
	/* Committed: the next key is the key, and the token key does not change with it. */
	keys_end_rotation(out, true);
	ck_assert(!out->rotating);
	ck_assert_mem_eq(out->dek, next, DEK_BYTES);
	ck_assert_mem_eq(out->token_key, k->token_key, 32);
	keys_free(out);
	out = NULL;
	/* Undone: the old key stays. */
	keys_end_rotation(k, false);
	ck_assert(!k->rotating);
	ck_assert_mem_eq(k->dek, old_dek, DEK_BYTES);
	ck_assert_int_eq(keyring_rewrap(kpath, k, PASS, strlen(PASS), OPS, MEM), 0);
	ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &out), 0);
	ck_assert(!out->rotating);
	ck_assert_mem_eq(out->dek, old_dek, DEK_BYTES);
	keys_free(out);
	keys_free(k);
}
END_TEST

/* Rolling the audit key retires the old public key, in order, up to the limit. */
START_TEST(test_audit_key_roll_retires_old_keys)
{
	struct keys *k = create_default(), *out = NULL;
	unsigned char first[32], second[32], pk[32];
	struct keyring_hdr h;

	memcpy(first, k->sign_pk, 32);
	ck_assert_int_eq(keys_roll_sign(k), 0);
	memcpy(second, k->sign_pk, 32);
	ck_assert(memcmp(first, second, 32) != 0);
	crypto_sign_ed25519_sk_to_pk(pk, k->sign_sk);
	ck_assert_mem_eq(pk, k->sign_pk, 32);
	ck_assert_uint_eq(k->n_retired, 1);
	ck_assert_mem_eq(k->retired_pk[0], first, 32);
	ck_assert(keys_knows_sign_pk(k, first));
	ck_assert(keys_knows_sign_pk(k, second));
	ck_assert(!keys_knows_sign_pk(k, (const unsigned char *)"0123456789abcdef0123456789abcdef"));
	ck_assert_int_eq(keyring_rewrap(kpath, k, PASS, strlen(PASS), OPS, MEM), 0);
	/* The header (readable without the passphrase) lists the retired key. */
	ck_assert_int_eq(keyring_check(kpath, &h), 0);
	ck_assert_uint_eq(h.n_retired, 1);
	ck_assert_mem_eq(h.retired_pk[0], first, 32);
	ck_assert_mem_eq(h.sign_pk, second, 32);
	ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &out), 0);
	ck_assert_mem_eq(out->sign_sk, k->sign_sk, 64);
	ck_assert_uint_eq(out->n_retired, 1);
	ck_assert_mem_eq(out->retired_pk[0], first, 32);
	keys_free(out);
	for (int i = 1; i < KEYRING_RETIRED_MAX; i++)
		ck_assert_int_eq(keys_roll_sign(k), 0);
	ck_assert_uint_eq(k->n_retired, KEYRING_RETIRED_MAX);
	memcpy(pk, k->sign_pk, 32);
	ck_assert_int_eq(keys_roll_sign(k), -ENOSPC);
	ck_assert_mem_eq(k->sign_pk, pk, 32);                 /* nothing changed */
	ck_assert_int_eq(keyring_rewrap(kpath, k, PASS, strlen(PASS), OPS, MEM), 0);
	ck_assert_int_eq(keyring_unlock(kpath, PASS, strlen(PASS), &out), 0);
	ck_assert_uint_eq(out->n_retired, KEYRING_RETIRED_MAX);
	ck_assert_mem_eq(out->retired_pk[0], first, 32);
	keys_free(out);
	keys_free(k);
}
END_TEST

START_TEST(test_backup_header_round_trip_and_refusals)
{
	struct backup_hdr h = { 0 }, p, sentinel;
	unsigned char b[BACKUP_HDR_SIZE], c[BACKUP_HDR_SIZE];

	h.created_us = 1764132000000000;
	h.audit_seq = 42;
	memset(h.audit_hash, 0xab, sizeof(h.audit_hash));
	h.db_len = 65536;
	h.keyring_len = KEYRING_SIZE;
	backup_hdr_pack(&h, b);
	ck_assert_int_eq(backup_hdr_parse(b, sizeof(b), &p), 0);
	ck_assert_uint_eq(p.version, BACKUP_VERSION);
	ck_assert_uint_eq(p.keyring_len, KEYRING_SIZE);
	ck_assert_int_eq(p.created_us, h.created_us);
	ck_assert_int_eq(p.audit_seq, 42);
	ck_assert_mem_eq(p.audit_hash, h.audit_hash, 32);
	ck_assert_uint_eq(p.db_len, 65536);
	ck_assert_uint_eq(backup_file_size(&p), BACKUP_HDR_SIZE + KEYRING_SIZE + 65536 + 32);
	memset(&sentinel, 0x5a, sizeof(sentinel));
	/* Short, bad magic, unknown version, wrong keyring length, zero or huge database, reserved bytes. */
	p = sentinel;
	ck_assert_int_eq(backup_hdr_parse(b, sizeof(b) - 1, &p), -EBADMSG);
	{
		static const struct { size_t off; int want; } flips[] = {
			{ 0, -EBADMSG }, { 11, -EPROTONOSUPPORT }, { 15, -EBADMSG },
			{ 64, -EBADMSG }, { 72, -EBADMSG }, { 79, -EBADMSG },
		};

		for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
			memcpy(c, b, sizeof(c));
			c[flips[i].off] ^= 0x80;
			ck_assert_msg(backup_hdr_parse(c, sizeof(c), &p) == flips[i].want,
				      "flip at %zu", flips[i].off);
			ck_assert_mem_eq(&p, &sentinel, sizeof(p));
		}
	}
	h.db_len = 0;
	backup_hdr_pack(&h, c);
	ck_assert_int_eq(backup_hdr_parse(c, sizeof(c), &p), -EBADMSG);
	/* A backup made before format 2 carries a format-1 keyring: still read. */
	h.db_len = 65536;
	h.keyring_len = KEYRING_V1_SIZE;
	backup_hdr_pack(&h, c);
	ck_assert_int_eq(backup_hdr_parse(c, sizeof(c), &p), 0);
	ck_assert_uint_eq(backup_file_size(&p), BACKUP_HDR_SIZE + KEYRING_V1_SIZE + 65536 + 32);
	h.keyring_len = KEYRING_V1_SIZE + 1;
	backup_hdr_pack(&h, c);
	ck_assert_int_eq(backup_hdr_parse(c, sizeof(c), &p), -EBADMSG);
}
END_TEST

/* --- the file itself ------------------------------------------------------- */

START_TEST(test_group_or_world_readable_file_refused)
{
	struct keys *k = create_default();
	const mode_t modes[] = { 0644, 0640, 0604, 0620, 0602, 0610, 0601, 0666 };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct keys *out = NULL;
		int r;

		ck_assert_int_eq(chmod(kpath, modes[i]), 0);
		r = keyring_unlock(kpath, PASS, strlen(PASS), &out);
		ck_assert_msg(r == -EPERM, "mode %04o: unlock gave %d", (unsigned)modes[i], r);
		ck_assert_ptr_null(out);
	}
	/* Owner-only modes are fine. */
	ck_assert_int_eq(chmod(kpath, 0400), 0);
	expect_unlock(0);
	ck_assert_int_eq(chmod(kpath, 0600), 0);
	expect_unlock(0);
	keys_free(k);
}
END_TEST

START_TEST(test_symlink_refused)
{
	struct keys *k = create_default();
	char real[sizeof(dir) + 8];

	snprintf(real, sizeof(real), "%s/real", dir);
	ck_assert_int_eq(rename(kpath, real), 0);
	ck_assert_int_eq(symlink(real, kpath), 0);
	expect_unlock(-EPERM);
	{
		struct keyring_hdr h;

		ck_assert_int_eq(keyring_check(kpath, &h), -EPERM);
	}
	/* Relative link too. */
	ck_assert_int_eq(unlink(kpath), 0);
	ck_assert_int_eq(symlink("real", kpath), 0);
	expect_unlock(-EPERM);
	keys_free(k);
}
END_TEST

START_TEST(test_not_a_regular_file_or_missing_refused)
{
	expect_unlock(-ENOENT);
	ck_assert_int_eq(mkdir(kpath, 0700), 0);
	expect_unlock(-EPERM);
	ck_assert_int_eq(rmdir(kpath), 0);
}
END_TEST

/*
 * A FIFO at the keyring path is "not a regular file": refused with -EPERM,
 * at once. Opening it for reading without O_NONBLOCK would wait for a writer
 * for ever, so the unlock runs in a child given a few seconds.
 */
START_TEST(test_fifo_refused_without_blocking)
{
	pid_t pid;
	int status = 0, waited = 0;

	ck_assert_int_eq(mkfifo(kpath, 0600), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct keys *out = NULL;
		int r = keyring_unlock(kpath, PASS, strlen(PASS), &out);

		_exit(r == -EPERM && out == NULL ? 0 : 1);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (waited++ >= 50) {       /* 5 s */
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ck_abort_msg("keyring_unlock on a FIFO still blocked after 5 s");
		}
		usleep(100 * 1000);
	}
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "keyring_unlock on a FIFO did not give -EPERM");
}
END_TEST

/* --- keyring_parse on arbitrary input -------------------------------------- */

START_TEST(test_parse_random_garbage_never_crashes)
{
	unsigned char *buf = malloc(1024);
	struct keyring_hdr sentinel, h;

	ck_assert_ptr_nonnull(buf);
	memset(&sentinel, 0xa5, sizeof(sentinel));
	for (size_t len = 0; len <= 1024; len++) {
		int r;

		randombytes_buf(buf, len);
		memcpy(&h, &sentinel, sizeof(h));
		r = keyring_parse(buf, len, &h);
		ck_assert_int_eq(r, -EBADMSG);
		ck_assert_mem_eq(&h, &sentinel, sizeof(h));
		/* With the magic in place (when it fits). */
		if (len >= 8) {
			memcpy(buf, KEYRING_MAGIC, 8);
			ck_assert_int_eq(keyring_parse(buf, len, &h), -EBADMSG);
			ck_assert_mem_eq(&h, &sentinel, sizeof(h));
		}
	}
	/* Right size, magic and checksum, random fields: refused cleanly or parsed. */
	for (int i = 0; i < 2000; i++) {
		int r;

		randombytes_buf(buf, KEYRING_SIZE);
		memcpy(buf, KEYRING_MAGIC, 8);
		if (i % 2) {           /* make version and algorithm right half of the time */
			put_be(buf + 8, KEYRING_VERSION, 4);
			put_be(buf + 12, crypto_pwhash_ALG_ARGON2ID13, 4);
		}
		if (i % 4 == 3) {      /* and the costs, flags and count in range a quarter of the time */
			put_be(buf + 16, 1 + (uint64_t)(i % 64), 8);
			put_be(buf + 24, MEM + (uint64_t)i * 1024, 8);
			put_be(buf + V2_OFF_FLAGS, (uint64_t)(i / 4 % 2), 4);
			put_be(buf + V2_OFF_NRETIRED, (uint64_t)(i % (KEYRING_RETIRED_MAX + 1)), 4);
		}
		fix_checksum(buf);
		memcpy(&h, &sentinel, sizeof(h));
		r = keyring_parse(buf, KEYRING_SIZE, &h);
		if (i % 4 == 3) {
			ck_assert_int_eq(r, 0);
			ck_assert_uint_eq(h.opslimit, 1 + (uint64_t)(i % 64));
			ck_assert_uint_eq(h.memlimit, MEM + (uint64_t)i * 1024);
			ck_assert_uint_eq(h.flags, (uint32_t)(i / 4 % 2));
			ck_assert_uint_eq(h.n_retired, (uint32_t)(i % (KEYRING_RETIRED_MAX + 1)));
			ck_assert_mem_eq(h.retired_pk, buf + V2_OFF_RETIRED, h.n_retired * 32);
		} else if (i % 2) {
			ck_assert_int_eq(r, -EINVAL);
			ck_assert_mem_eq(&h, &sentinel, sizeof(h));
		} else {
			ck_assert_int_eq(r, -EPROTONOSUPPORT);
			ck_assert_mem_eq(&h, &sentinel, sizeof(h));
		}
	}
	free(buf);
}
END_TEST

static Suite *keys_suite(void)
{
	Suite *s = suite_create("keys");
	TCase *tc;

	tc = tcase_create("round_trip");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_create_then_unlock_gives_identical_keys);
	tcase_add_test(tc, test_create_mode_0600_even_with_permissive_umask);
	tcase_add_test(tc, test_two_keyrings_have_different_keys_and_salts);
	tcase_add_test(tc, test_layout_matches_header_and_unwraps_independently);
	tcase_add_test(tc, test_keyring_check_reads_header_without_passphrase);
	tcase_add_test(tc, test_dek_pragma_is_raw_key_literal);
	suite_add_tcase(s, tc);

	tc = tcase_create("passphrase");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_wrong_passphrase_refused);
	tcase_add_test(tc, test_passphrase_with_nul_bytes_uses_full_length);
	tcase_add_test(tc, test_create_refuses_short_and_long_passphrases);
	suite_add_tcase(s, tc);

	tc = tcase_create("damage");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_every_single_bit_flip_is_bad_message);
	tcase_add_test(tc, test_altered_header_with_recomputed_checksum_refused);
	tcase_add_test(tc, test_kdf_parameters_out_of_range_refused);
	tcase_add_test(tc, test_truncated_or_extended_file_refused);
	tcase_add_test(tc, test_wrong_magic_refused);
	tcase_add_test(tc, test_unknown_version_or_algorithm_refused);
	tcase_add_test(tc, test_public_key_not_matching_secret_key_refused);
	tcase_add_test(tc, test_create_never_writes_a_keyring_unlock_refuses);
	suite_add_tcase(s, tc);

	tc = tcase_create("rewrap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rewrap_changes_passphrase_keeps_keys);
	tcase_add_test(tc, test_unlock_buf_matches_file_and_backup_key_is_stable);
	tcase_add_test(tc, test_backup_header_round_trip_and_refusals);
	tcase_add_test(tc, test_pending_rotation_round_trip);
	tcase_add_test(tc, test_audit_key_roll_retires_old_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_group_or_world_readable_file_refused);
	tcase_add_test(tc, test_symlink_refused);
	tcase_add_test(tc, test_not_a_regular_file_or_missing_refused);
	tcase_add_test(tc, test_fifo_refused_without_blocking);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_parse_random_garbage_never_crashes);
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
	snprintf(base, sizeof(base), "%s/test-keys-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(base) == NULL)
		return 1;
	sr = srunner_create(keys_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_tree(base);
	return failures ? 1 : 0;
}
