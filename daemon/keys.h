/*
 * keys.h: the keyring. One small file in the state directory holds the
 * data key (DEK, the raw SQLCipher key) and the Ed25519 audit signing key,
 * encrypted with XChaCha20-Poly1305 under a key derived from the admin
 * passphrase by Argon2id. The header (format version, KDF parameters, salt,
 * nonce, audit public key) is authenticated as associated data, and the
 * whole file carries a BLAKE2b checksum so accidental or careless damage is
 * named as such before any passphrase is tried.
 *
 * Format 2 (written by this version; all integers big-endian), KEYRING_SIZE
 * bytes:
 *    0  magic "ROSTERKR"            8
 *    8  format version (2)          4
 *   12  KDF algorithm (Argon2id13)  4
 *   16  opslimit                    8
 *   24  memlimit (bytes)            8
 *   32  salt                       16
 *   48  nonce                      24
 *   72  audit public key           32
 *  104  flags                       4   bit 0: a data-key rotation is pending
 *  108  retired audit keys (count)  4   0 to KEYRING_RETIRED_MAX
 *  112  retired audit public keys  KEYRING_RETIRED_MAX * 32, unused ones zero
 *  624  ciphertext: DEK (32) + audit secret key (64) + token key (32) +
 *       next DEK (32, zero unless a rotation is pending) + tag (16) = 176
 *  800  BLAKE2b-256 of bytes 0..799 32
 *
 * Format 1 (KEYRING_V1_SIZE bytes, still read; the first keyring this
 * version rewrites becomes format 2) had the same first 104 bytes, then the
 * ciphertext of DEK + audit secret key (112 bytes) at 104 and the checksum
 * at 216; its token key is derived from the DEK.
 *
 * Why format 2 carries what it does: the token key is stored, not derived
 * from the DEK, so that rotating the DEK keeps every service's token; the
 * next DEK makes a data-key rotation crash-safe (see registry.c: whichever
 * of the two keys opens the database is the one in force); the retired
 * audit public keys keep old checkpoints verifiable after the audit key is
 * rotated.
 *
 * Unwrapped keys live only in sodium_malloc memory (guard pages, mlocked)
 * and are wiped by keys_free(). This module never logs and never writes a
 * passphrase anywhere.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYRING_MAGIC "ROSTERKR"
#define KEYRING_VERSION 2
#define KEYRING_SIZE 832
#define KEYRING_V1_SIZE 248
#define KEYRING_MAX_SIZE KEYRING_SIZE
#define KEYRING_FILE "keyring"
/* How many earlier audit keys a keyring remembers (one per audit-key rotation). */
#define KEYRING_RETIRED_MAX 16
#define KEYRING_FLAG_ROTATING 1u

#define DEK_BYTES 32

/* Passphrase length bounds, in bytes. */
#define PASSPHRASE_MIN 12
#define PASSPHRASE_MAX 1024

struct keys {
	unsigned char dek[DEK_BYTES];
	unsigned char sign_sk[64];
	unsigned char sign_pk[32];
	/*
	 * Key for hashing principals' tokens, kept in the keyring (derived
	 * from the DEK in format 1), so a copy of the database alone cannot
	 * test guesses.
	 */
	unsigned char token_key[32];
	/* The DEK a pending rotation is moving to (rotating only). */
	unsigned char next_dek[DEK_BYTES];
	bool rotating;
	/* Audit public keys used before sign_pk, oldest first. */
	uint32_t n_retired;
	unsigned char retired_pk[KEYRING_RETIRED_MAX][32];
};

/* The parsed, checksum-verified public part of a keyring file. */
struct keyring_hdr {
	uint32_t version;
	uint32_t alg;
	uint64_t opslimit;
	uint64_t memlimit;
	unsigned char salt[16];
	unsigned char nonce[24];
	unsigned char sign_pk[32];
	uint32_t flags;
	uint32_t n_retired;
	unsigned char retired_pk[KEYRING_RETIRED_MAX][32];
	size_t size;            /* the image's length: KEYRING_SIZE or KEYRING_V1_SIZE */
};

/*
 * Check and parse a keyring image. Returns 0 and fills *ret, or -EBADMSG
 * (wrong size, magic or checksum: damaged or altered), -EPROTONOSUPPORT
 * (a format version or algorithm this build does not know), -EINVAL
 * (KDF parameters out of range). *ret untouched on failure.
 */
