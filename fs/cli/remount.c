/*
 * Remounting a live jetcryptfs mount (see remount.h): checks that the
 * mount point carries a jetcryptfs mount of the backing directory, starts
 * from the flags the mount has (statvfs), applies those the options ask
 * for, and calls mount(2) with MS_REMOUNT as mount(8) would without a
 * helper. Starting from the mount's own flags matters: MS_REMOUNT sets
 * every per-mount flag, and one left out (nosuid, nodev) would be cleared.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include "mountinfo.h"
#include "remount.h"

static const struct {
	const char *set, *clear;
	unsigned long flag;
} flag_opts[] = {
	{ "ro", "rw", MS_RDONLY },
	{ "nosuid", "suid", MS_NOSUID },
	{ "nodev", "dev", MS_NODEV },
	{ "noexec", "exec", MS_NOEXEC },
	{ "sync", "async", MS_SYNCHRONOUS },
	{ "dirsync", NULL, MS_DIRSYNC },
	{ "nosymfollow", "symfollow", MS_NOSYMFOLLOW },
};

/* The MS_ flags of a mount whose statvfs flags are f. */
static unsigned long ms_flags(unsigned long f)
{
	unsigned long ms = 0;

	if (f & ST_RDONLY)
		ms |= MS_RDONLY;
	if (f & ST_NOSUID)
		ms |= MS_NOSUID;
	if (f & ST_NODEV)
		ms |= MS_NODEV;
	if (f & ST_NOEXEC)
		ms |= MS_NOEXEC;
	if (f & ST_SYNCHRONOUS)
		ms |= MS_SYNCHRONOUS;
	if (f & ST_NOATIME)
		ms |= MS_NOATIME;
	if (f & ST_NODIRATIME)
		ms |= MS_NODIRATIME;
	if (f & ST_RELATIME)
		ms |= MS_RELATIME;
#ifdef ST_NOSYMFOLLOW
	if (f & ST_NOSYMFOLLOW)
		ms |= MS_NOSYMFOLLOW;
#endif
	return ms;
}

/* Applies the options of opts to *ms. -1 with err filled for one that
 * would change how the daemon keeps access times. */
static int apply_opts(const char *mnt, const char *opts, unsigned long *ms, char *err, size_t errlen)
{
	char *copy = strdup(opts), *save = NULL;
	int rc = 0;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *o = strtok_r(copy, ",", &save); o && rc == 0; o = strtok_r(NULL, ",", &save)) {
		for (size_t i = 0; i < sizeof(flag_opts) / sizeof(flag_opts[0]); i++) {
			if (!strcmp(o, flag_opts[i].set))
				*ms |= flag_opts[i].flag;
			else if (flag_opts[i].clear && !strcmp(o, flag_opts[i].clear))
				*ms &= ~flag_opts[i].flag;
		}
		/* The daemon keeps access times (or not) as it was started:
		 * the kernel's flag says which, and must go on saying it. */
		if ((!strcmp(o, "noatime") && !(*ms & MS_NOATIME)) ||
		    (!strcmp(o, "atime") && (*ms & MS_NOATIME))) {
			snprintf(err, errlen, "%s: a remount cannot change how access times are kept (the daemon keeps "
				 "them as it was started): unmount, then mount with%s -o noatime", mnt,
				 o[0] == 'n' ? "" : "out");
			rc = -1;
		}
	}
	free(copy);
	return rc;
}

int remount_run(const char *backing, const char *mountpoint, const char *opts, char *err, size_t errlen)
{
	char mnt[PATH_MAX], back[PATH_MAX];
	struct mountinfo m;
	struct statvfs sv;
	unsigned long ms;
	int rc;

	if (!realpath(mountpoint, mnt) || statvfs(mnt, &sv) < 0) {
		int e = errno;

		if (e == ENOTCONN)
			snprintf(err, errlen, "%s: a dead mount (its daemon is gone): unmount it (umount %s) and "
				 "mount again", mountpoint, mountpoint);
		else
			snprintf(err, errlen, "%s: %s", mountpoint, strerror(e));
		return e == ENOTCONN ? JCFS_E_MOUNTPOINT : -e;
	}
	if (!realpath(backing, back)) {
		rc = -errno;
		snprintf(err, errlen, "%s: backing directory: %s", backing, strerror(-rc));
		return rc;
	}
	rc = mountinfo_at(mnt, &m);
	if (rc <= 0 || !mountinfo_is_jcfs(&m) || strcmp(m.source, back)) {
		if (rc < 0)
			snprintf(err, errlen, "/proc/self/mountinfo: %s", strerror(-rc));
		else if (rc == 0)
			snprintf(err, errlen, "%s: nothing is mounted there to remount: mount it (with -o ro for a "
				 "read-only mount)", mnt);
		else if (!mountinfo_is_jcfs(&m))
			snprintf(err, errlen, "%s: a %s mount, not jetcryptfs: nothing of ours to remount", mnt,
				 m.fstype);
		else
			snprintf(err, errlen, "%s: a jetcryptfs mount of %s, not of %s: name its own backing directory",
				 mnt, m.source, back);
		return rc < 0 ? rc : JCFS_E_MOUNTPOINT;
	}
	ms = ms_flags(sv.f_flag);
	if (apply_opts(mnt, opts, &ms, err, errlen) < 0)
		return JCFS_E_USAGE;
	if (mount(m.source, mnt, NULL, MS_REMOUNT | ms, NULL) == 0)
		return 0;
	rc = -errno;
	if (rc == -EPERM)
		snprintf(err, errlen, "%s: remounting needs root (CAP_SYS_ADMIN): unmount it (fusermount3 -u %s), "
			 "then mount it again%s", mnt, mnt, (ms & MS_RDONLY) ? " with -o ro" : "");
	else if (rc == -EBUSY && (ms & MS_RDONLY))
		snprintf(err, errlen, "%s: busy: a file on it is open for writing, which a read-only remount does "
			 "not allow; close it, or unmount and mount with -o ro", mnt);
	else
		snprintf(err, errlen, "%s: remount failed: %s", mnt, strerror(-rc));
	return rc;
}
