/*
 * Checks and care of the mount point: what may be under it before a
 * mount, the dead mount a killed daemon leaves, the immutable guard on
 * the bare directory, and who keeps a busy mount busy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/fs.h>

#include "log.h"
#include "mountinfo.h"
#include "mountpoint.h"

/* The unmount is made by a child process that holds none of the
 * daemon's descriptors: an unmount first writes the mount's dirty pages
 * back, waiting uninterruptibly for the daemon to answer, and a thread of
 * a daemon killed at that moment would wait for ever, keeping /dev/fuse
 * open so that the connection never ends. As root the child calls
 * umount2 itself (and says errno in its exit status); otherwise it runs
 * fusermount3, which is setuid root and checks that the caller mounted it. */
int mountpoint_unmount(const char *mnt, int lazy)
{
	struct mountinfo m;
	pid_t pid;
	int ws, root = geteuid() == 0;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* System calls only: this is a child of a threaded process. */
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		syscall(SYS_close_range, 3, ~0U, 0);
		if (root)
			_exit(umount2(mnt, lazy ? MNT_DETACH : 0) < 0 ? (errno & 0x7f) : 0);
		if (lazy)
			execlp("fusermount3", "fusermount3", "-u", "-z", "--", mnt, (char *)NULL);
		else
			execlp("fusermount3", "fusermount3", "-u", "--", mnt, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		return 0;
	if (root)
		return WIFEXITED(ws) ? -WEXITSTATUS(ws) : -EIO;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127)
		return -ENOENT;         /* no fusermount3 */
	/* fusermount3 says why only in words: still mounted is busy. */
	return mountinfo_at(mnt, &m) > 0 ? -EBUSY : -EIO;
}

/* A mount point that answers ENOTCONN: the mount of a daemon that died.
 * Cleaned up if it is a jetcryptfs mount of backing -- this very store,
 * which is about to be mounted again -- else left for the operator:
 * JCFS_E_MOUNTPOINT, with the line in err. */
static int clean_dead_mount(const char *mnt, const char *backing, char *err, size_t errlen)
{
	struct mountinfo m;
	int rc = mountinfo_at(mnt, &m);

	if (rc <= 0 || !mountinfo_is_jcfs(&m) || strcmp(m.source, backing)) {
		snprintf(err, errlen, "%s: mount point is a dead mount (%s%s%s, not answering): unmount it with "
			 "'fusermount3 -u -z %s' (or umount -l), then mount again", mnt,
			 rc > 0 ? m.fstype : "unknown", rc > 0 ? " of " : "", rc > 0 ? m.source : "", mnt);
		return JCFS_E_MOUNTPOINT;
	}
	rc = mountpoint_unmount(mnt, 1);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot clean up the dead mount of %s there: %s; run 'fusermount3 -u -z "
			 "%s' as root, then mount again", mnt, backing, strerror(-rc), mnt);
		return JCFS_E_MOUNTPOINT;
	}
	log_warn("%s: cleaned up the dead mount of %s that a killed daemon left there; mounting again", mnt,
		 backing);
	return 0;
}

/* The first entry of directory path other than . and .., in name
 * (NAME_MAX + 1 bytes), and how many there are: 0 for an empty one. */
