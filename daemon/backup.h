/*
 * backup.h: the backup file format (doc/backup-format.md), shared by rosterd,
 * which writes backups, and rosterctl, which checks and restores them.
 *
 * A backup is one file: a fixed header, the keyring exactly as it was on
 * disk (wrapped under the admin passphrase), the database file as SQLCipher
 * wrote it (encrypted under the DEK), and a tag: keyed BLAKE2b-256 over all
 * the bytes before it, keyed by a subkey of the DEK (keys_backup_mac_key).
 * Nothing in it is plaintext but the header's counters and hashes.
 *
 * Header (BACKUP_HDR_SIZE bytes, integers big-endian):
 *    0  magic "ROSTERBK"                 8
 *    8  format version (1)               4
 *   12  keyring length                   4   KEYRING_SIZE, or KEYRING_V1_SIZE
 *   16  creation time, us since 1970     8
 *   24  audit head sequence              8
 *   32  audit head hash                 32
 *   64  database length                  8
 *   72  reserved, zero                   8
 * then the keyring, the database, and the 32-byte tag.
 *
 * This module never sees a passphrase or a key; it only packs and parses.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define BACKUP_MAGIC "ROSTERBK"
#define BACKUP_VERSION 1
#define BACKUP_HDR_SIZE 80
#define BACKUP_TAG_SIZE 32
/* The largest database a backup may carry (1 TiB): bounds what a header can claim. */
#define BACKUP_DB_MAX (UINT64_C(1) << 40)

struct backup_hdr {
	uint32_t version;
	uint32_t keyring_len;
	int64_t created_us;
	int64_t audit_seq;
	unsigned char audit_hash[32];
	uint64_t db_len;
};

/* Encode h (the version is filled in here; keyring_len is h's) into out. */
void backup_hdr_pack(const struct backup_hdr *h, unsigned char out[BACKUP_HDR_SIZE]);

/*
 * Parse a header. Returns 0 and *ret, -EBADMSG (not a backup, or lengths
 * that cannot be right) or -EPROTONOSUPPORT (a format version this build
 * does not know); *ret untouched on failure.
 */
int backup_hdr_parse(const unsigned char *buf, size_t len, struct backup_hdr *ret);

/* The size of the whole file the header describes. */
uint64_t backup_file_size(const struct backup_hdr *h);
