/*
 * client.c: libroster, the client side of Roster's Varlink protocol (see
 * roster.h). It connects to the daemon's Unix socket, sends one call at a
 * time through frame_encode() and reads one reply through the bounded
 * frame_buf reader, then turns Varlink errors into roster_error codes.
 *
 * It must never print or log (failures go back to the caller as codes and
 * sentences), never raise SIGPIPE in the caller's process, never hold more
 * than one maximum-size frame from the peer, never leave an encoded secret
 * in freed memory, and depends on nothing beyond libc and jansson (frame.c
 * aside).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/frame.h"
#include "lib/roster.h"

_Static_assert(FRAME_MAX_SIZE == ROSTER_MAX_MESSAGE,
	       "frame.h and roster.h must agree on the largest message");

struct roster {
	int fd;                 /* -1 once the connection has failed */
	struct frame_buf in;    /* bytes received and not yet consumed */
	int err_code;           /* result of the last call */
	char *err_name;         /* the last Varlink error's name, or NULL */
	json_t *err_params;     /* its parameters, or NULL */
	char *err_msg;          /* a sentence about the last failure, or NULL */
};

/* Varlink error names and the codes they map to; any other name is ROSTER_E_REMOTE. */
static const struct {
	const char *name;
	int code;
} error_names[] = {
	{ "io.roster.NotFound", ROSTER_E_NOTFOUND },
	{ "io.roster.PermissionDenied", ROSTER_E_PERMISSION },
	{ "io.roster.Sealed", ROSTER_E_SEALED },
	{ "io.roster.Uninitialized", ROSTER_E_UNINITIALIZED },
	{ "io.roster.QuotaExceeded", ROSTER_E_QUOTA },
	{ "io.roster.Locked", ROSTER_E_LOCKED },
	{ "io.roster.Conflict", ROSTER_E_CONFLICT },
	{ "io.roster.BadPassphrase", ROSTER_E_BADPASS },
	{ "io.roster.InvalidState", ROSTER_E_STATE },
	{ "io.roster.AuditUnavailable", ROSTER_E_AUDIT },
	{ "io.roster.Busy", ROSTER_E_BUSY },
	{ "io.roster.KeyringCorrupt", ROSTER_E_KEYRING },
	{ "io.roster.InternalError", ROSTER_E_INTERNAL },
	{ "io.roster.Exists", ROSTER_E_EXISTS },
	{ "io.roster.InUse", ROSTER_E_INUSE },
	{ "io.roster.AuthenticationRequired", ROSTER_E_AUTH },
	{ "io.roster.ApprovalRequired", ROSTER_E_APPROVAL },
	{ "io.roster.ApprovalExpired", ROSTER_E_APPROVAL },
	{ "io.roster.ApprovalUsed", ROSTER_E_APPROVAL },
	{ "io.roster.SelfApproval", ROSTER_E_APPROVAL },
	{ "io.roster.TooManyRequests", ROSTER_E_APPROVAL },
	{ "org.varlink.service.InvalidParameter", ROSTER_E_INVALID },
	/* The generic Varlink denial means the same to a caller as ours. */
	{ "org.varlink.service.PermissionDenied", ROSTER_E_PERMISSION },
	{ "org.varlink.service.MethodNotFound", ROSTER_E_NOMETHOD },
	{ "org.varlink.service.MethodNotImplemented", ROSTER_E_NOMETHOD },
	{ "org.varlink.service.InterfaceNotFound", ROSTER_E_NOMETHOD },
};

static void clear_error(struct roster *r)
{
	free(r->err_name);
	free(r->err_msg);
	json_decref(r->err_params);
	r->err_name = NULL;
	r->err_msg = NULL;
	r->err_params = NULL;
	r->err_code = ROSTER_OK;
}

/* Record a local failure on r with a formatted sentence; returns code. */
__attribute__((format(printf, 3, 4)))
static int set_local(struct roster *r, int code, const char *fmt, ...)
{
	va_list ap;

	clear_error(r);
	r->err_code = code;
	va_start(ap, fmt);
	/* Without memory for the sentence, roster_strerror() still describes the code. */
	if (vasprintf(&r->err_msg, fmt, ap) < 0)
		r->err_msg = NULL;
	va_end(ap);
	return code;
}

