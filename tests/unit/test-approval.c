/*
 * test-approval.c: unit tests for daemon/approval.c, the table behind the
 * two-person rule: a request is approved only from another uid, used only
 * by its requester, once, within the window; the table stays bounded; a
 * seal forgets everything.
 */
#include "config.h"

#include <string.h>

#include <check.h>

#include "daemon/approval.h"

#define WINDOW_S 60
#define SEC 1000000LL
#define T0 (1700000000LL * SEC)

static struct approvals t;

static void setup(void)
{
	approvals_init(&t, WINDOW_S);
}

/* A request by alice (uid 1001), approved by bob (uid 1002) at T0 + 1 s. */
static struct approval *approved(void)
{
	struct approval *a = NULL, *b = NULL;

	ck_assert_int_eq(approvals_request(&t, "alice", 1001, T0, &a), APPROVAL_OK);
	ck_assert_int_eq(approvals_approve(&t, a->id, "bob", 1002, T0 + SEC, &b), APPROVAL_OK);
	ck_assert_ptr_eq(a, b);
	return a;
}

START_TEST(test_request_is_pending_with_a_fresh_id)
{
	struct approval *a = NULL, *b = NULL, *u = NULL;

	ck_assert_int_eq(approvals_request(&t, "alice", 1001, T0, &a), APPROVAL_OK);
	ck_assert_int_eq(approvals_request(&t, "alice", 1001, T0, &b), APPROVAL_OK);
	ck_assert_int_eq(a->state, APPROVAL_PENDING);
	ck_assert(id_valid(a->id));
	ck_assert_str_ne(a->id, b->id);
	ck_assert_str_eq(a->requester, "alice");
	ck_assert_int_eq(approvals_usable(&t, a->id, "alice", 1001, T0, &u), APPROVAL_E_PENDING);
}
END_TEST

START_TEST(test_self_approval_refused)
{
	struct approval *a = NULL, *b = NULL;

	ck_assert_int_eq(approvals_request(&t, "alice", 1001, T0, &a), APPROVAL_OK);
	ck_assert_int_eq(approvals_approve(&t, a->id, "alice", 1001, T0, &b), APPROVAL_E_SELF);
	/* Another principal on the same uid is the same person to the kernel. */
	ck_assert_int_eq(approvals_approve(&t, a->id, "alice-token", 1001, T0, &b), APPROVAL_E_SELF);
	ck_assert_int_eq(a->state, APPROVAL_PENDING);
}
END_TEST

START_TEST(test_approve_once)
{
	struct approval *a = approved(), *b = NULL;

	ck_assert_int_eq(a->state, APPROVAL_APPROVED);
	ck_assert_str_eq(a->approver, "bob");
	ck_assert_int_eq(approvals_approve(&t, a->id, "carol", 1003, T0 + 2 * SEC, &b), APPROVAL_E_USED);
}
END_TEST

START_TEST(test_only_the_requester_may_use_it)
{
	struct approval *a = approved(), *u = NULL;

	ck_assert_int_eq(approvals_usable(&t, a->id, "bob", 1002, T0 + 2 * SEC, &u),
			 APPROVAL_E_NOTYOURS);
	/* The right name from the wrong uid, or the wrong name from the right uid. */
	ck_assert_int_eq(approvals_usable(&t, a->id, "alice", 1003, T0 + 2 * SEC, &u),
			 APPROVAL_E_NOTYOURS);
	ck_assert_int_eq(approvals_usable(&t, a->id, "mallory", 1001, T0 + 2 * SEC, &u),
			 APPROVAL_E_NOTYOURS);
	ck_assert_int_eq(approvals_usable(&t, a->id, "alice", 1001, T0 + 2 * SEC, &u), APPROVAL_OK);
	ck_assert_ptr_eq(u, a);
}
END_TEST

