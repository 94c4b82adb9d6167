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
#include "wbehind.h"

struct inode {
	struct inode *next;             /* hash chain */
	int fd;                         /* O_PATH */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;               /* table lock */
	pthread_rwlock_t lock;          /* content: read for reads, write otherwise */
	unsigned nopen;                 /* under lock (write) */
	/* Shared by all handles while nopen > 0; set under lock (write).
	 * Atomic for the one reader without the lock: reserving space for a
	 * writeback write, which comes only while a writable handle is open
	 * and the descriptor cannot change. */
	_Atomic int data_fd;
	int data_rw;                    /* data_fd is open for writing */
	struct content c;               /* loaded while nopen > 0 */
	int direct;                     /* open handles use direct I/O (low space) */
	int drop_cache;                 /* the next cached open drops the kernel's cache */
	struct wbehind wb;              /* writes acknowledged before they are made */
	/* What paths without the lock read of c, published under lock
	 * (write) after every change: the cipher a write uses (0: none, the
	 * file is not open for writing or not encrypted), and the plaintext
	 * size while open (INODE_NO_SIZE: not open). */
	_Atomic int write_cipher;
	_Atomic uint64_t open_size;
	_Atomic int cipher_hint;        /* header cipher seen by stat, 0 unknown;
					   atomic: stats set it under the read lock */
	/* For a regular backing file, the type the kernel was first shown
	 * and always is: S_IFREG, or S_IFIFO / S_IFSOCK for a marker (0:
	 * not shown yet). The kernel marks an inode bad that changes type. */
	_Atomic int node_type;
	_Atomic int link_logged;        /* a bad symlink target was logged */
};

#define INODE_NO_SIZE UINT64_MAX

int inode_table_init(int root_fd, struct inode **root);
void inode_table_destroy(void);

/* The entry for (st->st_dev, st->st_ino), created if new, with its lookup
 * count raised by one. fd (O_PATH) is taken over: kept for a new entry,
 * closed otherwise. NULL with errno on failure. */
struct inode *inode_get(int fd, const struct stat *st);
/* The node_type of the entry for (dev, ino), if the table has one, else
 * 0: what a directory listing may say of a regular backing file. */
int inode_known_type(dev_t dev, ino_t ino);
/* Drops n lookups; the entry is freed when none remain, once the writes
 * answered before they were made are made. */
void inode_forget(struct inode *in, uint64_t n);

/* Opens the backing file of in with flags (a real descriptor). */
int inode_reopen(const struct inode *in, int flags);
/* Points in at a new backing file (fd O_PATH, taken over; st its stat),
 * after the old one was replaced by rename. */
void inode_rebind(struct inode *in, int fd, const struct stat *st);

#endif
