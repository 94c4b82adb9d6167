/*
 * Unit tests of the mount-table reader: paths made absolute where they
 * cannot be resolved (a dead FUSE mount cannot be entered), and lookups in
 * this machine's own /proc/self/mountinfo.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mountinfo.h"

START_TEST(abspath_resolves_what_exists)
{
	char out[PATH_MAX], cwd[PATH_MAX], want[PATH_MAX + 16];

	ck_assert_int_eq(mountinfo_abspath("/", out), 0);
	ck_assert_str_eq(out, "/");
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(mountinfo_abspath(".", out), 0);
	ck_assert_str_eq(out, cwd);
	/* Components that do not exist are taken as written. */
	ck_assert_int_eq(mountinfo_abspath("no/such/./dir/../file", out), 0);
	snprintf(want, sizeof(want), "%s/no/such/file", strcmp(cwd, "/") ? cwd : "");
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(mountinfo_abspath("/no-such-dir-jcfs/x/..//y/", out), 0);
	ck_assert_str_eq(out, "/no-such-dir-jcfs/y");
	ck_assert_int_eq(mountinfo_abspath("/..", out), 0);
	ck_assert_str_eq(out, "/");
}
END_TEST

START_TEST(finds_mounts)
{
	struct mountinfo m;

	ck_assert_int_eq(mountinfo_at("/", &m), 1);
	ck_assert_str_eq(m.target, "/");
	ck_assert_int_eq(mountinfo_holding("/proc/self/status", &m), 1);
	ck_assert_str_eq(m.target, "/proc");
	ck_assert_str_eq(m.fstype, "proc");
	ck_assert_int_eq(m.rdonly, 0);
	/* sysfs is mounted read-only in containers; proc's sys is, often. */
	if (mountinfo_at("/sys", &m) == 1)
		ck_assert_int_eq(m.rdonly, access("/sys", W_OK) != 0 && errno == EROFS);
	ck_assert_int_eq(mountinfo_is_jcfs(&m), 0);
	ck_assert_int_eq(mountinfo_at("/no-such-dir-jcfs", &m), 0);
	/* A prefix of a name is not a parent directory. */
	ck_assert_int_eq(mountinfo_holding("/procfoo/x", &m), 1);
	ck_assert_str_ne(m.target, "/proc");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mountinfo");
	TCase *tc = tcase_create("mountinfo");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, abspath_resolves_what_exists);
	tcase_add_test(tc, finds_mounts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
