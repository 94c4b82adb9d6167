/*
 * Writes that killing the daemon cannot tear. Linux copies a buffered
 * pwrite into the page cache one page (folio) at a time and stops between
 * pages as soon as the writing task has a fatal signal pending, returning
 * a short write: a daemon killed with SIGKILL in the middle of writing a
 * 4136-byte block leaves it half new and half old, so it fails
 * authentication and the fsync'd bytes it held are gone. This module
 * makes the daemon's data writes in helper processes that share its
 * memory and descriptor table but not its thread group, so a SIGKILL of
 * the daemon does not reach them: a write that has begun is completed,
 * and a helper exits once it is idle and the daemon is gone. Where the
 * helpers cannot be started (clone refused, e.g. under valgrind), and in
 * the offline tools, writes are made directly.
 */
#ifndef JCFS_SAFEWRITE_H
#define JCFS_SAFEWRITE_H

#include <stddef.h>
#include <sys/types.h>

/* Starts the helper processes: one pinned to each CPU the daemon may run
 * on (up to 16 in all), and `unpinned` (1..8) more that are not pinned.
 * 0, or -errno when none could be started (writes are then direct). Call
 * after any fork of the daemon and before the first write. */
int safewrite_start(unsigned unpinned);
/* Stops the helpers and waits for them. No safewrite_pwrite may be in
 * progress or begin while it runs. */
void safewrite_stop(void);
/* 1 while helpers are running. */
int safewrite_active(void);

/* One part of a write made as a single job. When fd refuses the part
 * with EINVAL -- an O_DIRECT descriptor whose alignment it misses -- the
 * whole part is written through alt_fd instead (a descriptor of the same
 * file, or -1 for none) and refused is set. */
struct safewrite_part {
	int fd;
	int alt_fd;
	const void *buf;
	size_t len;
	off_t off;
	int refused;                    /* out */
};

/* Writes all n parts, whole and in order, as one job: a SIGKILL of the
 * daemon stops it neither inside a part nor between two. Returns the sum
 * of their lengths, or -errno of the first that failed; on an error what
 * came before may have been written. A helper that dies with the job has
 * it made again by another, or directly once none is left. */
ssize_t safewrite_pwrite_parts(struct safewrite_part *parts, int n);
/* The same for one part, len bytes of buf at off in fd. */
ssize_t safewrite_pwrite(int fd, const void *buf, size_t len, off_t off);

#endif
