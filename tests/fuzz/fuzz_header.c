/*
 * libFuzzer target for crypto/format.c: the 32-byte file header parser and
 * the size arithmetic that turns a backing file's size into the size shown
 * through the mount. Besides "no crash", it checks the properties the rest
 * of the code relies on: only a file without the magic is plaintext, a
 * header that decodes re-encodes to the same bytes, and a ciphertext size
 * that maps to a plaintext size maps back to itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_header h;
	uint8_t again[FMT_HEADER_SIZE];
	uint64_t csize = 0, plain;
	int r;

	r = fmt_header_decode(&h, data, size);
	if (r != 0 && r != -ENODATA && r != -EPROTO && r != -EBADMSG)
		abort();
	/* The magic decides: without it plaintext, with it never plaintext,
	 * and a header cut short is exactly the magic and under 32 bytes. */
	if ((r == -ENODATA) != (size < 4 || memcmp(data, FMT_MAGIC, 4) != 0))
		abort();
	if ((r == -EBADMSG) != (size >= 4 && size < FMT_HEADER_SIZE && memcmp(data, FMT_MAGIC, 4) == 0))
		abort();
	if (r == 0) {
		if (!fmt_cipher_valid(h.cipher) || h.version != FMT_VERSION)
			abort();
		fmt_header_encode(&h, again);
		if (memcmp(again, data, FMT_HEADER_SIZE) != 0)
			abort();
	}

	/* The bytes after the header (or the first 8 of a short input) as a
	 * ciphertext file size, for each cipher the header may name. */
	if (size >= FMT_HEADER_SIZE + 8)
		memcpy(&csize, data + FMT_HEADER_SIZE, 8);
	else if (size >= 8)
		memcpy(&csize, data, 8);
	for (int cipher = 0; cipher <= 3; cipher++) {
		r = fmt_plaintext_size(cipher, csize, &plain);
		if (!fmt_cipher_valid(cipher)) {
			if (r != -EINVAL)
				abort();
			continue;
		}
		if (r == -EINVAL)
			continue;
		if (r != 0 || plain > csize)
			abort();
		/* Sizes near 2^64 overflow the forward mapping; a real file
		 * is far smaller, so only check the range a file can have.
		 * An empty file (0 bytes) has no header; a written one has. */
		if (csize != 0 && csize < (UINT64_C(1) << 62) &&
		    fmt_ciphertext_size(cipher, plain) != csize)
			abort();
	}
	return 0;
}
