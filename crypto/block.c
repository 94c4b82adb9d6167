/*
 * The block codec, the hot path of every read and write: one plaintext
 * block <-> nonce || ciphertext || tag under XChaCha20-Poly1305 or
 * AES-256-GCM. XChaCha20-Poly1305 is built the way libsodium builds it --
 * HChaCha20 (libsodium) of the key and the nonce's first 16 bytes gives a
 * subkey for IETF ChaCha20-Poly1305 with the nonce's last 8 bytes -- but
 * runs that second, bulk step in OpenSSL, whose vectorised ChaCha20 and
 * Poly1305 are about twice as fast as libsodium's here; the bytes are the
 * same (the test vectors of docs/FORMAT.md check it). Each thread keeps
 * its own EVP context per cipher, set up once so that a call only loads
 * key and nonce, and its own buffer of random bytes for nonces, filled
 * from OpenSSL's DRBG (seeded by the kernel, reseeded after fork): libsodium
 * asks the kernel 256 bytes at a time, which cost chachapoly about 5% of
 * its speed (docs/PERFORMANCE.md). Nothing is allocated per call.
 */
#include "block.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sodium.h>

#define AAD_SIZE (FMT_HEADER_SIZE + 8)
/* Nonce bytes drawn from RAND_bytes() at a time: 170 AES or 85 XChaCha
 * nonces per refill. */
#define RND_POOL 2048

struct block_tls {
	EVP_CIPHER_CTX *aes;
	EVP_CIPHER_CTX *chacha;  /* IETF ChaCha20-Poly1305, rekeyed per block */
	/* The key last loaded into aes: reloading the same key (the usual
	 * case, one file at a time) costs 4x more than setting the nonce
	 * alone, about 10% of a 4 KiB block. The context holds the expanded
	 * key anyway, so this copy exposes nothing new. */
	int aes_keyed;
	uint8_t aes_key[BLOCK_KEY_SIZE];
	size_t rnd_left;         /* unused bytes at the end of rnd */
	uint8_t rnd[RND_POOL];
};

static _Thread_local struct block_tls tls;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = -EIO;
static pthread_key_t tls_key;    /* only for its destructor at thread exit */
static EVP_CIPHER *aes_gcm;
static EVP_CIPHER *chacha_poly;

/* The thread's contexts; p is only the marker that made the destructor
 * run. */
static void tls_destroy(void *p)
{
	(void)p;
	EVP_CIPHER_CTX_free(tls.aes);    /* wipes the key schedule */
	EVP_CIPHER_CTX_free(tls.chacha);
	tls.aes = NULL;
	tls.chacha = NULL;
	tls.aes_keyed = 0;
	sodium_memzero(tls.aes_key, sizeof(tls.aes_key));
	sodium_memzero(tls.rnd, sizeof(tls.rnd));
	tls.rnd_left = 0;
}

/* A forked child must not hand out the nonces its parent still holds in
 * the pool: both would encrypt under the same nonces. Only the forking
 * thread exists in the child, so resetting its pool is enough. */
static void atfork_child(void)
{
	sodium_memzero(tls.rnd, sizeof(tls.rnd));
	tls.rnd_left = 0;
}

/* Thread-exit destructors do not run for the thread that calls exit();
 * wipe its key copy and schedule here. */
static void exit_cleanup(void)
{
	if (tls.aes != NULL || tls.chacha != NULL) {
		pthread_setspecific(tls_key, NULL);
		tls_destroy(&tls);
	}
}

static void init_global(void)
{
	if (sodium_init() < 0)
		return;
	aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	chacha_poly = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	if (aes_gcm == NULL || chacha_poly == NULL)
		goto fail;
	if (pthread_key_create(&tls_key, tls_destroy) != 0)
		goto fail;
	if (pthread_atfork(NULL, NULL, atfork_child) != 0 || atexit(exit_cleanup) != 0) {
		pthread_key_delete(tls_key);
		goto fail;
	}
	init_status = 0;
	return;
fail:
	EVP_CIPHER_free(aes_gcm);
	EVP_CIPHER_free(chacha_poly);
	aes_gcm = NULL;
	chacha_poly = NULL;
}

int block_init(void)
{
	pthread_once(&init_once, init_global);
	return init_status;
}

