/*
 * server.c: the socket server (see server.h for the limits it enforces).
 *
 * It never logs a message's content, and it never trusts anything a peer
 * says about itself: the uid, gid and pid of a connection come from
 * SO_PEERCRED at accept time and stay on the connection.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/dispatch.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/server.h"
#include "daemon/util.h"

static void conn_close(struct conn *c);
static void conn_fail(struct conn *c);
static void conn_process(struct conn *c);
static void conn_resume_read(struct conn *c);
static void conn_arm_timer(struct conn *c);
static void call_finish(struct call *c, json_t *msg);

/* ---- writing ------------------------------------------------------------ */

struct write_req {
	uv_write_t req;
	struct conn *conn;
	char *data;
	size_t len;
};

static void on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->conn;

	/* Replies may carry client fields or reply to a passphrase: wipe them. */
	frame_free(w->data, w->len);
	c->out_pending -= w->len;
	free(w);
	if (c->closing || c->failed)
		return;
	if (status < 0) {
		log_debug("connection uid %u: write failed: %s", (unsigned)c->uid, uv_strerror(status));
		conn_close(c);
		return;
	}
	c->last_io_ms = c->write_since_ms = uv_now(c->srv->loop);
	if (c->close_after_write && c->out_pending == 0) {
		conn_close(c);
		return;
	}
	/* A stream that was told to wait may go on (it may also end, freeing the call). */
	if (c->busy != NULL && c->busy->on_drain != NULL && c->out_pending <= OUTPUT_SOFT_LIMIT) {
		c->busy->on_drain(c->busy);
		if (c->closing)
			return;
	}
	conn_process(c);
}

/* Queue one encoded frame (taken over) on the connection. */
static void conn_send(struct conn *c, char *data, size_t len)
{
	struct write_req *w;
	uv_buf_t buf;
	int r;

	if (c->closing || c->failed) {
		frame_free(data, len);
		return;
	}
	w = malloc(sizeof(*w));
	if (w == NULL) {
		frame_free(data, len);
		conn_fail(c);
		return;
	}
	w->conn = c;
	w->data = data;
	w->len = len;
	buf = uv_buf_init(data, (unsigned)len);
	/* The write timeout counts from the moment output starts to wait. */
	if (c->out_pending == 0)
		c->write_since_ms = uv_now(c->srv->loop);
	c->out_pending += len;
	r = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
	if (r < 0) {
		log_err("connection uid %u: a reply could not be queued: %s", (unsigned)c->uid,
			uv_strerror(r));
		c->out_pending -= len;
		frame_free(data, len);
		free(w);
		conn_fail(c);
		return;
	}
	/* Streamed replies come outside conn_process(): start the write deadline now. */
	if (c->out_pending == len)
		conn_arm_timer(c);
}

/*
 * Replies up to this size are encoded into one buffer reused by every
 * reply (loop thread only): json_dumps() would grow its own buffer by
 * doubling, each step an allocation, a copy and a wipe. Larger replies
 * (long lists, audit queries) take frame_encode(): the pass made here is
 * lost for them, which is why the buffer holds a full List page.
 */
#define REPLY_ENCODE_BUF (64u * 1024u)

/* Copy a frame (or what is left of one) into memory of its own for uv_write(). */
static char *frame_copy(const char *data, size_t len)
{
	json_malloc_t m;
	json_free_t f;
	char *s;

	json_get_alloc_funcs(&m, &f);
	s = m(len);
	if (s != NULL)
		memcpy(s, data, len);
	return s;
}

/*
 * Send one frame (borrowed). With nothing queued on the connection it is
 * written at once from where it lies, and a reply the socket takes whole
 * (nearly every one) needs no copy, no write request and no callback:
 * libuv's completion of a queued write costs a pass through the loop and an
 * epoll_ctl() of its own, one for each reply otherwise. Only what the
 * socket leaves is copied and queued, behind which anything later waits.
 */
