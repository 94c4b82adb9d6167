/*
 * The on-disk file format as pure arithmetic: the 32-byte header codec,
 * cipher names and parameters, and the exact mapping between plaintext and
 * ciphertext sizes that lets stat() report plaintext sizes without reading
 * the file. docs/FORMAT.md is the prose version of this file; any change
 * here is a format change and needs a new FMT_VERSION, unless readers of
 * the old version refuse what it adds (as they refuse node types).
 */
#include "format.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* Header layout: magic 0..3, version 4, cipher 5, node type 6, reserved
 * 7, key id 8..15, file id 16..31. */
#define OFF_VERSION  4
#define OFF_CIPHER   5
#define OFF_NODE     6
#define OFF_RESERVED 7
#define OFF_KEY_ID   8
#define OFF_FILE_ID  16

int fmt_cipher_from_name(const char *name)
{
	if (name == NULL)
		return -EINVAL;
	if (strcasecmp(name, "chachapoly") == 0 || strcasecmp(name, "chacha") == 0)
		return FMT_CIPHER_CHACHAPOLY;
	if (strcasecmp(name, "aes") == 0)
		return FMT_CIPHER_AES;
	return -EINVAL;
}

const char *fmt_cipher_name(int cipher)
{
	switch (cipher) {
	case FMT_CIPHER_CHACHAPOLY:
		return "chachapoly";
	case FMT_CIPHER_AES:
		return "aes";
	default:
		return "unknown";
	}
}

int fmt_cipher_valid(int cipher)
{
	return cipher == FMT_CIPHER_CHACHAPOLY || cipher == FMT_CIPHER_AES;
}

/* Unknown ciphers get 0 everywhere so that callers which forgot to check
 * fmt_cipher_valid() compute nonsense sizes that the decoder rejects,
 * rather than reading out of bounds. */
size_t fmt_nonce_size(int cipher)
{
	switch (cipher) {
	case FMT_CIPHER_CHACHAPOLY:
		return 24;
	case FMT_CIPHER_AES:
		return 12;
	default:
		return 0;
	}
}

size_t fmt_block_overhead(int cipher)
{
	if (!fmt_cipher_valid(cipher))
		return 0;
	return fmt_nonce_size(cipher) + FMT_TAG_SIZE;
}

size_t fmt_stored_block_size(int cipher)
{
	if (!fmt_cipher_valid(cipher))
		return 0;
	return FMT_BLOCK_SIZE + fmt_block_overhead(cipher);
}

uint64_t fmt_block_offset(int cipher, uint64_t blockno)
{
	return FMT_HEADER_SIZE + blockno * (uint64_t)fmt_stored_block_size(cipher);
}

/* The header is written even for an empty file: a created file gets its
 * file id at once, so the size of a header-only file is FMT_HEADER_SIZE. */
uint64_t fmt_ciphertext_size(int cipher, uint64_t plain)
{
	uint64_t full = plain / FMT_BLOCK_SIZE;
	uint64_t rest = plain % FMT_BLOCK_SIZE;
	uint64_t size;

	if (!fmt_cipher_valid(cipher))
		return 0;
	size = FMT_HEADER_SIZE + full * fmt_stored_block_size(cipher);
	if (rest)
		size += rest + fmt_block_overhead(cipher);
	return size;
}

int fmt_plaintext_size(int cipher, uint64_t cipher_size, uint64_t *plain)
{
	uint64_t body, stored, full, rest, overhead;

	if (!fmt_cipher_valid(cipher) || plain == NULL)
		return -EINVAL;
	if (cipher_size == 0) {
		*plain = 0;
		return 0;
	}
	if (cipher_size < FMT_HEADER_SIZE)
		return -EINVAL;
	body = cipher_size - FMT_HEADER_SIZE;
	stored = fmt_stored_block_size(cipher);
	overhead = fmt_block_overhead(cipher);
	full = body / stored;
	rest = body % stored;
	/* A partial last block holds at least one plaintext byte. */
	if (rest != 0 && rest <= overhead)
		return -EINVAL;
	*plain = full * FMT_BLOCK_SIZE + (rest ? rest - overhead : 0);
	return 0;
}

uint64_t fmt_whole_blocks_size(int cipher, uint64_t cipher_size)
{
	if (cipher_size <= FMT_HEADER_SIZE)
		return 0;
	return (cipher_size - FMT_HEADER_SIZE) / fmt_stored_block_size(cipher) * FMT_BLOCK_SIZE;
}

void fmt_header_encode(const struct fmt_header *h, uint8_t out[FMT_HEADER_SIZE])
{
	memcpy(out, FMT_MAGIC, 4);
	out[OFF_VERSION] = h->version;
	out[OFF_CIPHER] = h->cipher;
	out[OFF_NODE] = h->node;
	out[OFF_RESERVED] = 0;
	memcpy(out + OFF_KEY_ID, h->key_id, FMT_KEY_ID_SIZE);
	memcpy(out + OFF_FILE_ID, h->file_id, FMT_FILE_ID_SIZE);
}

int fmt_header_decode(struct fmt_header *h, const uint8_t *buf, size_t len)
{
	memset(h, 0, sizeof(*h));
	if (buf == NULL || len < 4 || memcmp(buf, FMT_MAGIC, 4) != 0)
		return -ENODATA;
	/* A file that starts like one of ours and stops inside the header is
	 * a damaged one of ours, not plaintext to be shown as it is. */
	if (len < FMT_HEADER_SIZE)
		return -EBADMSG;
	/* The reserved byte must be zero so that a future version can give
	 * it a meaning without old readers misreading such files, as the node
	 * type was given byte 6. */
	if (buf[OFF_VERSION] != FMT_VERSION || !fmt_cipher_valid(buf[OFF_CIPHER]) ||
	    buf[OFF_NODE] > FMT_NODE_SOCKET || buf[OFF_RESERVED] != 0)
		return -EPROTO;
	h->version = buf[OFF_VERSION];
	h->cipher = buf[OFF_CIPHER];
	h->node = buf[OFF_NODE];
	memcpy(h->key_id, buf + OFF_KEY_ID, FMT_KEY_ID_SIZE);
	memcpy(h->file_id, buf + OFF_FILE_ID, FMT_FILE_ID_SIZE);
	return 0;
}

const char *fmt_header_strerror(int rc)
{
	return rc == -EBADMSG ? "truncated header (shorter than 32 bytes)" : "damaged or unsupported header";
}

const char *fmt_node_name(int node)
{
	switch (node) {
	case FMT_NODE_FILE:
		return "file";
	case FMT_NODE_SYMLINK:
		return "symlink";
	case FMT_NODE_FIFO:
		return "FIFO";
	case FMT_NODE_SOCKET:
		return "socket";
	default:
		return "unknown";
	}
}
