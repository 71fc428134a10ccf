/*
 * guard.c: quotas, id-guessing runs and canaries (see guard.h).
 *
 * Per principal: the distinct client ids received in the quota window (a
 * jansson object used as a hash set: id -> time counted) and the times of
 * recent NotFound answers. Both are bounded by the role's limits, since a
 * principal is refused or locked when it would cross them.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/auth.h"
#include "daemon/guard.h"
#include "daemon/log.h"
#include "daemon/store.h"
#include "daemon/util.h"

/* One registry per process: one lock, which needs no set-up or tear-down. */
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;

struct guard_principal {
	char name[AUTH_NAME_MAX + 1];
	json_t *seen;                   /* client id -> time first counted (µs) */
	int64_t *nf;                    /* NotFound times (µs), oldest first */
	size_t nf_n, nf_cap;
};

static struct guard_principal *find(struct guard *g, const char *name, bool create)
{
	struct guard_principal *p;

	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->p[i].name, name) == 0)
			return &g->p[i];
	if (!create)
		return NULL;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct guard_principal *np = realloc(g->p, cap * sizeof(*np));

		if (np == NULL)
			return NULL;
		g->p = np;
		g->cap = cap;
	}
	p = &g->p[g->n];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->seen = json_object();
	if (p->seen == NULL)
		return NULL;
	g->n++;
	return p;
}

/* Drop what has left the window. */
static void prune_seen(struct guard_principal *p, int64_t since)
{
	const char *key;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(p->seen, tmp, key, v)
		if (json_integer_value(v) < since)
			json_object_del(p->seen, key);
}

static void prune_nf(struct guard_principal *p, int64_t since)
{
	size_t drop = 0;

	while (drop < p->nf_n && p->nf[drop] < since)
		drop++;
	/* Nothing to drop also covers nf still NULL: memmove must never see NULL. */
	if (drop == 0)
		return;
	memmove(p->nf, p->nf + drop, (p->nf_n - drop) * sizeof(*p->nf));
	p->nf_n -= drop;
}

