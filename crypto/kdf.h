/*
 * Key derivation: the configured secret becomes the master key, the master
 * key names itself with a key id and yields one content key per (file id,
 * cipher) and a key for the store descriptor's MAC, all HKDF-SHA256
 * (OpenSSL EVP_KDF). A secret that is not a full-entropy key (a
 * passphrase) is first stretched with Argon2id (libsodium crypto_pwhash)
 * under the store's random salt, so that each guess at it costs an Argon2id
 * run instead of one HKDF. What counts as full-entropy, the labels and the
 * limits are in docs/FORMAT.md, "Keys".
 */
#ifndef JCFS_KDF_H
#define JCFS_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define KDF_KEY_SIZE 32
#define KDF_XATTR_ID_SIZE 16
#define KDF_SALT_SIZE 16

/* The Argon2id limits of a new store: libsodium's "moderate" ones, 0.6 s
 * and 256 MiB on this project's test machine (docs/SECURITY.md). A store
 * records its own, so that they can change without breaking any store. */
#define KDF_OPS_DEFAULT     3u
#define KDF_MEM_KIB_DEFAULT (256u * 1024)
/* What a store may ask for: a descriptor is read before anything proves
 * it, and must not make a mount spend minutes or gigabytes. */
#define KDF_OPS_MIN     1u
#define KDF_OPS_MAX     16u
#define KDF_MEM_KIB_MIN (8u * 1024)
#define KDF_MEM_KIB_MAX (1024u * 1024)

/* How a passphrase is stretched: Argon2id version 1.3, one lane. */
struct kdf_params {
	uint32_t ops;                   /* passes (t) */
	uint32_t mem_kib;               /* memory in KiB (m) */
	uint8_t salt[KDF_SALT_SIZE];    /* random, one per store */
};

/* 1 if the secret is the text form of a full-entropy 256-bit key: 43 or
 * 44 ("=") characters of base64 (standard or URL-safe alphabet, not mixed)
 * or 64 hex digits, encoding exactly 32 bytes, and not a low-entropy text
 * that happens to have that form (fewer than 16 distinct base64 characters
 * or 10 distinct hex digits, a repeated pattern, or mostly runs such as
 * "abcd"). Such a key is used as it is; anything else is a passphrase. */
int kdf_secret_is_full_entropy(const uint8_t *secret, size_t len);

/* Fresh limits (the defaults) and a random salt for a new store. */
void kdf_params_new(struct kdf_params *p);
/* 1 if p's limits are within the bounds above. */
int kdf_params_valid(const struct kdf_params *p);

/* master = HKDF(salt = "jetcryptfs", ikm = secret, info = "jetcryptfs master key v1"):
 * a full-entropy key, and a passphrase of a store made before stretching. */
int kdf_master_key(const uint8_t *secret, size_t len, uint8_t master[KDF_KEY_SIZE]);
/* master = HKDF(salt = "jetcryptfs", ikm = Argon2id(secret, p) (32 bytes),
 * info = "jetcryptfs master key v2 argon2id"): a passphrase. -EINVAL for an
 * empty secret or limits out of bounds, -ENOMEM if Argon2id cannot have
 * its memory. Takes p->ops passes over p->mem_kib KiB: about 0.6 s with
 * the defaults. */
int kdf_master_key_stretched(const uint8_t *secret, size_t len, const struct kdf_params *p,
			     uint8_t master[KDF_KEY_SIZE]);
/* id = first 8 bytes of HKDF-Expand(master, "jetcryptfs key id v1") */
int kdf_key_id(const uint8_t master[KDF_KEY_SIZE], uint8_t id[FMT_KEY_ID_SIZE]);
/* HKDF-Expand(master, "jetcryptfs file key v1" || cipher (1 byte) || file_id) */
int kdf_file_key(const uint8_t master[KDF_KEY_SIZE], int cipher,
		 const uint8_t file_id[FMT_FILE_ID_SIZE], uint8_t out[KDF_KEY_SIZE]);
/* HKDF-Expand(master, "jetcryptfs store descriptor v1") */
int kdf_store_key(const uint8_t master[KDF_KEY_SIZE], uint8_t out[KDF_KEY_SIZE]);

/* HKDF-Expand(master, "jetcryptfs xattr key v1" || cipher (1 byte) ||
 * xattr id): the key of a file's extended attribute values (xattrval.h). */
int kdf_xattr_key(const uint8_t master[KDF_KEY_SIZE], int cipher,
		  const uint8_t xattr_id[KDF_XATTR_ID_SIZE], uint8_t out[KDF_KEY_SIZE]);

/* Lowercase hex of a key id into out (17 bytes with the NUL). */
void kdf_key_id_hex(const uint8_t id[FMT_KEY_ID_SIZE], char out[2 * FMT_KEY_ID_SIZE + 1]);

#endif
