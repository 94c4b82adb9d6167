/*
 * Key derivation with HKDF-SHA256 through OpenSSL's EVP_KDF, and Argon2id
 * through libsodium for passphrases. A full-entropy secret from the key
 * source goes through extract-and-expand once to become the master key; a
 * passphrase goes through Argon2id under the store's salt first, and its
 * extract-and-expand carries another label, so that a passphrase and the
 * same bytes taken as a key never meet. Everything else (key id, per-file
 * content keys, the store descriptor's MAC key) is HKDF-Expand of the
 * master key under a distinct label, so that no two uses ever share key
 * material. Labels are ASCII without a terminating NUL; docs/FORMAT.md
 * lists them.
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
#define INFO_STRETCH "jetcryptfs master key v2 argon2id"
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

_Static_assert(KDF_SALT_SIZE == crypto_pwhash_SALTBYTES, "the salt is Argon2id's");
_Static_assert(KDF_OPS_MIN >= crypto_pwhash_OPSLIMIT_MIN, "bounds within libsodium's");
_Static_assert(KDF_MEM_KIB_MIN * 1024ull >= crypto_pwhash_MEMLIMIT_MIN, "bounds within libsodium's");

int kdf_params_valid(const struct kdf_params *p)
{
	return p->ops >= KDF_OPS_MIN && p->ops <= KDF_OPS_MAX &&
	       p->mem_kib >= KDF_MEM_KIB_MIN && p->mem_kib <= KDF_MEM_KIB_MAX;
}

void kdf_params_new(struct kdf_params *p)
{
	p->ops = KDF_OPS_DEFAULT;
	p->mem_kib = KDF_MEM_KIB_DEFAULT;
	randombytes_buf(p->salt, sizeof(p->salt));
}

int kdf_master_key_stretched(const uint8_t *secret, size_t len, const struct kdf_params *p,
			     uint8_t master[KDF_KEY_SIZE])
{
	uint8_t stretched[KDF_KEY_SIZE];
	int rc;

	if (secret == NULL || len == 0 || !kdf_params_valid(p))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	/* libsodium fails only when it cannot allocate the memory asked. */
	if (crypto_pwhash(stretched, sizeof(stretched), (const char *)secret, len, p->salt, p->ops,
			  (size_t)p->mem_kib * 1024, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_memzero(stretched, sizeof(stretched));
		return -ENOMEM;
	}
	rc = hkdf_run(LIT(SALT_MASTER), stretched, sizeof(stretched), LIT(INFO_STRETCH),
		      master, KDF_KEY_SIZE);
	sodium_memzero(stretched, sizeof(stretched));
	return rc;
}

/* ---- what a full-entropy key looks like ---- */

#define B64_CHARS 43            /* 32 bytes: 42 whole characters and 4 bits */
#define HEX_CHARS 64
/* A random 43-character base64 string has fewer than 16 distinct
 * characters with probability 6e-14, 21 or more runs among its 42
 * neighbour pairs with 1e-17; 64 random hex digits have fewer than 9
 * distinct digits with probability 7e-16, 42 or more runs among 63 pairs
 * with 9e-18 (exact, by dynamic programming: docs/FORMAT.md). A key
 * `jetcryptfs genkey` printed is practically never taken for a
 * passphrase, which would change its key id. */
#define B64_MIN_DISTINCT 16
#define B64_MAX_RUNS     20
#define HEX_MIN_DISTINCT 9
#define HEX_MAX_RUNS     41

/* The value of c in base64; *alphabet collects 1 for "+/", 2 for "-_". */
static int b64_value(uint8_t c, unsigned *alphabet)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '/')
		*alphabet |= 1;
	else if (c == '-' || c == '_')
		*alphabet |= 2;
	else
		return -1;
	return c == '+' || c == '-' ? 62 : 63;
}

static int hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* Whether the characters of s (hex digits case-folded) look drawn at
 * random: enough distinct ones, no repeated unit, and not mostly runs
 * (neighbours equal or next to each other, as in "aabc" or "4321"). */
static int text_looks_random(const uint8_t *s, size_t n, int fold, unsigned min_distinct,
			     size_t max_runs)
{
	uint8_t seen[256] = { 0 }, c[HEX_CHARS];
	unsigned distinct = 0;
	size_t runs = 0;

	for (size_t i = 0; i < n; i++) {
		c[i] = fold && s[i] >= 'A' && s[i] <= 'F' ? (uint8_t)(s[i] | 0x20) : s[i];
		if (!seen[c[i]]++)
			distinct++;
		if (i > 0 && c[i] + 1 >= c[i - 1] && c[i] <= c[i - 1] + 1)
			runs++;
	}
	for (size_t period = 1; period <= n / 2; period++) {
		size_t i = period;

		while (i < n && c[i] == c[i - period])
			i++;
		if (i == n)
			return 0;
	}
	return distinct >= min_distinct && runs <= max_runs;
}

/* The text forms of 32 bytes, as kdf.h lists them. The text itself is the
 * key (the HKDF input), as it always was: decoding only checks the form. */
int kdf_secret_is_full_entropy(const uint8_t *s, size_t len)
{
	unsigned alphabet = 0;
	int bad = 0, last;

	if (s == NULL)
		return 0;
	if (len == HEX_CHARS) {
		for (size_t i = 0; i < len; i++)
			bad |= hex_value(s[i]) < 0;
		return !bad && text_looks_random(s, len, 1, HEX_MIN_DISTINCT, HEX_MAX_RUNS);
	}
	if (len != B64_CHARS && !(len == B64_CHARS + 1 && s[B64_CHARS] == '='))
		return 0;
	for (size_t i = 0; i < B64_CHARS; i++)
		bad |= b64_value(s[i], &alphabet) < 0;
	/* The last character carries 4 bits of the key and 2 zero bits: with
	 * any of those set, the text is not the one encoding of 32 bytes. */
	last = b64_value(s[B64_CHARS - 1], &alphabet);
	if (bad || alphabet == 3 || (last & 3) != 0)
		return 0;
	return text_looks_random(s, B64_CHARS, 0, B64_MIN_DISTINCT, B64_MAX_RUNS);
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
