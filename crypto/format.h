/*
 * The on-disk file format: the 32-byte file header, the block layout of
 * both ciphers and the exact mapping between plaintext and ciphertext
 * sizes. Pure functions, no I/O; docs/FORMAT.md is the prose version.
 */
#ifndef JCFS_FORMAT_H
#define JCFS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define FMT_MAGIC        "JCFS"          /* 4 bytes at offset 0 */
#define FMT_VERSION      1
#define FMT_HEADER_SIZE  32
#define FMT_KEY_ID_SIZE  8
#define FMT_FILE_ID_SIZE 16
#define FMT_BLOCK_SIZE   4096            /* plaintext bytes per block */
#define FMT_TAG_SIZE     16
#define FMT_MAX_NONCE    24

enum fmt_cipher {
	FMT_CIPHER_CHACHAPOLY = 1,       /* XChaCha20-Poly1305, 24-byte nonce */
	FMT_CIPHER_AES = 2,              /* AES-256-GCM, 12-byte nonce */
};

/* What a header heads (byte 6, which version 1 readers before node types
 * required to be zero, so that they refuse the others): a regular file's
 * contents, a symlink's target (crypto/node.h), or the marker file that
 * stands for a FIFO or socket made through the mount. */
enum fmt_node {
	FMT_NODE_FILE = 0,
	FMT_NODE_SYMLINK = 1,
	FMT_NODE_FIFO = 2,
	FMT_NODE_SOCKET = 3,
};

struct fmt_header {
	uint8_t version;
	uint8_t cipher;
	uint8_t node;                    /* enum fmt_node */
	uint8_t key_id[FMT_KEY_ID_SIZE];
	uint8_t file_id[FMT_FILE_ID_SIZE];
};

/* "chachapoly", "chacha" (alias, as in NATS) or "aes", case-insensitive;
 * returns the cipher id or -EINVAL. */
int fmt_cipher_from_name(const char *name);
/* Canonical name ("chachapoly", "aes"), or "unknown". */
const char *fmt_cipher_name(int cipher);
/* 1 if cipher is a cipher id this build knows. */
int fmt_cipher_valid(int cipher);

size_t fmt_nonce_size(int cipher);
/* nonce + tag: bytes a stored block has beyond its plaintext. */
size_t fmt_block_overhead(int cipher);
/* Stored size of a full block: FMT_BLOCK_SIZE + overhead. */
size_t fmt_stored_block_size(int cipher);
/* Ciphertext offset of block blockno (after the header). */
uint64_t fmt_block_offset(int cipher, uint64_t blockno);

/* Ciphertext file size for a plaintext size, header included. */
uint64_t fmt_ciphertext_size(int cipher, uint64_t plain);
/* Plaintext size for a ciphertext file size, header included. 0 -> 0
 * (an empty file has no header). Returns -EINVAL for sizes no writer
 * produces: 1..31 bytes, or a last block with no room for a byte. */
int fmt_plaintext_size(int cipher, uint64_t cipher_size, uint64_t *plain);
/* Plaintext size of the whole blocks a ciphertext file of cipher_size
 * bytes (header included) holds: for a size fmt_plaintext_size rejects (a
 * file cut inside a block), what can still be read before the cut. */
uint64_t fmt_whole_blocks_size(int cipher, uint64_t cipher_size);

void fmt_header_encode(const struct fmt_header *h, uint8_t out[FMT_HEADER_SIZE]);
/* 0 on success; -ENODATA if buf does not start with the magic (a
 * plaintext file); -EBADMSG if it starts with the magic but is shorter
 * than a header (a header cut short, never plaintext); -EPROTO for a
 * header with the magic but an unknown version, cipher or node type, or a
 * non-zero reserved byte 7. Callers that read a regular file's contents
 * must check that h->node is FMT_NODE_FILE. */
int fmt_header_decode(struct fmt_header *h, const uint8_t *buf, size_t len);
/* What a fmt_header_decode error other than -ENODATA means, for messages. */
const char *fmt_header_strerror(int rc);
/* "file", "symlink", "FIFO", "socket", or "unknown". */
const char *fmt_node_name(int node);

#endif
