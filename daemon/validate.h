/*
 * validate.h: checks on everything a caller may send before it reaches the
 * store: client fields (enums, country codes, e-mail and phone shape,
 * lengths, UTF-8 without control characters), ids, passphrases, limits.
 *
 * A failed check names the offending parameter exactly as the caller wrote
 * it ("client.country", "changes.contact_email", "limit"), so the reply can
 * be org.varlink.service.InvalidParameter with that name. Never logs, and
 * never echoes a value back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* Longest parameter name reported back, e.g. "changes.contact_email". */
#define VALIDATE_NAME_MAX 64

/* Length limits, in bytes of UTF-8. */
#define CLIENT_NAME_MAX 200
#define CLIENT_CONTACT_NAME_MAX 200
#define CLIENT_EMAIL_MAX 254
#define CLIENT_PHONE_MAX 32
#define CLIENT_TIER_MAX 64
#define CLIENT_NOTES_MAX 4000
#define SEARCH_QUERY_MAX 200

/*
 * Check a ClientInput object. For creation (partial false) name and kind are
 * required; for an update (partial true) every field is optional but at
 * least one must be present. prefix is the parameter's name ("client" or
 * "changes"). Returns true, or false with the offending parameter's full
 * name in bad (VALIDATE_NAME_MAX bytes).
 */
bool validate_client_input(const json_t *obj, bool partial, const char *prefix,
			   char bad[VALIDATE_NAME_MAX]);

/* Individual rules, exposed for tests. */
bool validate_kind(const char *s);
bool validate_status(const char *s);
bool validate_country(const char *s);
bool validate_email(const char *s);
bool validate_phone(const char *s);
/* UTF-8 text of at most max bytes, no control characters (tab and newlines only if multiline). */
bool validate_text(const char *s, size_t max, bool multiline);

/*
 * Check a method's parameters against a list of allowed members. Each spec
 * is "name:type" where type is s (string), i (integer), o (object), b
 * (boolean), a (array); a leading '?' marks it optional: "?limit:i". Unknown members,
 * missing required members and wrong types are refused, and the offending
 * name is written to bad. params may be NULL (no parameters given).
 */
bool validate_params(const json_t *params, const char *const *spec, size_t nspec,
		     char bad[VALIDATE_NAME_MAX]);
