/*
 * Unit tests of the one mapping from what a function returns to the exit
 * status of its command (fs/status.c): the statuses are an interface
 * (README, man page, docs/TPM.md), so each project error code is pinned
 * to its documented status here, every code has one, and no errno is
 * ever taken for a code.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "jcfs_err.h"
#include "status.h"

START_TEST(documented_statuses)
{
	static const struct { int err, status; } want[] = {
		{ JCFS_E_USAGE, 2 }, { JCFS_E_NO_KEY, 3 }, { JCFS_E_WRONG_KEY, 4 },
		{ JCFS_E_NEED_ADOPT, 5 }, { JCFS_E_BAD_DESC, 6 }, { JCFS_E_BUSY, 7 },
		{ JCFS_E_NOT_STRICT, 8 }, { JCFS_E_MOUNTPOINT, 9 },
		{ JCFS_E_TPM_PASSWORD, 10 }, { JCFS_E_TPM_PCR, 11 }, { JCFS_E_TPM_LOCKOUT, 12 },
		{ JCFS_E_TPM_UNREACHABLE, 13 }, { JCFS_E_TPM_CLEARED, 14 }, { JCFS_E_TPM_CORRUPT, 15 },
		{ JCFS_E_TPM_KEYCHECK, 16 }, { JCFS_E_TPM_MISSING, 17 }, { JCFS_E_TPM_FILE, 18 },
		{ JCFS_E_TPM_OTHER, 19 }, { JCFS_E_WEAK_KEY, 20 },
	};

	ck_assert_int_eq(status_of_error(0), EXIT_OK);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(status_of_error(want[i].err) == want[i].status, "code %d: status %d, want %d",
			      want[i].err, status_of_error(want[i].err), want[i].status);
}
END_TEST

/* A code added to jcfs_err.h without its line in the table would exit 1
 * in silence. */
START_TEST(every_code_has_a_status)
{
	for (int rc = -(JCFS_E_BASE + 1); rc >= JCFS_E_LAST; rc--)
		ck_assert_msg(status_of_error(rc) > EXIT_FAIL, "code %d has no exit status", rc);
}
END_TEST

START_TEST(errnos_fail)
{
	/* Linux's errnos end at 4095 (MAX_ERRNO): all below the codes. */
	for (int e = 1; e <= 4095; e++)
		ck_assert_int_eq(status_of_error(-e), EXIT_FAIL);
	ck_assert_int_eq(status_of_error(-ENOKEY), EXIT_FAIL);
	ck_assert_int_eq(status_of_error(-EBUSY), EXIT_FAIL);
	ck_assert_int_eq(status_of_error(JCFS_E_LAST - 1), EXIT_FAIL);
	ck_assert_int_eq(status_of_error(1), EXIT_FAIL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("status");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, documented_statuses);
	tcase_add_test(tc, every_code_has_a_status);
	tcase_add_test(tc, errnos_fail);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
