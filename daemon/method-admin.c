/*
 * method-admin.c: io.roster.Admin — state, Init, Unseal, Seal.
 *
 * Passphrases arrive in the call's parameters (M_SENSITIVE): they are copied
 * into locked memory by the registry, and the JSON that carried them is wiped
 * when freed (secmem.c). Nothing here logs a passphrase or its length.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "daemon/dispatch.h"
#include "daemon/keys.h"
#include "daemon/registry.h"
#include "daemon/server.h"
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
	if (p != NULL && reg->state == REG_UNSEALED) {
		int64_t n;

		if (store_client_count(reg->store, &n) == 0)
			json_object_set_new(p, "clients", json_integer(n));
		json_object_set_new(p, "cipher_version",
				    json_string(store_cipher_version(reg->store)));
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
		registry_init_async(c->srv->reg, pass, len, key_op_done, c);
}

void method_admin_unseal(struct call *c)
{
	size_t len;
	const char *pass = get_passphrase(c, 1, &len);

	if (pass != NULL)
		registry_unseal_async(c->srv->reg, pass, len, key_op_done, c);
}

void method_admin_seal(struct call *c)
{
	char bad[VALIDATE_NAME_MAX];

	if (!validate_params(c->params, NULL, 0, bad)) {
		call_invalid_parameter(c, bad);
		return;
	}
	registry_seal(c->srv->reg);
	call_reply(c, NULL);
}
