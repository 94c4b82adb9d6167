/*
 * mkobj: makes one file-system object with exactly the mode given, in one
 * system call and under umask 0, for the tests of what a filesystem does
 * with the set-id bits of new objects (coreutils' mkdir -m and install -m
 * chmod afterwards, which is another rule).
 *
 *   mkobj file PATH MODE     open(O_CREAT|O_EXCL|O_WRONLY, MODE)
 *   mkobj dir PATH MODE      mkdir(MODE)
 *   mkobj fifo PATH MODE     mknod(S_IFIFO | MODE)
 *
 * MODE is octal. Prints "ok" or the errno name and exits 0; exits 2 on bad
 * usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	mode_t mode;
	char *end;
	int rc, fd;

	if (argc != 4) {
		fprintf(stderr, "usage: mkobj file|dir|fifo PATH MODE\n");
		return 2;
	}
	mode = (mode_t)strtoul(argv[3], &end, 8);
	if (*end || end == argv[3] || mode > 07777) {
		fprintf(stderr, "mkobj: bad mode %s\n", argv[3]);
		return 2;
	}
	umask(0);
	if (!strcmp(argv[1], "file")) {
		fd = open(argv[2], O_CREAT | O_EXCL | O_WRONLY, mode);
		rc = fd < 0 ? -1 : close(fd);
	} else if (!strcmp(argv[1], "dir")) {
		rc = mkdir(argv[2], mode);
	} else if (!strcmp(argv[1], "fifo")) {
		rc = mknod(argv[2], S_IFIFO | mode, 0);
	} else {
		fprintf(stderr, "mkobj: unknown kind %s\n", argv[1]);
		return 2;
	}
	if (rc < 0) {
		const char *name = strerrorname_np(errno);

		printf("%s\n", name ? name : "EUNKNOWN");
	} else {
		printf("ok\n");
	}
	return 0;
}
