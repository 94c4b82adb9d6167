/*
 * Key sources and the keyring. Secrets from the environment or the config
 * are input keying material: each becomes a master key through HKDF
 * (kdf.h) the moment it is read, and the copies of the secret are wiped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyring.h"

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

int keyring_add_secret(struct keyring *kr, const uint8_t *secret, size_t len)
{
	struct keyring_key *k;
	int rc;

	if (kr->n >= KEYRING_MAX)
		return -ENOSPC;
	k = &kr->keys[kr->n];
	rc = kdf_master_key(secret, len, k->master);
	if (rc == 0)
		rc = kdf_key_id(k->master, k->id);
	if (rc == 0) {
		for (size_t i = 0; i < kr->n; i++) {
			if (sodium_memcmp(kr->keys[i].master, k->master, KDF_KEY_SIZE) == 0) {
				rc = -EEXIST;
				break;
			}
		}
	}
	if (rc < 0) {
		sodium_memzero(k, sizeof(*k));
		return rc;
	}
	if (keyring_secret_is_weak(secret, len))
		kr->weak = 1;
	kr->n++;
	return 0;
}

const struct keyring_key *keyring_find(const struct keyring *kr, const uint8_t id[FMT_KEY_ID_SIZE])
{
	for (size_t i = 0; i < kr->n; i++)
		if (memcmp(kr->keys[i].id, id, FMT_KEY_ID_SIZE) == 0)
			return &kr->keys[i];
	return NULL;
}

void keyring_free(struct keyring *kr)
{
	if (kr)
		sodium_free(kr);        /* wipes */
}

int keyring_secret_is_weak(const uint8_t *secret, size_t len)
{
	int seen[256] = { 0 };
	size_t distinct = 0;

	for (size_t i = 0; i < len; i++)
		if (!seen[secret[i]]++)
			distinct++;
	return len < 16 || distinct < 8;
}

/* Reads $name, adds it to the ring and removes it from the environment,
 * so the daemon's /proc/PID/environ never shows it. */
static int keyring_add_env(struct keyring *kr, const char *name, char *err, size_t errlen)
{
	const char *v = getenv(name);
	int rc;

	if (!v || !*v) {
		snprintf(err, errlen, "no key given: $%s is not set or empty", name);
		return -ENOKEY;
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
		rc = -ENOKEY;
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
