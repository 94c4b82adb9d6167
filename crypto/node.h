/*
 * The codec of the nodes that are not regular files: symlink targets and
 * the marker files of FIFOs and sockets. Each is a one-block encrypted
 * file in the format of format.h and block.h -- a header whose node type
 * says what it is, then block 0 -- so it is authenticated, bound to its
 * key id and cipher, and read with the key its header names:
 *
 *   symlink target: base64url, no padding, of header || block 0 whose
 *                   plaintext is the target;
 *   FIFO / socket:  a regular backing file of header || block 0 whose
 *                   plaintext is the one byte of the node type.
 *
 * Pure functions, no I/O; docs/FORMAT.md ("Symlinks", "FIFOs and sockets")
 * is the prose version.
 */
#ifndef JCFS_NODE_H
#define JCFS_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "kdf.h"

/* The longest symlink target the kernel takes (PATH_MAX less the NUL):
 * the limit for the stored, encoded form. */
#define NODE_LINK_STORED_MAX 4095

/* The longest plaintext target whose encoding fits NODE_LINK_STORED_MAX
 * (2999 bytes for chachapoly, 3011 for aes); 0 for an unknown cipher. */
size_t node_link_max_target(int cipher);
/* Length of the encoding of a target of len bytes (no NUL). */
size_t node_link_stored_len(int cipher, size_t len);

/* Encrypts target[0..len) under master (whose key id is key_id) with a
 * fresh file id and nonce into out, NUL-terminated (outlen >
 * node_link_stored_len). 0; -ENAMETOOLONG beyond node_link_max_target;
 * -ENOENT for an empty target (as symlink(2)); -EINVAL, -EIO. */
int node_link_encode(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
		     int cipher, const char *target, size_t len, char *out, size_t outlen);
/* The same with the file id and nonce given: for test vectors only. */
int node_link_encode_fixed(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
			   int cipher, const uint8_t file_id[FMT_FILE_ID_SIZE], const uint8_t *nonce,
			   const char *target, size_t len, char *out, size_t outlen);

/* Reads the header of a stored target (stored[0..len), no NUL needed),
 * without the key: 0 with *h filled (node FMT_NODE_SYMLINK); -ENODATA if
 * it is not an encoding of ours at all (a plaintext target: made before
 * symlink encryption, or planted); -EPROTO for a header of ours that is
 * damaged, of a future version or of another node type; -EBADMSG if the
 * encoding is cut short (no room for a one-byte target). */
int node_link_peek(const char *stored, size_t len, struct fmt_header *h);
/* The plaintext length of a stored target of stored_len bytes whose
 * header names cipher; -EINVAL for a length no encoder produces. */
int node_link_target_len(int cipher, size_t stored_len, size_t *len);
/* Decrypts a stored target under master (the key its header's key id
 * names) into out, NUL-terminated (outlen > NODE_LINK_STORED_MAX is always
 * enough), *len its length. 0; -EBADMSG if it fails authentication; the
 * errors of node_link_peek. out is wiped on failure. */
int node_link_decode(const uint8_t master[KDF_KEY_SIZE], const char *stored, size_t stored_len,
		     char *out, size_t outlen, size_t *len);

/* Size of a FIFO or socket marker file under cipher: 32 + 1 + overhead
 * (73 for chachapoly, 61 for aes). */
#define NODE_MARKER_MAX (FMT_HEADER_SIZE + 1 + FMT_MAX_NONCE + FMT_TAG_SIZE)
size_t node_marker_size(int cipher);
/* Builds the marker of node (FMT_NODE_FIFO or FMT_NODE_SOCKET) under
 * master (key id key_id) with a fresh file id and nonce: out receives
 * node_marker_size(cipher) bytes. 0, -EINVAL, -EIO. */
int node_marker_encode(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
		       int cipher, int node, uint8_t out[NODE_MARKER_MAX]);
int node_marker_encode_fixed(const uint8_t master[KDF_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
			     int cipher, int node, const uint8_t file_id[FMT_FILE_ID_SIZE],
			     const uint8_t *nonce, uint8_t out[NODE_MARKER_MAX]);
/* Checks a marker file's bytes buf[0..len) (its whole contents) under
 * master, the key its header names (the caller decoded the header, h):
 * 0 if it is a FIFO or socket marker that authenticates; -EBADMSG if it
 * does not authenticate, -EINVAL if its size or node type is not a
 * marker's. */
int node_marker_verify(const uint8_t master[KDF_KEY_SIZE], const struct fmt_header *h,
		       const uint8_t *buf, size_t len);

#endif
