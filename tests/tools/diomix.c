/*
 * diomix: direct and buffered I/O on one file through different
 * descriptors, checking that neither ever sees bytes older than a write
 * that has completed (the xfstests generic/451 case: "get stale data from
 * buffer read"). The file is REGION bytes of one pattern; each round
 * writes a new pattern over the whole region and, once the write has
 * completed, reads the region back through the other kind of descriptor.
 * While a round's write is in flight a second thread keeps reading the
 * region through a buffered descriptor of its own, so that the page cache
 * holds whatever a read could find there at any moment.
 *
 *   diomix FILE aio ROUNDS      O_DIRECT writes through Linux AIO (raw
 *                               io_setup/io_submit/io_getevents syscalls),
 *                               one 4 KiB iocb per page, then buffered reads
 *   diomix FILE sync ROUNDS     synchronous O_DIRECT pwrite, buffered reads
 *   diomix FILE buffered ROUNDS buffered pwrite, O_DIRECT reads
 *
 * With --no-check after ROUNDS nothing is compared and the file is only
 * grown to REGION, not rewritten: load for a test that runs other writers
 * of the same file beside it (which must not hang).
 *
 * Prints "ok ROUNDS" and exits 0, or prints the first stale round (its
 * offset, the byte found, the byte written and the one before it) and the
 * count of stale rounds and exits 1; exits 2 on bad usage or when a call
 * fails (printed).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 16
#define REGION (PAGE * PAGES)

static const char *path;
static _Atomic int stop;

static int die(const char *what)
{
	printf("%s: %s\n", what, strerror(errno));
	return 2;
}

/* The background reader: buffered reads of the whole region, nonstop. */
static void *reader(void *arg)
{
	char *buf = malloc(REGION);
	int fd = open(path, O_RDONLY);

	(void)arg;
	while (fd >= 0 && buf && !stop)
		(void)!pread(fd, buf, REGION, 0);
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int aio_write_region(aio_context_t ctx, int fd, const char *buf)
{
	struct iocb cbs[PAGES], *ptrs[PAGES];
	struct io_event ev[PAGES];
	long done = 0, n;

	for (int i = 0; i < PAGES; i++) {
		memset(&cbs[i], 0, sizeof(cbs[i]));
		cbs[i].aio_lio_opcode = IOCB_CMD_PWRITE;
		cbs[i].aio_fildes = (uint32_t)fd;
		cbs[i].aio_buf = (uint64_t)(uintptr_t)(buf + i * PAGE);
		cbs[i].aio_nbytes = PAGE;
		cbs[i].aio_offset = (int64_t)i * PAGE;
		ptrs[i] = &cbs[i];
	}
	if (syscall(SYS_io_submit, ctx, (long)PAGES, ptrs) != PAGES)
		return -1;
	while (done < PAGES) {
		n = syscall(SYS_io_getevents, ctx, 1L, (long)PAGES, ev, NULL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		for (long i = 0; i < n; i++) {
			if (ev[i].res != PAGE) {
				errno = ev[i].res < 0 ? (int)-ev[i].res : EIO;
				return -1;
			}
		}
		done += n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;
	pthread_t th;
	char *wbuf, *rbuf;
	int mode, wfd, rfd, rounds, check, stale = 0, first = -1, rc = 0;
	unsigned char want = 0, prev = 0, got = 0;
	size_t where = 0;

	check = argc == 4;
	if ((argc != 4 && (argc != 5 || strcmp(argv[4], "--no-check"))) || (rounds = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: diomix FILE aio|sync|buffered ROUNDS [--no-check]\n");
		return 2;
	}
	path = argv[1];
	mode = !strcmp(argv[2], "aio") ? 0 : !strcmp(argv[2], "sync") ? 1 : !strcmp(argv[2], "buffered") ? 2 : -1;
	if (mode < 0) {
		fprintf(stderr, "diomix: mode must be aio, sync or buffered\n");
		return 2;
	}
	if (posix_memalign((void **)&wbuf, PAGE, REGION) || posix_memalign((void **)&rbuf, PAGE, REGION))
		return die("posix_memalign");
	/* The region exists before the first round: writes inside the file
	 * are what the kernel makes asynchronous. */
	wfd = open(path, O_RDWR | O_CREAT | (check ? O_TRUNC : 0), 0644);
	if (wfd < 0)
		return die("create");
	memset(wbuf, 0, REGION);
	if (check)
		rc = pwrite(wfd, wbuf, REGION, 0) == REGION ? 0 : -1;
	else
		rc = lseek(wfd, 0, SEEK_END) >= REGION || ftruncate(wfd, REGION) == 0 ? 0 : -1;
	if (rc < 0 || fsync(wfd) < 0)
		return die("create");
	close(wfd);
	wfd = open(path, O_RDWR | (mode == 2 ? 0 : O_DIRECT));
	rfd = open(path, O_RDONLY | (mode == 2 ? O_DIRECT : 0));
	if (wfd < 0 || rfd < 0)
		return die("open");
	if (mode == 0 && syscall(SYS_io_setup, (long)PAGES, &ctx) < 0)
		return die("io_setup");
	if (pthread_create(&th, NULL, reader, NULL) != 0)
		return die("pthread_create");
	for (int r = 0; r < rounds; r++) {
		prev = want;
		want = (unsigned char)(1 + r % 255);
		memset(wbuf, want, REGION);
		if (mode == 0)
			rc = aio_write_region(ctx, wfd, wbuf);
		else
			rc = pwrite(wfd, wbuf, REGION, 0) == REGION ? 0 : -1;
		if (rc < 0) {
			rc = die("write");
			goto out;
		}
		if (pread(rfd, rbuf, REGION, 0) != REGION) {
			rc = die("read");
			goto out;
		}
		for (size_t i = 0; check && i < REGION; i++) {
			if ((unsigned char)rbuf[i] != want) {
				if (first < 0) {
					first = r;
					where = i;
					got = (unsigned char)rbuf[i];
					printf("stale: round %d offset %zu holds 0x%02x, want 0x%02x (the write before: 0x%02x)\n",
					       r, where, got, want, prev);
				}
				stale++;
				break;
			}
		}
	}
	if (stale)
		printf("stale data in %d of %d rounds\n", stale, rounds);
	else
		printf("ok %d\n", rounds);
	rc = stale ? 1 : 0;
out:
	stop = 1;
	pthread_join(th, NULL);
	if (mode == 0)
		syscall(SYS_io_destroy, ctx);
	close(wfd);
	close(rfd);
	free(wbuf);
	free(rbuf);
	return rc;
}