static void conn_send_frame(struct conn *c, const char *data, size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
	char *rest;
	int n = 0;

	if (c->closing || c->failed)
		return;
	if (c->out_pending == 0) {
		n = uv_try_write((uv_stream_t *)&c->pipe, &buf, 1);
		/*
		 * A failed write is left to uv_write() to fail again and report
		 * in on_write(): callers (a stream pumping records) rely on the
		 * connection not closing under them while they send.
		 */
		if (n < 0)
			n = 0;
		else
			c->last_io_ms = uv_now(c->srv->loop);
		if ((size_t)n == len)
			return;
	}
	rest = frame_copy(data + n, len - (size_t)n);
	if (rest == NULL) {
		log_err("connection uid %u: out of memory queueing a reply", (unsigned)c->uid);
		conn_fail(c);
		return;
	}
	conn_send(c, rest, len - (size_t)n);
}

/* Encode and send a message object (borrowed). */
static void conn_send_msg(struct conn *c, json_t *msg)
{
	static char buf[REPLY_ENCODE_BUF];
	size_t n = json_dumpb(msg, buf, sizeof(buf), JSON_COMPACT), len;
	char *s;

	if (n > 0 && n < sizeof(buf)) {
		buf[n] = '\0';           /* the NUL terminator is the frame delimiter */
		conn_send_frame(c, buf, n + 1);
		/* Client fields pass through it: wiped like every buffer that held them. */
		sodium_memzero(buf, n + 1);
		return;
	}
	if (n > 0)
		sodium_memzero(buf, sizeof(buf));
	s = n > 0 ? frame_encode(msg, REPLY_MAX_SIZE, &len) : NULL;
	if (s == NULL) {
		json_t *err = json_pack("{s:s, s:{s:s}}", "error", "io.roster.InternalError",
					"parameters", "message", "reply too large or not encodable");

		log_err("connection uid %u: a reply could not be encoded", (unsigned)c->uid);
		s = err ? frame_encode(err, REPLY_MAX_SIZE, &len) : NULL;
		json_decref(err);
		if (s == NULL) {
			conn_fail(c);
			return;
		}
	}
	conn_send_frame(c, s, len);
	frame_free(s, len);
}

/*
 * Answer a frame that could not become a call, then close. It is audited
 * like any call (method "", result "invalid"), so floods of garbage show up
 * in the trail.
 */
static void conn_protocol_error(struct conn *c, const char *why)
{
	struct call *call = calloc(1, sizeof(*call));
	json_t *msg = json_pack("{s:s, s:{s:s}}", "error", "io.roster.ProtocolError",
				"parameters", "message", why);

	log_info("connection uid %u pid %ld: %s; closing", (unsigned)c->uid, (long)c->pid, why);
	uv_read_stop((uv_stream_t *)&c->pipe);
	c->reading = false;
	c->close_after_write = true;
	if (call == NULL || msg == NULL) {
		free(call);
		json_decref(msg);
		conn_close(c);
		return;
	}
	call->srv = c->srv;
	call->uid = c->uid;
	call->gid = c->gid;
	call->pid = c->pid;
	dispatch_identify(call, &c->auth);
	if (c->busy != NULL) {
		/*
		 * A call still owns the connection (a stream, work on the thread
		 * pool, a call waiting for its record): the garbage cannot be
		 * answered on it, and must not take the call's place as busy,
		 * which left that call pointing at a freed connection (a
		 * follower pumped into it, a backup holding backup_busy for
		 * good). Closing detaches the call the usual way; the garbage is
		 * still on the record, answered to no one.
		 */
		conn_close(c);
		call_finish(call, msg);
		return;
	}
	call->conn = c;
	call->close_after = true;
	c->busy = call;
	call_finish(call, msg);
}

/* ---- calls -------------------------------------------------------------- */

