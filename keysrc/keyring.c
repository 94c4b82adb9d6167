/*
 * Key sources and the keyring. Secrets from the environment or the config
 * are input keying material: a full-entropy key becomes a master key
 * through HKDF (kdf.h) the moment it is read; a passphrase waits in locked
 * memory for its store's salt and is then stretched (keyring_stretch). The
 * copies of the secret are wiped either way. The guessable-secret check
 * lives here too, since it is about what key sources deliver.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyring.h"

/* The longest passphrase the word check reads: a longer one is no list
 * of common words anyone types. */
#define KEYS_WORDS_MAX 256

int keyring_new(struct keyring **kr)
{
	struct keyring *k;

	if (sodium_init() < 0)
		return -EIO;
	k = sodium_malloc(sizeof(*k));
	if (!k)
		return -ENOMEM;
	sodium_memzero(k, sizeof(*k));
	*kr = k;
	return 0;
}

/* Appends a key of the given kind; a passphrase is copied to wait for
 * keyring_stretch, anything else is derived now. */
static int keyring_append(struct keyring *kr, const uint8_t *secret, size_t len, int kind)
{
	struct keyring_key *k;
	int rc = 0;

	if (secret == NULL || len == 0)
		return -EINVAL;
	if (kr->n >= KEYRING_MAX)
		return -ENOSPC;
	k = &kr->keys[kr->n];
	if (kind == KEYRING_PENDING) {
		k->secret = sodium_malloc(len);
		if (!k->secret)
			return -ENOMEM;
		memcpy(k->secret, secret, len);
		k->secret_len = len;
		k->weak = keyring_secret_weakness(secret, len);
	} else {
		rc = kdf_master_key(secret, len, k->master);
		if (rc == 0)
			rc = kdf_key_id(k->master, k->id);
	}
	k->kind = kind;
	for (size_t i = 0; rc == 0 && i < kr->n; i++) {
		const struct keyring_key *o = &kr->keys[i];

		if (kind == KEYRING_PENDING ? o->kind == KEYRING_PENDING && o->secret_len == len &&
					      sodium_memcmp(o->secret, secret, len) == 0
					    : o->kind == KEYRING_FULL &&
					      sodium_memcmp(o->master, k->master, KDF_KEY_SIZE) == 0)
			rc = -EEXIST;
	}
	if (rc < 0) {
		if (k->secret)
			sodium_free(k->secret);
		sodium_memzero(k, sizeof(*k));
		return rc;
	}
	kr->n++;
	return 0;
}

int keyring_add_secret(struct keyring *kr, const uint8_t *secret, size_t len)
{
	return keyring_append(kr, secret, len,
			      kdf_secret_is_full_entropy(secret, len) ? KEYRING_FULL : KEYRING_PENDING);
}

int keyring_add_raw(struct keyring *kr, const uint8_t *key, size_t len)
{
	return keyring_append(kr, key, len, KEYRING_FULL);
}

const struct keyring_key *keyring_find(const struct keyring *kr, const uint8_t id[FMT_KEY_ID_SIZE])
{
	for (size_t i = 0; i < kr->n; i++)
		if (kr->keys[i].kind != KEYRING_PENDING && memcmp(kr->keys[i].id, id, FMT_KEY_ID_SIZE) == 0)
			return &kr->keys[i];
	return NULL;
}

void keyring_free(struct keyring *kr)
{
	if (!kr)
		return;
	for (size_t i = 0; i < kr->n; i++)
		if (kr->keys[i].secret)
			sodium_free(kr->keys[i].secret);
	sodium_free(kr);        /* wipes */
}

int keyring_has_legacy(const struct keyring *kr)
{
	for (size_t i = 0; i < kr->n; i++)
		if (kr->keys[i].kind == KEYRING_LEGACY)
			return 1;
	return 0;
}

/* ---- stretching ---- */

static int store_names(const struct keyring_store *ks, const uint8_t id[FMT_KEY_ID_SIZE])
{
	for (size_t i = 0; i < ks->nids; i++)
		if (memcmp(ks->ids[i], id, FMT_KEY_ID_SIZE) == 0)
			return 1;
	return 0;
}

