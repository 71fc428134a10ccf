/*
 * validate.c: see validate.h. Every rule here is a whitelist.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "daemon/validate.h"

static const char *const kinds[] = {
	"police", "law_enforcement", "government", "bank", "financial", "enterprise", "other",
};

static const char *const statuses[] = { "active", "suspended", "closed" };

/* ISO 3166-1 alpha-2, officially assigned codes, sorted. */
static const char iso3166[] =
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
	"BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
	"DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
	"GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
	"KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
	"MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
	"PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
	"SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
	"VN VU WF WS YE YT ZA ZM ZW";

static bool one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

bool validate_kind(const char *s)
{
	return one_of(s, kinds, sizeof(kinds) / sizeof(kinds[0]));
}

bool validate_status(const char *s)
{
	return one_of(s, statuses, sizeof(statuses) / sizeof(statuses[0]));
}

bool validate_country(const char *s)
{
	if (strlen(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
		return false;
	/* Codes are two letters and a space; the last has no space, so stop at its NUL. */
	for (const char *p = iso3166;; p += 3) {
		if (p[0] == s[0] && p[1] == s[1])
			return true;
		if (p[2] == '\0')
			return false;
	}
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * The practical shape of an address, not RFC 5322: a local part of ASCII
 * letters, digits and ".!#$%&'*+/=?^_`{|}~-" without leading, trailing or
 * doubled dots; a domain of at least two dot-separated labels of letters,
 * digits and inner hyphens.
 */
bool validate_email(const char *s)
{
	const char *at = strchr(s, '@'), *p;
	size_t label = 0, labels = 0;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL ||
	    strlen(s) > CLIENT_EMAIL_MAX || at - s > 64)
		return false;
	for (p = s; p < at; p++) {
		if (*p == '.') {
			if (p == s || p + 1 == at || p[1] == '.')
				return false;
		} else if (!is_alnum(*p) && strchr("!#$%&'*+/=?^_`{|}~-", *p) == NULL) {
			return false;
		}
	}
	for (p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return false;
			labels++;
			label = 0;
			if (*p == '\0')
				break;
			continue;
		}
		if (!is_alnum(*p) && !(*p == '-' && label > 0))
			return false;
		label++;
	}
	return labels >= 2;
}

/* Digits with optional leading '+', and spaces, dots, hyphens, parentheses; 5 to 15 digits. */
bool validate_phone(const char *s)
{
	size_t digits = 0, len = strlen(s);

	if (len == 0 || len > CLIENT_PHONE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			digits++;
		else if (c == '+' && i == 0)
			continue;
		else if (!strchr(" .-()", c))
			return false;
	}
	return digits >= 5 && digits <= 15;
}

/*
 * jansson guarantees parsed strings are valid UTF-8 (and refuses \u0000), but
 * strings can also come from other paths, so check the encoding here too.
 * Refuses C0 controls (except tab and newlines when multiline), DEL and C1
 * controls (U+0080..U+009F), overlong forms, surrogates and values past
 * U+10FFFF.
 */
bool validate_text(const char *s, size_t max, bool multiline)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);

	if (len > max)
		return false;
	while (*p) {
		unsigned c = *p, cp, n;

		if (c < 0x80) {
			if ((c < 0x20 && !(multiline && (c == '\t' || c == '\n' || c == '\r'))) ||
			    c == 0x7f)
				return false;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
			return false;
		p += n + 1;
	}
	return true;
}

struct field_rule {
	const char *name;
	size_t max;
	bool required;      /* on creation */
	bool multiline;
	bool (*shape)(const char *);
};

static const struct field_rule client_rules[] = {
	{ "name",          CLIENT_NAME_MAX,         true,  false, NULL },
	{ "kind",          32,                      true,  false, validate_kind },
	{ "country",       2,                       false, false, validate_country },
	{ "contact_name",  CLIENT_CONTACT_NAME_MAX, false, false, NULL },
	{ "contact_email", CLIENT_EMAIL_MAX,        false, false, validate_email },
	{ "contact_phone", CLIENT_PHONE_MAX,        false, false, validate_phone },
	{ "tier",          CLIENT_TIER_MAX,         false, false, NULL },
	{ "notes",         CLIENT_NOTES_MAX,        false, true,  NULL },
	{ "status",        16,                      false, false, validate_status },
};

