/*
 * Unit tests of the store descriptor: the exact text, round trips,
 * verification under the right and wrong master keys, rejection of every
 * single-bit change, of every truncation and of near-miss spellings, and
 * the known answers that docs/FORMAT.md shows; the same for version 2
 * (retired key ids), plus its ordering rules and its helpers, and for version
 * 3 (the Argon2id salt and limits) and the salt file. Inputs are copied into
 * exactly-sized heap buffers so that AddressSanitizer catches any read
 * past len.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "desc.h"
#include "kdf.h"

#define DESC_LEN 130
#define KAT_SECRET "jetcryptfs test vector secret"
#define KAT_REFUSED \
	"jetcryptfs store 1\n" \
	"key_id 0264a180807cc8a5\n" \
	"plaintext refused\n" \
	"mac 06f65b1b547786dcbceba056e48fad9d512b1f52ce336aa3c0656fc44ecd7d88\n"
#define KAT_ALLOWED \
	"jetcryptfs store 1\n" \
	"key_id 0264a180807cc8a5\n" \
	"plaintext allowed\n" \
	"mac 230b763cc439f20b643efd6a369abb854bb51ada748df248c3fc478e73c75593\n"

/* Version 2: two retired key ids (public values, any will do). */
#define KAT_RETIRED_LEN 172
#define KAT_RETIRED \
	"jetcryptfs store 2\n" \
	"key_id 0264a180807cc8a5\n" \
	"plaintext refused\n" \
	"retired 0011223344556677 8899aabbccddeeff\n" \
	"mac 9758899cd8a5db1e06a7cfcf60813ec7ff98e2ce37d70b656855cd4ee0f01e11\n"
#define KAT_RETIRED1_ALLOWED \
	"jetcryptfs store 2\n" \
	"key_id 0264a180807cc8a5\n" \
	"plaintext allowed\n" \
	"retired 0011223344556677\n" \
	"mac 4d49d7ff12a13f95d83602ceb53bbafd81a2ac58b656ee7330119246d1ee9c9b\n"

/* Version 3: the stretched master key of docs/FORMAT.md's passphrase
 * vector (t = 3, m = 262144 KiB; tests/unit/test_crypto.c derives it). */
#define KAT3_MASTER "89605551a2394eb0253968321743598c27aca7420dc7b30b5f6e7107158b5801"
#define KAT3_KDF "kdf argon2id 3 262144 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n"
#define KAT3_REFUSED \
	"jetcryptfs store 3\n" \
	"key_id 7fdc207f0b2750f2\n" \
	"plaintext refused\n" \
	KAT3_KDF \
	"mac 43caea0feae4b9b96f6f964f2d6b00752a8932a4c27e1407f1b5efc32917fe84\n"
#define KAT3_RETIRED \
	"jetcryptfs store 3\n" \
	"key_id 7fdc207f0b2750f2\n" \
	"plaintext allowed\n" \
	KAT3_KDF \
	"retired 0011223344556677\n" \
	"mac 344e68ead9143cac5167578cec94f45977fc192924f355aa37176ea0ec8d5f93\n"
#define KAT_SALT_FILE "jetcryptfs salt 1\n" KAT3_KDF

static const uint8_t ret_a[FMT_KEY_ID_SIZE] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77 };
static const uint8_t ret_b[FMT_KEY_ID_SIZE] = { 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

#define REQ(x) do { if (!(x)) ck_abort_msg("failed: %s", #x); } while (0)

static uint8_t master[KDF_KEY_SIZE];
static struct desc kat_desc;

static void expect_malformed(const char *text, size_t len);

static void setup(void)
{
	ck_assert_int_eq(sodium_init() >= 0, 1);
	ck_assert_int_eq(kdf_master_key((const uint8_t *)KAT_SECRET, strlen(KAT_SECRET), master), 0);
	ck_assert_int_eq(kdf_key_id(master, kat_desc.key_id), 0);
	kat_desc.plaintext_allowed = 0;
}

/* Exactly len bytes on the heap: one byte more read is an ASan report. */
static int parse_exact(const char *buf, size_t len, struct desc *d)
{
	char *copy = malloc(len ? len : 1);
	int r;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf, len);
	r = desc_parse(copy, len, d);
	free(copy);
	return r;
}

static int verify_exact(const char *buf, size_t len, const uint8_t *m)
{
	char *copy = malloc(len ? len : 1);
	int r;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf, len);
	r = desc_verify(copy, len, m);
	free(copy);
	return r;
}

