/*
 * The codec of extended attribute values: one user.* value <-> a 16-byte
 * value header (magic JCXV, version, cipher, key id) || nonce ||
 * ciphertext || tag, authenticated with the file's xattr id and the
 * attribute's name, so that a value cannot be moved to another file or
 * another name. The xattr id is 16 random bytes kept per backing inode in
 * the internal attribute user.jetcryptfs.id (JCXI || version || 3 zero
 * bytes || id). Pure functions, no I/O; docs/FORMAT.md, "Extended
 * attributes", is the prose version.
 */
#ifndef JCFS_XATTRVAL_H
#define JCFS_XATTRVAL_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define XVAL_MAGIC        "JCXV"        /* 4 bytes at offset 0 of a value */
#define XVAL_VERSION      1
#define XVAL_HEADER_SIZE  16
#define XVAL_ID_SIZE      16
#define XVAL_KEY_SIZE     32
/* The largest value the kernel passes (XATTR_SIZE_MAX). */
#define XVAL_STORED_MAX   65536
/* Header, the longer nonce (XChaCha20's) and the tag. */
#define XVAL_MAX_OVERHEAD (XVAL_HEADER_SIZE + FMT_MAX_NONCE + FMT_TAG_SIZE)
/* The largest plaintext value, under either cipher: one that fits under
 * one fits under the other, so rekey can always convert it. */
#define XVAL_PLAIN_MAX    (XVAL_STORED_MAX - XVAL_MAX_OVERHEAD)
/* The longest attribute name, prefix included (XATTR_NAME_MAX). */
#define XVAL_NAME_MAX     255

/* The internal attribute holding the xattr id, and the names reserved for
 * such attributes: hidden from and refused through the mount. */
#define XVAL_ID_NAME      "user.jetcryptfs.id"
#define XVAL_RESERVED     "user.jetcryptfs."
#define XVAL_ID_MAGIC     "JCXI"
#define XVAL_ID_ATTR_SIZE 24

struct xval_header {
	uint8_t version;
	uint8_t cipher;
	uint8_t key_id[FMT_KEY_ID_SIZE];
};

/* 1 if name is one whose value is encrypted: "user." and not reserved. */
int xval_name_encrypted(const char *name);
/* 1 if name begins with XVAL_RESERVED. */
int xval_name_reserved(const char *name);

/* Header, nonce and tag: what a stored value has beyond its plaintext
 * (56 for chachapoly, 44 for aes); 0 for an unknown cipher. */
size_t xval_overhead(int cipher);

/* 0 with h filled; -ENODATA if buf does not start with the magic (a
 * plaintext value); -EBADMSG if it does but is too short for the header,
 * nonce and tag; -EPROTO for an unknown version or cipher or non-zero
 * reserved bytes. */
int xval_header_decode(struct xval_header *h, const uint8_t *buf, size_t len);

/* Encrypts plain[0..len) (len <= XVAL_PLAIN_MAX, 0 allowed) as the value
 * of attribute name of the file with xattr id xid, under key (from
 * kdf_xattr_key for that cipher and xid) whose master key's id is key_id,
 * with a fresh random nonce. Writes len + xval_overhead(cipher) bytes to
 * out and their count to *out_len. 0, -EINVAL (bad cipher, name or
 * length), -EIO. */
int xval_encrypt(int cipher, const uint8_t key[XVAL_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
		 const uint8_t xid[XVAL_ID_SIZE], const char *name, const uint8_t *plain, size_t len,
		 uint8_t *out, size_t *out_len);
/* Same with a caller-chosen nonce: for test vectors only. */
int xval_encrypt_nonce(int cipher, const uint8_t key[XVAL_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
		       const uint8_t xid[XVAL_ID_SIZE], const char *name, const uint8_t *nonce,
		       const uint8_t *plain, size_t len, uint8_t *out, size_t *out_len);

/* Decrypts a stored value whose header decoded as h into plain (room for
 * in_len - xval_overhead bytes); *plain_len is set. 0, -EBADMSG when
 * authentication fails (plain is zeroed), -EINVAL/-EPROTO for a value
 * xval_header_decode refuses. */
int xval_decrypt(const uint8_t key[XVAL_KEY_SIZE], const uint8_t xid[XVAL_ID_SIZE], const char *name,
		 const uint8_t *in, size_t in_len, uint8_t *plain, size_t *plain_len);

/* The internal attribute's value for xid (XVAL_ID_ATTR_SIZE bytes). */
void xval_id_encode(const uint8_t xid[XVAL_ID_SIZE], uint8_t out[XVAL_ID_ATTR_SIZE]);
/* 0 with xid set, or -EBADMSG for anything but exactly that layout. */
int xval_id_decode(const uint8_t *buf, size_t len, uint8_t xid[XVAL_ID_SIZE]);

#endif
