/*
 * roster.h: libroster, the client library for the Roster registry.
 *
 * Roster's daemon, rosterd, speaks Varlink over a Unix stream socket: each
 * message is one JSON object terminated by a NUL byte. This library opens
 * the socket, sends a call, reads and checks the reply, and turns Varlink
 * errors into a roster_error code plus the error's name and parameters.
 *
 * Identity is not sent: the daemon takes the caller's uid from the kernel.
 * A uid is bound to a principal, which holds one role (its capabilities and
 * the client fields it may see). A principal may also require a token (see
 * roster_authenticate()).
 *
 * Ownership, as in every function below: a json_t passed in is borrowed
 * (the caller keeps its reference); a json_t returned through a ret_
 * parameter is a new reference the caller must json_decref(). Output
 * parameters are left untouched when a call fails.
 *
 * A struct roster is not thread-safe: use one per thread.
 *
 *     struct roster *r;
 *     json_t *client;
 *     if (roster_connect(NULL, &r) < 0) ...
 *     switch (roster_client_get(r, "0123...cdef", &client)) {
 *     case 0:                  use client, json_decref(client);  break;
 *     case ROSTER_E_NOTFOUND:  ...
 *     }
 *     roster_free(r);
 */
#ifndef ROSTER_H
#define ROSTER_H

#include <stddef.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The socket used when none is given and $ROSTER_SOCKET is unset. */
#define ROSTER_DEFAULT_SOCKET "/run/roster/roster.sock"

/*
 * Results. 0 is success; every failure is negative. Local failures come
 * first; the ROSTER_E_ values from -100 down are typed errors the daemon
 * answered with (see roster_error_name() for the exact Varlink name).
 */
enum roster_error {
	ROSTER_OK = 0,
	ROSTER_E_CONNECT = -1,          /* cannot connect to the socket */
	ROSTER_E_IO = -2,               /* the connection failed or was closed */
	ROSTER_E_PROTOCOL = -3,         /* the daemon's reply was malformed */
	ROSTER_E_NOMEM = -4,
	ROSTER_E_ARGS = -5,             /* a bad argument to a library function */
	ROSTER_E_TOOBIG = -6,           /* message larger than ROSTER_MAX_MESSAGE */

	ROSTER_E_REMOTE = -100,         /* a Varlink error not listed below */
	ROSTER_E_NOTFOUND = -101,       /* io.roster.NotFound */
	ROSTER_E_PERMISSION = -102,     /* io.roster.PermissionDenied */
	ROSTER_E_SEALED = -103,         /* io.roster.Sealed */
	ROSTER_E_UNINITIALIZED = -104,  /* io.roster.Uninitialized */
	ROSTER_E_QUOTA = -105,          /* io.roster.QuotaExceeded */
	ROSTER_E_LOCKED = -106,         /* io.roster.Locked */
	ROSTER_E_CONFLICT = -107,       /* io.roster.Conflict */
	ROSTER_E_INVALID = -108,        /* org.varlink.service.InvalidParameter */
	ROSTER_E_BADPASS = -109,        /* io.roster.BadPassphrase */
	ROSTER_E_STATE = -110,          /* io.roster.InvalidState */
	ROSTER_E_AUDIT = -111,          /* io.roster.AuditUnavailable */
	ROSTER_E_BUSY = -112,           /* io.roster.Busy */
	ROSTER_E_KEYRING = -113,        /* io.roster.KeyringCorrupt */
	ROSTER_E_INTERNAL = -114,       /* io.roster.InternalError */
	ROSTER_E_NOMETHOD = -115,       /* org.varlink.service.MethodNotFound / InterfaceNotFound */
	ROSTER_E_EXISTS = -116,         /* io.roster.Exists: the name (principal, role) is taken */
	ROSTER_E_INUSE = -117,          /* io.roster.InUse: the role is held by principals or built in */
	ROSTER_E_AUTH = -118,           /* io.roster.AuthenticationRequired: no valid token yet */
	/*
	 * The two-person rule: io.roster.ApprovalRequired, ApprovalExpired,
	 * ApprovalUsed, SelfApproval or TooManyRequests (roster_error_name()
	 * says which).
	 */
	ROSTER_E_APPROVAL = -119,
};

/* The largest call a client may send (the daemon's limit), terminating NUL included. */
#define ROSTER_MAX_MESSAGE (64u * 1024u)
/*
 * The largest reply the library accepts: a page of List (up to 1000
 * clients) can be several MiB. The daemon never sends more.
 */
