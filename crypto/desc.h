/*
 * The store descriptor: a small text file at the backing root
 * (".jetcryptfs", hidden from the mount view) recording the store's key id
 * and whether plaintext files are allowed, with an HMAC-SHA256 under a key
 * derived from the master key so that nobody without the key can turn a
 * strict store into one that accepts forged plaintext files.
 *
 *   jetcryptfs store 1
 *   key_id <16 hex>
 *   plaintext allowed|refused
 *   mac <64 hex>
 */
#ifndef JCFS_DESC_H
#define JCFS_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "kdf.h"

#define DESC_NAME ".jetcryptfs"
#define DESC_MAX_SIZE 256

struct desc {
	uint8_t key_id[FMT_KEY_ID_SIZE];
	int plaintext_allowed;
};

/* Writes the descriptor text for d, MAC'd with master, to out; *len gets
 * its length. Returns 0 or -ENOSPC if outlen is too small. */
int desc_encode(const struct desc *d, const uint8_t master[KDF_KEY_SIZE],
		char *out, size_t outlen, size_t *len);
/* Parses without a key (so a wrong key can be named). -EINVAL if
 * malformed. */
int desc_parse(const char *buf, size_t len, struct desc *d);
/* 0 if the MAC verifies under master (constant time), else -EBADMSG. */
int desc_verify(const char *buf, size_t len, const uint8_t master[KDF_KEY_SIZE]);

#endif