START_TEST(test_known_answer)
{
	char out[DESC_MAX_SIZE];
	size_t len = 0;
	struct desc d = kat_desc;

	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), 0);
	ck_assert_uint_eq(len, DESC_LEN);
	ck_assert_uint_eq(strlen(KAT_REFUSED), DESC_LEN);
	ck_assert_mem_eq(out, KAT_REFUSED, DESC_LEN);
	d.plaintext_allowed = 1;
	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), 0);
	ck_assert_mem_eq(out, KAT_ALLOWED, DESC_LEN);
	/* Any non-zero value means allowed. */
	d.plaintext_allowed = 42;
	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), 0);
	ck_assert_mem_eq(out, KAT_ALLOWED, DESC_LEN);

	/* docs/FORMAT.md shows the refused one. */
	FILE *f = fopen(TESTDATA "/../../../docs/FORMAT.md", "r");
	static char doc[1 << 17];
	ck_assert_msg(f != NULL, "docs/FORMAT.md not found");
	doc[fread(doc, 1, sizeof(doc) - 1, f)] = '\0';
	fclose(f);
	ck_assert_msg(strstr(doc, KAT_REFUSED) != NULL, "docs/FORMAT.md lacks the descriptor");
	ck_assert_msg(strstr(doc, KAT_RETIRED) != NULL, "docs/FORMAT.md lacks the version 2 descriptor");
	ck_assert_msg(strstr(doc, "4d49d7ff12a13f95d83602ceb53bbafd81a2ac58b656ee7330119246d1ee9c9b") != NULL,
		      "docs/FORMAT.md lacks the MAC of the one-id version 2 descriptor");
}
END_TEST

START_TEST(test_retired_known_answer)
{
	char out[DESC_MAX_SIZE];
	size_t len = 0;
	struct desc d = kat_desc, p;

	/* Added out of order: the helper keeps them ascending. */
	ck_assert_int_eq(desc_retired_add(&d, ret_b), 0);
	ck_assert_int_eq(desc_retired_add(&d, ret_a), 0);
	ck_assert_uint_eq(d.nretired, 2);
	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), 0);
	ck_assert_uint_eq(strlen(KAT_RETIRED), KAT_RETIRED_LEN);
	ck_assert_uint_eq(len, KAT_RETIRED_LEN);
	ck_assert_mem_eq(out, KAT_RETIRED, KAT_RETIRED_LEN);
	ck_assert_int_eq(verify_exact(KAT_RETIRED, KAT_RETIRED_LEN, master), 0);
	ck_assert_int_eq(parse_exact(KAT_RETIRED, KAT_RETIRED_LEN, &p), 0);
	ck_assert_mem_eq(p.key_id, kat_desc.key_id, FMT_KEY_ID_SIZE);
	ck_assert_int_eq(p.plaintext_allowed, 0);
	ck_assert_uint_eq(p.nretired, 2);
	ck_assert_mem_eq(p.retired[0], ret_a, FMT_KEY_ID_SIZE);
	ck_assert_mem_eq(p.retired[1], ret_b, FMT_KEY_ID_SIZE);

	d = kat_desc;
	d.plaintext_allowed = 1;
	ck_assert_int_eq(desc_retired_add(&d, ret_a), 0);
	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), 0);
	ck_assert_uint_eq(len, strlen(KAT_RETIRED1_ALLOWED));
	ck_assert_mem_eq(out, KAT_RETIRED1_ALLOWED, len);
	/* Removing the last retired id writes version 1 again, byte for byte. */
	desc_retired_remove(&d, ret_a);
	ck_assert_uint_eq(d.nretired, 0);
	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), 0);
	ck_assert_uint_eq(len, DESC_LEN);
	ck_assert_mem_eq(out, KAT_ALLOWED, DESC_LEN);
	/* A version 1 descriptor parses with no retired ids. */
	memset(&p, 0xff, sizeof(p));
	ck_assert_int_eq(parse_exact(KAT_REFUSED, DESC_LEN, &p), 0);
	ck_assert_uint_eq(p.nretired, 0);
}
END_TEST

