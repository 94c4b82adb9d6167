/*
 * Unit tests of beneath_open, the one way the offline tools open a
 * path below a backing directory, on a small tree in the build directory:
 * each case both through openat2 and through the component-by-component
 * walk of kernels without it (the test hook forces that), which must agree.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "tool_common.h"

static char root[512];
static int rootfd = -1;

/* TESTTMP/toolpath.PID: d/f, d/e/g, a file outside it, and symlinks
 * (a directory's, a file's, one to the outside) in the tree. */
static void setup(void)
{
	char path[4 * sizeof(root) + 256];

	snprintf(root, sizeof(root), "%s/toolpath.%d", TESTTMP, (int)getpid());
	snprintf(path, sizeof(path), "rm -rf '%s' && mkdir -p '%s/tree/d/e' '%s/outside'", root, root, root);
	ck_assert_int_eq(system(path), 0);
	snprintf(path, sizeof(path),
		 "cd '%s' && echo f >tree/d/f && echo g >tree/d/e/g && echo out >outside/f && "
		 "ln -s d tree/dl && ln -s d/f tree/fl && ln -s ../outside tree/out && ln -s /etc tree/abs", root);
	ck_assert_int_eq(system(path), 0);
	snprintf(path, sizeof(path), "%s/tree", root);
	rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(rootfd, 0);
}

static void teardown(void)
{
	char cmd[sizeof(root) + 32];

	close(rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	(void)!system(cmd);
}

/* The first bytes of what rel opens to, or the negative errno. */
static int read_at(const char *rel, char *buf, size_t len)
{
	int fd = beneath_open(rootfd, rel, O_RDONLY, 0);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = read(fd, buf, len - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return 0;
}

START_TEST(opens_what_is_beneath)
{
	char buf[16];
	int fd;

	ck_assert_int_eq(read_at("d/f", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "f\n");
	ck_assert_int_eq(read_at("d//e/./g", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "g\n");
	fd = beneath_open(rootfd, "d/e/", O_RDONLY | O_DIRECTORY, 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	fd = beneath_open(rootfd, ".", O_RDONLY | O_DIRECTORY, 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	fd = beneath_open(rootfd, "d/new", O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(beneath_open(rootfd, "d/nothing", O_RDONLY, 0), -ENOENT);
	ck_assert_int_eq(beneath_open(rootfd, "d/f/x", O_RDONLY, 0), -ENOTDIR);
}
END_TEST

START_TEST(never_follows_a_symlink)
{
	char buf[16];

	ck_assert_int_eq(read_at("dl/f", buf, sizeof(buf)), -ELOOP);
	ck_assert_int_eq(read_at("fl", buf, sizeof(buf)), -ELOOP);
	ck_assert_int_eq(read_at("out/f", buf, sizeof(buf)), -ELOOP);
	ck_assert_int_eq(read_at("abs/hostname", buf, sizeof(buf)), -ELOOP);
	ck_assert_int_eq(beneath_open(rootfd, "dl", O_RDONLY | O_DIRECTORY, 0), -ELOOP);
	ck_assert_int_eq(beneath_open(rootfd, "dl/", O_RDONLY, 0), -ELOOP);
	ck_assert_int_eq(beneath_open(rootfd, "out/new", O_RDWR | O_CREAT | O_EXCL, 0600), -ELOOP);
	ck_assert_int_eq(faccessat(rootfd, "../outside/new", F_OK, 0), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(never_leaves_the_root)
{
	ck_assert_int_eq(beneath_open(rootfd, "../outside/f", O_RDONLY, 0), -EXDEV);
	ck_assert_int_eq(beneath_open(rootfd, "d/../d/f", O_RDONLY, 0), -EXDEV);
	ck_assert_int_eq(beneath_open(rootfd, "d/..", O_RDONLY, 0), -EXDEV);
	ck_assert_int_eq(beneath_open(rootfd, "/etc/hostname", O_RDONLY, 0), -EXDEV);
	ck_assert_int_eq(beneath_open(rootfd, "", O_RDONLY, 0), -ENOENT);
	/* A name that merely starts with dots is a name. */
	ck_assert_int_eq(beneath_open(rootfd, "d/..x", O_RDONLY, 0), -ENOENT);
	ck_assert_int_eq(beneath_open(rootfd, "...", O_RDONLY, 0), -ENOENT);
}
END_TEST

START_TEST(parent_of_a_path)
{
	const char *base;
	int fd = tool_open_parent(rootfd, "d/e/g", &base);

	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(base, "g");
	ck_assert_int_eq(faccessat(fd, base, F_OK, AT_SYMLINK_NOFOLLOW), 0);
	close(fd);
	ck_assert_int_eq(tool_open_parent(rootfd, "dl/f", &base), -ELOOP);
	ck_assert_int_eq(tool_open_parent(rootfd, "out/f", &base), -ELOOP);
	fd = tool_open_parent(rootfd, "top", &base);
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(base, "top");
	close(fd);
}
END_TEST

/* Each way in a runner of its own. The hook is read at the first open of
 * a process, and with CK_FORK (as ctest runs it) each test is a process. */
int main(void)
{
	const char *ways[] = { "openat2", "walk" };
	int failed = 0;

	for (int w = 0; w < 2; w++) {
		TCase *tc = tcase_create(ways[w]);
		SRunner *sr;
		Suite *s;

		if (w)
			setenv(BENEATH_NO_OPENAT2_ENV, "1", 1);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, opens_what_is_beneath);
		tcase_add_test(tc, never_follows_a_symlink);
		tcase_add_test(tc, never_leaves_the_root);
		tcase_add_test(tc, parent_of_a_path);
		s = suite_create(ways[w]);
		suite_add_tcase(s, tc);
		sr = srunner_create(s);
		srunner_run_all(sr, CK_NORMAL);
		failed += srunner_ntests_failed(sr);
		srunner_free(sr);
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