static void call_free(struct call *c)
{
	if (c->stream_free != NULL && c->stream != NULL)
		c->stream_free(c->stream);
	json_decref(c->msg);
	audit_rec_free(&c->rec);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

/* Send a call's reply (now that its record is safe), free it, move the connection on. */
static void call_send(struct call *c, json_t *msg)
{
	struct conn *conn = c->conn;

	if (conn != NULL) {
		conn->busy = NULL;
		if (!c->oneway && msg != NULL && !conn->closing)
			conn_send_msg(conn, msg);
		if (c->close_after && !conn->closing) {
			conn->close_after_write = true;
			uv_read_stop((uv_stream_t *)&conn->pipe);
			conn->reading = false;
			if (conn->out_pending == 0)
				conn_close(conn);
		}
	}
	if (c->after != NULL)
		c->after(c);
	call_free(c);
	if (conn != NULL && !conn->closing)
		conn_process(conn);
}

/* The writer has committed (status 0) or failed to commit this call's record. */
static void call_audited(struct audit_job *j, int status)
{
	struct call *c = j->data;
	json_t *msg = NULL, *err = NULL;

	/* On a timeout the writer may still own j->reply: read it only on success. */
	if (status == 0)
		msg = j->reply;
	if (status < 0) {
		/* Fail closed: whatever the reply was, it is not sent unaudited. */
		err = json_pack("{s:s, s:{s:s}}", "error", "io.roster.AuditUnavailable", "parameters",
				"message", "the audit trail cannot be written; nothing was disclosed");
		msg = err;
		/* Only an action that discloses nothing (Seal, the brake) still happens. */
		if (!c->after_always)
			c->after = NULL;
	}
	call_send(c, msg);
	json_decref(err);
}

/* Fill the record of a finished call from who made it. */
static void fill_record(struct call *c, struct audit_rec *rec)
{
	*rec = c->rec;                  /* takes over the ids buffer */
	audit_rec_init(&c->rec);
	rec->time_us = now_usec();
	rec->uid = c->uid;
	rec->gid = c->gid;
	rec->pid = c->pid;
	snprintf(rec->method, sizeof(rec->method), "%s", c->name);
	/*
	 * Names, not c->ident's pointers: a handler that changes principals or
	 * roles reloads them, and the pointers die with the old tables.
	 */
	if (rec->principal[0] == '\0')
		snprintf(rec->principal, sizeof(rec->principal), "%s",
			 c->uid == 0 || c->uid == c->srv->own_uid ? "bootstrap" : "unknown");
}

void call_set_identity(struct call *c)
{
	if (c->ident.principal != NULL)
		snprintf(c->rec.principal, sizeof(c->rec.principal), "%s", c->ident.principal->name);
	else if (c->ident.bootstrap)
		snprintf(c->rec.principal, sizeof(c->rec.principal), "bootstrap");
	if (c->ident.role != NULL)
		snprintf(c->rec.role, sizeof(c->rec.role), "%s", c->ident.role->name);
	c->rec.fields = c->ident.fields;
	/* From here on only the names and the numbers are used. */
	c->ident.principal = NULL;
	c->ident.role = NULL;
}

static void hold_job(struct server *srv, struct audit_job *j)
{
	if (srv->n_held >= AUDIT_HELD_MAX) {
		srv->held_dropped++;
		audit_job_free(j);
		return;
	}
	j->next = NULL;
	if (srv->held_tail)
		srv->held_tail->next = j;
	else
		srv->held = j;
	srv->held_tail = j;
	srv->n_held++;
}

/* Hand the records held while sealed to the writer, ahead of new ones. */
static void flush_held(struct server *srv, struct audit *a)
{
	struct audit_job *j = srv->held;

	srv->held = srv->held_tail = NULL;
	if (srv->n_held > 0 || srv->held_dropped > 0)
		log_info("audit: writing %zu records of calls made while sealed%s", srv->n_held,
			 srv->held_dropped ? " (more were made but not kept; see the count below)" : "");
	if (srv->held_dropped > 0)
		log_warn("audit: %llu calls made while sealed exceeded the %d kept and have no record",
			 (unsigned long long)srv->held_dropped, AUDIT_HELD_MAX);
	srv->n_held = 0;
	srv->held_dropped = 0;
	while (j != NULL) {
		struct audit_job *next = j->next;

		audit_submit(a, j);
		j = next;
	}
}

void server_drop_held(struct server *srv)
{
	if (srv->n_held > 0 || srv->held_dropped > 0)
		log_warn("audit: %llu calls made while sealed are lost with this shutdown (no key to "
			 "record them with)", (unsigned long long)(srv->n_held + srv->held_dropped));
	while (srv->held != NULL) {
		struct audit_job *j = srv->held;

		srv->held = j->next;
		audit_job_free(j);
	}
	srv->held_tail = NULL;
	srv->n_held = 0;
	srv->held_dropped = 0;
}

/*
 * Finish a call: build its audit record and hand both to the writer; the
 * reply goes out when the record is committed (call_audited). While the
 * registry is sealed there is no trail to write to: the call disclosed
 * nothing, is answered at once, and its record is held for the next unseal.
 */
static void call_finish(struct call *c, json_t *msg)
{
	struct audit *a = c->srv->reg->audit;
	struct server *srv;
	struct audit_job *j;

	if (c->answered) {
		/* A handler answered twice: a bug, but not one a client may exploit. */
		log_err("internal: %s answered twice", c->name);
		json_decref(msg);
		return;
	}
	c->answered = true;
	j = audit_job_new();
	if (j == NULL) {
		json_decref(msg);
		call_send(c, NULL);
		return;
	}
	fill_record(c, &j->rec);
	j->reply = msg;
	j->checkpoint = c->checkpoint;
	if (a != NULL) {
		if (c->srv->held != NULL)
			flush_held(c->srv, a);
		j->done = call_audited;
		j->data = c;
		audit_submit(a, j);
		return;
	}
	/* call_send() frees c but not msg, which stays with the job for its result. */
	srv = c->srv;
	call_send(c, msg);
	hold_job(srv, j);
}

static void submit_mutation(struct call *c, audit_mutate_fn fn, json_t *mctx, void *ctx,
			    void (*ctx_free)(void *), bool plain)
{
	struct audit *a = c->srv->reg->audit;
	struct audit_job *j;

	if (a == NULL || (j = audit_job_new()) == NULL) {
		json_decref(mctx);
		if (ctx_free != NULL)
			ctx_free(ctx);
		call_error_message(c, "io.roster.AuditUnavailable", "the audit trail is not running");
		return;
	}
	c->answered = true;
	fill_record(c, &j->rec);
	j->mutate = fn;
	j->mctx = mctx;
	j->ctx = ctx;
	j->ctx_free = ctx_free;
	j->plain = plain;
	j->done = call_audited;
	j->data = c;
	audit_submit(a, j);
}

void call_write(struct call *c, audit_mutate_fn fn, json_t *mctx)
{
	submit_mutation(c, fn, mctx, NULL, NULL, false);
}

void call_read(struct call *c, audit_mutate_fn fn, void *ctx, void (*ctx_free)(void *))
{
	submit_mutation(c, fn, NULL, ctx, ctx_free, true);
}

void call_write_bulk(struct call *c, audit_mutate_fn fn, json_t *mctx)
{
	submit_mutation(c, fn, mctx, NULL, NULL, true);
}

/* A stream's own record is committed: hand over to the streaming handler. */
static void stream_audited(struct audit_job *j, int status)
{
	struct call *c = j->data;
	void (*started)(struct call *, int) = c->stream_started;

	if (status < 0) {
		json_t *err = json_pack("{s:s, s:{s:s}}", "error", "io.roster.AuditUnavailable",
					"parameters", "message", "the audit trail cannot be written");

		call_send(c, err);
		json_decref(err);
		started(NULL, status);
		return;
	}
	/*
	 * The caller hung up while the record was being committed: conn_close()
	 * found no on_conn_close yet, so no one would ever end a stream started
	 * now. A follower would be pumped at every commit for the life of the
	 * daemon, and a backup would hold backup_busy, refusing every later
	 * backup and key operation. The record stands (the call was made);
	 * nothing is started, and the call and its state are freed.
	 */
	if (c->conn == NULL || c->conn->closing || c->conn->failed) {
		call_send(c, NULL);
		started(NULL, -EPIPE);
		return;
	}
	started(c, 0);
}

void call_stream_start(struct call *c, void (*started)(struct call *c, int status))
{
	struct audit *a = c->srv->reg->audit;
	struct audit_job *j;

	if (a == NULL || (j = audit_job_new()) == NULL) {
		call_error_message(c, "io.roster.AuditUnavailable", "the audit trail is not running");
		return;
	}
	c->answered = true;
	fill_record(c, &j->rec);
	j->reply = json_pack("{s:{}}", "parameters");   /* the record's result: ok */
	j->done = stream_audited;
	j->data = c;
	c->stream_started = started;
	audit_submit(a, j);
}

int call_continue(struct call *c, json_t *params)
{
	json_t *msg;

	if (c->conn == NULL || c->conn->closing || c->conn->failed) {
		json_decref(params);
		return -EPIPE;
	}
	if (c->conn->out_pending > OUTPUT_SOFT_LIMIT) {
		json_decref(params);
		return -EAGAIN;
	}
	msg = json_pack("{s:o, s:b}", "parameters", params ? params : json_object(), "continues", 1);
	if (msg == NULL)
		return -ENOMEM;
	conn_send_msg(c->conn, msg);
	json_decref(msg);
	/* A send that failed closes the connection later (conn_fail), never under the stream. */
	return c->conn->failed ? -EPIPE : 0;
}

void call_stream_end(struct call *c, json_t *final_msg)
{
	c->on_conn_close = NULL;
	c->on_drain = NULL;
	call_send(c, final_msg);
	json_decref(final_msg);
}

void call_note_client(struct call *c, const char *id)
{
	/* On allocation failure the id is missing from the record; log it, never drop silently. */
	if (audit_rec_add_id(&c->rec, id) < 0)
		log_err("audit: out of memory noting a client id for %s", c->name);
}

void call_note_disclosed(struct call *c, int64_t records)
{
	c->rec.records += records;
}

void call_reply(struct call *c, json_t *params)
{
	json_t *msg = json_object();

	if (params == NULL)
		params = json_object();
	if (msg == NULL || params == NULL || json_object_set_new(msg, "parameters", params) < 0) {
		json_decref(msg);
		call_error_message(c, "io.roster.InternalError", "out of memory");
		return;
	}
	call_finish(c, msg);
}

void call_error(struct call *c, const char *error, json_t *params)
{
	json_t *msg = json_object();

	if (params == NULL)
		params = json_object();
	if (msg == NULL || params == NULL ||
	    json_object_set_new(msg, "error", json_string(error)) < 0 ||
	    json_object_set_new(msg, "parameters", params) < 0) {
		json_decref(msg);
		msg = NULL;
	}
	call_finish(c, msg);
}

void call_error_message(struct call *c, const char *error, const char *message)
{
	call_error(c, error, message ? json_pack("{s:s}", "message", message) : NULL);
}

void call_invalid_parameter(struct call *c, const char *parameter)
{
	call_error(c, "org.varlink.service.InvalidParameter",
		   json_pack("{s:s}", "parameter", parameter));
}

/*
 * Check the envelope of a message: "method" (a string), and optionally
 * "parameters" (an object), "oneway", "more" (booleans). "upgrade" is not
 * supported. Returns NULL or the reason it is refused.
 *
 * The specification declares the optional members nullable (parameters:
 * ?object, oneway: ?bool, ...), and a null one means the same as an absent
 * one. Clients do send null: the Go binding's Call() sends
 * "parameters": null for a method without parameters (GetInfo).
 */
static const char *check_envelope(json_t *msg, struct call *c)
{
	const char *key;
	json_t *v;

	json_object_foreach(msg, key, v) {
		if (json_is_null(v) && (strcmp(key, "parameters") == 0 || strcmp(key, "oneway") == 0 ||
					strcmp(key, "more") == 0 || strcmp(key, "upgrade") == 0))
			continue;
		if (strcmp(key, "method") == 0) {
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) >= sizeof(c->name))
				return "\"method\" must be a method name";
			memcpy(c->name, json_string_value(v), json_string_length(v) + 1);
		} else if (strcmp(key, "parameters") == 0) {
			if (!json_is_object(v))
				return "\"parameters\" must be an object";
		} else if (strcmp(key, "oneway") == 0) {
			if (!json_is_boolean(v))
				return "\"oneway\" must be a boolean";
			c->oneway = json_is_true(v);
		} else if (strcmp(key, "more") == 0) {
			if (!json_is_boolean(v))
				return "\"more\" must be a boolean";
			c->more = json_is_true(v);
		} else if (strcmp(key, "upgrade") == 0) {
			if (json_is_true(v))
				return "connection upgrades are not supported";
		} else if (strchr(key, '.') != NULL && json_is_object(v)) {
			/*
			 * The specification lets a vendor extend the envelope
			 * with an object named in reverse-domain notation. None
			 * means anything to this daemon, so it is ignored;
			 * any other unknown member is still an error.
			 */
			continue;
		} else {
			return "unknown member in message";
		}
	}
	if (c->name[0] == '\0')
		return "message has no \"method\"";
	if (c->oneway && c->more)
		return "\"oneway\" and \"more\" exclude each other";
	return NULL;
}

