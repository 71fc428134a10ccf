/*
 * method-clients.c: io.roster.Clients. Handlers validate parameters, call
 * the store, and shape replies through one function, client_view(), which
 * is where a caller's field visibility is applied. They never check
 * permissions (the dispatcher has) and never log a field value.
 *
 * The two-person rule lives here too (approval.h): List answers one page
 * of at most LIST_LIMIT_MAX records, and only the first page unless the
 * caller holds an approved export request; ExportRequest, ExportApprove and
 * Export move a request through its states, and Export streams the whole
 * registry to the admin who asked for it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/approval.h"
#include "daemon/audit.h"
#include "daemon/auth.h"
#include "daemon/dispatch.h"
#include "daemon/guard.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/server.h"
#include "daemon/util.h"
#include "daemon/validate.h"

#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX 100
/* Letters or digits a search needs from a caller without clients.list. */
#define SEARCH_QUERY_MIN_UNLISTED 3
#define LIST_LIMIT_DEFAULT 100
/*
 * One page: what List gives without an approval (the first page only), and
 * the most any List call answers, so that "one page" means the same for
 * every caller.
 */
#define LIST_LIMIT_MAX 100
/* Records Export reads from the store at a time, and ids it snapshots at a time. */
#define EXPORT_PAGE 500
/* How soon Export tries again when the caller is not reading fast enough (ms). */
#define EXPORT_RETRY_MS 5
/* Clients per Import call (its frame is bounded by FRAME_MAX_SIZE as well). */
#define IMPORT_MAX 100

/*
 * Shape a stored record for the caller. Every reply that carries a client
 * goes through here, so that field filtering by role lives in one place.
 * Takes over rec; returns the record to send (or NULL on allocation failure).
 */
static json_t *view_fields(unsigned visible, json_t *rec)
{
	static const struct {
		const char *key;
		unsigned cls;
	} fields[] = {
		{ "name", FIELD_IDENTITY },     { "kind", FIELD_IDENTITY },
		{ "country", FIELD_IDENTITY },  { "status", FIELD_IDENTITY },
		{ "contact_name", FIELD_CONTACT }, { "contact_email", FIELD_CONTACT },
		{ "contact_phone", FIELD_CONTACT }, { "tier", FIELD_COMMERCIAL },
		{ "notes", FIELD_INTERNAL },
	};

	if (rec == NULL)
		return NULL;
	/* id, created_at, updated_at and version are always visible. */
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!(visible & fields[i].cls))
			json_object_del(rec, fields[i].key);
	return rec;
}

static json_t *client_view(const struct call *c, json_t *rec)
{
	return view_fields(c->ident.fields, rec);
}

