/*
 * The store descriptor (".jetcryptfs" at the backing root): four fixed
 * lines of text naming the store's key id and whether plaintext files are
 * allowed, closed by an HMAC-SHA256 over the lines before it. The text has
 * exactly one valid spelling per content (fixed length, lowercase hex,
 * final newline), so parsing is a handful of exact comparisons and nothing
 * an attacker writes can be read two ways.
 */
#include "desc.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#define L_MAGIC    "jetcryptfs store 1\n"
#define L_KEY_ID   "key_id "
#define L_PT       "plaintext "
#define V_ALLOWED  "allowed\n"
#define V_REFUSED  "refused\n"
#define L_MAC      "mac "
#define MAC_SIZE   crypto_auth_hmacsha256_BYTES

#define SL(s) (sizeof(s) - 1)
#define OFF_KEY_ID (SL(L_MAGIC) + SL(L_KEY_ID))
#define OFF_PT     (OFF_KEY_ID + 2 * FMT_KEY_ID_SIZE + 1)
#define OFF_PT_VAL (OFF_PT + SL(L_PT))
#define OFF_MACL   (OFF_PT_VAL + SL(V_ALLOWED))       /* bytes under the MAC */
#define OFF_MAC    (OFF_MACL + SL(L_MAC))
#define DESC_LEN   (OFF_MAC + 2 * MAC_SIZE + 1)

_Static_assert(SL(V_ALLOWED) == SL(V_REFUSED), "both values have one length");
_Static_assert(DESC_LEN <= DESC_MAX_SIZE, "descriptor fits DESC_MAX_SIZE");

static const char hexdig[] = "0123456789abcdef";

static void hex_put(char *out, const uint8_t *bin, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[bin[i] >> 4];
		out[2 * i + 1] = hexdig[bin[i] & 15];
	}
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lowercase only: "AB" and "ab" would otherwise be two spellings of one
 * descriptor. The values decoded here are public, so no constant time. */
static int hex_get(uint8_t *bin, const char *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_nibble(in[2 * i]), lo = hex_nibble(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		bin[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int compute_mac(const char *buf, const uint8_t master[KDF_KEY_SIZE],
		       uint8_t mac[MAC_SIZE])
{
	uint8_t key[KDF_KEY_SIZE];
	int r;

	if (sodium_init() < 0)
		return -EIO;
	r = kdf_store_key(master, key);
	if (r == 0)
		crypto_auth_hmacsha256(mac, (const unsigned char *)buf, OFF_MACL, key);
	sodium_memzero(key, sizeof(key));
	return r;
}

int desc_encode(const struct desc *d, const uint8_t master[KDF_KEY_SIZE],
		char *out, size_t outlen, size_t *len)
{
	uint8_t mac[MAC_SIZE];
	int r;

	if (outlen < DESC_LEN)
		return -ENOSPC;
	memcpy(out, L_MAGIC, SL(L_MAGIC));
	memcpy(out + SL(L_MAGIC), L_KEY_ID, SL(L_KEY_ID));
	hex_put(out + OFF_KEY_ID, d->key_id, FMT_KEY_ID_SIZE);
	out[OFF_PT - 1] = '\n';
	memcpy(out + OFF_PT, L_PT, SL(L_PT));
	memcpy(out + OFF_PT_VAL, d->plaintext_allowed ? V_ALLOWED : V_REFUSED,
	       SL(V_ALLOWED));
	if ((r = compute_mac(out, master, mac)) != 0)
		return r;
	memcpy(out + OFF_MACL, L_MAC, SL(L_MAC));
	hex_put(out + OFF_MAC, mac, MAC_SIZE);
	out[DESC_LEN - 1] = '\n';
	/* A terminator when there is room, for callers that print it. */
	if (outlen > DESC_LEN)
		out[DESC_LEN] = '\0';
	*len = DESC_LEN;
	return 0;
}

int desc_parse(const char *buf, size_t len, struct desc *d)
{
	uint8_t mac[MAC_SIZE];
	struct desc tmp;

	/* The length check comes first; every offset below is < DESC_LEN. */
	if (buf == NULL || len != DESC_LEN)
		return -EINVAL;
	if (memcmp(buf, L_MAGIC, SL(L_MAGIC)) != 0 ||
	    memcmp(buf + SL(L_MAGIC), L_KEY_ID, SL(L_KEY_ID)) != 0 ||
	    hex_get(tmp.key_id, buf + OFF_KEY_ID, FMT_KEY_ID_SIZE) != 0 ||
	    buf[OFF_PT - 1] != '\n' ||
	    memcmp(buf + OFF_PT, L_PT, SL(L_PT)) != 0)
		return -EINVAL;
	if (memcmp(buf + OFF_PT_VAL, V_ALLOWED, SL(V_ALLOWED)) == 0)
		tmp.plaintext_allowed = 1;
	else if (memcmp(buf + OFF_PT_VAL, V_REFUSED, SL(V_REFUSED)) == 0)
		tmp.plaintext_allowed = 0;
	else
		return -EINVAL;
	if (memcmp(buf + OFF_MACL, L_MAC, SL(L_MAC)) != 0 ||
	    hex_get(mac, buf + OFF_MAC, MAC_SIZE) != 0 ||
	    buf[DESC_LEN - 1] != '\n')
		return -EINVAL;
	if (d != NULL)
		*d = tmp;
	return 0;
}

int desc_verify(const char *buf, size_t len, const uint8_t master[KDF_KEY_SIZE])
{
	uint8_t want[MAC_SIZE], got[MAC_SIZE];
	int r = -EBADMSG;

	if (desc_parse(buf, len, NULL) != 0)
		return -EBADMSG;
	if (hex_get(got, buf + OFF_MAC, MAC_SIZE) != 0 ||
	    compute_mac(buf, master, want) != 0)
		goto out;
	if (sodium_memcmp(want, got, MAC_SIZE) == 0)
		r = 0;
out:
	sodium_memzero(want, sizeof(want));
	return r;
}
