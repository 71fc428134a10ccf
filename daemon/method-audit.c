/*
 * method-audit.c: io.roster.Audit — forensic review of the trail.
 *
 * Query and Verify read through the loop's database connection; records
 * hold ids and names of principals and methods, never client field values.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon/audit.h"
#include "daemon/dispatch.h"
#include "daemon/keys.h"
#include "daemon/registry.h"
#include "daemon/server.h"
#include "daemon/util.h"
#include "daemon/validate.h"
#include "lib/audit-hash.h"

#define QUERY_LIMIT_DEFAULT 100
#define QUERY_LIMIT_MAX 1000

/* RFC 3339 UTC ("2026-11-26T02:47:01Z", fraction allowed) or Unix seconds, to µs. */
static int parse_time(const char *s, int64_t *ret)
{
	uint64_t secs;

	if (parse_uint(s, 0, UINT32_MAX, &secs) == 0) {
		*ret = (int64_t)secs * 1000000;
		return 0;
	}
	return audit_time_parse(s, ret);
}

void method_audit_query(struct call *c)
{
	static const char *const spec[] = { "?client:s", "?principal:s", "?method:s", "?result:s",
					    "?alerts:b", "?since:s", "?until:s", "?after:i", "?limit:i" };
	struct audit_filter f;
	char bad[VALIDATE_NAME_MAX];
	const json_t *v;
	json_t *arr;
	int r;

	if (!validate_params(c->params, spec, 9, bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.client = json_string_value(json_object_get(c->params, "client"));
	f.principal = json_string_value(json_object_get(c->params, "principal"));
	f.method = json_string_value(json_object_get(c->params, "method"));
	f.result = json_string_value(json_object_get(c->params, "result"));
	f.alerts = json_is_true(json_object_get(c->params, "alerts"));
	if (f.client && !id_valid(f.client)) {
		call_invalid_parameter(c, "client");
		return;
	}
	if (f.result && !audit_result_valid(f.result)) {
		call_invalid_parameter(c, "result");
		return;
	}
	if ((v = json_object_get(c->params, "since")) && json_is_string(v) &&
	    parse_time(json_string_value(v), &f.since_us) < 0) {
		call_invalid_parameter(c, "since");
		return;
	}
	f.has_since = v != NULL && json_is_string(v);
	if ((v = json_object_get(c->params, "until")) && json_is_string(v) &&
	    parse_time(json_string_value(v), &f.until_us) < 0) {
		call_invalid_parameter(c, "until");
		return;
	}
	f.has_until = v != NULL && json_is_string(v);
	f.after_seq = json_integer_value(json_object_get(c->params, "after"));
	f.limit = QUERY_LIMIT_DEFAULT;
	if ((v = json_object_get(c->params, "limit")) && json_is_integer(v)) {
		if (json_integer_value(v) < 1 || json_integer_value(v) > QUERY_LIMIT_MAX) {
			call_invalid_parameter(c, "limit");
			return;
		}
		f.limit = (int)json_integer_value(v);
	}
	if (f.after_seq < 0) {
		call_invalid_parameter(c, "after");
		return;
	}
	r = store_audit_query(c->srv->reg->store, &f, &arr);
	if (r < 0) {
		call_error_message(c, "io.roster.InternalError", "cannot read the audit trail");
		return;
	}
	call_reply(c, json_pack("{s:o}", "records", arr));
}

/*
 * Verify walks the whole trail (a second or more per million records), so
 * it runs on the thread pool with a connection and a copy of the keys of
 * its own: the loop goes on answering meanwhile, and a Seal does not pull
 * anything from under it. A key rotation waits for it (verify_busy), as it
 * must close every connection.
 */
struct verify_job {
	uv_work_t work;
	struct call *c;
	struct registry *reg;
	struct keys *keys;              /* a copy, locked memory */
	struct audit_verify_result v;
	int result;
};

static void verify_work(uv_work_t *w)
{
	struct verify_job *j = w->data;

	j->result = audit_verify_path(j->reg->db_path, j->keys, &j->v);
}

static void verify_done(uv_work_t *w, int status)
{
	struct verify_job *j = w->data;
	struct call *c = j->c;
	json_t *p;

	j->reg->verify_busy--;
	if (status < 0 || j->result < 0) {
		call_error_message(c, "io.roster.InternalError", "cannot read the audit trail");
	} else {
		p = json_pack("{s:b, s:I, s:I}", "ok", j->v.ok, "records", (json_int_t)j->v.records,
			      "checkpoints", (json_int_t)j->v.checkpoints);
		if (p != NULL && !j->v.ok) {
			json_object_set_new(p, "first_bad", json_integer(j->v.first_bad));
			json_object_set_new(p, "problem", json_string(j->v.problem));
		}
		call_reply(c, p);
	}
	keys_free(j->keys);
	free(j);
}

void method_audit_verify(struct call *c)
{
	struct registry *reg = c->srv->reg;
	char badp[VALIDATE_NAME_MAX];
	struct verify_job *j;

	if (!validate_params(c->params, NULL, 0, badp)) {
		call_invalid_parameter(c, badp);
		return;
	}
	if (reg->key_op_busy) {
		call_error_message(c, "io.roster.Busy", "a key operation is running; try again");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->keys = keys_dup(reg->keys)) == NULL) {
		free(j);
		call_error_message(c, "io.roster.InternalError", "out of memory");
		return;
	}
	j->c = c;
	j->reg = reg;
	j->work.data = j;
	if (uv_queue_work(reg->loop, &j->work, verify_work, verify_done) < 0) {
		keys_free(j->keys);
		free(j);
		call_error_message(c, "io.roster.InternalError", "cannot start the check");
		return;
	}
	reg->verify_busy++;
}

void method_audit_checkpoint(struct call *c)
{
	char bad_param[VALIDATE_NAME_MAX];

	if (!validate_params(c->params, NULL, 0, bad_param)) {
		call_invalid_parameter(c, bad_param);
		return;
	}
	/* The batch that commits this call's record signs the head after it. */
	c->checkpoint = true;
	call_reply(c, NULL);
}

void method_audit_public_key(struct call *c)
{
	struct keyring_hdr h;
	char bad_param[VALIDATE_NAME_MAX], hex[65];
	json_t *prev, *reply;

	if (!validate_params(c->params, NULL, 0, bad_param)) {
		call_invalid_parameter(c, bad_param);
		return;
	}
	if (keyring_check(c->srv->reg->keyring_path, &h) < 0) {
		call_error_message(c, "io.roster.KeyringCorrupt", "the keyring cannot be read");
		return;
	}
	prev = json_array();
	for (uint32_t i = 0; prev != NULL && i < h.n_retired; i++) {
		sodium_bin2hex(hex, sizeof(hex), h.retired_pk[i], 32);
		json_array_append_new(prev, json_string(hex));
	}
	sodium_bin2hex(hex, sizeof(hex), h.sign_pk, sizeof(h.sign_pk));
	reply = prev != NULL ? json_pack("{s:s, s:o}", "pubkey", hex, "previous", prev) : NULL;
	if (reply == NULL) {
		call_error_message(c, "io.roster.InternalError", "out of memory");
		return;
	}
	call_reply(c, reply);
}

/* ---- Tail ---------------------------------------------------------------------- */

/*
 * Followers of the trail. Each is a streaming call that has read up to
 * "after"; after every committed batch (and every second, for followers
 * that were too slow to take everything at once) each gets what is new.
 */
struct tail {
	struct call *c;
	int64_t after;
	struct tail *prev, *next;
};

static struct tail *tails;
/*
 * Runs while anyone follows. A handle cannot be used again until its close
 * callback has run, which is at the end of the loop's iteration: a follower
 * that starts in the iteration in which the last one ended (one caller
 * hangs up as another's Tail commits) would otherwise initialise a handle
 * still closing, which corrupts the loop's handle lists. So each run gets a
 * timer of its own, freed by its close callback.
 */
static uv_timer_t *tail_timer;

#define TAIL_PAGE 200

static void tail_timer_closed(uv_handle_t *h)
{
	free(h);
}

static void tail_remove(struct tail *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		tails = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t);
	if (tails == NULL && tail_timer != NULL) {
		uv_close((uv_handle_t *)tail_timer, tail_timer_closed);
		tail_timer = NULL;
	}
}

