/*
 * The block codec: one 4096-byte plaintext block <-> nonce || ciphertext
 * || tag, for both ciphers. The associated data is the file's 32-byte
 * header followed by the block number (little-endian 64-bit), which binds
 * the block to its position, its file and the header's cipher id.
 * Thread-safe: each thread uses cipher contexts of its own, which keep
 * key material after a block until block_forget_key wipes them.
 */
#ifndef JCFS_BLOCK_H
#define JCFS_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define BLOCK_KEY_SIZE 32

/* Must be called once before any other function of this module (calls
 * sodium_init). Returns 0 or -EIO. */
int block_init(void);

/* Encrypts plain[0..len) (1 <= len <= FMT_BLOCK_SIZE) as block blockno of
 * the file whose encoded header is hdr; writes len + overhead bytes to out
 * (nonce first). A fresh random nonce, never all-zero. 0 or -errno. */
int block_encrypt(int cipher, const uint8_t key[BLOCK_KEY_SIZE],
		  const uint8_t hdr[FMT_HEADER_SIZE], uint64_t blockno,
		  const uint8_t *plain, size_t len, uint8_t *out);

/* Same with a caller-chosen nonce: for test vectors only. */
int block_encrypt_nonce(int cipher, const uint8_t key[BLOCK_KEY_SIZE],
			const uint8_t hdr[FMT_HEADER_SIZE], uint64_t blockno,
			const uint8_t *nonce, const uint8_t *plain, size_t len,
			uint8_t *out);

/* Decrypts a stored block of in_len bytes (overhead < in_len <= stored
 * block size) into plain (in_len - overhead bytes). A stored block that is
 * all zero bytes is a hole and decrypts to zeros. Returns 0, -EBADMSG if
 * authentication fails, -EINVAL for an impossible length. */
int block_decrypt(int cipher, const uint8_t key[BLOCK_KEY_SIZE],
		  const uint8_t hdr[FMT_HEADER_SIZE], uint64_t blockno,
		  const uint8_t *in, size_t in_len, uint8_t *plain);

/* Wipes what any thread keeps of key after a block: the cipher contexts
 * keyed with it or with a subkey of it (they are set up again on their
 * next use) and the copies of it that tell so. For when key is no longer
 * in use: a file's last close. Waits for blocks in progress under it. */
void block_forget_key(const uint8_t key[BLOCK_KEY_SIZE]);

/* 1 if buf[0..len) is all zero bytes (a hole). */
int block_is_hole(const uint8_t *buf, size_t len);

#endif
