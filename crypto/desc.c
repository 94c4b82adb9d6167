/*
 * The store descriptor (".jetcryptfs" at the backing root): lines of text
 * naming the store's key id, whether plaintext files are allowed, (version
 * 3 only) the Argon2id salt and limits of its passphrases, and (versions 2
 * and 3) the retired key ids files may still be under, closed by an
 * HMAC-SHA256 over the lines before it. The text has exactly one valid
 * spelling per content (fixed lengths but for the two limits, which are
 * decimal without leading zeros; lowercase hex; retired ids in ascending
 * order; final newline), so parsing is a walk of exact comparisons and
 * nothing an attacker writes can be read two ways. The salt file repeats
 * the kdf line under a magic of its own.
 */
#include "desc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define L_MAGIC1   "jetcryptfs store 1\n"
#define L_MAGIC2   "jetcryptfs store 2\n"
#define L_MAGIC3   "jetcryptfs store 3\n"
#define L_SALT1    "jetcryptfs salt 1\n"
#define L_KEY_ID   "key_id "
#define L_PT       "plaintext "
#define V_ALLOWED  "allowed\n"
#define V_REFUSED  "refused\n"
#define L_KDF      "kdf argon2id "
#define L_RETIRED  "retired "
#define L_MAC      "mac "
#define MAC_SIZE   crypto_auth_hmacsha256_BYTES
#define ID_HEX     (2 * FMT_KEY_ID_SIZE)
#define U32_DIGITS 10

#define SL(s) (sizeof(s) - 1)
/* The longest of each line, for the size bound. */
#define HEAD_MAX   (SL(L_MAGIC1) + SL(L_KEY_ID) + ID_HEX + 1 + SL(L_PT) + SL(V_ALLOWED))
#define KDF_MAX    (SL(L_KDF) + 2 * (U32_DIGITS + 1) + 2 * KDF_SALT_SIZE + 1)
#define RET_MAX    (SL(L_RETIRED) + DESC_RETIRED_MAX * (ID_HEX + 1))
#define MAC_LINE   (SL(L_MAC) + 2 * MAC_SIZE + 1)

_Static_assert(SL(L_MAGIC1) == SL(L_MAGIC2) && SL(L_MAGIC1) == SL(L_MAGIC3), "one magic length");
_Static_assert(SL(V_ALLOWED) == SL(V_REFUSED), "both values have one length");
_Static_assert(HEAD_MAX + KDF_MAX + RET_MAX + MAC_LINE < DESC_MAX_SIZE,
	       "a read of DESC_MAX_SIZE bytes shows what follows the longest descriptor");

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

/* ---- writing: an output cursor that stops at the end of the buffer ---- */

struct out {
	char *p;
	size_t len, cap;
	int full;
};