/* Send one follower what is new; false once it has ended. */
static bool tail_pump_one(struct tail *t)
{
	struct registry *reg = t->c->srv->reg;
	struct audit_filter f;
	json_t *arr, *rec;
	size_t i;

	/* A key rotation closes the database for seconds: follow on when it reopens. */
	if (reg->state == REG_ROTATING)
		return true;
	if (reg->state != REG_UNSEALED) {
		call_stream_end(t->c, json_pack("{s:s, s:{s:s}}", "error", "io.roster.Sealed",
						"parameters", "message", "the registry was sealed"));
		return false;
	}
	for (;;) {
		memset(&f, 0, sizeof(f));
		f.after_seq = t->after;
		f.limit = TAIL_PAGE;
		if (store_audit_query(reg->store, &f, &arr) < 0)
			return true;            /* try again at the next tick */
		json_array_foreach(arr, i, rec) {
			int r = call_continue(t->c, json_pack("{s:O}", "record", rec));

			if (r == -EAGAIN)
				break;          /* not reading fast enough: the rest waits */
			if (r < 0) {
				json_decref(arr);
				return true;    /* the connection is going; on_conn_close removes it */
			}
			t->after = json_integer_value(json_object_get(rec, "seq"));
		}
		i = json_array_size(arr);
		json_decref(arr);
		if (i < TAIL_PAGE)
			return true;
		if (t->c->conn == NULL || t->c->conn->out_pending > OUTPUT_SOFT_LIMIT)
			return true;
	}
}

