/*
 * approval.h: the two-person rule. A bulk read of the registry (an Export,
 * or a List past its first page) needs an export request made by one admin
 * and approved by an admin on a different uid, used once, within a window.
 *
 *   ExportRequest (admin A)      -> PENDING, lapses window after the request
 *   ExportApprove (admin B != A) -> APPROVED, valid window after the approval
 *   Export by A                  -> USED (the whole registry, streamed)
 *   List by A with the approval  -> LISTING (one walk from the first page to
 *                                   the last, in order) -> USED at the end
 *
 * Requests live in memory only: a restart or a Seal drops them all, and an
 * approval that did not survive is simply requested again. The table is
 * bounded (APPROVAL_SLOTS kept, APPROVAL_LIVE_MAX outstanding at once,
 * APPROVAL_LIVE_PER_UID of them per requesting uid), so no admin can make
 * the daemon hold an unbounded number. Request ids are random, like client
 * ids, but they grant nothing by themselves: only the requester's own uid
 * and principal can use an approval. Every step is on the audit trail
 * (method-admin.c, method-clients.c); this module never logs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/auth.h"
#include "daemon/util.h"

#define APPROVAL_SLOTS 32
#define APPROVAL_LIVE_MAX 16
#define APPROVAL_LIVE_PER_UID 4
#define APPROVAL_WINDOW_DEFAULT 900     /* seconds: 15 minutes */
#define APPROVAL_WINDOW_MAX 86400

enum approval_state {
	APPROVAL_FREE = 0,      /* an unused slot */
	APPROVAL_PENDING,
	APPROVAL_APPROVED,
	APPROVAL_LISTING,       /* a List walk has started; cursor says where it is */
	APPROVAL_USED,
};

struct approval {
	enum approval_state state;
	char id[ID_HEX_LEN + 1];
	char requester[AUTH_NAME_MAX + 1];      /* principal name, or "bootstrap" */
	uid_t requester_uid;
	char approver[AUTH_NAME_MAX + 1];
	uid_t approver_uid;
	int64_t requested_us;
	int64_t approved_us;
	char cursor[ID_HEX_LEN + 1];            /* LISTING: the last id the walk returned */
};

struct approvals {
	struct approval a[APPROVAL_SLOTS];
	int64_t window_us;
};

/* Why approvals_*() refused; each maps to one typed Varlink error. */
enum approval_error {
	APPROVAL_OK = 0,
	APPROVAL_E_NOTFOUND,    /* no request has this id (or it was dropped) */
	APPROVAL_E_TOOMANY,     /* too many outstanding requests */
	APPROVAL_E_SELF,        /* the approver's uid is the requester's */
	APPROVAL_E_NOTYOURS,    /* only the requester may use the approval */
	APPROVAL_E_PENDING,     /* not approved yet */
	APPROVAL_E_EXPIRED,     /* the window has passed */
	APPROVAL_E_USED,        /* already approved (Approve) or already used */
};

/* An empty table with this validity window in seconds (0: the default). */
void approvals_init(struct approvals *t, int64_t window_s);

/* Forget every request (at Seal); the window stays. */
void approvals_clear(struct approvals *t);

/* When the request or approval stops being valid, in µs. */
int64_t approval_expires(const struct approvals *t, const struct approval *a);

/* A new PENDING request by principal on uid. *ret points into t. */
enum approval_error approvals_request(struct approvals *t, const char *principal, uid_t uid,
				      int64_t now_us, struct approval **ret);

/* Approve request id as principal on uid. *ret points into t (also on E_USED). */
enum approval_error approvals_approve(struct approvals *t, const char *id, const char *principal,
				      uid_t uid, int64_t now_us, struct approval **ret);

/*
 * The approval id, if principal on uid may use it now: it is theirs,
 * approved and within its window, and not used up (an APPROVED or LISTING
 * one). The caller moves it on (LISTING, USED) once the use succeeds.
 */
enum approval_error approvals_usable(struct approvals *t, const char *id, const char *principal,
				     uid_t uid, int64_t now_us, struct approval **ret);
