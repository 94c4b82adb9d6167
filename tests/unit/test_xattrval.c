/*
 * Unit tests of the extended attribute value codec (crypto/xattrval.c)
 * and its key derivation: round trips of both ciphers at every size class
 * up to the largest value, every single-bit flip and every cut of a
 * stored value, a value read under another name, another xattr id, key or
 * key id, the header and xattr id decoders, the names, and the
 * known-answer vectors of docs/FORMAT.md, which the test also finds in
 * that document.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kdf.h"
#include "xattrval.h"

#define REQ(x) do { if (!(x)) ck_abort_msg("failed: %s", #x); } while (0)

static const int ciphers[] = { FMT_CIPHER_CHACHAPOLY, FMT_CIPHER_AES };
static const uint8_t key_id[FMT_KEY_ID_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static uint8_t stored[XVAL_STORED_MAX + 1], plain[XVAL_STORED_MAX + 1], back[XVAL_STORED_MAX + 1];

static void unhex(uint8_t *out, const char *hex, size_t n)
{
	size_t got = 0;

	ck_assert_int_eq(strlen(hex), 2 * n);
	ck_assert_int_eq(sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, NULL), 0);
	ck_assert_uint_eq(got, n);
}

static void setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
}

/* A key for (cipher, xid) from a fixed master key. */
static void xkey(int cipher, const uint8_t xid[XVAL_ID_SIZE], uint8_t key[XVAL_KEY_SIZE])
{
	uint8_t master[KDF_KEY_SIZE];

	memset(master, 0x42, sizeof(master));
	ck_assert_int_eq(kdf_xattr_key(master, cipher, xid, key), 0);
}

START_TEST(test_names)
{
	ck_assert(xval_name_encrypted("user.secret"));
	ck_assert(xval_name_encrypted("user.jetcryptfs"));
	ck_assert(!xval_name_encrypted("user.jetcryptfs.id"));
	ck_assert(!xval_name_encrypted("user.jetcryptfs.anything"));
	ck_assert(!xval_name_encrypted("security.capability"));
	ck_assert(!xval_name_encrypted("trusted.x"));
	ck_assert(!xval_name_encrypted("system.posix_acl_access"));
	ck_assert(!xval_name_encrypted("users.x"));
	ck_assert(xval_name_reserved(XVAL_ID_NAME));
	ck_assert(!xval_name_reserved("user.secret"));
	ck_assert_uint_eq(xval_overhead(FMT_CIPHER_CHACHAPOLY), 56);
	ck_assert_uint_eq(xval_overhead(FMT_CIPHER_AES), 44);
	ck_assert_uint_eq(xval_overhead(0), 0);
	ck_assert_uint_eq(XVAL_PLAIN_MAX, 65480);
}
END_TEST

START_TEST(test_roundtrip)
{
	int c = ciphers[_i];
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 255, 4096, 4097, 61440, XVAL_PLAIN_MAX };
	uint8_t xid[XVAL_ID_SIZE], key[XVAL_KEY_SIZE];
	struct xval_header h;
	size_t slen, plen;

	randombytes_buf(xid, sizeof(xid));
	xkey(c, xid, key);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];

		randombytes_buf(plain, len);
		REQ(xval_encrypt(c, key, key_id, xid, "user.v", plain, len, stored, &slen) == 0);
		REQ(slen == len + xval_overhead(c));
		REQ(slen <= XVAL_STORED_MAX);
		REQ(memcmp(stored, XVAL_MAGIC, 4) == 0);
		REQ(xval_header_decode(&h, stored, slen) == 0);
		REQ(h.cipher == c && h.version == XVAL_VERSION && !memcmp(h.key_id, key_id, sizeof(key_id)));
		memset(back, 0xee, len + 1);
		REQ(xval_decrypt(key, xid, "user.v", stored, slen, back, &plen) == 0);
		REQ(plen == len && memcmp(back, plain, len) == 0 && back[len] == 0xee);
		/* No plaintext byte in the stored value (for a value long
		 * enough that a chance match is out of the question). */
		if (len >= 16)
			REQ(memmem(stored, slen, plain, 16) == NULL);
	}
	/* One byte more than the largest value does not fit. */
	REQ(xval_encrypt(c, key, key_id, xid, "user.v", plain, XVAL_PLAIN_MAX + 1, stored, &slen) == -EINVAL);
	/* Two encryptions of one value differ (fresh nonces). */
	{
		static uint8_t other[128];
		size_t olen;

		REQ(xval_encrypt(c, key, key_id, xid, "user.v", plain, 32, stored, &slen) == 0);
		REQ(xval_encrypt(c, key, key_id, xid, "user.v", plain, 32, other, &olen) == 0);
		REQ(slen == olen && memcmp(stored, other, slen) != 0);
	}
}
END_TEST

