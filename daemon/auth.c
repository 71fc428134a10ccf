/*
 * auth.c: principals, roles and the identity of each call (see auth.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/auth.h"
#include "daemon/keys.h"
#include "daemon/log.h"
#include "daemon/store.h"
#include "daemon/util.h"

static const char *const field_names[] = { "identity", "contact", "commercial", "internal" };

bool auth_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Split text on spaces and call fn for each word; stops at the first error. */
static int each_word(const char *text, int (*fn)(const char *w, size_t n, void *data), void *data)
{
	const char *p = text;

	while (*p) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, " ,");
		if (n > 0) {
			int r = fn(p, n, data);

			if (r < 0)
				return r;
		}
		p += n;
	}
	return 0;
}

static int add_cap(const char *w, size_t n, void *data)
{
	uint32_t *caps = data;

	for (int c = CAP_NONE + 1; c < CAP__MAX; c++) {
		const char *name = cap_name((enum cap)c);

		if (strlen(name) == n && strncmp(name, w, n) == 0) {
			*caps |= 1u << c;
			return 0;
		}
	}
	return -EINVAL;
}

static int add_field(const char *w, size_t n, void *data)
{
	unsigned *fields = data;

	for (unsigned i = 0; i < 4; i++)
		if (strlen(field_names[i]) == n && strncmp(field_names[i], w, n) == 0) {
			*fields |= 1u << i;
			return 0;
		}
	return -EINVAL;
}

int auth_parse_caps(const char *text, uint32_t *ret)
{
	uint32_t caps = 0;
	int r = each_word(text, add_cap, &caps);

	if (r == 0)
		*ret = caps;
	return r;
}

int auth_parse_fields(const char *text, unsigned *ret)
{
	unsigned fields = 0;
	int r = each_word(text, add_field, &fields);

	if (r == 0)
		*ret = fields;
	return r;
}

json_t *auth_caps_json(uint32_t caps)
{
	json_t *a = json_array();

	for (int c = CAP_NONE + 1; a && c < CAP__MAX; c++)
		if (caps & (1u << c))
			json_array_append_new(a, json_string(cap_name((enum cap)c)));
	return a;
}

json_t *auth_fields_json(unsigned fields)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < 4; i++)
		if (fields & (1u << i))
			json_array_append_new(a, json_string(field_names[i]));
	return a;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static int64_t num(const json_t *o, const char *k, int64_t def)
{
	const json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

static void free_tables(struct auth *a)
{
	if (a->princ != NULL)
		sodium_memzero(a->princ, a->n_princ * sizeof(*a->princ));
	free(a->princ);
	free(a->roles);
	a->princ = NULL;
	a->roles = NULL;
	a->n_princ = a->n_roles = 0;
}

int auth_load(struct auth *a, struct store *s, uid_t own_uid)
{
	json_t *roles = NULL, *princ = NULL, *o;
	char buf[32];
	uint64_t u;
	size_t i;
	int r;

	free_tables(a);
	a->own_uid = own_uid;
	a->have_init_uid = false;
	if (store_meta_get(s, "init_uid", buf, sizeof(buf)) == 0 &&
	    parse_uint(buf, 0, UINT32_MAX, &u) == 0) {
		a->init_uid = (uid_t)u;
		a->have_init_uid = true;
	}
	r = store_auth_load(s, &roles, &princ);
	if (r < 0)
		return r;
	a->roles = calloc(json_array_size(roles) + 1, sizeof(*a->roles));
	a->princ = calloc(json_array_size(princ) + 1, sizeof(*a->princ));
	if (a->roles == NULL || a->princ == NULL) {
		r = -ENOMEM;
		goto out;
	}
	json_array_foreach(roles, i, o) {
		struct role *ro = &a->roles[a->n_roles];

		snprintf(ro->name, sizeof(ro->name), "%s", str(o, "name"));
		ro->builtin = num(o, "builtin", 0) != 0;
		/* An unknown capability or class in a row is dropped, never granted. */
		if (auth_parse_caps(str(o, "capabilities"), &ro->caps) < 0 ||
		    auth_parse_fields(str(o, "fields"), &ro->fields) < 0) {
			log_warn("role %s has an unknown capability or field class; it grants nothing",
				 ro->name);
			ro->caps = 0;
			ro->fields = 0;
		}
		ro->quota_n = num(o, "quota_n", -1);
		ro->quota_window = num(o, "quota_window", 0);
		ro->lock_on_quota = num(o, "lock_on_quota", 1) != 0;
		ro->guess_n = num(o, "guess_n", 20);
		ro->guess_window = num(o, "guess_window", 600);
		ro->changed_at = num(o, "changed_at", 0);
		a->n_roles++;
	}
	json_array_foreach(princ, i, o) {
		struct principal *p = &a->princ[a->n_princ];
		const char *hash = str(o, "token_hash");
		size_t len;

		snprintf(p->name, sizeof(p->name), "%s", str(o, "name"));
		p->uid = (uid_t)num(o, "uid", -1);
		snprintf(p->role, sizeof(p->role), "%s", str(o, "role"));
		p->has_token = *hash != '\0' &&
			       sodium_hex2bin(p->token_hash, 32, hash, strlen(hash), NULL, &len, NULL) == 0 &&
			       len == 32;
		p->token_expires = num(o, "token_expires", 0);
		p->locked = num(o, "locked", 0) != 0;
		snprintf(p->locked_reason, sizeof(p->locked_reason), "%s", str(o, "locked_reason"));
		p->last_seen = num(o, "last_seen", 0);
		p->created_at = num(o, "created_at", 0);
		p->guard_reset = num(o, "guard_reset", 0);
		a->n_princ++;
	}
out:
	json_decref(roles);
	json_decref(princ);
	return r;
}

void auth_flush(struct auth *a, struct store *s)
{
	for (size_t i = 0; i < a->n_princ; i++)
		if (a->princ[i].seen_dirty &&
		    store_principal_touch(s, a->princ[i].name, a->princ[i].last_seen) == 0)
			a->princ[i].seen_dirty = false;
}

void auth_unload(struct auth *a, struct store *s)
{
	if (s != NULL)
		auth_flush(a, s);
	free_tables(a);
	a->have_init_uid = false;
}

const struct role *auth_role(const struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->n_roles; i++)
		if (strcmp(a->roles[i].name, name) == 0)
			return &a->roles[i];
	return NULL;
}