static void name_of(char bad[VALIDATE_NAME_MAX], const char *prefix, const char *field)
{
	snprintf(bad, VALIDATE_NAME_MAX, "%s%s%s", prefix ? prefix : "",
		 prefix && field ? "." : "", field ? field : "");
}

bool validate_client_input(const json_t *obj, bool partial, const char *prefix,
			   char bad[VALIDATE_NAME_MAX])
{
	const size_t nrules = sizeof(client_rules) / sizeof(client_rules[0]);
	const char *key;
	json_t *val;
	size_t present = 0;

	if (!json_is_object(obj)) {
		name_of(bad, prefix, NULL);
		return false;
	}
	/* Unknown members first: a misspelt field must not be silently dropped. */
	json_object_foreach((json_t *)obj, key, val) {
		size_t i;

		for (i = 0; i < nrules; i++)
			if (strcmp(key, client_rules[i].name) == 0)
				break;
		if (i == nrules) {
			/* Do not echo an arbitrary key of arbitrary length back. */
			name_of(bad, prefix, strlen(key) < 32 ? key : "(unknown)");
			return false;
		}
	}
	for (size_t i = 0; i < nrules; i++) {
		const struct field_rule *r = &client_rules[i];
		const json_t *v = json_object_get(obj, r->name);
		const char *s;

		if (v == NULL || json_is_null(v)) {
			if (!partial && r->required) {
				name_of(bad, prefix, r->name);
				return false;
			}
			if (v == NULL)
				continue;
			/* null is taken as "not given" for optional members. */
			continue;
		}
		if (!json_is_string(v)) {
			name_of(bad, prefix, r->name);
			return false;
		}
		s = json_string_value(v);
		present++;
		/*
		 * An empty string clears an optional field on update and means
		 * "unset" on creation; required fields and enums cannot be empty.
		 */
		if (*s == '\0') {
			if (r->required || r->shape == validate_status) {
				name_of(bad, prefix, r->name);
				return false;
			}
			continue;
		}
		if (strlen(s) != json_string_length(v) ||    /* embedded NUL */
		    !validate_text(s, r->max, r->multiline) ||
		    (r->shape != NULL && !r->shape(s))) {
			name_of(bad, prefix, r->name);
			return false;
		}
		/* A name of only spaces is as good as no name. */
		if (r->required && strspn(s, " ") == strlen(s)) {
			name_of(bad, prefix, r->name);
			return false;
		}
	}
	if (partial && present == 0) {
		name_of(bad, prefix, NULL);
		return false;
	}
	return true;
}

bool validate_params(const json_t *params, const char *const *spec, size_t nspec,
		     char bad[VALIDATE_NAME_MAX])
{
	const char *key;
	json_t *val;

	if (params != NULL && !json_is_object(params)) {
		snprintf(bad, VALIDATE_NAME_MAX, "parameters");
		return false;
	}
	if (params != NULL) {
		json_object_foreach((json_t *)params, key, val) {
			size_t i, klen = strlen(key);

			for (i = 0; i < nspec; i++) {
				const char *n = spec[i] + (spec[i][0] == '?');
				const char *colon = strchr(n, ':');

				if ((size_t)(colon - n) == klen && strncmp(n, key, klen) == 0)
					break;
			}
			if (i == nspec) {
				snprintf(bad, VALIDATE_NAME_MAX, "%s", klen < 32 ? key : "(unknown)");
				return false;
			}
		}
	}
	for (size_t i = 0; i < nspec; i++) {
		bool optional = spec[i][0] == '?';
		const char *n = spec[i] + optional;
		const char *colon = strchr(n, ':');
		char name[VALIDATE_NAME_MAX];
		const json_t *v;
		bool ok;

		snprintf(name, sizeof(name), "%.*s", (int)(colon - n), n);
		v = params ? json_object_get(params, name) : NULL;
		if (v == NULL || (optional && json_is_null(v))) {
			if (!optional) {
				snprintf(bad, VALIDATE_NAME_MAX, "%s", name);
				return false;
			}
			continue;
		}
		switch (colon[1]) {
		case 's':
			ok = json_is_string(v);
			break;
		case 'i':
			ok = json_is_integer(v);
			break;
		case 'o':
			ok = json_is_object(v);
			break;
		case 'b':
			ok = json_is_boolean(v);
			break;
		case 'a':
			ok = json_is_array(v);
			break;
		default:
			ok = false;
			break;
		}
		if (!ok) {
			snprintf(bad, VALIDATE_NAME_MAX, "%s", name);
			return false;
		}
	}
	return true;
}
