/*
 * Symlink targets and FIFO/socket markers as one-block encrypted files
 * (node.h). The block layer does the sealing; what this adds is the
 * header's node type -- part of the associated data, so that a file's
 * block, a target and a marker can never be taken for one another -- the
 * base64url text a symlink target must be, and the rule that a hole (an
 * all-zero block, which block_decrypt reads as zeros) is never valid here:
 * a target or marker has no holes, and one would otherwise pass unsigned.
 */
#include "node.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "block.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* The longest decoded target blob: 4095 base64 characters. */
#define LINK_BLOB_MAX (NODE_LINK_STORED_MAX / 4 * 3 + 2)

/* Bytes of the unpadded base64 of n bytes, and back. */
static size_t b64_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static int b64_bin_len(size_t e, size_t *n)
{
	if (e % 4 == 1)
		return -EINVAL;
	*n = e / 4 * 3 + (e % 4 ? e % 4 - 1 : 0);
	return 0;
}

/* The blob of a one-block node: header || nonce || ciphertext || tag. */
static size_t blob_len(int cipher, size_t plain)
{
	return FMT_HEADER_SIZE + plain + fmt_block_overhead(cipher);
}

size_t node_link_max_target(int cipher)
{
	size_t max = 0;

	if (!fmt_cipher_valid(cipher))
		return 0;
	/* base64 of b bytes is ceil(4b / 3) characters. */
	max = (NODE_LINK_STORED_MAX * 3) / 4;
	return max - FMT_HEADER_SIZE - fmt_block_overhead(cipher);
}

size_t node_link_stored_len(int cipher, size_t len)
{
	return b64_len(blob_len(cipher, len));
}

/* Seals plain[0..len) as block 0 of a node of type node into blob (header
 * first). nonce NULL draws a fresh one; file_id NULL a fresh file id. */
static int seal(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE], int cipher,
		int node, const uint8_t *file_id, const uint8_t *nonce, const uint8_t *plain, size_t len,
		uint8_t *blob)
{
	struct fmt_header h = { .version = FMT_VERSION, .cipher = (uint8_t)cipher, .node = (uint8_t)node };
	uint8_t key[KDF_KEY_SIZE];
	int rc;

	if (!fmt_cipher_valid(cipher) || len == 0 || len > FMT_BLOCK_SIZE)
		return -EINVAL;
	memcpy(h.key_id, key_id, FMT_KEY_ID_SIZE);
	if (file_id)
		memcpy(h.file_id, file_id, FMT_FILE_ID_SIZE);
	else
		randombytes_buf(h.file_id, FMT_FILE_ID_SIZE);
	fmt_header_encode(&h, blob);
	rc = kdf_file_key(master, cipher, h.file_id, key);
	if (rc == 0 && nonce)
		rc = block_encrypt_nonce(cipher, key, blob, 0, nonce, plain, len, blob + FMT_HEADER_SIZE);
	else if (rc == 0)
		rc = block_encrypt(cipher, key, blob, 0, plain, len, blob + FMT_HEADER_SIZE);
	sodium_memzero(key, sizeof(key));
	return rc;
}

/* Opens block 0 of a blob of blob_len bytes whose header h was decoded;
 * plain receives blob_len - 32 - overhead bytes. */
static int unseal(const uint8_t master[KDF_KEY_SIZE], const struct fmt_header *h, const uint8_t *blob,
		  size_t blob_len, uint8_t *plain)
{
	const uint8_t *blk = blob + FMT_HEADER_SIZE;
	size_t blen = blob_len - FMT_HEADER_SIZE;
	uint8_t key[KDF_KEY_SIZE];
	int rc;

	if (block_is_hole(blk, blen))
		return -EBADMSG;
	rc = kdf_file_key(master, h->cipher, h->file_id, key);
	if (rc == 0)
		rc = block_decrypt(h->cipher, key, blob, 0, blk, blen, plain);
	sodium_memzero(key, sizeof(key));
	return rc;
}

static int link_encode(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE], int cipher,
		       const uint8_t *file_id, const uint8_t *nonce, const char *target, size_t len, char *out,
		       size_t outlen)
{
	uint8_t blob[LINK_BLOB_MAX];
	size_t n;
	int rc;

	if (!fmt_cipher_valid(cipher))
		return -EINVAL;
	if (len == 0)
		return -ENOENT;
	if (len > node_link_max_target(cipher))
		return -ENAMETOOLONG;
	n = blob_len(cipher, len);
	if (outlen < b64_len(n) + 1)
		return -EINVAL;
	rc = seal(master, key_id, cipher, FMT_NODE_SYMLINK, file_id, nonce, (const uint8_t *)target, len, blob);
	if (rc == 0)
		sodium_bin2base64(out, outlen, blob, n, B64);
	sodium_memzero(blob, sizeof(blob));
	return rc;
}

