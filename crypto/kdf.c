/*
 * Key derivation with HKDF-SHA256 through OpenSSL's EVP_KDF. The secret
 * from the key source goes through extract-and-expand once to become the
 * master key; everything else (key id, per-file content keys, the store
 * descriptor's MAC key) is HKDF-Expand of the master key under a distinct
 * label, so that no two uses ever share key material. Labels are ASCII
 * without a terminating NUL; docs/FORMAT.md lists them.
 */
#include "kdf.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#define SALT_MASTER  "jetcryptfs"
#define INFO_MASTER  "jetcryptfs master key v1"
#define INFO_KEY_ID  "jetcryptfs key id v1"
#define INFO_FILE    "jetcryptfs file key v1"
#define INFO_STORE   "jetcryptfs store descriptor v1"
#define INFO_XATTR   "jetcryptfs xattr key v1"

#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1

/* Fetching the algorithm walks OpenSSL's provider tables; do it once. */
static pthread_once_t hkdf_once = PTHREAD_ONCE_INIT;
static EVP_KDF *hkdf;

static void hkdf_fetch(void)
{
	hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

/* salt == NULL selects HKDF-Expand only, with key as the PRK. */
static int hkdf_run(const uint8_t *salt, size_t salt_len, const uint8_t *key,
		    size_t key_len, const uint8_t *info, size_t info_len,
		    uint8_t *out, size_t out_len)
{
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[6], *p = params;
	int mode = salt ? EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND
			: EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	int ok;

	pthread_once(&hkdf_once, hkdf_fetch);
	if (hkdf == NULL)
		return -EIO;
	ctx = EVP_KDF_CTX_new(hkdf);
	if (ctx == NULL)
		return -ENOMEM;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
	if (salt)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)salt, salt_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(ctx, out, out_len, params) == 1;
	EVP_KDF_CTX_free(ctx);    /* clears the copied key */
	if (!ok) {
		ERR_clear_error();
		sodium_memzero(out, out_len);
		return -EIO;
	}
	return 0;
}

int kdf_master_key(const uint8_t *secret, size_t len, uint8_t master[KDF_KEY_SIZE])
{
	/* An empty secret is a configuration mistake, never a key. */
	if (secret == NULL || len == 0)
		return -EINVAL;
	return hkdf_run(LIT(SALT_MASTER), secret, len, LIT(INFO_MASTER),
			master, KDF_KEY_SIZE);
}

int kdf_key_id(const uint8_t master[KDF_KEY_SIZE], uint8_t id[FMT_KEY_ID_SIZE])
{
	/* Expanding to 8 bytes yields exactly the first 8 bytes of T(1). */
	return hkdf_run(NULL, 0, master, KDF_KEY_SIZE, LIT(INFO_KEY_ID),
			id, FMT_KEY_ID_SIZE);
}

int kdf_file_key(const uint8_t master[KDF_KEY_SIZE], int cipher,
		 const uint8_t file_id[FMT_FILE_ID_SIZE], uint8_t out[KDF_KEY_SIZE])
{
	uint8_t info[sizeof(INFO_FILE) - 1 + 1 + FMT_FILE_ID_SIZE];

	/* The cipher is part of the label so that one file id never yields
	 * the same key for both ciphers. */
	if (!fmt_cipher_valid(cipher))
		return -EINVAL;
	memcpy(info, INFO_FILE, sizeof(INFO_FILE) - 1);
	info[sizeof(INFO_FILE) - 1] = (uint8_t)cipher;
	memcpy(info + sizeof(INFO_FILE), file_id, FMT_FILE_ID_SIZE);
	return hkdf_run(NULL, 0, master, KDF_KEY_SIZE, info, sizeof(info),
			out, KDF_KEY_SIZE);
}

int kdf_store_key(const uint8_t master[KDF_KEY_SIZE], uint8_t out[KDF_KEY_SIZE])
{
	return hkdf_run(NULL, 0, master, KDF_KEY_SIZE, LIT(INFO_STORE),
			out, KDF_KEY_SIZE);
}

int kdf_xattr_key(const uint8_t master[KDF_KEY_SIZE], int cipher,
		  const uint8_t xattr_id[KDF_XATTR_ID_SIZE], uint8_t out[KDF_KEY_SIZE])
{
	uint8_t info[sizeof(INFO_XATTR) - 1 + 1 + KDF_XATTR_ID_SIZE];

	/* Its own label: an xattr id equal to some file id never yields
	 * that file's content key. */
	if (!fmt_cipher_valid(cipher))
		return -EINVAL;
	memcpy(info, INFO_XATTR, sizeof(INFO_XATTR) - 1);
	info[sizeof(INFO_XATTR) - 1] = (uint8_t)cipher;
	memcpy(info + sizeof(INFO_XATTR), xattr_id, KDF_XATTR_ID_SIZE);
	return hkdf_run(NULL, 0, master, KDF_KEY_SIZE, info, sizeof(info),
			out, KDF_KEY_SIZE);
}

void kdf_key_id_hex(const uint8_t id[FMT_KEY_ID_SIZE], char out[2 * FMT_KEY_ID_SIZE + 1])
{
	sodium_bin2hex(out, 2 * FMT_KEY_ID_SIZE + 1, id, FMT_KEY_ID_SIZE);
}