START_TEST(test_retired_helpers)
{
	struct desc d = kat_desc;
	uint8_t ids[DESC_RETIRED_MAX + 1][FMT_KEY_ID_SIZE];

	for (int i = 0; i <= DESC_RETIRED_MAX; i++)
		memset(ids[i], 0x10 * (DESC_RETIRED_MAX + 1 - i), FMT_KEY_ID_SIZE);  /* descending */
	/* The store's own key id is never retired. */
	ck_assert_int_eq(desc_retired_add(&d, kat_desc.key_id), 0);
	ck_assert_uint_eq(d.nretired, 0);
	for (int i = 0; i < DESC_RETIRED_MAX; i++) {
		ck_assert_int_eq(desc_retired_add(&d, ids[i]), 0);
		ck_assert_int_eq(desc_retired_add(&d, ids[i]), 0);      /* once only */
	}
	ck_assert_uint_eq(d.nretired, DESC_RETIRED_MAX);
	for (int i = 1; i < DESC_RETIRED_MAX; i++)
		ck_assert_int_lt(memcmp(d.retired[i - 1], d.retired[i], FMT_KEY_ID_SIZE), 0);
	ck_assert_int_eq(desc_retired_add(&d, ids[DESC_RETIRED_MAX]), -ENOSPC);
	ck_assert_int_eq(desc_retired_add(&d, ids[0]), 0);              /* present: no room needed */
	ck_assert_uint_eq(d.nretired, DESC_RETIRED_MAX);
	/* The largest fits DESC_MAX_SIZE and round-trips. */
	{
		char out[DESC_MAX_SIZE];
		size_t len;
		struct desc p;

		ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), 0);
		ck_assert_uint_eq(len, 138 + 17 * DESC_RETIRED_MAX);
		ck_assert_int_eq(parse_exact(out, len, &p), 0);
		ck_assert_mem_eq(&p, &d, sizeof(p));
		ck_assert_int_eq(verify_exact(out, len, master), 0);
		ck_assert_int_eq(desc_encode(&d, master, out, len - 1, &len), -ENOSPC);
	}
	desc_retired_remove(&d, ids[1]);
	desc_retired_remove(&d, ids[1]);                                /* absent: nothing */
	ck_assert_uint_eq(d.nretired, DESC_RETIRED_MAX - 1);
	ck_assert_mem_eq(d.retired[0], ids[2], FMT_KEY_ID_SIZE);
	ck_assert_mem_eq(d.retired[1], ids[0], FMT_KEY_ID_SIZE);
}
END_TEST

/* The encoder writes only the one spelling the parser accepts. */
START_TEST(test_retired_encode_invalid)
{
	char out[DESC_MAX_SIZE];
	size_t len = 7;
	struct desc d = kat_desc;

	d.nretired = 2;                                 /* descending */
	memcpy(d.retired[0], ret_b, FMT_KEY_ID_SIZE);
	memcpy(d.retired[1], ret_a, FMT_KEY_ID_SIZE);
	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), -EINVAL);
	memcpy(d.retired[1], ret_b, FMT_KEY_ID_SIZE);  /* duplicate */
	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), -EINVAL);
	d.nretired = 1;                                 /* the store's own key id */
	memcpy(d.retired[0], d.key_id, FMT_KEY_ID_SIZE);
	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), -EINVAL);
	d.nretired = DESC_RETIRED_MAX + 1;
	ck_assert_int_eq(desc_encode(&d, master, out, sizeof(out), &len), -EINVAL);
	ck_assert_uint_eq(len, 7);
}
END_TEST

START_TEST(test_retired_tamper)
{
	char buf[KAT_RETIRED_LEN + 8];
	struct desc d;

	for (size_t bit = 0; bit < 8 * KAT_RETIRED_LEN; bit++) {
		memcpy(buf, KAT_RETIRED, KAT_RETIRED_LEN);
		buf[bit / 8] ^= (char)(1 << (bit % 8));
		REQ(desc_verify(buf, KAT_RETIRED_LEN, master) == -EBADMSG);
		int r = desc_parse(buf, KAT_RETIRED_LEN, &d);
		REQ(r == 0 || r == -EINVAL);
	}
	for (size_t len = 0; len < KAT_RETIRED_LEN; len++) {
		REQ(parse_exact(KAT_RETIRED, len, &d) == -EINVAL);
		REQ(verify_exact(KAT_RETIRED, len, master) == -EBADMSG);
	}
	memcpy(buf, KAT_RETIRED, KAT_RETIRED_LEN);
	buf[KAT_RETIRED_LEN] = '\n';
	expect_malformed(buf, KAT_RETIRED_LEN + 1);
	/* Dropping the retired line (a downgrade to version 1) needs the
	 * key: the MAC of either form does not transfer to the other. */
	memcpy(buf, KAT_REFUSED, DESC_LEN - 65);
	memcpy(buf + DESC_LEN - 65, KAT_RETIRED + KAT_RETIRED_LEN - 65, 65);
	ck_assert_int_eq(parse_exact(buf, DESC_LEN, &d), 0);
	ck_assert_int_eq(verify_exact(buf, DESC_LEN, master), -EBADMSG);
	/* Nor does removing one of the two ids. */
	memcpy(buf, KAT_RETIRED1_ALLOWED, strlen(KAT_RETIRED1_ALLOWED));
	memcpy(buf + 53, "refused", 7);
	memcpy(buf + strlen(KAT_RETIRED1_ALLOWED) - 65, KAT_RETIRED + KAT_RETIRED_LEN - 65, 65);
	ck_assert_int_eq(parse_exact(buf, strlen(KAT_RETIRED1_ALLOWED), &d), 0);
	ck_assert_int_eq(verify_exact(buf, strlen(KAT_RETIRED1_ALLOWED), master), -EBADMSG);
}
END_TEST

