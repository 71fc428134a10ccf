/*
 * test-dispatch.c: unit tests for the method table in daemon/dispatch.c.
 *
 * The interface descriptions compiled into rosterd (embedded_interfaces) and
 * the method table must agree both ways: every declared method has an entry,
 * every entry is declared. The flags must also keep the security rules:
 * only Status and the org.varlink.service introspection methods are public
 * or need no capability, and the methods whose parameters carry a
 * passphrase are marked sensitive.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "daemon/dispatch.h"
#include "daemon/embedded.h"

#define MAX_DECLARED 128
#define WORD_MAX 80
#define NAME_MAX_LEN (2 * WORD_MAX + 2)

struct declared {
	char name[MAX_DECLARED][NAME_MAX_LEN];   /* "INTERFACE.Method" */
	size_t n;
};

/* Copy the word at p (up to whitespace or one of stop) into out. */
static size_t word(const char *p, const char *stop, char *out, size_t size)
{
	size_t n = 0;

	while (p[n] != '\0' && p[n] != ' ' && p[n] != '\t' && p[n] != '\n' &&
	       strchr(stop, p[n]) == NULL) {
		ck_assert_uint_lt(n + 1, size);
		out[n] = p[n];
		n++;
	}
	out[n] = '\0';
	return n;
}

/*
 * Every "method NAME(" line of every embedded interface text, qualified with
 * the word after "interface " in that text.
 */
static void collect_declared(struct declared *d)
{
	d->n = 0;
	for (const struct embedded_file *f = embedded_interfaces; f->name != NULL; f++) {
		char iface[WORD_MAX] = "";
		const char *line;

		/* The interface name first: it may follow comments. */
		for (line = f->text; line != NULL && *line != '\0';) {
			if (strncmp(line, "interface ", 10) == 0) {
				ck_assert_uint_gt(word(line + 10, "", iface, sizeof(iface)), 0);
				break;
			}
			line = strchr(line, '\n');
			if (line != NULL)
				line++;
		}
		ck_assert_msg(iface[0] != '\0', "embedded interface %s has no interface line",
			      f->name);
		/* The file is named after the interface it describes. */
		ck_assert_str_eq(iface, f->name);

		for (line = f->text; line != NULL && *line != '\0';) {
			if (strncmp(line, "method ", 7) == 0) {
				char m[WORD_MAX];
				size_t n = word(line + 7, "(", m, sizeof(m));

				ck_assert_msg(n > 0 && line[7 + n] == '(',
					      "%s: malformed method line", f->name);
				ck_assert_uint_lt(d->n, MAX_DECLARED);
				snprintf(d->name[d->n], NAME_MAX_LEN, "%s.%s", iface, m);
				d->n++;
			}
			line = strchr(line, '\n');
			if (line != NULL)
				line++;
		}
	}
}

static bool is_declared(const struct declared *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->name[i], name) == 0)
			return true;
	return false;
}

static bool is_public_by_design(const char *name)
{
	/*
	 * Authenticate and WhoAmI grant nothing: they prove or report identity;
	 * the audit public key is no secret.
	 */
	return strcmp(name, "io.roster.Admin.Status") == 0 ||
	       strcmp(name, "io.roster.Admin.Authenticate") == 0 ||
	       strcmp(name, "io.roster.Admin.WhoAmI") == 0 ||
	       strcmp(name, "io.roster.Audit.PublicKey") == 0 ||
	       strncmp(name, "org.varlink.service.", 20) == 0;
}

/* --- tests ---------------------------------------------------------------- */

START_TEST(test_interfaces_are_embedded)
{
	struct declared d;
	bool seen_clients = false, seen_admin = false, seen_service = false;

	collect_declared(&d);
	ck_assert_uint_gt(d.n, 0);
	for (const struct embedded_file *f = embedded_interfaces; f->name != NULL; f++) {
		seen_clients |= strcmp(f->name, "io.roster.Clients") == 0;
		seen_admin |= strcmp(f->name, "io.roster.Admin") == 0;
		seen_service |= strcmp(f->name, "org.varlink.service") == 0;
	}
	ck_assert(seen_clients);
	ck_assert(seen_admin);
	ck_assert(seen_service);
	/* The parser finds what the schema plainly declares. */
	ck_assert(is_declared(&d, "io.roster.Clients.Get"));
	ck_assert(is_declared(&d, "io.roster.Admin.Unseal"));
	ck_assert(is_declared(&d, "org.varlink.service.GetInfo"));
}
END_TEST

START_TEST(test_every_declared_method_has_a_table_entry)
{
	struct declared d;

	collect_declared(&d);
	for (size_t i = 0; i < d.n; i++) {
		const struct method *m = method_lookup(d.name[i]);

		ck_assert_msg(m != NULL, "method %s is declared but has no method_table entry",
			      d.name[i]);
		ck_assert_str_eq(m->name, d.name[i]);
		ck_assert_msg(m->fn != NULL, "method %s has no handler", d.name[i]);
	}
}
END_TEST

