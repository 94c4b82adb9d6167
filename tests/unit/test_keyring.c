/*
 * Unit tests of the keyring: which secrets look guessable, how a text
 * secret is taken (a full-entropy key at once, a passphrase once its
 * store's salt is known), and keyring_stretch's choice between the
 * stretched and the unstretched derivation for what the store names.
 * Stores here use the smallest Argon2id limits, so that a test runs in
 * milliseconds; one test waits for the defaults, as a new store does.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kdf.h"
#include "keyring.h"

#define PASS "legacy fixture: amber walrus 42 juggles kites"
#define PASS2 "purple otters sing at dawn 9471"

static struct keyring *kr;

static void setup(void)
{
	ck_assert_int_eq(keyring_new(&kr), 0);
}

static void teardown(void)
{
	keyring_free(kr);
	kr = NULL;
}

static const char *weakness(const char *s)
{
	return keyring_secret_weakness((const uint8_t *)s, strlen(s));
}

START_TEST(test_weak)
{
	static const struct {
		const char *secret, *why;
	} weak[] = {
		{ "s3cr3t", "shorter than 16" },
		{ "mykey", "shorter than 16" },
		{ "fifteen chars!!", "shorter than 16" },
		{ "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1", "NATS documentation" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaa", "fewer than 8" },
		{ "abababababcdcdcdcdcdcdcd", "fewer than 8" },
		{ "abcdefghijklmnopqrst", "run" },
		{ "1234567890123456", "run" },
		{ "zyxwvutsrqponmlkji", "run" },
		{ "q7Zp2Lx9q7Zp2Lx9q7", "repeated" },
		{ "CorrectHorseBatteryStaple", "common passwords" },
		{ "correct horse battery staple", "common passwords" },
		{ "MyS3cr3tNatsKey2024!", "common passwords" },
		{ "passwordpassword", "fewer than 8" },
		{ "passwordletmein!", "common passwords" },
		{ "T0pS3cr3t-Jetstream-Key", "common passwords" },
		{ "nats-server-secret-key", "common passwords" },
		{ "2024!!ChangeMe_Admin_Password", "common passwords" },
		{ "qwertyuiopasdfghjkl", "common passwords" },
	};
	static const char *const strong[] = {
		PASS,
		PASS2,
		"Tr0ub4dor&3 is not a horse",
		"k9#Vq2!mZx7$Lp4@",
		"0pXb8ajYtOJ5aWdqKBTwMvDcUsi8o_IlBN2SR6KBVEw",  /* full-entropy: never weak */
	};

	for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
		const char *why = weakness(weak[i].secret);

		ck_assert_msg(why != NULL, "not weak: %s", weak[i].secret);
		ck_assert_msg(strstr(why, weak[i].why) != NULL, "%s: %s", weak[i].secret, why);
	}
	for (size_t i = 0; i < sizeof(strong) / sizeof(strong[0]); i++)
		ck_assert_msg(weakness(strong[i]) == NULL, "weak: %s: %s", strong[i], weakness(strong[i]));
	/* Short but full-entropy-looking is still short. */
	ck_assert_ptr_nonnull(weakness("0pXb8ajYtOJ5aWd"));
}
END_TEST

START_TEST(test_add)
{
	const char *full = "0pXb8ajYtOJ5aWdqKBTwMvDcUsi8o_IlBN2SR6KBVEw";
	uint8_t master[KDF_KEY_SIZE], id[FMT_KEY_ID_SIZE], zero[FMT_KEY_ID_SIZE] = { 0 };

	/* A full-entropy key is derived at once, as before passphrases were
	 * stretched; a passphrase waits, with no id, nowhere to be found. */
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)full, strlen(full)), 0);
	ck_assert_int_eq(kdf_master_key((const uint8_t *)full, strlen(full), master), 0);
	ck_assert_int_eq(kdf_key_id(master, id), 0);
	ck_assert_int_eq(kr->keys[0].kind, KEYRING_FULL);
	ck_assert_mem_eq(kr->keys[0].master, master, KDF_KEY_SIZE);
	ck_assert_ptr_eq(keyring_find(kr, id), &kr->keys[0]);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), 0);
	ck_assert_int_eq(kr->keys[1].kind, KEYRING_PENDING);
	ck_assert_ptr_null(keyring_find(kr, zero));
	ck_assert_ptr_null(kr->keys[1].weak);
	/* The same secret twice, either kind. */
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)full, strlen(full)), -EEXIST);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), -EEXIST);
	/* Raw bytes are full-entropy whatever they look like. */
	ck_assert_int_eq(keyring_add_raw(kr, (const uint8_t *)"s3cr3t", 6), 0);
	ck_assert_int_eq(kr->keys[2].kind, KEYRING_FULL);
	ck_assert_ptr_null(kr->keys[2].weak);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)"s3cr3t", 6), 0);
	ck_assert_ptr_nonnull(kr->keys[3].weak);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS2, strlen(PASS2)), -ENOSPC);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)"", 0), -EINVAL);
	ck_assert_uint_eq(kr->n, 4);
}
END_TEST

