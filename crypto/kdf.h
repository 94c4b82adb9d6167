/*
 * Key derivation, all HKDF-SHA256 (OpenSSL EVP_KDF): the configured secret
 * becomes the master key, the master key names itself with a key id and
 * yields one content key per (file id, cipher) and a key for the store
 * descriptor's MAC. Labels are in docs/FORMAT.md.
 */
#ifndef JCFS_KDF_H
#define JCFS_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define KDF_KEY_SIZE 32
#define KDF_XATTR_ID_SIZE 16

/* master = HKDF(salt = "jetcryptfs", ikm = secret, info = "jetcryptfs master key v1") */
int kdf_master_key(const uint8_t *secret, size_t len, uint8_t master[KDF_KEY_SIZE]);
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
