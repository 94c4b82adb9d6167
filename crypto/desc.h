/*
 * The store descriptor: a small text file at the backing root
 * (".jetcryptfs", hidden from the mount view) recording the store's key id
 * and whether plaintext files are allowed, with an HMAC-SHA256 under a key
 * derived from the master key so that nobody without the key can turn a
 * strict store into one that accepts forged plaintext files. After a key
 * rotation it also names the retired key ids that files may still be under,
 * so that a mount without them is refused rather than half readable. A
 * store whose keys include a passphrase also records the salt and limits
 * its passphrases are stretched with (kdf.h), which must be read before
 * any key exists, so they are parsed without one like everything else.
 *
 *   jetcryptfs store 1         jetcryptfs store 2          jetcryptfs store 3
 *   key_id <16 hex>            key_id <16 hex>             key_id <16 hex>
 *   plaintext allowed|refused  plaintext allowed|refused   plaintext allowed|refused
 *   mac <64 hex>               retired <16 hex>[ ...]      kdf argon2id <t> <m KiB> <32 hex>
 *                              mac <64 hex>                [retired <16 hex>[ ...]]
 *                                                          mac <64 hex>
 *
 * Version 1 is written when no key is retired and there is no salt,
 * version 2 with retired keys and no salt, version 3 with a salt. The salt
 * is also kept in a file of its own (DESC_SALT_NAME: "jetcryptfs salt 1"
 * and the same kdf line), so that losing one of the two loses no data.
 */
#ifndef JCFS_DESC_H
#define JCFS_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "kdf.h"

#define DESC_NAME ".jetcryptfs"
#define DESC_SALT_NAME ".jetcryptfs.salt"
/* More than the longest descriptor (257 bytes), so that a read of this
 * many bytes always shows anything after one. */
#define DESC_MAX_SIZE 512
/* At most KEYRING_MAX - 1: a store with more retired keys than a keyring
 * can hold beside the current one could never be mounted whole. */
#define DESC_RETIRED_MAX 3

struct desc {
	uint8_t key_id[FMT_KEY_ID_SIZE];
	int plaintext_allowed;
	/* Key ids that files of the store may still be under (rotated out,
	 * not yet rekeyed): strictly ascending, none equal to key_id. */
	unsigned nretired;
	uint8_t retired[DESC_RETIRED_MAX][FMT_KEY_ID_SIZE];
	/* Version 3: the Argon2id salt and limits of the store's passphrases.
	 * Any non-zero limits are written and read (kdf_params_valid is the
	 * deriver's business), so that a store a later version made with
	 * other limits is named, not called malformed. */
	int has_kdf;
	struct kdf_params kdf;
};

/* Adds id to d's retired ids in order; nothing if it is there already or
 * is d->key_id. 0, or -ENOSPC if DESC_RETIRED_MAX are there. */
int desc_retired_add(struct desc *d, const uint8_t id[FMT_KEY_ID_SIZE]);
/* Removes id from d's retired ids if it is there. */
void desc_retired_remove(struct desc *d, const uint8_t id[FMT_KEY_ID_SIZE]);

/* Writes the descriptor text for d, MAC'd with master, to out; *len gets
 * its length. Returns 0, -ENOSPC if outlen is too small, or -EINVAL if
 * the retired ids are not as struct desc says. */
int desc_encode(const struct desc *d, const uint8_t master[KDF_KEY_SIZE],
		char *out, size_t outlen, size_t *len);
/* Parses without a key (so a wrong key can be named). -EINVAL if
 * malformed. */
int desc_parse(const char *buf, size_t len, struct desc *d);
/* 0 if the MAC verifies under master (constant time), else -EBADMSG. */
int desc_verify(const char *buf, size_t len, const uint8_t master[KDF_KEY_SIZE]);

/* The salt file: "jetcryptfs salt 1\n" and the descriptor's kdf line.
 * Not authenticated: a wrong salt derives a key whose id matches nothing,
 * which is refused like a wrong key. Encode returns 0 or -ENOSPC (-EINVAL
 * for zero limits); parse 0 or -EINVAL. */
int desc_salt_encode(const struct kdf_params *p, char *out, size_t outlen, size_t *len);
int desc_salt_parse(const char *buf, size_t len, struct kdf_params *p);

#endif
