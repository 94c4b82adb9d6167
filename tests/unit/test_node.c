/*
 * Unit tests of the codec of symlink targets and FIFO/socket markers
 * (crypto/node.c): round trips of every target length up to the limit,
 * the limit itself, tampering character by character and byte by byte,
 * wrong keys, plaintext targets, holes, node types that must not be taken
 * for one another, and the known answers docs/FORMAT.md publishes (the
 * test checks that the document carries exactly these bytes).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "block.h"
#include "format.h"
#include "kdf.h"
#include "node.h"

#define REQ(x) do { if (!(x)) ck_abort_msg("failed: %s", #x); } while (0)

static const int ciphers[] = { FMT_CIPHER_CHACHAPOLY, FMT_CIPHER_AES };
static uint8_t master[KDF_KEY_SIZE], other[KDF_KEY_SIZE], key_id[FMT_KEY_ID_SIZE];

static void setup(void)
{
	ck_assert_int_eq(block_init(), 0);
	randombytes_buf(master, sizeof(master));
	randombytes_buf(other, sizeof(other));
	ck_assert_int_eq(kdf_key_id(master, key_id), 0);
}

static void unhex(uint8_t *out, const char *hex, size_t n)
{
	size_t got = 0;

	ck_assert_int_eq(strlen(hex), 2 * n);
	ck_assert_int_eq(sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, NULL), 0);
	ck_assert_uint_eq(got, n);
}

static void fill_target(char *t, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		t[i] = (char)(1 + (seed + i * 7) % 255);  /* never a NUL */
	t[len] = '\0';
}

START_TEST(test_link_roundtrip)
{
	int c = ciphers[_i];
	size_t max = node_link_max_target(c), len, tlen;
	static char target[NODE_LINK_STORED_MAX + 1], stored[NODE_LINK_STORED_MAX + 1], back[NODE_LINK_STORED_MAX + 1];
	struct fmt_header h;

	ck_assert_uint_eq(max, c == FMT_CIPHER_CHACHAPOLY ? 2999 : 3011);
	for (len = 1; len <= max; len++) {
		fill_target(target, len, (unsigned)len);
		REQ(node_link_encode(master, key_id, c, target, len, stored, sizeof(stored)) == 0);
		REQ(strlen(stored) == node_link_stored_len(c, len));
		REQ(strlen(stored) <= NODE_LINK_STORED_MAX);
		REQ(node_link_peek(stored, strlen(stored), &h) == 0);
		REQ(h.cipher == c && h.node == FMT_NODE_SYMLINK && !memcmp(h.key_id, key_id, FMT_KEY_ID_SIZE));
		REQ(node_link_target_len(c, strlen(stored), &tlen) == 0 && tlen == len);
		REQ(node_link_decode(master, stored, strlen(stored), back, sizeof(back), &tlen) == 0);
		REQ(tlen == len && !memcmp(back, target, len + 1));
		/* URL-safe: a stored target never has a '/' (no directory). */
		REQ(strchr(stored, '/') == NULL && strchr(stored, '=') == NULL);
	}
	/* The longest fills the kernel's limit exactly; one more is refused. */
	fill_target(target, max, 3);
	ck_assert_int_eq(node_link_encode(master, key_id, c, target, max, stored, sizeof(stored)), 0);
	ck_assert_uint_eq(strlen(stored), NODE_LINK_STORED_MAX);
	fill_target(target, max + 1, 3);
	ck_assert_int_eq(node_link_encode(master, key_id, c, target, max + 1, stored, sizeof(stored)), -ENAMETOOLONG);
	ck_assert_int_eq(node_link_encode(master, key_id, c, "", 0, stored, sizeof(stored)), -ENOENT);
	ck_assert_int_eq(node_link_encode(master, key_id, 9, "x", 1, stored, sizeof(stored)), -EINVAL);
	/* Two encodings of one target differ (fresh file id and nonce). */
	char again[NODE_LINK_STORED_MAX + 1];
	ck_assert_int_eq(node_link_encode(master, key_id, c, "/a", 2, stored, sizeof(stored)), 0);
	ck_assert_int_eq(node_link_encode(master, key_id, c, "/a", 2, again, sizeof(again)), 0);
	ck_assert_str_ne(stored, again);
}
END_TEST

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

