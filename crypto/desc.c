/*
 * The store descriptor (".jetcryptfs" at the backing root): fixed lines of
 * text naming the store's key id, whether plaintext files are allowed and
 * (version 2 only) the retired key ids files may still be under, closed by
 * an HMAC-SHA256 over the lines before it. The text has exactly one valid
 * spelling per content (fixed lengths, lowercase hex, retired ids in
 * ascending order, final newline), so parsing is a handful of exact
 * comparisons and nothing an attacker writes can be read two ways.
 */
#include "desc.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#define L_MAGIC1   "jetcryptfs store 1\n"
#define L_MAGIC2   "jetcryptfs store 2\n"
#define L_KEY_ID   "key_id "
#define L_PT       "plaintext "
#define V_ALLOWED  "allowed\n"
#define V_REFUSED  "refused\n"
#define L_RETIRED  "retired "
#define L_MAC      "mac "
#define MAC_SIZE   crypto_auth_hmacsha256_BYTES
#define ID_HEX     (2 * FMT_KEY_ID_SIZE)

#define SL(s) (sizeof(s) - 1)
#define OFF_KEY_ID  (SL(L_MAGIC1) + SL(L_KEY_ID))
#define OFF_PT      (OFF_KEY_ID + ID_HEX + 1)
#define OFF_PT_VAL  (OFF_PT + SL(L_PT))
#define OFF_TAIL    (OFF_PT_VAL + SL(V_ALLOWED))      /* "mac " (v1) or "retired " (v2) */
#define OFF_RET_IDS (OFF_TAIL + SL(L_RETIRED))
#define RET_ITEM    (ID_HEX + 1)                      /* an id and ' ' or '\n' */
#define MAC_LINE    (SL(L_MAC) + 2 * MAC_SIZE + 1)

/* Bytes under the MAC, and the whole length, for n retired ids. */
#define MACL_FOR(n) ((n) ? OFF_RET_IDS + (size_t)(n) * RET_ITEM : OFF_TAIL)
#define LEN_FOR(n)  (MACL_FOR(n) + MAC_LINE)

_Static_assert(SL(L_MAGIC1) == SL(L_MAGIC2), "both versions share the offsets");
_Static_assert(SL(V_ALLOWED) == SL(V_REFUSED), "both values have one length");
_Static_assert(LEN_FOR(DESC_RETIRED_MAX) <= DESC_MAX_SIZE, "descriptor fits DESC_MAX_SIZE");

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

static int compute_mac(const char *buf, size_t macl, const uint8_t master[KDF_KEY_SIZE],
		       uint8_t mac[MAC_SIZE])
{
	uint8_t key[KDF_KEY_SIZE];
	int r;

	if (sodium_init() < 0)
		return -EIO;
	r = kdf_store_key(master, key);
	if (r == 0)
		crypto_auth_hmacsha256(mac, (const unsigned char *)buf, macl, key);
	sodium_memzero(key, sizeof(key));
	return r;
}

/* The retired ids as struct desc promises them: the only order the
 * encoder writes and the parser accepts. */
static int retired_ok(const struct desc *d)
{
	if (d->nretired > DESC_RETIRED_MAX)
		return 0;
	for (unsigned i = 0; i < d->nretired; i++) {
		if (!memcmp(d->retired[i], d->key_id, FMT_KEY_ID_SIZE))
			return 0;
		if (i > 0 && memcmp(d->retired[i - 1], d->retired[i], FMT_KEY_ID_SIZE) >= 0)
			return 0;
	}
	return 1;
}

int desc_retired_add(struct desc *d, const uint8_t id[FMT_KEY_ID_SIZE])
{
	unsigned i = 0;
	int c = 1;

	if (!memcmp(id, d->key_id, FMT_KEY_ID_SIZE))
		return 0;
	while (i < d->nretired && (c = memcmp(d->retired[i], id, FMT_KEY_ID_SIZE)) < 0)
		i++;
	if (i < d->nretired && c == 0)
		return 0;
	if (d->nretired >= DESC_RETIRED_MAX)
		return -ENOSPC;
	memmove(d->retired[i + 1], d->retired[i], (d->nretired - i) * FMT_KEY_ID_SIZE);
	memcpy(d->retired[i], id, FMT_KEY_ID_SIZE);
	d->nretired++;
	return 0;
}

void desc_retired_remove(struct desc *d, const uint8_t id[FMT_KEY_ID_SIZE])
{
	for (unsigned i = 0; i < d->nretired; i++) {
		if (!memcmp(d->retired[i], id, FMT_KEY_ID_SIZE)) {
			memmove(d->retired[i], d->retired[i + 1], (d->nretired - i - 1) * FMT_KEY_ID_SIZE);
			d->nretired--;
			return;
		}
	}
}