/* Derives pending key i (keyring_stretch says how). */
static int stretch_one(struct keyring *kr, size_t i, const struct keyring_store *ks, int migrate)
{
	struct keyring_key *k = &kr->keys[i];
	uint8_t legacy[KDF_KEY_SIZE], lid[FMT_KEY_ID_SIZE];
	int rc, named;

	rc = kdf_master_key(k->secret, k->secret_len, legacy);
	if (rc == 0)
		rc = kdf_key_id(legacy, lid);
	if (rc < 0)
		goto out;
	named = store_names(ks, lid);
	/* A previous key of a store without a salt reads only what is under
	 * its unstretched id: no salt is made for a key that writes nothing
	 * (it would be kept without need, and end the store's old ways). */
	if ((named && (i > 0 || (!ks->has_kdf && !migrate))) || (i > 0 && !kr->has_kdf)) {
		memcpy(k->master, legacy, KDF_KEY_SIZE);
		memcpy(k->id, lid, FMT_KEY_ID_SIZE);
		k->kind = KEYRING_LEGACY;
		goto out;
	}
	if (named) {
		struct keyring_key *old;

		if (kr->n >= KEYRING_MAX) {
			rc = -ENOSPC;
			goto out;
		}
		old = &kr->keys[kr->n++];
		memcpy(old->master, legacy, KDF_KEY_SIZE);
		memcpy(old->id, lid, FMT_KEY_ID_SIZE);
		old->kind = KEYRING_LEGACY;
		old->weak = k->weak;
		kr->twin = kr->n - 1;
	}
	if (!kr->has_kdf) {
		kdf_params_new(&kr->kdf);
		kr->has_kdf = kr->kdf_new = 1;
	}
	rc = kdf_master_key_stretched(k->secret, k->secret_len, &kr->kdf, k->master);
	if (rc == 0)
		rc = kdf_key_id(k->master, k->id);
	if (rc == 0)
		k->kind = KEYRING_STRETCHED;
out:
	sodium_memzero(legacy, sizeof(legacy));
	if (rc == 0) {
		sodium_free(k->secret);
		k->secret = NULL;
		k->secret_len = 0;
	}
	return rc;
}