/* Every single-bit flip of a stored value is refused, whichever field it
 * hits, and no plaintext comes out. */
START_TEST(test_tamper)
{
	int c = ciphers[_i];
	uint8_t xid[XVAL_ID_SIZE], key[XVAL_KEY_SIZE];
	size_t slen, plen, len = 40;

	randombytes_buf(xid, sizeof(xid));
	xkey(c, xid, key);
	randombytes_buf(plain, len);
	REQ(xval_encrypt(c, key, key_id, xid, "user.t", plain, len, stored, &slen) == 0);
	for (size_t bit = 0; bit < 8 * slen; bit++) {
		stored[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(back, 0xaa, len);
		REQ(xval_decrypt(key, xid, "user.t", stored, slen, back, &plen) < 0);
		if (bit / 8 >= XVAL_HEADER_SIZE)
			REQ(sodium_is_zero(back, len));
		stored[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* Cut anywhere, or one byte added. */
	for (size_t n = 0; n < slen; n++)
		REQ(xval_decrypt(key, xid, "user.t", stored, n, back, &plen) < 0);
	stored[slen] = 0;
	REQ(xval_decrypt(key, xid, "user.t", stored, slen + 1, back, &plen) == -EBADMSG);
	REQ(xval_decrypt(key, xid, "user.t", stored, slen, back, &plen) == 0);
	REQ(plen == len && memcmp(back, plain, len) == 0);
}
END_TEST

/* A value read under another name, another file (xattr id) or another key
 * does not authenticate: values cannot be moved. */
START_TEST(test_binding)
{
	int c = ciphers[_i];
	uint8_t xid[XVAL_ID_SIZE], xid2[XVAL_ID_SIZE], key[XVAL_KEY_SIZE], key2[XVAL_KEY_SIZE];
	size_t slen, plen;

	randombytes_buf(xid, sizeof(xid));
	memcpy(xid2, xid, sizeof(xid));
	xid2[15] ^= 1;
	xkey(c, xid, key);
	memcpy(plain, "value", 5);
	REQ(xval_encrypt(c, key, key_id, xid, "user.a", plain, 5, stored, &slen) == 0);
	REQ(xval_decrypt(key, xid, "user.a", stored, slen, back, &plen) == 0);
	/* another name, one that is a prefix, one a byte longer */
	REQ(xval_decrypt(key, xid, "user.b", stored, slen, back, &plen) == -EBADMSG);
	REQ(xval_decrypt(key, xid, "user.", stored, slen, back, &plen) == -EBADMSG);
	REQ(xval_decrypt(key, xid, "user.aa", stored, slen, back, &plen) == -EBADMSG);
	REQ(xval_decrypt(key, xid, "trusted.a", stored, slen, back, &plen) == -EBADMSG);
	/* another file: its key and its id, or this key under its id */
	xkey(c, xid2, key2);
	REQ(memcmp(key, key2, sizeof(key)) != 0);
	REQ(xval_decrypt(key2, xid2, "user.a", stored, slen, back, &plen) == -EBADMSG);
	REQ(xval_decrypt(key, xid2, "user.a", stored, slen, back, &plen) == -EBADMSG);
	/* the other cipher's key of the same id */
	xkey(c == FMT_CIPHER_AES ? FMT_CIPHER_CHACHAPOLY : FMT_CIPHER_AES, xid, key2);
	REQ(memcmp(key, key2, sizeof(key)) != 0);
	REQ(xval_decrypt(key2, xid, "user.a", stored, slen, back, &plen) == -EBADMSG);
	/* a header claiming another key id (the AAD covers it) */
	stored[8] ^= 0x80;
	REQ(xval_decrypt(key, xid, "user.a", stored, slen, back, &plen) == -EBADMSG);
	stored[8] ^= 0x80;
	/* names the codec refuses */
	REQ(xval_decrypt(key, xid, "", stored, slen, back, &plen) == -EINVAL);
	{
		char longname[XVAL_NAME_MAX + 2];

		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		REQ(xval_encrypt(c, key, key_id, xid, longname, plain, 5, stored, &slen) == -EINVAL);
		longname[XVAL_NAME_MAX] = '\0';
		REQ(xval_encrypt(c, key, key_id, xid, longname, plain, 5, stored, &slen) == 0);
		REQ(xval_decrypt(key, xid, longname, stored, slen, back, &plen) == 0);
	}
	REQ(xval_encrypt(3, key, key_id, xid, "user.a", plain, 5, stored, &slen) == -EINVAL);
}
END_TEST

START_TEST(test_header_decode)
{
	struct xval_header h;
	uint8_t buf[64] = { 'J', 'C', 'X', 'V', 1, 1, 0, 0 };

	/* Anything without the whole magic is a plaintext value. */
	ck_assert_int_eq(xval_header_decode(&h, buf, 0), -ENODATA);
	ck_assert_int_eq(xval_header_decode(&h, buf, 3), -ENODATA);
	ck_assert_int_eq(xval_header_decode(&h, (const uint8_t *)"JCFSxxxxxxxxxxxxxxxxxxxxxxxx", 28), -ENODATA);
	ck_assert_int_eq(xval_header_decode(&h, (const uint8_t *)"jcxv", 4), -ENODATA);
	/* The magic, then too short for header, nonce and tag. */
	ck_assert_int_eq(xval_header_decode(&h, buf, 4), -EBADMSG);
	ck_assert_int_eq(xval_header_decode(&h, buf, 55), -EBADMSG);
	ck_assert_int_eq(xval_header_decode(&h, buf, 56), 0);
	ck_assert_int_eq(h.cipher, FMT_CIPHER_CHACHAPOLY);
	buf[5] = 2;
	ck_assert_int_eq(xval_header_decode(&h, buf, 43), -EBADMSG);
	ck_assert_int_eq(xval_header_decode(&h, buf, 44), 0);
	buf[5] = 3;
	ck_assert_int_eq(xval_header_decode(&h, buf, 64), -EPROTO);
	buf[5] = 1;
	buf[4] = 2;
	ck_assert_int_eq(xval_header_decode(&h, buf, 64), -EPROTO);
	buf[4] = 1;
	buf[7] = 1;
	ck_assert_int_eq(xval_header_decode(&h, buf, 64), -EPROTO);
}
END_TEST

START_TEST(test_id_attr)
{
	uint8_t xid[XVAL_ID_SIZE], got[XVAL_ID_SIZE], raw[XVAL_ID_ATTR_SIZE + 1];

	randombytes_buf(xid, sizeof(xid));
	xval_id_encode(xid, raw);
	ck_assert_mem_eq(raw, XVAL_ID_MAGIC, 4);
	ck_assert_int_eq(xval_id_decode(raw, XVAL_ID_ATTR_SIZE, got), 0);
	ck_assert_mem_eq(got, xid, sizeof(xid));
	ck_assert_int_eq(xval_id_decode(raw, XVAL_ID_ATTR_SIZE - 1, got), -EBADMSG);
	ck_assert_int_eq(xval_id_decode(raw, XVAL_ID_ATTR_SIZE + 1, got), -EBADMSG);
	for (int i = 0; i < 8; i++) {
		raw[i] ^= 0x10;
		ck_assert_int_eq(xval_id_decode(raw, XVAL_ID_ATTR_SIZE, got), -EBADMSG);
		raw[i] ^= 0x10;
	}
}
END_TEST

START_TEST(test_kdf)
{
	uint8_t master[KDF_KEY_SIZE], id[XVAL_ID_SIZE] = { 0 }, a[KDF_KEY_SIZE], b[KDF_KEY_SIZE];

	memset(master, 7, sizeof(master));
	ck_assert_int_eq(kdf_xattr_key(master, FMT_CIPHER_CHACHAPOLY, id, a), 0);
	/* Not the content key of a file whose file id has the same bytes. */
	ck_assert_int_eq(kdf_file_key(master, FMT_CIPHER_CHACHAPOLY, id, b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	ck_assert_int_eq(kdf_xattr_key(master, FMT_CIPHER_AES, id, b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	id[0] = 1;
	ck_assert_int_eq(kdf_xattr_key(master, FMT_CIPHER_CHACHAPOLY, id, b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	ck_assert_int_eq(kdf_xattr_key(master, 0, id, b), -EINVAL);
	ck_assert_int_eq(kdf_xattr_key(master, 3, id, b), -EINVAL);
}
END_TEST

/* ---- known answers (docs/FORMAT.md, "Extended attributes") ---- */

#define KAT_SECRET  "jetcryptfs test vector secret"
#define KAT_XID     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
#define KAT_ID_ATTR "4a43584901000000f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
#define KAT_NAME    "user.test"
#define KAT_PLAIN   "jetcryptfs xattr test vector\n"

static const struct kat {
	int cipher;
	const char *key, *nonce, *stored;
} kats[] = {
	{ FMT_CIPHER_CHACHAPOLY,
	  "7d401896c6504b266ae81971821a5794d932e9680b605d7b121578936ae210cb",
	  "808182838485868788898a8b8c8d8e8f9091929394959697",
	  "4a435856010100000264a180807cc8a5808182838485868788898a8b8c8d8e8f909192939495"
	  "96976be018c500467f247550e983b5163d5e7c99b5bd9c3ccae4f30159c80c5dd803c07a0644"
	  "3964dc785a423457e4" },
	{ FMT_CIPHER_AES,
	  "b967d2425fa7035a8e0b7baa85a3316b080b5b75b9bd7df69d7d00e723c0033c",
	  "a0a1a2a3a4a5a6a7a8a9aaab",
	  "4a435856010200000264a180807cc8a5a0a1a2a3a4a5a6a7a8a9aaabae7336add9e1458f91ee"
	  "1b4c460b2971dc7c30cc75d4ea128a913d69933f19e751a869d2fb6ff4a11190e3135d" },
};

static char *read_doc(void)
{
	FILE *f = fopen(TESTDATA "/../../../docs/FORMAT.md", "r");
	static char buf[1 << 18];
	size_t n;

	ck_assert_msg(f != NULL, "docs/FORMAT.md not found");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* s is in the document, where a long hex string may be broken over lines
 * of a code block: it is looked for with the newlines taken out too. */
static void assert_in_doc(const char *doc, const char *s)
{
	static char flat[1 << 18];
	size_t k = 0;

	if (strstr(doc, s))
		return;
	for (const char *p = doc; *p && k < sizeof(flat) - 1; p++)
		if (*p != '\n')
			flat[k++] = *p;
	flat[k] = '\0';
	ck_assert_msg(strstr(flat, s) != NULL, "docs/FORMAT.md lacks %s", s);
}

START_TEST(test_known_answers)
{
	const struct kat *k = &kats[_i];
	int c = k->cipher;
	uint8_t master[KDF_KEY_SIZE], id[FMT_KEY_ID_SIZE], xid[XVAL_ID_SIZE], key[XVAL_KEY_SIZE];
	uint8_t want[XVAL_KEY_SIZE], nonce[FMT_MAX_NONCE], raw[XVAL_ID_ATTR_SIZE], wantraw[XVAL_ID_ATTR_SIZE];
	size_t plen = strlen(KAT_PLAIN), slen = plen + xval_overhead(c), got, glen;
	uint8_t out[128], exp[128];

	ck_assert_int_eq(kdf_master_key((const uint8_t *)KAT_SECRET, strlen(KAT_SECRET), master), 0);
	ck_assert_int_eq(kdf_key_id(master, id), 0);
	unhex(xid, KAT_XID, sizeof(xid));
	xval_id_encode(xid, raw);
	unhex(wantraw, KAT_ID_ATTR, sizeof(wantraw));
	ck_assert_mem_eq(raw, wantraw, sizeof(raw));

	ck_assert_int_eq(kdf_xattr_key(master, c, xid, key), 0);
	unhex(want, k->key, sizeof(want));
	ck_assert_mem_eq(key, want, sizeof(key));
	unhex(nonce, k->nonce, fmt_nonce_size(c));
	unhex(exp, k->stored, slen);
	ck_assert_int_eq(xval_encrypt_nonce(c, key, id, xid, KAT_NAME, nonce, (const uint8_t *)KAT_PLAIN, plen,
					    out, &got), 0);
	ck_assert_uint_eq(got, slen);
	ck_assert_mem_eq(out, exp, slen);
	ck_assert_int_eq(xval_decrypt(key, xid, KAT_NAME, exp, slen, back, &glen), 0);
	ck_assert_uint_eq(glen, plen);
	ck_assert_mem_eq(back, KAT_PLAIN, plen);

	const char *doc = read_doc();
	assert_in_doc(doc, KAT_XID);
	assert_in_doc(doc, KAT_ID_ATTR);
	assert_in_doc(doc, KAT_NAME);
	assert_in_doc(doc, "jetcryptfs xattr test vector");
	assert_in_doc(doc, "jetcryptfs xattr key v1");
	assert_in_doc(doc, k->key);
	assert_in_doc(doc, k->nonce);
	assert_in_doc(doc, k->stored);
}
END_TEST

static Suite *xattrval_suite(void)
{
	Suite *s = suite_create("xattrval");
	TCase *tc = tcase_create("codec");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_names);
	tcase_add_loop_test(tc, test_roundtrip, 0, 2);
	tcase_add_loop_test(tc, test_tamper, 0, 2);
	tcase_add_loop_test(tc, test_binding, 0, 2);
	tcase_add_test(tc, test_header_decode);
	tcase_add_test(tc, test_id_attr);
	tcase_add_test(tc, test_kdf);
	tcase_add_loop_test(tc, test_known_answers, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xattrval_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