START_TEST(test_roundtrip)
{
	char out[DESC_MAX_SIZE];
	size_t len;
	uint8_t m[KDF_KEY_SIZE];

	for (int i = 0; i < 20; i++) {
		struct desc d = { .plaintext_allowed = i & 1 }, p;

		randombytes_buf(m, sizeof(m));
		randombytes_buf(d.key_id, sizeof(d.key_id));
		ck_assert_int_eq(desc_encode(&d, m, out, sizeof(out), &len), 0);
		ck_assert_uint_eq(len, DESC_LEN);
		ck_assert_uint_eq(out[len], '\0');
		memset(&p, 0xff, sizeof(p));
		ck_assert_int_eq(parse_exact(out, len, &p), 0);
		ck_assert_mem_eq(p.key_id, d.key_id, sizeof(d.key_id));
		ck_assert_int_eq(p.plaintext_allowed, d.plaintext_allowed);
		ck_assert_int_eq(verify_exact(out, len, m), 0);
		/* Parsing needs no key; d may be NULL. */
		ck_assert_int_eq(desc_parse(out, len, NULL), 0);
	}
}
END_TEST

START_TEST(test_outlen)
{
	char out[DESC_MAX_SIZE];
	size_t len = 7;

	memset(out, 'x', sizeof(out));
	ck_assert_int_eq(desc_encode(&kat_desc, master, out, DESC_LEN - 1, &len), -ENOSPC);
	ck_assert_uint_eq(len, 7);
	ck_assert_int_eq(desc_encode(&kat_desc, master, out, 0, &len), -ENOSPC);
	/* Exactly enough: no terminator is written past the end. */
	ck_assert_int_eq(desc_encode(&kat_desc, master, out, DESC_LEN, &len), 0);
	ck_assert_uint_eq(len, DESC_LEN);
	ck_assert_uint_eq(out[DESC_LEN], 'x');
	ck_assert_int_eq(desc_verify(out, len, master), 0);
}
END_TEST

START_TEST(test_wrong_master)
{
	uint8_t other[KDF_KEY_SIZE];

	ck_assert_int_eq(verify_exact(KAT_REFUSED, DESC_LEN, master), 0);
	ck_assert_int_eq(verify_exact(KAT_ALLOWED, DESC_LEN, master), 0);
	for (size_t bit = 0; bit < 8 * KDF_KEY_SIZE; bit++) {
		memcpy(other, master, sizeof(other));
		other[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		REQ(desc_verify(KAT_REFUSED, DESC_LEN, other) == -EBADMSG);
	}
	ck_assert_int_eq(kdf_master_key((const uint8_t *)"another key", 11, other), 0);
	ck_assert_int_eq(verify_exact(KAT_REFUSED, DESC_LEN, other), -EBADMSG);
	/* The key id is readable without the key, to name the mismatch. */
	struct desc d;
	ck_assert_int_eq(parse_exact(KAT_REFUSED, DESC_LEN, &d), 0);
	ck_assert_mem_eq(d.key_id, kat_desc.key_id, FMT_KEY_ID_SIZE);
	ck_assert_int_eq(d.plaintext_allowed, 0);
}
END_TEST

/* Every single-bit change of every byte is caught: either the text no
 * longer parses, or the MAC no longer verifies. Turning "refused" into
 * "allowed" needs the key. */
START_TEST(test_every_flip)
{
	char buf[DESC_LEN];
	struct desc d;

	for (size_t bit = 0; bit < 8 * DESC_LEN; bit++) {
		memcpy(buf, KAT_REFUSED, DESC_LEN);
		buf[bit / 8] ^= (char)(1 << (bit % 8));
		REQ(desc_verify(buf, DESC_LEN, master) == -EBADMSG);
		int r = desc_parse(buf, DESC_LEN, &d);
		REQ(r == 0 || r == -EINVAL);
	}
	/* Whole-byte substitutions too, every value at every position. */
	for (size_t pos = 0; pos < DESC_LEN; pos++) {
		for (int v = 0; v < 256; v++) {
			if (v == (unsigned char)KAT_REFUSED[pos])
				continue;
			memcpy(buf, KAT_REFUSED, DESC_LEN);
			buf[pos] = (char)v;
			REQ(desc_verify(buf, DESC_LEN, master) == -EBADMSG);
		}
	}
	/* The MAC of the other value does not transfer. */
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	memcpy(buf + 43, "plaintext allowed\n", 18);
	ck_assert_int_eq(desc_parse(buf, DESC_LEN, &d), 0);
	ck_assert_int_eq(d.plaintext_allowed, 1);
	ck_assert_int_eq(desc_verify(buf, DESC_LEN, master), -EBADMSG);
}
END_TEST

START_TEST(test_truncated)
{
	char buf[DESC_LEN + 8];
	struct desc d;

	for (size_t len = 0; len < DESC_LEN; len++) {
		REQ(parse_exact(KAT_REFUSED, len, &d) == -EINVAL);
		REQ(verify_exact(KAT_REFUSED, len, master) == -EBADMSG);
	}
	/* Anything after the last line. */
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	const char *tails[] = { "\n", "x", "\0", "mac 00\n", " " };
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		size_t tl = strlen(tails[i]) ? strlen(tails[i]) : 1;

		memcpy(buf + DESC_LEN, tails[i], tl);
		ck_assert_int_eq(parse_exact(buf, DESC_LEN + tl, &d), -EINVAL);
		ck_assert_int_eq(verify_exact(buf, DESC_LEN + tl, master), -EBADMSG);
	}
	ck_assert_int_eq(desc_parse(NULL, DESC_LEN, &d), -EINVAL);
	ck_assert_int_eq(desc_verify(NULL, DESC_LEN, master), -EBADMSG);
}
END_TEST