int node_link_encode(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE], int cipher,
		     const char *target, size_t len, char *out, size_t outlen)
{
	return link_encode(master, key_id, cipher, NULL, NULL, target, len, out, outlen);
}

int node_link_encode_fixed(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
			   int cipher, const uint8_t file_id[FMT_FILE_ID_SIZE], const uint8_t *nonce,
			   const char *target, size_t len, char *out, size_t outlen)
{
	return link_encode(master, key_id, cipher, file_id, nonce, target, len, out, outlen);
}

/* Decodes the stored text into blob (LINK_BLOB_MAX bytes) and its header. */
static int link_blob(const char *stored, size_t len, uint8_t *blob, size_t *n, struct fmt_header *h)
{
	const char *end = NULL;
	int rc;

	/* Strictly the encoder's spelling: the URL-safe alphabet, no
	 * padding, no other character, unused bits zero (libsodium checks). */
	if (len == 0 || len > NODE_LINK_STORED_MAX || b64_bin_len(len, n) < 0 ||
	    sodium_base642bin(blob, LINK_BLOB_MAX, stored, len, NULL, n, &end, B64) != 0 || end != stored + len)
		return -ENODATA;
	rc = fmt_header_decode(h, blob, *n);
	if (rc < 0)
		return rc;
	if (h->node != FMT_NODE_SYMLINK)
		return -EPROTO;
	if (*n < blob_len(h->cipher, 1))
		return -EBADMSG;
	return 0;
}

int node_link_peek(const char *stored, size_t len, struct fmt_header *h)
{
	uint8_t blob[LINK_BLOB_MAX];
	size_t n;
	int rc = link_blob(stored, len, blob, &n, h);

	if (rc < 0)
		memset(h, 0, sizeof(*h));
	return rc;
}

int node_link_target_len(int cipher, size_t stored_len, size_t *len)
{
	size_t n, min = blob_len(cipher, 1);

	if (!fmt_cipher_valid(cipher) || b64_bin_len(stored_len, &n) < 0 || n < min)
		return -EINVAL;
	*len = n - (min - 1);
	return 0;
}

int node_link_decode(const uint8_t master[KDF_KEY_SIZE], const char *stored, size_t stored_len, char *out,
		     size_t outlen, size_t *len)
{
	uint8_t blob[LINK_BLOB_MAX];
	struct fmt_header h;
	size_t n, plen;
	int rc;

	rc = link_blob(stored, stored_len, blob, &n, &h);
	if (rc < 0)
		return rc;
	plen = n - blob_len(h.cipher, 0);
	if (outlen <= plen)
		return -ENAMETOOLONG;
	rc = unseal(master, &h, blob, n, (uint8_t *)out);
	/* A target never holds a NUL: the kernel could not have passed one. */
	if (rc == 0 && memchr(out, '\0', plen))
		rc = -EBADMSG;
	if (rc < 0) {
		sodium_memzero(out, outlen);
		return rc;
	}
	out[plen] = '\0';
	*len = plen;
	return 0;
}

size_t node_marker_size(int cipher)
{
	return fmt_cipher_valid(cipher) ? blob_len(cipher, 1) : 0;
}

static int marker_encode(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE], int cipher,
			 int node, const uint8_t *file_id, const uint8_t *nonce, uint8_t out[NODE_MARKER_MAX])
{
	uint8_t plain = (uint8_t)node;

	if (node != FMT_NODE_FIFO && node != FMT_NODE_SOCKET)
		return -EINVAL;
	return seal(master, key_id, cipher, node, file_id, nonce, &plain, 1, out);
}

int node_marker_encode(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE], int cipher,
		       int node, uint8_t out[NODE_MARKER_MAX])
{
	return marker_encode(master, key_id, cipher, node, NULL, NULL, out);
}

int node_marker_encode_fixed(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
			     int cipher, int node, const uint8_t file_id[FMT_FILE_ID_SIZE], const uint8_t *nonce,
			     uint8_t out[NODE_MARKER_MAX])
{
	return marker_encode(master, key_id, cipher, node, file_id, nonce, out);
}

int node_marker_verify(const uint8_t master[KDF_KEY_SIZE], const struct fmt_header *h, const uint8_t *buf,
		       size_t len)
{
	uint8_t plain;
	int rc;

	if ((h->node != FMT_NODE_FIFO && h->node != FMT_NODE_SOCKET) || len != node_marker_size(h->cipher))
		return -EINVAL;
	rc = unseal(master, h, buf, len, &plain);
	if (rc == 0 && plain != h->node)
		rc = -EBADMSG;
	return rc;
}
