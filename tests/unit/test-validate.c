/*
 * test-validate.c: unit tests for daemon/validate.c, the whitelist checks on
 * everything a caller sends: enums, country codes, e-mail and phone shapes,
 * UTF-8 text, ClientInput objects and method parameters, including the
 * parameter name reported back on refusal.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "daemon/validate.h"

/* --- helpers ------------------------------------------------------------ */

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

static json_t *load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, err.text);
	return j;
}

/* Check a ClientInput given as JSON text; on refusal, the reported name must be want_bad. */
static void expect_input(const char *text, bool partial, const char *prefix, bool want_ok,
			 const char *want_bad)
{
	char bad[VALIDATE_NAME_MAX];
	json_t *j = load(text);
	bool ok;

	memset(bad, 'Z', sizeof(bad));
	bad[sizeof(bad) - 1] = '\0';
	ok = validate_client_input(j, partial, prefix, bad);
	ck_assert_msg(ok == want_ok, "validate_client_input(%s, partial=%d) = %d, want %d (bad=%s)",
		      text, partial, ok, want_ok, bad);
	if (!want_ok && want_bad != NULL)
		ck_assert_msg(strcmp(bad, want_bad) == 0, "%s: reported \"%s\", want \"%s\"",
			      text, bad, want_bad);
	json_decref(j);
}

static void expect_params(const char *text, const char *const *spec, size_t nspec,
			  bool want_ok, const char *want_bad)
{
	char bad[VALIDATE_NAME_MAX] = "";
	json_t *j = text ? load(text) : NULL;
	bool ok = validate_params(j, spec, nspec, bad);

	ck_assert_msg(ok == want_ok, "validate_params(%s) = %d, want %d (bad=%s)",
		      text ? text : "NULL", ok, want_ok, bad);
	if (!want_ok && want_bad != NULL)
		ck_assert_msg(strcmp(bad, want_bad) == 0, "%s: reported \"%s\", want \"%s\"",
			      text ? text : "NULL", bad, want_bad);
	json_decref(j);
}

/* --- enums ---------------------------------------------------------------- */

