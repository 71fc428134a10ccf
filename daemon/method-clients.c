/*
 * method-clients.c: io.roster.Clients. Handlers validate parameters, call
 * the store, and shape replies through one function, client_view(), which
 * is where a caller's field visibility is applied. They never check
 * permissions (the dispatcher has) and never log a field value.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
#define LIST_LIMIT_MAX 1000
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

static json_t *clients_view(struct call *c, json_t *arr)
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
 * answering the call with io.roster.QuotaExceeded.
 */
static bool guard_allows(struct call *c, const json_t *ids)
{
	struct registry *reg = c->srv->reg;

	if (guarded(c)) {
		const struct role *role = auth_role(&reg->auth, c->rec.role);
		enum guard_verdict v = guard_reads(&reg->guard, c->rec.principal, role, ids, now_usec(),
						   NULL);

		if (v != GUARD_OK) {
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
	allowed = ids != NULL && guard_allows(c, ids);
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
	bool ok = ids != NULL && guard_allows(c, ids);

	if (!ok) {
		/* The refused ids stay on the record: what was sought, not what was given. */
		size_t i;
		json_t *v;

		json_array_foreach(ids, i, v)
			call_note_client(c, json_string_value(v));
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

void method_clients_list(struct call *c)
{
	static const char *const spec[] = { "?after:s", "?limit:i" };
	const char *after = NULL;
	json_t *arr, *reply;
	bool more;
	int limit, r;

	if (!check(c, spec, 2))
		return;
	if (json_is_string(json_object_get(c->params, "after")) &&
	    (after = get_id(c, "after")) == NULL)
		return;
	if ((limit = get_limit(c, "limit", LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX)) < 0)
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
	call_reply(c, reply);
}

static void mutate_create(struct store *w, struct audit_job *j)
{
	char id[ID_HEX_LEN + 1];
	int r = store_client_create(w, json_object_get(j->mctx, "client"), id);

	if (r < 0) {
		j->reply = reply_store_failed(r);
		return;
	}
	audit_rec_add_id(&j->rec, id);
	j->reply = reply_params(json_pack("{s:s, s:i}", "id", id, "version", 1));
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
	call_write(c, mutate_create, json_incref(c->params));
}

/* All or none: an error reply rolls back the job's savepoint, every insert with it. */
static void mutate_import(struct store *w, struct audit_job *j)
{
	const json_t *list = json_object_get(j->mctx, "clients");
	json_t *ids = json_array(), *input;
	size_t i;

	if (ids == NULL) {
		j->reply = reply_store_failed(-ENOMEM);
		return;
	}
	json_array_foreach(list, i, input) {
		char id[ID_HEX_LEN + 1];
		int r = store_client_create(w, input, id);

		if (r == 0 && json_array_append_new(ids, json_string(id)) < 0)
			r = -ENOMEM;
		if (r < 0) {
			json_decref(ids);
			j->reply = reply_store_failed(r);
			return;
		}
		audit_rec_add_id(&j->rec, id);
	}
	j->reply = reply_params(json_pack("{s:o}", "ids", ids));
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
	call_write(c, mutate_import, json_incref(c->params));
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
}

void method_clients_delete(struct call *c)
{
	static const char *const spec[] = { "id:s" };

	if (!check(c, spec, 1) || get_id(c, "id") == NULL)
		return;
	call_write(c, mutate_delete, json_incref(c->params));
}
