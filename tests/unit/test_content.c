/*
 * Unit tests of the backing I/O path: safewrite's jobs of several parts
 * (order, errors, the fallback of a part an O_DIRECT descriptor refuses),
 * with and without the helper processes, and content's large writes and
 * reads, whose whole pages go around the page cache; new file ids where
 * they are free (after a truncate to 0, a whole-file rewrite past the AES
 * budget), and what a torn switch of ids reads as. They work on real files in
 * the build directory (a disk, where O_DIRECT works) and check the page
 * cache with mincore(2), since the point of a direct write is what it
 * leaves out of the cache.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <sodium.h>

#include "content.h"
#include "convert.h"
#include "keyring.h"
#include "safewrite.h"

#define REQ(x) do { if (!(x)) ck_abort_msg("failed: %s", #x); } while (0)
#define PAGE 4096
#define MIB (1u << 20)

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

/* Pages of [off, off + len) of the file in the page cache. */
static size_t cached_pages(off_t off, size_t len)
{
	size_t pages = (len + PAGE - 1) / PAGE, n = 0;
	unsigned char *vec = calloc(pages, 1);
	void *map;

	REQ(vec);
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);
	REQ(map != MAP_FAILED);
	REQ(mincore(map, len, vec) == 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	munmap(map, len);
	free(vec);
	return n;
}

static int on_tmpfs(void)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* 1 if the filesystem of the test file takes O_DIRECT and refuses a
 * misaligned direct write with EINVAL, as disk filesystems do (tmpfs
 * takes it since Linux 6.6, and refused O_DIRECT itself before). */
