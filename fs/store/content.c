/*
 * Encrypted file contents, block by block. Every block is written with
 * one pwrite of nonce || ciphertext || tag, and a request's blocks go out
 * in one pwrite when contiguous (three for a large one, below), made by a
 * helper process a SIGKILL of the daemon does not stop (safewrite.h), so
 * a killed daemon leaves whole blocks. The bytes a write will cover are
 * reserved with fallocate first, so a full disk fails it with ENOSPC
 * before anything has changed. Blocks are built in a per-thread scratch
 * buffer: no allocation on the data path. Large reads and the whole pages
 * of large writes go to the disk with O_DIRECT, around the backing
 * filesystem's page cache: the ciphertext is not cached a second time
 * beside the mount's plaintext, and copying it through fresh page-cache
 * pages cost half the machine's CPU time of sequential I/O
 * (docs/PERFORMANCE.md). File keys live in pages of locked memory
 * (keyslot_*), since one sodium_malloc per open file would cost three
 * pages of address space and a locked page each, and are wiped with
 * what the threads' cipher contexts kept of them when the file is
 * unloaded. A file gets a new file id, and so a new key, where that is
 * free: see CONTENT_ID_BUDGET.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "block.h"
#include "content.h"
#include "kdf.h"
#include "log.h"
#include "node.h"
#include "safewrite.h"

#define BS FMT_BLOCK_SIZE
/* A request of up to 1 MiB at any offset spans at most 257 blocks. */
#define SCRATCH_BLOCKS 258
#define PAGE 4096

static struct content_ctx ctx;

/* Why 2^20 blocks: a file's id is renewed at the first whole-file rewrite
 * after that many encryptions under it. After q encryptions under one key
 * with random 96-bit nonces the chance of a repeat is below q^2 / 2^97:
 * 2^-57 here, and 2^-33 at NIST's limit of 2^32. The threshold is far
 * below that limit because the count restarts at each mount (it is not
 * stored) and because a chance to renew may come long after it is
 * passed: a file rewritten whole only once for every 4096 x 2^20 blocks
 * written in place still stays within 2^32. It is not lower because a
 * renewal is not free: a key derivation (microseconds), and a power loss
 * that tears the rewrite makes every block the header does not match
 * unreadable (EIO) -- the blocks the unsynced rewrite covered, which is
 * the whole file -- where an in-place rewrite loses only the torn blocks.
 * 2^20 blocks is 4 GiB encrypted under one id: renewals stay rare. */
static uint64_t id_budget = CONTENT_ID_BUDGET;
#define ID_BUDGET_ENV "JETCRYPTFS_TEST_ID_BUDGET"

static uint64_t serial_last;    /* content.serial, atomic */

/* ---- locked key slots ---- */

#define SLOTS_PER_PAGE 128

struct keypage {
	struct keypage *next;
	uint8_t *mem;                   /* sodium_malloc'd, SLOTS_PER_PAGE keys */
	unsigned char used[SLOTS_PER_PAGE];
};

static pthread_mutex_t keyslot_lock = PTHREAD_MUTEX_INITIALIZER;
static struct keypage *keypages;

static uint8_t *keyslot_get(void)
{
	struct keypage *p;
	uint8_t *slot = NULL;

	pthread_mutex_lock(&keyslot_lock);
	for (p = keypages; p && !slot; p = p->next) {
		for (int i = 0; i < SLOTS_PER_PAGE; i++) {
			if (!p->used[i]) {
				p->used[i] = 1;
				slot = p->mem + (size_t)i * KDF_KEY_SIZE;
				break;
			}
		}
	}
	if (!slot) {
		p = calloc(1, sizeof(*p));
		if (p)
			p->mem = sodium_malloc(SLOTS_PER_PAGE * KDF_KEY_SIZE);
		if (p && p->mem) {
			p->used[0] = 1;
			slot = p->mem;
			p->next = keypages;
			keypages = p;
		} else {
			free(p);
		}
	}
	pthread_mutex_unlock(&keyslot_lock);
	return slot;
}

static void keyslot_put(uint8_t *slot)
{
	pthread_mutex_lock(&keyslot_lock);
	for (struct keypage *p = keypages; p; p = p->next) {
		if (slot >= p->mem && slot < p->mem + SLOTS_PER_PAGE * KDF_KEY_SIZE) {
			sodium_memzero(slot, KDF_KEY_SIZE);
			p->used[(slot - p->mem) / KDF_KEY_SIZE] = 0;
			break;
		}
	}
	pthread_mutex_unlock(&keyslot_lock);
}

/* ---- per-thread scratch ---- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
	free(p);
}

static void scratch_init(void)
{
	(void)pthread_key_create(&scratch_key, scratch_free);
}

/* The thread's buffer for the stored blocks of one request, placed for a
 * pread or pwrite at backing offset at: at the same offset within a page.
 * The kernel copies between the page cache and this buffer page by page,
 * with `rep movsb`, which on the AMD EPYC of docs/PERFORMANCE.md is 2-5x
 * slower when source and destination are not equally aligned -- and a
 * stored block (4096 + 40 bytes) rarely starts at a page boundary.
 * Measured there: 1 MiB preads from the page cache ran at 6.7 GB/s into
 * malloc's buffer (16 bytes past a page) and 12.5 GB/s equally aligned;
 * pwrites to file offset 8 at 3.1 GB/s from a page-aligned buffer and
 * 14.6 GB/s from one at offset 8. */
static uint8_t *scratch(uint64_t at)
{
	void *v;
	uint8_t *p;

	pthread_once(&scratch_once, scratch_init);
	p = pthread_getspecific(scratch_key);
	if (!p) {
		/* A page at each end: the offset within the first, and the
		 * rest of the last, which a direct read fills too. */
		p = posix_memalign(&v, PAGE, (size_t)SCRATCH_BLOCKS * (BS + FMT_MAX_NONCE + FMT_TAG_SIZE) +
						 2 * PAGE) == 0 ? v : NULL;
		if (p && pthread_setspecific(scratch_key, p) != 0) {
			free(p);
			p = NULL;
		}
	}
	return p ? p + at % PAGE : NULL;
}

