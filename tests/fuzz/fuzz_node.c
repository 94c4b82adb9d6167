/*
 * libFuzzer target for crypto/node.c: stored symlink targets and FIFO or
 * socket markers, the two forms in which the backing directory hands the
 * mount bytes it must not trust before authenticating them. The input is
 * taken as a stored target and as a marker file under a fixed master key.
 * Nothing may crash; a target that decodes must be one the encoder spells
 * exactly so (same file id and nonce), with the length its stored length
 * says; the codes are only the documented ones.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "block.h"
#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t master[KDF_KEY_SIZE] = {
	0x6a, 0x63, 0x66, 0x73, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x20, 0x6e, 0x6f,
	0x64, 0x65, 0x20, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
	0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
};

static void check_link(const char *in, size_t size)
{
	char out[NODE_LINK_STORED_MAX + 1], again[NODE_LINK_STORED_MAX + 1];
	uint8_t blob[NODE_LINK_STORED_MAX];
	struct fmt_header h;
	size_t len, tlen, n;
	int p = node_link_peek(in, size, &h), d;

	if (p != 0 && p != -ENODATA && p != -EPROTO && p != -EBADMSG)
		abort();
	if (p == 0 && (h.node != FMT_NODE_SYMLINK || node_link_target_len(h.cipher, size, &tlen) != 0))
		abort();
	d = node_link_decode(master, in, size, out, sizeof(out), &len);
	if (d != 0 && d != p && !(p == 0 && d == -EBADMSG))
		abort();
	if (d != 0)
		return;
	/* Only reachable with a tag made under master: one spelling. */
	if (len != tlen || strlen(out) != len ||
	    sodium_base642bin(blob, sizeof(blob), in, size, NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    node_link_encode_fixed(master, h.key_id, h.cipher, h.file_id, blob + FMT_HEADER_SIZE, out, len, again,
				   sizeof(again)) != 0 ||
	    strlen(again) != size || memcmp(again, in, size) != 0)
		abort();
}

static void check_marker(const uint8_t *data, size_t size)
{
	struct fmt_header h;
	int rc;

	if (fmt_header_decode(&h, data, size) != 0)
		return;
	rc = node_marker_verify(master, &h, data, size);
	if (rc != 0 && rc != -EINVAL && rc != -EBADMSG)
		abort();
	if (rc == 0 && ((h.node != FMT_NODE_FIFO && h.node != FMT_NODE_SOCKET) || size != node_marker_size(h.cipher)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready) {
		if (block_init() != 0)
			abort();
		ready = 1;
	}
	check_link((const char *)data, size);
	check_marker(data, size);
	return 0;
}
