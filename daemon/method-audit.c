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
#include <time.h>

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
	struct tm tm;
	const char *end;
	uint64_t secs;

	if (parse_uint(s, 0, UINT32_MAX, &secs) == 0) {
		*ret = (int64_t)secs * 1000000;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -EINVAL;
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (strcmp(end, "Z") != 0)
		return -EINVAL;
	*ret = (int64_t)timegm(&tm) * 1000000;
	return 0;
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
	if ((v = json_object_get(c->params, "since")) && json_is_string(v) &&
	    parse_time(json_string_value(v), &f.since_us) < 0) {
		call_invalid_parameter(c, "since");
		return;
	}
	if ((v = json_object_get(c->params, "until")) && json_is_string(v) &&
	    parse_time(json_string_value(v), &f.until_us) < 0) {
		call_invalid_parameter(c, "until");
		return;
	}
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

void method_audit_verify(struct call *c)
{
	struct registry *reg = c->srv->reg;
	struct audit_verify_result v;
	char badp[VALIDATE_NAME_MAX];
	json_t *p;
	int r;

	if (!validate_params(c->params, NULL, 0, badp)) {
		call_invalid_parameter(c, badp);
		return;
	}
	r = audit_verify(reg->store, reg->keys->sign_pk, &v);
	if (r < 0) {
		call_error_message(c, "io.roster.InternalError", "cannot read the audit trail");
		return;
	}
	p = json_pack("{s:b, s:I, s:I}", "ok", v.ok, "records", (json_int_t)v.records,
		      "checkpoints", (json_int_t)v.checkpoints);
	if (p != NULL && !v.ok) {
		json_object_set_new(p, "first_bad", json_integer(v.first_bad));
		json_object_set_new(p, "problem", json_string(v.problem));
	}
	call_reply(c, p);
}

void method_audit_checkpoint(struct call *c)
{
	char bad_param[VALIDATE_NAME_MAX];

	if (!validate_params(c->params, NULL, 0, bad_param)) {
		call_invalid_parameter(c, bad_param);
		return;
	}
	/* Asked before this call's record is queued, so its batch carries the checkpoint. */
	audit_request_checkpoint(c->srv->reg->audit);
	call_reply(c, NULL);
}

void method_audit_public_key(struct call *c)
{
	struct keyring_hdr h;
	char bad_param[VALIDATE_NAME_MAX], hex[65];

	if (!validate_params(c->params, NULL, 0, bad_param)) {
		call_invalid_parameter(c, bad_param);
		return;
	}
	if (keyring_check(c->srv->reg->keyring_path, &h) < 0) {
		call_error_message(c, "io.roster.KeyringCorrupt", "the keyring cannot be read");
		return;
	}
	sodium_bin2hex(hex, sizeof(hex), h.sign_pk, sizeof(h.sign_pk));
	call_reply(c, json_pack("{s:s}", "pubkey", hex));
}
