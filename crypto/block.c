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
 *
 * Those contexts hold key material after a block -- AES-256's key
 * schedule begins with the key itself, ChaCha20's context keeps the
 * block's subkey -- and OpenSSL allocates them in ordinary memory. So each
 * thread's state (which notes the file key behind each context, in locked
 * memory) is in a registry, and block_forget_key wipes every thread's
 * contexts that came from a key, idle threads' included, when the file's
 * last handle closes. A thread holds its state's lock for the length of a
 * block: uncontended but for a forget, it costs two atomic operations.
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

/* A thread's cipher state, in locked memory (sodium_malloc), listed in
 * the registry so that block_forget_key can reach the states of other
 * threads: an idle FUSE worker keeps its contexts, keyed with the last
 * file it served, for as long as it lives. lock is its owner's for the
 * length of one block; only a forget (a file's last close) or the exit
 * ever waits for it, so it is uncontended otherwise. */
struct block_state {
	pthread_mutex_t lock;
	struct block_state *prev, *next;        /* registry, under registry_lock */
	EVP_CIPHER_CTX *aes;
	EVP_CIPHER_CTX *chacha;  /* IETF ChaCha20-Poly1305, rekeyed per block */
	/* The key aes holds: reloading the same key (the usual case, one
	 * file at a time) costs 4x more than setting the nonce alone, about
	 * 10% of a 4 KiB block. */
	int aes_keyed;
	uint8_t aes_key[BLOCK_KEY_SIZE];
	/* The key whose block subkey chacha holds (0 bytes if none). */
	int chacha_keyed;
	uint8_t chacha_key[BLOCK_KEY_SIZE];
	size_t rnd_left;         /* unused bytes at the end of rnd */
	uint8_t rnd[RND_POOL];
};

/* sodium_malloc aligns an allocation to its end: a size that is a
 * multiple of 64 keeps the mutex and the keys aligned. */
#define STATE_SIZE ((sizeof(struct block_state) + 63) / 64 * 64)

static _Thread_local struct block_state *tls;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = -EIO;
static pthread_key_t tls_key;    /* only for its destructor at thread exit */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct block_state *registry;
static EVP_CIPHER *aes_gcm;
static EVP_CIPHER *chacha_poly;

/* Frees s's contexts (OpenSSL wipes them: the AES key schedule begins
 * with the key itself) and wipes the keys it noted; s->lock held or s
 * not shared. The nonce pool stays: it is not secret until used. */
static void state_wipe(struct block_state *s)
{
	EVP_CIPHER_CTX_free(s->aes);
	EVP_CIPHER_CTX_free(s->chacha);
	s->aes = NULL;
	s->chacha = NULL;
	s->aes_keyed = 0;
	s->chacha_keyed = 0;
	sodium_memzero(s->aes_key, sizeof(s->aes_key));
	sodium_memzero(s->chacha_key, sizeof(s->chacha_key));
}