START_TEST(test_link_tamper)
{
	int c = ciphers[_i];
	const char *target = "../stream/meta.inf";
	char stored[NODE_LINK_STORED_MAX + 1], bad[NODE_LINK_STORED_MAX + 2], back[NODE_LINK_STORED_MAX + 1];
	size_t n, tlen;

	ck_assert_int_eq(node_link_encode(master, key_id, c, target, strlen(target), stored, sizeof(stored)), 0);
	n = strlen(stored);
	/* Every character changed to every other one: never a target. */
	for (size_t i = 0; i < n; i++) {
		for (const char *p = b64chars; *p; p++) {
			if (*p == stored[i])
				continue;
			memcpy(bad, stored, n + 1);
			bad[i] = *p;
			REQ(node_link_decode(master, bad, n, back, sizeof(back), &tlen) < 0);
		}
	}
	/* Cut short or extended, by one character or more. */
	for (size_t len = 0; len < n; len++)
		REQ(node_link_decode(master, stored, len, back, sizeof(back), &tlen) < 0);
	memcpy(bad, stored, n);
	for (const char *p = b64chars; *p; p++) {
		bad[n] = *p;
		REQ(node_link_decode(master, bad, n + 1, back, sizeof(back), &tlen) < 0);
	}
	/* Another master key: authentication fails. */
	ck_assert_int_eq(node_link_decode(other, stored, n, back, sizeof(back), &tlen), -EBADMSG);
	ck_assert_int_eq(node_link_decode(master, stored, n, back, sizeof(back), &tlen), 0);
	ck_assert_str_eq(back, target);
}
END_TEST

