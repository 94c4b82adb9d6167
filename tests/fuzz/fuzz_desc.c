/*
 * libFuzzer target for crypto/desc.c: the store descriptor parser and its
 * MAC check under a fixed master key, and the salt file parser. A
 * descriptor that parses must re-encode to exactly the same bytes when its
 * MAC verifies (there is one spelling per content), and one that does not
 * parse must not verify; a salt file that parses must re-encode to itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "desc.h"
#include "kdf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t master[KDF_KEY_SIZE] = {
	0x6a, 0x63, 0x66, 0x73, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x20, 0x6b, 0x65,
	0x79, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
	0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char out[DESC_MAX_SIZE];
	struct kdf_params k;
	struct desc d;
	size_t len;
	int p, v;

	p = desc_parse(buf, size, &d);
	if (p != 0 && p != -EINVAL)
		abort();
	v = desc_verify(buf, size, master);
	if (v != 0 && v != -EBADMSG)
		abort();
	if (p != 0 && v == 0)
		abort();
	if (v == 0) {
		if (desc_encode(&d, master, out, sizeof(out), &len) != 0 ||
		    len != size || memcmp(out, buf, len) != 0)
			abort();
	}
	p = desc_salt_parse(buf, size, &k);
	if (p != 0 && p != -EINVAL)
		abort();
	if (p == 0 && (desc_salt_encode(&k, out, sizeof(out), &len) != 0 || len != size ||
		       memcmp(out, buf, len) != 0))
		abort();
	return 0;
}
