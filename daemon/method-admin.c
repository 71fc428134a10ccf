/*
 * method-admin.c: io.roster.Admin — state, Init, Unseal, Seal.
 *
 * Passphrases arrive in the call's parameters (M_SENSITIVE): they are copied
 * into locked memory by the registry, and the JSON that carried them is wiped
 * when freed (secmem.c). Nothing here logs a passphrase or its length.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "daemon/auth.h"
#include "daemon/dispatch.h"
#include "daemon/guard.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "daemon/keys.h"
#include "daemon/registry.h"
#include "daemon/server.h"
#include "daemon/shipper.h"
#include "daemon/validate.h"

void method_admin_status(struct call *c)
{
	struct registry *reg = c->srv->reg;
	char bad[VALIDATE_NAME_MAX];
	json_t *p;

	if (!validate_params(c->params, NULL, 0, bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	p = json_pack("{s:s, s:s, s:I, s:I}",
		      "state", registry_state_name(reg->state),
		      "version", PACKAGE_VERSION,
		      "uptime", (json_int_t)((uv_now(c->srv->loop) * 1000 - c->srv->started_usec) / 1000000),
		      "connections", (json_int_t)c->srv->n_conns);
	if (p != NULL && reg->state == REG_UNSEALED)
		json_object_set_new(p, "cipher_version",
				    json_string(store_cipher_version(reg->store)));
	if (p != NULL && reg->audit != NULL) {
		struct audit_stats st;

		/*
		 * Anyone may ask, as often as they like: the count comes from
		 * the writer's tally, not from a scan of the table, which on the
		 * loop thread held every other caller (17 ms at 100,000 clients).
		 */
		audit_get_stats(reg->audit, &st);
		json_object_set_new(p, "clients", json_integer(st.clients));
		json_object_set_new(p, "audit_head", json_integer(st.head_seq));
		json_object_set_new(p, "audit_records", json_integer(st.records));
		json_object_set_new(p, "audit_batches", json_integer(st.batches));
		json_object_set_new(p, "audit_failures", json_integer(st.failures));
		json_object_set_new(p, "audit_checkpoint", json_integer(st.last_checkpoint_seq));
	}
	if (p != NULL && reg->shipper != NULL) {
		int64_t shipped = 0, head = 0;
		bool connected = false;

		shipper_status(reg->shipper, &shipped, &head, &connected);
		json_object_set_new(p, "audit_shipped", json_integer(shipped));
		json_object_set_new(p, "audit_ship_lag", json_integer(head > shipped ? head - shipped : 0));
		json_object_set_new(p, "audit_ship_connected", json_boolean(connected));
	}
	call_reply(c, p);
}

/* The passphrase parameter, checked for length; NULL after answering the call. */
static const char *get_passphrase(struct call *c, size_t min, size_t *ret_len)
{
	static const char *const spec[] = { "passphrase:s" };
	char bad[VALIDATE_NAME_MAX];
	const json_t *v;
	size_t len;

	if (!validate_params(c->params, spec, 1, bad)) {
		call_invalid_parameter(c, bad);
		return NULL;
	}
	v = json_object_get(c->params, "passphrase");
	len = json_string_length(v);
	if (len < min || len > PASSPHRASE_MAX || strlen(json_string_value(v)) != len) {
		call_error(c, "org.varlink.service.InvalidParameter",
			   json_pack("{s:s, s:s}", "parameter", "passphrase", "message",
				     min > 1 ? "a new passphrase is 12 to 1024 bytes without NUL"
					     : "a passphrase is 1 to 1024 bytes without NUL"));
		return NULL;
	}
	*ret_len = len;
	return json_string_value(v);
}