/* Small limits and a fixed salt: a store with a salt. */
static const struct kdf_params small = {
	.ops = 1, .mem_kib = KDF_MEM_KIB_MIN,
	.salt = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 },
};

static void ids_of(const char *secret, const struct kdf_params *p, uint8_t legacy[FMT_KEY_ID_SIZE],
		   uint8_t stretched[FMT_KEY_ID_SIZE])
{
	uint8_t m[KDF_KEY_SIZE];

	ck_assert_int_eq(kdf_master_key((const uint8_t *)secret, strlen(secret), m), 0);
	ck_assert_int_eq(kdf_key_id(m, legacy), 0);
	if (p) {
		ck_assert_int_eq(kdf_master_key_stretched((const uint8_t *)secret, strlen(secret), p, m), 0);
		ck_assert_int_eq(kdf_key_id(m, stretched), 0);
	}
}

START_TEST(test_stretch_with_store_salt)
{
	struct keyring_store ks = { .has_kdf = 1, .kdf = small };
	uint8_t legacy[FMT_KEY_ID_SIZE], want[FMT_KEY_ID_SIZE];

	ids_of(PASS, &small, legacy, want);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), 0);
	ck_assert_int_eq(keyring_stretch(kr, &ks, 0), 0);
	ck_assert_int_eq(kr->keys[0].kind, KEYRING_STRETCHED);
	ck_assert_mem_eq(kr->keys[0].id, want, FMT_KEY_ID_SIZE);
	ck_assert_ptr_null(kr->keys[0].secret);
	ck_assert_int_eq(kr->has_kdf, 1);
	ck_assert_int_eq(kr->kdf_new, 0);
	ck_assert_mem_eq(&kr->kdf, &small, sizeof(small));
	ck_assert_uint_eq(kr->n, 1);
	ck_assert_int_eq(keyring_has_legacy(kr), 0);
	ck_assert(memcmp(want, legacy, FMT_KEY_ID_SIZE) != 0);
}
END_TEST

START_TEST(test_stretch_legacy_store)
{
	uint8_t legacy[FMT_KEY_ID_SIZE];
	struct keyring_store ks = { .nids = 1, .ids = &legacy };

	/* A store without a salt that names the unstretched id: kept so. */
	ids_of(PASS, NULL, legacy, NULL);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), 0);
	ck_assert_int_eq(keyring_stretch(kr, &ks, 0), 0);
	ck_assert_int_eq(kr->keys[0].kind, KEYRING_LEGACY);
	ck_assert_mem_eq(kr->keys[0].id, legacy, FMT_KEY_ID_SIZE);
	ck_assert_int_eq(kr->has_kdf, 0);
	ck_assert_uint_eq(kr->twin, 0);
	ck_assert_int_eq(keyring_has_legacy(kr), 1);
}
END_TEST

/* rekey's move: a new salt with the default limits (the one test that
 * waits for them), and the unstretched twin behind, for the old files. */
START_TEST(test_stretch_migrate)
{
	uint8_t legacy[FMT_KEY_ID_SIZE], want[FMT_KEY_ID_SIZE];
	struct keyring_store ks = { .nids = 1, .ids = &legacy };

	ids_of(PASS, NULL, legacy, NULL);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), 0);
	ck_assert_int_eq(keyring_stretch(kr, &ks, 1), 0);
	ck_assert_int_eq(kr->has_kdf, 1);
	ck_assert_int_eq(kr->kdf_new, 1);
	ck_assert_uint_eq(kr->kdf.ops, KDF_OPS_DEFAULT);
	ck_assert_uint_eq(kr->kdf.mem_kib, KDF_MEM_KIB_DEFAULT);
	ids_of(PASS, &kr->kdf, legacy, want);
	ck_assert_int_eq(kr->keys[0].kind, KEYRING_STRETCHED);
	ck_assert_mem_eq(kr->keys[0].id, want, FMT_KEY_ID_SIZE);
	ck_assert_uint_eq(kr->n, 2);
	ck_assert_uint_eq(kr->twin, 1);
	ck_assert_int_eq(kr->keys[1].kind, KEYRING_LEGACY);
	ck_assert_mem_eq(kr->keys[1].id, legacy, FMT_KEY_ID_SIZE);
}
END_TEST

/* A store with a salt never takes a passphrase unstretched as its
 * current key, even when it names the unstretched id (an old descriptor
 * put back): stretched, with the twin behind. A prev_key it names as
 * retired is taken unstretched. */
