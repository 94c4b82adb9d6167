/*
 * beneath_open: openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or
 * the same one component at a time where the kernel lacks openat2.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "beneath.h"

static int beneath_openat2(int rootfd, const char *rel, int flags, mode_t mode)
{
	/* No O_NOFOLLOW: with O_DIRECTORY it turns a trailing symlink into
	 * ENOTDIR, where RESOLVE_NO_SYMLINKS says ELOOP for every one. */
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.mode = flags & O_CREAT ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* An open of name in dirfd failed with -rc: -ELOOP if name is a symlink
 * (O_NOFOLLOW with O_DIRECTORY says ENOTDIR for one), else rc. */
static int symlink_err(int dirfd, const char *name, int rc)
{
	struct stat st;

	if (rc == -ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return -ELOOP;
	return rc;
}

/* What openat2 does, one component at a time from rootfd, for kernels
 * before 5.6: every directory on the way opened with O_NOFOLLOW. */
static int beneath_walk(int rootfd, const char *rel, int flags, mode_t mode)
{
	char comp[NAME_MAX + 1];
	const char *p = rel;
	int cur = rootfd, fd, rc;

	for (;;) {
		size_t len;
		const char *next;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		for (next = p + len; *next == '/'; next++)
			;
		if (len > NAME_MAX) {
			rc = -ENAMETOOLONG;
			break;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (!*next) {
			/* The last component; a trailing slash asks for a directory. */
			int f = flags | O_NOFOLLOW | O_CLOEXEC | (p[len] == '/' ? O_DIRECTORY : 0);

			fd = openat(cur, comp, f, mode);
			rc = fd < 0 ? symlink_err(cur, comp, -errno) : fd;
			break;
		}
		p = next;
		if (!strcmp(comp, "."))
			continue;
		fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = symlink_err(cur, comp, -errno);
			break;
		}
		if (cur != rootfd)
			close(cur);
		cur = fd;
	}
	if (cur != rootfd)
		close(cur);
	return rc;
}

/* 1 if path is absolute or has a ".." component. */
static int leads_out(const char *path)
{
	if (*path == '/')
		return 1;
	for (const char *p = path; (p = strstr(p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return 1;
	return 0;
}

int beneath_open(int rootfd, const char *rel, int flags, mode_t mode)
{
	static _Atomic int no_openat2 = -1;
	int fd;

	/* openat2 would take a ".." that stays beneath; refused in both ways
	 * alike, so that a path means the same on every kernel. */
	if (!*rel)
		return -ENOENT;
	if (leads_out(rel))
		return -EXDEV;
	if (no_openat2 < 0)
		no_openat2 = getenv(BENEATH_NO_OPENAT2_ENV) != NULL;
	if (!no_openat2) {
		fd = beneath_openat2(rootfd, rel, flags, mode);
		if (fd != -ENOSYS)
			return fd;
		no_openat2 = 1;
	}
	return beneath_walk(rootfd, rel, flags, mode);
}

const char *beneath_strerror(int err)
{
	if (err == ELOOP)
		return "a symlink in its path (never followed below the backing directory)";
	if (err == EXDEV)
		return "'..' in its path below the backing directory (refused: give the path without it)";
	return strerror(err);
}