static void key_op_done(int r, void *data)
{
	struct call *c = data;

	switch (r) {
	case 0:
		call_reply(c, NULL);
		break;
	case -EACCES:
		call_error_message(c, "io.roster.BadPassphrase",
				   "the passphrase does not open the keyring");
		break;
	case -EBUSY:
		call_error_message(c, "io.roster.Busy", "another key operation is in progress");
		break;
	case -ECANCELED:
		call_error_message(c, "io.roster.Sealed",
				   "a Seal came while the passphrase was checked: the registry stays "
				   "sealed");
		break;
	case -EALREADY:
		call_error(c, "io.roster.InvalidState",
			   json_pack("{s:s}", "state", registry_state_name(c->srv->reg->state)));
		break;
	case -EBADMSG:
	case -EPROTONOSUPPORT:
	case -EINVAL:
	case -EPERM:
		call_error_message(c, "io.roster.KeyringCorrupt",
				   "the keyring file is damaged, altered or not private; nothing "
				   "was unlocked (see the daemon's log)");
		break;
	default:
		call_error_message(c, "io.roster.InternalError",
				   "the key operation failed (see the daemon's log)");
		break;
	}
}

void method_admin_init(struct call *c)
{
	size_t len;
	const char *pass = get_passphrase(c, PASSPHRASE_MIN, &len);

	if (pass != NULL)
		registry_init_async(c->srv->reg, pass, len, c->uid, key_op_done, c);
}

void method_admin_unseal(struct call *c)
{
	size_t len;
	const char *pass = get_passphrase(c, 1, &len);

	if (pass != NULL)
		registry_unseal_async(c->srv->reg, pass, len, key_op_done, c);
}

static void seal_after_reply(struct call *c)
{
	registry_seal(c->srv->reg);
}

