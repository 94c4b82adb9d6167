/*
 * fsop: single file-system calls for the shell integration tests, for the
 * calls coreutils cannot make (renameat2 flags) or makes in ways a test
 * cannot pin down (O_EXCL, O_APPEND after a seek, two descriptors at once).
 * Prints "ok" or the errno name (e.g. "EEXIST") and exits 0, so a test
 * compares the output; exits 2 on bad usage and 1 when a data check fails.
 *
 *   fsop excl PATH                      open(O_CREAT|O_EXCL)
 *   fsop nofollow PATH FLAGS            open(O_NOFOLLOW) with FLAGS r, w or
 *                                       c (O_RDWR|O_CREAT), as gzip opens
 *   fsop rename OLD NEW [noreplace|exchange]
 *   fsop wronly-read PATH TEXT          write TEXT through an O_WRONLY fd, read
 *                                       it back through a second fd while the
 *                                       first is still open
 *   fsop append PATH TEXT               open O_WRONLY|O_APPEND, seek to 0,
 *                                       write TEXT: it must land at the end
 *   fsop mmap-read PATH LEN             print the first LEN bytes (< 4096) as
 *                                       a private read-only mapping sees them
 *   fsop mmap-shared PATH               map PATH shared: "ok" or the errno
 *   fsop lost-write PATH OFF LEN        with PATH held open for reading, write
 *                                       LEN bytes at OFF through a second fd and
 *                                       close it, drop the file's clean cached
 *                                       pages, read the range back and fsync:
 *                                       prints "close=R read=R fsync=R", each R
 *                                       "ok" or an errno name ("read=data" if
 *                                       the read returned bytes other than the
 *                                       written ones)
 *   fsop xattr-set PATH NAME LEN        setxattr of a LEN-byte value (bytes
 *                                       'a' + i % 26)
 *   fsop xattr-get PATH NAME SIZE       getxattr with a SIZE-byte buffer (0: the
 *                                       size query): prints the length it
 *                                       returned, "N data" if the bytes are not
 *                                       xattr-set's, or the errno name
 *   fsop unix-socket PATH               bind a unix stream socket to PATH (the
 *                                       node stays), listen, connect a second
 *                                       one to PATH and pass a message across
 *   fsop unix-connect PATH              connect a unix stream socket to PATH
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

static int result(int rc)
{
	if (rc < 0) {
		const char *name = strerrorname_np(errno);
		printf("%s\n", name ? name : "EUNKNOWN");
	} else {
		printf("ok\n");
	}
	return 0;
}

static int do_wronly_read(const char *path, const char *text)
{
	size_t len = strlen(text);
	char buf[4096];
	int w, r;
	ssize_t n;

	if (len >= sizeof(buf))
		return 2;
	w = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (w < 0)
		return result(-1);
	if (write(w, text, len) != (ssize_t)len)
		return result(-1);
	r = open(path, O_RDONLY);
	if (r < 0)
		return result(-1);
	n = read(r, buf, sizeof(buf));
	if (n < 0)
		return result(-1);
	if ((size_t)n != len || memcmp(buf, text, len) != 0) {
		printf("read back %zd bytes \"%.*s\", wrote %zu \"%s\"\n", n, (int)n, buf, len, text);
		return 1;
	}
	close(r);
	close(w);
	return result(0);
}

static int do_append(const char *path, const char *text)
{
	size_t len = strlen(text);
	struct stat before, after;
	char buf[4096];
	int fd;

	if (len >= sizeof(buf) || stat(path, &before) < 0)
		return result(-1);
	fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0)
		return result(-1);
	if (lseek(fd, 0, SEEK_SET) != 0 || write(fd, text, len) != (ssize_t)len)
		return result(-1);
	if (close(fd) < 0 || stat(path, &after) < 0)
		return result(-1);
	if (after.st_size != before.st_size + (off_t)len) {
		printf("size %lld after appending %zu bytes to %lld\n", (long long)after.st_size,
		       len, (long long)before.st_size);
		return 1;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, buf, len, before.st_size) != (ssize_t)len)
		return result(-1);
	close(fd);
	if (memcmp(buf, text, len) != 0) {
		printf("appended bytes read back as \"%.*s\"\n", (int)len, buf);
		return 1;
	}
	return result(0);
}

/* Maps the file private, so that the kernel fills its page cache from the
 * file, and prints what the mapping holds. */
static int do_mmap_read(const char *path, const char *lenarg)
{
	size_t len = strtoul(lenarg, NULL, 10);
	char *p;
	int fd;

	if (len == 0 || len >= 4096)
		return 2;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return result(-1);
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return result(-1);
	printf("%.*s\n", (int)len, p);
	munmap(p, 4096);
	close(fd);
	return 0;
}

static const char *errname(int rc)
{
	const char *name = rc < 0 ? strerrorname_np(errno) : "ok";

	return name ? name : "EUNKNOWN";
}

