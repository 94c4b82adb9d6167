/*
 * A keyring: the current master key (used for new files) and the
 * previous ones (prev_key; read-only), each with its key id. The whole
 * ring lives in one sodium_malloc'd (locked, guarded) allocation and is
 * wiped when freed. keyring_load() applies the key-source precedence:
 * --key-env NAME, then the config's key, then $JS_KEY.
 */
#ifndef JCFS_KEYRING_H
#define JCFS_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "format.h"
#include "kdf.h"

#define KEYRING_MAX 4
#define KEYRING_DEFAULT_ENV "JS_KEY"

struct keyring_key {
	uint8_t master[KDF_KEY_SIZE];
	uint8_t id[FMT_KEY_ID_SIZE];
};

struct keyring {
	size_t n;                       /* keys[0] is current */
	int weak;                       /* a secret looked guessable */
	struct keyring_key keys[KEYRING_MAX];
};

/* Where the secret came from, for messages. */
enum keyring_source {
	KEYRING_SRC_NONE,
	KEYRING_SRC_ENV,
	KEYRING_SRC_CONFIG,
	KEYRING_SRC_TPM,
};

int keyring_new(struct keyring **kr);
/* Derives a master key and key id from secret and appends it. -ENOSPC when
 * full; -EEXIST if the same key is already on the ring. */
int keyring_add_secret(struct keyring *kr, const uint8_t *secret, size_t len);
/* The key with that id, or NULL. */
const struct keyring_key *keyring_find(const struct keyring *kr, const uint8_t id[FMT_KEY_ID_SIZE]);
void keyring_free(struct keyring *kr);

/* 1 if the secret looks guessable (short, or few distinct bytes). */
int keyring_secret_is_weak(const uint8_t *secret, size_t len);

/* Applies the precedence above and adds prev_key from cfg (may be NULL).
 * key_env is the --key-env name or NULL. Removes $JS_KEY and $key_env from
 * the environment once read. Returns 0, -ENOKEY with a message in err when
 * no key is given, or another -errno. A TPM block in cfg is not handled
 * here: *src is set to KEYRING_SRC_TPM and the ring is left for the caller
 * to fill (it alone knows whether a new key may be created). */
int keyring_load(const char *key_env, const struct config *cfg, struct keyring **kr,
		 enum keyring_source *src, char *err, size_t errlen);

#endif