START_TEST(test_used_and_expired)
{
	struct approval *a = approved(), *u = NULL;

	/* Valid for the window after the approval, not after the request. */
	ck_assert_int_eq(approvals_usable(&t, a->id, "alice", 1001, T0 + WINDOW_S * SEC, &u),
			 APPROVAL_OK);
	ck_assert_int_eq(approvals_usable(&t, a->id, "alice", 1001, T0 + (WINDOW_S + 1) * SEC, &u),
			 APPROVAL_E_EXPIRED);
	a->state = APPROVAL_USED;
	ck_assert_int_eq(approvals_usable(&t, a->id, "alice", 1001, T0 + 2 * SEC, &u),
			 APPROVAL_E_USED);
}
END_TEST

START_TEST(test_unapproved_request_lapses)
{
	struct approval *a = NULL, *b = NULL;

	ck_assert_int_eq(approvals_request(&t, "alice", 1001, T0, &a), APPROVAL_OK);
	ck_assert_int_eq(approvals_approve(&t, a->id, "bob", 1002, T0 + WINDOW_S * SEC, &b),
			 APPROVAL_E_EXPIRED);
	ck_assert_int_eq(a->state, APPROVAL_PENDING);
}
END_TEST

START_TEST(test_unknown_id)
{
	struct approval *u = NULL;

	ck_assert_int_eq(approvals_approve(&t, "00000000000000000000000000000000", "bob", 1002, T0, &u),
			 APPROVAL_E_NOTFOUND);
	ck_assert_int_eq(approvals_usable(&t, "00000000000000000000000000000000", "bob", 1002, T0, &u),
			 APPROVAL_E_NOTFOUND);
}
END_TEST

START_TEST(test_bounded_per_uid_and_in_all)
{
	struct approval *a = NULL;
	uid_t uid = 2000;
	int n = 0;

	for (int i = 0; i < APPROVAL_LIVE_PER_UID; i++)
		ck_assert_int_eq(approvals_request(&t, "alice", 1001, T0, &a), APPROVAL_OK);
	ck_assert_int_eq(approvals_request(&t, "alice", 1001, T0, &a), APPROVAL_E_TOOMANY);
	while (approvals_request(&t, "x", uid++, T0, &a) == APPROVAL_OK)
		n++;
	ck_assert_int_eq(n + APPROVAL_LIVE_PER_UID, APPROVAL_LIVE_MAX);
	/* Once the window has passed, their slots are taken again, for as long as the process lives. */
	for (int i = 0; i < 3 * APPROVAL_SLOTS; i++)
		ck_assert_int_eq(approvals_request(&t, "y", 3000,
						   T0 + (i + 1) * (WINDOW_S + 1) * SEC, &a), APPROVAL_OK);
}
END_TEST

START_TEST(test_clear_forgets_everything)
{
	struct approval *a = approved(), *u = NULL;
	char id[ID_HEX_LEN + 1];

	memcpy(id, a->id, sizeof(id));
	approvals_clear(&t);
	ck_assert_int_eq(approvals_usable(&t, id, "alice", 1001, T0 + 2 * SEC, &u),
			 APPROVAL_E_NOTFOUND);
	ck_assert_int_eq(t.window_us, WINDOW_S * SEC);
}
END_TEST

START_TEST(test_window_default_and_bounds)
{
	approvals_init(&t, 0);
	ck_assert_int_eq(t.window_us, APPROVAL_WINDOW_DEFAULT * SEC);
	approvals_init(&t, APPROVAL_WINDOW_MAX + 1);
	ck_assert_int_eq(t.window_us, APPROVAL_WINDOW_DEFAULT * SEC);
	approvals_init(&t, 5);
	ck_assert_int_eq(t.window_us, 5 * SEC);
}
END_TEST

static Suite *approval_suite(void)
{
	Suite *s = suite_create("approval");
	TCase *tc = tcase_create("rule");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_request_is_pending_with_a_fresh_id);
	tcase_add_test(tc, test_self_approval_refused);
	tcase_add_test(tc, test_approve_once);
	tcase_add_test(tc, test_only_the_requester_may_use_it);
	tcase_add_test(tc, test_used_and_expired);
	tcase_add_test(tc, test_unapproved_request_lapses);
	tcase_add_test(tc, test_unknown_id);
	tcase_add_test(tc, test_bounded_per_uid_and_in_all);
	tcase_add_test(tc, test_clear_forgets_everything);
	tcase_add_test(tc, test_window_default_and_bounds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(approval_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
