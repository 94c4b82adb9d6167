/*
 * The inode table, a hash of entries keyed by backing (dev, ino), in the
 * shape of libfuse's passthrough_ll: the FUSE inode number is the entry's
 * address, and an entry lives while the kernel holds a lookup on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "inode.h"

#define INODE_BUCKETS 4096

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inode *buckets[INODE_BUCKETS];
static struct inode root_inode;

static size_t inode_hash(dev_t dev, ino_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) ^ dev) % INODE_BUCKETS;
}

int inode_table_init(int root_fd, struct inode **root)
{
	struct stat st;

	if (fstat(root_fd, &st) < 0)
		return -errno;
	root_inode.fd = root_fd;
	root_inode.dev = st.st_dev;
	root_inode.ino = st.st_ino;
	root_inode.nlookup = 2;         /* never forgotten */
	root_inode.data_fd = -1;
	root_inode.open_size = INODE_NO_SIZE;
	pthread_rwlock_init(&root_inode.lock, NULL);
	wbehind_init(&root_inode.wb);
	*root = &root_inode;
	return 0;
}

static void inode_free(struct inode *in)
{
	/* An operation answered before it was made may still be making it
	 * (wbehind.h): the kernel can forget an inode as soon as it has
	 * every answer. */
	(void)wbehind_drain(&in->wb);
	content_unload(&in->c);
	if (in->data_fd >= 0)
		close(in->data_fd);
	close(in->fd);
	pthread_rwlock_destroy(&in->lock);
	wbehind_destroy(&in->wb);
	free(in);
}

void inode_table_destroy(void)
{
	pthread_mutex_lock(&table_lock);
	for (size_t i = 0; i < INODE_BUCKETS; i++) {
		while (buckets[i]) {
			struct inode *in = buckets[i];

			buckets[i] = in->next;
			inode_free(in);
		}
	}
	pthread_mutex_unlock(&table_lock);
}

struct inode *inode_get(int fd, const struct stat *st)
{
	struct inode *in;
	size_t h = inode_hash(st->st_dev, st->st_ino);

	pthread_mutex_lock(&table_lock);
	if (st->st_dev == root_inode.dev && st->st_ino == root_inode.ino) {
		in = &root_inode;
		goto found;
	}
	for (in = buckets[h]; in; in = in->next)
		if (in->dev == st->st_dev && in->ino == st->st_ino)
			goto found;

	in = calloc(1, sizeof(*in));
	if (!in) {
		pthread_mutex_unlock(&table_lock);
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	in->fd = fd;
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->nlookup = 1;
	in->data_fd = -1;
	in->open_size = INODE_NO_SIZE;
	pthread_rwlock_init(&in->lock, NULL);
	wbehind_init(&in->wb);
	in->next = buckets[h];
	buckets[h] = in;
	pthread_mutex_unlock(&table_lock);
	return in;

found:
	in->nlookup++;
	pthread_mutex_unlock(&table_lock);
	close(fd);
	return in;
}

int inode_known_type(dev_t dev, ino_t ino)
{
	struct inode *in;
	int type = 0;

	pthread_mutex_lock(&table_lock);
	for (in = buckets[inode_hash(dev, ino)]; in; in = in->next) {
		if (in->dev == dev && in->ino == ino) {
			type = in->node_type;
			break;
		}
	}
	pthread_mutex_unlock(&table_lock);
	return type;
}

/* Unlinks in from its hash chain; table lock held. */
static void inode_unhash(struct inode *in)
{
	for (struct inode **pp = &buckets[inode_hash(in->dev, in->ino)]; *pp; pp = &(*pp)->next) {
		if (*pp == in) {
			*pp = in->next;
			return;
		}
	}
}

void inode_rebind(struct inode *in, int fd, const struct stat *st)
{
	size_t h = inode_hash(st->st_dev, st->st_ino);

	pthread_mutex_lock(&table_lock);
	inode_unhash(in);
	close(in->fd);
	in->fd = fd;
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->next = buckets[h];
	buckets[h] = in;
	pthread_mutex_unlock(&table_lock);
}

void inode_forget(struct inode *in, uint64_t n)
{
	if (in == &root_inode)
		return;
	pthread_mutex_lock(&table_lock);
	in->nlookup = n >= in->nlookup ? 0 : in->nlookup - n;
	if (in->nlookup == 0) {
		inode_unhash(in);
		pthread_mutex_unlock(&table_lock);
		inode_free(in);
		return;
	}
	pthread_mutex_unlock(&table_lock);
}

int inode_reopen(const struct inode *in, int flags)
{
	char proc[64];
	int fd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", in->fd);
	fd = open(proc, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}