START_TEST(test_every_table_entry_is_declared)
{
	struct declared d;
	size_t n = 0;

	collect_declared(&d);
	for (const struct method *m = method_table; m->name != NULL; m++, n++)
		ck_assert_msg(is_declared(&d, m->name),
			      "method_table entry %s is not declared in any interface", m->name);
	/* Both ways: same count, and the table has no duplicates. */
	ck_assert_uint_eq(n, d.n);
	for (const struct method *m = method_table; m->name != NULL; m++)
		ck_assert_ptr_eq(method_lookup(m->name), m);
}
END_TEST

START_TEST(test_lookup_is_exact)
{
	ck_assert_ptr_null(method_lookup(""));
	ck_assert_ptr_null(method_lookup("io.roster.Clients"));
	ck_assert_ptr_null(method_lookup("io.roster.Clients.get"));
	ck_assert_ptr_null(method_lookup("io.roster.Clients.Get "));
	ck_assert_ptr_null(method_lookup("io.roster.Clients.GetX"));
	ck_assert_ptr_null(method_lookup("Get"));
	ck_assert_ptr_null(method_lookup("io.roster.Admin.Status.Extra"));
	ck_assert_ptr_nonnull(method_lookup("io.roster.Clients.Get"));
}
END_TEST

START_TEST(test_only_status_and_introspection_are_public)
{
	for (const struct method *m = method_table; m->name != NULL; m++)
		if (m->flags & M_PUBLIC)
			ck_assert_msg(is_public_by_design(m->name), "%s is M_PUBLIC", m->name);
	ck_assert(method_lookup("io.roster.Admin.Status")->flags & M_PUBLIC);
}
END_TEST

START_TEST(test_only_status_and_introspection_need_no_capability)
{
	for (const struct method *m = method_table; m->name != NULL; m++) {
		if (!is_public_by_design(m->name)) {
			ck_assert_msg(m->cap != CAP_NONE, "%s needs no capability", m->name);
			ck_assert_msg(m->cap > CAP_NONE && m->cap < CAP__MAX,
				      "%s has an out-of-range capability %d", m->name, (int)m->cap);
			ck_assert_ptr_nonnull(cap_name(m->cap));
		}
	}
	ck_assert_ptr_null(cap_name(CAP_NONE));
	ck_assert_ptr_null(cap_name(CAP__MAX));
	for (int c = CAP_NONE + 1; c < CAP__MAX; c++)
		ck_assert_msg(cap_name((enum cap)c) != NULL, "capability %d has no name", c);
}
END_TEST

START_TEST(test_passphrase_methods_are_sensitive)
{
	const struct method *init = method_lookup("io.roster.Admin.Init");
	const struct method *unseal = method_lookup("io.roster.Admin.Unseal");

	ck_assert_ptr_nonnull(init);
	ck_assert_ptr_nonnull(unseal);
	ck_assert(init->flags & M_SENSITIVE);
	ck_assert(unseal->flags & M_SENSITIVE);
	/* And neither may be called by just anybody. */
	ck_assert(!(init->flags & M_PUBLIC));
	ck_assert(!(unseal->flags & M_PUBLIC));
}
END_TEST

START_TEST(test_every_entry_is_answered_in_some_state)
{
	for (const struct method *m = method_table; m->name != NULL; m++) {
		ck_assert_msg(m->flags & M_ANYSTATE, "%s is answered in no state", m->name);
		/* Flags outside the defined set are a typo. */
		ck_assert_msg((m->flags & ~(unsigned)(M_PUBLIC | M_ANYSTATE | M_SENSITIVE)) == 0,
			      "%s has unknown flags 0x%x", m->name, m->flags);
	}
	/* Client data is reachable only while unsealed. */
	for (const struct method *m = method_table; m->name != NULL; m++)
		if (strncmp(m->name, "io.roster.Clients.", 18) == 0)
			ck_assert_msg(m->flags == M_UNSEALED, "%s flags 0x%x", m->name, m->flags);
}
END_TEST

static Suite *dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_test(tc, test_interfaces_are_embedded);
	tcase_add_test(tc, test_every_declared_method_has_a_table_entry);
	tcase_add_test(tc, test_every_table_entry_is_declared);
	tcase_add_test(tc, test_lookup_is_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("flags");
	tcase_add_test(tc, test_only_status_and_introspection_are_public);
	tcase_add_test(tc, test_only_status_and_introspection_need_no_capability);
	tcase_add_test(tc, test_passphrase_methods_are_sensitive);
	tcase_add_test(tc, test_every_entry_is_answered_in_some_state);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dispatch_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