static void expect_malformed(const char *text, size_t len)
{
	struct desc d;

	ck_assert_msg(parse_exact(text, len, &d) == -EINVAL, "accepted: %.*s", (int)len, text);
	ck_assert_int_eq(verify_exact(text, len, master), -EBADMSG);
}

START_TEST(test_malformed)
{
	char buf[DESC_LEN + 8];

	/* Uppercase hex in the key id and in the MAC. */
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	ck_assert_uint_eq((unsigned char)KAT_REFUSED[30], 'a');
	buf[30] = 'A';   /* "0264a1..." -> "0264A1..." */
	expect_malformed(buf, DESC_LEN);
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	ck_assert_uint_eq((unsigned char)KAT_REFUSED[DESC_LEN - 4], 'd');
	buf[DESC_LEN - 4] = 'D';
	expect_malformed(buf, DESC_LEN);
	/* CRLF line ends (same length overall if one line loses a char). */
	expect_malformed("jetcryptfs store 1\r\n"
			 "key_id 0264a180807cc8a5\n"
			 "plaintext refused\n"
			 "mac 06f65b1b547786dcbceba056e48fad9d512b1f52ce336aa3c0656fc44ecd7d8\n",
			 DESC_LEN);
	/* Another version, other spacing, other words. */
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	buf[17] = '2';
	expect_malformed(buf, DESC_LEN);
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	buf[25] = '\t';
	expect_malformed(buf, DESC_LEN);
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	memcpy(buf + 53, "Refused", 7);
	expect_malformed(buf, DESC_LEN);
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	memcpy(buf + 53, "forbade", 7);
	expect_malformed(buf, DESC_LEN);
	/* Lines swapped. */
	expect_malformed("jetcryptfs store 1\n"
			 "plaintext refused\n"
			 "key_id 0264a180807cc8a5\n"
			 "mac 06f65b1b547786dcbceba056e48fad9d512b1f52ce336aa3c0656fc44ecd7d88\n",
			 DESC_LEN);
	/* A NUL inside, and all zeros or spaces. */
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	buf[40] = '\0';
	expect_malformed(buf, DESC_LEN);
	memset(buf, 0, DESC_LEN);
	expect_malformed(buf, DESC_LEN);
	memset(buf, ' ', DESC_LEN);
	expect_malformed(buf, DESC_LEN);
	/* Non-hex in the MAC. */
	memcpy(buf, KAT_REFUSED, DESC_LEN);
	buf[70] = 'g';
	expect_malformed(buf, DESC_LEN);
}
END_TEST

