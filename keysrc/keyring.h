/*
 * A keyring: the current master key (used for new files) and the
 * previous ones (prev_key; read-only), each with its key id. The ring
 * lives in one sodium_malloc'd (locked, guarded) allocation and is wiped
 * when freed. keyring_load() applies the key-source precedence:
 * --key-env NAME, then the config's key, then $JS_KEY.
 *
 * A full-entropy key (kdf_secret_is_full_entropy, or the raw bytes a TPM
 * unseals) becomes its master key at once. A passphrase needs its store's
 * salt, which the caller reads from the store: until keyring_stretch() it
 * waits on the ring (in sodium_malloc'd memory of its own) with no key id.
 * A store made before passphrases were stretched is told by its key ids:
 * a passphrase whose old, unstretched derivation (kdf_master_key) names a
 * key id of the store keeps that derivation (KEYRING_LEGACY).
 */
#ifndef JCFS_KEYRING_H
#define JCFS_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "format.h"
#include "jcfs_err.h"
#include "kdf.h"

#define KEYRING_MAX 4
#define KEYRING_DEFAULT_ENV "JS_KEY"

/* How a key's master key was derived. */
enum keyring_kind {
	KEYRING_PENDING = 0,            /* a passphrase waiting for keyring_stretch */
	KEYRING_FULL,                   /* full-entropy key: HKDF */
	KEYRING_STRETCHED,              /* passphrase: Argon2id, then HKDF */
	KEYRING_LEGACY,                 /* passphrase of an old store: HKDF alone */
};

struct keyring_key {
	uint8_t master[KDF_KEY_SIZE];
	uint8_t id[FMT_KEY_ID_SIZE];
	int kind;                       /* enum keyring_kind */
	const char *weak;               /* why the secret looks guessable, or NULL */
	uint8_t *secret;                /* KEYRING_PENDING: the passphrase (sodium_malloc) */
	size_t secret_len;
};

struct keyring {
	size_t n;                       /* keys[0] is current */
	/* The store's passphrase salt and limits, when it has or gets one:
	 * written into its descriptor and salt file. kdf_new: made by
	 * keyring_stretch for a store that had none. */
	int has_kdf, kdf_new;
	struct kdf_params kdf;
	/* keys[twin]: the unstretched form of keys[0], which keyring_stretch
	 * put on the ring for the files still under it; 0 if none. */
	size_t twin;
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
/* Appends a secret as the key sources give it (text): a full-entropy key
 * is derived now, a passphrase waits for keyring_stretch. -ENOSPC when
 * full; -EEXIST if the same secret is already on the ring. */
int keyring_add_secret(struct keyring *kr, const uint8_t *secret, size_t len);
/* Appends raw key bytes that are full-entropy by where they come from
 * (a TPM-sealed random key), whatever they look like. */
int keyring_add_raw(struct keyring *kr, const uint8_t *key, size_t len);
/* The key with that id, or NULL. Pending keys have no id yet. */
const struct keyring_key *keyring_find(const struct keyring *kr, const uint8_t id[FMT_KEY_ID_SIZE]);
void keyring_free(struct keyring *kr);

/* What the store says about its keys, read without a key. */
struct keyring_store {
	int has_kdf;                    /* the store has a salt (descriptor or salt file) */
	struct kdf_params kdf;
	size_t nids;                    /* key ids the store names: its descriptor's */
	const uint8_t (*ids)[FMT_KEY_ID_SIZE];  /* (current and retired), else its headers' */
};

/* Derives every pending passphrase of kr for the store ks (NULL: none
 * known). A passphrase whose unstretched derivation names one of the
 * store's key ids keeps it, as the current key only while the store has
 * no salt and migrate is 0; otherwise a passphrase is stretched under the
 * store's salt, or for the current key a new one (kr->kdf_new) -- and the
 * current key's unstretched derivation, when the store names it, follows
 * the others as a previous key, so that the store's files under it stay
 * readable until rekey has moved them. A previous key when there is no
 * salt at all is derived unstretched: it matches nothing the store names.
 * kr->kdf is the store's whenever it has one.
 * Returns 0; -EINVAL if the store's limits are out of bounds; -ENOSPC
 * when the ring has no room for that extra key; -ENOMEM; -EIO. */
int keyring_stretch(struct keyring *kr, const struct keyring_store *ks, int migrate);
/* 1 if any key of kr is KEYRING_LEGACY. */
int keyring_has_legacy(const struct keyring *kr);

/* Why a secret looks guessable, or NULL: a passphrase shorter than
 * KEYRING_WEAK_MIN_LEN bytes, with fewer than 8 distinct bytes, a
 * repeated unit or mostly runs ("abcd", "4321"), a key printed in the NATS
 * documentation, or one made only of words from a small built-in list of
 * common passwords and example words (ignoring case, the usual digits for
 * letters, separators, and digits or symbols at either end). A
 * full-entropy key is never weak. */
#define KEYRING_WEAK_MIN_LEN 16
const char *keyring_secret_weakness(const uint8_t *secret, size_t len);

/* Applies the precedence above and adds prev_key from cfg (may be NULL).
 * key_env is the --key-env name or NULL. Removes $JS_KEY and $key_env from
 * the environment once read. Returns 0, JCFS_E_NO_KEY with a message in
 * err when no key is given, or another -errno. A TPM block in cfg is not handled
 * here: *src is set to KEYRING_SRC_TPM and the ring is left for the caller
 * to fill (it alone knows whether a new key may be created). */
int keyring_load(const char *key_env, const struct config *cfg, struct keyring **kr,
		 enum keyring_source *src, char *err, size_t errlen);

#endif