/*
 * Like set_local(), and also close the connection: after a failed send, an
 * oversized or malformed reply, the two ends no longer agree where the next
 * frame starts, so the connection must not be used again.
 */
#define fail_connection(r, code, ...) \
	(close_connection(r), set_local((r), (code), __VA_ARGS__))

static void close_connection(struct roster *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	frame_buf_free(&r->in);
}

/*
 * What a NotFound from method is about: its "id" names a client for the
 * Clients methods, a role for the Role methods and PrincipalAdd (whose
 * principal is new), and a principal for the other principal methods.
 */
static const char *notfound_prefix(const char *method)
{
	static const char clients[] = "io.roster.Clients.", admin[] = "io.roster.Admin.";

	if (strncmp(method, clients, sizeof(clients) - 1) == 0)
		return "no client with id ";
	if (strncmp(method, admin, sizeof(admin) - 1) == 0) {
		method += sizeof(admin) - 1;
		if (strncmp(method, "Role", 4) == 0 || strcmp(method, "PrincipalAdd") == 0)
			return "no role named ";
		if (strncmp(method, "Principal", 9) == 0 || strncmp(method, "Token", 5) == 0)
			return "no principal named ";
	}
	return "not found: ";
}

/*
 * A sentence for a Varlink error answering method: the daemon's own
 * "message" when it sent one, else one built from the error's declared
 * parameters, else NULL so that roster_strerror() is used. Returns malloc'ed
 * text or NULL.
 */
static char *describe_remote(int code, const char *method, const json_t *params)
{
	const char *message = json_string_value(json_object_get(params, "message"));
	const char *arg = NULL, *prefix = NULL;
	char *s;

	if (message != NULL && *message != '\0')
		return strdup(message);
	switch (code) {
	case ROSTER_E_INVALID:
		arg = json_string_value(json_object_get(params, "parameter"));
		prefix = "invalid parameter: ";
		break;
	case ROSTER_E_NOTFOUND:
		arg = json_string_value(json_object_get(params, "id"));
		prefix = notfound_prefix(method);
		break;
	case ROSTER_E_EXISTS:
		arg = json_string_value(json_object_get(params, "name"));
		prefix = "already exists: ";
		break;
	case ROSTER_E_INUSE:
		arg = json_string_value(json_object_get(params, "name"));
		prefix = "held by principals or built in: ";
		break;
	case ROSTER_E_STATE:
		arg = json_string_value(json_object_get(params, "state"));
		prefix = "not allowed while the registry is ";
		break;
	case ROSTER_E_PERMISSION:
		arg = json_string_value(json_object_get(params, "method"));
		prefix = "permission denied for ";
		break;
	case ROSTER_E_CONFLICT:
		arg = json_string_value(json_object_get(params, "id"));
		if (arg == NULL || !json_is_integer(json_object_get(params, "version")) ||
		    asprintf(&s, "client %s is now at version %" JSON_INTEGER_FORMAT
			     "; re-read it and retry", arg,
			     json_integer_value(json_object_get(params, "version"))) < 0)
			return NULL;
		return s;
	default:
		break;
	}
	if (arg == NULL || asprintf(&s, "%s%s", prefix, arg) < 0)
		return NULL;
	return s;
}

/* Record a Varlink error reply to method on r; returns its code. */
static int set_remote(struct roster *r, const char *method, const char *name, json_t *params)
{
	int code = ROSTER_E_REMOTE;

	for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++)
		if (strcmp(name, error_names[i].name) == 0) {
			code = error_names[i].code;
			break;
		}
	clear_error(r);
	r->err_name = strdup(name);
	if (r->err_name == NULL)
		return set_local(r, ROSTER_E_NOMEM, "out of memory");
	r->err_params = params != NULL ? json_incref(params) : json_object();
	r->err_msg = describe_remote(code, method, r->err_params);
	r->err_code = code;
	return code;
}

/*
 * connect() interrupted by a signal goes on in the background, and calling
 * it again fails with EALREADY; wait for the outcome instead.
 */
