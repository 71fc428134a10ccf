/*
 * audit-hash.h: the canonical encoding of audit records and checkpoints
 * (doc/audit-format.md), in one place, so that the daemon that writes the
 * chain and the verifiers that check it cannot disagree.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define AUDIT_HASH_BYTES 32
/* "roster.checkpoint.v1" NUL u64 seq, 32-byte hash, u64 time. */
#define AUDIT_CP_MSG_BYTES (21 + 8 + 32 + 8)
/* "roster.keyroll.v1" NUL u64 seq, 32-byte hash, u64 time, the next public key. */
#define AUDIT_KEYROLL_MSG_BYTES (18 + 8 + 32 + 8 + 32)

/* A record's fields in canonical order; strings are never NULL ("" for none). */
struct audit_fields {
	int64_t seq;
	int64_t time_us;
	const char *principal;
	int64_t uid;
	int64_t gid;
	int64_t pid;
	const char *role;
	const char *method;
	const char *ids;
	const char *fields;
	int64_t records;
	const char *result;
	const char *error;
	const char *alert;
};

/* hash = BLAKE2b-256("roster.audit.v1" NUL prev enc(field)...). */
void audit_hash(const unsigned char prev[AUDIT_HASH_BYTES], const struct audit_fields *f,
		unsigned char out[AUDIT_HASH_BYTES]);

/* The bytes a checkpoint's Ed25519 signature covers. */
void audit_checkpoint_message(int64_t seq, const unsigned char hash[AUDIT_HASH_BYTES],
			      int64_t time_us, unsigned char out[AUDIT_CP_MSG_BYTES]);

/*
 * The bytes a key-roll checkpoint's signature covers: signed with the audit
 * key being retired, it names the key that signs from then on, so a
 * verifier that trusts the old key comes to trust the new one.
 */
void audit_keyroll_message(int64_t seq, const unsigned char hash[AUDIT_HASH_BYTES],
			   int64_t time_us, const unsigned char next_pubkey[32],
			   unsigned char out[AUDIT_KEYROLL_MSG_BYTES]);

/*
 * A record's time as records show it, RFC 3339 in UTC with an optional
 * fraction ("2026-11-26T05:31:12Z", "2026-11-26T05:31:12.123456Z"), to µs
 * since the epoch. Digits of the fraction past the sixth (below a µs) are
 * ignored. Returns 0, or -EINVAL if s is not such a time. The daemon's
 * query filters and rosterctl's report read times with this one parser, so
 * a filter means the same instant as the records it is compared with.
 */
int audit_time_parse(const char *s, int64_t *ret_us);
