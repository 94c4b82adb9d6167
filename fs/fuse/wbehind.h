/*
 * Writeback writes acknowledged before they are made. With the writeback
 * cache, close() of a FUSE file waits until the daemon has answered every
 * WRITE the kernel sends for the file's dirty pages, and a file's WRITEs
 * are made one after another under its lock: nats-server, which closes
 * each full message block as it moves to the next, waited about 1 ms per
 * MiB there (docs/PERFORMANCE.md). So the daemon answers a large
 * writeback WRITE as soon as its space is reserved (an ENOSPC is still
 * that WRITE's answer) and it has its place in the file's order, and
 * makes it afterwards, in the same worker, whose request buffer still
 * holds the data. The kernel's write-back of a file's times at close
 * takes a place the same way (ops.c).
 *
 * This module keeps that order for one file: places are taken in the
 * order requests arrive (the kernel sends a newer WRITE of a page only
 * once the older one is answered), they are made in that order, and every
 * other operation on the file first waits for those answered before it.
 * A write that fails is kept as the file's error, for fsync and reads, for
 * as long as the kernel holds the inode: it still has the size that write
 * gave the file.
 */
#ifndef JCFS_WBEHIND_H
#define JCFS_WBEHIND_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct wbehind_waiter;

struct wbehind {
	pthread_mutex_t lock;
	struct wbehind_waiter *waiters; /* each woken alone, when its turn comes */
	uint64_t taken;                 /* places given out */
	uint64_t made;                  /* writes made, in order */
	int err;                        /* first error of a write, -errno */
};

void wbehind_init(struct wbehind *w);
void wbehind_destroy(struct wbehind *w);

/* Takes the next place in w's order into *place, for an operation that
 * changes the backing file by len bytes of data (0: metadata alone).
 * Returns 1 if it may be answered before it is made: when operations
 * before it are still to be made, or when it writes WBEHIND_EARLY bytes or
 * more -- a MiB takes about a millisecond to make; a small write is made
 * sooner than another thread that waits for it (an fsync) can be woken --
 * and while fewer than WBEHIND_MAX are answered and not yet made in the
 * whole daemon. Each of those holds its worker (whose buffer has the data)
 * until it is made, so the daemon's 16 workers (main.c) bound them anyway;
 * the limit keeps what a killed daemon can lose of answered writes at 16
 * MiB if the workers ever grow. It is not lower because close() waits for
 * the last of a file's WRITEs, 9 for an 8 MiB nats-server block, and one
 * made before it is answered makes it wait for all before it. */
int wbehind_take(struct wbehind *w, size_t len, uint64_t *place);
#define WBEHIND_EARLY (256u << 10)
#define WBEHIND_MAX 16
/* Waits until every write before place has been made. */
void wbehind_wait_turn(struct wbehind *w, uint64_t place);
/* The operation at the current place is made; early is wbehind_take's
 * answer, rc its result (0 or -errno), kept as w's error if it is the
 * first to fail. */
void wbehind_done(struct wbehind *w, int early, int rc);

/* Waits until every write that has a place so far is made; returns the
 * kept error (0 or -errno). */
int wbehind_drain(struct wbehind *w);

#endif