static int add_nf(struct guard_principal *p, int64_t t)
{
	if (p->nf_n == p->nf_cap) {
		size_t cap = p->nf_cap ? p->nf_cap * 2 : 32;
		int64_t *n = realloc(p->nf, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		p->nf = n;
		p->nf_cap = cap;
	}
	p->nf[p->nf_n++] = t;
	return 0;
}

static void count_ids(struct guard_principal *p, const char *ids, int64_t t)
{
	while (*ids) {
		size_t n = strcspn(ids, " ");
		char id[ID_HEX_LEN + 1];

		if (n == ID_HEX_LEN) {
			memcpy(id, ids, n);
			id[n] = '\0';
			if (json_object_get(p->seen, id) == NULL)
				json_object_set_new(p->seen, id, json_integer(t));
		}
		ids += n;
		ids += strspn(ids, " ");
	}
}

struct rebuild {
	struct guard_principal *p;
	int64_t quota_since;
	int64_t guess_since;
};

static int on_recent(int64_t time_us, const char *ids, int64_t records, const char *result,
		     const char *method, void *data)
{
	struct rebuild *rb = data;

	if (records > 0 && time_us >= rb->quota_since)
		count_ids(rb->p, ids, time_us);
	/*
	 * Only a Get's NotFound is a guess, as when the daemon counts it live
	 * (method-clients.c): a run rebuilt from other misses (a Delete of
	 * an id already gone) would lock a principal after an unseal that the
	 * same calls never locked while it ran.
	 */
	if (strcmp(result, "not_found") == 0 && strcmp(method, "io.roster.Clients.Get") == 0 &&
	    time_us >= rb->guess_since)
		return add_nf(rb->p, time_us);
	return 0;
}

static int load_locked(struct guard *g, struct store *s, const struct auth *a, int64_t now);

int guard_load(struct guard *g, struct store *s, const struct auth *a)
{
	int64_t now = now_usec();
	int r;

	guard_free(g);
	pthread_mutex_lock(&guard_mu);
	r = load_locked(g, s, a, now);
	pthread_mutex_unlock(&guard_mu);
	return r;
}

static int load_locked(struct guard *g, struct store *s, const struct auth *a, int64_t now)
{
	int r = store_canary_ids(s, &g->canaries);

	if (r < 0)
		return r;
	for (size_t i = 0; i < a->n_princ; i++) {
		const struct principal *pr = &a->princ[i];
		const struct role *ro = auth_role(a, pr->role);
		struct rebuild rb;
		int64_t since;

		if (ro == NULL)
			continue;
		rb.p = find(g, pr->name, true);
		if (rb.p == NULL)
			return -ENOMEM;
		rb.quota_since = ro->quota_n >= 0 ? now - ro->quota_window * 1000000 : INT64_MAX;
		rb.guess_since = now - ro->guess_window * 1000000;
		/* An unlock starts the counts afresh. */
		if (rb.quota_since < pr->guard_reset)
			rb.quota_since = pr->guard_reset;
		if (rb.guess_since < pr->guard_reset)
			rb.guess_since = pr->guard_reset;
		since = rb.quota_since < rb.guess_since ? rb.quota_since : rb.guess_since;
		r = store_audit_recent(s, pr->name, since, on_recent, &rb);
		if (r < 0)
			return r;
	}
	return 0;
}

void guard_free(struct guard *g)
{
	pthread_mutex_lock(&guard_mu);
	for (size_t i = 0; i < g->n; i++) {
		json_decref(g->p[i].seen);
		free(g->p[i].nf);
	}
	free(g->p);
	json_decref(g->canaries);
	memset(g, 0, sizeof(*g));
	pthread_mutex_unlock(&guard_mu);
}

static enum guard_verdict reads_locked(struct guard *g, const char *principal,
				       const struct role *role, const json_t *ids, int64_t now_us,
				       size_t *ret_fresh);

enum guard_verdict guard_reads(struct guard *g, const char *principal, const struct role *role,
			       const json_t *ids, int64_t now_us, size_t *ret_fresh)
{
	enum guard_verdict v;
	size_t fresh = 0;

	if (role == NULL || role->quota_n < 0 || json_array_size(ids) == 0) {
		if (ret_fresh != NULL)
			*ret_fresh = 0;
		return GUARD_OK;
	}
	pthread_mutex_lock(&guard_mu);
	v = reads_locked(g, principal, role, ids, now_us, &fresh);
	pthread_mutex_unlock(&guard_mu);
	if (ret_fresh != NULL)
		*ret_fresh = v == GUARD_OK ? fresh : 0;
	return v;
}

static enum guard_verdict reads_locked(struct guard *g, const char *principal,
				       const struct role *role, const json_t *ids, int64_t now_us,
				       size_t *ret_fresh)
{
	struct guard_principal *p;
	size_t i, fresh = 0;
	json_t *v;

	p = find(g, principal, true);
	if (p == NULL)
		return role->lock_on_quota ? GUARD_QUOTA_LOCK : GUARD_QUOTA;  /* fail closed */
	prune_seen(p, now_us - role->quota_window * 1000000);
	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);

		if (id != NULL && json_object_get(p->seen, id) == NULL)
			fresh++;
	}
	if ((int64_t)(json_object_size(p->seen) + fresh) > role->quota_n)
		return role->lock_on_quota ? GUARD_QUOTA_LOCK : GUARD_QUOTA;
	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);

		if (id != NULL && json_object_get(p->seen, id) == NULL)
			json_object_set_new(p->seen, id, json_integer(now_us));
	}
	*ret_fresh = fresh;
	return GUARD_OK;
}

void guard_unsee(struct guard *g, const char *principal, const char *id)
{
	struct guard_principal *p;

	pthread_mutex_lock(&guard_mu);
	p = find(g, principal, false);
	if (p != NULL)
		json_object_del(p->seen, id);
	pthread_mutex_unlock(&guard_mu);
}

bool guard_not_found(struct guard *g, const char *principal, const struct role *role,
		     int64_t now_us)
{
	struct guard_principal *p;
	bool lock = true;               /* fail closed */

	if (role == NULL || role->guess_n <= 0)
		return false;
	pthread_mutex_lock(&guard_mu);
	p = find(g, principal, true);
	if (p != NULL) {
		prune_nf(p, now_us - role->guess_window * 1000000);
		if (add_nf(p, now_us) == 0)
			lock = (int64_t)p->nf_n >= role->guess_n;
	}
	pthread_mutex_unlock(&guard_mu);
	return lock;
}

void guard_reset(struct guard *g, const char *principal)
{
	struct guard_principal *p;

	pthread_mutex_lock(&guard_mu);
	p = find(g, principal, false);
	if (p != NULL) {
		json_object_clear(p->seen);
		p->nf_n = 0;
	}
	pthread_mutex_unlock(&guard_mu);
}

bool guard_any_canary(const struct guard *g, const json_t *ids)
{
	size_t i;
	json_t *v;

	if (g->canaries == NULL || json_object_size(g->canaries) == 0)
		return false;
	json_array_foreach(ids, i, v)
		if (json_is_string(v) && json_object_get(g->canaries, json_string_value(v)) != NULL)
			return true;
	return false;
}

void guard_add_canary(struct guard *g, const char *id)
{
	if (g->canaries == NULL)
		g->canaries = json_object();
	if (g->canaries != NULL)
		json_object_set_new(g->canaries, id, json_true());
}