/*
 * Take frames off the input buffer while the connection is free to start a
 * call and its output is drained far enough.
 */
static void conn_process(struct conn *c)
{
	while (!c->closing && !c->failed && c->busy == NULL && !c->close_after_write &&
	       c->out_pending <= OUTPUT_SOFT_LIMIT) {
		const char *text;
		const char *why;
		struct call *call;
		enum frame_error fe;
		json_t *msg = NULL;
		size_t len;
		int r;

		r = frame_buf_peek(&c->in, &text, &len);
		if (r < 0) {
			conn_protocol_error(c, "message too large");
			return;
		}
		if (r == 0)
			break;
		fe = frame_parse(text, len, &msg);
		frame_buf_consume(&c->in, len);        /* wipes the frame's bytes */
		c->partial_since_ms = 0;
		if (fe != FRAME_OK) {
			conn_protocol_error(c, frame_error_string(fe));
			return;
		}
		call = calloc(1, sizeof(*call));
		if (call == NULL) {
			json_decref(msg);
			conn_close(c);
			return;
		}
		call->msg = msg;
		why = check_envelope(msg, call);
		if (why != NULL) {
			call_free(call);
			conn_protocol_error(c, why);
			return;
		}
		call->params = json_object_get(msg, "parameters");
		if (call->params == NULL || json_is_null(call->params)) {
			call->params = json_object();
			if (call->params == NULL || json_object_set_new(msg, "parameters", call->params) < 0) {
				call_free(call);
				conn_close(c);
				return;
			}
		}
		call->srv = c->srv;
		call->conn = c;
		call->uid = c->uid;
		call->gid = c->gid;
		call->pid = c->pid;
		c->busy = call;
		dispatch(call);
	}
	/* Read again once the buffer has room for a whole frame and nothing blocks. */
	if (!c->closing && !c->failed && !c->close_after_write && !c->reading &&
	    c->in.len < c->in.max && c->out_pending <= OUTPUT_SOFT_LIMIT)
		conn_resume_read(c);
	if (!c->closing) {
		const char *text;
		size_t len;

		/*
		 * Bytes held, no call running and no complete frame among them:
		 * a message has begun and not finished. Its clock starts once
		 * and is not reset by more bytes, so a client trickling a byte
		 * at a time is still dropped.
		 */
		if (c->busy == NULL && c->in.len > 0 && frame_buf_peek(&c->in, &text, &len) == 0) {
			if (c->partial_since_ms == 0)
				c->partial_since_ms = uv_now(c->srv->loop);
		} else {
			c->partial_since_ms = 0;
		}
		conn_arm_timer(c);
	}
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char slab[64 * 1024];   /* the loop is single-threaded: one slab serves all */

	(void)h;
	(void)suggested;
	*buf = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	int r;

	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("connection uid %u: read: %s", (unsigned)c->uid,
				  uv_strerror((int)nread));
		conn_close(c);
		return;
	}
	r = frame_buf_append(&c->in, buf->base, (size_t)nread);
	sodium_memzero(buf->base, (size_t)nread);
	if (r == -EMSGSIZE) {
		conn_protocol_error(c, "message too large");
		return;
	}
	if (r < 0) {
		conn_close(c);
		return;
	}
	c->last_io_ms = uv_now(c->srv->loop);
	/* Back-pressure: while a call runs or replies queue up, stop reading at one frame's worth. */
	if ((c->busy != NULL || c->out_pending > OUTPUT_SOFT_LIMIT) && c->in.len >= c->in.max) {
		uv_read_stop(stream);
		c->reading = false;
	}
	conn_process(c);
}

