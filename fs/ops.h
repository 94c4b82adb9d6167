/*
 * The FUSE low-level operations over the backing directory.
 */
#ifndef JCFS_OPS_H
#define JCFS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdint.h>

struct ops_config {
	int root_fd;                    /* backing root (O_PATH or O_RDONLY) */
	int writeback;                  /* kernel writeback cache */
	double timeout;                 /* entry and attribute timeout, seconds */
	uint64_t low_space;             /* bytes; below it, opens bypass the
					   writeback cache (0: never) */
	unsigned max_read;              /* the max_read= mount option, 0 if none */
};

/* Fills ops and prepares the inode table; 0 or -errno. */
int ops_init(const struct ops_config *cfg, struct fuse_lowlevel_ops *ops);
void ops_destroy(void);

/* Clears the set-id bits of the backing file of FUSE inode nodeid as a
 * write by an unprivileged user would (fuseio.h): S_ISUID, and S_ISGID
 * when the group may execute. */
void ops_kill_suidgid(uint64_t nodeid);

#endif
