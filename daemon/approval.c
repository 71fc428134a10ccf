/*
 * approval.c: the table of export requests (see approval.h).
 *
 * A fixed array: nothing here allocates, and a full table refuses new
 * requests instead of growing. Slots whose request has expired or been used
 * are kept until a new request needs one, so that a late caller is told
 * "expired" or "used" rather than "not found". This module never logs.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon/approval.h"

void approvals_init(struct approvals *t, int64_t window_s)
{
	memset(t, 0, sizeof(*t));
	if (window_s <= 0 || window_s > APPROVAL_WINDOW_MAX)
		window_s = APPROVAL_WINDOW_DEFAULT;
	t->window_us = window_s * 1000000;
}

void approvals_clear(struct approvals *t)
{
	int64_t window_us = t->window_us;

	memset(t, 0, sizeof(*t));
	t->window_us = window_us;
}

int64_t approval_expires(const struct approvals *t, const struct approval *a)
{
	/* A pending request lapses a window after it was made; an approval, a window after it was given. */
	return (a->state == APPROVAL_PENDING ? a->requested_us : a->approved_us) + t->window_us;
}

/* Outstanding: may still be approved or used. */
static bool live(const struct approvals *t, const struct approval *a, int64_t now_us)
{
	return (a->state == APPROVAL_PENDING || a->state == APPROVAL_APPROVED ||
		a->state == APPROVAL_LISTING) && now_us < approval_expires(t, a);
}

static struct approval *find(struct approvals *t, const char *id)
{
	for (size_t i = 0; i < APPROVAL_SLOTS; i++)
		if (t->a[i].state != APPROVAL_FREE && strcmp(t->a[i].id, id) == 0)
			return &t->a[i];
	return NULL;
}

enum approval_error approvals_request(struct approvals *t, const char *principal, uid_t uid,
				      int64_t now_us, struct approval **ret)
{
	struct approval *slot = NULL;
	size_t n_live = 0, n_uid = 0;

	for (size_t i = 0; i < APPROVAL_SLOTS; i++) {
		struct approval *a = &t->a[i];

		if (live(t, a, now_us)) {
			n_live++;
			if (a->requester_uid == uid)
				n_uid++;
			continue;
		}
		/* A free slot first, else the oldest dead one. */
		if (slot == NULL || (slot->state != APPROVAL_FREE &&
				     (a->state == APPROVAL_FREE || a->requested_us < slot->requested_us)))
			slot = a;
	}
	if (n_live >= APPROVAL_LIVE_MAX || n_uid >= APPROVAL_LIVE_PER_UID || slot == NULL)
		return APPROVAL_E_TOOMANY;
	memset(slot, 0, sizeof(*slot));         /* now FREE: find() no longer sees it */
	do
		id_generate(slot->id);
	while (find(t, slot->id) != NULL);      /* 128 random bits: a clash is only theoretical */
	slot->state = APPROVAL_PENDING;
	snprintf(slot->requester, sizeof(slot->requester), "%s", principal);
	slot->requester_uid = uid;
	slot->requested_us = now_us;
	*ret = slot;
	return APPROVAL_OK;
}

enum approval_error approvals_approve(struct approvals *t, const char *id, const char *principal,
				      uid_t uid, int64_t now_us, struct approval **ret)
{
	struct approval *a = find(t, id);

	if (a == NULL)
		return APPROVAL_E_NOTFOUND;
	*ret = a;
	/* The rule itself: a second person, which the kernel tells apart by uid. */
	if (uid == a->requester_uid)
		return APPROVAL_E_SELF;
	if (a->state != APPROVAL_PENDING)
		return APPROVAL_E_USED;
	if (now_us >= approval_expires(t, a))
		return APPROVAL_E_EXPIRED;
	a->state = APPROVAL_APPROVED;
	snprintf(a->approver, sizeof(a->approver), "%s", principal);
	a->approver_uid = uid;
	a->approved_us = now_us;
	return APPROVAL_OK;
}

enum approval_error approvals_usable(struct approvals *t, const char *id, const char *principal,
				     uid_t uid, int64_t now_us, struct approval **ret)
{
	struct approval *a = find(t, id);

	if (a == NULL)
		return APPROVAL_E_NOTFOUND;
	/* Whose it is comes first: nobody else learns anything about its state. */
	if (uid != a->requester_uid || strcmp(principal, a->requester) != 0)
		return APPROVAL_E_NOTYOURS;
	*ret = a;
	if (a->state == APPROVAL_USED)
		return APPROVAL_E_USED;
	if (now_us >= approval_expires(t, a))
		return APPROVAL_E_EXPIRED;
	if (a->state == APPROVAL_PENDING)
		return APPROVAL_E_PENDING;
	return APPROVAL_OK;
}
