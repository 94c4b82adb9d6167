/*
 * The FUSE low-level operations over the backing directory.
 */
#ifndef JCFS_OPS_H
#define JCFS_OPS_H

#include <fuse_lowlevel.h>
#include <stdint.h>
#include <sys/types.h>

struct ops_config {
	int root_fd;                    /* backing root (O_PATH or O_RDONLY) */
	int writeback;                  /* kernel writeback cache */
	double timeout;                 /* entry and attribute timeout, seconds */
	uint64_t low_space;             /* bytes; below it, opens bypass the
					   writeback cache (0: never) */
	unsigned max_read;              /* the max_read= mount option, 0 if none */
	int noatime;                    /* reads never change atime (-o noatime) */
	int nodiratime;                 /* directory reads never do (-o nodiratime) */
	const char *mountpoint;         /* absolute, resolved: where the mount is */
};

/* Fills ops and prepares the inode table; 0 or -errno. */
int ops_init(const struct ops_config *cfg, struct fuse_lowlevel_ops *ops);
/* Hands ops the session made with those ops, for what the daemon tells
 * the kernel unasked (attributes that are stale). */
void ops_set_session(struct fuse_session *se);
void ops_destroy(void);

/* Clears the set-id bits of the backing file of FUSE inode nodeid that a
 * local filesystem clears when a caller (fsgid, thread id pid) without
 * CAP_FSETID writes or truncates it (fuseio.h): S_ISUID, and S_ISGID when
 * the group may execute or the caller is not in the file's group. */
void ops_kill_suidgid(uint64_t nodeid, gid_t fsgid, pid_t pid);

#endif