json_t *clients_view(struct call *c, json_t *arr)
{
	size_t i;
	json_t *rec;

	json_array_foreach(arr, i, rec) {
		call_note_client(c, json_string_value(json_object_get(rec, "id")));
		json_t *v = client_view(c, json_incref(rec));

		if (v == NULL || json_array_set_new(arr, i, v) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	call_note_disclosed(c, (int64_t)json_array_size(arr));
	return arr;
}

static void store_failed(struct call *c, int r)
{
	call_error_message(c, "io.roster.InternalError",
			   r == -ENOMEM ? "out of memory" : "storage failure (see the daemon's log)");
}

static bool check(struct call *c, const char *const *spec, size_t n)
{
	char bad[VALIDATE_NAME_MAX];

	if (validate_params(c->params, spec, n, bad))
		return true;
	call_invalid_parameter(c, bad);
	return false;
}

/* The optional integer parameter name in [1, max], or def; -1 after answering. */
static int get_limit(struct call *c, const char *name, int def, int max)
{
	const json_t *v = json_object_get(c->params, name);
	json_int_t n;

	if (v == NULL || json_is_null(v))
		return def;
	n = json_integer_value(v);
	if (n < 1 || n > max) {
		call_invalid_parameter(c, name);
		return -1;
	}
	return (int)n;
}

/* The id parameter, checked; NULL after answering. */
static const char *get_id(struct call *c, const char *name)
{
	const char *id = json_string_value(json_object_get(c->params, name));

	if (id == NULL || !id_valid(id)) {
		call_invalid_parameter(c, name);
		return NULL;
	}
	return id;
}

static void not_found(struct call *c, const char *id)
{
	call_error(c, "io.roster.NotFound", json_pack("{s:s}", "id", id));
}

/* ---- guard ------------------------------------------------------------------- */

/* Lock the calling principal (quota or guessing) and reload, so every connection sees it. */
static void lock_caller(struct call *c, const char *reason)
{
	struct registry *reg = c->srv->reg;

	if (store_principal_set_lock(reg->store, c->rec.principal, true, reason) < 0 ||
	    (auth_flush(&reg->auth, reg->store), auth_load(&reg->auth, reg->store, c->srv->own_uid)) < 0)
		log_err("guard: could not lock principal %s", c->rec.principal);
}

static void alert(struct call *c, const char *id)
{
	snprintf(c->rec.alert, sizeof(c->rec.alert), "%s", id);
	/* At once on the daemon's own log too; the shipper sends the record at alert priority. */
	log_warn("ALERT %s: principal %s (uid %u, pid %ld) calling %s", id, c->rec.principal,
		 (unsigned)c->uid, (long)c->pid, c->name);
}

/* Whether the caller is a principal the guard counts (not a bootstrap admin). */
static bool guarded(const struct call *c)
{
	return !c->ident.bootstrap && c->rec.principal[0] != '\0' &&
	       strcmp(c->rec.principal, "unknown") != 0 && strcmp(c->rec.principal, "bootstrap") != 0;
}

/*
 * The guard's word before these client ids are disclosed: quota first (a
 * refused call discloses nothing), then canaries. Returns false after
 * answering the call with io.roster.QuotaExceeded; with note_refused, the
 * refused ids are put on its record first (answering fills the record, so
 * they cannot be added after): what was sought, not what was given.
 */
static bool guard_allows(struct call *c, const json_t *ids, bool note_refused)
{
	struct registry *reg = c->srv->reg;

	if (guarded(c)) {
		const struct role *role = auth_role(&reg->auth, c->rec.role);
		enum guard_verdict v = guard_reads(&reg->guard, c->rec.principal, role, ids, now_usec(),
						   NULL);

		if (v != GUARD_OK) {
			if (note_refused) {
				size_t i;
				json_t *id;

				json_array_foreach(ids, i, id)
					call_note_client(c, json_string_value(id));
			}
			if (v == GUARD_QUOTA_LOCK) {
				lock_caller(c, "quota");
				alert(c, "LOCKOUT");
			} else {
				alert(c, "QUOTA");
			}
			call_error_message(c, "io.roster.QuotaExceeded",
					   v == GUARD_QUOTA_LOCK
						   ? "this principal has read its quota of records and is now locked"
						   : "this principal has read its quota of records for now");
			return false;
		}
	}
	if (guard_any_canary(&reg->guard, ids))
		alert(c, "CANARY");
	return true;
}

/* A NotFound answer: part of a guessing run? (The call is still answered NotFound.) */
static void guard_missed(struct call *c)
{
	struct registry *reg = c->srv->reg;

	if (!guarded(c))
		return;
	if (guard_not_found(&reg->guard, c->rec.principal, auth_role(&reg->auth, c->rec.role),
			    now_usec())) {
		lock_caller(c, "guessing");
		alert(c, "GUESSING");
	}
}

/* The ids of an array of clients, as a new array. */
static json_t *ids_of(const json_t *arr)
{
	json_t *ids = json_array(), *rec;
	size_t i;

	json_array_foreach(arr, i, rec)
		json_array_append(ids, json_object_get(rec, "id"));
	return ids;
}

/*
 * Changes (and most lookups) run on the audit writer thread, in the batch
 * transaction with their record (audit.h). The functions that run there
 * build the whole reply message and note the ids; they must not touch the
 * call, which may be gone.
 */
static json_t *reply_params(json_t *params)
{
	return params ? json_pack("{s:o}", "parameters", params) : NULL;
}

static json_t *reply_error(const char *error, json_t *params)
{
	return json_pack("{s:s, s:o}", "error", error, "parameters", params ? params : json_object());
}

static json_t *reply_store_failed(int r)
{
	return reply_error("io.roster.InternalError",
			   json_pack("{s:s}", "message", r == -ENOMEM ? "out of memory"
					  : "storage failure (see the daemon's log)"));
}

/*
 * Get, the call services make most, has two paths.
 *
 * The usual one runs the lookup on the audit writer's thread, inside the
 * batch that commits its record: the read and its record are one
 * transaction, and the lookup uses the writer's connection, whose page
 * cache stays warm. (The loop thread's own connection loses its whole cache
 * at every audit commit, since SQLite drops a reader's cache whenever
 * another connection has written; with SQLCipher every page read again is
 * decrypted again, and that was most of a lookup's cost.) The quota is
 * decided before the lookup, on the loop thread, by counting the id at
 * once; if it turns out not to exist, the writer takes the count back and
 * counts the NotFound towards a guessing run instead, locking the principal
 * in the same transaction when the run is complete.
 *
 * The exact path, all on the loop thread as for Search and List, takes the
 * rare cases where the order of those decisions shows: a call the quota
 * would refuse (a missing id must still be answered NotFound, not count
 * against the quota) and canaries (whose alert must name only real reads).
 */
struct lookup {
	struct guard *guard;
	char id[ID_HEX_LEN + 1];
	unsigned fields;                /* the caller's visible field classes */
	bool guarded;
	bool fresh;                     /* the quota counted this id for this call */
	char principal[AUTH_NAME_MAX + 1];
	struct role role;               /* a copy: the loop may reload roles meanwhile */
};

/* The lookup (audit writer thread, inside the batch). Never touches the call. */
static void lookup_on_writer(struct store *w, struct audit_job *j)
{
	struct lookup *l = j->ctx;
	json_t *rec = NULL;
	int r = store_client_get(w, l->id, &rec);

	if (audit_rec_add_id(&j->rec, l->id) < 0)
		log_err("audit: out of memory noting a client id for %s", j->rec.method);
	if (r == 0) {
		rec = view_fields(l->fields, rec);
		j->reply = reply_params(rec ? json_pack("{s:o}", "client", rec) : NULL);
		if (j->reply != NULL)
			j->rec.records = 1;
		else
			j->reply = reply_store_failed(-ENOMEM);
		return;
	}
	if (r != -ENOENT) {
		j->reply = reply_store_failed(r);
		return;
	}
	j->reply = reply_error("io.roster.NotFound", json_pack("{s:s}", "id", l->id));
	if (!l->guarded)
		return;
	if (l->fresh)
		guard_unsee(l->guard, l->principal, l->id);
	if (guard_not_found(l->guard, l->principal, &l->role, now_usec())) {
		/* Locked in the batch that records why: never one without the other. */
		if (store_principal_set_lock(w, l->principal, true, "guessing") < 0)
			log_err("guard: could not lock principal %s", l->principal);
		else
			j->effects |= AUDIT_EFFECT_AUTH;
		snprintf(j->rec.alert, sizeof(j->rec.alert), "GUESSING");
		log_warn("ALERT GUESSING: principal %s (uid %u, pid %ld) calling %s", l->principal,
			 (unsigned)j->rec.uid, (long)j->rec.pid, j->rec.method);
	}
}

/* The exact path (see above): read on the loop thread, then ask the guard. */
static void get_on_loop(struct call *c, const char *id)
{
	struct registry *reg = c->srv->reg;
	json_t *rec, *ids;
	bool allowed;
	int r;

	r = store_client_get(reg->store, id, &rec);
	if (r == -ENOENT) {
		call_note_client(c, id);    /* guessed ids are on the record too */
		guard_missed(c);
		not_found(c, id);
		return;
	}
	if (r < 0) {
		store_failed(c, r);
		return;
	}
	call_note_client(c, id);
	ids = json_pack("[s]", id);
	allowed = ids != NULL && guard_allows(c, ids, false);   /* id noted above */
	json_decref(ids);
	if (!allowed) {
		json_decref(rec);
		if (ids == NULL)
			store_failed(c, -ENOMEM);
		return;
	}
	call_note_disclosed(c, 1);
	rec = client_view(c, rec);
	call_reply(c, rec ? json_pack("{s:o}", "client", rec) : NULL);
}

void method_clients_get(struct call *c)
{
	static const char *const spec[] = { "id:s" };
	struct registry *reg = c->srv->reg;
	const struct role *role = NULL;
	struct lookup *l;
	size_t fresh = 0;
	const char *id;
	json_t *ids;
	bool exact;

	if (!check(c, spec, 1) || (id = get_id(c, "id")) == NULL)
		return;
	ids = json_pack("[s]", id);
	if (ids == NULL) {
		store_failed(c, -ENOMEM);
		return;
	}
	exact = guard_any_canary(&reg->guard, ids);
	if (!exact && guarded(c)) {
		role = auth_role(&reg->auth, c->rec.role);
		exact = guard_reads(&reg->guard, c->rec.principal, role, ids, now_usec(), &fresh) !=
			GUARD_OK;
	}
	json_decref(ids);
	if (exact) {
		get_on_loop(c, id);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		if (fresh)
			guard_unsee(&reg->guard, c->rec.principal, id);
		store_failed(c, -ENOMEM);
		return;
	}
	l->guard = &reg->guard;
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->fields = c->ident.fields;
	l->guarded = guarded(c);
	l->fresh = fresh > 0;
	snprintf(l->principal, sizeof(l->principal), "%s", c->rec.principal);
	if (role != NULL)
		l->role = *role;
	call_read(c, lookup_on_writer, l, free);
}

/* guard_allows() for a page of clients; consumes arr when it refuses. */
static bool guard_arr(struct call *c, json_t *arr)
{
	json_t *ids = ids_of(arr);
	bool ok = ids != NULL && guard_allows(c, ids, true);

	if (!ok) {
		json_decref(arr);
		if (ids == NULL)
			store_failed(c, -ENOMEM);
	}
	json_decref(ids);
	return ok;
}

/*
 * A search that would match nearly everything is a way to enumerate: short
 * or wildcard-like queries are only for callers who may list anyway.
 */
static bool query_too_broad(const char *q)
{
	size_t meaningful = 0;

	for (; *q; q++)
		if (!strchr(" %_*?.-", *q))
			meaningful++;
	return meaningful < SEARCH_QUERY_MIN_UNLISTED;
}

void method_clients_search(struct call *c)
{
	static const char *const spec[] = { "query:s", "?limit:i" };
	const char *q;
	json_t *arr;
	int limit, r;

	if (!check(c, spec, 2))
		return;
	q = json_string_value(json_object_get(c->params, "query"));
	if (*q == '\0' || !validate_text(q, SEARCH_QUERY_MAX, false)) {
		call_invalid_parameter(c, "query");
		return;
	}
	if (!(c->ident.caps & (1u << CAP_CLIENTS_LIST)) && query_too_broad(q)) {
		call_error(c, "org.varlink.service.InvalidParameter",
			   json_pack("{s:s, s:s}", "parameter", "query", "message",
				     "the query is too short or too wildcard-like: without clients.list, "
				     "a search needs at least 3 letters or digits"));
		return;
	}
	if ((limit = get_limit(c, "limit", SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX)) < 0)
		return;
	r = store_client_search(c->srv->reg->store, q, limit, &arr);
	if (r < 0) {
		store_failed(c, r);
		return;
	}
	if (!guard_arr(c, arr))
		return;
	arr = clients_view(c, arr);
	if (arr == NULL) {
		store_failed(c, -ENOMEM);
		return;
	}
	call_reply(c, json_pack("{s:o}", "clients", arr));
}

/* ---- approvals (the two-person rule) ------------------------------------------ */

/* Answer a call that an approval refused, with the typed error for why. */
static void approval_refused(struct call *c, enum approval_error e, const char *id)
{
	switch (e) {
	case APPROVAL_E_NOTFOUND:
		call_error(c, "io.roster.NotFound", json_pack("{s:s, s:s}", "id", id, "message",
			   "no export request has this id (requests are kept in memory only: a "
			   "restart or a seal drops them)"));
		break;
	case APPROVAL_E_TOOMANY:
		call_error_message(c, "io.roster.TooManyRequests",
				   "too many export requests are outstanding; use or let some expire first");
		break;
	case APPROVAL_E_SELF:
		call_error_message(c, "io.roster.SelfApproval",
				   "an export must be approved by an admin on a different uid from the one "
				   "that requested it");
		break;
	case APPROVAL_E_NOTYOURS:
		call_error(c, "io.roster.PermissionDenied", json_pack("{s:s, s:s}", "method", c->name,
			   "message", "only the admin who requested this export may use its approval"));
		break;
	case APPROVAL_E_PENDING:
		call_error_message(c, "io.roster.ApprovalRequired",
				   "this export request has not been approved yet: a second admin, on "
				   "another uid, must run rosterctl export approve");
		break;
	case APPROVAL_E_EXPIRED:
		call_error(c, "io.roster.ApprovalExpired", json_pack("{s:s, s:s}", "id", id, "message",
			   "this export request or its approval has expired; request a new one"));
		break;
	case APPROVAL_E_USED:
		call_error(c, "io.roster.ApprovalUsed", json_pack("{s:s, s:s}", "id", id, "message",
			   "this approval has already been given or used; it is good for one use only"));
		break;
	case APPROVAL_OK:
		break;
	}
}

/* The id parameter name when present (else NULL, *bad false); *bad after answering. */
static const char *get_opt_id(struct call *c, const char *name, bool *bad)
{
	*bad = false;
	if (!json_is_string(json_object_get(c->params, name)))
		return NULL;
	if (get_id(c, name) == NULL) {
		*bad = true;
		return NULL;
	}
	return json_string_value(json_object_get(c->params, name));
}

/*
 * List's half of the two-person rule. Without an approval only the first
 * page is answered: "after" is refused, so paging cannot add up to the
 * whole registry. With one, the caller walks the registry once, from the
 * first page to the last in order: each call must continue where the last
 * one ended. Returns the approval to move on once the page is answered
 * (NULL for none), or sets *refused after answering the call.
 */
static struct approval *list_approval(struct call *c, const char *after, bool *refused)
{
	struct registry *reg = c->srv->reg;
	struct approval *a = NULL;
	enum approval_error e;
	const char *id;
	bool bad;

	*refused = true;
	id = get_opt_id(c, "approval", &bad);
	if (bad)
		return NULL;
	if (id == NULL) {
		if (after != NULL) {
			call_error_message(c, "io.roster.ApprovalRequired",
					   "List answers only its first page without an approved export "
					   "request (rosterctl export request, then a second admin's "
					   "rosterctl export approve)");
			return NULL;
		}
		*refused = false;
		return NULL;
	}
	e = approvals_usable(&reg->approvals, id, c->rec.principal, c->uid, now_usec(), &a);
	if (e != APPROVAL_OK) {
		approval_refused(c, e, id);
		return NULL;
	}
	/* The walk starts at the first page and goes on from where it stopped, once. */
	if (a->state == APPROVAL_APPROVED ? after != NULL
	    : (after == NULL || strcmp(after, a->cursor) != 0)) {
		call_error(c, "org.varlink.service.InvalidParameter", json_pack("{s:s, s:s}",
			   "parameter", "after", "message", a->state == APPROVAL_APPROVED
			   ? "a walk with an approval starts at the first page: give no after"
			   : "a walk with an approval goes on where it stopped: give the next of its "
			     "last page as after"));
		return NULL;
	}
	*refused = false;
	return a;
}

void method_clients_list(struct call *c)
{
	static const char *const spec[] = { "?after:s", "?limit:i", "?approval:s" };
	const char *after;
	struct approval *a;
	json_t *arr, *reply;
	bool more, bad;
	int limit, r;

	if (!check(c, spec, 3))
		return;
	after = get_opt_id(c, "after", &bad);
	if (bad)
		return;
	if ((limit = get_limit(c, "limit", LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX)) < 0)
		return;
	a = list_approval(c, after, &bad);
	if (bad)
		return;
	r = store_client_list(c->srv->reg->store, after, limit, &arr, &more);
	if (r < 0) {
		store_failed(c, r);
		return;
	}
	if (!guard_arr(c, arr))
		return;
	/* The cursor is the last id of this page, read before any filtering. */
	reply = json_object();
	if (reply != NULL && more && json_array_size(arr) > 0)
		json_object_set(reply, "next",
				json_object_get(json_array_get(arr, json_array_size(arr) - 1), "id"));
	arr = clients_view(c, arr);
	if (reply == NULL || arr == NULL || json_object_set_new(reply, "clients", arr) < 0) {
		json_decref(reply);
		store_failed(c, -ENOMEM);
		return;
	}
	if (a != NULL) {
		const char *next = json_string_value(json_object_get(reply, "next"));

		/* Moved on before the reply leaves: a page is never answered twice. */
		if (next != NULL) {
			a->state = APPROVAL_LISTING;
			snprintf(a->cursor, sizeof(a->cursor), "%s", next);
		} else {
			a->state = APPROVAL_USED;
		}
	}
	call_reply(c, reply);
}

void method_clients_export_request(struct call *c)
{
	struct registry *reg = c->srv->reg;
	struct approval *a;
	enum approval_error e;

	if (!check(c, NULL, 0))
		return;
	e = approvals_request(&reg->approvals, c->rec.principal, c->uid, now_usec(), &a);
	if (e != APPROVAL_OK) {
		approval_refused(c, e, "");
		return;
	}
	/* The request's id goes in the record's ids, so that its three steps can be found together. */
	call_note_client(c, a->id);
	log_info("export %s requested by %s (uid %u)", a->id, a->requester, (unsigned)a->requester_uid);
	call_reply(c, json_pack("{s:s, s:I}", "id", a->id, "expires_in",
				(json_int_t)(reg->approvals.window_us / 1000000)));
}

void method_clients_export_approve(struct call *c)
{
	static const char *const spec[] = { "id:s" };
	struct registry *reg = c->srv->reg;
	struct approval *a = NULL;
	enum approval_error e;
	const char *id;

	if (!check(c, spec, 1) || (id = get_id(c, "id")) == NULL)
		return;
	call_note_client(c, id);
	e = approvals_approve(&reg->approvals, id, c->rec.principal, c->uid, now_usec(), &a);
	if (e != APPROVAL_OK) {
		approval_refused(c, e, id);
		return;
	}
	log_info("export %s (requested by %s, uid %u) approved by %s (uid %u)", a->id, a->requester,
		 (unsigned)a->requester_uid, a->approver, (unsigned)a->approver_uid);
	call_reply(c, json_pack("{s:s, s:I, s:I}", "requester", a->requester, "uid",
				(json_int_t)a->requester_uid, "expires_in",
				(json_int_t)(reg->approvals.window_us / 1000000)));
}

/* ---- Export: the whole registry, streamed -------------------------------------- */

/*
 * An export in progress. The ids of every client are taken when the call
 * starts (its record says how many), and only those are sent: a client
 * created while the export runs is not in it, and one deleted meanwhile is
 * skipped, so the export never discloses more than its record says. The
 * records themselves are read a page at a time as the caller takes them.
 */
struct export_run {
	struct call *c;
	uv_timer_t retry;
	char (*ids)[ID_HEX_LEN + 1];    /* the snapshot, in id order */
	size_t n_ids, next_id;          /* next_id: the first snapshot id not yet passed */
	json_t *page;                   /* the page being sent */
	size_t page_i;
	bool more;                      /* the store has clients after the page */
	char cursor[ID_HEX_LEN + 1];    /* the last id read from the store */
	int64_t sent;
	bool ended;                     /* the call is answered or gone: do nothing more */
	bool timer_on;
};

static void export_closed(uv_handle_t *h)
{
	struct export_run *ex = h->data;

	free(ex);
}

/* The call is being freed (stream_free): release the rest once the timer has closed. */
static void export_free(void *stream)
{
	struct export_run *ex = stream;

	ex->ended = true;
	ex->c = NULL;
	free(ex->ids);
	ex->ids = NULL;
	json_decref(ex->page);
	ex->page = NULL;
	if (ex->timer_on) {
		uv_timer_stop(&ex->retry);
		uv_close((uv_handle_t *)&ex->retry, export_closed);
	} else {
		free(ex);
	}
}

static void export_retry(uv_timer_t *t);

/* Send one client; returns call_continue()'s result, or -ENOMEM. */
static int export_send(struct export_run *ex, json_t *rec)
{
	json_t *v = client_view(ex->c, json_incref(rec));
	json_t *params = v != NULL ? json_pack("{s:o}", "client", v) : NULL;

	if (params == NULL)
		return -ENOMEM;
	return call_continue(ex->c, params);
}

/* End the stream with msg (the whole final message). The call and ex are freed. */
static void export_end(struct export_run *ex, json_t *msg)
{
	ex->ended = true;
	call_stream_end(ex->c, msg);
}

static void export_fail(struct export_run *ex, const char *error, const char *message)
{
	export_end(ex, json_pack("{s:s, s:{s:s}}", "error", error, "parameters", "message", message));
}

/*
 * Send what the caller will take. Returns when the export has ended, or
 * when the caller is not reading fast enough (the retry timer is armed).
 */
static void export_pump(struct export_run *ex)
{
	struct call *c = ex->c;
	struct registry *reg = c->srv->reg;

	for (;;) {
		json_t *rec;
		const char *id;
		int r;

		if (reg->state == REG_ROTATING) {
			export_fail(ex, "io.roster.Busy", "a key rotation closed the database during "
				    "the export");
			return;
		}
		if (reg->state != REG_UNSEALED) {
			export_fail(ex, "io.roster.Sealed", "the registry was sealed");
			return;
		}
		if (ex->page == NULL || ex->page_i >= json_array_size(ex->page)) {
			json_decref(ex->page);
			ex->page = NULL;
			if (ex->next_id >= ex->n_ids || (ex->cursor[0] != '\0' && !ex->more)) {
				export_end(ex, json_pack("{s:{s:I}}", "parameters", "exported",
							 (json_int_t)ex->sent));
				return;
			}
			r = store_client_list(reg->store, ex->cursor[0] ? ex->cursor : NULL, EXPORT_PAGE,
					      &ex->page, &ex->more);
			if (r < 0) {
				ex->page = NULL;
				log_err("export: cannot read the clients after %" JSON_INTEGER_FORMAT
					" sent", (json_int_t)ex->sent);
				export_fail(ex, "io.roster.InternalError", "storage failure (see the daemon's log)");
				return;
			}
			ex->page_i = 0;
			if (json_array_size(ex->page) == 0) {
				ex->more = false;
				ex->next_id = ex->n_ids;
				continue;
			}
			snprintf(ex->cursor, sizeof(ex->cursor), "%s", json_string_value(json_object_get(
				 json_array_get(ex->page, json_array_size(ex->page) - 1), "id")));
		}
		rec = json_array_get(ex->page, ex->page_i);
		id = json_string_value(json_object_get(rec, "id"));
		/* Both are in id order: pass the snapshot ids that are gone. */
		while (ex->next_id < ex->n_ids && strcmp(ex->ids[ex->next_id], id) < 0)
			ex->next_id++;
		if (ex->next_id >= ex->n_ids || strcmp(ex->ids[ex->next_id], id) != 0) {
			ex->page_i++;           /* created after the snapshot: not part of this export */
			continue;
		}
		r = export_send(ex, rec);
		if (ex->ended)
			return;                 /* the connection closed under us: ex lives until its timer closes */
		if (r == -EAGAIN) {
			uv_timer_start(&ex->retry, export_retry, EXPORT_RETRY_MS, 0);
			return;
		}
		if (r == -EPIPE) {
			export_end(ex, NULL);   /* nobody to answer: just free the call */
			return;
		}
		if (r < 0) {
			export_fail(ex, "io.roster.InternalError", "out of memory");
			return;
		}
		ex->page_i++;
		ex->next_id++;
		ex->sent++;
	}
}

static void export_retry(uv_timer_t *t)
{
	struct export_run *ex = t->data;

	if (!ex->ended)
		export_pump(ex);
}

/* The caller's connection closed mid-export: free the call (and with it ex). */
static void export_conn_closed(struct call *c)
{
	struct export_run *ex = c->stream;

	ex->ended = true;
	call_stream_end(c, NULL);
}

/* Export's own record is committed (status 0): start sending. */
static void export_started(struct call *c, int status)
{
	if (status < 0 || c == NULL)
		return;                 /* answered AuditUnavailable; ex went with the call */
	c->on_conn_close = export_conn_closed;
	export_pump(c->stream);
}

/* The ids of every client now, in id order, into ex. Returns 0 or a negative errno. */
static int export_snapshot(struct store *s, struct export_run *ex)
{
	char after[ID_HEX_LEN + 1] = "";
	size_t cap = 0;
	bool more = true;

	while (more) {
		json_t *arr, *rec;
		size_t i;
		int r = store_client_list(s, after[0] ? after : NULL, EXPORT_PAGE, &arr, &more);

		if (r < 0)
			return r;
		if (ex->n_ids + json_array_size(arr) > cap) {
			size_t ncap = cap ? cap * 2 : EXPORT_PAGE;
			char (*n)[ID_HEX_LEN + 1];

			while (ncap < ex->n_ids + json_array_size(arr))
				ncap *= 2;
			n = reallocarray(ex->ids, ncap, sizeof(*n));
			if (n == NULL) {
				json_decref(arr);
				return -ENOMEM;
			}
			ex->ids = n;
			cap = ncap;
		}
		json_array_foreach(arr, i, rec)
			snprintf(ex->ids[ex->n_ids++], ID_HEX_LEN + 1, "%s",
				 json_string_value(json_object_get(rec, "id")));
		if (json_array_size(arr) == 0)
			more = false;
		else
			snprintf(after, sizeof(after), "%s", ex->ids[ex->n_ids - 1]);
		json_decref(arr);
	}
	return 0;
}

/*
 * Export: the whole registry, to the admin who requested it, once a second
 * admin has approved. Its record names the request (ids) and the number of
 * clients exported (records), not each client id: a record with every id of
 * a large registry would be megabytes, and "all of them" is what it means.
 * It carries the alert EXPORT, so that a bulk export is news at once. The
 * approval is used up before anything is sent, even if the export then
 * fails: a second try needs a new approval. Not counted against a quota:
 * the second admin's approval is this path's limit.
 */
void method_clients_export(struct call *c)
{
	static const char *const spec[] = { "approval:s" };
	struct registry *reg = c->srv->reg;
	struct export_run *ex;
	struct approval *a = NULL;
	enum approval_error e;
	const char *id;
	int r;

	if (!check(c, spec, 1) || (id = get_id(c, "approval")) == NULL)
		return;
	call_note_client(c, id);
	if (!c->more) {
		call_error(c, "org.varlink.service.ExpectedMore", NULL);
		return;
	}
	e = approvals_usable(&reg->approvals, id, c->rec.principal, c->uid, now_usec(), &a);
	if (e == APPROVAL_OK && a->state != APPROVAL_APPROVED)
		e = APPROVAL_E_USED;    /* a List walk has begun with it */
	if (e != APPROVAL_OK) {
		approval_refused(c, e, id);
		return;
	}
	ex = calloc(1, sizeof(*ex));
	if (ex == NULL) {
		store_failed(c, -ENOMEM);
		return;
	}
	r = export_snapshot(reg->store, ex);
	if (r < 0) {
		free(ex->ids);
		free(ex);
		store_failed(c, r);
		return;
	}
	a->state = APPROVAL_USED;
	ex->c = c;
	uv_timer_init(c->srv->loop, &ex->retry);
	ex->retry.data = ex;
	ex->timer_on = true;
	c->stream = ex;
	c->stream_free = export_free;
	call_note_disclosed(c, (int64_t)ex->n_ids);
	alert(c, "EXPORT");
	log_info("export %s: %zu clients to %s (uid %u)", id, ex->n_ids, c->rec.principal,
		 (unsigned)c->uid);
	call_stream_start(c, export_started);
}

/* ---- changes (on the writer thread, see reply_params() above) ---------------- */

static void mutate_create(struct store *w, struct audit_job *j)
{
	char id[ID_HEX_LEN + 1];
	int r = store_client_create_at(w, json_object_get(j->mctx, "client"), j->seq, id);

	if (r == 0 && audit_rec_add_id(&j->rec, id) < 0)
		r = -ENOMEM;
	if (r == 0)
		j->reply = reply_params(json_pack("{s:s, s:i}", "id", id, "version", 1));
	if (r == 0 && j->reply != NULL)
		j->clients_delta = 1;
	/* The input was checked: this is the storage failing, and the batch goes with it. */
	if (r < 0 || j->reply == NULL) {
		j->abort_batch = true;
		j->reply = reply_store_failed(r < 0 ? r : -ENOMEM);
	}
}

void method_clients_create(struct call *c)
{
	static const char *const spec[] = { "client:o" };
	char bad[VALIDATE_NAME_MAX];

	if (!check(c, spec, 1))
		return;
	if (!validate_client_input(json_object_get(c->params, "client"), false, "client", bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	call_write_bulk(c, mutate_create, json_incref(c->params));
}

/*
 * All or none. Every entry was checked before the call was queued, so only
 * the storage itself can fail here, and then the job aborts its batch
 * (call_write_bulk()): nothing of the import, nor of the batch, is
 * committed, and their callers are answered io.roster.AuditUnavailable. No
 * savepoint: SQLCipher encrypts every page a savepoint journals, which
 * cost as much again as the commit (README, "Performance").
 */
static void mutate_import(struct store *w, struct audit_job *j)
{
	const json_t *list = json_object_get(j->mctx, "clients");
	json_t *ids = json_array(), *input;
	size_t i;

	if (ids == NULL) {
		j->reply = reply_store_failed(-ENOMEM);
		return;
	}
	/* The record's ids are the new clients, whose rows note it too. */
	json_array_foreach(list, i, input) {
		char id[ID_HEX_LEN + 1];
		int r = store_client_create_at(w, input, j->seq, id);

		/* The record names every id it created, or nothing is created. */
		if (r == 0 && (json_array_append_new(ids, json_string(id)) < 0 ||
			       audit_rec_add_id(&j->rec, id) < 0))
			r = -ENOMEM;
		if (r < 0) {
			json_decref(ids);
			j->abort_batch = true;
			j->reply = reply_store_failed(r);
			return;
		}
	}
	j->reply = reply_params(json_pack("{s:o}", "ids", ids));
	if (j->reply == NULL) {
		j->abort_batch = true;
		j->reply = reply_store_failed(-ENOMEM);
		return;
	}
	j->clients_delta = (int)json_array_size(list);
}

void method_clients_import(struct call *c)
{
	static const char *const spec[] = { "clients:a" };
	const json_t *list;
	json_t *input;
	size_t i, n;

	if (!check(c, spec, 1))
		return;
	list = json_object_get(c->params, "clients");
	n = json_array_size(list);
	if (n < 1 || n > IMPORT_MAX) {
		call_invalid_parameter(c, "clients");
		return;
	}
	/* Every entry is checked before any is written. */
	json_array_foreach(list, i, input) {
		char prefix[32], bad[VALIDATE_NAME_MAX];

		snprintf(prefix, sizeof(prefix), "clients[%zu]", i);
		if (!validate_client_input(input, false, prefix, bad)) {
			call_invalid_parameter(c, bad);
			return;
		}
	}
	call_write_bulk(c, mutate_import, json_incref(c->params));
}

static void mutate_update(struct store *w, struct audit_job *j)
{
	const char *id = json_string_value(json_object_get(j->mctx, "id"));
	int64_t now_version = 0;
	int r;

	audit_rec_add_id(&j->rec, id);
	r = store_client_update(w, id, json_object_get(j->mctx, "changes"),
				json_integer_value(json_object_get(j->mctx, "version")), &now_version);
	if (r == -ENOENT)
		j->reply = reply_error("io.roster.NotFound", json_pack("{s:s}", "id", id));
	else if (r == -ESTALE)
		j->reply = reply_error("io.roster.Conflict", json_pack("{s:s, s:I}", "id", id,
								       "version", (json_int_t)now_version));
	else if (r < 0)
		j->reply = reply_store_failed(r);
	else
		j->reply = reply_params(json_pack("{s:I}", "version", (json_int_t)now_version));
}

void method_clients_update(struct call *c)
{
	static const char *const spec[] = { "id:s", "changes:o", "version:i" };
	char bad[VALIDATE_NAME_MAX];

	if (!check(c, spec, 3) || get_id(c, "id") == NULL)
		return;
	if (!validate_client_input(json_object_get(c->params, "changes"), true, "changes", bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	if (json_integer_value(json_object_get(c->params, "version")) < 1) {
		call_invalid_parameter(c, "version");
		return;
	}
	call_write(c, mutate_update, json_incref(c->params));
}

static void mutate_delete(struct store *w, struct audit_job *j)
{
	const char *id = json_string_value(json_object_get(j->mctx, "id"));
	int r;

	audit_rec_add_id(&j->rec, id);
	r = store_client_delete(w, id);
	if (r == -ENOENT)
		j->reply = reply_error("io.roster.NotFound", json_pack("{s:s}", "id", id));
	else if (r < 0)
		j->reply = reply_store_failed(r);
	else
		j->reply = reply_params(json_object());
	if (r == 0)
		j->clients_delta = -1;
}

void method_clients_delete(struct call *c)
{
	static const char *const spec[] = { "id:s" };

	if (!check(c, spec, 1) || get_id(c, "id") == NULL)
		return;
	call_write(c, mutate_delete, json_incref(c->params));
}
