/*
 * server.h: the Unix socket server. Accepts connections, takes the peer's
 * identity from the kernel (SO_PEERCRED) once at accept time, reads frames
 * through the bounded frame reader, and hands each call to the dispatcher.
 *
 * Limits (all named in limits.h, all enforced in server.c):
 *  - LIMIT_MESSAGE_SIZE per incoming message, LIMIT_JSON_DEPTH nesting;
 *  - max_connections open at once, and max_connections_per_uid from one
 *    peer uid (further ones are accepted and closed at once);
 *  - one call in progress per connection: frames that arrive meanwhile wait
 *    in the input buffer, and reading stops when it holds a full frame's
 *    worth, so a pipelining client is slowed down, not buffered for;
 *  - OUTPUT_SOFT_LIMIT bytes of replies queued to a connection before the
 *    next call is taken; a client that leaves its output unread for
 *    write_timeout_ms is dropped;
 *  - REPLY_MAX_SIZE per reply;
 *  - idle_timeout_ms without a byte read or written, or frame_timeout_ms
 *    with a message begun but unfinished, closes the connection.
 *
 * The server never logs a message payload.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "daemon/audit.h"
#include "daemon/auth.h"
#include "daemon/limits.h"
#include "lib/frame.h"


struct registry;
struct method;

struct server_config {
	const char *socket_path;
	unsigned socket_mode;           /* e.g. 0660 */
	gid_t socket_gid;               /* (gid_t)-1: leave the daemon's group */
	unsigned max_connections;
	unsigned max_connections_per_uid;
	uint64_t idle_timeout_ms;
	uint64_t frame_timeout_ms;
	uint64_t write_timeout_ms;
	int listen_fd;                  /* >= 0: an inherited listening socket */
};

struct server {
	uv_loop_t *loop;
	uv_pipe_t listener;
	struct server_config cfg;
	struct registry *reg;
	struct conn *conns;             /* doubly linked list of open connections */
	unsigned n_conns;
	uid_t own_uid;
	int64_t started_usec;
	bool stopping;
	bool listening;
	/*
	 * Records of calls answered while the registry was not unsealed (and so
	 * the audit trail was out of reach), written first thing at the next
	 * unseal. Bounded; beyond the bound only a count is kept and logged.
	 */
	struct audit_job *held, *held_tail;
	size_t n_held;
	uint64_t held_dropped;
};

/* One client connection. Freed only after both its handles have closed. */
struct conn {
	uv_pipe_t pipe;
	uv_timer_t timer;               /* the nearest of the idle, frame and write deadlines */
	struct server *srv;
	struct conn *prev, *next;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	struct frame_buf in;
	struct conn_auth auth;          /* a token proved on this connection */
	struct call *busy;              /* the call in progress, if any */
	size_t out_pending;             /* reply bytes handed to libuv, not yet written */
	uint64_t last_io_ms;            /* loop time of the last byte read or written */
	uint64_t partial_since_ms;      /* 0, or when an unfinished message began waiting */
	uint64_t write_since_ms;        /* when queued output last made progress */
	int handles_open;
	bool reading;
	bool closing;
	bool close_after_write;         /* a protocol error was answered: close once sent */
	bool failed;                    /* output could not be queued: closes at its timer (conn_fail) */
};

/* One method call, from its frame to its reply. */
struct call {
	struct server *srv;
	struct conn *conn;              /* NULL once the connection has gone */
	const struct method *method;
	json_t *msg;                    /* the whole message; owns params */
	json_t *params;                 /* borrowed from msg; never NULL (empty object) */
	char name[256];                 /* the method name as called */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	struct identity ident;          /* set by the dispatcher before the handler runs */
	struct audit_rec rec;           /* what the call touched, for its audit record */
	void (*after)(struct call *c);  /* runs once the reply is sent (e.g. Seal) */
	bool after_always;              /* ...even when the record could not be written */
	bool checkpoint;                /* sign the head after this call's record (audit.h) */
	/*
	 * For a streaming call ("more"): runs when its connection closes, and
	 * takes over freeing the call (call_stream_end).
	 */
	void (*on_conn_close)(struct call *c);
	void (*stream_started)(struct call *c, int status);
	/*
	 * For a streaming call that had to wait (call_continue said -EAGAIN):
	 * runs when replies queued to its connection have been written and it
	 * may continue.
	 */
	void (*on_drain)(struct call *c);
	void *stream;                   /* the streaming handler's state */
	/*
	 * If set, releases c->stream when the call is freed, whichever way it
	 * ends (also when its own record could not be written and started()
	 * gets no call to find the state on).
	 */
	void (*stream_free)(void *stream);
	bool close_after;               /* close the connection once answered */
	bool oneway;
	bool more;
	bool answered;
};