int block_is_hole(const uint8_t *buf, size_t len)
{
	/* Compares the buffer with itself shifted by one byte: memcmp is
	 * vectorised, a byte loop is not. */
	if (len == 0)
		return 1;
	return buf[0] == 0 && memcmp(buf, buf + 1, len - 1) == 0;
}

static void make_aad(uint8_t aad[AAD_SIZE], const uint8_t hdr[FMT_HEADER_SIZE],
		     uint64_t blockno)
{
	memcpy(aad, hdr, FMT_HEADER_SIZE);
	for (int i = 0; i < 8; i++)
		aad[FMT_HEADER_SIZE + i] = (uint8_t)(blockno >> (8 * i));
}

/* The thread's context for cipher (FMT_CIPHER_*), made on first use. */
static int tls_ctx(int cipher, EVP_CIPHER_CTX **out)
{
	EVP_CIPHER_CTX **slot = cipher == FMT_CIPHER_AES ? &tls.aes : &tls.chacha;
	EVP_CIPHER_CTX *ctx = *slot;

	if (ctx != NULL) {
		*out = ctx;
		return 0;
	}
	if (block_init() != 0)
		return -EIO;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	if (EVP_CipherInit_ex2(ctx, cipher == FMT_CIPHER_AES ? aes_gcm : chacha_poly,
			       NULL, NULL, 1, NULL) != 1 ||
	    pthread_setspecific(tls_key, &tls) != 0) {
		EVP_CIPHER_CTX_free(ctx);
		return -EIO;
	}
	*slot = ctx;
	*out = ctx;
	return 0;
}

/* Takes n bytes from the thread's pool; a fresh nonce is uniformly random,
 * and the all-zero value is skipped because it marks a hole. */
static int fresh_nonce(uint8_t *nonce, size_t n)
{
	do {
		if (tls.rnd_left < n) {
			if (block_init() != 0)
				return -EIO;
			if (RAND_bytes(tls.rnd, sizeof(tls.rnd)) != 1) {
				ERR_clear_error();
				return -EIO;
			}
			tls.rnd_left = sizeof(tls.rnd);
		}
		memcpy(nonce, tls.rnd + sizeof(tls.rnd) - tls.rnd_left, n);
		tls.rnd_left -= n;
	} while (block_is_hole(nonce, n));
	return 0;
}

/* Loads key (unless already loaded) and nonce for one block. */
static int aes_start(EVP_CIPHER_CTX *ctx, const uint8_t *key, const uint8_t *nonce,
		     int enc)
{
	if (tls.aes_keyed && CRYPTO_memcmp(tls.aes_key, key, BLOCK_KEY_SIZE) == 0)
		return EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, enc, NULL) == 1 ? 0 : -EIO;
	tls.aes_keyed = 0;
	if (EVP_CipherInit_ex2(ctx, NULL, key, nonce, enc, NULL) != 1)
		return -EIO;
	memcpy(tls.aes_key, key, BLOCK_KEY_SIZE);
	tls.aes_keyed = 1;
	return 0;
}

/* XChaCha20: the subkey HChaCha20(key, nonce[0..16)) and the IETF nonce
 * 0^4 || nonce[16..24) for one block. */
static int chacha_start(EVP_CIPHER_CTX *ctx, const uint8_t *key, const uint8_t *nonce,
			int enc)
{
	uint8_t sub[BLOCK_KEY_SIZE], iv[12] = { 0 };
	int r;

	crypto_core_hchacha20(sub, nonce, key, NULL);
	memcpy(iv + 4, nonce + 16, 8);
	r = EVP_CipherInit_ex2(ctx, NULL, sub, iv, enc, NULL) == 1 ? 0 : -EIO;
	sodium_memzero(sub, sizeof(sub));
	return r;
}

static int evp_start(int cipher, EVP_CIPHER_CTX *ctx, const uint8_t *key,
		     const uint8_t *nonce, int enc)
{
	return cipher == FMT_CIPHER_AES ? aes_start(ctx, key, nonce, enc)
					: chacha_start(ctx, key, nonce, enc);
}

static int evp_seal(int cipher, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
		    const uint8_t *plain, size_t len, uint8_t *ct, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx;
	OSSL_PARAM params[2];
	int n, r;

	if ((r = tls_ctx(cipher, &ctx)) != 0)
		return r;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						      tag, FMT_TAG_SIZE);
	params[1] = OSSL_PARAM_construct_end();
	if (evp_start(cipher, ctx, key, nonce, 1) != 0 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, AAD_SIZE) != 1 ||
	    EVP_CipherUpdate(ctx, ct, &n, plain, (int)len) != 1 ||
	    EVP_CipherFinal_ex(ctx, ct + n, &n) != 1 ||
	    EVP_CIPHER_CTX_get_params(ctx, params) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

