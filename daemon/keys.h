/*
 * keys.h: the keyring. One small file in the state directory holds the
 * data key (DEK, the raw SQLCipher key) and the Ed25519 audit signing key,
 * encrypted with XChaCha20-Poly1305 under a key derived from the admin
 * passphrase by Argon2id. The header (format version, KDF parameters, salt,
 * nonce, audit public key) is authenticated as associated data, and the
 * whole file carries a BLAKE2b checksum so accidental or careless damage is
 * named as such before any passphrase is tried.
 *
 * Layout (all integers big-endian), KEYRING_SIZE bytes:
 *    0  magic "ROSTERKR"            8
 *    8  format version (1)          4
 *   12  KDF algorithm (Argon2id13)  4
 *   16  opslimit                    8
 *   24  memlimit (bytes)            8
 *   32  salt                       16
 *   48  nonce                      24
 *   72  audit public key           32
 *  104  ciphertext: DEK (32) + audit secret key (64) + tag (16) = 112
 *  216  BLAKE2b-256 of bytes 0..215 32
 *
 * Unwrapped keys live only in sodium_malloc memory (guard pages, mlocked)
 * and are wiped by keys_free(). This module never logs and never writes a
 * passphrase anywhere.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define KEYRING_MAGIC "ROSTERKR"
#define KEYRING_VERSION 1
#define KEYRING_SIZE 248
#define KEYRING_FILE "keyring"

#define DEK_BYTES 32

/* Passphrase length bounds, in bytes. */
#define PASSPHRASE_MIN 12
#define PASSPHRASE_MAX 1024

struct keys {
	unsigned char dek[DEK_BYTES];
	unsigned char sign_sk[64];
	unsigned char sign_pk[32];
	/*
	 * Key for hashing principals' tokens, derived from the DEK (never
	 * stored), so a copy of the database alone cannot test guesses.
	 */
	unsigned char token_key[32];
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
	unsigned char ct[112];
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
 * of keyring_check (for a backup, which carries the keyring wrapped).
 */
int keyring_read(const char *path, unsigned char buf[KEYRING_SIZE]);

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
