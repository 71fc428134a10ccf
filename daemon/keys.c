/*
 * keys.c: the keyring (see keys.h for the format and the rules).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/keys.h"
#include "daemon/util.h"

/* Format 2 (see keys.h). */
#define OFF_FLAGS 104
#define OFF_NRETIRED 108
#define OFF_RETIRED 112
#define OFF_CT 624
#define PT_LEN (DEK_BYTES + 64 + 32 + DEK_BYTES)
#define CT_LEN (PT_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define OFF_SUM (OFF_CT + CT_LEN)
/* Format 1. */
#define V1_OFF_CT 104
#define V1_PT_LEN (DEK_BYTES + 64)
#define V1_CT_LEN (V1_PT_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define V1_OFF_SUM (V1_OFF_CT + V1_CT_LEN)

_Static_assert(OFF_SUM + 32 == KEYRING_SIZE, "keyring format 2 layout");
_Static_assert(V1_OFF_SUM + 32 == KEYRING_V1_SIZE, "keyring format 1 layout");
_Static_assert(OFF_RETIRED + KEYRING_RETIRED_MAX * 32 == OFF_CT, "keyring retired keys");

/* Format 1 only: the token key was derived from the DEK. */
static void derive_token_key_v1(struct keys *k)
{
	crypto_kdf_derive_from_key(k->token_key, sizeof(k->token_key), 1, "rostertk", k->dek);
}

int keyring_parse(const unsigned char *buf, size_t len, struct keyring_hdr *ret)
{
	unsigned char sum[32];
	struct keyring_hdr h;
	size_t off_sum;

	if ((len != KEYRING_SIZE && len != KEYRING_V1_SIZE) || memcmp(buf, KEYRING_MAGIC, 8) != 0)
		return -EBADMSG;
	off_sum = len - 32;
	crypto_generichash(sum, sizeof(sum), buf, off_sum, NULL, 0);
	if (sodium_memcmp(sum, buf + off_sum, sizeof(sum)) != 0)
		return -EBADMSG;
	memset(&h, 0, sizeof(h));
	h.version = (uint32_t)get_be(buf + 8, 4);
	h.alg = (uint32_t)get_be(buf + 12, 4);
	h.opslimit = get_be(buf + 16, 8);
	h.memlimit = get_be(buf + 24, 8);
	/* The length must be the one of the version the file says it is. */
	if ((h.version != 1 && h.version != KEYRING_VERSION) ||
	    h.alg != crypto_pwhash_ALG_ARGON2ID13)
		return -EPROTONOSUPPORT;
	if (len != (h.version == 1 ? KEYRING_V1_SIZE : KEYRING_SIZE))
		return -EBADMSG;
	/*
	 * Bound the cost an altered header can make us spend: at least the
	 * library minimum, at most 4 GiB and 64 passes.
	 */
	if (h.opslimit < crypto_pwhash_OPSLIMIT_MIN || h.opslimit > 64 ||
	    h.memlimit < crypto_pwhash_MEMLIMIT_MIN || h.memlimit > (UINT64_C(4) << 30))
		return -EINVAL;
	memcpy(h.salt, buf + 32, 16);
	memcpy(h.nonce, buf + 48, 24);
	memcpy(h.sign_pk, buf + 72, 32);
	if (h.version == KEYRING_VERSION) {
		h.flags = (uint32_t)get_be(buf + OFF_FLAGS, 4);
		h.n_retired = (uint32_t)get_be(buf + OFF_NRETIRED, 4);
		/* Unknown flags are a newer format's: refuse rather than ignore them. */
		if (h.flags & ~KEYRING_FLAG_ROTATING)
			return -EPROTONOSUPPORT;
		if (h.n_retired > KEYRING_RETIRED_MAX)
			return -EBADMSG;
		memcpy(h.retired_pk, buf + OFF_RETIRED, (size_t)h.n_retired * 32);
	}
	h.size = len;
	*ret = h;
	return 0;
}

