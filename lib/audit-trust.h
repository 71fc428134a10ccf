/*
 * audit-trust.h: which audit keys may sign a checkpoint at a given point
 * of the chain, for both verifiers (the daemon's `audit verify` and the
 * offline `audit verify --log`), so that they cannot disagree.
 *
 * Trust starts from the keys the caller gives. A key roll (a checkpoint
 * with a next public key) signed by a key in force makes the key it names
 * trusted from its seq on. The key that made the roll stays in force until
 * its successor is seen signing: a crash between committing the roll and
 * writing the keyring leaves the old key in use, and its later checkpoints
 * must still verify. Once the successor has signed, the old key is
 * retired: it is accepted for checkpoints at or before the roll only, and
 * for no further roll. So whoever steals a retired key cannot sign new
 * checkpoints with it, nor hand trust on to a key of their own.
 *
 * Checkpoints must be checked in seq order, except that one already
 * checked may come again (a shipper's re-delivery).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Keys a chain can hold: the caller's, and one per roll after them. */
#define AUDIT_TRUST_MAX 256

struct audit_trust_key {
	unsigned char pk[32];
	int64_t roll_seq;       /* the seq of the roll that named it; 0 if only given */
	int by;                 /* the key whose roll named it; -1 if none (yet) */
	int64_t retired_at;     /* INT64_MAX while in force; else the seq it signs up to */
};

struct audit_trust {
	struct audit_trust_key key[AUDIT_TRUST_MAX];
	int n;
};

/*
 * Start from n keys (at most AUDIT_TRUST_MAX, duplicates merged). Returns
 * 0, or -EINVAL for none or too many.
 */
int audit_trust_init(struct audit_trust *t, const unsigned char (*keys)[32], size_t n);

/*
 * May the checkpoint at seq, signed with pubkey (its signature already
 * verified), stand, and, for a key roll (next_pubkey not NULL), hand trust
 * on? Updates t and returns 0 if so; -EPERM with a sentence in *why
 * (static, naming no key) if not; -E2BIG when more keys than
 * AUDIT_TRUST_MAX would be trusted.
 */
int audit_trust_checkpoint(struct audit_trust *t, int64_t seq, const unsigned char pubkey[32],
			   const unsigned char *next_pubkey, const char **why);

/* Is pubkey trusted at all (in force or retired)? */
int audit_trust_knows(const struct audit_trust *t, const unsigned char pubkey[32]);