static int direct_refuses_misaligned(void)
{
	uint8_t *buf = aligned(PAGE);
	int dfd = open_direct(), refused;

	refused = dfd >= 0 && pwrite(dfd, buf, 1, 1) < 0 && errno == EINVAL;
	if (dfd >= 0)
		close(dfd);
	free(buf);
	if (!refused)
		fprintf(stderr, "%s: takes misaligned direct writes here: not checked\n", path);
	return refused;
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
	int dfd;
	struct safewrite_part p[2];

	if (!direct_refuses_misaligned()) {
		free(buf);
		return;
	}
	dfd = open_direct();
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
	int dfd;
	struct safewrite_part p = { -1, -1, buf + 1, PAGE, 0, 0 };

	if (!direct_refuses_misaligned()) {
		free(buf);
		return;
	}
	p.fd = dfd = open_direct();
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

/* ---- content_write ---- */

static struct keyring *kr;
static struct content c;
static int fds_before;

/* Descriptors this process has open. */
static int open_fds(void)
{
	char p[64];
	int n = 0;

	for (int i = 0; i < 4096; i++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", i);
		n += access(p, F_OK) == 0;
	}
	return n;
}

static void content_start(int cipher, int cached)
{
	static const uint8_t secret[] = "test_content secret, not a real key";
	struct content_ctx cx = { .cipher = cipher, .cached_backing = cached };

	REQ(keyring_new(&kr) == 0);
	/* Taken as a full-entropy key: the content layer does not care how
	 * its master key was derived, and this test need not wait on Argon2id. */
	REQ(keyring_add_raw(kr, secret, sizeof(secret) - 1) == 0);
	cx.kr = kr;
	REQ(content_setup(&cx) == 0);
	memset(&c, 0, sizeof(c));
	c.kind = CONTENT_EMPTY;
	fds_before = open_fds();
}

/* Every descriptor content opened is closed again. */
static void content_end(void)
{
	content_unload(&c);
	ck_assert_int_eq(open_fds(), fds_before);
	content_teardown();
	keyring_free(kr);
}

static void expect_plain(const uint8_t *want, size_t len)
{
	uint8_t *got = aligned(len + PAGE);
	struct content r = { 0 };

	/* Read back through a fresh state, as after a remount. */
	REQ(content_load(&r, fd) == 0);
	ck_assert_uint_eq(r.size, len);
	for (size_t off = 0; off < len; off += MIB) {
		size_t n = len - off < MIB ? len - off : MIB;

		ck_assert_int_eq(content_read(&r, fd, got + off, n, off), (ssize_t)n);
	}
	ck_assert_int_eq(memcmp(got, want, len), 0);
	content_unload(&r);
	free(got);
}

/* 4 MiB written in 1 MiB requests, as the writeback cache sends them:
 * what reads back is what was written, and the cache holds the partial
 * pages at the requests' ends but none of the whole pages between --
 * unless cached_backing asks for them all. */
static void large_writes(int cipher, int cached)
{
	const size_t len = 4 * MIB;
	uint8_t *plain = aligned(len);
	struct stat st;
	size_t pages, cached_n;

	content_start(cipher, cached);
	fill(plain, len, (unsigned)cipher);
	for (size_t off = 0; off < len; off += MIB)
		ck_assert_int_eq(content_write(&c, fd, plain + off, MIB, off), (ssize_t)MIB);
	ck_assert_int_eq(c.direct, cached ? -1 : 1);
	REQ(fstat(fd, &st) == 0);
	pages = ((size_t)st.st_size + PAGE - 1) / PAGE;
	cached_n = cached_pages(0, (size_t)st.st_size);
	if (cached)
		ck_assert_uint_eq(cached_n, pages);
	else if (on_tmpfs())    /* its direct I/O goes through its page cache */
		fprintf(stderr, "%s: on tmpfs, page cache not checked\n", path);
	else
		ck_assert_msg(cached_n <= 2 * 4 + 1, "%zu of %zu pages cached", cached_n, pages);
	expect_plain(plain, len);
	/* Read again with nothing cached: only reads that bypass the cache
	 * leave it empty. */
	REQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	expect_plain(plain, len);
	cached_n = cached_pages(0, (size_t)st.st_size);
	if (cached)
		ck_assert_uint_eq(cached_n, pages);
	else if (!on_tmpfs())
		/* The header's read and its readahead are cached reads. */
		ck_assert_msg(cached_n <= 8, "%zu of %zu pages cached after reading", cached_n, pages);
	content_end();
	free(plain);
}

START_TEST(test_large_direct_chacha) { large_writes(FMT_CIPHER_CHACHAPOLY, 0); }
END_TEST
START_TEST(test_large_direct_aes) { large_writes(FMT_CIPHER_AES, 0); }
END_TEST
START_TEST(test_large_cached) { large_writes(FMT_CIPHER_CHACHAPOLY, 1); }
END_TEST

/* Direct writes over blocks that buffered ones left dirty in the cache,
 * at odd offsets, then small writes over the direct ones: every read,
 * from the cache or the disk, sees the last write. */
START_TEST(test_mixed_overwrites)
{
	const size_t len = 3 * MIB;
	uint8_t *model = aligned(len), *buf = aligned(MIB);

	content_start(FMT_CIPHER_CHACHAPOLY, 0);
	memset(model, 0, len);
	ck_assert_int_eq(content_truncate(&c, fd, len), 0);
	for (size_t off = 0; off + 1000 <= len; off += 1000) {        /* small, buffered */
		fill(buf, 1000, (unsigned)off);
		memcpy(model + off, buf, 1000);
		ck_assert_int_eq(content_write(&c, fd, buf, 1000, off), 1000);
	}
	for (size_t off = 12345; off + 700000 <= len; off += 777777) {  /* large */
		fill(buf, 700000, (unsigned)off + 1);
		memcpy(model + off, buf, 700000);
		ck_assert_int_eq(content_write(&c, fd, buf, 700000, off), 700000);
	}
	ck_assert_int_eq(c.direct, 1);
	expect_plain(model, len);
	for (size_t off = 5000; off < len; off += 300001) {   /* small again */
		fill(buf, 3000, (unsigned)off + 2);
		memcpy(model + off, buf, 3000);
		ck_assert_int_eq(content_write(&c, fd, buf, 3000, off), 3000);
	}
	expect_plain(model, len);
	REQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0 && fdatasync(fd) == 0 &&
	    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	expect_plain(model, len);
	content_end();
	free(buf);
	free(model);
}
END_TEST

/* The direct descriptor of a file loaded for reading only is reopened
 * for writing when a write comes through a writable descriptor (ops.c
 * reopens the backing file so when a writer opens it). */
START_TEST(test_direct_reopened_for_writing)
{
	const size_t len = 2 * MIB;
	uint8_t *plain = aligned(len);
	struct content r = { 0 };
	int rfd;

	content_start(FMT_CIPHER_CHACHAPOLY, 0);
	fill(plain, len, 5);
	ck_assert_int_eq(content_write(&c, fd, plain, len / 2, 0), (ssize_t)(len / 2));
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	REQ(rfd >= 0);
	REQ(content_load(&r, rfd) == 0);
	ck_assert_int_eq(r.direct, 0);          /* opened by the first large read */
	ck_assert_int_eq(content_read(&r, rfd, plain + len / 2, len / 2, 0), (ssize_t)(len / 2));
	ck_assert_int_eq(memcmp(plain, plain + len / 2, len / 2), 0);
	ck_assert_int_eq(r.direct, 1);
	ck_assert_int_eq(r.direct_rw, 0);
	fill(plain, len, 5);
	ck_assert_int_eq(content_write(&r, fd, plain + len / 2, len / 2, len / 2), (ssize_t)(len / 2));
	ck_assert_int_eq(r.direct, 1);
	ck_assert_int_eq(r.direct_rw, 1);
	content_unload(&r);
	close(rfd);
	expect_plain(plain, len);
	content_end();
	free(plain);
}
END_TEST

/* A backing file cut short under a direct read is an error, as under a
 * cached one, never zeros. */
START_TEST(test_direct_read_short_file)
{
	const size_t len = 2 * MIB;
	uint8_t *plain = aligned(len);
	struct content r = { 0 };
	struct stat st;

	content_start(FMT_CIPHER_AES, 0);
	fill(plain, len, 6);
	ck_assert_int_eq(content_write(&c, fd, plain, MIB, 0), (ssize_t)MIB);
	ck_assert_int_eq(content_write(&c, fd, plain + MIB, MIB, MIB), (ssize_t)MIB);
	REQ(content_load(&r, fd) == 0);
	ck_assert_int_eq(content_read(&r, fd, plain, MIB, 0), (ssize_t)MIB);
	ck_assert_int_eq(r.direct, 1);
	REQ(fstat(fd, &st) == 0 && ftruncate(fd, st.st_size - 10000) == 0);
	ck_assert_int_eq(content_read(&r, fd, plain, MIB, len - MIB), -EIO);
	ck_assert_int_eq(content_read(&r, fd, plain, MIB, 0), (ssize_t)MIB);
	content_unload(&r);
	content_end();
	free(plain);
}
END_TEST

/* Writes too small to have 256 KiB of whole pages stay in the cache, and
 * open no direct descriptor. */
START_TEST(test_small_writes_cached)
{
	uint8_t *buf = aligned(200000);

	content_start(FMT_CIPHER_AES, 0);
	fill(buf, 200000, 9);
	ck_assert_int_eq(content_write(&c, fd, buf, 200000, 0), 200000);
	ck_assert_int_eq(c.direct, 0);
	expect_plain(buf, 200000);
	content_end();
	free(buf);
}
END_TEST

/* ---- new file ids ---- */

#define BUDGET_ENV "JETCRYPTFS_TEST_ID_BUDGET"

/* The whole backing file (*len bytes), malloc'd. */
static uint8_t *file_bytes(size_t *len)
{
	struct stat st;
	uint8_t *p;

	REQ(fstat(fd, &st) == 0);
	*len = (size_t)st.st_size;
	p = malloc(*len);
	REQ(p && pread(fd, p, *len, 0) == (ssize_t)*len);
	return p;
}

/* Bytes [from, from + n) of the backing file as they were in snap. */
static void put_back(const uint8_t *snap, size_t from, size_t n)
{
	REQ(pwrite(fd, snap + from, n, (off_t)from) == (ssize_t)n);
}

/* Reads all len bytes through a fresh state: the count read, or -errno;
 * what a read returned must be want's bytes. */
static ssize_t read_fresh(const uint8_t *want, size_t len)
{
	uint8_t *got = aligned(len + PAGE);
	struct content r = { 0 };
	ssize_t n;

	REQ(content_load(&r, fd) == 0);
	n = content_read(&r, fd, got, len, 0);
	if (n > 0)
		ck_assert_int_eq(memcmp(got, want, (size_t)n), 0);
	content_unload(&r);
	free(got);
	return n;
}

/* Past the budget, an AES file rewritten whole from offset 0 gets a new
 * id, written with its blocks; before it, or for a write that does not
 * cover the file, it keeps it. A switch torn apart -- the new header over
 * the old blocks, the old header over the new, a block of each -- reads
 * as EIO where header and block disagree, never as other bytes. */
START_TEST(test_new_id_whole_rewrite)
{
	const size_t len = 3 * PAGE + 100;      /* 4 blocks */
	const size_t sb = FMT_BLOCK_SIZE + 28, b1 = FMT_HEADER_SIZE + sb;
	uint8_t *a = aligned(len), *b = aligned(len), hdr0[FMT_HEADER_SIZE], *old, *new;
	size_t olen, nlen;

	setenv(BUDGET_ENV, "6", 1);
	content_start(FMT_CIPHER_AES, 0);
	unsetenv(BUDGET_ENV);
	fill(a, len, 1);
	fill(b, len, 2);
	ck_assert_int_eq(content_write(&c, fd, a, len, 0), (ssize_t)len);
	memcpy(hdr0, c.hdr, sizeof(hdr0));
	ck_assert_int_eq(content_write(&c, fd, b, len, 0), (ssize_t)len);       /* 4 < 6 */
	ck_assert_int_eq(memcmp(c.hdr, hdr0, sizeof(hdr0)), 0);
	ck_assert_int_eq(content_write(&c, fd, b, len - 1, 0), (ssize_t)(len - 1)); /* not whole */
	ck_assert_int_eq(memcmp(c.hdr, hdr0, sizeof(hdr0)), 0);
	ck_assert_uint_eq(c.budget.blocks, 12);
	old = file_bytes(&olen);
	ck_assert_int_eq(content_write(&c, fd, a, len, 0), (ssize_t)len);
	ck_assert_int_ne(memcmp(c.hdr, hdr0, sizeof(hdr0)), 0);
	ck_assert_uint_eq(c.budget.blocks, 4);
	ck_assert_int_eq(memcmp(c.budget.file_id, c.hdr + 16, 16), 0);
	expect_plain(a, len);
	new = file_bytes(&nlen);
	ck_assert_uint_eq(nlen, olen);

	put_back(old, 0, FMT_HEADER_SIZE);              /* old header, new blocks */
	ck_assert_int_eq(read_fresh(a, len), -EIO);
	put_back(new, 0, FMT_HEADER_SIZE);
	put_back(old, FMT_HEADER_SIZE, olen - FMT_HEADER_SIZE);  /* new header, old blocks */
	ck_assert_int_eq(read_fresh(a, len), -EIO);
	put_back(new, FMT_HEADER_SIZE, sb);             /* block 0 new, the rest old */
	ck_assert_int_eq(read_fresh(a, PAGE), PAGE);
	ck_assert_int_eq(read_fresh(a, len), -EIO);
	put_back(new, b1, nlen - b1);
	expect_plain(a, len);
	content_end();
	free(old);
	free(new);
	free(a);
	free(b);
}
END_TEST

/* A file cut to 0 keeps its header until its next write, which gives it
 * a new id -- also when it was closed in between, and when that write
 * starts past block 0 or is an extension by truncate. A chachapoly file
 * too: it costs nothing. */
START_TEST(test_new_id_after_truncate)
{
	const size_t len = 2 * PAGE;
	uint8_t *a = aligned(len + 3 * PAGE), hdr0[FMT_HEADER_SIZE], *now;
	size_t n;

	content_start(FMT_CIPHER_CHACHAPOLY, 0);
	fill(a, len, 3);
	ck_assert_int_eq(content_write(&c, fd, a, len, 0), (ssize_t)len);
	memcpy(hdr0, c.hdr, sizeof(hdr0));
	ck_assert_int_eq(content_truncate(&c, fd, 0), 0);
	now = file_bytes(&n);
	ck_assert_uint_eq(n, FMT_HEADER_SIZE);
	ck_assert_int_eq(memcmp(now, hdr0, sizeof(hdr0)), 0);
	free(now);
	ck_assert_int_eq(content_write(&c, fd, a, len, 0), (ssize_t)len);
	ck_assert_int_ne(memcmp(c.hdr, hdr0, sizeof(hdr0)), 0);
	expect_plain(a, len);

	/* Closed in between; the write starts at block 2. */
	ck_assert_int_eq(content_truncate(&c, fd, 0), 0);
	content_unload(&c);
	REQ(content_load(&c, fd) == 0);
	ck_assert_int_eq(c.stale_id, 1);
	memcpy(hdr0, c.hdr, sizeof(hdr0));
	memset(a, 0, 2 * PAGE);
	fill(a + 2 * PAGE, PAGE, 4);
	ck_assert_int_eq(content_write(&c, fd, a + 2 * PAGE, PAGE, 2 * PAGE), PAGE);
	ck_assert_int_ne(memcmp(c.hdr, hdr0, sizeof(hdr0)), 0);
	expect_plain(a, 3 * PAGE);

	/* Extended by truncate. */
	ck_assert_int_eq(content_truncate(&c, fd, 0), 0);
	memcpy(hdr0, c.hdr, sizeof(hdr0));
	ck_assert_int_eq(content_truncate(&c, fd, 5000), 0);
	ck_assert_int_ne(memcmp(c.hdr, hdr0, sizeof(hdr0)), 0);
	memset(a, 0, 5000);
	expect_plain(a, 5000);
	content_end();
	free(a);
}
END_TEST

/* The count of blocks under a file id survives an unload and a load of
 * the same file (the inode's state, ops.c), and starts anew for another. */
START_TEST(test_budget_kept)
{
	uint8_t *a = aligned(3 * PAGE);

	content_start(FMT_CIPHER_AES, 0);
	fill(a, 3 * PAGE, 5);
	ck_assert_int_eq(content_write(&c, fd, a, 3 * PAGE, 0), 3 * PAGE);
	content_unload(&c);
	REQ(content_load(&c, fd) == 0);
	ck_assert_uint_eq(c.budget.blocks, 3);
	ck_assert_int_eq(content_write(&c, fd, a, PAGE, PAGE), PAGE);
	ck_assert_uint_eq(c.budget.blocks, 4);
	ck_assert_int_eq(content_truncate(&c, fd, 0), 0);
	ck_assert_int_eq(content_write(&c, fd, a, PAGE, 0), PAGE);     /* a new id */
	ck_assert_uint_eq(c.budget.blocks, 1);
	content_end();
	free(a);
}
END_TEST

/* ---- the read path's shared pieces: the header peek ---- */

static void put_bytes(const void *b, size_t len)
{
	REQ(ftruncate(fd, 0) == 0);
	REQ(pwrite(fd, b, len, 0) == (ssize_t)len);
}

static void good_header(uint8_t raw[FMT_HEADER_SIZE], int node)
{
	struct fmt_header h = { .version = FMT_VERSION, .cipher = FMT_CIPHER_AES, .node = (uint8_t)node };

	memset(h.key_id, 0xa5, sizeof(h.key_id));
	memset(h.file_id, 0x3c, sizeof(h.file_id));
	fmt_header_encode(&h, raw);
}

START_TEST(test_peek_header)
{
	uint8_t hdr[FMT_HEADER_SIZE], raw[FMT_HEADER_SIZE], zero[FMT_HEADER_SIZE] = { 0 }, big[100];
	struct fmt_header h;
	int wfd;

	/* An empty file, plaintext, a part of the magic: no header. */
	memset(raw, 0xff, sizeof(raw));
	ck_assert_int_eq(content_peek_header(fd, &h, raw), -ENODATA);
	ck_assert_int_eq(memcmp(raw, zero, sizeof(raw)), 0);
	put_bytes("plain text, longer than a header would be", 40);
	ck_assert_int_eq(content_peek_header(fd, &h, NULL), -ENODATA);
	put_bytes("JCF", 3);
	ck_assert_int_eq(content_peek_header(fd, &h, raw), -ENODATA);
	ck_assert_int_eq(memcmp(raw, "JCF\0\0", 5), 0);

	/* Ours, in full: any node type, and only the header's bytes read. */
	good_header(hdr, FMT_NODE_FILE);
	memset(big, 0x77, sizeof(big));
	memcpy(big, hdr, sizeof(hdr));
	put_bytes(big, sizeof(big));
	memset(&h, 0xee, sizeof(h));
	ck_assert_int_eq(content_peek_header(fd, &h, raw), 0);
	ck_assert_int_eq(memcmp(raw, hdr, sizeof(hdr)), 0);
	ck_assert_int_eq(h.version, FMT_VERSION);
	ck_assert_int_eq(h.cipher, FMT_CIPHER_AES);
	ck_assert_int_eq(h.node, FMT_NODE_FILE);
	ck_assert_int_eq(h.key_id[0], 0xa5);
	ck_assert_int_eq(h.file_id[FMT_FILE_ID_SIZE - 1], 0x3c);
	good_header(hdr, FMT_NODE_FIFO);
	put_bytes(hdr, sizeof(hdr));
	ck_assert_int_eq(content_peek_header(fd, &h, NULL), 0);
	ck_assert_int_eq(h.node, FMT_NODE_FIFO);

	/* The magic, cut short: damaged, never plaintext; h says nothing. */
	put_bytes(hdr, FMT_HEADER_SIZE - 1);
	memset(&h, 0xee, sizeof(h));
	ck_assert_int_eq(content_peek_header(fd, &h, raw), -EBADMSG);
	ck_assert_int_eq(h.cipher, 0);
	ck_assert_int_eq(raw[FMT_HEADER_SIZE - 1], 0);
	put_bytes("JCFS", 4);
	ck_assert_int_eq(content_peek_header(fd, &h, NULL), -EBADMSG);

	/* The magic and a version, cipher or reserved byte no reader knows. */
	good_header(hdr, FMT_NODE_FILE);
	hdr[4] = FMT_VERSION + 1;
	put_bytes(hdr, sizeof(hdr));
	ck_assert_int_eq(content_peek_header(fd, &h, NULL), -EPROTO);
	good_header(hdr, FMT_NODE_FILE);
	hdr[7] = 1;
	put_bytes(hdr, sizeof(hdr));
	ck_assert_int_eq(content_peek_header(fd, &h, NULL), -EPROTO);

	/* A read that fails is its errno. */
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	REQ(wfd >= 0);
	ck_assert_int_eq(content_peek_header(wfd, &h, NULL), -EBADF);
	close(wfd);
}
END_TEST

/* ---- the read path's shared pieces: a range in blocks ---- */

#define BS FMT_BLOCK_SIZE

static void expect_span(const struct block_range *r, uint64_t b, uint32_t skip, uint32_t len, uint64_t pos)
{
	struct block_span s = block_range_span(r, b);

	ck_assert_uint_eq(s.block, b);
	ck_assert_uint_eq(s.skip, skip);
	ck_assert_uint_eq(s.len, len);
	ck_assert_uint_eq(s.pos, pos);
}

START_TEST(test_range_edges)
{
	struct block_range r;

	/* From offset 0, less than a block, a block, a block and a byte. */
	r = block_range_of(0, 100);
	ck_assert_uint_eq(r.first, 0);
	ck_assert_uint_eq(r.last, 0);
	ck_assert_uint_eq(r.blocks, 1);
	ck_assert_uint_eq(r.end, 100);
	expect_span(&r, 0, 0, 100, 0);
	r = block_range_of(0, BS);
	ck_assert_uint_eq(r.blocks, 1);
	expect_span(&r, 0, 0, BS, 0);
	r = block_range_of(0, BS + 1);
	ck_assert_uint_eq(r.blocks, 2);
	expect_span(&r, 0, 0, BS, 0);
	expect_span(&r, 1, 0, 1, BS);

	/* Inside one block, and up to its last byte. */
	r = block_range_of(3 * BS + 10, 20);
	ck_assert_uint_eq(r.first, 3);
	ck_assert_uint_eq(r.last, 3);
	expect_span(&r, 3, 10, 20, 0);
	r = block_range_of(3 * BS + 10, BS - 10);
	ck_assert_uint_eq(r.blocks, 1);
	expect_span(&r, 3, 10, BS - 10, 0);

	/* Exactly on block boundaries: whole blocks only. */
	r = block_range_of(2 * BS, 3 * BS);
	ck_assert_uint_eq(r.first, 2);
	ck_assert_uint_eq(r.last, 4);
	ck_assert_uint_eq(r.blocks, 3);
	for (uint64_t b = 2; b <= 4; b++)
		expect_span(&r, b, 0, BS, (b - 2) * BS);

	/* Across a boundary by one byte each side. */
	r = block_range_of(BS - 1, 2);
	ck_assert_uint_eq(r.blocks, 2);
	expect_span(&r, 0, BS - 1, 1, 0);
	expect_span(&r, 1, 0, 1, 1);

	/* Empty: no block, first and last at off's. */
	r = block_range_of(5 * BS + 7, 0);
	ck_assert_uint_eq(r.blocks, 0);
	ck_assert_uint_eq(r.first, 5);
	ck_assert_uint_eq(r.last, 5);
	ck_assert_uint_eq(r.end, 5 * BS + 7);
}
END_TEST

/* A range over many blocks, starting and ending inside one: the spans
 * tile it, in order, with whole blocks between a partial first and a
 * partial last; far past 4 GiB too, where 32 bits would wrap. */
START_TEST(test_range_many_blocks)
{
	const uint64_t starts[] = { 1234, (5ull << 32) + 77 };

	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		uint64_t off = starts[i], len = 300 * BS + 999, next = 0;
		struct block_range r = block_range_of(off, len);

		ck_assert_uint_eq(r.first, off / BS);
		ck_assert_uint_eq(r.last, (off + len - 1) / BS);
		ck_assert_uint_eq(r.blocks, r.last - r.first + 1);
		for (uint64_t b = r.first; b < r.first + r.blocks; b++) {
			struct block_span s = block_range_span(&r, b);

			ck_assert_uint_eq(s.pos, next);
			ck_assert_uint_eq(b * BS + s.skip, off + s.pos);
			ck_assert_uint_gt(s.len, 0);
			ck_assert_uint_le(s.skip + s.len, BS);
			if (b != r.first)
				ck_assert_uint_eq(s.skip, 0);
			if (b != r.first && b != r.last)
				ck_assert_uint_eq(s.len, BS);
			next += s.len;
		}
		ck_assert_uint_eq(next, len);
		expect_span(&r, r.first, (uint32_t)(off % BS), (uint32_t)(BS - off % BS), 0);
		expect_span(&r, r.last, 0, (uint32_t)((off + len) % BS), len - (off + len) % BS);
	}
}
END_TEST

