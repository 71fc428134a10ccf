/*
 * limits.h: every bound rosterd puts on what a client may make it hold or
 * do, in one place. Each is either a fixed protocol limit (shared with
 * libroster, so both sides agree) or the default of a roster.conf(5) key.
 * README.md ("Limits") and roster.conf(5) list them for users; keep the
 * three in step.
 */
#pragma once

#include "lib/frame.h"

/*
 * Protocol limits, fixed: the largest incoming message, terminating NUL
 * included, and the deepest nesting of objects and arrays in it. Both come
 * from lib/frame.h, which libroster uses too.
 */
#define LIMIT_MESSAGE_SIZE FRAME_MAX_SIZE
#define LIMIT_JSON_DEPTH FRAME_MAX_DEPTH

/* The largest reply the daemon encodes (libroster's ROSTER_MAX_REPLY). */
#define REPLY_MAX_SIZE (16u * 1024u * 1024u)

/*
 * Calls in progress per connection: one. Frames that arrive meanwhile wait
 * in the connection's input buffer, which holds at most one maximum-size
 * message; once it is full the daemon stops reading from that connection.
 */
#define LIMIT_CALLS_PER_CONNECTION 1

/*
 * Reply bytes queued to a connection before the daemon stops taking its
 * next call (and before a streaming call waits). One reply may take the
 * queue past this, so a connection's output never exceeds
 * OUTPUT_SOFT_LIMIT + REPLY_MAX_SIZE; a client that leaves it unread for
 * write_timeout is dropped.
 */
#define OUTPUT_SOFT_LIMIT (256u * 1024u)

/*
 * Connections open at once, in all and per peer uid (max_connections,
 * max_connections_per_uid). One uid gets half the total by default, so a
 * runaway service cannot lock out the administrator or the other services.
 */
#define DEFAULT_MAX_CONNECTIONS 256
/*
 * Of max_connections, this many (or a quarter, if fewer) only root and the
 * daemon's own user may take, so that a Seal gets through however many
 * uids fill the rest.
 */
#define SERVER_RESERVED_CONNECTIONS 4u
#define DEFAULT_MAX_CONNECTIONS_PER_UID 128
#define MAX_CONNECTIONS_CEILING 65536

/* Connections waiting in the kernel to be accepted. */
#define LISTEN_BACKLOG 128

/*
 * Timeouts, in milliseconds (idle_timeout, frame_timeout, write_timeout in
 * seconds in roster.conf): a connection with no byte read or written; a
 * message begun but not finished (far shorter: a real client writes a
 * message at once, and a stalled half-message holds a connection slot); and
 * queued output of which nothing has been taken.
 */
#define DEFAULT_IDLE_TIMEOUT_MS (300u * 1000u)
#define DEFAULT_FRAME_TIMEOUT_MS (10u * 1000u)
#define DEFAULT_WRITE_TIMEOUT_MS (30u * 1000u)

/* Audit records of calls answered while sealed, kept for the next unseal. */
#define AUDIT_HELD_MAX 10000