static void registry_add(struct block_state *s)
{
	pthread_mutex_lock(&registry_lock);
	s->prev = NULL;
	s->next = registry;
	if (registry)
		registry->prev = s;
	registry = s;
	pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(struct block_state *s)
{
	pthread_mutex_lock(&registry_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		registry = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&registry_lock);
}

/* The thread's state at its exit (the destructor of tls_key). */
static void state_destroy(void *p)
{
	struct block_state *s = p;

	registry_remove(s);
	state_wipe(s);
	pthread_mutex_destroy(&s->lock);
	sodium_free(s);          /* wipes the nonce pool too */
	tls = NULL;
}

static void init_global(void);

/* The calling thread's state, made and registered on first use. */
static struct block_state *state_get(void)
{
	struct block_state *s = tls;

	if (s != NULL)
		return s;
	pthread_once(&init_once, init_global);
	if (init_status != 0)
		return NULL;
	s = sodium_malloc(STATE_SIZE);
	if (s == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		sodium_free(s);
		return NULL;
	}
	if (pthread_setspecific(tls_key, s) != 0) {
		pthread_mutex_destroy(&s->lock);
		sodium_free(s);
		return NULL;
	}
	registry_add(s);
	tls = s;
	return s;
}

void block_forget_key(const uint8_t key[BLOCK_KEY_SIZE])
{
	pthread_mutex_lock(&registry_lock);
	for (struct block_state *s = registry; s; s = s->next) {
		pthread_mutex_lock(&s->lock);
		if ((s->aes_keyed && sodium_memcmp(s->aes_key, key, BLOCK_KEY_SIZE) == 0) ||
		    (s->chacha_keyed && sodium_memcmp(s->chacha_key, key, BLOCK_KEY_SIZE) == 0))
			state_wipe(s);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&registry_lock);
}

/* Every thread's contexts and keys at exit. Thread-exit destructors do not
 * run for the thread that calls exit(), and a thread still running may
 * hold its state: wiped under its lock, not freed, so that such a thread
 * only sets its contexts up again. */
static void exit_cleanup(void)
{
	pthread_mutex_lock(&registry_lock);
	for (struct block_state *s = registry; s; s = s->next) {
		pthread_mutex_lock(&s->lock);
		state_wipe(s);
		sodium_memzero(s->rnd, sizeof(s->rnd));
		s->rnd_left = 0;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&registry_lock);
}

/* The registry stays whole across a fork: no other thread holds its lock
 * then. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&registry_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&registry_lock);
}

/* In a forked child only the forking thread exists: the registry keeps
 * its state alone (another thread's lock may have been held at the fork),
 * and that state must not hand out the nonces its parent still holds in
 * the pool: both would encrypt under the same nonces. */
static void atfork_child(void)
{
	struct block_state *s = tls;

	pthread_mutex_init(&registry_lock, NULL);
	registry = NULL;
	if (s != NULL) {
		pthread_mutex_init(&s->lock, NULL);
		sodium_memzero(s->rnd, sizeof(s->rnd));
		s->rnd_left = 0;
		registry_add(s);
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
	if (pthread_key_create(&tls_key, state_destroy) != 0)
		goto fail;
	if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0 ||
	    atexit(exit_cleanup) != 0) {
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

/* One block of each cipher sealed and opened, and its key forgotten,
 * under a key that is no secret, before any real key is used: the first
 * call of a function of a shared library goes through the dynamic
 * linker's lazy binding, which saves the vector registers on the stack --
 * where the caller had just had a file key (found on a worker's stack in
 * the sanitizer build, whose code keeps it there). */
static void warm_up(void)
{
	static const uint8_t key[BLOCK_KEY_SIZE] = { 1 }, hdr[FMT_HEADER_SIZE] = { 2 };
	uint8_t plain[16] = { 3 }, blk[16 + FMT_MAX_NONCE + FMT_TAG_SIZE];

	for (int cipher = FMT_CIPHER_CHACHAPOLY; cipher <= FMT_CIPHER_AES; cipher++) {
		if (block_encrypt(cipher, key, hdr, 0, plain, sizeof(plain), blk) == 0)
			(void)block_decrypt(cipher, key, hdr, 0, blk,
					    sizeof(plain) + fmt_block_overhead(cipher), plain);
		block_forget_key(key);
	}
}

int block_init(void)
{
	static pthread_once_t warm_once = PTHREAD_ONCE_INIT;

	pthread_once(&init_once, init_global);
	if (init_status == 0)
		pthread_once(&warm_once, warm_up);
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

/* s's context for cipher (FMT_CIPHER_*), made on first use and again
 * after a forget; s->lock held. */
static int state_ctx(struct block_state *s, int cipher, EVP_CIPHER_CTX **out)
{
	EVP_CIPHER_CTX **slot = cipher == FMT_CIPHER_AES ? &s->aes : &s->chacha;
	EVP_CIPHER_CTX *ctx = *slot;

	if (ctx != NULL) {
		*out = ctx;
		return 0;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	if (EVP_CipherInit_ex2(ctx, cipher == FMT_CIPHER_AES ? aes_gcm : chacha_poly,
			       NULL, NULL, 1, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ERR_clear_error();
		return -EIO;
	}
	*slot = ctx;
	*out = ctx;
	return 0;
}

/* Takes n bytes from s's pool; a fresh nonce is uniformly random, and
 * the all-zero value is skipped because it marks a hole. s->lock held. */
static int fresh_nonce(struct block_state *s, uint8_t *nonce, size_t n)
{
	do {
		if (s->rnd_left < n) {
			if (RAND_bytes(s->rnd, sizeof(s->rnd)) != 1) {
				ERR_clear_error();
				return -EIO;
			}
			s->rnd_left = sizeof(s->rnd);
		}
		memcpy(nonce, s->rnd + sizeof(s->rnd) - s->rnd_left, n);
		s->rnd_left -= n;
	} while (block_is_hole(nonce, n));
	return 0;
}

/* Loads key (unless already loaded) and nonce for one block. */
static int aes_start(struct block_state *s, EVP_CIPHER_CTX *ctx, const uint8_t *key,
		     const uint8_t *nonce, int enc)
{
	if (s->aes_keyed && CRYPTO_memcmp(s->aes_key, key, BLOCK_KEY_SIZE) == 0)
		return EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, enc, NULL) == 1 ? 0 : -EIO;
	s->aes_keyed = 0;
	if (EVP_CipherInit_ex2(ctx, NULL, key, nonce, enc, NULL) != 1)
		return -EIO;
	memcpy(s->aes_key, key, BLOCK_KEY_SIZE);
	s->aes_keyed = 1;
	return 0;
}

/* XChaCha20: the subkey HChaCha20(key, nonce[0..16)) and the IETF nonce
 * 0^4 || nonce[16..24) for one block. The context keeps the subkey until
 * the next block, so s notes the key it came from, for a forget. */
static int chacha_start(struct block_state *s, EVP_CIPHER_CTX *ctx, const uint8_t *key,
			const uint8_t *nonce, int enc)
{
	uint8_t sub[BLOCK_KEY_SIZE], iv[12] = { 0 };
	int r;

	memcpy(s->chacha_key, key, BLOCK_KEY_SIZE);
	s->chacha_keyed = 1;
	crypto_core_hchacha20(sub, nonce, key, NULL);
	memcpy(iv + 4, nonce + 16, 8);
	r = EVP_CipherInit_ex2(ctx, NULL, sub, iv, enc, NULL) == 1 ? 0 : -EIO;
	sodium_memzero(sub, sizeof(sub));
	return r;
}

static int evp_start(struct block_state *s, int cipher, EVP_CIPHER_CTX *ctx,
		     const uint8_t *key, const uint8_t *nonce, int enc)
{
	return cipher == FMT_CIPHER_AES ? aes_start(s, ctx, key, nonce, enc)
					: chacha_start(s, ctx, key, nonce, enc);
}

/* s->lock held. */
static int evp_seal(struct block_state *s, int cipher, const uint8_t *key, const uint8_t *nonce,
		    const uint8_t *aad, const uint8_t *plain, size_t len, uint8_t *ct, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx;
	OSSL_PARAM params[2];
	int n, r;

	if ((r = state_ctx(s, cipher, &ctx)) != 0)
		return r;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						      tag, FMT_TAG_SIZE);
	params[1] = OSSL_PARAM_construct_end();
	if (evp_start(s, cipher, ctx, key, nonce, 1) != 0 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, AAD_SIZE) != 1 ||
	    EVP_CipherUpdate(ctx, ct, &n, plain, (int)len) != 1 ||
	    EVP_CipherFinal_ex(ctx, ct + n, &n) != 1 ||
	    EVP_CIPHER_CTX_get_params(ctx, params) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

/* s->lock held. */
static int evp_open(struct block_state *s, int cipher, const uint8_t *key, const uint8_t *nonce,
		    const uint8_t *aad, const uint8_t *ct, size_t len, const uint8_t *tag,
		    uint8_t *plain)
{
	EVP_CIPHER_CTX *ctx;
	OSSL_PARAM params[2];
	uint8_t tagbuf[FMT_TAG_SIZE];
	int n, r;

	if ((r = state_ctx(s, cipher, &ctx)) != 0)
		return r;
	memcpy(tagbuf, tag, FMT_TAG_SIZE);   /* the parameter wants non-const */
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						      tagbuf, FMT_TAG_SIZE);
	params[1] = OSSL_PARAM_construct_end();
	if (evp_start(s, cipher, ctx, key, nonce, 0) != 0 ||
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

/* Encrypts with the nonce already at out (nonce || ct || tag); s->lock
 * held. */
static int seal_at(struct block_state *s, int cipher, const uint8_t *key,
		   const uint8_t *hdr, uint64_t blockno, const uint8_t *plain, size_t len,
		   uint8_t *out)
{
	size_t nlen = fmt_nonce_size(cipher);
	uint8_t aad[AAD_SIZE];

	make_aad(aad, hdr, blockno);
	return evp_seal(s, cipher, key, out, aad, plain, len, out + nlen, out + nlen + len);
}

int block_encrypt_nonce(int cipher, const uint8_t key[BLOCK_KEY_SIZE],
			const uint8_t hdr[FMT_HEADER_SIZE], uint64_t blockno,
			const uint8_t *nonce, const uint8_t *plain, size_t len,
			uint8_t *out)
{
	size_t nlen = fmt_nonce_size(cipher);
	struct block_state *s;
	int r;

	if (!fmt_cipher_valid(cipher) || len == 0 || len > FMT_BLOCK_SIZE)
		return -EINVAL;
	/* An all-zero nonce would make a block indistinguishable from a hole
	 * if its ciphertext and tag happened to be zero; never write one. */
	if (block_is_hole(nonce, nlen))
		return -EINVAL;
	if ((s = state_get()) == NULL)
		return -ENOMEM;
	if (out != nonce)
		memmove(out, nonce, nlen);
	pthread_mutex_lock(&s->lock);
	r = seal_at(s, cipher, key, hdr, blockno, plain, len, out);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int block_encrypt(int cipher, const uint8_t key[BLOCK_KEY_SIZE],
		  const uint8_t hdr[FMT_HEADER_SIZE], uint64_t blockno,
		  const uint8_t *plain, size_t len, uint8_t *out)
{
	struct block_state *s;
	int r;

	if (!fmt_cipher_valid(cipher) || len == 0 || len > FMT_BLOCK_SIZE)
		return -EINVAL;
	if ((s = state_get()) == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	r = fresh_nonce(s, out, fmt_nonce_size(cipher));
	if (r == 0)
		r = seal_at(s, cipher, key, hdr, blockno, plain, len, out);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int block_decrypt(int cipher, const uint8_t key[BLOCK_KEY_SIZE],
		  const uint8_t hdr[FMT_HEADER_SIZE], uint64_t blockno,
		  const uint8_t *in, size_t in_len, uint8_t *plain)
{
	size_t nlen = fmt_nonce_size(cipher);
	size_t over = fmt_block_overhead(cipher);
	size_t len;
	uint8_t aad[AAD_SIZE];
	struct block_state *s;
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
	if ((s = state_get()) == NULL)
		return -ENOMEM;
	make_aad(aad, hdr, blockno);
	pthread_mutex_lock(&s->lock);
	r = evp_open(s, cipher, key, in, aad, in + nlen, len, in + nlen + len, plain);
	pthread_mutex_unlock(&s->lock);
	/* Unauthenticated plaintext must never reach a caller that ignores
	 * the return value. */
	if (r != 0)
		sodium_memzero(plain, len);
	return r;
}
