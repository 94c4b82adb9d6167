/*
 * Key loading shared by mount and the offline tools: the key-source
 * precedence of keyring_load (--key-env NAME, the config's key or tpm {}
 * block, then $JS_KEY) plus prev_key, with the TPM keys file unsealed here.
 * A new TPM key is created only when the caller allows it (mount) and the
 * store holds no data under another key, so a lost keys file never turns
 * into a silently new key. Passphrases are stretched here with the salt of
 * the store they are for (keyring_stretch), which is read from the store's
 * descriptor or salt file; a guessable one is refused unless allowed.
 */
#ifndef JCFS_STOREKEYS_H
#define JCFS_STOREKEYS_H

#include <stddef.h>

#include "config.h"
#include "keyring.h"

struct storekeys_opts {
	const char *key_env;            /* --key-env NAME, or NULL */
	const char *key_file;           /* --key-file PATH (a systemd credential), or NULL */
	const struct config *cfg;       /* the loaded -c FILE, or NULL */
	const char *backing;            /* the store the keys are for: its salt and key ids, TPM creation */
	int may_create;                 /* tpm: create a missing keys file for a fresh store */
	unsigned store_flags;           /* STORE_ADOPT, STORE_STRICT: what counts as fresh */
	int allow_weak;                 /* --allow-weak-key: a guessable key is only warned of */
	int migrate;                    /* rekey: move a store's unstretched passphrase on */
	const uint8_t *also_id;         /* a key id to take as the store's (cat: the file's), or NULL */
};

/* Fills *kr (keys[0] current, then prev_key), every key derived for the
 * store ko->backing (none: a passphrase gets a new salt, and so matches no
 * store). Logs warnings (a guessable key that is allowed or only a
 * prev_key, a store whose passphrase is not stretched yet, keys file
 * readable by others) and the creation of a TPM key. Returns 0 or an
 * error code (jcfs_err.h) with one line naming the problem in err:
 * JCFS_E_NO_KEY when no key is given; JCFS_E_USAGE for a key option that
 * is a usage error (an empty --key-file or --key-env name); JCFS_E_WEAK_KEY
 * when the current key looks guessable and allow_weak is not set;
 * JCFS_E_WRONG_KEY when no key matches the store's files and its
 * passphrase salt is gone (no descriptor, no salt file: err says what to
 * restore); JCFS_E_TPM_* from the TPM; the store's code (store.h) for a
 * descriptor that cannot be read or a store that refuses a fresh key;
 * else -errno. */
int storekeys_load(const struct storekeys_opts *ko, struct keyring **kr, char *err, size_t errlen);

/* The cipher for new files: --cipher NAME (option, may be NULL), else the
 * tpm { cipher }, else the config's cipher, else chachapoly. Returns
 * FMT_CIPHER_*, or -EINVAL for an unknown name. */
int storekeys_new_file_cipher(const char *option, const struct config *cfg);

#endif
