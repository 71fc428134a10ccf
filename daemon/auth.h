/*
 * auth.h: who a caller is and what it may do.
 *
 * Identity comes from the kernel (the connection's SO_PEERCRED uid), plus,
 * for principals that require one, a token presented once per connection.
 * Principals and roles live in the encrypted database and are mirrored in
 * memory while the registry is unsealed, so the check on every call costs
 * no query and a lock or a role change applies to the very next call on
 * every open connection.
 *
 * Bootstrap administrators, with the admin role and no principal entry:
 * uid 0, the daemon's own uid, and the uid that initialised the registry.
 *
 * Tokens are never stored: only a BLAKE2b hash keyed with a key derived
 * from the data key, compared in constant time. This module never logs a
 * token.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "daemon/dispatch.h"

struct store;
struct keys;

/* Field classes (DESIGN.md), as bits. */
#define FIELD_IDENTITY   0x1u
#define FIELD_CONTACT    0x2u
#define FIELD_COMMERCIAL 0x4u
#define FIELD_INTERNAL   0x8u
#define FIELD_ALL        0xfu

#define AUTH_NAME_MAX 64
#define TOKEN_PREFIX "roster_"
#define TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + 64)

struct role {
	char name[AUTH_NAME_MAX + 1];
	bool builtin;
	uint32_t caps;                  /* bit (1 << enum cap) */
	unsigned fields;
	int64_t quota_n;                /* < 0: none */
	int64_t quota_window;           /* seconds */
	bool lock_on_quota;
	int64_t guess_n;                /* NotFound answers in guess_window that lock; 0: never */
	int64_t guess_window;           /* seconds */
	int64_t changed_at;
};

struct principal {
	char name[AUTH_NAME_MAX + 1];
	uid_t uid;
	char role[AUTH_NAME_MAX + 1];
	bool has_token;
	unsigned char token_hash[32];
	int64_t token_expires;          /* 0: never */
	bool locked;
	char locked_reason[32];
	int64_t last_seen;
	int64_t created_at;
	int64_t guard_reset;            /* guard counts start here (the last unlock) */
	bool seen_dirty;                /* last_seen not yet written back */
};

struct auth {
	struct role *roles;
	size_t n_roles;
	struct principal *princ;
	size_t n_princ;
	uid_t own_uid;
	uid_t init_uid;
	bool have_init_uid;
};

/* What a connection has proved beyond its uid. */
struct conn_auth {
	bool authed;
	char name[AUTH_NAME_MAX + 1];
	unsigned char token_hash[32];
};

/* The result of identifying a call. */
enum auth_status {
	AUTH_OK,
	AUTH_UNKNOWN,           /* the uid is no principal */
	AUTH_NEED_TOKEN,        /* the uid's principals need a token; none (valid) given */
	AUTH_LOCKED,
};

struct identity {
	bool bootstrap;
	const struct principal *principal;   /* NULL for bootstrap admins */
	const struct role *role;
	uint32_t caps;
	unsigned fields;
};

/* Load principals and roles from the store (on unseal). Returns 0 or negative errno. */
int auth_load(struct auth *a, struct store *s, uid_t own_uid);

/* Write back last-seen times and free everything (on seal). */
void auth_unload(struct auth *a, struct store *s);

/* Write back last-seen times that changed. */
void auth_flush(struct auth *a, struct store *s);

/*
 * Identify a caller with this uid and connection state. On AUTH_OK *ret is
 * filled in (pointers valid until the next change to principals or roles).
 */
enum auth_status auth_identify(struct auth *a, uid_t uid, const struct conn_auth *ca,
			       struct identity *ret);

/* Whether uid is a bootstrap administrator (usable while sealed: uid 0 and our own). */
bool auth_is_bootstrap(const struct auth *a, uid_t uid);

/* Record a call by this principal (last_seen, in memory). */
void auth_touch(struct auth *a, const char *name);

/* Hash a token with the token key. */
void auth_token_hash(const struct keys *k, const char *token, unsigned char out[32]);

/* Make a new token (TOKEN_LEN characters and a NUL) into buf. */
void auth_token_new(char buf[TOKEN_LEN + 1]);

/*
 * Check a token presented by uid. On success fills *ca and returns 0;
 * -EACCES if it matches no live token of this uid's principals.
 */
int auth_authenticate(struct auth *a, const struct keys *k, uid_t uid, const char *token,
		      struct conn_auth *ca);

/* Parse/format capability and field-class lists ("clients.get audit.read"). */
int auth_parse_caps(const char *text, uint32_t *ret);
int auth_parse_fields(const char *text, unsigned *ret);
json_t *auth_caps_json(uint32_t caps);
json_t *auth_fields_json(unsigned fields);

/* Valid principal or role name: 1..64 of [A-Za-z0-9._-]. */
bool auth_name_valid(const char *s);

const struct role *auth_role(const struct auth *a, const char *name);
struct principal *auth_principal(struct auth *a, const char *name);