static void conn_resume_read(struct conn *c)
{
	if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0)
		c->reading = true;
}

/* ---- connection lifecycle ----------------------------------------------- */

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->handles_open > 0)
		return;
	frame_buf_free(&c->in);
	sodium_memzero(&c->auth, sizeof(c->auth));
	free(c);
}

static void conn_close(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	if (c->busy != NULL) {
		struct call *busy = c->busy;

		/* The call may still be running on the thread pool; it finishes unanswered. */
		busy->conn = NULL;
		c->busy = NULL;
		if (busy->on_conn_close != NULL)
			busy->on_conn_close(busy);  /* a stream: its owner frees it */
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	uv_close((uv_handle_t *)&c->pipe, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

/* The earliest deadline the connection must meet, in loop time, and which one it is. */
static uint64_t conn_deadline(const struct conn *c, const char **why)
{
	const struct server_config *cfg = &c->srv->cfg;
	/*
	 * A stream the caller asked for ("more": audit tail, a backup) is not
	 * idle while it waits for something to send: a follower of a quiet
	 * trail must not be dropped after idle_timeout. A caller that stops
	 * reading is still dropped (write_timeout), and one that goes away
	 * is seen when its end of the socket closes.
	 */
	uint64_t d = c->busy != NULL && c->busy->more ? UINT64_MAX
						       : c->last_io_ms + cfg->idle_timeout_ms;

	if (c->failed) {
		*why = "a reply could not be queued";
		return 0;
	}
	*why = "idle";
	if (c->partial_since_ms != 0 && c->partial_since_ms + cfg->frame_timeout_ms < d) {
		d = c->partial_since_ms + cfg->frame_timeout_ms;
		*why = "an unfinished message timed out";
	}
	if (c->out_pending > 0 && c->write_since_ms + cfg->write_timeout_ms < d) {
		d = c->write_since_ms + cfg->write_timeout_ms;
		*why = "not reading its replies";
	}
	return d;
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;
	const char *why;

	if (conn_deadline(c, &why) > uv_now(c->srv->loop)) {
		conn_arm_timer(c);      /* a deadline moved since the timer was set */
		return;
	}
	if (strcmp(why, "idle") == 0)
		log_debug("connection uid %u pid %ld idle; closing", (unsigned)c->uid, (long)c->pid);
	else
		log_info("connection uid %u pid %ld: %s; closing", (unsigned)c->uid, (long)c->pid, why);
	conn_close(c);
}

/*
 * Output could not be queued (no memory, or libuv refused the write): the
 * reply is lost, so the connection must go, but not here. The sender may be
 * a stream in the middle of pumping (Tail, Backup, Export), which the
 * close would free under it (on_conn_close). Nothing more is read or sent,
 * and the timer, due at once, closes it on the next pass of the loop.
 */
static void conn_fail(struct conn *c)
{
	if (c->closing || c->failed)
		return;
	c->failed = true;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
	conn_arm_timer(c);
}

/* (Re)start the connection's one timer for its earliest deadline. */
static void conn_arm_timer(struct conn *c)
{
	const char *why;
	uint64_t d = conn_deadline(c, &why), now = uv_now(c->srv->loop);

	if (d == UINT64_MAX)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}

/*
 * How many connections may be open when one from uid is accepted. The last
 * few are kept for root and the daemon's own user, as PostgreSQL keeps
 * superuser_reserved_connections: the per-uid limit stops one runaway
 * service, but several uids could share out every slot, and the brake
 * (Seal) must still get through.
 */
static unsigned conn_limit(const struct server *srv, uid_t uid)
{
	unsigned max = srv->cfg.max_connections;
	unsigned reserved = max / 4 < SERVER_RESERVED_CONNECTIONS ? max / 4
								 : SERVER_RESERVED_CONNECTIONS;

	return uid == 0 || uid == srv->own_uid ? max : max - reserved;
}

/* How many open connections (the new one included) come from uid. */
static unsigned conns_of_uid(const struct server *srv, uid_t uid)
{
	const struct conn *c;
	unsigned n = 0;

	for (c = srv->conns; c != NULL; c = c->next)
		if (c->uid == uid && !c->closing)
			n++;
	return n;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct server *srv = listener->data;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c;
	uv_os_fd_t fd;

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->srv = srv;
	frame_buf_init(&c->in, FRAME_MAX_SIZE);
	uv_pipe_init(srv->loop, &c->pipe, 0);
	uv_timer_init(srv->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->handles_open = 2;
	/* Link first, so conn_close() works on every path below. */
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;

	if (uv_accept(listener, (uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
		log_warn("accept: cannot read peer credentials; closing");
		conn_close(c);
		return;
	}
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	if (srv->stopping || srv->n_conns > conn_limit(srv, c->uid)) {
		log_warn("connection from uid %u pid %ld refused: %u connections open (limit %u "
			 "for this uid)", (unsigned)c->uid, (long)c->pid, srv->n_conns - 1,
			 conn_limit(srv, c->uid));
		conn_close(c);
		return;
	}
	if (conns_of_uid(srv, c->uid) > srv->cfg.max_connections_per_uid) {
		log_warn("connection from uid %u pid %ld refused: that uid has %u connections open "
			 "(limit %u)", (unsigned)c->uid, (long)c->pid, srv->cfg.max_connections_per_uid,
			 srv->cfg.max_connections_per_uid);
		conn_close(c);
		return;
	}
	log_debug("connection from uid %u gid %u pid %ld", (unsigned)c->uid, (unsigned)c->gid,
		  (long)c->pid);
	c->last_io_ms = uv_now(srv->loop);
	conn_arm_timer(c);
	conn_resume_read(c);
}

/* ---- listening ---------------------------------------------------------- */

/*
 * A socket file left by a daemon that died is replaced; one that someone
 * still answers on is not (that would steal another daemon's clients), and
 * anything that is not a socket is never removed.
 */
static int clear_stale_socket(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket; refusing to replace it", path);
		return -EEXIST;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		log_err("%s: another daemon is answering on this socket; refusing to start", path);
		return -EADDRINUSE;
	}
	if (errno != ECONNREFUSED) {
		log_err("%s: cannot tell whether the socket is stale: %s", path, strerror(errno));
		return -errno;
	}
	log_info("%s: removing a stale socket nobody answers on", path);
	if (unlink(path) < 0)
		return -errno;
	return 0;
}

int server_bind(struct server *srv, uv_loop_t *loop, const struct server_config *cfg)
{
	mode_t old;
	int r;

	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	srv->cfg = *cfg;
	r = uv_pipe_init(loop, &srv->listener, 0);
	if (r < 0)
		return r;
	srv->listening = true;          /* the handle is open: server_stop() closes it */
	srv->listener.data = srv;
	if (cfg->listen_fd >= 0) {
		r = uv_pipe_open(&srv->listener, cfg->listen_fd);
		if (r < 0) {
			log_err("cannot use the inherited socket: %s", uv_strerror(r));
			return r;
		}
	} else {
		struct sockaddr_un sa;

		if (strlen(cfg->socket_path) >= sizeof(sa.sun_path)) {
			log_err("%s: socket path too long (at most %zu bytes)", cfg->socket_path,
				sizeof(sa.sun_path) - 1);
			return -ENAMETOOLONG;
		}
		r = clear_stale_socket(cfg->socket_path);
		if (r < 0)
			return r;
		/*
		 * uv_pipe_chmod can only add bits, so the mode is set by the
		 * umask in force at bind time.
		 */
		old = umask((~cfg->socket_mode) & 0777);
		r = uv_pipe_bind(&srv->listener, cfg->socket_path);
		umask(old);
		if (r < 0) {
			log_err("%s: bind: %s", cfg->socket_path, uv_strerror(r));
			return r;
		}
		/* Services reach the socket through its group (socket_group). */
		if (cfg->socket_gid != (gid_t)-1 && chown(cfg->socket_path, (uid_t)-1, cfg->socket_gid) < 0) {
			r = -errno;
			log_err("%s: cannot give the socket to group %u: %s", cfg->socket_path,
				(unsigned)cfg->socket_gid, strerror(errno));
			return r;
		}
	}
	return 0;
}

int server_listen(struct server *srv, struct registry *reg)
{
	int r;

	srv->reg = reg;
	/* After any change of user: the daemon's own uid is a bootstrap identity. */
	srv->own_uid = geteuid();
	srv->started_usec = uv_now(srv->loop) * 1000;
	r = uv_listen((uv_stream_t *)&srv->listener, LISTEN_BACKLOG, on_connection);
	if (r < 0) {
		log_err("listen: %s", uv_strerror(r));
		return r;
	}
	return 0;
}

int server_start(struct server *srv, uv_loop_t *loop, const struct server_config *cfg,
		 struct registry *reg)
{
	int r = server_bind(srv, loop, cfg);

	return r < 0 ? r : server_listen(srv, reg);
}

void server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	if (srv->listening)
		uv_close((uv_handle_t *)&srv->listener, NULL);
	while (srv->conns != NULL)
		conn_close(srv->conns);
}
