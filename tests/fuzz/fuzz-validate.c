/*
 * fuzz-validate.c: libFuzzer target for daemon/validate.c, the checks every
 * method's parameters pass before a handler sees them.
 *
 * The input is a Varlink frame as the daemon receives it; it goes through
 * frame_parse() (as in the daemon), then its "parameters" (or, when there
 * are none, the whole message) are checked against the parameter lists of
 * real methods, as a ClientInput for creation and for update, and every
 * string anywhere in it goes through each single rule. The target aborts
 * when a refusal names no parameter or a name that is not NUL-terminated
 * within VALIDATE_NAME_MAX bytes, or when an accepted ClientInput breaks a
 * rule the store relies on.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/validate.h"
#include "lib/frame.h"

/* Parameter lists of real methods (daemon/method-*.c), and edge cases. */
static const char *const spec_create[] = { "client:o" };
static const char *const spec_update[] = { "id:s", "changes:o", "?version:i" };
static const char *const spec_principal[] = { "name:s", "uid:i", "role:s", "?token:b",
					       "?expires:i" };
static const char *const spec_role[] = { "name:s", "capabilities:a", "fields:a", "?quota:s",
					  "?lock_on_quota:b", "?replace:b", "?guessing:s" };
static const char *const spec_audit[] = { "?client:s", "?principal:s", "?method:s",
					   "?result:s", "?alerts:b", "?since:s", "?until:s",
					   "?after:i", "?limit:i" };
static const char *const spec_unknown_type[] = { "?x:z" };

static const struct {
	const char *const *spec;
	size_t n;
} specs[] = {
	{ NULL, 0 },
	{ spec_create, 1 },
	{ spec_update, 3 },
	{ spec_principal, 5 },
	{ spec_role, 7 },
	{ spec_audit, 9 },
	{ spec_unknown_type, 1 },
};

static void check_bad(const char bad[VALIDATE_NAME_MAX])
{
	if (memchr(bad, '\0', VALIDATE_NAME_MAX) == NULL)
		abort();
}

static void rules_on_strings(const json_t *v, int depth)
{
	const char *key;
	json_t *m;
	size_t i;

	if (depth > FRAME_MAX_DEPTH + 1)
		abort();        /* frame_parse bounds nesting */
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		(void)validate_kind(s);
		(void)validate_status(s);
		(void)validate_phone(s);
		if (validate_country(s) && (strlen(s) != 2 || s[0] < 'A' || s[0] > 'Z'))
			abort();
		if (validate_email(s) && (strlen(s) > CLIENT_EMAIL_MAX || !strchr(s, '@')))
			abort();
		(void)validate_text(s, SEARCH_QUERY_MAX, false);
		(void)validate_text(s, CLIENT_NOTES_MAX, true);
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, m)
			rules_on_strings(m, depth + 1);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			rules_on_strings(m, depth + 1);
	}
}

/* An accepted ClientInput: every present string is valid UTF-8 within its limit. */
static void check_accepted_client(const json_t *obj)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		if (json_is_null(v))
			continue;
		if (!json_is_string(v) || !validate_text(json_string_value(v), CLIENT_NOTES_MAX, true))
			abort();
	}
}

static void check_client(const json_t *obj, const char *prefix)
{
	char bad[VALIDATE_NAME_MAX];

	for (int partial = 0; partial < 2; partial++) {
		memset(bad, 'x', sizeof(bad));
		if (validate_client_input(obj, partial, prefix, bad))
			check_accepted_client(obj);
		else
			check_bad(bad);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char bad[VALIDATE_NAME_MAX];
	const json_t *params;
	json_t *msg = NULL;

	if (size >= FRAME_MAX_SIZE)
		return 0;       /* the frame reader refuses it before parsing */
	if (frame_parse((const char *)data, size, &msg) != FRAME_OK)
		return 0;
	params = json_object_get(msg, "parameters");
	if (params == NULL)
		params = msg;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		memset(bad, 'x', sizeof(bad));
		if (!validate_params(params, specs[i].spec, specs[i].n, bad))
			check_bad(bad);
	}
	check_client(params, NULL);
	check_client(json_object_get(params, "client"), "client");
	check_client(json_object_get(params, "changes"), "changes");
	rules_on_strings(msg, 0);
	json_decref(msg);
	return 0;
}