START_TEST(test_kind_accepts_exactly_the_listed_kinds)
{
	static const char *const good[] = {
		"police", "law_enforcement", "government", "bank", "financial", "enterprise", "other",
	};
	static const char *const bad[] = {
		"", "Police", "POLICE", "police ", " police", "law-enforcement", "banks", "bank\n",
		"unknown", "polic",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(validate_kind(good[i]), "kind %s refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!validate_kind(bad[i]), "kind \"%s\" accepted", bad[i]);
}
END_TEST

START_TEST(test_status_accepts_exactly_the_listed_statuses)
{
	ck_assert(validate_status("active"));
	ck_assert(validate_status("suspended"));
	ck_assert(validate_status("closed"));
	ck_assert(!validate_status(""));
	ck_assert(!validate_status("Active"));
	ck_assert(!validate_status("deleted"));
	ck_assert(!validate_status("active\t"));
	ck_assert(!validate_status("close"));
}
END_TEST

/* --- country -------------------------------------------------------------- */

START_TEST(test_country_valid_codes)
{
	static const char *const good[] = { "DE", "GB", "US", "FR", "AD", "ZW", "JP", "CH" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(validate_country(good[i]), "country %s refused", good[i]);
}
END_TEST

START_TEST(test_country_invalid_codes)
{
	static const char *const bad[] = {
		"de", "De", "dE", "XX", "D", "DEU", "", "UK", "EU", "AA", "ZZ", "D1", "12",
		"D ", " D", "DE ", "\xc3\x84" "E",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!validate_country(bad[i]), "country \"%s\" accepted", bad[i]);
}
END_TEST

/* --- e-mail ----------------------------------------------------------------- */

START_TEST(test_email_good_shapes)
{
	static const char *const good[] = {
		"a@b.co", "first.last@example.com", "x+tag@sub.example.org",
		"o'brien@example.ie", "a_b-c@ex-ample.com", "123@456.78",
		"!#$%&'*+/=?^_`{|}~-@example.com", "A@EXAMPLE.COM", "a@b.c",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(validate_email(good[i]), "email %s refused", good[i]);
}
END_TEST

START_TEST(test_email_bad_shapes)
{
	static const char *const bad[] = {
		"",                           /* empty */
		"plainaddress",               /* no @ */
		"a@b@example.com",            /* two @ */
		"@example.com",               /* empty local part */
		"a@",                         /* empty domain */
		".a@example.com",             /* leading dot in local */
		"a.@example.com",             /* trailing dot in local */
		"a..b@example.com",           /* double dot in local */
		"a@-example.com",             /* label with leading hyphen */
		"a@example-.com",             /* label with trailing hyphen */
		"a@example.com-",             /* last label with trailing hyphen */
		"a@sub.-ex.com",              /* inner label with leading hyphen */
		"a@localhost",                /* one-label domain */
		"a@.example.com",             /* empty first label */
		"a@example..com",             /* empty inner label */
		"a@example.com.",             /* trailing dot in domain */
		"a b@example.com",            /* space */
		"a\"b@example.com",           /* quote */
		"a@exa_mple.com",             /* underscore in domain */
		"a@exam ple.com",
		"j\xc3\xbcrgen@example.com",  /* non-ASCII */
		"a@\xc3\xbc.com",
		"a(b)@example.com",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!validate_email(bad[i]), "email \"%s\" accepted", bad[i]);
}
END_TEST

START_TEST(test_email_length_bounds)
{
	char buf[400];
	char *l64 = repeat('l', 64), *l65 = repeat('l', 65);
	char *lab63 = repeat('d', 63), *lab64 = repeat('d', 64);

	/* Local part: 64 ok, 65 refused. */
	snprintf(buf, sizeof(buf), "%s@example.com", l64);
	ck_assert(validate_email(buf));
	snprintf(buf, sizeof(buf), "%s@example.com", l65);
	ck_assert(!validate_email(buf));
	/* Label: 63 ok, 64 refused. */
	snprintf(buf, sizeof(buf), "a@%s.com", lab63);
	ck_assert(validate_email(buf));
	snprintf(buf, sizeof(buf), "a@%s.com", lab64);
	ck_assert(!validate_email(buf));
	/* Whole address: 254 ok, 255 refused (labels of 63 + dots). */
	snprintf(buf, sizeof(buf), "%s@%s.%s.%.*s", l64, lab63, lab63, 254 - 64 - 1 - 63 - 1 - 63 - 1,
		 lab63);
	ck_assert_uint_eq(strlen(buf), 254);
	ck_assert(validate_email(buf));
	snprintf(buf, sizeof(buf), "%s@%s.%s.%.*s", l64, lab63, lab63, 254 - 64 - 1 - 63 - 1 - 63,
		 lab63);
	ck_assert_uint_eq(strlen(buf), 255);
	ck_assert(!validate_email(buf));
	free(l64);
	free(l65);
	free(lab63);
	free(lab64);
}
END_TEST

/* --- phone ---------------------------------------------------------------- */

START_TEST(test_phone_good_shapes)
{
	static const char *const good[] = {
		"12345", "+49 30 1234567", "(030) 123-4567", "+1.555.123.4567",
		"123456789012345", "+123456789012345", "0 1 2 3 4",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(validate_phone(good[i]), "phone %s refused", good[i]);
}
END_TEST

START_TEST(test_phone_digit_count_bounds)
{
	ck_assert(!validate_phone("1234"));                 /* 4 digits */
	ck_assert(validate_phone("12345"));                 /* 5 */
	ck_assert(!validate_phone("+1-2-3-4"));             /* separators do not count */
	ck_assert(validate_phone("123456789012345"));       /* 15 */
	ck_assert(!validate_phone("1234567890123456"));     /* 16 */
	ck_assert(!validate_phone("+ (1 2 3 4) - . "));
	ck_assert(!validate_phone(""));
	ck_assert(!validate_phone("+"));
	/* Length bound: 32 characters ok, 33 refused, whatever the digit count. */
	ck_assert(validate_phone("+1 (234) 567-89-01 .. -- () ()  "));
	ck_assert_uint_eq(strlen("+1 (234) 567-89-01 .. -- () ()  "), 32);
	ck_assert(!validate_phone("+1 (234) 567-89-01 .. -- () ()   "));
}
END_TEST

START_TEST(test_phone_letters_and_other_characters_refused)
{
	static const char *const bad[] = {
		"12345a", "1-800-FLOWERS", "12345 ext 6", "12345#", "12345/6", "12345\t",
		"12345\n", "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x95",
		"12_345",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!validate_phone(bad[i]), "phone \"%s\" accepted", bad[i]);
}
END_TEST

START_TEST(test_phone_plus_only_first)
{
	ck_assert(validate_phone("+4930123456"));
	ck_assert(!validate_phone("49+30123456"));
	ck_assert(!validate_phone("4930123456+"));
	ck_assert(!validate_phone("++4930123456"));
	ck_assert(!validate_phone(" +4930123456"));
}
END_TEST

/* --- text ----------------------------------------------------------------- */

START_TEST(test_text_plain_and_multibyte_accepted)
{
	ck_assert(validate_text("", 10, false));
	ck_assert(validate_text("Acme Corp.", 100, false));
	ck_assert(validate_text("Z\xc3\xbcrich", 100, false));              /* Zürich */
	ck_assert(validate_text("\xe6\x9d\xb1\xe4\xba\xac", 100, false));  /* 東京 */
	ck_assert(validate_text("\xf0\x9f\x98\x80", 100, false));          /* U+1F600 */
	ck_assert(validate_text("\xf4\x8f\xbf\xbf", 100, false));          /* U+10FFFF */
	ck_assert(validate_text("\xc2\xa0", 100, false));                  /* U+00A0, first after C1 */
	ck_assert(validate_text("\xed\x9f\xbf", 100, false));              /* U+D7FF */
	ck_assert(validate_text("\xee\x80\x80", 100, false));              /* U+E000 */
	ck_assert(validate_text("~", 100, false));
}
END_TEST

START_TEST(test_text_control_characters_refused)
{
	char s[4];

	for (int c = 1; c < 0x20; c++) {
		s[0] = 'a';
		s[1] = (char)c;
		s[2] = 'b';
		s[3] = '\0';
		ck_assert_msg(!validate_text(s, 100, false), "control 0x%02x accepted", c);
		if (c != '\t' && c != '\n' && c != '\r')
			ck_assert_msg(!validate_text(s, 100, true),
				      "control 0x%02x accepted in multiline", c);
	}
	ck_assert(!validate_text("a\x7f" "b", 100, false));     /* DEL */
	ck_assert(!validate_text("a\x7f" "b", 100, true));
	ck_assert(!validate_text("\x1b[31mred", 100, true));    /* ESC */
}
END_TEST

START_TEST(test_text_tab_and_newlines_only_when_multiline)
{
	ck_assert(!validate_text("a\tb", 100, false));
	ck_assert(!validate_text("a\nb", 100, false));
	ck_assert(!validate_text("a\r\nb", 100, false));
	ck_assert(validate_text("a\tb", 100, true));
	ck_assert(validate_text("line 1\nline 2\r\n", 100, true));
}
END_TEST

START_TEST(test_text_bad_utf8_refused)
{
	static const char *const bad[] = {
		"\xc2\x85",             /* U+0085 NEL, a C1 control */
		"\xc2\x80",             /* U+0080 */
		"\xc2\x9f",             /* U+009F */
		"\xc0\xaf",             /* overlong '/' */
		"\xc1\xbf",             /* overlong */
		"\xe0\x80\xaf",         /* overlong, 3 bytes */
		"\xe0\x9f\xbf",         /* overlong U+07FF */
		"\xf0\x80\x80\xaf",     /* overlong, 4 bytes */
		"\xf0\x8f\xbf\xbf",     /* overlong U+FFFF */
		"\xed\xa0\x80",         /* U+D800 surrogate */
		"\xed\xbf\xbf",         /* U+DFFF surrogate */
		"\xf4\x90\x80\x80",     /* U+110000 */
		"\xf5\x80\x80\x80",
		"\xf8\x88\x80\x80\x80",
		"\xff",
		"\x80",                 /* lone continuation */
		"a\xbf" "b",
		"\xc3",                 /* truncated at end */
		"\xe6\x9d",
		"\xf0\x9f\x98",
		"\xc3(",                /* continuation missing */
		"\xe6\x9d(",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!validate_text(bad[i], 100, false), "bad UTF-8 #%zu accepted", i);
		ck_assert_msg(!validate_text(bad[i], 100, true), "bad UTF-8 #%zu accepted (ml)", i);
	}
}
END_TEST

START_TEST(test_text_length_bound_in_bytes)
{
	char *s200 = repeat('a', 200), *s201 = repeat('a', 201);

	ck_assert(validate_text(s200, 200, false));
	ck_assert(!validate_text(s201, 200, false));
	/* Bytes, not characters: "ü" is two. */
	ck_assert(validate_text("\xc3\xbc\xc3\xbc", 4, false));
	ck_assert(!validate_text("\xc3\xbc\xc3\xbc", 3, false));
	ck_assert(validate_text("", 0, false));
	ck_assert(!validate_text("a", 0, false));
	free(s200);
	free(s201);
}
END_TEST

/* --- validate_client_input -------------------------------------------------- */

START_TEST(test_input_create_minimal_and_full)
{
	expect_input("{\"name\":\"Acme\",\"kind\":\"bank\"}", false, "client", true, NULL);
	expect_input("{\"name\":\"Z\xc3\xbcrich Polizei\",\"kind\":\"police\",\"country\":\"CH\","
		     "\"contact_name\":\"Anna M\xc3\xbcller\",\"contact_email\":\"anna@example.ch\","
		     "\"contact_phone\":\"+41 44 123 45 67\",\"tier\":\"gold\","
		     "\"notes\":\"line 1\\nline 2\\twith tab\",\"status\":\"suspended\"}",
		     false, "client", true, NULL);
}
END_TEST

START_TEST(test_input_create_requires_name_and_kind)
{
	expect_input("{\"kind\":\"bank\"}", false, "client", false, "client.name");
	expect_input("{\"name\":\"Acme\"}", false, "client", false, "client.kind");
	expect_input("{\"name\":null,\"kind\":\"bank\"}", false, "client", false, "client.name");
	expect_input("{\"name\":\"Acme\",\"kind\":null}", false, "client", false, "client.kind");
	expect_input("{}", false, "client", false, NULL);
}
END_TEST

START_TEST(test_input_empty_or_blank_name_refused)
{
	expect_input("{\"name\":\"\",\"kind\":\"bank\"}", false, "client", false, "client.name");
	expect_input("{\"name\":\"   \",\"kind\":\"bank\"}", false, "client", false, "client.name");
	expect_input("{\"name\":\"\"}", true, "changes", false, "changes.name");
	expect_input("{\"name\":\" \"}", true, "changes", false, "changes.name");
	/* Enums cannot be emptied either. */
	expect_input("{\"kind\":\"\"}", true, "changes", false, "changes.kind");
	expect_input("{\"status\":\"\"}", true, "changes", false, "changes.status");
	expect_input("{\"name\":\"Acme\",\"kind\":\"bank\",\"status\":\"\"}", false, "client",
		     false, "client.status");
}
END_TEST

START_TEST(test_input_empty_string_for_optional_ok)
{
	expect_input("{\"name\":\"Acme\",\"kind\":\"bank\",\"country\":\"\",\"contact_name\":\"\","
		     "\"contact_email\":\"\",\"contact_phone\":\"\",\"tier\":\"\",\"notes\":\"\"}",
		     false, "client", true, NULL);
	expect_input("{\"contact_email\":\"\"}", true, "changes", true, NULL);
	expect_input("{\"country\":\"\"}", true, "changes", true, NULL);
}
END_TEST

START_TEST(test_input_partial_needs_at_least_one_field)
{
	expect_input("{}", true, "changes", false, "changes");
	/* null is "not given", so only nulls is no change at all. */
	expect_input("{\"name\":null,\"tier\":null}", true, "changes", false, "changes");
	expect_input("{\"tier\":\"silver\"}", true, "changes", true, NULL);
	expect_input("{\"status\":\"closed\"}", true, "changes", true, NULL);
}
END_TEST

START_TEST(test_input_unknown_field_reported_with_prefix)
{
	expect_input("{\"name\":\"Acme\",\"kind\":\"bank\",\"foo\":\"x\"}", false, "client", false,
		     "client.foo");
	expect_input("{\"foo\":\"x\"}", true, "changes", false, "changes.foo");
	/* Fields the store owns are not input. */
	expect_input("{\"id\":\"00112233445566778899aabbccddeeff\"}", true, "changes", false,
		     "changes.id");
	expect_input("{\"version\":\"2\"}", true, "changes", false, "changes.version");
	/* Near misses of real names. */
	expect_input("{\"Name\":\"Acme\",\"kind\":\"bank\"}", false, "client", false, "client.Name");
	expect_input("{\"contactEmail\":\"a@b.cd\"}", true, "changes", false, "changes.contactEmail");
}
END_TEST

START_TEST(test_input_long_unknown_field_not_echoed)
{
	char *key = repeat('k', 200);
	json_t *j = json_pack("{s:s, s:s, s:s}", "name", "Acme", "kind", "bank", key, "x");
	char bad[VALIDATE_NAME_MAX];

	ck_assert(!validate_client_input(j, false, "client", bad));
	ck_assert_ptr_null(strstr(bad, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"));
	ck_assert_uint_lt(strlen(bad), VALIDATE_NAME_MAX);
	ck_assert_str_eq(bad, "client.(unknown)");
	json_decref(j);
	free(key);
}
END_TEST

START_TEST(test_input_wrong_type_refused)
{
	expect_input("{\"name\":42,\"kind\":\"bank\"}", false, "client", false, "client.name");
	expect_input("{\"name\":\"Acme\",\"kind\":[\"bank\"]}", false, "client", false, "client.kind");
	expect_input("{\"tier\":1}", true, "changes", false, "changes.tier");
	expect_input("{\"notes\":{\"a\":\"b\"}}", true, "changes", false, "changes.notes");
	expect_input("{\"country\":true}", true, "changes", false, "changes.country");
	expect_input("{\"contact_phone\":4930123456}", true, "changes", false,
		     "changes.contact_phone");
}
END_TEST

START_TEST(test_input_not_an_object_refused)
{
	char bad[VALIDATE_NAME_MAX];
	json_t *a = json_array(), *s = json_string("x");

	ck_assert(!validate_client_input(a, false, "client", bad));
	ck_assert_str_eq(bad, "client");
	ck_assert(!validate_client_input(s, true, "changes", bad));
	ck_assert_str_eq(bad, "changes");
	ck_assert(!validate_client_input(NULL, true, "changes", bad));
	ck_assert_str_eq(bad, "changes");
	json_decref(a);
	json_decref(s);
}
END_TEST

START_TEST(test_input_field_rules_applied_and_named)
{
	expect_input("{\"contact_email\":\"not-an-address\"}", true, "changes", false,
		     "changes.contact_email");
	expect_input("{\"name\":\"Acme\",\"kind\":\"bank\",\"contact_email\":\"a@localhost\"}",
		     false, "client", false, "client.contact_email");
	expect_input("{\"country\":\"de\"}", true, "changes", false, "changes.country");
	expect_input("{\"country\":\"XX\"}", true, "changes", false, "changes.country");
	expect_input("{\"contact_phone\":\"call me\"}", true, "changes", false,
		     "changes.contact_phone");
	expect_input("{\"kind\":\"pirates\"}", true, "changes", false, "changes.kind");
	expect_input("{\"status\":\"deleted\"}", true, "changes", false, "changes.status");
	/* Control characters and bad UTF-8 in free text. */
	expect_input("{\"name\":\"Ac\\u0007me\",\"kind\":\"bank\"}", false, "client", false,
		     "client.name");
	expect_input("{\"contact_name\":\"a\\nb\"}", true, "changes", false, "changes.contact_name");
	expect_input("{\"tier\":\"gold\\u0085\"}", true, "changes", false, "changes.tier");
	expect_input("{\"notes\":\"ok\\nok\\tok\"}", true, "changes", true, NULL);
	expect_input("{\"notes\":\"bell\\u0007\"}", true, "changes", false, "changes.notes");
	/* Without a prefix, the bare field name. */
	expect_input("{\"country\":\"XX\"}", true, NULL, false, "country");
}
END_TEST

START_TEST(test_input_embedded_nul_refused)
{
	char bad[VALIDATE_NAME_MAX];
	json_t *j = json_object();

	json_object_set_new(j, "name", json_stringn("Acme\0evil", 9));
	json_object_set_new(j, "kind", json_string("bank"));
	ck_assert(!validate_client_input(j, false, "client", bad));
	ck_assert_str_eq(bad, "client.name");
	json_decref(j);
}
END_TEST

START_TEST(test_input_length_limits)
{
	static const struct {
		const char *field;
		size_t max;
	} lim[] = {
		{ "name", CLIENT_NAME_MAX },
		{ "contact_name", CLIENT_CONTACT_NAME_MAX },
		{ "tier", CLIENT_TIER_MAX },
		{ "notes", CLIENT_NOTES_MAX },
	};

	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		char bad[VALIDATE_NAME_MAX], want[VALIDATE_NAME_MAX];
		char *at = repeat('x', lim[i].max), *over = repeat('x', lim[i].max + 1);
		json_t *j;

		j = json_pack("{s:s}", lim[i].field, at);
		ck_assert_msg(validate_client_input(j, true, "changes", bad),
			      "%s of %zu bytes refused", lim[i].field, lim[i].max);
		json_decref(j);
		j = json_pack("{s:s}", lim[i].field, over);
		ck_assert_msg(!validate_client_input(j, true, "changes", bad),
			      "%s of %zu bytes accepted", lim[i].field, lim[i].max + 1);
		snprintf(want, sizeof(want), "changes.%s", lim[i].field);
		ck_assert_str_eq(bad, want);
		json_decref(j);
		free(at);
		free(over);
	}
}
END_TEST

/* --- validate_params -------------------------------------------------------- */

static const char *const update_spec[] = { "id:s", "changes:o", "version:i" };
static const char *const list_spec[] = { "?after:s", "?limit:i" };
static const char *const mixed_spec[] = { "flag:b", "?opt:b", "name:s" };

START_TEST(test_params_all_present_ok)
{
	expect_params("{\"id\":\"abc\",\"changes\":{},\"version\":3}", update_spec, 3, true, NULL);
	expect_params("{\"after\":\"x\",\"limit\":10}", list_spec, 2, true, NULL);
	expect_params("{}", list_spec, 2, true, NULL);
	expect_params("{\"flag\":false,\"name\":\"n\"}", mixed_spec, 3, true, NULL);
	expect_params("{}", NULL, 0, true, NULL);
}
END_TEST

START_TEST(test_params_unknown_member_refused)
{
	expect_params("{\"id\":\"abc\",\"changes\":{},\"version\":3,\"force\":true}", update_spec, 3,
		      false, "force");
	expect_params("{\"limit\":10,\"offset\":5}", list_spec, 2, false, "offset");
	expect_params("{\"x\":1}", NULL, 0, false, "x");
	/* A prefix or extension of a known name is not that name. */
	expect_params("{\"lim\":10}", list_spec, 2, false, "lim");
	expect_params("{\"limits\":10}", list_spec, 2, false, "limits");
	expect_params("{\"?limit\":10}", list_spec, 2, false, "?limit");
}
END_TEST

START_TEST(test_params_missing_required_refused)
{
	expect_params("{\"changes\":{},\"version\":3}", update_spec, 3, false, "id");
	expect_params("{\"id\":\"a\",\"version\":3}", update_spec, 3, false, "changes");
	expect_params("{\"id\":\"a\",\"changes\":{}}", update_spec, 3, false, "version");
	/* null for a required member is not a value. */
	expect_params("{\"id\":null,\"changes\":{},\"version\":3}", update_spec, 3, false, "id");
}
END_TEST

START_TEST(test_params_wrong_type_refused)
{
	expect_params("{\"id\":1,\"changes\":{},\"version\":3}", update_spec, 3, false, "id");
	expect_params("{\"id\":\"a\",\"changes\":[],\"version\":3}", update_spec, 3, false, "changes");
	expect_params("{\"id\":\"a\",\"changes\":{},\"version\":\"3\"}", update_spec, 3, false,
		      "version");
	expect_params("{\"id\":\"a\",\"changes\":{},\"version\":3.0}", update_spec, 3, false,
		      "version");
	expect_params("{\"limit\":true}", list_spec, 2, false, "limit");
	expect_params("{\"flag\":1,\"name\":\"n\"}", mixed_spec, 3, false, "flag");
	expect_params("{\"flag\":true,\"opt\":\"yes\",\"name\":\"n\"}", mixed_spec, 3, false, "opt");
}
END_TEST

START_TEST(test_params_optional_null_ok)
{
	expect_params("{\"after\":null,\"limit\":null}", list_spec, 2, true, NULL);
	expect_params("{\"flag\":true,\"opt\":null,\"name\":\"n\"}", mixed_spec, 3, true, NULL);
}
END_TEST

START_TEST(test_params_null_params)
{
	/* No parameters at all: fine if nothing is required. */
	expect_params(NULL, list_spec, 2, true, NULL);
	expect_params(NULL, NULL, 0, true, NULL);
	expect_params(NULL, update_spec, 3, false, "id");
}
END_TEST

START_TEST(test_params_not_an_object_refused)
{
	char bad[VALIDATE_NAME_MAX];
	json_t *a = json_array();

	ck_assert(!validate_params(a, list_spec, 2, bad));
	ck_assert_str_eq(bad, "parameters");
	json_decref(a);
}
END_TEST

START_TEST(test_params_long_unknown_member_not_echoed)
{
	char *key = repeat('q', 300);
	json_t *j = json_pack("{s:i}", key, 1);
	char bad[VALIDATE_NAME_MAX];

	ck_assert(!validate_params(j, list_spec, 2, bad));
	ck_assert_uint_lt(strlen(bad), 32);
	ck_assert_ptr_null(strstr(bad, "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"));
	json_decref(j);
	free(key);
}
END_TEST

static Suite *validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc;

	tc = tcase_create("rules");
	tcase_add_test(tc, test_kind_accepts_exactly_the_listed_kinds);
	tcase_add_test(tc, test_status_accepts_exactly_the_listed_statuses);
	tcase_add_test(tc, test_country_valid_codes);
	tcase_add_test(tc, test_country_invalid_codes);
	tcase_add_test(tc, test_email_good_shapes);
	tcase_add_test(tc, test_email_bad_shapes);
	tcase_add_test(tc, test_email_length_bounds);
	tcase_add_test(tc, test_phone_good_shapes);
	tcase_add_test(tc, test_phone_digit_count_bounds);
	tcase_add_test(tc, test_phone_letters_and_other_characters_refused);
	tcase_add_test(tc, test_phone_plus_only_first);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_add_test(tc, test_text_plain_and_multibyte_accepted);
	tcase_add_test(tc, test_text_control_characters_refused);
	tcase_add_test(tc, test_text_tab_and_newlines_only_when_multiline);
	tcase_add_test(tc, test_text_bad_utf8_refused);
	tcase_add_test(tc, test_text_length_bound_in_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("client_input");
	tcase_add_test(tc, test_input_create_minimal_and_full);
	tcase_add_test(tc, test_input_create_requires_name_and_kind);
	tcase_add_test(tc, test_input_empty_or_blank_name_refused);
	tcase_add_test(tc, test_input_empty_string_for_optional_ok);
	tcase_add_test(tc, test_input_partial_needs_at_least_one_field);
	tcase_add_test(tc, test_input_unknown_field_reported_with_prefix);
	tcase_add_test(tc, test_input_long_unknown_field_not_echoed);
	tcase_add_test(tc, test_input_wrong_type_refused);
	tcase_add_test(tc, test_input_not_an_object_refused);
	tcase_add_test(tc, test_input_field_rules_applied_and_named);
	tcase_add_test(tc, test_input_embedded_nul_refused);
	tcase_add_test(tc, test_input_length_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("params");
	tcase_add_test(tc, test_params_all_present_ok);
	tcase_add_test(tc, test_params_unknown_member_refused);
	tcase_add_test(tc, test_params_missing_required_refused);
	tcase_add_test(tc, test_params_wrong_type_refused);
	tcase_add_test(tc, test_params_optional_null_ok);
	tcase_add_test(tc, test_params_null_params);
	tcase_add_test(tc, test_params_not_an_object_refused);
	tcase_add_test(tc, test_params_long_unknown_member_not_echoed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(validate_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