START_TEST(test_stretch_salted_store_names_legacy)
{
	uint8_t ids[2][FMT_KEY_ID_SIZE], want[FMT_KEY_ID_SIZE];
	struct keyring_store ks = { .has_kdf = 1, .kdf = small, .nids = 2, .ids = ids };

	ids_of(PASS, &small, ids[0], want);
	ids_of(PASS2, NULL, ids[1], NULL);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), 0);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS2, strlen(PASS2)), 0);
	ck_assert_int_eq(keyring_stretch(kr, &ks, 0), 0);
	ck_assert_uint_eq(kr->n, 3);
	ck_assert_int_eq(kr->keys[0].kind, KEYRING_STRETCHED);
	ck_assert_mem_eq(kr->keys[0].id, want, FMT_KEY_ID_SIZE);
	ck_assert_int_eq(kr->keys[1].kind, KEYRING_LEGACY);
	ck_assert_mem_eq(kr->keys[1].id, ids[1], FMT_KEY_ID_SIZE);
	ck_assert_uint_eq(kr->twin, 2);
	ck_assert_mem_eq(kr->keys[2].id, ids[0], FMT_KEY_ID_SIZE);
	ck_assert_int_eq(kr->kdf_new, 0);
}
END_TEST

/* A previous passphrase that a store without a salt does not name gets
 * no salt made for it: it only reads, and matches nothing anyway. */
START_TEST(test_stretch_prev_no_salt)
{
	const char *full = "0pXb8ajYtOJ5aWdqKBTwMvDcUsi8o_IlBN2SR6KBVEw";
	uint8_t legacy[FMT_KEY_ID_SIZE];
	struct keyring_store ks = { .nids = 1, .ids = &kr->keys[0].id };

	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)full, strlen(full)), 0);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), 0);
	ck_assert_int_eq(keyring_stretch(kr, &ks, 0), 0);
	ck_assert_int_eq(kr->has_kdf, 0);
	ck_assert_int_eq(kr->kdf_new, 0);
	ids_of(PASS, NULL, legacy, NULL);
	ck_assert_int_eq(kr->keys[1].kind, KEYRING_LEGACY);
	ck_assert_mem_eq(kr->keys[1].id, legacy, FMT_KEY_ID_SIZE);
	ck_assert_uint_eq(kr->n, 2);
}
END_TEST

/* The current passphrase of a store without a salt (a new store) gets a
 * new one, and a previous passphrase is stretched with it too. */
START_TEST(test_stretch_new_salt_shared)
{
	uint8_t legacy[FMT_KEY_ID_SIZE], want[FMT_KEY_ID_SIZE];

	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), 0);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS2, strlen(PASS2)), 0);
	ck_assert_int_eq(keyring_stretch(kr, NULL, 0), 0);
	ck_assert_int_eq(kr->has_kdf, 1);
	ck_assert_int_eq(kr->kdf_new, 1);
	ck_assert_int_eq(kr->keys[0].kind, KEYRING_STRETCHED);
	ck_assert_int_eq(kr->keys[1].kind, KEYRING_STRETCHED);
	ids_of(PASS2, &kr->kdf, legacy, want);
	ck_assert_mem_eq(kr->keys[1].id, want, FMT_KEY_ID_SIZE);
}
END_TEST

START_TEST(test_stretch_errors)
{
	uint8_t legacy[FMT_KEY_ID_SIZE];
	struct keyring_store ks = { .has_kdf = 1, .kdf = small, .nids = 1, .ids = &legacy };
	const char *more[] = { "another passphrase 1", "another passphrase 2", "another passphrase 3" };

	/* No room for the twin. */
	ids_of(PASS, NULL, legacy, NULL);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(keyring_add_raw(kr, (const uint8_t *)more[i], strlen(more[i])), 0);
	ck_assert_int_eq(keyring_stretch(kr, &ks, 0), -ENOSPC);
	keyring_free(kr);
	/* Limits out of bounds are no store of this version's. */
	ck_assert_int_eq(keyring_new(&kr), 0);
	ck_assert_int_eq(keyring_add_secret(kr, (const uint8_t *)PASS, strlen(PASS)), 0);
	ks.nids = 0;
	ks.kdf.mem_kib = KDF_MEM_KIB_MAX + 1;
	ck_assert_int_eq(keyring_stretch(kr, &ks, 0), -EINVAL);
	ck_assert_int_eq(kr->keys[0].kind, KEYRING_PENDING);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keyring");
	TCase *tc = tcase_create("keyring");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_weak);
	tcase_add_test(tc, test_add);
	tcase_add_test(tc, test_stretch_with_store_salt);
	tcase_add_test(tc, test_stretch_legacy_store);
	tcase_add_test(tc, test_stretch_migrate);
	tcase_add_test(tc, test_stretch_salted_store_names_legacy);
	tcase_add_test(tc, test_stretch_prev_no_salt);
	tcase_add_test(tc, test_stretch_new_salt_shared);
	tcase_add_test(tc, test_stretch_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