void method_admin_seal(struct call *c)
{
	char bad[VALIDATE_NAME_MAX];

	if (!validate_params(c->params, NULL, 0, bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	/*
	 * The Seal call's own record is committed first; then the keys go. If
	 * the record cannot be written the keys go all the same: the caller is
	 * told AuditUnavailable, but the emergency brake never fails.
	 */
	c->after = seal_after_reply;
	c->after_always = true;
	call_reply(c, NULL);
}

/* ---- identity ------------------------------------------------------------ */

void method_admin_authenticate(struct call *c)
{
	static const char *const spec[] = { "token:s" };
	struct registry *reg = c->srv->reg;
	char bad[VALIDATE_NAME_MAX];
	struct conn_auth ca;
	const char *token;

	if (!validate_params(c->params, spec, 1, bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	token = json_string_value(json_object_get(c->params, "token"));
	memset(&ca, 0, sizeof(ca));
	if (strlen(token) != TOKEN_LEN ||
	    auth_authenticate(&reg->auth, reg->keys, c->uid, token, &ca) < 0) {
		log_info("uid %u pid %ld: token refused", (unsigned)c->uid, (long)c->pid);
		call_error_message(c, "io.roster.AuthenticationRequired",
				   "the token is wrong, expired or revoked for this uid");
		return;
	}
	if (c->conn != NULL)
		c->conn->auth = ca;
	/* The record names who just proved themselves, not "unknown", and their role. */
	snprintf(c->rec.principal, sizeof(c->rec.principal), "%s", ca.name);
	{
		const struct principal *p = auth_principal(&reg->auth, ca.name);

		if (p != NULL)
			snprintf(c->rec.role, sizeof(c->rec.role), "%s", p->role);
	}
	log_info("uid %u pid %ld: authenticated as %s", (unsigned)c->uid, (long)c->pid, ca.name);
	call_reply(c, json_pack("{s:s}", "principal", ca.name));
	sodium_memzero(&ca, sizeof(ca));
}

void method_admin_whoami(struct call *c)
{
	struct registry *reg = c->srv->reg;
	struct identity id;
	char bad[VALIDATE_NAME_MAX];
	json_t *p;

	if (!validate_params(c->params, NULL, 0, bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	memset(&id, 0, sizeof(id));
	if (reg->state == REG_UNSEALED) {
		if (auth_identify(&reg->auth, c->uid, c->conn ? &c->conn->auth : NULL, &id) ==
		    AUTH_NEED_TOKEN)
			memset(&id, 0, sizeof(id));
	} else if (c->uid == 0 || c->uid == c->srv->own_uid) {
		id.bootstrap = true;
	}
	p = json_pack("{s:I, s:I, s:I, s:o, s:o, s:b}", "uid", (json_int_t)c->uid,
		      "gid", (json_int_t)c->gid, "pid", (json_int_t)c->pid,
		      "capabilities", auth_caps_json(id.caps), "fields", auth_fields_json(id.fields),
		      "bootstrap", id.bootstrap);
	if (p != NULL && id.principal != NULL)
		json_object_set_new(p, "principal", json_string(id.principal->name));
	if (p != NULL && id.role != NULL)
		json_object_set_new(p, "role", json_string(id.role->name));
	call_reply(c, p);
}

/* ---- principals ------------------------------------------------------------ */

static bool params_ok(struct call *c, const char *const *spec, size_t n)
{
	char bad[VALIDATE_NAME_MAX];

	if (validate_params(c->params, spec, n, bad))
		return true;
	call_invalid_parameter(c, bad);
	return false;
}

/* The "name" parameter, checked for shape; NULL after answering. */
static const char *get_name(struct call *c)
{
	const char *name = json_string_value(json_object_get(c->params, "name"));

	if (name == NULL || !auth_name_valid(name)) {
		call_invalid_parameter(c, "name");
		return NULL;
	}
	return name;
}

/* Re-read principals and roles after a change, so every connection sees it at once. */
static int reload(struct call *c)
{
	struct registry *reg = c->srv->reg;

	auth_flush(&reg->auth, reg->store);
	return auth_load(&reg->auth, reg->store, c->srv->own_uid);
}

/* Answer a call after a store change: reload, then reply or map the error. */
static void changed(struct call *c, int r, const char *name, json_t *reply)
{
	if (r == 0 && reload(c) < 0)
		r = -EIO;
	switch (r) {
	case 0:
		call_reply(c, reply);
		return;
	case -ENOENT:
		call_error(c, "io.roster.NotFound", json_pack("{s:s}", "id", name));
		break;
	case -EEXIST:
		call_error(c, "io.roster.Exists", json_pack("{s:s}", "name", name));
		break;
	case -EBUSY:
	case -EPERM:
		call_error(c, "io.roster.InUse",
			   json_pack("{s:s, s:s}", "name", name, "message",
				     r == -EPERM ? "built-in roles cannot be changed or removed"
						 : "principals hold this role"));
		break;
	default:
		call_error_message(c, "io.roster.InternalError", "storage failure (see the daemon's log)");
		break;
	}
	json_decref(reply);
}

static int64_t expiry_from(const json_t *params, bool *bad)
{
	const json_t *v = json_object_get(params, "expires");
	json_int_t secs;

	*bad = false;
	if (v == NULL || json_is_null(v))
		return 0;
	secs = json_integer_value(v);
	if (secs < 1 || secs > 10LL * 366 * 86400) {
		*bad = true;
		return 0;
	}
	return now_usec() + (int64_t)secs * 1000000;
}

static json_t *principal_json(const struct principal *p)
{
	char ts[32];
	json_t *o = json_pack("{s:s, s:I, s:s, s:b, s:b}", "name", p->name, "uid", (json_int_t)p->uid,
			      "role", p->role, "token", p->has_token, "locked", p->locked);

	if (o == NULL)
		return NULL;
	if (p->has_token && p->token_expires) {
		format_rfc3339(p->token_expires, ts, sizeof(ts));
		json_object_set_new(o, "token_expires", json_string(ts));
	}
	if (p->locked && p->locked_reason[0])
		json_object_set_new(o, "locked_reason", json_string(p->locked_reason));
	if (p->last_seen) {
		format_rfc3339(p->last_seen, ts, sizeof(ts));
		json_object_set_new(o, "last_seen", json_string(ts));
	}
	format_rfc3339(p->created_at, ts, sizeof(ts));
	json_object_set_new(o, "created_at", json_string(ts));
	return o;
}

void method_admin_principal_add(struct call *c)
{
	static const char *const spec[] = { "name:s", "uid:i", "role:s", "?token:b", "?expires:i" };
	struct registry *reg = c->srv->reg;
	const char *name, *role;
	char token[TOKEN_LEN + 1];
	unsigned char hash[32];
	json_int_t uid;
	bool with_token, bad_expiry;
	int64_t expires;
	json_t *reply = NULL;
	int r;

	if (!params_ok(c, spec, 5) || (name = get_name(c)) == NULL)
		return;
	uid = json_integer_value(json_object_get(c->params, "uid"));
	role = json_string_value(json_object_get(c->params, "role"));
	with_token = json_is_true(json_object_get(c->params, "token"));
	expires = expiry_from(c->params, &bad_expiry);
	if (uid < 0 || uid > (json_int_t)UINT32_MAX - 1) {
		call_invalid_parameter(c, "uid");
		return;
	}
	if (bad_expiry || (expires && !with_token)) {
		call_invalid_parameter(c, "expires");
		return;
	}
	if (!auth_name_valid(role)) {
		call_invalid_parameter(c, "role");
		return;
	}
	if (auth_role(&reg->auth, role) == NULL) {
		call_error(c, "io.roster.NotFound", json_pack("{s:s}", "id", role));
		return;
	}
	/*
	 * A uid has either one principal without a token or any number with
	 * tokens; otherwise which principal a connection is would be ambiguous.
	 * Bootstrap uids are always admins and take no principal.
	 */
	if (auth_is_bootstrap(&reg->auth, (uid_t)uid)) {
		call_error(c, "io.roster.Exists", json_pack("{s:s, s:s}", "name", name, "message",
			   "this uid is a bootstrap administrator (uid 0, the daemon's or the initialising uid)"));
		return;
	}
	for (size_t i = 0; i < reg->auth.n_princ; i++) {
		const struct principal *p = &reg->auth.princ[i];

		if (p->uid == (uid_t)uid && (!p->has_token || !with_token)) {
			call_error(c, "io.roster.Exists", json_pack("{s:s, s:s}", "name", name, "message",
				   "this uid already has a principal; a uid has one principal without a "
				   "token, or any number with tokens"));
			return;
		}
	}
	if (with_token) {
		auth_token_new(token);
		auth_token_hash(reg->keys, token, hash);
		reply = json_pack("{s:s}", "token", token);
		sodium_memzero(token, sizeof(token));
	}
	r = store_principal_add(reg->store, name, uid, role, with_token ? hash : NULL, expires);
	sodium_memzero(hash, sizeof(hash));
	if (r == 0) {
		log_info("principal %s added (uid %lld, role %s%s) by uid %u", name, (long long)uid,
			 role, with_token ? ", token" : "", (unsigned)c->uid);
		/* A name used before starts with clean counts (as the store's guard_reset says). */
		guard_reset(&reg->guard, name);
	}
	changed(c, r, name, reply);
}

void method_admin_principal_list(struct call *c)
{
	struct registry *reg = c->srv->reg;
	json_t *arr;

	if (!params_ok(c, NULL, 0))
		return;
	arr = json_array();
	for (size_t i = 0; arr && i < reg->auth.n_princ; i++)
		json_array_append_new(arr, principal_json(&reg->auth.princ[i]));
	call_reply(c, json_pack("{s:o}", "principals", arr));
}

void method_admin_principal_remove(struct call *c)
{
	static const char *const spec[] = { "name:s" };
	const char *name;
	int r;

	if (!params_ok(c, spec, 1) || (name = get_name(c)) == NULL)
		return;
	r = store_principal_delete(c->srv->reg->store, name);
	if (r == 0)
		log_info("principal %s removed by uid %u", name, (unsigned)c->uid);
	changed(c, r, name, NULL);
}

static void set_lock(struct call *c, bool locked)
{
	static const char *const spec[] = { "name:s" };
	const char *name;
	int r;

	if (!params_ok(c, spec, 1) || (name = get_name(c)) == NULL)
		return;
	r = store_principal_set_lock(c->srv->reg->store, name, locked, "admin");
	if (r == 0)
		log_info("principal %s %s by uid %u", name, locked ? "locked" : "unlocked",
			 (unsigned)c->uid);
	/* An unlock gives a fresh window: the quota and guessing counts restart. */
	if (r == 0 && !locked)
		guard_reset(&c->srv->reg->guard, name);
	changed(c, r, name, NULL);
}

void method_admin_principal_lock(struct call *c)
{
	set_lock(c, true);
}

void method_admin_principal_unlock(struct call *c)
{
	set_lock(c, false);
}

void method_admin_token_rotate(struct call *c)
{
	static const char *const spec[] = { "name:s", "?expires:i" };
	struct registry *reg = c->srv->reg;
	const struct principal *p;
	char token[TOKEN_LEN + 1];
	unsigned char hash[32];
	const char *name;
	bool bad_expiry;
	int64_t expires;
	json_t *reply;
	int r;

	if (!params_ok(c, spec, 2) || (name = get_name(c)) == NULL)
		return;
	expires = expiry_from(c->params, &bad_expiry);
	if (bad_expiry) {
		call_invalid_parameter(c, "expires");
		return;
	}
	p = auth_principal(&reg->auth, name);
	if (p == NULL) {
		call_error(c, "io.roster.NotFound", json_pack("{s:s}", "id", name));
		return;
	}
	/* Giving a token to a tokenless principal could collide with its uid's rule. */
	if (!p->has_token) {
		call_error(c, "io.roster.InvalidState", json_pack("{s:s, s:s}", "state", "no-token",
			   "message", "this principal has no token; remove and re-add it with one"));
		return;
	}
	auth_token_new(token);
	auth_token_hash(reg->keys, token, hash);
	reply = json_pack("{s:s}", "token", token);
	sodium_memzero(token, sizeof(token));
	r = store_principal_set_token(reg->store, name, hash, expires);
	sodium_memzero(hash, sizeof(hash));
	if (r == 0)
		log_info("token of principal %s rotated by uid %u", name, (unsigned)c->uid);
	changed(c, r, name, reply);
}

/* ---- roles ------------------------------------------------------------------ */

static json_t *role_json(const struct auth *a, const struct role *ro)
{
	char ts[32], quota[48];
	json_t *holders = json_array(), *o;

	for (size_t i = 0; holders && i < a->n_princ; i++)
		if (strcmp(a->princ[i].role, ro->name) == 0)
			json_array_append_new(holders, json_string(a->princ[i].name));
	format_rfc3339(ro->changed_at, ts, sizeof(ts));
	o = json_pack("{s:s, s:b, s:o, s:o, s:b, s:o, s:s}", "name", ro->name, "builtin", ro->builtin,
		      "capabilities", auth_caps_json(ro->caps), "fields", auth_fields_json(ro->fields),
		      "lock_on_quota", ro->lock_on_quota, "principals", holders, "changed_at", ts);
	if (o != NULL && ro->guess_n > 0) {
		snprintf(quota, sizeof(quota), "%lld/%llds", (long long)ro->guess_n,
			 (long long)ro->guess_window);
		json_object_set_new(o, "guessing", json_string(quota));
	}
	if (o != NULL && ro->quota_n >= 0) {
		int64_t w = ro->quota_window;
		const char *unit = "s";

		if (w % 86400 == 0) {
			w /= 86400;
			unit = "d";
		} else if (w % 3600 == 0) {
			w /= 3600;
			unit = "h";
		} else if (w % 60 == 0) {
			w /= 60;
			unit = "m";
		}
		snprintf(quota, sizeof(quota), "%lld/%lld%s", (long long)ro->quota_n, (long long)w, unit);
		json_object_set_new(o, "quota", json_string(quota));
	}
	return o;
}

void method_admin_role_list(struct call *c)
{
	struct auth *a = &c->srv->reg->auth;
	json_t *arr;

	if (!params_ok(c, NULL, 0))
		return;
	arr = json_array();
	for (size_t i = 0; arr && i < a->n_roles; i++)
		json_array_append_new(arr, role_json(a, &a->roles[i]));
	call_reply(c, json_pack("{s:o}", "roles", arr));
}

void method_admin_role_show(struct call *c)
{
	static const char *const spec[] = { "name:s" };
	struct auth *a = &c->srv->reg->auth;
	const struct role *ro;
	const char *name;

	if (!params_ok(c, spec, 1) || (name = get_name(c)) == NULL)
		return;
	ro = auth_role(a, name);
	if (ro == NULL) {
		call_error(c, "io.roster.NotFound", json_pack("{s:s}", "id", name));
		return;
	}
	call_reply(c, json_pack("{s:o}", "role", role_json(a, ro)));
}

/* Parse "N/WINDOW" (WINDOW: a number and s, m, h or d). */
static int parse_quota(const char *s, int64_t *ret_n, int64_t *ret_window)
{
	unsigned long long n, w;
	char unit, extra;
	int64_t mul;

	if (sscanf(s, "%llu/%llu%c%c", &n, &w, &unit, &extra) != 3 || n < 1 || n > 1000000000ULL ||
	    w < 1 || w > 100000)
		return -EINVAL;
	switch (unit) {
	case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -EINVAL;
	}
	if ((int64_t)w * mul > 366LL * 86400)
		return -EINVAL;
	*ret_n = (int64_t)n;
	*ret_window = (int64_t)w * mul;
	return 0;
}

/* A JSON array of strings joined by spaces into buf; -EINVAL if not all strings. */
static int join(const json_t *arr, char *buf, size_t size)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		int n;

		if (!json_is_string(v))
			return -EINVAL;
		n = snprintf(buf + off, size - off, "%s%s", off ? " " : "", json_string_value(v));
		if (n < 0 || (size_t)n >= size - off)
			return -EINVAL;
		off += (size_t)n;
	}
	return 0;
}

void method_admin_role_add(struct call *c)
{
	static const char *const spec[] = { "name:s", "capabilities:a", "fields:a", "?quota:s",
					    "?lock_on_quota:b", "?replace:b", "?guessing:s" };
	struct registry *reg = c->srv->reg;
	char caps_text[512], fields_text[128], canon_caps[512], canon_fields[128];
	const char *name, *quota, *guessing;
	int64_t qn = -1, qw = 0, gn = 20, gw = 600;
	uint32_t caps;
	unsigned fields;
	bool replace, lock;
	json_t *tmp;
	int r;

	if (!params_ok(c, spec, 7) || (name = get_name(c)) == NULL)
		return;
	guessing = json_string_value(json_object_get(c->params, "guessing"));
	if (guessing != NULL && parse_quota(guessing, &gn, &gw) < 0) {
		call_invalid_parameter(c, "guessing");
		return;
	}
	if (join(json_object_get(c->params, "capabilities"), caps_text, sizeof(caps_text)) < 0 ||
	    auth_parse_caps(caps_text, &caps) < 0) {
		call_invalid_parameter(c, "capabilities");
		return;
	}
	if (join(json_object_get(c->params, "fields"), fields_text, sizeof(fields_text)) < 0 ||
	    auth_parse_fields(fields_text, &fields) < 0) {
		call_invalid_parameter(c, "fields");
		return;
	}
	quota = json_string_value(json_object_get(c->params, "quota"));
	if (quota != NULL && parse_quota(quota, &qn, &qw) < 0) {
		call_invalid_parameter(c, "quota");
		return;
	}
	replace = json_is_true(json_object_get(c->params, "replace"));
	lock = !json_is_false(json_object_get(c->params, "lock_on_quota"));
	/* Store the canonical names, in a fixed order. */
	tmp = auth_caps_json(caps);
	r = join(tmp, canon_caps, sizeof(canon_caps));
	json_decref(tmp);
	tmp = auth_fields_json(fields);
	r |= join(tmp, canon_fields, sizeof(canon_fields));
	json_decref(tmp);
	if (r < 0) {
		call_error_message(c, "io.roster.InternalError", "out of memory");
		return;
	}
	r = store_role_put(reg->store, name, canon_caps, canon_fields, qn, qw, lock, replace, gn, gw);
	if (r == 0) {
		const struct role *old = auth_role(&reg->auth, name);
		size_t holders = 0;

		for (size_t i = 0; old && i < reg->auth.n_princ; i++)
			holders += strcmp(reg->auth.princ[i].role, name) == 0;
		log_info("role %s %s by uid %u (capabilities: %s; fields: %s)%s", name,
			 replace ? "changed" : "defined", (unsigned)c->uid, canon_caps, canon_fields,
			 holders ? "; principals holding it are affected at once" : "");
	}
	changed(c, r, name, NULL);
}

void method_admin_role_remove(struct call *c)
{
	static const char *const spec[] = { "name:s" };
	const char *name;
	int r;

	if (!params_ok(c, spec, 1) || (name = get_name(c)) == NULL)
		return;
	r = store_role_delete(c->srv->reg->store, name);
	if (r == 0)
		log_info("role %s removed by uid %u", name, (unsigned)c->uid);
	changed(c, r, name, NULL);
}

/* ---- canaries --------------------------------------------------------------- */

static void mutate_canary(struct store *w, struct audit_job *j)
{
	char id[ID_HEX_LEN + 1];
	int r = store_client_create(w, json_object_get(j->mctx, "client"), id);

	if (r == 0)
		r = store_client_mark_canary(w, id);
	if (r < 0) {
		j->reply = json_pack("{s:s, s:{s:s}}", "error", "io.roster.InternalError", "parameters",
				     "message", "storage failure (see the daemon's log)");
		return;
	}
	audit_rec_add_id(&j->rec, id);
	j->reply = json_pack("{s:{s:s, s:i}}", "parameters", "id", id, "version", 1);
	j->clients_delta = 1;
}

/* Once the canary is committed, the guard watches for it. */
static void canary_after(struct call *c)
{
	struct registry *reg = c->srv->reg;
	json_t *ids;

	if (reg->state == REG_UNSEALED && store_canary_ids(reg->store, &ids) == 0) {
		json_decref(reg->guard.canaries);
		reg->guard.canaries = ids;
	}
}

void method_admin_canary_add(struct call *c)
{
	static const char *const spec[] = { "client:o" };
	char bad[VALIDATE_NAME_MAX];

	if (!params_ok(c, spec, 1))
		return;
	if (!validate_client_input(json_object_get(c->params, "client"), false, "client", bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	c->after = canary_after;
	call_write(c, mutate_canary, json_incref(c->params));
}

void method_admin_canary_list(struct call *c)
{
	json_t *arr;

	if (!params_ok(c, NULL, 0))
		return;
	if (store_canary_list(c->srv->reg->store, &arr) < 0) {
		call_error_message(c, "io.roster.InternalError", "storage failure (see the daemon's log)");
		return;
	}
	/*
	 * Canaries are clients to whoever reads them: only the fields the
	 * role may see, and the record names them. (No CANARY alert: listing
	 * them is how an admin checks the decoys without tripping them.)
	 */
	arr = clients_view(c, arr);
	if (arr == NULL) {
		call_error_message(c, "io.roster.InternalError", "out of memory");
		return;
	}
	call_reply(c, json_pack("{s:o}", "clients", arr));
}