START_TEST(test_tail)
{
	struct block_span t;

	t = block_tail(0);
	ck_assert_uint_eq(t.block, 0);
	ck_assert_uint_eq(t.len, 0);
	t = block_tail(1);
	ck_assert_uint_eq(t.block, 0);
	ck_assert_uint_eq(t.len, 1);
	ck_assert_uint_eq(t.pos, 0);
	t = block_tail(BS);
	ck_assert_uint_eq(t.block, 1);
	ck_assert_uint_eq(t.len, 0);
	ck_assert_uint_eq(t.pos, BS);
	t = block_tail(7 * BS + 100);
	ck_assert_uint_eq(t.block, 7);
	ck_assert_uint_eq(t.skip, 0);
	ck_assert_uint_eq(t.len, 100);
	ck_assert_uint_eq(t.pos, 7 * BS);
}
END_TEST

/* ---- the read path's shared pieces: fsck's walk over the blocks ---- */

/* Flips one byte of the stored block b of the file (cipher's layout). */
static void flip_block(int cipher, uint64_t b, size_t at)
{
	uint8_t x;
	off_t o = (off_t)(fmt_block_offset(cipher, b) + at);

	REQ(pread(fd, &x, 1, o) == 1);
	x ^= 0x40;
	REQ(pwrite(fd, &x, 1, o) == 1);
}