static long dir_entries(const char *path, char *name, size_t namelen)
{
	struct dirent *de;
	long n = 0;
	DIR *d = opendir(path);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!n++)
			snprintf(name, namelen, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

int mountpoint_prepare(const char *given, const char *backing, unsigned flags, char *out, char *err,
		       size_t errlen)
{
	int nonempty = !!(flags & MOUNTPOINT_NONEMPTY), rc;
	size_t len = strlen(backing);
	char abs[PATH_MAX], first[256];
	struct mountinfo m;
	struct statfs sfs;
	struct stat st;
	long n;

	rc = mountinfo_abspath(given, abs);
	if (rc < 0) {
		snprintf(err, errlen, "%s: mount point: %s", given, strerror(-rc));
		return rc;
	}
	/* statfs, not stat: the kernel may answer a stat of a dead mount's
	 * root from its cache, while statfs always asks the daemon. */
	if (statfs(abs, &sfs) < 0 && errno == ENOTCONN && (rc = clean_dead_mount(abs, backing, err, errlen)) < 0)
		return rc;
	if (!realpath(abs, out) || stat(out, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: mount point: %s", given, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: mount point is not a directory", out);
		return -ENOTDIR;
	}
	/* The daemon would serve its own mount back to itself. */
	if (!strcmp(backing, "/") || (!strncmp(out, backing, len) && (out[len] == '/' || out[len] == '\0'))) {
		snprintf(err, errlen, "%s: mount point is the backing directory %s or inside it", out, backing);
		return JCFS_E_USAGE;
	}
	if (mountinfo_at(out, &m) > 0) {
		if (mountinfo_is_jcfs(&m) && !strcmp(m.source, backing)) {
			snprintf(err, errlen, "%s: %s is already mounted there", out, backing);
			return JCFS_E_BUSY;
		}
		if (!nonempty) {
			snprintf(err, errlen, "%s: mount point already carries a mount (%s of %s) that this one would "
				 "hide: unmount it first, or mount with -o nonempty", out, m.fstype, m.source);
			return JCFS_E_MOUNTPOINT;
		}
	}
	n = nonempty ? 0 : dir_entries(out, first, sizeof(first));
	if (n < 0) {
		snprintf(err, errlen, "%s: mount point: %s", out, strerror((int)-n));
		return (int)n;
	}
	if (n > 0) {
		snprintf(err, errlen, "%s: mount point is not empty (it holds '%s'%s): what is there would be hidden, "
			 "and may be plaintext a program wrote while the store was not mounted; move it out, or mount "
			 "with -o nonempty", out, first, n > 1 ? " and more" : "");
		return JCFS_E_MOUNTPOINT;
	}
	return 0;
}

static int set_immutable(const char *mnt, int on)
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), flags, rc = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
		rc = -errno;
	} else if (!!(flags & FS_IMMUTABLE_FL) != on) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		rc = ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 ? -errno : 1;
	}
	close(fd);
	return rc;
}

int mountpoint_guard(const char *mnt)
{
	return set_immutable(mnt, 1);
}

int mountpoint_unguard(const char *mnt)
{
	int rc = set_immutable(mnt, 0);

	return rc < 0 ? rc : 0;
}

/* 1 if link (a /proc symlink) points at mnt or below it. */
static int proc_link_under(const char *link, const char *mnt, size_t mlen)
{
	char target[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);

	if (n <= 0)
		return 0;
	target[n] = '\0';
	return !strncmp(target, mnt, mlen) && (target[mlen] == '\0' || target[mlen] == '/');
}

/* 1 if process pid has its working or root directory or an open file
 * at or below mnt. */
static int pid_uses(const char *pid, const char *mnt, size_t mlen)
{
	char path[2 * NAME_MAX + 32];
	struct dirent *de;
	int hit;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/cwd", pid);
	hit = proc_link_under(path, mnt, mlen);
	snprintf(path, sizeof(path), "/proc/%s/root", pid);
	hit = hit || proc_link_under(path, mnt, mlen);
	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = hit ? NULL : opendir(path);
	while (d && !hit && (de = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, de->d_name);
		hit = de->d_name[0] != '.' && proc_link_under(path, mnt, mlen);
	}
	if (d)
		closedir(d);
	return hit;
}

size_t mountpoint_users(const char *mnt, char *out, size_t outlen)
{
	size_t found = 0, len = 0, mlen = strlen(mnt);
	char self[32], comm_path[NAME_MAX + 32], comm[64];
	struct dirent *de;
	DIR *d = opendir("/proc");

	out[0] = '\0';
	if (!d)
		return 0;
	snprintf(self, sizeof(self), "%d", (int)getpid());
	while ((de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || !strcmp(de->d_name, self) ||
		    !pid_uses(de->d_name, mnt, mlen))
			continue;
		if (found++ >= 5)
			continue;
		snprintf(comm_path, sizeof(comm_path), "/proc/%s/comm", de->d_name);
		comm[0] = '\0';
		f = fopen(comm_path, "re");
		if (f && fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		if (f)
			fclose(f);
		if (len < outlen)
			len += (size_t)snprintf(out + len, outlen - len, "%s%s %s", len ? ", " : "", de->d_name, comm);
	}
	closedir(d);
	if (found > 5 && len < outlen)
		snprintf(out + len, outlen - len, " and %zu more", found - 5);
	return found;
}
