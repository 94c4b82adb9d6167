/*
 * libFuzzer target for crypto/block.c under a fixed key, both ciphers. The
 * first input byte picks the cipher and the mode, the next eight the block
 * number; the rest is:
 *   mode 0: a stored block to decrypt as it is. It must be refused
 *           (-EBADMSG / -EINVAL) and leave no plaintext behind, unless it is
 *           an all-zero hole (zeros) or a genuine block under the fixed key
 *           (re-sealing its plaintext under its nonce gives the same bytes).
 *   mode 1: a plaintext to encrypt (with the input's first nonce bytes as
 *           nonce), decrypt back, then decrypt again with one bit flipped
 *           (position from the input) and with another block number: the
 *           round trip must give the plaintext, each tampered copy must fail.
 * Blind decryption of random bytes only reaches the tag check, so mode 1 is
 * where the codec's length and layout handling gets exercised.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[BLOCK_KEY_SIZE] = {
	0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4,
	0xc3, 0xd2, 0xe1, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};

#define STORED_MAX (FMT_BLOCK_SIZE + FMT_MAX_NONCE + FMT_TAG_SIZE)

static void make_hdr(int cipher, uint8_t hdr[FMT_HEADER_SIZE])
{
	struct fmt_header h = { .version = FMT_VERSION, .cipher = (uint8_t)cipher };

	memset(h.key_id, 0x4b, sizeof(h.key_id));
	memset(h.file_id, 0x46, sizeof(h.file_id));
	fmt_header_encode(&h, hdr);
}

static void decrypt_as_is(int cipher, const uint8_t *hdr, uint64_t blockno,
			  const uint8_t *in, size_t len)
{
	static uint8_t plain[STORED_MAX];
	size_t over = fmt_block_overhead(cipher);
	int r;

	memset(plain, 0xa5, sizeof(plain));
	r = block_decrypt(cipher, key, hdr, blockno, in, len, plain);
	if (len <= over || len > fmt_stored_block_size(cipher)) {
		if (r != -EINVAL)
			abort();
		return;
	}
	if (r == 0 && block_is_hole(in, len)) {
		if (!block_is_hole(plain, len - over))
			abort();
		return;
	}
	if (r == 0) {
		/* A genuine block (the seeds hold some): sealing its plaintext
		 * again under its own nonce must give back the same bytes. */
		static uint8_t again[STORED_MAX];

		if (block_encrypt_nonce(cipher, key, hdr, blockno, in, plain,
					len - over, again) != 0 ||
		    memcmp(again, in, len) != 0)
			abort();
		return;
	}
	if (r != -EBADMSG || !block_is_hole(plain, len - over))
		abort();
}

static void round_trip(int cipher, const uint8_t *hdr, uint64_t blockno,
		       const uint8_t *in, size_t len)
{
	static uint8_t stored[STORED_MAX], plain[STORED_MAX];
	size_t nlen = fmt_nonce_size(cipher), over = fmt_block_overhead(cipher);
	uint8_t nonce[FMT_MAX_NONCE];
	size_t flip, plen;
	int r;

	if (len < nlen + 2)
		return;
	memcpy(nonce, in, nlen);
	flip = (size_t)in[nlen] << 8 | in[nlen + 1];
	in += nlen + 2;
	len -= nlen + 2;
	plen = len > FMT_BLOCK_SIZE ? FMT_BLOCK_SIZE : len;

	r = block_encrypt_nonce(cipher, key, hdr, blockno, nonce, in, plen, stored);
	if (plen == 0 || block_is_hole(nonce, nlen)) {
		if (r != -EINVAL)
			abort();
		return;
	}
	if (r != 0)
		abort();
	if (block_decrypt(cipher, key, hdr, blockno, stored, plen + over, plain) != 0 ||
	    memcmp(plain, in, plen) != 0)
		abort();
	/* Any single bit flipped, anywhere in the stored block. */
	flip %= (plen + over) * 8;
	stored[flip / 8] ^= (uint8_t)(1u << (flip % 8));
	r = block_decrypt(cipher, key, hdr, blockno, stored, plen + over, plain);
	if (r != -EBADMSG)
		abort();
	stored[flip / 8] ^= (uint8_t)(1u << (flip % 8));
	/* The same bytes at another position, or cut short, are refused. */
	if (block_decrypt(cipher, key, hdr, blockno + 1, stored, plen + over, plain) != -EBADMSG)
		abort();
	if (plen > 1 &&
	    block_decrypt(cipher, key, hdr, blockno, stored, plen - 1 + over, plain) != -EBADMSG)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[FMT_HEADER_SIZE];
	uint64_t blockno = 0;
	int cipher, mode;

	if (size < 9 || block_init() != 0)
		return 0;
	cipher = (data[0] & 1) ? FMT_CIPHER_AES : FMT_CIPHER_CHACHAPOLY;
	mode = (data[0] >> 1) & 1;
	memcpy(&blockno, data + 1, 8);
	make_hdr(cipher, hdr);
	if (mode == 0)
		decrypt_as_is(cipher, hdr, blockno, data + 9, size - 9);
	else
		round_trip(cipher, hdr, blockno, data + 9, size - 9);
	return 0;
}
