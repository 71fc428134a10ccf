/*
 * audit-trust.c: key rolls and the retirement of audit keys (see
 * audit-trust.h).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "lib/audit-trust.h"

static int find(const struct audit_trust *t, const unsigned char pk[32])
{
	for (int i = 0; i < t->n; i++)
		if (sodium_memcmp(t->key[i].pk, pk, 32) == 0)
			return i;
	return -1;
}

/* Has key i made a roll already (is it some key's predecessor)? */
static int has_rolled(const struct audit_trust *t, int i)
{
	for (int j = 0; j < t->n; j++)
		if (t->key[j].by == i)
			return 1;
	return 0;
}

static int add(struct audit_trust *t, const unsigned char pk[32], int by, int64_t roll_seq,
	       int given)
{
	struct audit_trust_key *k;

	if (t->n == AUDIT_TRUST_MAX)
		return -E2BIG;
	k = &t->key[t->n];
	memcpy(k->pk, pk, 32);
	k->by = by;
	k->roll_seq = roll_seq;
	k->retired_at = INT64_MAX;
	k->last_signed = 0;
	k->given = given;
	return t->n++;
}

/*
 * Key i signs nothing after at (nor after the last seq it was seen to
 * sign, if later: those checkpoints were accepted, and come again as
 * re-deliveries). Retiring is for good; an earlier bound stays.
 */
static void retire(struct audit_trust *t, int i, int64_t at)
{
	struct audit_trust_key *k = &t->key[i];

	if (at < k->last_signed)
		at = k->last_signed;
	if (at < k->retired_at)
		k->retired_at = at;
}

int audit_trust_init(struct audit_trust *t, const unsigned char (*keys)[32], size_t n)
{
	memset(t, 0, sizeof(*t));
	if (n == 0 || n > AUDIT_TRUST_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (find(t, keys[i]) < 0)
			(void)add(t, keys[i], -1, 0, (int)i);
	return 0;
}

int audit_trust_unseen(const struct audit_trust *t)
{
	int n = 0;

	for (int i = 0; i < t->n; i++)
		if (t->key[i].given >= 0 && t->key[i].last_signed == 0)
			n++;
	return n;
}

int audit_trust_knows(const struct audit_trust *t, const unsigned char pubkey[32])
{
	return find(t, pubkey) >= 0;
}

int audit_trust_checkpoint(struct audit_trust *t, int64_t seq, const unsigned char pubkey[32],
			   const unsigned char *next_pubkey, const char **why)
{
	int k = find(t, pubkey), j, by;

	if (k < 0) {
		*why = "it was made with another key than the audit public keys given "
		       "(or named by a key roll before it)";
		return -EPERM;
	}
	if (seq > t->key[k].retired_at) {
		*why = "it was made with an audit key retired by an earlier key roll, after "
		       "that roll: the old key was stolen, the checkpoint is out of place, or "
		       "the keys were not given oldest first";
		return -EPERM;
	}
	if (next_pubkey != NULL) {
		j = find(t, next_pubkey);
		if (j >= 0 && t->key[j].by == k && t->key[j].roll_seq == seq) {
			/* The same roll again (a re-delivery). */
		} else if (t->key[k].retired_at != INT64_MAX) {
			*why = "it is a key roll by an audit key already retired by another roll";
			return -EPERM;
		} else if (j == k || (j >= 0 && (t->key[j].by >= 0 || has_rolled(t, j)))) {
			*why = "it is a key roll to a key that is already in the chain";
			return -EPERM;
		} else if (j >= 0) {
			/*
			 * A key the caller gave: the keyring took it (that is
			 * where the caller's copy comes from), so the roll took
			 * effect and the key that made it is retired now.
			 */
			t->key[j].by = k;
			t->key[j].roll_seq = seq;
		} else if ((j = add(t, next_pubkey, k, seq, -1)) < 0) {
			return j;
		}
	}
	if (seq > t->key[k].last_signed)
		t->key[k].last_signed = seq;
	/*
	 * This key signs, so the roll that named it took effect: the key that
	 * made the roll signs nothing after it. Checked after the roll above,
	 * so that a key's own roll is not read as its successor signing. A
	 * roll to a given key has the same effect at once.
	 */
	by = t->key[k].by;
	if (by >= 0)
		retire(t, by, t->key[k].roll_seq);
	if (next_pubkey != NULL && t->key[j].given >= 0)
		retire(t, k, seq);
	/* Every key given before this one was replaced by the time it signed. */
	if (t->key[k].given > 0)
		for (int i = 0; i < t->n; i++)
			if (i != k && t->key[i].given >= 0 && t->key[i].given < t->key[k].given)
				retire(t, i, seq);
	return 0;
}
