/*
 * Content encryption over one backing file: the plaintext view of an
 * encrypted file (read, write at any offset, truncate) in 4096-byte
 * blocks. The state kept per inode -- header, file key, plaintext size,
 * plaintext of the partial last block -- lets an append re-encrypt at most
 * one block and read nothing back from disk. The caller serializes access:
 * reads may run together, anything that changes the file runs alone.
 */
#ifndef JCFS_CONTENT_H
#define JCFS_CONTENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "format.h"
#include "keyring.h"

enum content_kind {
	CONTENT_UNLOADED = 0,
	CONTENT_EMPTY,                  /* 0 bytes, no header yet */
	CONTENT_ENCRYPTED,
	CONTENT_PLAINTEXT,              /* headerless file in an adopted store */
};

struct content_ctx {
	const struct keyring *kr;
	int cipher;                     /* for new files */
	int plaintext_allowed;
	/* The caller (a single-threaded tool) reports bad blocks itself,
	 * from bad_block and bad_rc of struct content, instead of the log. */
	int quiet_blocks;
	/* A file cut inside a block loads with its whole blocks only, and
	 * cut set (for cat, which writes what is good); otherwise it is an
	 * error, as for the mount. */
	int load_cut;
	/* All backing I/O goes through the backing filesystem's page cache;
	 * by default large reads and the whole pages of large writes go
	 * around it (content.c). */
	int cached_backing;
};

/* AES-GCM's nonce budget: blocks encrypted under one file id. Kept in
 * memory only, across content_unload and content_load of the same file,
 * so that for the mount it follows the file for as long as the caller
 * keeps its struct content (ops.c: while the kernel keeps the inode). */
struct content_budget {
	uint8_t file_id[FMT_FILE_ID_SIZE];
	uint64_t blocks;
};

struct content {
	enum content_kind kind;
	int cipher;
	uint8_t hdr[FMT_HEADER_SIZE];
	uint8_t *key;                   /* file key, locked memory */
	uint64_t size;                  /* plaintext size */
	/* Which load of a file this is, unique in the process: a buffer
	 * that held plaintext of another is wiped before it takes this
	 * one's (ops.c). */
	uint64_t serial;
	/* The file id has been used for blocks no longer there (the file was
	 * cut to 0 bytes, or was loaded with none): the next write gives the
	 * file a new id, and so a new key. */
	int stale_id;
	struct content_budget budget;
	uint8_t *tail;                  /* plaintext of block size/4096, if cached */
	int tail_valid;
	int cut;                        /* with load_cut: the file ends inside block size/4096 */
	/* With quiet_blocks: the last block a read found bad, and why. */
	uint64_t bad_block;
	int bad_rc;
	/* The backing file opened with O_DIRECT, for large reads and
	 * writes, at the first: 0 not tried yet, 1 open as direct_fd (for
	 * writing too if direct_rw), -1 not to be used; reads, which share
	 * c, change it atomically (content.c). */
	int direct;
	int direct_fd;
	int direct_rw;
	int direct_reads_refused;
};

/* Global setup: the context for new files, the key slot pool. The
 * environment variable JETCRYPTFS_TEST_ID_BUDGET, for tests only, lowers
 * the number of blocks encrypted under an AES file's id after which a
 * whole-file rewrite gives it a new one (CONTENT_ID_BUDGET). */
int content_setup(const struct content_ctx *ctx);
/* The plaintext_allowed of the context: whether the store is adopted. */
int content_plaintext_allowed(void);
void content_teardown(void);

/* AES-GCM with random 96-bit nonces is safe for about 2^32 encryptions per
 * key (NIST SP 800-38D), and the key is per file id. A file gets a new id
 * where that costs nothing: at its first write after it was cut to 0
 * bytes, and -- once this many blocks were encrypted under its id -- at a
 * write at offset 0 that covers the whole file (content.c says why this
 * number). */
#define CONTENT_ID_BUDGET (1ull << 20)

/* The header of the backing file open as fd, from its first
 * FMT_HEADER_SIZE bytes (the reads it takes): what every reader of a
 * backing file asks first. h is zeroed unless it returns 0; raw, if not
 * NULL, gets the bytes read, zero-filled past the end of a shorter file.
 *   0         a header, decoded into h, of any node type: a marker's too
 *             (FMT_NODE_FIFO, FMT_NODE_SOCKET), so that a caller that
 *             reads contents checks h->node itself;
 *   -ENODATA  no header: an empty file, or one that does not start with
 *             the magic (plaintext); callers that tell the two apart have
 *             the file's size;
 *   -EBADMSG  the magic, but the file ends inside the header: cut short,
 *             damaged, never plaintext;
 *   -EPROTO   the magic and 32 bytes, but an unknown version, cipher or
 *             node type, or a non-zero reserved byte;
 *   -errno    the read failed (an errno the three above name is -EIO).
 * fmt_header_strerror says what the -EBADMSG and -EPROTO mean. */
int content_peek_header(int fd, struct fmt_header *h, uint8_t *raw);

/* Reads the header of the backing file open as fd and sets up c, which is
 * zeroed or was unloaded (its budget is kept for the same file id). Log
 * messages name the backing file (resolved from fd). -EIO (logged with the reason) for a file that cannot
 * be read as this store's: no header in a strict store, unknown key id,
 * bad header, impossible size. */
int content_load(struct content *c, int fd);
/* Why a block was bad, for messages: bad_rc of struct content. */
const char *content_block_strerror(int rc);
/* Drops keys, caches and descriptors of its own; c becomes UNLOADED. The
 * file key is wiped, and so is what any thread's cipher context kept of
 * it (block_forget_key). The budget stays. */
void content_unload(struct content *c);