static int evp_open(int cipher, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
		    const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *plain)
{
	EVP_CIPHER_CTX *ctx;
	OSSL_PARAM params[2];
	uint8_t tagbuf[FMT_TAG_SIZE];
	int n, r;

	if ((r = tls_ctx(cipher, &ctx)) != 0)
		return r;
	memcpy(tagbuf, tag, FMT_TAG_SIZE);   /* the parameter wants non-const */
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						      tagbuf, FMT_TAG_SIZE);
	params[1] = OSSL_PARAM_construct_end();
	if (evp_start(cipher, ctx, key, nonce, 0) != 0 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, AAD_SIZE) != 1 ||
	    EVP_CipherUpdate(ctx, plain, &n, ct, (int)len) != 1 ||
	    EVP_CIPHER_CTX_set_params(ctx, params) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	/* The tag is checked only in Final. A forged block must not leave
	 * entries in this thread's error queue for an unrelated caller. */
	if (EVP_CipherFinal_ex(ctx, plain + n, &n) != 1) {
		ERR_clear_error();
		return -EBADMSG;
	}
	return 0;
}

int block_encrypt_nonce(int cipher, const uint8_t key[BLOCK_KEY_SIZE],
			const uint8_t hdr[FMT_HEADER_SIZE], uint64_t blockno,
			const uint8_t *nonce, const uint8_t *plain, size_t len,
			uint8_t *out)
{
	size_t nlen = fmt_nonce_size(cipher);
	uint8_t aad[AAD_SIZE];
	uint8_t *ct = out + nlen, *tag = out + nlen + len;

	if (!fmt_cipher_valid(cipher) || len == 0 || len > FMT_BLOCK_SIZE)
		return -EINVAL;
	/* An all-zero nonce would make a block indistinguishable from a hole
	 * if its ciphertext and tag happened to be zero; never write one. */
	if (block_is_hole(nonce, nlen))
		return -EINVAL;
	make_aad(aad, hdr, blockno);
	if (out != nonce)
		memmove(out, nonce, nlen);
	return evp_seal(cipher, key, out, aad, plain, len, ct, tag);
}

int block_encrypt(int cipher, const uint8_t key[BLOCK_KEY_SIZE],
		  const uint8_t hdr[FMT_HEADER_SIZE], uint64_t blockno,
		  const uint8_t *plain, size_t len, uint8_t *out)
{
	int r;

	if (!fmt_cipher_valid(cipher) || len == 0 || len > FMT_BLOCK_SIZE)
		return -EINVAL;
	if ((r = fresh_nonce(out, fmt_nonce_size(cipher))) != 0)
		return r;
	return block_encrypt_nonce(cipher, key, hdr, blockno, out, plain, len, out);
}

int block_decrypt(int cipher, const uint8_t key[BLOCK_KEY_SIZE],
		  const uint8_t hdr[FMT_HEADER_SIZE], uint64_t blockno,
		  const uint8_t *in, size_t in_len, uint8_t *plain)
{
	size_t nlen = fmt_nonce_size(cipher);
	size_t over = fmt_block_overhead(cipher);
	size_t len;
	uint8_t aad[AAD_SIZE];
	int r;

	if (!fmt_cipher_valid(cipher) || in_len <= over ||
	    in_len > fmt_stored_block_size(cipher))
		return -EINVAL;
	len = in_len - over;
	/* No writer produces an all-zero nonce, so a non-zero one rules out a
	 * hole without scanning the whole block. */
	if (block_is_hole(in, nlen)) {
		/* Zeros either way: a refused block leaves plain as every
		 * other refusal below does, whatever the buffer held. */
		memset(plain, 0, len);
		return block_is_hole(in, in_len) ? 0 : -EBADMSG;
	}
	make_aad(aad, hdr, blockno);
	r = evp_open(cipher, key, in, aad, in + nlen, len, in + nlen + len, plain);
	/* Unauthenticated plaintext must never reach a caller that ignores
	 * the return value. */
	if (r != 0)
		sodium_memzero(plain, len);
	return r;
}