struct principal *auth_principal(struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->n_princ; i++)
		if (strcmp(a->princ[i].name, name) == 0)
			return &a->princ[i];
	return NULL;
}

bool auth_is_bootstrap(const struct auth *a, uid_t uid)
{
	return uid == 0 || uid == a->own_uid || (a->have_init_uid && uid == a->init_uid);
}

static bool token_live(const struct principal *p)
{
	return p->has_token && (p->token_expires == 0 || p->token_expires > now_usec());
}

enum auth_status auth_identify(struct auth *a, uid_t uid, const struct conn_auth *ca,
			       struct identity *ret)
{
	const struct principal *found = NULL;
	const struct role *role;
	bool needs_token = false;

	memset(ret, 0, sizeof(*ret));
	if (auth_is_bootstrap(a, uid)) {
		ret->bootstrap = true;
		ret->role = auth_role(a, "admin");
		ret->caps = ret->role ? ret->role->caps : 0;
		ret->fields = FIELD_ALL;
		return AUTH_OK;
	}
	if (ca != NULL && ca->authed) {
		/*
		 * The token proved on this connection must still be the
		 * principal's current, unexpired one: rotation, removal and
		 * expiry apply to open connections too.
		 */
		const struct principal *p = auth_principal(a, ca->name);

		if (p == NULL || p->uid != uid || !token_live(p) ||
		    sodium_memcmp(p->token_hash, ca->token_hash, 32) != 0)
			return AUTH_NEED_TOKEN;
		found = p;
	} else {
		for (size_t i = 0; i < a->n_princ; i++) {
			if (a->princ[i].uid != uid)
				continue;
			if (a->princ[i].has_token)
				needs_token = true;
			else
				found = &a->princ[i];
		}
		if (found == NULL)
			return needs_token ? AUTH_NEED_TOKEN : AUTH_UNKNOWN;
	}
	role = auth_role(a, found->role);
	ret->principal = found;
	ret->role = role;
	ret->caps = role ? role->caps : 0;
	ret->fields = role ? role->fields : 0;
	return found->locked ? AUTH_LOCKED : AUTH_OK;
}

void auth_touch(struct auth *a, const char *name)
{
	struct principal *p = auth_principal(a, name);

	if (p != NULL) {
		p->last_seen = now_usec();
		p->seen_dirty = true;
	}
}

void auth_token_hash(const struct keys *k, const char *token, unsigned char out[32])
{
	crypto_generichash(out, 32, (const unsigned char *)token, strlen(token),
			   k->token_key, sizeof(k->token_key));
}

void auth_token_new(char buf[TOKEN_LEN + 1])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	memcpy(buf, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
	sodium_bin2hex(buf + sizeof(TOKEN_PREFIX) - 1, 65, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
}

int auth_authenticate(struct auth *a, const struct keys *k, uid_t uid, const char *token,
		      struct conn_auth *ca)
{
	unsigned char h[32];
	const struct principal *match = NULL;

	auth_token_hash(k, token, h);
	/* Compare against every candidate, so timing does not tell which one matched. */
	for (size_t i = 0; i < a->n_princ; i++) {
		const struct principal *p = &a->princ[i];

		if (p->uid == uid && token_live(p) && sodium_memcmp(p->token_hash, h, 32) == 0)
			match = p;
	}
	if (match == NULL) {
		sodium_memzero(h, sizeof(h));
		return -EACCES;
	}
	ca->authed = true;
	snprintf(ca->name, sizeof(ca->name), "%s", match->name);
	memcpy(ca->token_hash, h, 32);
	sodium_memzero(h, sizeof(h));
	return 0;
}
