/*
 * audit-trust.h: which audit keys may sign a checkpoint at a given point
 * of the chain, for both verifiers (the daemon's `audit verify` and the
 * offline `audit verify --log`), so that they cannot disagree.
 *
 * Trust starts from the keys the caller gives, oldest first (as `rosterctl
 * audit pubkey --all` prints them). A key roll (a checkpoint with a next
 * public key) signed by a key in force makes the key it names trusted from
 * its seq on. The key that made the roll stays in force until its
 * successor is seen signing: a crash between committing the roll and
 * writing the keyring leaves the old key in use, and its later checkpoints
 * must still verify. Once the successor has signed, or the roll names a
 * key the caller gave (the keyring took it, or the caller could not have
 * it), the old key is retired: it is accepted for checkpoints up to the
 * roll (or the last it was seen to sign, if later) only, and for no
 * further roll. A given key seen signing also retires every key given
 * before it, at that seq at the latest, so that removing the roll's line
 * does not keep the old key in force. So whoever steals a retired key
 * cannot sign new checkpoints with it, nor hand trust on to a key of their
 * own -- unless the file is also cut before the new key's first
 * signature, which then looks like a copy made before the rotation:
 * audit_trust_unseen() counts the given keys that never signed, for the
 * report to say so.
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
	int64_t last_signed;    /* the highest seq it was seen to sign; 0 if none */
	int given;              /* its place in the caller's list (oldest 0); -1 if not given */
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

/* How many of the keys the caller gave were never seen signing. */
int audit_trust_unseen(const struct audit_trust *t);
