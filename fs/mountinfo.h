/*
 * The kernel's mount table (/proc/self/mountinfo), read for what the
 * commands must know about mounts: whether a path lies inside a live
 * jetcryptfs mount (the tools want the backing directory, never the
 * plaintext view), and what a mount point already carries before a mount
 * (a stacked mount, or a dead one whose daemon was killed).
 */
#ifndef JCFS_MOUNTINFO_H
#define JCFS_MOUNTINFO_H

#include <limits.h>

/* The filesystem type jetcryptfs mounts carry (libfuse's subtype). */
#define MOUNTINFO_JCFS_TYPE "fuse.jetcryptfs"

struct mountinfo {
	int id;                         /* the mount's id (field 1), unique while it exists */
	char target[PATH_MAX];          /* mount point, unescaped */
	char source[PATH_MAX];          /* mount source: our fsname, the backing directory */
	char fstype[64];                /* e.g. "fuse.jetcryptfs", "ext4" */
	int rdonly;                     /* the mount or its filesystem is read-only */
};

/* The topmost mount whose mount point is exactly mnt (an absolute path
 * without symlinks). 1 with *m filled, 0 if nothing is mounted there,
 * -errno if the table cannot be read. */
int mountinfo_at(const char *mnt, struct mountinfo *m);

/* The mount that holds path: the topmost mount whose mount point is path
 * or its nearest parent. path is made absolute and resolved as far as it
 * can be -- a dead FUSE mount (ENOTCONN) cannot be entered, so its
 * components are then taken as written. 1 with *m filled, 0 if none was
 * found (cannot happen while / is mounted), -errno. */
int mountinfo_holding(const char *path, struct mountinfo *m);

/* The topmost jetcryptfs mount whose source is backing (a resolved
 * path): the store's own mount, wherever it is. 1, 0 or -errno. */
int mountinfo_of_store(const char *backing, struct mountinfo *m);

/* 1 if a mount of that id exists; 0, or -errno. */
int mountinfo_has_id(int id);

/* 1 if m is a jetcryptfs mount. */
int mountinfo_is_jcfs(const struct mountinfo *m);

/* Makes path absolute into out (PATH_MAX bytes): realpath() where it
 * resolves, else realpath of the deepest parent that does, followed by
 * the rest as written, with "." and ".." taken lexically. 0 or -errno. */
int mountinfo_abspath(const char *path, char *out);

#endif