/* content_verify over a file of 600 blocks and a bit: every bad block is
 * found, in order, by resuming after it; a range stops at its end, an
 * end past the file is the file's; a cut file names its first missing
 * block. */
static void verify_blocks_of(int cipher)
{
	const size_t len = 600 * BS + 123;
	const uint64_t bad[] = { 0, 255, 256, 257, 599, 600 };
	uint8_t *plain = aligned(len);
	struct content v = { 0 };
	uint64_t b = 0;
	size_t i = 0;
	int rc;

	content_start(cipher, 0);
	fill(plain, len, 7);
	for (size_t off = 0; off < len; off += MIB)
		REQ(content_write(&c, fd, plain + off, len - off < MIB ? len - off : MIB, off) > 0);
	REQ(content_load(&v, fd) == 0);
	ck_assert_int_eq(content_verify(&v, fd, &b, UINT64_MAX), 0);
	ck_assert_uint_eq(b, 601);
	b = 10;
	ck_assert_int_eq(content_verify(&v, fd, &b, 20), 0);
	ck_assert_uint_eq(b, 20);

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		flip_block(cipher, bad[k], 30);
	for (b = 0; (rc = content_verify(&v, fd, &b, UINT64_MAX)) < 0; b++) {
		ck_assert_int_eq(rc, -EBADMSG);
		ck_assert_uint_lt(i, sizeof(bad) / sizeof(bad[0]));
		ck_assert_uint_eq(b, bad[i]);
		i++;
	}
	ck_assert_uint_eq(i, sizeof(bad) / sizeof(bad[0]));
	ck_assert_uint_eq(b, 601);

	/* Cut after block 300: 301 is the first that is not there. */
	REQ(ftruncate(fd, (off_t)fmt_block_offset(cipher, 301)) == 0);
	b = 258;
	ck_assert_int_eq(content_verify(&v, fd, &b, UINT64_MAX), -ENODATA);
	ck_assert_uint_eq(b, 301);
	content_unload(&v);
	ck_assert_int_eq(content_verify(&v, fd, &b, UINT64_MAX), -EINVAL);
	content_end();
	free(plain);
}

