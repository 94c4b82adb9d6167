/*
 * The inode table: one entry per backing inode (st_dev, st_ino), shared
 * by every name (hard links) and every open handle of it. An entry holds
 * an O_PATH descriptor of the backing file, the kernel's lookup count, and
 * -- while the file is open -- its content state under the entry's lock.
 */
#ifndef JCFS_INODE_H
#define JCFS_INODE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "content.h"

struct inode {
	struct inode *next;             /* hash chain */
	int fd;                         /* O_PATH */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;               /* table lock */
	pthread_rwlock_t lock;          /* content: read for reads, write otherwise */
	unsigned nopen;                 /* under lock (write) */
	int data_fd;                    /* shared by all handles while nopen > 0 */
	int data_rw;                    /* data_fd is open for writing */
	struct content c;               /* loaded while nopen > 0 */
	int direct;                     /* open handles use direct I/O (low space) */
	int was_direct;                 /* the next cached open drops the cache */
	_Atomic int cipher_hint;        /* header cipher seen by stat, 0 unknown;
					   atomic: stats set it under the read lock */
};

int inode_table_init(int root_fd, struct inode **root);
void inode_table_destroy(void);

/* The entry for (st->st_dev, st->st_ino), created if new, with its lookup
 * count raised by one. fd (O_PATH) is taken over: kept for a new entry,
 * closed otherwise. NULL with errno on failure. */
struct inode *inode_get(int fd, const struct stat *st);
/* Drops n lookups; the entry is freed when none remain. */
void inode_forget(struct inode *in, uint64_t n);

/* Opens the backing file of in with flags (a real descriptor). */
int inode_reopen(const struct inode *in, int flags);
/* Points in at a new backing file (fd O_PATH, taken over; st its stat),
 * after the old one was replaced by rename. */
void inode_rebind(struct inode *in, int fd, const struct stat *st);

#endif
