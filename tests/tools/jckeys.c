/*
 * jckeys: the keys a test must look for, derived as docs/FORMAT.md says
 * ("Keys") with the project's own crypto/kdf.c: the master key of the
 * secret in $JS_KEY (its bytes as given, as the daemon takes them), and
 * the content key of each backing file named, from its header's cipher
 * and file id. For tests/integration/t_secrets.sh, which looks for them
 * in the daemon's memory (memscan); it prints keys, so it is a test tool
 * only.
 *
 *   jckeys [--blocks] [BACKING_FILE...]
 *
 * Prints "master HEX", then "file PATH HEX" for each file. With --blocks,
 * also "block PATH N HEX" for each stored block of a chachapoly file: the
 * XChaCha20 subkey of its nonce, HChaCha20(file key, nonce[0..16)), the
 * key the IETF ChaCha20-Poly1305 step ran under (crypto/block.c), which a
 * thread's cipher context keeps after the block. Exit status: 0; 1 a file
 * has no readable header or a derivation failed; 2 usage or no $JS_KEY.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "format.h"
#include "kdf.h"

static void print_hex(const char *label, const char *path, const uint8_t *key)
{
	char hex[2 * KDF_KEY_SIZE + 1];

	sodium_bin2hex(hex, sizeof(hex), key, KDF_KEY_SIZE);
	if (path)
		printf("%s %s %s\n", label, path, hex);
	else
		printf("%s %s\n", label, hex);
}

/* The subkey of every stored block of a chachapoly file (holes have
 * none). */
static void block_keys(int fd, const char *path, const uint8_t *key)
{
	uint8_t nonce[FMT_MAX_NONCE], sub[KDF_KEY_SIZE];
	char hex[2 * KDF_KEY_SIZE + 1];
	size_t nlen = fmt_nonce_size(FMT_CIPHER_CHACHAPOLY);

	for (uint64_t b = 0;; b++) {
		off_t at = (off_t)fmt_block_offset(FMT_CIPHER_CHACHAPOLY, b);
		int zero = 1;

		if (pread(fd, nonce, nlen, at) != (ssize_t)nlen)
			break;
		for (size_t i = 0; i < nlen; i++)
			zero &= nonce[i] == 0;
		if (zero)
			continue;
		crypto_core_hchacha20(sub, nonce, key, NULL);
		sodium_bin2hex(hex, sizeof(hex), sub, sizeof(sub));
		printf("block %s %llu %s\n", path, (unsigned long long)b, hex);
	}
}

static int file_key(const uint8_t *master, const char *path, int blocks)
{
	uint8_t raw[FMT_HEADER_SIZE], key[KDF_KEY_SIZE];
	struct fmt_header h;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "jckeys: %s: %s\n", path, strerror(errno));
		return 1;
	}
	n = pread(fd, raw, sizeof(raw), 0);
	if (n < 0 || fmt_header_decode(&h, raw, (size_t)n) != 0) {
		fprintf(stderr, "jckeys: %s: no jetcryptfs header\n", path);
		close(fd);
		return 1;
	}
	if (kdf_file_key(master, h.cipher, h.file_id, key) != 0) {
		fprintf(stderr, "jckeys: %s: derivation failed\n", path);
		close(fd);
		return 1;
	}
	print_hex("file", path, key);
	if (blocks && h.cipher == FMT_CIPHER_CHACHAPOLY)
		block_keys(fd, path, key);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *secret = getenv("JS_KEY");
	uint8_t master[KDF_KEY_SIZE];
	int rc = 0, blocks = argc > 1 && !strcmp(argv[1], "--blocks");

	if (!secret || !*secret) {
		fprintf(stderr, "usage: JS_KEY=SECRET jckeys [--blocks] [BACKING_FILE...]\n");
		return 2;
	}
	if (sodium_init() < 0 ||
	    kdf_master_key((const uint8_t *)secret, strlen(secret), master) != 0) {
		fprintf(stderr, "jckeys: deriving the master key failed\n");
		return 1;
	}
	print_hex("master", NULL, master);
	for (int i = 1 + blocks; i < argc; i++)
		rc |= file_key(master, argv[i], blocks);
	return rc;
}