START_TEST(test_verify_chacha) { verify_blocks_of(FMT_CIPHER_CHACHAPOLY); }
END_TEST
START_TEST(test_verify_aes) { verify_blocks_of(FMT_CIPHER_AES); }
END_TEST

/* ---- the one conversion routine (convert.h) ---- */

static char cdir[256];
static int cdirfd = -1;

static void conv_setup(void)
{
	snprintf(cdir, sizeof(cdir), "%s/test_convert.%d", TESTTMP, (int)getpid());
	REQ(mkdir(cdir, 0700) == 0);
	cdirfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	REQ(cdirfd >= 0);
	content_start(FMT_CIPHER_CHACHAPOLY, 0);
	/* As in an adopted store: plaintext files load as such. */
	{
		struct content_ctx cx = { .kr = kr, .cipher = FMT_CIPHER_CHACHAPOLY, .plaintext_allowed = 1 };

		REQ(content_setup(&cx) == 0);
	}
}

static void conv_teardown(void)
{
	DIR *d;
	struct dirent *e;

	content_end();
	d = fdopendir(cdirfd);
	REQ(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(cdir);
}

/* The names in the test directory, sorted into one string. */
static void dir_names(char *out, size_t len)
{
	int dfd = openat(cdirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	REQ(d);
	out[0] = '\0';
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			strncat(out, store_name_is_tmp(e->d_name) ? "TMP" : e->d_name, len - strlen(out) - 2);
			strcat(out, " ");
		}
	closedir(d);
}

/* A plaintext file name of len bytes from fill(seed), mode 0640, times
 * set; open for reading, loaded as src. */
static int plain_file(const char *name, size_t len, unsigned seed, struct content *src)
{
	uint8_t *b = malloc(len + 1);
	struct timespec t[2] = { { 1000000000, 123456789 }, { 1100000000, 987654321 } };
	int f = openat(cdirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

	REQ(b && f >= 0);
	fill(b, len, seed);
	REQ(pwrite(f, b, len, 0) == (ssize_t)len);
	REQ(fchmod(f, 0640) == 0 && futimens(f, t) == 0);
	free(b);
	close(f);
	/* As the tools and the mount read: without changing the atime. */
	f = openat(cdirfd, name, O_RDONLY | O_NOATIME | O_CLOEXEC);
	REQ(f >= 0);
	memset(src, 0, sizeof(*src));
	REQ(content_load(src, f) == 0);
	ck_assert_int_eq(src->kind, CONTENT_PLAINTEXT);
	return f;
}

static void expect_converted(const char *name, size_t len, unsigned seed)
{
	uint8_t *want = malloc(len), *got = malloc(len + 1);
	struct content r = { 0 };
	struct stat st;
	int f = openat(cdirfd, name, O_RDONLY | O_CLOEXEC);

	REQ(want && got && f >= 0);
	/* The times before any read here changes the atime. */
	REQ(fstat(f, &st) == 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(st.st_mtim.tv_sec, 1100000000);
	ck_assert_int_eq(st.st_mtim.tv_nsec, 987654321);
	ck_assert_int_eq(st.st_atim.tv_sec, 1000000000);
	fill(want, len, seed);
	REQ(content_load(&r, f) == 0);
	ck_assert_int_eq(r.kind, CONTENT_ENCRYPTED);
	ck_assert_uint_eq(r.size, len);
	for (size_t off = 0; off < len; off += MIB) {
		size_t n = len - off < MIB ? len - off : MIB;

		ck_assert_int_eq(content_read(&r, f, got + off, n, off), (ssize_t)n);
	}
	ck_assert_int_eq(content_read(&r, f, got, 1, len), 0);
	ck_assert_int_eq(memcmp(got, want, len), 0);
	content_unload(&r);
	close(f);
	free(want);
	free(got);
}

START_TEST(test_convert_plain)
{
	const size_t len = 3 * MIB + 5;
	struct content src;
	struct convert_job j = { .dirfd = cdirfd, .name = "f" };
	char why[512], names[256];

	j.src_fd = plain_file("f", len, 3, &src);
	j.src = &src;
	ck_assert_int_eq(convert_file(&j, why, sizeof(why)), 0);
	ck_assert_int_eq(j.renamed, 1);
	ck_assert_uint_eq(j.bytes, len);
	ck_assert_int_eq(j.fd, -1);
	content_unload(&src);
	close(j.src_fd);
	expect_converted("f", len, 3);
	dir_names(names, sizeof(names));
	ck_assert_str_eq(names, "f ");
}
END_TEST

/* keep: the new file stays open, its state loaded, for the mount. */
START_TEST(test_convert_keep)
{
	struct content src;
	struct convert_job j = { .dirfd = cdirfd, .name = "k", .keep = 1 };
	uint8_t buf[100], want[100];
	char why[512];

	j.src_fd = plain_file("k", 100, 9, &src);
	j.src = &src;
	ck_assert_int_eq(convert_file(&j, why, sizeof(why)), 0);
	expect_converted("k", 100, 9);
	ck_assert_int_ge(j.fd, 0);
	ck_assert_int_eq(j.c.kind, CONTENT_ENCRYPTED);
	ck_assert_uint_eq(j.c.size, 100);
	fill(want, sizeof(want), 9);
	ck_assert_int_eq(content_read(&j.c, j.fd, buf, sizeof(buf), 0), 100);
	ck_assert_int_eq(memcmp(buf, want, sizeof(want)), 0);
	content_unload(&j.c);
	close(j.fd);
	content_unload(&src);
	close(j.src_fd);
}
END_TEST

static int stop_at_first(void *arg, uint64_t bytes)
{
	(void)arg;
	(void)bytes;
	return 1;
}

/* Whatever stops a conversion before its rename leaves the original as
 * it was and no temp file: a second name, a stop, a file swapped in. */
static int swap_name(void *arg, uint64_t bytes)
{
	(void)bytes;
	REQ(renameat(cdirfd, "other", cdirfd, (const char *)arg) == 0);
	return 0;
}

START_TEST(test_convert_refused)
{
	struct content src;
	struct convert_job j = { .dirfd = cdirfd, .name = "h" };
	char why[512], names[256];
	uint8_t b[10];

	j.src_fd = plain_file("h", 5000, 1, &src);
	j.src = &src;
	REQ(linkat(cdirfd, "h", cdirfd, "h2", 0) == 0);
	ck_assert_int_eq(convert_file(&j, why, sizeof(why)), -EIO);
	ck_assert_msg(strstr(why, "has 2 hard links") != NULL, "%s", why);
	REQ(unlinkat(cdirfd, "h2", 0) == 0);

	j.progress = stop_at_first;
	ck_assert_int_eq(convert_file(&j, why, sizeof(why)), -ECANCELED);
	ck_assert_int_eq(j.renamed, 0);

	close(plain_file("other", 10, 5, &src));
	content_unload(&src);
	REQ(content_load(&src, j.src_fd) == 0);
	j.progress = swap_name;
	j.arg = (void *)"h";
	ck_assert_int_eq(convert_file(&j, why, sizeof(why)), -EIO);
	ck_assert_msg(strstr(why, "its name holds another file now") != NULL, "%s", why);
	content_unload(&src);
	close(j.src_fd);
	dir_names(names, sizeof(names));
	ck_assert_str_eq(names, "h ");
	j.src_fd = openat(cdirfd, "h", O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(read(j.src_fd, b, sizeof(b)), 10);        /* the file swapped in, as it was */
	close(j.src_fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("content");
	TCase *tp = tcase_create("safewrite_parts");
	TCase *tc = tcase_create("content_write");
	TCase *tr = tcase_create("read_path");
	TCase *tv = tcase_create("convert");

	tcase_add_checked_fixture(tp, file_setup, file_teardown);
	tcase_add_test(tp, test_parts_direct_call);
	tcase_add_test(tp, test_parts_helpers);
	tcase_add_test(tp, test_parts_refused_direct);
	tcase_add_test(tp, test_parts_refused_no_alt);
	tcase_add_test(tp, test_parts_error_stops);
	suite_add_tcase(s, tp);

	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_large_direct_chacha);
	tcase_add_test(tc, test_large_direct_aes);
	tcase_add_test(tc, test_large_cached);
	tcase_add_test(tc, test_mixed_overwrites);
	tcase_add_test(tc, test_small_writes_cached);
	tcase_add_test(tc, test_direct_reopened_for_writing);
	tcase_add_test(tc, test_direct_read_short_file);
	tcase_add_test(tc, test_new_id_whole_rewrite);
	tcase_add_test(tc, test_new_id_after_truncate);
	tcase_add_test(tc, test_budget_kept);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tr, file_setup, file_teardown);
	tcase_add_test(tr, test_peek_header);
	tcase_add_test(tr, test_range_edges);
	tcase_add_test(tr, test_range_many_blocks);
	tcase_add_test(tr, test_tail);
	tcase_add_test(tr, test_verify_chacha);
	tcase_add_test(tr, test_verify_aes);
	suite_add_tcase(s, tr);

	tcase_add_checked_fixture(tv, conv_setup, conv_teardown);
	tcase_set_timeout(tv, 60);
	tcase_add_test(tv, test_convert_plain);
	tcase_add_test(tv, test_convert_keep);
	tcase_add_test(tv, test_convert_refused);
	suite_add_tcase(s, tv);
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
