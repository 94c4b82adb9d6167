/*
 * cryptobench: the speed of the block codec alone (crypto/block.h), one
 * thread, 4096-byte blocks, for scripts/bench.sh to set beside `openssl
 * speed -evp` for the same AEAD. Each block is sealed as jetcryptfs seals
 * it -- fresh nonce, 40-byte associated data -- and opened again with the
 * tag checked, so the numbers are what the data path pays per block.
 * Prints one line per cipher and direction: "CIPHER enc|dec MB/s" (10^6
 * bytes of plaintext per second).
 *
 * Then, as "ref-CIPHER enc MB/s", the floor any per-block AEAD format pays
 * through OpenSSL: IETF ChaCha20-Poly1305 and AES-256-GCM through the same
 * EVP calls, each 4096-byte record with its own nonce, the same 40 bytes
 * of associated data and its tag, under one key -- no XChaCha subkey, no
 * random nonce, no format. `openssl speed -evp` for these ciphers does
 * not pay that per-record setup: its "-aead" mode reports 2-byte records
 * at about 20 ns each on the machine of docs/PERFORMANCE.md, where these
 * EVP calls take about 400 ns per 2-byte record.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "block.h"

#define NBUF 64                  /* distinct blocks, to keep caches honest */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(int cipher, double secs)
{
	static uint8_t plain[NBUF][FMT_BLOCK_SIZE], out[FMT_BLOCK_SIZE];
	static uint8_t stored[NBUF][FMT_BLOCK_SIZE + FMT_MAX_NONCE + FMT_TAG_SIZE];
	uint8_t key[BLOCK_KEY_SIZE], hdr[FMT_HEADER_SIZE];
	size_t slen = FMT_BLOCK_SIZE + fmt_block_overhead(cipher);
	double t0, t;
	long n;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	memset(hdr, 0x5a, sizeof(hdr));
	for (int b = 0; b < NBUF; b++)
		memset(plain[b], b + 1, FMT_BLOCK_SIZE);

	/* Encrypt: as many blocks as fit in secs, checked in batches of 64. */
	t0 = now();
	n = 0;
	do {
		for (int b = 0; b < NBUF; b++, n++)
			if (block_encrypt(cipher, key, hdr, (uint64_t)n, plain[b], FMT_BLOCK_SIZE,
					  stored[b]) != 0) {
				fprintf(stderr, "cryptobench: %s: encrypt failed\n", fmt_cipher_name(cipher));
				return 1;
			}
		t = now() - t0;
	} while (t < secs);
	printf("%s enc %.1f\n", fmt_cipher_name(cipher), (double)n * FMT_BLOCK_SIZE / t / 1e6);

	/* Decrypt the last batch over and over: block numbers n-NBUF..n-1. */
	t0 = now();
	n -= NBUF;
	{
		long base = n, m = 0;

		do {
			for (int b = 0; b < NBUF; b++, m++)
				if (block_decrypt(cipher, key, hdr, (uint64_t)(base + b), stored[b], slen,
						  out) != 0 ||
				    out[0] != (uint8_t)(b + 1)) {
					fprintf(stderr, "cryptobench: %s: decrypt failed\n",
						fmt_cipher_name(cipher));
					return 1;
				}
			t = now() - t0;
		} while (t < secs);
		printf("%s dec %.1f\n", fmt_cipher_name(cipher), (double)m * FMT_BLOCK_SIZE / t / 1e6);
	}
	return 0;
}

/* OpenSSL's own per-record cost for cipher's IETF AEAD; see the top. */
static int run_ref(int cipher, double secs)
{
	static uint8_t plain[NBUF][FMT_BLOCK_SIZE], out[NBUF][FMT_BLOCK_SIZE];
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, cipher == FMT_CIPHER_AES ? "AES-256-GCM" :
					 "ChaCha20-Poly1305", NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t key[32], iv[12] = { 0 }, aad[FMT_HEADER_SIZE + 8], tag[16];
	double t0, t;
	long n = 0;
	int len, ok = c && ctx;

	memset(key, 7, sizeof(key));
	memset(aad, 0x5a, sizeof(aad));
	for (int b = 0; b < NBUF; b++)
		memset(plain[b], b + 1, FMT_BLOCK_SIZE);
	ok = ok && EVP_CipherInit_ex2(ctx, c, key, iv, 1, NULL) == 1;
	t0 = now();
	do {
		for (int b = 0; ok && b < NBUF; b++, n++) {
			OSSL_PARAM p[2] = {
				OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, sizeof(tag)),
				OSSL_PARAM_construct_end(),
			};

			memcpy(iv + 4, &n, sizeof(n));
			ok = EVP_CipherInit_ex2(ctx, NULL, NULL, iv, 1, NULL) == 1 &&
			     EVP_CipherUpdate(ctx, NULL, &len, aad, sizeof(aad)) == 1 &&
			     EVP_CipherUpdate(ctx, out[b], &len, plain[b], FMT_BLOCK_SIZE) == 1 &&
			     EVP_CipherFinal_ex(ctx, out[b] + len, &len) == 1 &&
			     EVP_CIPHER_CTX_get_params(ctx, p) == 1;
		}
		t = now() - t0;
	} while (ok && t < secs);
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	if (!ok) {
		fprintf(stderr, "cryptobench: ref-%s: OpenSSL failed\n", fmt_cipher_name(cipher));
		return 1;
	}
	printf("ref-%s enc %.1f\n", fmt_cipher_name(cipher), (double)n * FMT_BLOCK_SIZE / t / 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	int rc = 0;

	if (argc > 2 || secs <= 0) {
		fprintf(stderr, "usage: cryptobench [SECONDS per cipher and direction, default 2]\n");
		return 2;
	}
	if (block_init() != 0) {
		fprintf(stderr, "cryptobench: crypto library initialisation failed\n");
		return 1;
	}
	rc |= run(FMT_CIPHER_CHACHAPOLY, secs);
	rc |= run(FMT_CIPHER_AES, secs);
	rc |= run_ref(FMT_CIPHER_CHACHAPOLY, secs);
	rc |= run_ref(FMT_CIPHER_AES, secs);
	return rc;
}