static void tail_pump_all(void)
{
	for (struct tail *t = tails, *next; t != NULL; t = next) {
		next = t->next;
		if (!tail_pump_one(t))
			tail_remove(t);
	}
}

static void on_commit(int64_t head_seq, void *data)
{
	(void)head_seq;
	(void)data;
	tail_pump_all();
}

static void on_tail_timer(uv_timer_t *t)
{
	(void)t;
	tail_pump_all();
}

static void tail_conn_closed(struct call *c)
{
	struct tail *t = c->stream;

	c->stream = NULL;
	if (t != NULL)
		tail_remove(t);
	call_stream_end(c, NULL);       /* no connection: just frees the call */
}

static void tail_started(struct call *c, int status)
{
	struct registry *reg;
	struct tail *t;
	struct audit_stats st;
	const json_t *after;

	if (status < 0 || c == NULL)
		return;
	reg = c->srv->reg;
	t = calloc(1, sizeof(*t));
	if (t == NULL || reg->audit == NULL) {
		free(t);
		call_stream_end(c, json_pack("{s:s, s:{s:s}}", "error", "io.roster.InternalError",
					     "parameters", "message", "cannot follow the trail"));
		return;
	}
	after = json_object_get(c->params, "after");
	audit_get_stats(reg->audit, &st);
	t->after = json_is_integer(after) ? json_integer_value(after) : st.head_seq;
	t->c = c;
	c->stream = t;
	c->on_conn_close = tail_conn_closed;
	t->next = tails;
	if (tails)
		tails->prev = t;
	tails = t;
	reg->on_commit = on_commit;
	/*
	 * Without a timer (no memory) each commit still pumps; a follower held
	 * back by its own slow reading then waits for the next commit.
	 */
	if (tail_timer == NULL && (tail_timer = malloc(sizeof(*tail_timer))) != NULL) {
		uv_timer_init(c->srv->loop, tail_timer);
		uv_timer_start(tail_timer, on_tail_timer, 1000, 1000);
	}
	if (!tail_pump_one(t))
		tail_remove(t);
}

void method_audit_tail(struct call *c)
{
	static const char *const spec[] = { "?after:i" };
	char bad_param[VALIDATE_NAME_MAX];
	const json_t *after;

	if (!validate_params(c->params, spec, 1, bad_param)) {
		call_invalid_parameter(c, bad_param);
		return;
	}
	after = json_object_get(c->params, "after");
	if (after != NULL && json_integer_value(after) < 0) {
		call_invalid_parameter(c, "after");
		return;
	}
	if (!c->more) {
		call_error(c, "org.varlink.service.ExpectedMore", NULL);
		return;
	}
	call_stream_start(c, tail_started);
}