/* ---- setup ---- */

int content_setup(const struct content_ctx *c)
{
	const char *budget = getenv(ID_BUDGET_ENV);
	char *end;

	ctx = *c;
	id_budget = CONTENT_ID_BUDGET;
	if (budget && *budget) {
		unsigned long long v = strtoull(budget, &end, 10);

		if (*end == '\0') {
			id_budget = v;
			log_warn("%s=%llu: a test setting; AES files get a new file id after %llu blocks", ID_BUDGET_ENV,
				 v, v);
		}
	}
	return block_init();
}

int content_plaintext_allowed(void)
{
	return ctx.plaintext_allowed;
}

void content_teardown(void)
{
	while (keypages) {
		struct keypage *p = keypages;

		keypages = p->next;
		sodium_free(p->mem);
		free(p);
	}
}

/* The backing path of fd, for messages. */
static void fd_name(int fd, char *out, size_t len)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, out, len - 1);
	if (n < 0)
		n = snprintf(out, len, "fd %d", fd) < 0 ? 0 : (ssize_t)strlen(out);
	out[n] = '\0';
}

static void key_hex(const uint8_t *id, char out[2 * FMT_KEY_ID_SIZE + 1])
{
	kdf_key_id_hex(id, out);
}

/* ---- plaintext ranges in blocks ---- */

struct block_range block_range_of(uint64_t off, uint64_t len)
{
	struct block_range r = { .off = off, .end = off + len, .first = off / BS };

	r.last = len ? (r.end - 1) / BS : r.first;
	r.blocks = len ? r.last - r.first + 1 : 0;
	return r;
}

struct block_span block_range_span(const struct block_range *r, uint64_t b)
{
	uint64_t start = b * BS;
	uint64_t from = r->off > start ? r->off : start;
	uint64_t to = r->end < start + BS ? r->end : start + BS;

	return (struct block_span){ .block = b, .skip = (uint32_t)(from - start), .len = (uint32_t)(to - from),
				    .pos = from - r->off };
}

struct block_span block_tail(uint64_t size)
{
	return (struct block_span){ .block = size / BS, .skip = 0, .len = (uint32_t)(size % BS),
				    .pos = size - size % BS };
}

/* Plaintext length of block b in a file of size bytes (0 past the end). */
static size_t block_len(uint64_t size, uint64_t b)
{
	uint64_t start = b * BS;

	if (start >= size)
		return 0;
	return size - start >= BS ? BS : (size_t)(size - start);
}

/* ---- direct I/O ---- */

/* A write of this much or more of whole pages of the backing file goes
 * around its page cache (O_DIRECT). Below it, cached writes cost less: a
 * direct write waits for the disk, and 64 KiB requests (fio's 4 KiB
 * appends with an fdatasync every 16) ran 10-20% slower with direct
 * writes from 32 KiB on. */
#define DIRECT_MIN (256u << 10)
/* A read of this much or more goes around the cache too: the kernel's
 * readahead of a FUSE file starts with requests of 16 KiB, and a cached
 * read of those makes the backing file's own readahead fetch into the
 * cache what the next, direct, reads fetch again. */
#define DIRECT_READ_MIN (16u << 10)

/* c->direct while a reader opens the descriptor (direct_read). */
#define DIRECT_OPENING 2

/* Logs why the backing file fd's I/O goes through the page cache. */
static void direct_off(int fd, const char *why)
{
	char name[PATH_MAX];

	fd_name(fd, name, sizeof(name));
	log_debug("%s: %s: it goes through the page cache", name, why);
}

/* A new O_DIRECT descriptor of the backing file fd, for writing too if
 * rw, or -1. With fd's O_NOATIME: the caller decides whether its reads
 * may change the backing file's atime (ops.c), and reads through either
 * descriptor must agree. */