static int connect_unix(int fd, const struct sockaddr_un *sa)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t errlen = sizeof(int);
	int err = 0;

	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	if (errno != EINTR)
		return -1;
	while (poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/*
 * On failure errno says why (ENAMETOOLONG for a path that does not fit in
 * sun_path), so that a caller can tell "no daemon" from "no permission".
 */
int roster_connect(const char *path, struct roster **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct roster *r = NULL;
	int fd = -1, rc = ROSTER_E_CONNECT, saved_errno;
	size_t len;

	if (ret == NULL) {
		errno = EINVAL;
		return ROSTER_E_ARGS;
	}
	if (path == NULL) {
		path = getenv("ROSTER_SOCKET");
		if (path == NULL || *path == '\0')
			path = ROSTER_DEFAULT_SOCKET;
	}
	len = strlen(path);
	if (len == 0 || len >= sizeof(sa.sun_path)) {
		errno = len == 0 ? EINVAL : ENAMETOOLONG;
		return ROSTER_E_ARGS;
	}
	memcpy(sa.sun_path, path, len + 1);

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = ROSTER_E_NOMEM;
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect_unix(fd, &sa) < 0)
		goto out;
	frame_buf_init(&r->in, ROSTER_MAX_REPLY);
	r->fd = fd;
	fd = -1;
	*ret = r;
	r = NULL;
	rc = ROSTER_OK;
out:
	saved_errno = errno;
	if (fd >= 0)
		close(fd);
	free(r);
	errno = saved_errno;
	return rc;
}

void roster_free(struct roster *r)
{
	if (r == NULL)
		return;
	close_connection(r);
	clear_error(r);
	free(r);
}