/* Near misses of version 2: every one has exactly one fault. */
START_TEST(test_retired_malformed)
{
#define V2(magic, ret) magic "key_id 0264a180807cc8a5\nplaintext refused\n" ret \
	"mac 9758899cd8a5db1e06a7cfcf60813ec7ff98e2ce37d70b656855cd4ee0f01e11\n"
#define M2 "jetcryptfs store 2\n"
	static const char *bad[] = {
		/* version 1 with a retired line; version 2 without one */
		V2("jetcryptfs store 1\n", "retired 0011223344556677 8899aabbccddeeff\n"),
		V2(M2, ""),
		V2(M2, "retired \n"),
		V2(M2, "retired\n"),
		/* order, duplicates, the store's own id */
		V2(M2, "retired 8899aabbccddeeff 0011223344556677\n"),
		V2(M2, "retired 0011223344556677 0011223344556677\n"),
		V2(M2, "retired 0264a180807cc8a5\n"),
		V2(M2, "retired 0011223344556677 0264a180807cc8a5\n"),
		/* spelling: case, separators, short ids, too many */
		V2(M2, "retired 0011223344556677 8899AABBCCDDEEFF\n"),
		V2(M2, "retired 0011223344556677  8899aabbccddeeff\n"),
		V2(M2, "retired 0011223344556677\t8899aabbccddeeff\n"),
		V2(M2, "retired 0011223344556677,8899aabbccddeeff\n"),
		V2(M2, "retired 0011223344556677 8899aabbccddeeff \n"),
		V2(M2, "retired  0011223344556677 8899aabbccddeef\n"),
		V2(M2, "retired 0011223344556677\nretired 8899aabbccddeeff\n"),
		V2(M2, "Retired 0011223344556677 8899aabbccddeeff\n"),
		V2(M2, "retired 1111111111111111 2222222222222222 3333333333333333 4444444444444444\n"),
		V2("jetcryptfs store 3\n", "retired 0011223344556677 8899aabbccddeeff\n"),
	};
#undef V2
#undef M2
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_malformed(bad[i], strlen(bad[i]));
	/* The retired line after the mac line, or before plaintext. */
	expect_malformed("jetcryptfs store 2\n"
			 "key_id 0264a180807cc8a5\n"
			 "retired 0011223344556677 8899aabbccddeeff\n"
			 "plaintext refused\n"
			 "mac 9758899cd8a5db1e06a7cfcf60813ec7ff98e2ce37d70b656855cd4ee0f01e11\n", KAT_RETIRED_LEN);
	expect_malformed("jetcryptfs store 2\n"
			 "key_id 0264a180807cc8a5\n"
			 "plaintext refused\n"
			 "mac 9758899cd8a5db1e06a7cfcf60813ec7ff98e2ce37d70b656855cd4ee0f01e11\n"
			 "retired 0011223344556677 8899aabbccddeeff\n", KAT_RETIRED_LEN);
}
END_TEST

/* ---- version 3 and the salt file ---- */

static uint8_t master3[KDF_KEY_SIZE];
static struct desc kat3;

static void setup3(void)
{
	size_t got;

	ck_assert_int_eq(sodium_init() >= 0, 1);
	ck_assert_int_eq(sodium_hex2bin(master3, sizeof(master3), KAT3_MASTER, 64, NULL, &got, NULL), 0);
	memset(&kat3, 0, sizeof(kat3));
	ck_assert_int_eq(sodium_hex2bin(kat3.key_id, 8, "7fdc207f0b2750f2", 16, NULL, &got, NULL), 0);
	kat3.has_kdf = 1;
	kat3.kdf.ops = 3;
	kat3.kdf.mem_kib = 262144;
	for (int i = 0; i < KDF_SALT_SIZE; i++)
		kat3.kdf.salt[i] = (uint8_t)(0xa0 + i);
}

static void expect_malformed3(const char *text)
{
	struct desc d;

	ck_assert_msg(parse_exact(text, strlen(text), &d) == -EINVAL, "accepted: %s", text);
	ck_assert_int_eq(verify_exact(text, strlen(text), master3), -EBADMSG);
}

START_TEST(test_v3_known_answer)
{
	char out[DESC_MAX_SIZE];
	size_t len;
	struct desc d = kat3, p;

	ck_assert_int_eq(desc_encode(&d, master3, out, sizeof(out), &len), 0);
	ck_assert_uint_eq(len, strlen(KAT3_REFUSED));
	ck_assert_uint_eq(len, 185);
	ck_assert_mem_eq(out, KAT3_REFUSED, len);
	ck_assert_int_eq(verify_exact(KAT3_REFUSED, len, master3), 0);
	memset(&p, 0xff, sizeof(p));
	ck_assert_int_eq(parse_exact(KAT3_REFUSED, len, &p), 0);
	ck_assert_mem_eq(&p, &d, sizeof(p));
	/* Retired ids follow the kdf line. */
	d.plaintext_allowed = 1;
	ck_assert_int_eq(desc_retired_add(&d, ret_a), 0);
	ck_assert_int_eq(desc_encode(&d, master3, out, sizeof(out), &len), 0);
	ck_assert_uint_eq(len, strlen(KAT3_RETIRED));
	ck_assert_mem_eq(out, KAT3_RETIRED, len);
	ck_assert_int_eq(parse_exact(KAT3_RETIRED, len, &p), 0);
	ck_assert_mem_eq(&p, &d, sizeof(p));
	ck_assert_int_eq(verify_exact(KAT3_RETIRED, len, master3), 0);
	/* The salt is under the MAC: no other salt verifies. */
	memcpy(out, KAT3_REFUSED, strlen(KAT3_REFUSED));
	ck_assert_uint_eq(out[90], (unsigned char)KAT3_KDF[29]);     /* a salt digit */
	out[90] = out[90] == '0' ? '1' : '0';
	ck_assert_int_eq(parse_exact(out, strlen(KAT3_REFUSED), &p), 0);
	ck_assert_int_eq(verify_exact(out, strlen(KAT3_REFUSED), master3), -EBADMSG);
	/* Dropping the kdf line (back to version 1) needs the key. */
	ck_assert_int_eq(verify_exact(KAT_REFUSED, DESC_LEN, master3), -EBADMSG);

	FILE *f = fopen(TESTDATA "/../../../docs/FORMAT.md", "r");
	static char doc[1 << 17];
	ck_assert_msg(f != NULL, "docs/FORMAT.md not found");
	doc[fread(doc, 1, sizeof(doc) - 1, f)] = '\0';
	fclose(f);
	ck_assert_msg(strstr(doc, KAT3_REFUSED) != NULL, "docs/FORMAT.md lacks the version 3 descriptor");
	ck_assert_msg(strstr(doc, KAT3_RETIRED) != NULL, "docs/FORMAT.md lacks the version 3 descriptor with a retired id");
	ck_assert_msg(strstr(doc, KAT_SALT_FILE) != NULL, "docs/FORMAT.md lacks the salt file");
}
END_TEST