static int do_lost_write(const char *path, const char *offarg, const char *lenarg)
{
	static char want[1 << 20], got[1 << 20];
	off_t off = (off_t)strtoll(offarg, NULL, 10);
	size_t len = strtoul(lenarg, NULL, 10);
	const char *cr, *rr, *fr;
	ssize_t n;
	int r, w;

	if (len == 0 || len > sizeof(want))
		return 2;
	memset(want, 'L', len);
	r = open(path, O_RDONLY);
	w = open(path, O_WRONLY);
	if (r < 0 || w < 0)
		return result(-1);
	if (pwrite(w, want, len, off) != (ssize_t)len)
		return result(-1);
	cr = errname(close(w));
	/* Clean pages only: those the kernel holds as written. */
	(void)posix_fadvise(r, 0, 0, POSIX_FADV_DONTNEED);
	n = pread(r, got, len, off);
	rr = n < 0 ? errname(-1) : (size_t)n == len && memcmp(got, want, len) == 0 ? "ok" : "data";
	fr = errname(fsync(r));
	printf("close=%s read=%s fsync=%s\n", cr, rr, fr);
	close(r);
	return 0;
}

static int do_mmap_shared(const char *path)
{
	void *p;
	int fd = open(path, O_RDWR);

	if (fd < 0)
		return result(-1);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return result(-1);
	munmap(p, 4096);
	close(fd);
	return result(0);
}

/* Values up to the kernel's limit for one xattr, and one byte more. */
#define XATTR_MAX_TRY (65536 + 1)

static void xattr_pattern(char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + i % 26);
}

static int do_xattr_set(const char *path, const char *name, const char *lenarg)
{
	static char val[XATTR_MAX_TRY];
	size_t len = strtoul(lenarg, NULL, 10);

	if (len > sizeof(val))
		return 2;
	xattr_pattern(val, len);
	return result(setxattr(path, name, val, len, 0));
}

static int do_xattr_get(const char *path, const char *name, const char *sizearg)
{
	static char val[XATTR_MAX_TRY], want[XATTR_MAX_TRY];
	size_t size = strtoul(sizearg, NULL, 10);
	ssize_t n;

	if (size > sizeof(val))
		return 2;
	n = getxattr(path, name, size ? val : NULL, size);
	if (n < 0)
		return result(-1);
	xattr_pattern(want, (size_t)n);
	printf("%zd%s\n", n, size && memcmp(val, want, (size_t)n) ? " data" : "");
	return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -1;
	strcpy(a->sun_path, path);
	return 0;
}

static int do_unix_socket(const char *path)
{
	struct sockaddr_un a;
	char buf[8] = { 0 };
	int l, c, s;

	if (unix_addr(path, &a) < 0)
		return 2;
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		return result(-1);
	s = accept(l, NULL, NULL);
	if (s < 0 || write(c, "hello", 5) != 5 || read(s, buf, sizeof(buf)) != 5)
		return result(-1);
	if (memcmp(buf, "hello", 5) != 0) {
		printf("received \"%s\"\n", buf);
		return 1;
	}
	close(s);
	close(c);
	close(l);
	return result(0);
}

static int do_unix_connect(const char *path)
{
	struct sockaddr_un a;
	int c = socket(AF_UNIX, SOCK_STREAM, 0);

	if (unix_addr(path, &a) < 0)
		return 2;
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		return result(-1);
	close(c);
	return result(0);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "excl") && argc == 3) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0)
			close(fd);
		return result(fd);
	}
	if (!strcmp(cmd, "nofollow") && argc == 4 && strchr("rwc", argv[3][0]) && argv[3][0]) {
		int how = argv[3][0] == 'r' ? O_RDONLY : argv[3][0] == 'w' ? O_WRONLY : O_RDWR | O_CREAT;
		int fd = open(argv[2], how | O_NOFOLLOW, 0644);
		if (fd >= 0)
			close(fd);
		return result(fd);
	}
	if (!strcmp(cmd, "rename") && (argc == 4 || argc == 5)) {
		unsigned flags = 0;
		if (argc == 5 && !strcmp(argv[4], "noreplace"))
			flags = RENAME_NOREPLACE;
		else if (argc == 5 && !strcmp(argv[4], "exchange"))
			flags = RENAME_EXCHANGE;
		else if (argc == 5)
			return 2;
		return result(renameat2(AT_FDCWD, argv[2], AT_FDCWD, argv[3], flags));
	}
	if (!strcmp(cmd, "wronly-read") && argc == 4)
		return do_wronly_read(argv[2], argv[3]);
	if (!strcmp(cmd, "append") && argc == 4)
		return do_append(argv[2], argv[3]);
	if (!strcmp(cmd, "mmap-read") && argc == 4)
		return do_mmap_read(argv[2], argv[3]);
	if (!strcmp(cmd, "mmap-shared") && argc == 3)
		return do_mmap_shared(argv[2]);
	if (!strcmp(cmd, "lost-write") && argc == 5)
		return do_lost_write(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "xattr-set") && argc == 5)
		return do_xattr_set(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "xattr-get") && argc == 5)
		return do_xattr_get(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "unix-socket") && argc == 3)
		return do_unix_socket(argv[2]);
	if (!strcmp(cmd, "unix-connect") && argc == 3)
		return do_unix_connect(argv[2]);
	fprintf(stderr, "usage: fsop excl PATH | nofollow PATH r|w|c | rename OLD NEW [noreplace|exchange] |\n"
		"            wronly-read PATH TEXT | append PATH TEXT | mmap-read PATH LEN |\n"
		"            mmap-shared PATH | lost-write PATH OFF LEN | xattr-set PATH NAME LEN |\n"
		"            xattr-get PATH NAME SIZE | unix-socket PATH | unix-connect PATH\n");
	return 2;
}