static int derive(const char *pass, size_t passlen, const unsigned char *salt,
		  uint64_t ops, uint64_t mem, unsigned char *kek)
{
	if (crypto_pwhash(kek, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, pass, passlen,
			  salt, ops, (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -ENOMEM;   /* libsodium fails only when it cannot allocate */
	return 0;
}

/*
 * Build a format-2 keyring image in buf wrapping k under pass: fresh salt
 * and nonce, the header as associated data, the checksum last.
 */
static int wrap(unsigned char buf[KEYRING_SIZE], const struct keys *k, const char *pass,
		size_t passlen, uint64_t opslimit, size_t memlimit)
{
	unsigned char *kek = NULL, *pt = NULL;
	int r;

	if (passlen < PASSPHRASE_MIN || passlen > PASSPHRASE_MAX)
		return -EINVAL;
	/* Never write a keyring that keyring_parse() would refuse to read. */
	if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > 64 ||
	    memlimit < crypto_pwhash_MEMLIMIT_MIN || (uint64_t)memlimit > (UINT64_C(4) << 30) ||
	    k->n_retired > KEYRING_RETIRED_MAX)
		return -EINVAL;
	kek = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
	pt = sodium_malloc(PT_LEN);
	if (kek == NULL || pt == NULL) {
		r = -ENOMEM;
		goto out;
	}
	memset(buf, 0, KEYRING_SIZE);
	memcpy(buf, KEYRING_MAGIC, 8);
	put_be(buf + 8, KEYRING_VERSION, 4);
	put_be(buf + 12, crypto_pwhash_ALG_ARGON2ID13, 4);
	put_be(buf + 16, opslimit, 8);
	put_be(buf + 24, memlimit, 8);
	randombytes_buf(buf + 32, 16);
	randombytes_buf(buf + 48, 24);
	memcpy(buf + 72, k->sign_pk, 32);
	put_be(buf + OFF_FLAGS, k->rotating ? KEYRING_FLAG_ROTATING : 0, 4);
	put_be(buf + OFF_NRETIRED, k->n_retired, 4);
	memcpy(buf + OFF_RETIRED, k->retired_pk, (size_t)k->n_retired * 32);

	r = derive(pass, passlen, buf + 32, opslimit, memlimit, kek);
	if (r < 0)
		goto out;
	memcpy(pt, k->dek, DEK_BYTES);
	memcpy(pt + DEK_BYTES, k->sign_sk, 64);
	memcpy(pt + DEK_BYTES + 64, k->token_key, 32);
	if (k->rotating)
		memcpy(pt + DEK_BYTES + 96, k->next_dek, DEK_BYTES);
	else
		memset(pt + DEK_BYTES + 96, 0, DEK_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + OFF_CT, NULL, pt, PT_LEN,
						   buf, OFF_CT, NULL, buf + 48, kek);
	crypto_generichash(buf + OFF_SUM, 32, buf, OFF_SUM, NULL, 0);
out:
	sodium_free(pt);
	sodium_free(kek);
	return r;
}

int keyring_create(const char *path, const char *pass, size_t passlen,
		   uint64_t opslimit, size_t memlimit, struct keys **ret)
{
	unsigned char buf[KEYRING_SIZE];
	struct keys *k;
	int r;

	k = sodium_malloc(sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	memset(k, 0, sizeof(*k));
	randombytes_buf(k->dek, sizeof(k->dek));
	crypto_sign_keypair(k->sign_pk, k->sign_sk);
	randombytes_buf(k->token_key, sizeof(k->token_key));
	r = wrap(buf, k, pass, passlen, opslimit, memlimit);
	if (r == 0)
		r = write_file_atomic(path, buf, sizeof(buf), 0600);
	if (r < 0) {
		keys_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

int keyring_rewrap(const char *path, const struct keys *k, const char *pass, size_t passlen,
		   uint64_t opslimit, size_t memlimit)
{
	unsigned char buf[KEYRING_SIZE];
	int r = wrap(buf, k, pass, passlen, opslimit, memlimit);

	if (r < 0)
		return r;
	return write_file_atomic(path, buf, sizeof(buf), 0600);
}

int keys_roll_sign(struct keys *k)
{
	if (k->n_retired >= KEYRING_RETIRED_MAX)
		return -ENOSPC;
	memcpy(k->retired_pk[k->n_retired++], k->sign_pk, 32);
	crypto_sign_keypair(k->sign_pk, k->sign_sk);
	return 0;
}

void keys_begin_rotation(struct keys *k)
{
	randombytes_buf(k->next_dek, sizeof(k->next_dek));
	k->rotating = true;
}

void keys_end_rotation(struct keys *k, bool commit)
{
	if (commit)
		memcpy(k->dek, k->next_dek, DEK_BYTES);
	sodium_memzero(k->next_dek, sizeof(k->next_dek));
	k->rotating = false;
}

bool keys_knows_sign_pk(const struct keys *k, const unsigned char pk[32])
{
	if (sodium_memcmp(pk, k->sign_pk, 32) == 0)
		return true;
	for (uint32_t i = 0; i < k->n_retired; i++)
		if (sodium_memcmp(pk, k->retired_pk[i], 32) == 0)
			return true;
	return false;
}

int keyring_confirm(const char *path, const char *pass, size_t passlen,
		    const struct keys *in_use)
{
	struct keys *disk = NULL;
	int r = keyring_unlock(path, pass, passlen, &disk);

	if (r == 0 && (disk->rotating || sodium_memcmp(disk->dek, in_use->dek, DEK_BYTES) != 0 ||
		       sodium_memcmp(disk->sign_sk, in_use->sign_sk, sizeof(disk->sign_sk)) != 0))
		r = -EBADMSG;
	keys_free(disk);
	return r;
}

struct keys *keys_dup(const struct keys *k)
{
	struct keys *c = sodium_malloc(sizeof(*c));

	if (c != NULL)
		memcpy(c, k, sizeof(*c));
	return c;
}

void keys_backup_mac_key(const struct keys *k, unsigned char out[BACKUP_MAC_KEY_BYTES])
{
	crypto_kdf_derive_from_key(out, BACKUP_MAC_KEY_BYTES, 2, "rosterbk", k->dek);
}

static int read_keyring(const char *path, unsigned char *buf, size_t *ret_len)
{
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO planted at the path must not hang us before the type check. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
		r = -EPERM;
		goto out;
	}
	do
		n = read(fd, buf, KEYRING_MAX_SIZE + 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	*ret_len = (size_t)n;
out:
	close(fd);
	return r;
}

int keyring_check(const char *path, struct keyring_hdr *ret)
{
	unsigned char buf[KEYRING_MAX_SIZE + 1];
	size_t len;
	int r;

	r = read_keyring(path, buf, &len);
	if (r < 0)
		return r;
	return keyring_parse(buf, len, ret);
}

int keyring_read(const char *path, unsigned char buf[KEYRING_MAX_SIZE], size_t *ret_len)
{
	unsigned char tmp[KEYRING_MAX_SIZE + 1];
	struct keyring_hdr h;
	size_t len;
	int r;

	r = read_keyring(path, tmp, &len);
	if (r == 0)
		r = keyring_parse(tmp, len, &h);
	if (r == 0) {
		memcpy(buf, tmp, len);
		*ret_len = len;
	}
	return r;
}

int keyring_unlock_buf(const unsigned char *buf, size_t len, const char *pass, size_t passlen,
		       struct keys **ret)
{
	unsigned char *kek = NULL, *pt = NULL;
	struct keyring_hdr h;
	struct keys *k = NULL;
	size_t off_ct, ct_len;
	int r;

	r = keyring_parse(buf, len, &h);
	if (r < 0)
		return r;
	if (passlen > PASSPHRASE_MAX)
		return -EACCES;
	off_ct = h.version == 1 ? V1_OFF_CT : OFF_CT;
	ct_len = h.version == 1 ? V1_CT_LEN : CT_LEN;
	k = sodium_malloc(sizeof(*k));
	kek = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
	pt = sodium_malloc(PT_LEN);
	if (k == NULL || kek == NULL || pt == NULL) {
		r = -ENOMEM;
		goto out;
	}
	memset(k, 0, sizeof(*k));
	r = derive(pass, passlen, h.salt, h.opslimit, h.memlimit, kek);
	if (r < 0)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, buf + off_ct, ct_len,
						       buf, off_ct, h.nonce, kek) != 0) {
		r = -EACCES;
		goto out;
	}
	memcpy(k->dek, pt, DEK_BYTES);
	memcpy(k->sign_sk, pt + DEK_BYTES, 64);
	memcpy(k->sign_pk, h.sign_pk, 32);
	if (h.version == 1) {
		derive_token_key_v1(k);
	} else {
		memcpy(k->token_key, pt + DEK_BYTES + 64, 32);
		k->rotating = (h.flags & KEYRING_FLAG_ROTATING) != 0;
		if (k->rotating)
			memcpy(k->next_dek, pt + DEK_BYTES + 96, DEK_BYTES);
		k->n_retired = h.n_retired;
		memcpy(k->retired_pk, h.retired_pk, sizeof(k->retired_pk));
	}
	/* The public key in the header must belong to the secret key inside. */
	{
		unsigned char pk[32];

		crypto_sign_ed25519_sk_to_pk(pk, k->sign_sk);
		if (sodium_memcmp(pk, k->sign_pk, 32) != 0) {
			r = -EBADMSG;
			goto out;
		}
	}
	*ret = k;
	k = NULL;
out:
	sodium_free(pt);
	sodium_free(kek);
	keys_free(k);
	return r;
}

int keyring_unlock(const char *path, const char *pass, size_t passlen, struct keys **ret)
{
	unsigned char buf[KEYRING_MAX_SIZE + 1];
	size_t len;
	int r;

	r = read_keyring(path, buf, &len);
	if (r < 0)
		return r;
	return keyring_unlock_buf(buf, len, pass, passlen, ret);
}

void keys_free(struct keys *k)
{
	/* sodium_free wipes the memory before releasing it. */
	if (k != NULL)
		sodium_free(k);
}

char *keys_raw_pragma(const unsigned char key[DEK_BYTES])
{
	/* x' + 64 hex + ' + NUL */
	char *s = sodium_malloc(2 + DEK_BYTES * 2 + 2);

	if (s == NULL)
		return NULL;
	s[0] = 'x';
	s[1] = '\'';
	sodium_bin2hex(s + 2, DEK_BYTES * 2 + 1, key, DEK_BYTES);
	s[2 + DEK_BYTES * 2] = '\'';
	s[3 + DEK_BYTES * 2] = '\0';
	return s;
}

char *keys_dek_pragma(const struct keys *k)
{
	return keys_raw_pragma(k->dek);
}