int keyring_stretch(struct keyring *kr, const struct keyring_store *ks, int migrate)
{
	static const struct keyring_store none;
	size_t n = kr->n;       /* an unstretched twin of keys[0] goes after these */
	int rc;

	if (!ks)
		ks = &none;
	if (ks->has_kdf && !kr->has_kdf) {
		if (!kdf_params_valid(&ks->kdf))
			return -EINVAL;
		kr->kdf = ks->kdf;
		kr->has_kdf = 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (kr->keys[i].kind != KEYRING_PENDING)
			continue;
		rc = stretch_one(kr, i, ks, migrate);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- guessable secrets ---- */

/* Example keys printed in the NATS documentation, which a reader may have
 * copied as they are. */
static const char *const doc_keys[] = {
	"6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1",
};

/* Words of common passwords, of the NATS and jetcryptfs documentation
 * ("s3cr3t", "mykey") and of the best-known passphrase of all. A
 * passphrase made of these alone is guessed among the first millions. */
static const char *const weak_words[] = {
	"password", "passwd", "pass", "pwd", "pw", "secret", "secrets", "letmein", "welcome",
	"admin", "administrator", "root", "login", "master", "guest", "user", "qwerty", "qwertz",
	"azerty", "qwertyuiop", "asdf", "asdfgh", "asdfghjkl", "zxcv", "zxcvbnm", "qazwsx",
	"iloveyou", "love", "monkey", "dragon", "shadow", "sunshine", "princess", "football",
	"baseball", "superman", "batman", "starwars", "whatever", "hello", "world", "abc", "xyz",
	"test", "testing", "demo", "example", "sample", "default", "change", "changeme", "changeit",
	"private", "public", "key", "keys", "mykey", "my", "our", "the", "top", "super", "very",
	"strong", "safe", "secure", "nats", "jetstream", "stream", "server", "store", "data",
	"cluster", "encryption", "encrypt", "crypt", "crypto", "jetcryptfs", "cipher", "chacha",
	"chachapoly", "aes", "js", "prod", "production", "dev", "staging", "correct", "horse",
	"battery", "staple", "one", "two", "three", "trust", "no", "not", "this", "is",
};

/* Lowercase, with the digits and symbols that stand in for letters in
 * "s3cr3t" or "p@ssw0rd" read as those letters; 0 for anything else. */
static char fold(uint8_t c)
{
	static const char from[] = "0134578@$!", to[] = "oieastbasi";
	const char *p;

	if (c >= 'A' && c <= 'Z')
		return (char)(c | 0x20);
	if (c >= 'a' && c <= 'z')
		return (char)c;
	p = c ? strchr(from, c) : NULL;
	return p ? to[p - from] : 0;
}

static int is_letter(uint8_t c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* 1 if the secret, as fold() reads it, is only words of the list. */
static int made_of_words(const uint8_t *s, size_t len)
{
	size_t a = 0, b = len, n = 0;
	char w[KEYS_WORDS_MAX + 1];
	unsigned char ok[KEYS_WORDS_MAX + 1];

	/* Digits and symbols around the words ("Password2024!") say nothing. */
	while (a < b && !is_letter(s[a]))
		a++;
	while (b > a && !is_letter(s[b - 1]))
		b--;
	for (size_t i = a; i < b; i++) {
		char c = fold(s[i]);

		if (!c)
			continue;       /* a separator */
		if (n == KEYS_WORDS_MAX)
			return 0;       /* too long to be only these words */
		w[n++] = c;
	}
	if (n == 0)
		return 0;
	/* ok[j]: the first j letters split into words of the list. */
	memset(ok, 0, sizeof(ok));
	ok[0] = 1;
	for (size_t j = 1; j <= n; j++) {
		for (size_t k = 0; !ok[j] && k < sizeof(weak_words) / sizeof(weak_words[0]); k++) {
			size_t l = strlen(weak_words[k]);

			ok[j] = l <= j && ok[j - l] && memcmp(w + j - l, weak_words[k], l) == 0;
		}
	}
	return ok[n];
}

/* A unit repeated ("abcabc...") or mostly runs of neighbours ("abcd",
 * "4321", "aaaa"): at least half of the neighbouring pairs equal or one
 * apart. */
static int patterned(const uint8_t *s, size_t len)
{
	size_t runs = 0;

	for (size_t i = 1; i < len; i++)
		if (s[i] + 1 >= s[i - 1] && s[i] <= s[i - 1] + 1)
			runs++;
	if (2 * runs >= len - 1)
		return 1;
	for (size_t period = 1; period <= len / 2; period++)
		if (memcmp(s, s + period, len - period) == 0)
			return 1;
	return 0;
}

const char *keyring_secret_weakness(const uint8_t *secret, size_t len)
{
	int seen[256] = { 0 };
	size_t distinct = 0;

	if (kdf_secret_is_full_entropy(secret, len))
		return NULL;
	for (size_t i = 0; i < sizeof(doc_keys) / sizeof(doc_keys[0]); i++)
		if (len == strlen(doc_keys[i]) && memcmp(secret, doc_keys[i], len) == 0)
			return "it is the example key of the NATS documentation";
	if (len < KEYRING_WEAK_MIN_LEN)
		return "it is shorter than 16 characters";
	for (size_t i = 0; i < len; i++)
		if (!seen[secret[i]]++)
			distinct++;
	if (distinct < 8)
		return "it has fewer than 8 different characters";
	if (patterned(secret, len))
		return "it is a repeated pattern or a run such as abcd or 4321";
	if (made_of_words(secret, len))
		return "it is made of common passwords or example words";
	return NULL;
}

/* Reads $name, adds it to the ring and removes it from the environment,
 * so the daemon's /proc/PID/environ never shows it. */
static int keyring_add_env(struct keyring *kr, const char *name, char *err, size_t errlen)
{
	const char *v = getenv(name);
	int rc;

	if (!v || !*v) {
		snprintf(err, errlen, "no key given: $%s is not set or empty", name);
		return JCFS_E_NO_KEY;
	}
	rc = keyring_add_secret(kr, (const uint8_t *)v, strlen(v));
	/* getenv's string is the environ entry itself: wipe it in place. */
	sodium_memzero((void *)v, strlen(v));
	unsetenv(name);
	if (rc < 0)
		snprintf(err, errlen, "$%s: cannot derive a key: %s", name, strerror(-rc));
	return rc;
}

int keyring_load(const char *key_env, const struct config *cfg, struct keyring **out,
		 enum keyring_source *src, char *err, size_t errlen)
{
	struct keyring *kr;
	int rc;

	*src = KEYRING_SRC_NONE;
	rc = keyring_new(&kr);
	if (rc < 0) {
		snprintf(err, errlen, "cannot allocate locked memory for keys: %s", strerror(-rc));
		return rc;
	}

	if (key_env) {
		rc = keyring_add_env(kr, key_env, err, errlen);
		*src = KEYRING_SRC_ENV;
	} else if (cfg && cfg->key) {
		rc = keyring_add_secret(kr, (const uint8_t *)cfg->key, strlen(cfg->key));
		if (rc < 0)
			snprintf(err, errlen, "%s: key: cannot derive a key: %s", cfg->path, strerror(-rc));
		*src = KEYRING_SRC_CONFIG;
	} else if (cfg && cfg->tpm.present) {
		*src = KEYRING_SRC_TPM;
	} else if (getenv(KEYRING_DEFAULT_ENV)) {
		rc = keyring_add_env(kr, KEYRING_DEFAULT_ENV, err, errlen);
		*src = KEYRING_SRC_ENV;
	} else {
		snprintf(err, errlen, "no key given: set $%s, use --key-env NAME, or put key or tpm {} in the config's jetstream block",
			 KEYRING_DEFAULT_ENV);
		rc = JCFS_E_NO_KEY;
	}
	/* Whatever the source, the default variable never stays behind. */
	if (getenv(KEYRING_DEFAULT_ENV)) {
		char *v = getenv(KEYRING_DEFAULT_ENV);

		sodium_memzero(v, strlen(v));
		unsetenv(KEYRING_DEFAULT_ENV);
	}
	if (rc == 0 && cfg && cfg->prev_key && *src != KEYRING_SRC_TPM) {
		rc = keyring_add_secret(kr, (const uint8_t *)cfg->prev_key, strlen(cfg->prev_key));
		if (rc == -EEXIST)
			rc = 0;         /* prev_key equal to key: nothing to add */
		else if (rc < 0)
			snprintf(err, errlen, "%s: prev_key: cannot derive a key: %s", cfg->path, strerror(-rc));
	}
	if (rc < 0) {
		keyring_free(kr);
		return rc;
	}
	*out = kr;
	return 0;
}