int keyring_parse(const unsigned char *buf, size_t len, struct keyring_hdr *ret);

/*
 * Create keys at random, wrap them under passphrase with the given Argon2id
 * cost, and write the keyring to path (0600, atomically). Returns 0 and *ret
 * (caller frees with keys_free) or a negative errno.
 */
int keyring_create(const char *path, const char *pass, size_t passlen,
		   uint64_t opslimit, size_t memlimit, struct keys **ret);

/*
 * Read and unwrap the keyring at path. Returns 0 and *ret (keys_free), or
 * -EACCES (the passphrase does not open it), -EBADMSG / -EPROTONOSUPPORT /
 * -EINVAL (see keyring_parse), -EPERM (file readable by group or others, or
 * not a regular file), or another negative errno.
 */
int keyring_unlock(const char *path, const char *pass, size_t passlen, struct keys **ret);

/*
 * Read the keyring file at path into buf as it is on disk, after the checks
 * of keyring_check (for a backup, which carries the keyring wrapped); its
 * length (KEYRING_SIZE, or KEYRING_V1_SIZE for format 1) in *ret_len.
 */
int keyring_read(const char *path, unsigned char buf[KEYRING_MAX_SIZE], size_t *ret_len);

/* Read and parse the keyring at path without unwrapping it (see keyring_unlock). */
int keyring_check(const char *path, struct keyring_hdr *ret);

/*
 * Wrap the keys in k again, under a new passphrase, with a fresh salt and
 * nonce and the given Argon2id cost, and replace the keyring at path
 * atomically (temporary file, fsync, rename, fsync of the directory): a
 * crash leaves the old keyring or the new one, never neither. Returns 0,
 * -EINVAL (passphrase length or cost out of range) or another negative errno.
 */
int keyring_rewrap(const char *path, const struct keys *k, const char *pass, size_t passlen,
		   uint64_t opslimit, size_t memlimit);

/*
 * Unwrap a keyring image already in memory (as keyring_unlock does for a
 * file): for a keyring carried inside a backup. Same results.
 */
int keyring_unlock_buf(const unsigned char *buf, size_t len, const char *pass, size_t passlen,
		       struct keys **ret);

/*
 * Prepare k for an audit-key rotation: the current public key joins the
 * retired ones and a new key pair takes its place. -ENOSPC when
 * KEYRING_RETIRED_MAX keys are retired already (nothing changed).
 */
int keys_roll_sign(struct keys *k);

/* Prepare k for a data-key rotation: a new random next_dek, rotating set. */
void keys_begin_rotation(struct keys *k);

/* Finish it: next_dek becomes the DEK (commit true) or is dropped (false). */
void keys_end_rotation(struct keys *k, bool commit);

/* Whether pk is k's audit key or one of its retired ones. */
bool keys_knows_sign_pk(const struct keys *k, const unsigned char pk[32]);

/*
 * Check that pass opens the keyring at path and that it holds the keys in
 * use (in_use: same DEK and audit key, no rotation pending), as a caller
 * who changes the keyring must show: holding a session is not enough.
 * Returns 0, -EBADMSG (the keyring on disk is not the one in use) or what
 * keyring_unlock() returns.
 */
int keyring_confirm(const char *path, const char *pass, size_t passlen,
		    const struct keys *in_use);

/* A copy of k in new locked memory (keys_free it), or NULL. */
struct keys *keys_dup(const struct keys *k);

/*
 * The key that authenticates backups (doc/backup-format.md), derived from
 * the DEK, so whoever can unwrap the keyring inside a backup can check it
 * and nobody else can forge it.
 */
#define BACKUP_MAC_KEY_BYTES 32
void keys_backup_mac_key(const struct keys *k, unsigned char out[BACKUP_MAC_KEY_BYTES]);

/* Wipe and free keys. keys_free(NULL) does nothing. */
void keys_free(struct keys *k);

/* The DEK as the SQLCipher raw-key literal x'<64 hex>' in locked memory; sodium_free it. */
char *keys_dek_pragma(const struct keys *k);
/* The same for any 32-byte key (the next DEK of a rotation). */
char *keys_raw_pragma(const unsigned char key[DEK_BYTES]);