static int direct_reopen(int fd, int rw)
{
	int noatime = fcntl(fd, F_GETFL) & O_NOATIME;
	int flags = (rw ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC;
	char proc[64];
	int dfd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	dfd = open(proc, flags | noatime);
	if (dfd < 0 && errno == EPERM && noatime)
		dfd = open(proc, flags);
	if (dfd < 0)
		direct_off(fd, strerror(errno));
	return dfd;
}

/* c's O_DIRECT descriptor of the backing file fd for a write, opened or
 * made writable if need be -- a file first opened for reading only gets
 * a writable backing descriptor when a writer opens it (ops.c) -- or -1
 * where it is not to be used. With exclusive access to c only. */
static int direct_for_write(struct content *c, int fd)
{
	int dfd;

	if (c->direct < 0 || (c->direct > 0 && c->direct_rw))
		return c->direct > 0 ? c->direct_fd : -1;
	if (ctx.cached_backing) {
		c->direct = -1;
		return -1;
	}
	dfd = direct_reopen(fd, 1);
	if (dfd < 0) {
		/* A read-only one still serves reads. */
		if (c->direct == 0)
			c->direct = -1;
		return -1;
	}
	if (c->direct > 0)
		close(c->direct_fd);
	c->direct_fd = dfd;
	c->direct_rw = 1;
	c->direct = 1;
	return dfd;
}

/* Reads the stored bytes [at, at + len) into sc (placed by scratch(at))
 * with one direct read of the pages they touch, into the page-aligned
 * start of the scratch, which has room for the pages' slack at both ends.
 * Reads share c under the inode's read lock, so the first that needs the
 * descriptor claims its opening; the others read through the cache
 * meanwhile. Returns 0, -EAGAIN where a cached read is to be made instead
 * (too short to pay, no direct descriptor, refused), -ENODATA if the file
 * ends before at + len, or -errno. */
static int direct_read(struct content *c, int fd, uint8_t *sc, size_t len, uint64_t at)
{
	uint64_t from = at / PAGE * PAGE, to = (at + len + PAGE - 1) / PAGE * PAGE;
	uint8_t *dst = sc - (at - from);
	size_t got = 0;
	ssize_t n;
	int state = 0;

	if (len < DIRECT_READ_MIN || ctx.cached_backing ||
	    __atomic_load_n(&c->direct_reads_refused, __ATOMIC_RELAXED))
		return -EAGAIN;
	if (__atomic_compare_exchange_n(&c->direct, &state, DIRECT_OPENING, 0, __ATOMIC_ACQUIRE,
					__ATOMIC_ACQUIRE)) {
		/* With fd's access mode: writable if the daemon may write. */
		c->direct_rw = (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY;
		c->direct_fd = direct_reopen(fd, c->direct_rw);
		state = c->direct_fd >= 0 ? 1 : -1;
		__atomic_store_n(&c->direct, state, __ATOMIC_RELEASE);
	}
	if (state != 1)
		return -EAGAIN;
	while (got < to - from) {
		n = pread(c->direct_fd, dst + got, (size_t)(to - from) - got, (off_t)(from + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL) {
			/* Refused (alignment): the cached read redoes it all,
			 * and later reads do not ask again. */
			__atomic_store_n(&c->direct_reads_refused, 1, __ATOMIC_RELAXED);
			return -EAGAIN;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return from + got >= at + len ? 0 : -ENODATA;
}

/* Reserves backing bytes [from, to) before they are written, as gocryptfs
 * does: on a full disk the write then fails with ENOSPC before any block
 * changed, never half done. Filesystems without fallocate go ahead (and
 * copy-on-write ones may still fail later: see docs/SECURITY.md). */
static int content_reserve(int fd, uint64_t from, uint64_t to)
{
	if (to <= from)
		return 0;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(to - from)) == 0)
		return 0;
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		return 0;
	return -errno;
}

int content_write_cipher(const struct content *c)
{
	if (c->kind == CONTENT_ENCRYPTED)
		return c->cipher;
	return c->kind == CONTENT_EMPTY ? ctx.cipher : 0;
}

int content_reserve_write(int fd, int cipher, uint64_t off, size_t len)
{
	struct block_range r = block_range_of(off, len);
	struct block_span last;
	struct stat st;
	uint64_t from, to;

	if (len == 0)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* Below the backing end everything is allocated but holes, and the
	 * range covers those: it is contiguous from the write's first block
	 * on. Past the end lie the growth of the last block, if partial, and
	 * the header of a file that has none. */
	last = block_range_span(&r, r.last);
	from = fmt_block_offset(cipher, r.first);
	if ((uint64_t)st.st_size < from)
		from = (uint64_t)st.st_size;
	to = fmt_block_offset(cipher, r.last) + last.skip + last.len + fmt_block_overhead(cipher);
	return content_reserve(fd, from, to);
}

int content_peek_header(int fd, struct fmt_header *h, uint8_t *raw)
{
	uint8_t buf[FMT_HEADER_SIZE], *p = raw ? raw : buf;
	size_t got = 0;
	ssize_t n;

	memset(h, 0, sizeof(*h));
	memset(p, 0, FMT_HEADER_SIZE);
	while (got < FMT_HEADER_SIZE) {
		n = pread(fd, p + got, FMT_HEADER_SIZE - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ENODATA || errno == EBADMSG || errno == EPROTO ? -EIO : -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return fmt_header_decode(h, p, got);
}

int content_stat_size(int fd, const struct stat *st, uint64_t *size, int *cipher, int *node)
{
	struct fmt_header h, mh;
	int rc;

	*cipher = 0;
	*node = FMT_NODE_FILE;
	if (st->st_size == 0) {
		*size = 0;
		return 0;
	}
	rc = content_peek_header(fd, &h, NULL);
	if (rc < 0 && rc != -ENODATA && rc != -EBADMSG && rc != -EPROTO)
		return rc;
	if (rc < 0) {
		/* Plaintext or damaged: show what is there; reads decide. */
		*size = (uint64_t)st->st_size;
		return 0;
	}
	*cipher = h.cipher;
	/* A marker is shown as the FIFO or socket its header claims only if
	 * it authenticates under a configured key; its second read is paid
	 * by markers only. */
	if ((h.node == FMT_NODE_FIFO || h.node == FMT_NODE_SOCKET) && st->st_size <= NODE_MARKER_MAX &&
	    content_marker_read(fd, node, &mh) == 0) {
		*size = 0;
		return 0;
	}
	/* Cut inside a block's overhead: count the whole blocks only. */
	if (fmt_plaintext_size(h.cipher, (uint64_t)st->st_size, size) < 0)
		*size = fmt_whole_blocks_size(h.cipher, (uint64_t)st->st_size);
	return 0;
}

int content_load(struct content *c, int fd)
{
	char name[PATH_MAX];
	uint8_t raw[FMT_HEADER_SIZE];
	struct fmt_header h;
	const struct keyring_key *k;
	struct stat st;
	char hex[2 * FMT_KEY_ID_SIZE + 1];
	struct content_budget budget = c->budget;
	int rc;

	memset(c, 0, sizeof(*c));
	c->budget = budget;
	c->serial = __atomic_add_fetch(&serial_last, 1, __ATOMIC_RELAXED);
	fd_name(fd, name, sizeof(name));
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0) {
		c->kind = CONTENT_EMPTY;
		return 0;
	}
	rc = content_peek_header(fd, &h, raw);
	if (rc == -ENODATA) {
		if (!ctx.plaintext_allowed) {
			log_err("%s: not encrypted (no jetcryptfs header) in a strict store", name);
			return -EIO;
		}
		c->kind = CONTENT_PLAINTEXT;
		c->size = (uint64_t)st.st_size;
		return 0;
	}
	if (rc == -EBADMSG || rc == -EPROTO) {
		log_err("%s: %s", name, fmt_header_strerror(rc));
		return -EIO;
	}
	if (rc < 0)
		return rc;
	if (h.node != FMT_NODE_FILE) {
		/* A marker shows as a FIFO or socket and is never opened as a
		 * file; one of those headers here is a file changed under the
		 * mount, or a forged marker (the mount shows it as a file). */
		log_err("%s: has the header of a %s, not of a file's contents: damaged, or a forged marker",
			name, fmt_node_name(h.node));
		return -EIO;
	}
	k = keyring_find(ctx.kr, h.key_id);
	if (!k) {
		key_hex(h.key_id, hex);
		log_err("%s: encrypted under key id %s, which is not among the configured keys", name, hex);
		return -EIO;
	}
	if (fmt_plaintext_size(h.cipher, (uint64_t)st.st_size, &c->size) < 0) {
		if (!ctx.load_cut) {
			log_err("%s: truncated: %lld bytes is not a whole number of blocks", name,
				(long long)st.st_size);
			return -EIO;
		}
		c->size = fmt_whole_blocks_size(h.cipher, (uint64_t)st.st_size);
		c->cut = 1;
	}
	c->key = keyslot_get();
	if (!c->key)
		return -ENOMEM;
	rc = kdf_file_key(k->master, h.cipher, h.file_id, c->key);
	if (rc < 0) {
		content_unload(c);
		return rc;
	}
	memcpy(c->hdr, raw, FMT_HEADER_SIZE);
	c->cipher = h.cipher;
	c->kind = CONTENT_ENCRYPTED;
	/* A file with no blocks may have had some under its id. */
	c->stale_id = c->size == 0 && !c->cut;
	if (memcmp(c->budget.file_id, h.file_id, FMT_FILE_ID_SIZE) != 0) {
		memcpy(c->budget.file_id, h.file_id, FMT_FILE_ID_SIZE);
		c->budget.blocks = 0;
	}
	return 0;
}

/* Drops a file key: what threads kept of it, and its slot. */
static void key_drop(uint8_t *key)
{
	if (!key)
		return;
	block_forget_key(key);
	keyslot_put(key);
}

void content_unload(struct content *c)
{
	struct content_budget budget = c->budget;

	key_drop(c->key);
	if (c->direct > 0)
		close(c->direct_fd);
	if (c->tail) {
		sodium_memzero(c->tail, BS);
		free(c->tail);
	}
	memset(c, 0, sizeof(*c));
	c->budget = budget;
}

/* The file id of an encoded header: its last 16 bytes (docs/FORMAT.md). */
static const uint8_t *hdr_file_id(const uint8_t hdr[FMT_HEADER_SIZE])
{
	return hdr + FMT_HEADER_SIZE - FMT_FILE_ID_SIZE;
}

/* A header for a file of cipher under the current key with a fresh random
 * file id, and its key in a new slot. */
static int id_make(int cipher, uint8_t hdr[FMT_HEADER_SIZE], uint8_t **key)
{
	const struct keyring_key *k = &ctx.kr->keys[0];
	struct fmt_header h = { .version = FMT_VERSION, .cipher = (uint8_t)cipher };
	int rc;

	memcpy(h.key_id, k->id, FMT_KEY_ID_SIZE);
	randombytes_buf(h.file_id, sizeof(h.file_id));
	fmt_header_encode(&h, hdr);
	*key = keyslot_get();
	if (!*key)
		return -ENOMEM;
	rc = kdf_file_key(k->master, cipher, h.file_id, *key);
	if (rc < 0) {
		keyslot_put(*key);
		*key = NULL;
	}
	return rc;
}

/* Makes hdr and key (from id_make) c's, once the header is on disk: the
 * old key is dropped, and the budget starts anew. */
static void id_install(struct content *c, int cipher, const uint8_t hdr[FMT_HEADER_SIZE], uint8_t *key)
{
	key_drop(c->key);
	c->key = key;
	memcpy(c->hdr, hdr, FMT_HEADER_SIZE);
	c->cipher = cipher;
	c->kind = CONTENT_ENCRYPTED;
	c->stale_id = 0;
	if (c->serial == 0)
		c->serial = __atomic_add_fetch(&serial_last, 1, __ATOMIC_RELAXED);
	memcpy(c->budget.file_id, hdr_file_id(hdr), FMT_FILE_ID_SIZE);
	c->budget.blocks = 0;
}

/* Gives c a new file id of cipher with its header written alone: the first
 * write or extension of an empty file, or of one whose id is stale, when
 * it does not start at block 0. Either way no block is under the old id:
 * a crash after the header leaves a valid file. */
static int content_new_header(struct content *c, int fd, int cipher)
{
	uint8_t hdr[FMT_HEADER_SIZE], *key;
	int rc = id_make(cipher, hdr, &key);

	if (rc < 0)
		return rc;
	if (pwrite(fd, hdr, FMT_HEADER_SIZE, 0) != FMT_HEADER_SIZE) {
		rc = errno ? -errno : -EIO;
		key_drop(key);
		return rc;
	}
	id_install(c, cipher, hdr, key);
	return 0;
}

/* Gives an empty file its header: the first write or extension does it. */
static int content_create_header(struct content *c, int fd)
{
	int rc = content_new_header(c, fd, ctx.cipher);

	if (rc == 0)
		c->size = 0;
	return rc;
}

/* 1 if the header on disk is hdr: whether a write that failed got the
 * header of a new file id there. */
static int header_on_disk(int fd, const uint8_t hdr[FMT_HEADER_SIZE])
{
	uint8_t raw[FMT_HEADER_SIZE];
	struct fmt_header h;

	return content_peek_header(fd, &h, raw) == 0 && memcmp(raw, hdr, sizeof(raw)) == 0;
}

/* Each bad block is logged once, not on every read the kernel retries:
 * a small table of the blocks already reported. */
#define LOGGED_MAX 256

struct logged {
	dev_t dev;
	ino_t ino;
	uint64_t block;
};

static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;
static struct logged logged[LOGGED_MAX];
static size_t logged_n, logged_next;

static int content_first_report(int fd, uint64_t b)
{
	struct stat st;
	int first = 1;

	if (fstat(fd, &st) < 0)
		return 1;
	pthread_mutex_lock(&logged_lock);
	for (size_t i = 0; i < logged_n && first; i++)
		if (logged[i].dev == st.st_dev && logged[i].ino == st.st_ino && logged[i].block == b)
			first = 0;
	if (first) {
		logged[logged_next] = (struct logged){ st.st_dev, st.st_ino, b };
		logged_next = (logged_next + 1) % LOGGED_MAX;
		if (logged_n < LOGGED_MAX)
			logged_n++;
	}
	pthread_mutex_unlock(&logged_lock);
	return first;
}

const char *content_block_strerror(int rc)
{
	if (rc == -ENODATA)
		return "backing file shorter than its size says";
	if (rc == -EBADMSG)
		return "authentication failed";
	return "unreadable";
}

static void content_log_block(struct content *c, int fd, uint64_t b, int rc)
{
	char name[PATH_MAX];

	if (ctx.quiet_blocks) {         /* a tool, one thread: it reports */
		c->bad_block = b;
		c->bad_rc = rc;
		return;
	}
	if (!content_first_report(fd, b))
		return;
	fd_name(fd, name, sizeof(name));
	if (rc == -ENODATA || rc == -EBADMSG)
		log_err("%s: block %llu: %s", name, (unsigned long long)b, content_block_strerror(rc));
	else
		log_err("%s: block %llu: unreadable: %s", name, (unsigned long long)b, strerror(-rc));
}

/* Old plaintext of block b (len bytes) into out: from the tail cache, or
 * read and decrypted. */
static int content_fetch_block(struct content *c, int fd, uint64_t b,
			       size_t len, uint8_t *out)
{
	uint8_t stored[BS + FMT_MAX_NONCE + FMT_TAG_SIZE];
	size_t slen = len + fmt_block_overhead(c->cipher);
	ssize_t n;
	int rc;

	if (c->tail_valid && b == block_tail(c->size).block) {
		memcpy(out, c->tail, len);
		return 0;
	}
	n = pread(fd, stored, slen, (off_t)fmt_block_offset(c->cipher, b));
	if (n < 0)
		return -errno;
	if ((size_t)n != slen) {
		content_log_block(c, fd, b, -ENODATA);
		return -EIO;
	}
	rc = block_decrypt(c->cipher, c->key, c->hdr, b, stored, slen, out);
	if (rc < 0) {
		content_log_block(c, fd, b, rc);
		return -EIO;
	}
	return 0;
}

static void content_set_tail(struct content *c, const uint8_t *plain, size_t len)
{
	if (len == 0) {
		c->tail_valid = 0;
		return;
	}
	if (!c->tail)
		c->tail = malloc(BS);
	if (!c->tail) {
		c->tail_valid = 0;
		return;
	}
	memcpy(c->tail, plain, len);
	c->tail_valid = 1;
}

/* Encrypts one block (len bytes of plain) and writes it at its place. */
static int content_put_block(struct content *c, int fd, uint64_t b, const uint8_t *plain, size_t len)
{
	uint8_t stored[BS + FMT_MAX_NONCE + FMT_TAG_SIZE];
	size_t slen = len + fmt_block_overhead(c->cipher);
	uint64_t at = fmt_block_offset(c->cipher, b);
	ssize_t n;
	int rc;

	rc = content_reserve(fd, at, at + slen);
	if (rc < 0)
		return rc;
	rc = block_encrypt(c->cipher, c->key, c->hdr, b, plain, len, stored);
	if (rc < 0)
		return rc;
	c->budget.blocks++;
	n = safewrite_pwrite(fd, stored, slen, (off_t)at);
	return n < 0 ? (int)n : 0;
}

/* Writes len stored bytes from sc (placed by scratch(at)) at backing
 * offset at, in one job of the write helpers. The whole pages in the
 * middle of a large write go through the direct descriptor, the partial
 * pages at its ends through the page cache, which holds the bytes of the
 * neighbouring blocks they share: no read-modify-write of our own, and
 * sc is aligned where the file offset is. A filesystem that refuses the
 * direct write (EINVAL) gets it buffered, and no more direct I/O for
 * this file. The kernel keeps cached and direct I/O of a file coherent:
 * a direct write drops the cached pages of its range, a direct read
 * writes dirty ones back first. */
static ssize_t content_store(struct content *c, int fd, const uint8_t *sc, size_t len,
			     uint64_t at)
{
	uint64_t end = at + len;
	uint64_t mid = (at + PAGE - 1) / PAGE * PAGE, mid_end = end / PAGE * PAGE;
	struct safewrite_part p[3];
	int n = 0, dfd;
	ssize_t r;

	if (mid_end < mid + DIRECT_MIN || (dfd = direct_for_write(c, fd)) < 0)
		return safewrite_pwrite(fd, sc, len, (off_t)at);
	if (mid > at)
		p[n++] = (struct safewrite_part){ fd, -1, sc, (size_t)(mid - at), (off_t)at, 0 };
	p[n++] = (struct safewrite_part){ dfd, fd, sc + (mid - at), (size_t)(mid_end - mid),
					  (off_t)mid, 0 };
	if (end > mid_end)
		p[n++] = (struct safewrite_part){ fd, -1, sc + (mid_end - at),
						  (size_t)(end - mid_end), (off_t)mid_end, 0 };
	r = safewrite_pwrite_parts(p, n);
	if (p[mid > at].refused) {
		direct_off(fd, "direct write refused");
		close(dfd);
		c->direct = -1;
	}
	return r;
}

/* read_range's *bad when the error is no block's. */
#define NO_BLOCK UINT64_MAX

/* The path of every read of encrypted blocks: reads the stored blocks of
 * r (at most SCRATCH_BLOCKS, none past the file's end) into the thread's
 * scratch in one read, direct or cached, and decrypts each -- into out
 * at its span's place, or, with out NULL (verification), into a block on
 * the stack that is wiped. 0; -ENODATA with *bad = r's first block if
 * the backing file ends before r does; the block's error (-EBADMSG:
 * authentication failed) with *bad = the block, at the first bad one;
 * or -errno of a read, *bad untouched. */
static int read_range(struct content *c, int fd, const struct block_range *r, uint8_t *out, uint64_t *bad)
{
	uint8_t *sc, tmp[BS];
	uint64_t at = fmt_block_offset(c->cipher, r->first);
	size_t stored_bs = fmt_stored_block_size(c->cipher), overhead = fmt_block_overhead(c->cipher), got, want;
	ssize_t n;
	int rc, tmp_used = 0;

	sc = scratch(at);
	if (!sc)
		return -ENOMEM;
	want = (size_t)(fmt_block_offset(c->cipher, r->last) - at) + block_len(c->size, r->last) + overhead;
	rc = direct_read(c, fd, sc, want, at);
	for (got = 0; rc == -EAGAIN && got < want; got += (size_t)n) {
		n = pread(fd, sc + got, want - got, (off_t)(at + got));
		if (n < 0)
			return -errno;
		if (n == 0)
			rc = -ENODATA;
	}
	if (rc == -ENODATA)
		*bad = r->first;
	if (rc < 0 && rc != -EAGAIN)
		return rc;
	rc = 0;
	for (uint64_t b = r->first; b <= r->last && rc == 0; b++) {
		struct block_span s = block_range_span(r, b);
		size_t blen = block_len(c->size, b);
		uint8_t *dst = out && s.skip == 0 && s.len == blen ? out + s.pos : tmp;

		tmp_used |= dst == tmp;
		rc = block_decrypt(c->cipher, c->key, c->hdr, b, sc + (size_t)(b - r->first) * stored_bs,
				   blen + overhead, dst);
		if (rc < 0)
			*bad = b;
		else if (out && dst == tmp)
			memcpy(out + s.pos, tmp + s.skip, s.len);
	}
	/* A worker's stack outlives the request: no plaintext left on it. */
	if (tmp_used)
		sodium_memzero(tmp, sizeof(tmp));
	return rc;
}

ssize_t content_read(struct content *c, int fd, void *buf, size_t len, uint64_t off)
{
	struct block_range r;
	uint64_t bad = NO_BLOCK;
	ssize_t n;
	int rc;

	if (c->kind == CONTENT_PLAINTEXT) {
		n = pread(fd, buf, len, (off_t)off);
		return n < 0 ? -errno : n;
	}
	if (c->kind != CONTENT_ENCRYPTED || off >= c->size || len == 0)
		return 0;
	if (len > c->size - off)
		len = (size_t)(c->size - off);
	r = block_range_of(off, len);
	if (r.blocks > SCRATCH_BLOCKS)
		return -EINVAL;
	rc = read_range(c, fd, &r, buf, &bad);
	if (rc < 0 && bad != NO_BLOCK) {
		content_log_block(c, fd, bad, rc);
		sodium_memzero(buf, len);
		return -EIO;
	}
	return rc < 0 ? rc : (ssize_t)len;
}

/* Blocks content_verify reads at once: 1 MiB, a large read's worth. */
#define VERIFY_BLOCKS 256

/* read_range without a destination over the n blocks from first. */
static int verify_blocks(struct content *c, int fd, uint64_t first, uint64_t n, uint64_t *bad)
{
	uint64_t off = first * BS, len = n * BS < c->size - off ? n * BS : c->size - off;
	struct block_range r = block_range_of(off, len);

	return read_range(c, fd, &r, NULL, bad);
}

int content_verify(struct content *c, int fd, uint64_t *block, uint64_t end)
{
	uint64_t nblocks = (c->size + BS - 1) / BS, bad, n;
	int rc;

	if (c->kind != CONTENT_ENCRYPTED)
		return -EINVAL;
	if (end > nblocks)
		end = nblocks;
	while (*block < end) {
		n = end - *block < VERIFY_BLOCKS ? end - *block : VERIFY_BLOCKS;
		rc = verify_blocks(c, fd, *block, n, &bad);
		/* Something is bad: each block once more, alone, to name it --
		 * on a live mount a block being rewritten can have been read
		 * half written, and a short file or a failed read names no
		 * block of its own. */
		for (uint64_t b = *block; rc < 0 && b < *block + n; b++) {
			int rb = verify_blocks(c, fd, b, 1, &bad);

			if (rb < 0) {
				*block = b;
				return rb;
			}
		}
		*block += n;
	}
	return 0;
}

/* Before data goes beyond the current last block, that block, if partial,
 * is rewritten padded with zeros to newlen (a full block, or the new end
 * when the file grows within it). c->size then says so, so that the state
 * matches the disk even if the next step fails. */
static int content_grow_tail(struct content *c, int fd, uint64_t newsize)
{
	uint8_t plain[BS];
	struct block_span t = block_tail(c->size);
	size_t newlen;
	int rc;

	if (t.len == 0)
		return 0;
	newlen = block_len(newsize, t.block);
	rc = content_fetch_block(c, fd, t.block, t.len, plain);
	if (rc < 0)
		return rc;
	memset(plain + t.len, 0, newlen - t.len);
	rc = content_put_block(c, fd, t.block, plain, newlen);
	if (rc == 0) {
		c->size = t.pos + newlen;
		if (newlen < BS)
			content_set_tail(c, plain, newlen);
		else
			c->tail_valid = 0;
	}
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

/* Encrypts into sc the blocks of a write of r (its bytes in in), after
 * which the file has newsize bytes, under key and hdr: whole blocks
 * straight from in, partial ones merged into their old plaintext in plain
 * (a scratch block of the caller's, who wipes it). Returns the stored
 * bytes, or -errno. */
static ssize_t seal_blocks(struct content *c, int fd, const uint8_t *key, const uint8_t *hdr,
			   const uint8_t *in, const struct block_range *r, uint64_t newsize,
			   uint8_t *sc, uint8_t *plain)
{
	size_t overhead = fmt_block_overhead(c->cipher), stored = 0;
	uint64_t tail = block_tail(newsize).block;
	int rc;

	for (uint64_t b = r->first; b <= r->last; b++) {
		struct block_span s = block_range_span(r, b);
		size_t blen = block_len(newsize, b);
		const uint8_t *p = in + s.pos;

		if (s.skip != 0 || s.len != blen) {
			size_t oldlen = block_len(c->size, b);

			if (oldlen) {
				rc = content_fetch_block(c, fd, b, oldlen, plain);
				if (rc < 0)
					return rc;
			}
			memset(plain + oldlen, 0, BS - oldlen);
			memcpy(plain + s.skip, in + s.pos, s.len);
			p = plain;
		}
		rc = block_encrypt(c->cipher, key, hdr, b, p, blen, sc + stored);
		if (rc < 0)
			return rc;
		if (b == tail)
			content_set_tail(c, p, blen);
		stored += blen + overhead;
	}
	return (ssize_t)stored;
}

/* Whether a write of len bytes at off gives the file a new id: always
 * when its id is stale; for AES, once the id's budget is spent, when the
 * write covers the whole file from offset 0 -- then no block is left
 * under the old id, and the new header goes out with the blocks. */
static int id_renewal(const struct content *c, uint64_t off, size_t len)
{
	if (c->stale_id)
		return 1;
	return c->cipher == FMT_CIPHER_AES && c->budget.blocks >= id_budget && off == 0 &&
	       c->size > 0 && len >= c->size;
}

ssize_t content_write(struct content *c, int fd, const void *buf, size_t len, uint64_t off)
{
	uint8_t plain[BS], nhdr[FMT_HEADER_SIZE], *nkey = NULL, *base;
	struct block_range r;
	struct block_span tail;
	uint64_t newsize, at;
	ssize_t n;
	int rc, grow, renew, stored = 0;

	if (len == 0)
		return 0;
	if (c->kind == CONTENT_PLAINTEXT) {
		n = pwrite(fd, buf, len, (off_t)off);
		if (n < 0)
			return -errno;
		if (off + (uint64_t)n > c->size)
			c->size = off + (uint64_t)n;
		return n;
	}
	if (c->kind == CONTENT_EMPTY) {
		rc = content_create_header(c, fd);
		if (rc < 0)
			return rc;
	}
	if (c->kind != CONTENT_ENCRYPTED)
		return -EIO;
	r = block_range_of(off, len);
	if (r.blocks > SCRATCH_BLOCKS)
		return -EINVAL;
	renew = id_renewal(c, off, len);
	if (renew && r.first > 0) {
		rc = content_new_header(c, fd, c->cipher);
		if (rc < 0)
			return rc;
		renew = 0;
	}
	/* A new header is stored with block 0, in one job of the write
	 * helpers: a killed daemon leaves both or neither. */
	at = renew ? 0 : fmt_block_offset(c->cipher, r.first);
	base = scratch(at);
	if (!base)
		return -ENOMEM;
	newsize = r.end > c->size ? r.end : c->size;
	tail = block_tail(c->size);
	grow = tail.len && tail.block < r.first;
	rc = content_reserve(fd, fmt_block_offset(c->cipher, grow ? tail.block : r.first),
			     fmt_block_offset(c->cipher, r.last) + block_len(newsize, r.last) +
			     fmt_block_overhead(c->cipher));
	if (rc < 0)
		return rc;

	/* The old partial last block, if the write leaves it behind. */
	if (grow) {
		rc = content_grow_tail(c, fd, newsize);
		if (rc < 0)
			return rc;
	}
	if (renew && (rc = id_make(c->cipher, nhdr, &nkey)) < 0)
		return rc;
	n = seal_blocks(c, fd, renew ? nkey : c->key, renew ? nhdr : c->hdr, buf, &r, newsize,
			base + (renew ? FMT_HEADER_SIZE : 0), plain);
	sodium_memzero(plain, sizeof(plain));
	if (n >= 0) {
		if (renew)
			memcpy(base, nhdr, FMT_HEADER_SIZE);
		n = content_store(c, fd, base, (size_t)n + (renew ? FMT_HEADER_SIZE : 0), at);
		stored = 1;
	}
	/* A store that failed may still have put the new header there. */
	if (renew && (n >= 0 || (stored && header_on_disk(fd, nhdr))))
		id_install(c, c->cipher, nhdr, nkey);
	else if (renew)
		key_drop(nkey);
	if (n < 0) {
		c->tail_valid = 0;
		return n;
	}
	c->budget.blocks += r.blocks;
	c->size = newsize;
	if (block_tail(newsize).len == 0)
		c->tail_valid = 0;
	return (ssize_t)len;
}

/* A truncate that keeps the size still marks the file changed (mtime and
 * ctime), as it does on the backing filesystem: truncate the backing file
 * to the size it has. */
static int truncate_same(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || ftruncate(fd, st.st_size) < 0)
		return -errno;
	return 0;
}

int content_truncate(struct content *c, int fd, uint64_t size)
{
	struct block_span t = block_tail(size);
	uint8_t plain[BS];
	int rc = 0;

	if (c->kind == CONTENT_PLAINTEXT) {
		if (ftruncate(fd, (off_t)size) < 0)
			return -errno;
		c->size = size;
		return 0;
	}
	if (c->kind == CONTENT_EMPTY) {
		if (size == 0)
			return truncate_same(fd);
		rc = content_create_header(c, fd);
		if (rc < 0)
			return rc;
	}
	if (c->kind != CONTENT_ENCRYPTED)
		return -EIO;
	if (size == c->size)
		return truncate_same(fd);

	if (size < c->size) {
		if (t.len == 0) {
			if (ftruncate(fd, (off_t)fmt_ciphertext_size(c->cipher, size)) < 0)
				return -errno;
			c->tail_valid = 0;
			/* Nothing left under the id: the next write takes a new
			 * one for free (nats-server rewrites its state files
			 * with O_TRUNC, block 0 again and again). */
			if (size == 0)
				c->stale_id = 1;
		} else {
			/* Cut at the block start first, then append the shorter
			 * block: a crash in between leaves a whole-block file. */
			rc = content_fetch_block(c, fd, t.block, block_len(c->size, t.block), plain);
			if (rc < 0)
				return rc;
			if (ftruncate(fd, (off_t)fmt_block_offset(c->cipher, t.block)) < 0) {
				rc = -errno;
			} else {
				c->tail_valid = 0;
				rc = content_put_block(c, fd, t.block, plain, t.len);
			}
			if (rc == 0)
				content_set_tail(c, plain, t.len);
			sodium_memzero(plain, sizeof(plain));
			if (rc < 0)
				return rc;
		}
		c->size = size;
		return 0;
	}

	/* Growing: pad the old tail, then either write the new partial last
	 * block or let ftruncate make the new whole blocks holes. A file with
	 * a stale id has no blocks: a new id first. */
	if (c->stale_id && (rc = content_new_header(c, fd, c->cipher)) < 0)
		return rc;
	rc = content_grow_tail(c, fd, size);
	if (rc < 0)
		return rc;
	if (c->size == size) {
		/* Grew within the old tail block: grow_tail wrote it. */
	} else if (t.len) {
		memset(plain, 0, sizeof(plain));
		rc = content_put_block(c, fd, t.block, plain, t.len);
		if (rc == 0)
			content_set_tail(c, plain, t.len);
	} else {
		if (ftruncate(fd, (off_t)fmt_ciphertext_size(c->cipher, size)) < 0)
			rc = -errno;
		c->tail_valid = 0;
	}
	if (rc < 0)
		return rc;
	c->size = size;
	return 0;
}

/* ---- symlinks, FIFOs and sockets (crypto/node.h) ---- */

int content_link_decrypt(const struct keyring *kr, const char *stored, size_t len, char *out, size_t outlen,
			 size_t *tlen, struct fmt_header *h)
{
	const struct keyring_key *k;
	int rc = node_link_peek(stored, len, h);

	if (rc == -EBADMSG)
		rc = -EPROTO;   /* cut short: damaged, as a bad header */
	if (rc < 0)
		return rc;
	k = keyring_find(kr, h->key_id);
	if (!k)
		return -ENOKEY;
	rc = node_link_decode(k->master, stored, len, out, outlen, tlen);
	return rc == -EBADMSG || rc == 0 ? rc : -EPROTO;
}

const char *content_link_strerror(int rc)
{
	switch (rc) {
	case -ENODATA:
		return "plaintext symlink (made before symlink encryption, or planted)";
	case -EBADMSG:
		return "symlink target: authentication failed";
	case -ENOKEY:
		return "symlink target encrypted under a key id that is not among the configured keys";
	default:
		return "symlink target: damaged or unsupported header";
	}
}

int content_link_read(int fd, char *out, size_t outlen, size_t *tlen, struct fmt_header *h)
{
	char stored[NODE_LINK_STORED_MAX + 1];
	ssize_t n = readlinkat(fd, "", stored, sizeof(stored));

	if (n < 0)
		return -errno;
	if (n > NODE_LINK_STORED_MAX)
		return -ENODATA;        /* longer than any we write */
	return content_link_decrypt(ctx.kr, stored, (size_t)n, out, outlen, tlen, h);
}

int content_link_size(int fd, uint64_t stored_len, uint64_t *size, int *cipher)
{
	char stored[NODE_LINK_STORED_MAX + 1];
	struct fmt_header h;
	size_t len;
	ssize_t n = readlinkat(fd, "", stored, sizeof(stored));

	*cipher = 0;
	*size = stored_len;
	if (n < 0)
		return -errno;
	if (n > NODE_LINK_STORED_MAX || node_link_peek(stored, (size_t)n, &h) < 0 ||
	    node_link_target_len(h.cipher, (size_t)n, &len) < 0)
		return 0;       /* not ours: its readlink fails */
	*cipher = h.cipher;
	*size = len;
	return 0;
}

int content_link_make(int dirfd, const char *name, const char *target)
{
	const struct keyring_key *k = &ctx.kr->keys[0];
	char stored[NODE_LINK_STORED_MAX + 1];
	int rc;

	rc = node_link_encode(k->master, k->id, ctx.cipher, target, strlen(target), stored, sizeof(stored));
	if (rc == 0 && symlinkat(stored, dirfd, name) < 0)
		rc = -errno;
	return rc;
}

int content_marker_write(int fd, int node)
{
	const struct keyring_key *k = &ctx.kr->keys[0];
	uint8_t buf[NODE_MARKER_MAX];
	size_t n = node_marker_size(ctx.cipher);
	int rc = node_marker_encode(k->master, k->id, ctx.cipher, node, buf);

	if (rc == 0 && pwrite(fd, buf, n, 0) != (ssize_t)n)
		rc = errno ? -errno : -EIO;
	return rc;
}

int content_marker_read(int fd, int *node, struct fmt_header *h)
{
	uint8_t buf[NODE_MARKER_MAX + 1];
	const struct keyring_key *k;
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	int rc;

	if (n < 0)
		return -errno;
	rc = fmt_header_decode(h, buf, (size_t)n);
	if (rc < 0)
		return rc == -ENODATA ? -ENODATA : -EPROTO;
	if (h->node != FMT_NODE_FIFO && h->node != FMT_NODE_SOCKET)
		return -EINVAL;
	k = ctx.kr ? keyring_find(ctx.kr, h->key_id) : NULL;
	if (!k)
		return -ENOKEY;
	if (node_marker_verify(k->master, h, buf, (size_t)n) < 0)
		return -EBADMSG;
	*node = h->node;
	return 0;
}

/* The marker goes in whole or not at all: written and synced in an
 * unnamed file, then linked under its name (EEXIST if taken), so that
 * nobody ever sees a marker half written -- which would be shown as a
 * regular file, and an inode never changes type. */
int content_marker_make(int dirfd, const char *name, mode_t mode, int node)
{
	char proc[64];
	int fd, rc;

	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode & 07777);
	if (fd < 0)
		return -errno;
	rc = content_marker_write(fd, node);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (rc == 0 && linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) < 0)
		rc = -errno;
	close(fd);
	return rc;
}