/* A blob (header || block) as a stored target. */
static void blob_text(const uint8_t *blob, size_t n, char *out, size_t outlen)
{
	sodium_bin2base64(out, outlen, blob, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

START_TEST(test_link_foreign)
{
	int c = ciphers[_i];
	char stored[NODE_LINK_STORED_MAX + 1], back[NODE_LINK_STORED_MAX + 1];
	uint8_t blob[256], key[KDF_KEY_SIZE];
	struct fmt_header h = { .version = FMT_VERSION, .cipher = (uint8_t)c }, d;
	size_t tlen, n = FMT_HEADER_SIZE + 5 + fmt_block_overhead(c);
	const char *plain[] = { "/etc/passwd", "../x", "abc", "SkNG", "some dir/with space", "JCFS" };

	/* Plaintext targets, even ones that are valid base64: not ours. */
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		ck_assert_int_eq(node_link_peek(plain[i], strlen(plain[i]), &d), -ENODATA);
		ck_assert_int_eq(node_link_decode(master, plain[i], strlen(plain[i]), back, sizeof(back), &tlen),
				 -ENODATA);
	}
	/* A file's block (node 0), or a marker's, is not a target. */
	memcpy(h.key_id, key_id, sizeof(key_id));
	randombytes_buf(h.file_id, sizeof(h.file_id));
	ck_assert_int_eq(kdf_file_key(master, c, h.file_id, key), 0);
	for (int node = FMT_NODE_FILE; node <= FMT_NODE_SOCKET; node++) {
		h.node = (uint8_t)node;
		fmt_header_encode(&h, blob);
		ck_assert_int_eq(block_encrypt(c, key, blob, 0, (const uint8_t *)"/etc/", 5, blob + FMT_HEADER_SIZE), 0);
		blob_text(blob, n, stored, sizeof(stored));
		ck_assert_int_eq(node_link_decode(master, stored, strlen(stored), back, sizeof(back), &tlen),
				 node == FMT_NODE_SYMLINK ? 0 : -EPROTO);
		/* The same block relabelled as a target fails to authenticate. */
		blob[6] = FMT_NODE_SYMLINK;
		blob_text(blob, n, stored, sizeof(stored));
		ck_assert_int_eq(node_link_decode(master, stored, strlen(stored), back, sizeof(back), &tlen),
				 node == FMT_NODE_SYMLINK ? 0 : -EBADMSG);
	}
	/* A hole (all-zero block) would read as zeros in a file: here it is
	 * a forgery. */
	h.node = FMT_NODE_SYMLINK;
	fmt_header_encode(&h, blob);
	memset(blob + FMT_HEADER_SIZE, 0, n - FMT_HEADER_SIZE);
	blob_text(blob, n, stored, sizeof(stored));
	ck_assert_int_eq(node_link_decode(master, stored, strlen(stored), back, sizeof(back), &tlen), -EBADMSG);
	/* A header with no room for a byte of target: damaged. */
	blob_text(blob, FMT_HEADER_SIZE + fmt_block_overhead(c), stored, sizeof(stored));
	ck_assert_int_eq(node_link_peek(stored, strlen(stored), &d), -EBADMSG);
	/* Padding is not the encoder's spelling. */
	ck_assert_int_eq(node_link_encode(master, key_id, c, "/a", 2, stored, sizeof(stored)), 0);
	strcat(stored, "=");
	ck_assert_int_eq(node_link_peek(stored, strlen(stored), &d), -ENODATA);
	sodium_memzero(key, sizeof(key));
}
END_TEST

START_TEST(test_marker)
{
	int c = ciphers[_i];
	uint8_t m[NODE_MARKER_MAX], bad[NODE_MARKER_MAX + 1];
	struct fmt_header h;
	size_t n = node_marker_size(c);

	ck_assert_uint_eq(n, c == FMT_CIPHER_CHACHAPOLY ? 73 : 61);
	for (int node = FMT_NODE_FIFO; node <= FMT_NODE_SOCKET; node++) {
		ck_assert_int_eq(node_marker_encode(master, key_id, c, node, m), 0);
		ck_assert_int_eq(fmt_header_decode(&h, m, n), 0);
		ck_assert_uint_eq(h.node, node);
		ck_assert_int_eq(node_marker_verify(master, &h, m, n), 0);
		ck_assert_int_eq(node_marker_verify(other, &h, m, n), -EBADMSG);
		ck_assert_int_eq(node_marker_verify(master, &h, m, n - 1), -EINVAL);
		memcpy(bad, m, n);
		bad[n] = 0;
		ck_assert_int_eq(node_marker_verify(master, &h, bad, n + 1), -EINVAL);
		/* Every bit of it counts. */
		for (size_t i = 0; i < n * 8; i++) {
			struct fmt_header bh;

			memcpy(bad, m, n);
			bad[i / 8] ^= (uint8_t)(1u << (i % 8));
			REQ(fmt_header_decode(&bh, bad, n) != 0 || node_marker_verify(master, &bh, bad, n) != 0);
		}
		/* A FIFO's marker relabelled as a socket's, and back. */
		memcpy(bad, m, n);
		bad[6] = (uint8_t)(node == FMT_NODE_FIFO ? FMT_NODE_SOCKET : FMT_NODE_FIFO);
		ck_assert_int_eq(fmt_header_decode(&h, bad, n), 0);
		ck_assert_int_eq(node_marker_verify(master, &h, bad, n), -EBADMSG);
		/* All-zero block: a hole in a file, a forgery here. */
		memcpy(bad, m, n);
		memset(bad + FMT_HEADER_SIZE, 0, n - FMT_HEADER_SIZE);
		ck_assert_int_eq(fmt_header_decode(&h, bad, n), 0);
		ck_assert_int_eq(node_marker_verify(master, &h, bad, n), -EBADMSG);
	}
	ck_assert_int_eq(node_marker_encode(master, key_id, c, FMT_NODE_FILE, m), -EINVAL);
	ck_assert_int_eq(node_marker_encode(master, key_id, c, FMT_NODE_SYMLINK, m), -EINVAL);
}
END_TEST

/* ---- known answers (docs/FORMAT.md, "Test vectors") ------------------ */

#define KAT_SECRET  "jetcryptfs test vector secret"
#define KAT_FILE_ID "000102030405060708090a0b0c0d0e0f"
#define KAT_TARGET  "../stream/meta.inf"

static const struct kat {
	int cipher;
	const char *nonce, *link, *fifo;
} kats[] = {
	{ FMT_CIPHER_CHACHAPOLY, "404142434445464748494a4b4c4d4e4f5051525354555657",
	  "SkNGUwEBAQACZKGAgHzIpQABAgMEBQYHCAkKCwwNDg9AQUJDREVGR0hJSktMTU5PUFFSU1RVVlfND3dzJY56W9ZFqwnIJMpwtp"
	  "CwmKgCA4nouZYGeBIDDArW",
	  "4a434653010102000264a180807cc8a5000102030405060708090a0b0c0d0e0f"
	  "404142434445464748494a4b4c4d4e4f5051525354555657e19f9aad9e329cffbe22dc92a6fdd7e463" },
	{ FMT_CIPHER_AES, "606162636465666768696a6b",
	  "SkNGUwECAQACZKGAgHzIpQABAgMEBQYHCAkKCwwNDg9gYWJjZGVmZ2hpamtKVPWPMLSaNiYALOmd4oIo-o76TW-VvPE77ksDBz"
	  "RlR7xJ",
	  "4a434653010202000264a180807cc8a5000102030405060708090a0b0c0d0e0f"
	  "606162636465666768696a6b661ecf62934a0f25543c82510f219ae2ac" },
};

static char *read_doc(void)
{
	FILE *f = fopen(TESTDATA "/../../../docs/FORMAT.md", "r");
	static char buf[1 << 17];
	size_t n;

	ck_assert_msg(f != NULL, "docs/FORMAT.md not found");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

START_TEST(test_known_answers)
{
	const struct kat *k = &kats[_i];
	int c = k->cipher;
	uint8_t m[KDF_KEY_SIZE], id[FMT_KEY_ID_SIZE], fid[FMT_FILE_ID_SIZE], nonce[FMT_MAX_NONCE];
	uint8_t marker[NODE_MARKER_MAX], want[NODE_MARKER_MAX];
	char stored[NODE_LINK_STORED_MAX + 1], back[NODE_LINK_STORED_MAX + 1];
	struct fmt_header h;
	size_t tlen, n = node_marker_size(c);

	ck_assert_int_eq(kdf_master_key((const uint8_t *)KAT_SECRET, strlen(KAT_SECRET), m), 0);
	ck_assert_int_eq(kdf_key_id(m, id), 0);
	unhex(fid, KAT_FILE_ID, FMT_FILE_ID_SIZE);
	unhex(nonce, k->nonce, fmt_nonce_size(c));
	ck_assert_int_eq(node_link_encode_fixed(m, id, c, fid, nonce, KAT_TARGET, strlen(KAT_TARGET), stored,
						sizeof(stored)), 0);
	ck_assert_str_eq(stored, k->link);
	ck_assert_int_eq(node_link_decode(m, k->link, strlen(k->link), back, sizeof(back), &tlen), 0);
	ck_assert_str_eq(back, KAT_TARGET);
	ck_assert_int_eq(node_marker_encode_fixed(m, id, c, FMT_NODE_FIFO, fid, nonce, marker), 0);
	unhex(want, k->fifo, n);
	ck_assert_mem_eq(marker, want, n);
	ck_assert_int_eq(fmt_header_decode(&h, want, n), 0);
	ck_assert_int_eq(node_marker_verify(m, &h, want, n), 0);

	const char *doc = read_doc();
	ck_assert_msg(strstr(doc, k->link) != NULL, "docs/FORMAT.md lacks %s", k->link);
	ck_assert_msg(strstr(doc, k->fifo) != NULL, "docs/FORMAT.md lacks %s", k->fifo);
	ck_assert_msg(strstr(doc, KAT_TARGET) != NULL, "docs/FORMAT.md lacks %s", KAT_TARGET);
	sodium_memzero(m, sizeof(m));
}
END_TEST

static Suite *node_suite(void)
{
	Suite *s = suite_create("node");
	TCase *tc = tcase_create("node");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_link_roundtrip, 0, 2);
	tcase_add_loop_test(tc, test_link_tamper, 0, 2);
	tcase_add_loop_test(tc, test_link_foreign, 0, 2);
	tcase_add_loop_test(tc, test_marker, 0, 2);
	tcase_add_loop_test(tc, test_known_answers, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(node_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