static void put(struct out *o, const void *s, size_t n)
{
	if (o->full || o->cap - o->len < n) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

#define PUT(o, lit) put(o, lit, SL(lit))

static void put_hex(struct out *o, const uint8_t *bin, size_t n)
{
	char h[2 * MAC_SIZE];

	hex_put(h, bin, n);
	put(o, h, 2 * n);
}

static void put_kdf_line(struct out *o, const struct kdf_params *p)
{
	char num[2 * (U32_DIGITS + 1) + 1];
	int n = snprintf(num, sizeof(num), "%u %u ", (unsigned)p->ops, (unsigned)p->mem_kib);

	PUT(o, L_KDF);
	put(o, num, (size_t)n);
	put_hex(o, p->salt, KDF_SALT_SIZE);
	PUT(o, "\n");
}

/* ---- reading: an input cursor; every step checks the bytes left ---- */

struct in {
	const char *p, *end;
};

static int take(struct in *c, const char *s, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return -EINVAL;
	c->p += n;
	return 0;
}

#define TAKE(c, lit) take(c, lit, SL(lit))

static int take_hex(struct in *c, uint8_t *bin, size_t n)
{
	if ((size_t)(c->end - c->p) < 2 * n || hex_get(bin, c->p, n) != 0)
		return -EINVAL;
	c->p += 2 * n;
	return 0;
}

/* A decimal from 1 to 2^32-1 without leading zeros: its one spelling. */
static int take_u32(struct in *c, uint32_t *v)
{
	unsigned long long x = 0;
	size_t n = 0;

	if (c->p == c->end || *c->p < '1' || *c->p > '9')
		return -EINVAL;
	while (c->p + n < c->end && c->p[n] >= '0' && c->p[n] <= '9' && n <= U32_DIGITS)
		x = x * 10 + (unsigned)(c->p[n++] - '0');
	if (n > U32_DIGITS || x > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)x;
	c->p += n;
	return 0;
}

static int take_kdf_line(struct in *c, struct kdf_params *p)
{
	if (TAKE(c, L_KDF) || take_u32(c, &p->ops) || TAKE(c, " ") || take_u32(c, &p->mem_kib) ||
	    TAKE(c, " ") || take_hex(c, p->salt, KDF_SALT_SIZE) || TAKE(c, "\n"))
		return -EINVAL;
	return 0;
}

/* ---- the descriptor ---- */

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

static int kdf_ok(const struct kdf_params *p)
{
	return p->ops > 0 && p->mem_kib > 0;
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
	struct out o = { .p = out, .cap = outlen };
	uint8_t mac[MAC_SIZE];
	size_t macl;
	int r;

	if (!retired_ok(d) || (d->has_kdf && !kdf_ok(&d->kdf)))
		return -EINVAL;
	if (d->has_kdf)
		PUT(&o, L_MAGIC3);
	else if (d->nretired)
		PUT(&o, L_MAGIC2);
	else
		PUT(&o, L_MAGIC1);
	PUT(&o, L_KEY_ID);
	put_hex(&o, d->key_id, FMT_KEY_ID_SIZE);
	PUT(&o, "\n");
	PUT(&o, L_PT);
	if (d->plaintext_allowed)
		PUT(&o, V_ALLOWED);
	else
		PUT(&o, V_REFUSED);
	if (d->has_kdf)
		put_kdf_line(&o, &d->kdf);
	if (d->nretired) {
		PUT(&o, L_RETIRED);
		for (unsigned i = 0; i < d->nretired; i++) {
			put_hex(&o, d->retired[i], FMT_KEY_ID_SIZE);
			put(&o, i + 1 < d->nretired ? " " : "\n", 1);
		}
	}
	macl = o.len;
	if (o.full || outlen - macl < MAC_LINE)
		return -ENOSPC;
	if ((r = compute_mac(out, macl, master, mac)) != 0)
		return r;
	PUT(&o, L_MAC);
	put_hex(&o, mac, MAC_SIZE);
	PUT(&o, "\n");
	/* A terminator when there is room, for callers that print it. */
	if (outlen > o.len)
		out[o.len] = '\0';
	*len = o.len;
	return 0;
}

/* Parses into *d and sets *macl to the number of bytes under the MAC. */
static int parse(const char *buf, size_t len, struct desc *d, size_t *macl)
{
	struct in c = { buf, buf + len };
	uint8_t mac[MAC_SIZE];
	int version;

	if (buf == NULL)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	if (TAKE(&c, L_MAGIC1) == 0)
		version = 1;
	else if (TAKE(&c, L_MAGIC2) == 0)
		version = 2;
	else if (TAKE(&c, L_MAGIC3) == 0)
		version = 3;
	else
		return -EINVAL;
	if (TAKE(&c, L_KEY_ID) || take_hex(&c, d->key_id, FMT_KEY_ID_SIZE) || TAKE(&c, "\n") ||
	    TAKE(&c, L_PT))
		return -EINVAL;
	if (TAKE(&c, V_ALLOWED) == 0)
		d->plaintext_allowed = 1;
	else if (TAKE(&c, V_REFUSED) != 0)
		return -EINVAL;
	if (version == 3) {
		if (take_kdf_line(&c, &d->kdf) != 0)
			return -EINVAL;
		d->has_kdf = 1;
	}
	/* Version 2 always names a retired id (with none, version 1 is
	 * written); version 3 names them when there are any. */
	if (version == 2 || (version == 3 && TAKE(&c, L_RETIRED) == 0)) {
		if (version == 2 && TAKE(&c, L_RETIRED))
			return -EINVAL;
		for (;;) {
			if (d->nretired == DESC_RETIRED_MAX ||
			    take_hex(&c, d->retired[d->nretired++], FMT_KEY_ID_SIZE))
				return -EINVAL;
			if (TAKE(&c, "\n") == 0)
				break;
			if (TAKE(&c, " "))
				return -EINVAL;
		}
	}
	if (!retired_ok(d))
		return -EINVAL;
	*macl = (size_t)(c.p - buf);
	if (TAKE(&c, L_MAC) || take_hex(&c, mac, MAC_SIZE) || TAKE(&c, "\n") || c.p != c.end)
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

/* ---- the salt file ---- */

int desc_salt_encode(const struct kdf_params *p, char *out, size_t outlen, size_t *len)
{
	struct out o = { .p = out, .cap = outlen };

	if (!kdf_ok(p))
		return -EINVAL;
	PUT(&o, L_SALT1);
	put_kdf_line(&o, p);
	if (o.full)
		return -ENOSPC;
	if (outlen > o.len)
		out[o.len] = '\0';
	*len = o.len;
	return 0;
}

int desc_salt_parse(const char *buf, size_t len, struct kdf_params *p)
{
	struct in c = { buf, buf + len };
	struct kdf_params tmp;

	if (buf == NULL || TAKE(&c, L_SALT1) || take_kdf_line(&c, &tmp) || c.p != c.end)
		return -EINVAL;
	*p = tmp;
	return 0;
}
