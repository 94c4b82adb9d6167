/*
 * Unit tests of the backing write path: safewrite's jobs of several parts
 * (order, errors, the fallback of a part an O_DIRECT descriptor refuses),
 * with and without the helper processes. They work on real files in the
 * build directory (a disk, where O_DIRECT works).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safewrite.h"

#define REQ(x) do { if (!(x)) ck_abort_msg("failed: %s", #x); } while (0)
#define PAGE 4096

static char path[256];
static int fd = -1;

static void file_setup(void)
{
	snprintf(path, sizeof(path), "%s/test_content.%d", TESTTMP, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQ(fd >= 0);
}

static void file_teardown(void)
{
	close(fd);
	unlink(path);
}

/* A descriptor of the file at path with O_DIRECT, or -1 where the
 * filesystem refuses it (the tests that need one then fail). */
static int open_direct(void)
{
	return open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

static uint8_t *aligned(size_t len)
{
	void *p = NULL;

	REQ(posix_memalign(&p, PAGE, len) == 0);
	return p;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed + (i >> 12));
}

static void expect_file(const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len + 1);
	ssize_t n;

	REQ(got);
	n = pread(fd, got, len + 1, 0);
	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert_int_eq(memcmp(got, want, len), 0);
	free(got);
}

/* ---- safewrite parts ---- */

static void parts_in_order(int helpers)
{
	uint8_t *buf = aligned(3 * PAGE), want[3 * PAGE];
	struct safewrite_part p[3] = {
		{ fd, -1, buf, 100, 0, 0 },
		{ fd, -1, buf + 100, 2 * PAGE, 100, 0 },
		{ fd, -1, buf + 100 + 2 * PAGE, PAGE - 100, 100 + 2 * PAGE, 0 },
	};

	if (helpers)
		REQ(safewrite_start(1) == 0);
	fill(buf, 3 * PAGE, 7);
	memcpy(want, buf, sizeof(want));
	ck_assert_int_eq(safewrite_pwrite_parts(p, 3), 3 * PAGE);
	expect_file(want, sizeof(want));
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(p[i].refused, 0);
	if (helpers)
		safewrite_stop();
	free(buf);
}

START_TEST(test_parts_direct_call)
{
	parts_in_order(0);
}
END_TEST

START_TEST(test_parts_helpers)
{
	parts_in_order(1);
	ck_assert_int_eq(safewrite_active(), 0);
}
END_TEST

/* A part an O_DIRECT descriptor cannot take (an odd offset and length)
 * is written whole through alt_fd, and the caller is told. */
START_TEST(test_parts_refused_direct)
{
	uint8_t *buf = aligned(4 * PAGE);
	int dfd = open_direct();
	struct safewrite_part p[2];

	ck_assert_msg(dfd >= 0, "%s: no O_DIRECT here: %s", path, strerror(errno));
	fill(buf, 4 * PAGE, 3);
	p[0] = (struct safewrite_part){ dfd, fd, buf, PAGE, 0, 0 };         /* aligned */
	p[1] = (struct safewrite_part){ dfd, fd, buf + PAGE, 2 * PAGE + 5, PAGE + 5, 0 };
	REQ(safewrite_start(1) == 0);
	ck_assert_int_eq(safewrite_pwrite_parts(p, 2), 3 * PAGE + 5);
	safewrite_stop();
	ck_assert_int_eq(p[0].refused, 0);
	ck_assert_int_eq(p[1].refused, 1);
	{
		uint8_t want[3 * PAGE + 10];

		memcpy(want, buf, PAGE);
		memset(want + PAGE, 0, 5);
		memcpy(want + PAGE + 5, buf + PAGE, 2 * PAGE + 5);
		expect_file(want, 3 * PAGE + 10);
	}
	close(dfd);
	free(buf);
}
END_TEST

/* Without alt_fd the refusal is the job's error. */
START_TEST(test_parts_refused_no_alt)
{
	uint8_t *buf = aligned(2 * PAGE);
	int dfd = open_direct();
	struct safewrite_part p = { dfd, -1, buf + 1, PAGE, 0, 0 };

	ck_assert_msg(dfd >= 0, "%s: no O_DIRECT here: %s", path, strerror(errno));
	ck_assert_int_eq(safewrite_pwrite_parts(&p, 1), -EINVAL);
	ck_assert_int_eq(p.refused, 0);
	close(dfd);
	free(buf);
}
END_TEST

/* The first part that fails ends the job: what follows is not written. */
START_TEST(test_parts_error_stops)
{
	uint8_t buf[64] = { 1 };
	struct safewrite_part p[3] = {
		{ fd, -1, buf, 10, 0, 0 },
		{ -1, -1, buf, 10, 10, 0 },
		{ fd, -1, buf, 10, 20, 0 },
	};
	struct stat st;

	ck_assert_int_eq(safewrite_pwrite_parts(p, 3), -EBADF);
	REQ(fstat(fd, &st) == 0);
	ck_assert_int_eq(st.st_size, 10);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("content");
	TCase *tp = tcase_create("safewrite_parts");

	tcase_add_checked_fixture(tp, file_setup, file_teardown);
	tcase_add_test(tp, test_parts_direct_call);
	tcase_add_test(tp, test_parts_helpers);
	tcase_add_test(tp, test_parts_refused_direct);
	tcase_add_test(tp, test_parts_refused_no_alt);
	tcase_add_test(tp, test_parts_error_stops);
	suite_add_tcase(s, tp);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