/* Plaintext size of the backing file fd (whose stat is st) without
 * loading it, its header's cipher (0 if none) and the node it stands for:
 * FMT_NODE_FIFO or FMT_NODE_SOCKET (size 0) for a marker that
 * authenticates under a configured key, else FMT_NODE_FILE. For stat. */
int content_stat_size(int fd, const struct stat *st, uint64_t *size, int *cipher, int *node);

/* A plaintext byte range in blocks, the arithmetic every read, write,
 * truncate and reservation shares (gocryptfs's contentenc has the same:
 * ExplodePlainRange into IntraBlocks).
 *
 * struct block_span: the share of one block in a range -- bytes
 * [skip, skip + len) of block `block`, which are bytes [pos, pos + len)
 * of the range (where they sit in the caller's buffer).
 * block_range_of: the range of len bytes at off: its end, its first and
 * last blocks and how many blocks it touches (0 for an empty range, whose
 * first and last are off's block).
 * block_range_span: the share of block b, first <= b <= last, in r:
 *	for (uint64_t b = r.first; b < r.first + r.blocks; b++) {
 *		struct block_span s = block_range_span(&r, b);
 * block_tail: where a file of size bytes ends -- its partial last block,
 * holding len = size % 4096 bytes at pos in the file (skip 0); when the
 * file ends on a block boundary, the empty span (len 0) of the block
 * after its last. */
struct block_span {
	uint64_t block;
	uint32_t skip;
	uint32_t len;
	uint64_t pos;
};

struct block_range {
	uint64_t off;                   /* the range's first byte */
	uint64_t end;                   /* one past its last byte */
	uint64_t first, last;           /* the blocks of its first and last bytes */
	uint64_t blocks;                /* last - first + 1, or 0 */
};

struct block_range block_range_of(uint64_t off, uint64_t len);
struct block_span block_range_span(const struct block_range *r, uint64_t b);
struct block_span block_tail(uint64_t size);

ssize_t content_read(struct content *c, int fd, void *buf, size_t len, uint64_t off);
/* Authenticates blocks *block to end - 1 (end clipped to the file's last
 * block) of c, an ENCRYPTED file open as fd, through content_read's own
 * path (for fsck): 0 with *block = end when every one is good; else the
 * first bad block in *block (those before it are good) and why: -EBADMSG
 * authentication failed, -ENODATA the backing file ends before the block
 * does, another -errno the block cannot be read. A block is reported only
 * if it is bad when read a second time, alone: on a live mount a block
 * being rewritten can be read half written. -EINVAL, *block untouched,
 * if c is not an encrypted file. Logs nothing; the caller reports. */
int content_verify(struct content *c, int fd, uint64_t *block, uint64_t end);
ssize_t content_write(struct content *c, int fd, const void *buf, size_t len, uint64_t off);

/* The cipher a write to c encrypts with: its header's, the one for new
 * files if it has no header yet; 0 if it is not an encrypted file
 * (plaintext, not loaded). */
int content_write_cipher(const struct content *c);
/* Reserves the backing space that content_write of len bytes at off
 * needs, without the content state, for a write acknowledged before it is
 * made (ops.c): from the backing file's end or the write's first block,
 * whichever comes first, to the write's end, for a file (fd) whose blocks
 * use cipher. A superset of what content_write reserves for itself, as
 * long as the writes not yet made only grow the file. 0, -ENOSPC, -errno. */
int content_reserve_write(int fd, int cipher, uint64_t off, size_t len);
int content_truncate(struct content *c, int fd, uint64_t size);

/* Symlinks, FIFOs and sockets (crypto/node.h), under the keys and cipher
 * of content_setup.
 *
 * content_link_decrypt: the target of a stored (backing) symlink target
 * stored[0..len) under kr, into out (NUL-terminated, *tlen its length;
 * outlen > NODE_LINK_STORED_MAX always suffices), and its header h. 0;
 * -ENODATA not encrypted (a plaintext target); -EPROTO damaged header or
 * encoding; -ENOKEY under a key id not on kr (h says which); -EBADMSG
 * authentication failed. content_link_strerror says which, for messages.
 * content_link_read: the same for the symlink open as fd (O_PATH), or
 * -errno if it cannot be read. */
int content_link_decrypt(const struct keyring *kr, const char *stored, size_t len, char *out, size_t outlen,
			 size_t *tlen, struct fmt_header *h);
const char *content_link_strerror(int rc);
int content_link_read(int fd, char *out, size_t outlen, size_t *tlen, struct fmt_header *h);
/* The lstat size of the symlink open as fd (O_PATH), stored_len bytes
 * on disk: its target's plaintext length, and the cipher its header names
 * (0, and stored_len, if it is not one of ours). Reads no key. */
int content_link_size(int fd, uint64_t stored_len, uint64_t *size, int *cipher);
/* Creates the symlink name in dirfd with target encrypted under the
 * current key. 0, -ENAMETOOLONG (node_link_max_target), -errno. */
int content_link_make(int dirfd, const char *name, const char *target);

/* Creates name in dirfd as the marker file of node (FMT_NODE_FIFO or
 * FMT_NODE_SOCKET) with mode's permission bits, complete before it has a
 * name. 0, -EEXIST, -errno. */
int content_marker_make(int dirfd, const char *name, mode_t mode, int node);
/* Writes a fresh marker of node under the current key into the empty
 * file fd. */
int content_marker_write(int fd, int node);
/* Reads and authenticates the marker file fd: 0 with *node and *h;
 * -ENODATA no header, -EPROTO damaged header, -EINVAL not a marker's
 * header, -ENOKEY key id not configured (h names it), -EBADMSG does not
 * authenticate; -errno. */
int content_marker_read(int fd, int *node, struct fmt_header *h);

#endif