/*
 * Bind (or adopt cfg->listen_fd) and start listening. Returns 0 or negative
 * errno. server_start() is server_bind() then server_listen(): rosterd binds
 * while it may still be root, and listens (so clients can connect) only
 * once it has dropped privileges and opened the registry; until then a
 * client's connect() is refused rather than left waiting.
 */
int server_bind(struct server *srv, uv_loop_t *loop, const struct server_config *cfg);
int server_listen(struct server *srv, struct registry *reg);
int server_start(struct server *srv, uv_loop_t *loop, const struct server_config *cfg,
		 struct registry *reg);

/* Stop accepting and close every connection. Calls still running finish unanswered. */
void server_stop(struct server *srv);

/* Log and drop held records (at shutdown while sealed). */
void server_drop_held(struct server *srv);

/*
 * Answer a call, exactly once. params (stolen, may be NULL for none) become
 * the reply's parameters. The call is freed; the caller must not touch it.
 */
void call_reply(struct call *c, json_t *params);

/*
 * Answer a call with a Varlink error. params (stolen, may be NULL) become
 * the error's parameters. The call is freed.
 */
void call_error(struct call *c, const char *error, json_t *params);

/*
 * Run a change to clients on the audit writer thread, in the same
 * transaction as the call's record. fn builds the reply; mctx (a new
 * reference, may be NULL) is given to fn as j->mctx and released with the
 * job. The call is answered when the batch commits.
 */
void call_write(struct call *c, audit_mutate_fn fn, json_t *mctx);

/*
 * Like call_write(), for a handler that reads (or makes one change that
 * belongs with the record whatever the reply) on the writer's connection:
 * no savepoint. ctx is handed to fn as j->ctx and freed with ctx_free.
 */
void call_read(struct call *c, audit_mutate_fn fn, void *ctx, void (*ctx_free)(void *));

/*
 * Like call_write(), without the savepoint, for a change whose failure is
 * a storage failure (its input was checked before): if fn cannot complete
 * it, fn sets j->abort_batch and the whole batch is rolled back. Under
 * SQLCipher a savepoint costs an encryption of every page the change
 * touches, as much again as the commit (see Clients.Import).
 */
void call_write_bulk(struct call *c, audit_mutate_fn fn, json_t *mctx);

/*
 * Streaming ("more") calls. call_stream_start() commits the call's own
 * audit record first and then runs started(c, status) on the loop thread
 * (status < 0: the record could not be written; the call has been answered
 * AuditUnavailable and freed, and started must not touch it). Afterwards
 * call_continue() sends one reply with "continues": true (returns -EPIPE if
 * the connection has gone, -EAGAIN if the client is not reading fast
 * enough: try again later), and call_stream_end() frees the call without a
 * final reply (the connection is gone) or with one.
 */
void call_stream_start(struct call *c, void (*started)(struct call *c, int status));
int call_continue(struct call *c, json_t *params);
void call_stream_end(struct call *c, json_t *final_msg);

/*
 * Copy who the caller is (c->ident, set by the dispatcher) into the call's
 * record as names, and drop the pointers into the principal and role
 * tables, which a reload replaces.
 */
void call_set_identity(struct call *c);

/* Note a client id the call touched / records disclosed, for the audit record. */
void call_note_client(struct call *c, const char *id);
void call_note_disclosed(struct call *c, int64_t records);

/* Shorthands for the common errors, with an optional human sentence. */
void call_error_message(struct call *c, const char *error, const char *message);
void call_invalid_parameter(struct call *c, const char *parameter);