int desc_encode(const struct desc *d, const uint8_t master[KDF_KEY_SIZE],
		char *out, size_t outlen, size_t *len)
{
	uint8_t mac[MAC_SIZE];
	size_t macl, total;
	int r;

	if (!retired_ok(d))
		return -EINVAL;
	macl = MACL_FOR(d->nretired);
	total = LEN_FOR(d->nretired);
	if (outlen < total)
		return -ENOSPC;
	memcpy(out, d->nretired ? L_MAGIC2 : L_MAGIC1, SL(L_MAGIC1));
	memcpy(out + SL(L_MAGIC1), L_KEY_ID, SL(L_KEY_ID));
	hex_put(out + OFF_KEY_ID, d->key_id, FMT_KEY_ID_SIZE);
	out[OFF_PT - 1] = '\n';
	memcpy(out + OFF_PT, L_PT, SL(L_PT));
	memcpy(out + OFF_PT_VAL, d->plaintext_allowed ? V_ALLOWED : V_REFUSED,
	       SL(V_ALLOWED));
	if (d->nretired) {
		memcpy(out + OFF_TAIL, L_RETIRED, SL(L_RETIRED));
		for (unsigned i = 0; i < d->nretired; i++) {
			char *p = out + OFF_RET_IDS + i * RET_ITEM;

			hex_put(p, d->retired[i], FMT_KEY_ID_SIZE);
			p[ID_HEX] = i + 1 < d->nretired ? ' ' : '\n';
		}
	}
	if ((r = compute_mac(out, macl, master, mac)) != 0)
		return r;
	memcpy(out + macl, L_MAC, SL(L_MAC));
	hex_put(out + macl + SL(L_MAC), mac, MAC_SIZE);
	out[total - 1] = '\n';
	/* A terminator when there is room, for callers that print it. */
	if (outlen > total)
		out[total] = '\0';
	*len = total;
	return 0;
}

/* Parses into *d and sets *macl to the number of bytes under the MAC. */
static int parse(const char *buf, size_t len, struct desc *d, size_t *macl)
{
	uint8_t mac[MAC_SIZE];
	unsigned n;

	/* The length checks come first; every offset below is < len. */
	if (buf == NULL || len < LEN_FOR(0))
		return -EINVAL;
	if (memcmp(buf, L_MAGIC1, SL(L_MAGIC1)) == 0) {
		if (len != LEN_FOR(0))
			return -EINVAL;
		n = 0;
	} else if (memcmp(buf, L_MAGIC2, SL(L_MAGIC2)) == 0) {
		/* Version 2 always names at least one retired id. */
		for (n = 1; n <= DESC_RETIRED_MAX && LEN_FOR(n) != len; n++)
			;
		if (n > DESC_RETIRED_MAX)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	memset(d, 0, sizeof(*d));
	if (memcmp(buf + SL(L_MAGIC1), L_KEY_ID, SL(L_KEY_ID)) != 0 ||
	    hex_get(d->key_id, buf + OFF_KEY_ID, FMT_KEY_ID_SIZE) != 0 ||
	    buf[OFF_PT - 1] != '\n' ||
	    memcmp(buf + OFF_PT, L_PT, SL(L_PT)) != 0)
		return -EINVAL;
	if (memcmp(buf + OFF_PT_VAL, V_ALLOWED, SL(V_ALLOWED)) == 0)
		d->plaintext_allowed = 1;
	else if (memcmp(buf + OFF_PT_VAL, V_REFUSED, SL(V_REFUSED)) == 0)
		d->plaintext_allowed = 0;
	else
		return -EINVAL;
	if (n && memcmp(buf + OFF_TAIL, L_RETIRED, SL(L_RETIRED)) != 0)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		const char *p = buf + OFF_RET_IDS + i * RET_ITEM;

		if (hex_get(d->retired[i], p, FMT_KEY_ID_SIZE) != 0 ||
		    p[ID_HEX] != (i + 1 < n ? ' ' : '\n'))
			return -EINVAL;
	}
	d->nretired = n;
	if (!retired_ok(d))
		return -EINVAL;
	*macl = MACL_FOR(n);
	if (memcmp(buf + *macl, L_MAC, SL(L_MAC)) != 0 ||
	    hex_get(mac, buf + *macl + SL(L_MAC), MAC_SIZE) != 0 ||
	    buf[len - 1] != '\n')
		return -EINVAL;
	return 0;
}

int desc_parse(const char *buf, size_t len, struct desc *d)
{
	struct desc tmp;
	size_t macl;

	if (parse(buf, len, &tmp, &macl) != 0)
		return -EINVAL;
	if (d != NULL)
		*d = tmp;
	return 0;
}

int desc_verify(const char *buf, size_t len, const uint8_t master[KDF_KEY_SIZE])
{
	uint8_t want[MAC_SIZE], got[MAC_SIZE];
	struct desc tmp;
	size_t macl;
	int r = -EBADMSG;

	if (parse(buf, len, &tmp, &macl) != 0)
		return -EBADMSG;
	if (hex_get(got, buf + macl + SL(L_MAC), MAC_SIZE) != 0 ||
	    compute_mac(buf, macl, master, want) != 0)
		goto out;
	if (sodium_memcmp(want, got, MAC_SIZE) == 0)
		r = 0;
out:
	sodium_memzero(want, sizeof(want));
	return r;
}