START_TEST(test_v3_limits)
{
	char out[DESC_MAX_SIZE];
	size_t len;
	struct desc d = kat3, p;

	/* Any non-zero limits have one spelling and round-trip: a store
	 * with limits this version would not derive is named, not called
	 * malformed. */
	const uint32_t v[] = { 1, 9, 10, 99, 100, 262144, 4294967295u };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		d.kdf.ops = v[i];
		d.kdf.mem_kib = v[sizeof(v) / sizeof(v[0]) - 1 - i];
		ck_assert_int_eq(desc_encode(&d, master3, out, sizeof(out), &len), 0);
		ck_assert_int_eq(parse_exact(out, len, &p), 0);
		ck_assert_mem_eq(&p, &d, sizeof(p));
		ck_assert_int_eq(verify_exact(out, len, master3), 0);
	}
	/* The longest descriptor fits, with room to see anything after it. */
	d.kdf.ops = d.kdf.mem_kib = 4294967295u;
	for (int i = 0; i < DESC_RETIRED_MAX; i++) {
		uint8_t id[FMT_KEY_ID_SIZE];

		memset(id, 0x11 * (i + 1), sizeof(id));
		ck_assert_int_eq(desc_retired_add(&d, id), 0);
	}
	ck_assert_int_eq(desc_encode(&d, master3, out, sizeof(out), &len), 0);
	ck_assert_uint_eq(len, 257);
	ck_assert_uint_lt(len, DESC_MAX_SIZE);
	ck_assert_int_eq(parse_exact(out, len, &p), 0);
	ck_assert_int_eq(desc_encode(&d, master3, out, len - 1, &len), -ENOSPC);
	/* Zero limits are no limits: never written. */
	d = kat3;
	d.kdf.ops = 0;
	ck_assert_int_eq(desc_encode(&d, master3, out, sizeof(out), &len), -EINVAL);
	d = kat3;
	d.kdf.mem_kib = 0;
	ck_assert_int_eq(desc_encode(&d, master3, out, sizeof(out), &len), -EINVAL);
}
END_TEST

START_TEST(test_v3_tamper)
{
	const size_t n = strlen(KAT3_RETIRED);
	char buf[256];
	struct desc d;

	for (size_t bit = 0; bit < 8 * n; bit++) {
		memcpy(buf, KAT3_RETIRED, n);
		buf[bit / 8] ^= (char)(1 << (bit % 8));
		REQ(desc_verify(buf, n, master3) == -EBADMSG);
		int r = desc_parse(buf, n, &d);
		REQ(r == 0 || r == -EINVAL);
	}
	for (size_t len = 0; len < n; len++) {
		REQ(parse_exact(KAT3_RETIRED, len, &d) == -EINVAL);
		REQ(verify_exact(KAT3_RETIRED, len, master3) == -EBADMSG);
	}
	memcpy(buf, KAT3_RETIRED, n);
	buf[n] = '\n';
	ck_assert_int_eq(parse_exact(buf, n + 1, &d), -EINVAL);
}
END_TEST