#define ROSTER_MAX_REPLY (16u * 1024u * 1024u)

struct roster;

/*
 * Connect to the daemon. path NULL means $ROSTER_SOCKET, or
 * ROSTER_DEFAULT_SOCKET when that is unset. On success *ret is a new
 * connection the caller releases with roster_free().
 * Returns 0 or ROSTER_E_CONNECT / ROSTER_E_NOMEM / ROSTER_E_ARGS.
 */
int roster_connect(const char *path, struct roster **ret);

/* Close the connection and free it. roster_free(NULL) does nothing. */
void roster_free(struct roster *r);

/*
 * Call a method and wait for its reply. params may be NULL (no parameters).
 * On success returns 0 and, if ret_params is not NULL, stores the reply's
 * parameters object (never NULL: an empty object when the reply has none).
 * On a Varlink error returns its ROSTER_E_ code; the error's name and
 * parameters stay available through roster_error_name() and
 * roster_error_parameters() until the next call on r.
 */
int roster_call(struct roster *r, const char *method, json_t *params, json_t **ret_params);

/*
 * Like roster_call() for parameters that are secrets (passphrases, tokens):
 * the encoded message is wiped from memory after it is sent.
 */
int roster_call_sensitive(struct roster *r, const char *method, json_t *params,
			  json_t **ret_params);

/*
 * Call a streaming method with "more": each(params, data) runs for every
 * reply (params borrowed) until the last one, which it also gets. A non-zero
 * return from each ends the stream: the connection is closed (Varlink has no
 * other way to cancel a stream) and that value is returned; connect again to
 * make further calls. Returns 0 when the stream ended normally, else as
 * roster_call().
 */
int roster_call_more(struct roster *r, const char *method, json_t *params,
		     int (*each)(json_t *params, void *data), void *data);

/*
 * The name of the last Varlink error on r (e.g. "io.roster.NotFound"), or
 * NULL when the last call succeeded or failed locally. Owned by r.
 */
const char *roster_error_name(const struct roster *r);

/* The last Varlink error's parameters (borrowed, owned by r), or NULL. */
json_t *roster_error_parameters(const struct roster *r);

/*
 * A one-sentence English description of the last failure on r, suitable for
 * showing to a person: the daemon's "message" parameter when it sent one,
 * else a description of the error code. Owned by r; never NULL.
 */
const char *roster_error_message(const struct roster *r);

/* A short English description of a roster_error code. Never NULL. */
const char *roster_strerror(int code);

/*
 * Present a principal's token on this connection (io.roster.Admin.
 * Authenticate), as roster_call_sensitive() does: the encoded message and
 * this library's copies of the token are wiped once it is sent. The caller
 * keeps and wipes its own copy.
 *
 * A principal created with a token (rosterctl principal add NAME --uid UID
 * --role ROLE --token) lets several services share one uid, each with its
 * own role. Such a service keeps its token ("roster_" and 64 hex digits,
 * shown once at creation or by rosterctl token rotate) in a file only its
 * account can read, and authenticates once per connection, right after
 * connecting and before any other call:
 *
 *     if (roster_connect(NULL, &r) < 0) ...
 *     rc = roster_authenticate(r, token);
 *     explicit_bzero(token, strlen(token));
 *     if (rc == ROSTER_E_AUTH) ...     wrong, expired or revoked (rotated) token
 *
 * Until it does, every call on that connection except the public ones
 * (Status, WhoAmI, introspection) fails with ROSTER_E_AUTH. Each new
 * connection needs the token again. The token is bound to the uid it was
 * created for: the same token from another uid is refused. When the token
 * is rotated, expires or its principal is removed, the next call on a
 * connection that presented it fails with ROSTER_E_AUTH too: a long-running
 * service then reads its (new) token again and reconnects. A locked
 * principal gets ROSTER_E_LOCKED whatever its token.
 *
 * Returns 0 once the daemon accepted the token, ROSTER_E_AUTH if it did not,
 * or another roster_error code.
 */
int roster_authenticate(struct roster *r, const char *token);

/* Convenience wrappers for io.roster.Clients. Same conventions as roster_call(). */
int roster_client_get(struct roster *r, const char *id, json_t **ret_client);
int roster_client_create(struct roster *r, json_t *client, char **ret_id);  /* *ret_id: free() */
int roster_client_search(struct roster *r, const char *query, int limit, json_t **ret_clients);
int roster_client_delete(struct roster *r, const char *id);

#ifdef __cplusplus
}
#endif

#endif /* ROSTER_H */
