/*
 * The daemon's pid file, which a service manager reads to know it: never
 * left empty or naming another process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"

int pidfile_write(const char *path)
{
	struct stat st;
	char buf[32];
	int fd, n, rc = 0;

	/* O_NONBLOCK: a FIFO put there must not hang us. */
	fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (rc == 0 && ftruncate(fd, 0) < 0)
		rc = -errno;
	errno = 0;
	if (rc == 0 && write(fd, buf, (size_t)n) != n)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		unlink(path);
	return rc;
}

void pidfile_remove(const char *path)
{
	char buf[32], want[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	snprintf(want, sizeof(want), "%d\n", (int)getpid());
	if (n > 0 && (buf[n] = '\0', strcmp(buf, want) == 0))
		unlink(path);
}
