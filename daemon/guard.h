/*
 * guard.h: breach containment. A stolen service identity must not be able
 * to walk away with the client list:
 *
 *  - quotas: a role's "N/WINDOW" caps how many distinct client records a
 *    principal may receive in a sliding window (Get, Search and List results
 *    all count; a record already counted is free). The call that would cross
 *    it is refused (io.roster.QuotaExceeded), alerted (QUOTA), and unless the
 *    role says otherwise the principal is locked (LOCKOUT);
 *  - id guessing: a run of NotFound answers (the role's guess_n in
 *    guess_window, default 20 in 10 minutes) locks the principal (GUESSING);
 *  - canaries: reading a canary client marks the call's record CANARY.
 *
 * The state is rebuilt from the audit trail at unseal (the trail is the
 * durable record of what each principal received), so it survives a
 * restart without a table of its own. Bootstrap admins are not counted.
 * This module never logs a client field value.
 *
 * Lookups decide their NotFound counting on the audit writer's thread (see
 * method-clients.c), everything else on the loop thread: every function
 * here takes the guard's lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct store;
struct auth;
struct role;

struct guard_principal;

struct guard {
	struct guard_principal *p;      /* one per principal seen, by name */
	size_t n, cap;
	json_t *canaries;               /* object: canary id -> true */
};

/* What guard_reads() decided. */
enum guard_verdict {
	GUARD_OK,
	GUARD_QUOTA,            /* refuse: over quota, do not lock */
	GUARD_QUOTA_LOCK,       /* refuse and lock */
};

/* Rebuild the state from the audit trail and load the canary set. Returns 0 or negative errno. */
int guard_load(struct guard *g, struct store *s, const struct auth *a);
void guard_free(struct guard *g);

/*
 * A principal is about to receive these client ids (a JSON array of id
 * strings). Returns the verdict; on GUARD_OK they are counted, and
 * *ret_fresh (if not NULL) says how many were not counted before.
 */
enum guard_verdict guard_reads(struct guard *g, const char *principal, const struct role *role,
			       const json_t *ids, int64_t now_us, size_t *ret_fresh);

/* Take back the count of one id guard_reads() counted fresh (it was not there after all). */
void guard_unsee(struct guard *g, const char *principal, const char *id);

/* A NotFound answer to this principal. True if it completes a run that must lock it. */
bool guard_not_found(struct guard *g, const char *principal, const struct role *role,
		     int64_t now_us);

/* Forget a principal's counts (an admin unlocked it). */
void guard_reset(struct guard *g, const char *principal);

/* Canaries. */
bool guard_any_canary(const struct guard *g, const json_t *ids);
void guard_add_canary(struct guard *g, const char *id);