/* Near misses of version 3: every one has exactly one fault. */
START_TEST(test_v3_malformed)
{
#define V3(magic, kdf, ret) magic "key_id 7fdc207f0b2750f2\nplaintext refused\n" kdf ret \
	"mac 43caea0feae4b9b96f6f964f2d6b00752a8932a4c27e1407f1b5efc32917fe84\n"
#define M3 "jetcryptfs store 3\n"
#define SALT "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	static const char *bad[] = {
		/* a kdf line in version 1 or 2; none in version 3 */
		V3("jetcryptfs store 1\n", KAT3_KDF, ""),
		V3("jetcryptfs store 2\n", KAT3_KDF, "retired 0011223344556677\n"),
		V3(M3, "", ""),
		V3(M3, "", "retired 0011223344556677\n"),
		/* the limits: leading zeros, zero, sign, overflow, other spacing */
		V3(M3, "kdf argon2id 03 262144 " SALT "\n", ""),
		V3(M3, "kdf argon2id 3 0262144 " SALT "\n", ""),
		V3(M3, "kdf argon2id 0 262144 " SALT "\n", ""),
		V3(M3, "kdf argon2id 3 0 " SALT "\n", ""),
		V3(M3, "kdf argon2id +3 262144 " SALT "\n", ""),
		V3(M3, "kdf argon2id 3 4294967296 " SALT "\n", ""),
		V3(M3, "kdf argon2id 3 10000000000 " SALT "\n", ""),
		V3(M3, "kdf argon2id 3  262144 " SALT "\n", ""),
		V3(M3, "kdf argon2id 3 262144  " SALT "\n", ""),
		V3(M3, "kdf argon2id 3 262144 " SALT " \n", ""),
		V3(M3, "kdf argon2id 3 262144\n", ""),
		V3(M3, "kdf argon2id 3\t262144 " SALT "\n", ""),
		/* another algorithm, the salt's case and length */
		V3(M3, "kdf argon2i 3 262144 " SALT "\n", ""),
		V3(M3, "kdf Argon2id 3 262144 " SALT "\n", ""),
		V3(M3, "kdf argon2id 3 262144 A0A1A2A3A4A5A6A7A8A9AAABACADAEAF\n", ""),
		V3(M3, "kdf argon2id 3 262144 a0a1a2a3a4a5a6a7a8a9aaabacadae\n", ""),
		V3(M3, "kdf argon2id 3 262144 a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0\n", ""),
		/* the retired line: empty, before the kdf line, twice */
		V3(M3, KAT3_KDF, "retired \n"),
		V3(M3, "retired 0011223344556677\n" KAT3_KDF, ""),
		V3(M3, KAT3_KDF, "retired 0011223344556677\nretired 8899aabbccddeeff\n"),
		V3(M3, KAT3_KDF KAT3_KDF, ""),
	};
#undef V3
#undef M3
#undef SALT
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_malformed3(bad[i]);
}
END_TEST

START_TEST(test_salt_file)
{
	char out[DESC_MAX_SIZE];
	size_t len;
	struct kdf_params p;

	ck_assert_int_eq(desc_salt_encode(&kat3.kdf, out, sizeof(out), &len), 0);
	ck_assert_uint_eq(len, strlen(KAT_SALT_FILE));
	ck_assert_mem_eq(out, KAT_SALT_FILE, len);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(desc_salt_parse(KAT_SALT_FILE, len, &p), 0);
	ck_assert_mem_eq(&p, &kat3.kdf, sizeof(p));
	ck_assert_int_eq(desc_salt_encode(&kat3.kdf, out, len - 1, &len), -ENOSPC);
	p.ops = 0;
	ck_assert_int_eq(desc_salt_encode(&p, out, sizeof(out), &len), -EINVAL);
	/* Exactly the two lines: no more, no less, no other magic. */
	static const char *bad[] = {
		"jetcryptfs salt 1\n",
		KAT3_KDF,
		"jetcryptfs salt 2\n" KAT3_KDF,
		"jetcryptfs store 3\n" KAT3_KDF,
		KAT_SALT_FILE "\n",
		"jetcryptfs salt 1\n" "kdf argon2id 3 262144 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
		"jetcryptfs salt 1\r\n" KAT3_KDF,
		"jetcryptfs salt 1\n" "kdf argon2id 0 262144 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *copy = malloc(strlen(bad[i]) + 1);

		memcpy(copy, bad[i], strlen(bad[i]));
		ck_assert_msg(desc_salt_parse(copy, strlen(bad[i]), &p) == -EINVAL, "accepted: %s", bad[i]);
		free(copy);
	}
	ck_assert_int_eq(desc_salt_parse(NULL, 10, &p), -EINVAL);
	/* A salt file is no descriptor, and a descriptor no salt file. */
	ck_assert_int_eq(desc_parse(KAT_SALT_FILE, strlen(KAT_SALT_FILE), NULL), -EINVAL);
	ck_assert_int_eq(desc_salt_parse(KAT3_REFUSED, strlen(KAT3_REFUSED), &p), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("desc");
	TCase *tc = tcase_create("desc");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_known_answer);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_outlen);
	tcase_add_test(tc, test_wrong_master);
	tcase_add_test(tc, test_every_flip);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_retired_known_answer);
	tcase_add_test(tc, test_retired_helpers);
	tcase_add_test(tc, test_retired_encode_invalid);
	tcase_add_test(tc, test_retired_tamper);
	tcase_add_test(tc, test_retired_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("v3");
	tcase_add_checked_fixture(tc, setup3, NULL);
	tcase_add_test(tc, test_v3_known_answer);
	tcase_add_test(tc, test_v3_limits);
	tcase_add_test(tc, test_v3_tamper);
	tcase_add_test(tc, test_v3_malformed);
	tcase_add_test(tc, test_salt_file);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