static int send_all(struct roster *r, const char *buf, size_t len)
{
	while (len > 0) {
		/* MSG_NOSIGNAL: a daemon that went away is an error code, not a dead caller. */
		ssize_t n = send(r->fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			return fail_connection(r, ROSTER_E_IO, "cannot send to the daemon: %s",
					       strerror(e));
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Wait until fd has input (or an error or hang-up to report). */
static int wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Read exactly one frame and parse it; *ret_msg is a new reference. */
static int recv_frame(struct roster *r, json_t **ret_msg)
{
	char chunk[4096];
	const char *text = NULL;
	size_t len = 0;
	enum frame_error fe;
	json_t *msg = NULL;
	int rc;

	for (;;) {
		ssize_t n;

		rc = frame_buf_peek(&r->in, &text, &len);
		if (rc == 1)
			break;
		if (rc < 0) {
			rc = fail_connection(r, ROSTER_E_TOOBIG,
					     "the daemon's reply is larger than %u bytes",
					     ROSTER_MAX_REPLY);
			goto out;
		}
		/*
		 * Wait in poll() for the reply, not in recv(): a thread asleep in
		 * recv() on a Unix stream socket is also woken each time the
		 * daemon reads from the other end (the kernel signals "room to
		 * write" on the same wait queue), so every call would cost the
		 * caller a wasted wake-up and the daemon the work of making it.
		 * poll() waits for input alone.
		 */
		if (wait_readable(r->fd) < 0) {
			int e = errno;

			rc = fail_connection(r, ROSTER_E_IO, "cannot read from the daemon: %s",
					     strerror(e));
			goto out;
		}
		n = recv(r->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			int e = errno;

			rc = fail_connection(r, ROSTER_E_IO, "cannot read from the daemon: %s",
					     strerror(e));
			goto out;
		}
		if (n == 0) {
			rc = fail_connection(r, ROSTER_E_IO, "the daemon closed the connection");
			goto out;
		}
		rc = frame_buf_append(&r->in, chunk, (size_t)n);
		if (rc == -ENOMEM) {
			rc = fail_connection(r, ROSTER_E_NOMEM, "out of memory");
			goto out;
		}
		if (rc < 0) {
			rc = fail_connection(r, ROSTER_E_TOOBIG,
					     "the daemon's reply is larger than %u bytes",
					     ROSTER_MAX_REPLY);
			goto out;
		}
	}
	fe = frame_parse(text, len, &msg);
	frame_buf_consume(&r->in, len);
	if (fe != FRAME_OK) {
		rc = fail_connection(r, ROSTER_E_PROTOCOL, "the daemon's reply is malformed: %s",
				     frame_error_string(fe));
		goto out;
	}
	/*
	 * One call, one reply: anything more means the ends are out of step,
	 * unless this reply says more follow (a stream asked for with "more").
	 */
	if (r->in.len > 0 && !json_is_true(json_object_get(msg, "continues"))) {
		json_decref(msg);
		rc = fail_connection(r, ROSTER_E_PROTOCOL, "the daemon sent more than one reply");
		goto out;
	}
	*ret_msg = msg;
	rc = 0;
out:
	/* Replies can carry secrets shown once (tokens). */
	explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

/* Varlink method names are dotted identifiers; refusing anything else keeps them printable. */
static int method_ok(const char *m)
{
	if (m == NULL || *m == '\0' || strlen(m) > 255)
		return 0;
	for (; *m != '\0'; m++)
		if (!(('a' <= *m && *m <= 'z') || ('A' <= *m && *m <= 'Z') ||
		      ('0' <= *m && *m <= '9') || *m == '.'))
			return 0;
	return 1;
}

/*
 * One call. With each set, the call asks for "more" and each(params, data)
 * runs for every reply until the one without "continues" (which it also
 * gets), or until each returns non-zero: then the connection is closed (a
 * Varlink stream cannot be cancelled otherwise) and that value returned.
 */
static int call(struct roster *r, const char *method, json_t *params, int sensitive,
		json_t **ret_params, int (*each)(json_t *params, void *data), void *data)
{
	json_t *msg = NULL, *reply = NULL, *rparams, *rerror, *rcont;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (r == NULL)
		return ROSTER_E_ARGS;
	clear_error(r);
	if (!method_ok(method) || (params != NULL && !json_is_object(params))) {
		rc = set_local(r, ROSTER_E_ARGS, "invalid method name or parameters");
		goto out;
	}
	if (r->fd < 0) {
		rc = set_local(r, ROSTER_E_IO, "the connection to the daemon is closed");
		goto out;
	}
	if (params != NULL)
		msg = json_pack("{s:s, s:O}", "method", method, "parameters", params);
	else
		msg = json_pack("{s:s, s:{}}", "method", method, "parameters");
	if (msg != NULL && each != NULL && json_object_set_new(msg, "more", json_true()) < 0) {
		json_decref(msg);
		msg = NULL;
	}
	if (msg == NULL) {
		rc = set_local(r, ROSTER_E_NOMEM, "out of memory");
		goto out;
	}
	buf = frame_encode(msg, ROSTER_MAX_MESSAGE, &len);
	if (buf == NULL) {
		rc = set_local(r, ROSTER_E_TOOBIG, "the call to %s is larger than %u bytes",
			       method, ROSTER_MAX_MESSAGE);
		goto out;
	}
	rc = send_all(r, buf, len);
	if (rc < 0)
		goto out;
again:
	json_decref(reply);
	reply = NULL;
	rc = recv_frame(r, &reply);
	if (rc < 0)
		goto out;

	rparams = json_object_get(reply, "parameters");
	rerror = json_object_get(reply, "error");
	rcont = json_object_get(reply, "continues");
	if ((rparams != NULL && !json_is_object(rparams)) ||
	    (rerror != NULL && !json_is_string(rerror))) {
		rc = fail_connection(r, ROSTER_E_PROTOCOL,
				     "the daemon's reply is malformed: bad \"parameters\" or \"error\"");
		goto out;
	}
	/* Unless we asked for "more", a streamed reply would leave frames unread. */
	if (rcont != NULL && !json_is_false(rcont) && (each == NULL || rerror != NULL)) {
		rc = fail_connection(r, ROSTER_E_PROTOCOL,
				     "the daemon sent a streamed reply to a single call");
		goto out;
	}
	if (rerror != NULL) {
		rc = set_remote(r, method, json_string_value(rerror), rparams);
		goto out;
	}
	if (each != NULL) {
		json_t *p = rparams != NULL ? rparams : json_object();

		rc = each(p, data);
		if (rparams == NULL)
			json_decref(p);
		if (rc != 0) {
			close_connection(r);
			goto out;
		}
		if (json_is_true(rcont))
			goto again;
		rc = ROSTER_OK;
		goto out;
	}
	if (ret_params != NULL) {
		json_t *p = rparams != NULL ? json_incref(rparams) : json_object();

		if (p == NULL) {
			rc = set_local(r, ROSTER_E_NOMEM, "out of memory");
			goto out;
		}
		*ret_params = p;
	}
	rc = ROSTER_OK;
out:
	/* frame_free: the buffer comes from jansson's allocator, which may not be malloc. */
	if (buf != NULL) {
		if (sensitive)
			explicit_bzero(buf, len);
		frame_free(buf, len);
	}
	json_decref(msg);
	json_decref(reply);
	return rc;
}

int roster_call(struct roster *r, const char *method, json_t *params, json_t **ret_params)
{
	return call(r, method, params, 0, ret_params, NULL, NULL);
}

int roster_call_sensitive(struct roster *r, const char *method, json_t *params,
			  json_t **ret_params)
{
	return call(r, method, params, 1, ret_params, NULL, NULL);
}

int roster_call_more(struct roster *r, const char *method, json_t *params,
		     int (*each)(json_t *params, void *data), void *data)
{
	if (each == NULL)
		return ROSTER_E_ARGS;
	return call(r, method, params, 0, NULL, each, data);
}

const char *roster_error_name(const struct roster *r)
{
	return r != NULL ? r->err_name : NULL;
}

json_t *roster_error_parameters(const struct roster *r)
{
	return r != NULL ? r->err_params : NULL;
}

const char *roster_error_message(const struct roster *r)
{
	if (r == NULL)
		return roster_strerror(ROSTER_E_ARGS);
	return r->err_msg != NULL ? r->err_msg : roster_strerror(r->err_code);
}

const char *roster_strerror(int code)
{
	switch (code) {
	case ROSTER_OK:              return "success";
	case ROSTER_E_CONNECT:       return "cannot connect to the daemon";
	case ROSTER_E_IO:            return "the connection to the daemon failed or was closed";
	case ROSTER_E_PROTOCOL:      return "the daemon's reply was malformed";
	case ROSTER_E_NOMEM:         return "out of memory";
	case ROSTER_E_ARGS:          return "invalid argument";
	case ROSTER_E_TOOBIG:        return "message larger than the protocol limit";
	case ROSTER_E_REMOTE:        return "the daemon reported an error";
	case ROSTER_E_NOTFOUND:      return "no such client, principal or role";
	case ROSTER_E_PERMISSION:    return "permission denied";
	case ROSTER_E_SEALED:        return "the registry is sealed";
	case ROSTER_E_UNINITIALIZED: return "the registry is not initialized";
	case ROSTER_E_QUOTA:         return "read quota exceeded";
	case ROSTER_E_LOCKED:        return "the principal is locked";
	case ROSTER_E_CONFLICT:      return "the record changed since it was read; re-read and retry";
	case ROSTER_E_INVALID:       return "invalid parameter";
	case ROSTER_E_BADPASS:       return "wrong passphrase";
	case ROSTER_E_STATE:         return "not allowed in the registry's current state";
	case ROSTER_E_AUDIT:         return "the audit trail is unavailable; nothing was done";
	case ROSTER_E_BUSY:          return "another key operation is in progress; retry later";
	case ROSTER_E_KEYRING:       return "the keyring is damaged or has been altered";
	case ROSTER_E_INTERNAL:      return "internal error in the daemon; the call had no effect";
	case ROSTER_E_NOMETHOD:      return "the daemon does not implement this method";
	case ROSTER_E_EXISTS:        return "the name is already taken";
	case ROSTER_E_INUSE:         return "the role is held by principals or built in";
	case ROSTER_E_AUTH:          return "a valid token is needed on this connection";
	case ROSTER_E_APPROVAL:      return "a second admin's approval is needed, or the one given "
					    "cannot be used";
	default:                     return "unknown error";
	}
}

/*
 * Fetch reply member key of type t, or record a protocol error on r. The
 * value is borrowed from reply.
 */
/*
 * Call method with params (consumed; NULL means they could not be built,
 * and bad_params says why) and return the reply's member key, of type t, as
 * a new reference in *ret. Returns 0 or a roster_error.
 */
static int call_member(struct roster *r, const char *method, json_t *params,
		       const char *bad_params, const char *key, json_type t, json_t **ret)
{
	json_t *reply = NULL, *v;
	int rc;

	if (params == NULL)
		return set_local(r, ROSTER_E_ARGS, "%s", bad_params);
	rc = roster_call(r, method, params, &reply);
	json_decref(params);
	if (rc < 0)
		return rc;
	v = json_object_get(reply, key);
	if (v == NULL || json_typeof(v) != t)
		rc = set_local(r, ROSTER_E_PROTOCOL, "the daemon's reply to %s has no valid \"%s\"",
			       method, key);
	else
		*ret = json_incref(v);
	json_decref(reply);
	return rc;
}

int roster_client_get(struct roster *r, const char *id, json_t **ret_client)
{
	if (r == NULL)
		return ROSTER_E_ARGS;
	if (id == NULL || ret_client == NULL)
		return set_local(r, ROSTER_E_ARGS, "missing client id or result pointer");
	return call_member(r, "io.roster.Clients.Get", json_pack("{s:s}", "id", id),
			   "the client id is not valid UTF-8", "client", JSON_OBJECT, ret_client);
}

int roster_client_create(struct roster *r, json_t *client, char **ret_id)
{
	json_t *params, *id;
	char *s;
	int rc;

	if (r == NULL)
		return ROSTER_E_ARGS;
	if (!json_is_object(client) || ret_id == NULL)
		return set_local(r, ROSTER_E_ARGS, "the client must be a JSON object");
	params = json_pack("{s:O}", "client", client);
	if (params == NULL)
		return set_local(r, ROSTER_E_NOMEM, "out of memory");
	rc = call_member(r, "io.roster.Clients.Create", params, NULL, "id", JSON_STRING, &id);
	if (rc < 0)
		return rc;
	s = strdup(json_string_value(id));
	json_decref(id);
	if (s == NULL)
		return set_local(r, ROSTER_E_NOMEM, "out of memory");
	*ret_id = s;
	return 0;
}

/* A limit of 0 or less leaves the limit to the daemon's default. */
int roster_client_search(struct roster *r, const char *query, int limit, json_t **ret_clients)
{
	if (r == NULL)
		return ROSTER_E_ARGS;
	if (query == NULL || ret_clients == NULL)
		return set_local(r, ROSTER_E_ARGS, "missing query or result pointer");
	return call_member(r, "io.roster.Clients.Search",
			   limit > 0 ? json_pack("{s:s, s:i}", "query", query, "limit", limit)
				     : json_pack("{s:s}", "query", query),
			   "the query is not valid UTF-8", "clients", JSON_ARRAY, ret_clients);
}

int roster_client_delete(struct roster *r, const char *id)
{
	json_t *params;
	int rc;

	if (r == NULL)
		return ROSTER_E_ARGS;
	if (id == NULL)
		return set_local(r, ROSTER_E_ARGS, "missing client id");
	params = json_pack("{s:s}", "id", id);
	if (params == NULL)
		return set_local(r, ROSTER_E_ARGS, "the client id is not valid UTF-8");
	rc = roster_call(r, "io.roster.Clients.Delete", params, NULL);
	json_decref(params);
	return rc;
}

int roster_authenticate(struct roster *r, const char *token)
{
	json_t *params = NULL, *secret = NULL;
	int rc;

	if (r == NULL)
		return ROSTER_E_ARGS;
	if (token == NULL)
		return set_local(r, ROSTER_E_ARGS, "missing token");
	secret = json_string(token);
	if (secret == NULL)
		return set_local(r, ROSTER_E_ARGS, "the token is not valid UTF-8");
	params = json_object();
	if (params == NULL || json_object_set(params, "token", secret) < 0) {
		rc = set_local(r, ROSTER_E_NOMEM, "out of memory");
		goto out;
	}
	rc = roster_call_sensitive(r, "io.roster.Admin.Authenticate", params, NULL);
out:
	json_decref(params);
	/* jansson frees strings without wiping them; its copy is ours to clear. */
	explicit_bzero((char *)json_string_value(secret), json_string_length(secret));
	json_decref(secret);
	return rc;
}
