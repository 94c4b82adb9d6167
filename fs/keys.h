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
#ifndef JCFS_KEYS_H
#define JCFS_KEYS_H

#include <stddef.h>

#include "config.h"
#include "keyring.h"

struct key_opts {
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

/* A TPM error n (10..19, enum tpm_status) as keys_load returns it: outside
 * the errno range so that it cannot be mistaken for one. */
#define KEYS_TPM_BASE 4096
#define KEYS_E_TPM(n) (-(KEYS_TPM_BASE + (n)))
/* A key option that is a usage error (an empty --key-file or --key-env
 * name): exit status 2, as for the rest of the command line. */
#define KEYS_E_USAGE (-(KEYS_TPM_BASE + 2))
/* The current key looks guessable and allow_weak is not set: exit 20. */
#define KEYS_E_WEAK (-(KEYS_TPM_BASE + 3))
/* No key matches the store's files and its passphrase salt is gone (no
 * descriptor, no salt file): exit 4, with what to restore in err. */
#define KEYS_E_NO_SALT (-(KEYS_TPM_BASE + 4))

/* Fills *kr (keys[0] current, then prev_key), every key derived for the
 * store ko->backing (none: a passphrase gets a new salt, and so matches no
 * store). Logs warnings (a guessable key that is allowed or only a
 * prev_key, a store whose passphrase is not stretched yet, keys file
 * readable by others) and the creation of a TPM key. Returns 0, -ENOKEY
 * when no key is given, KEYS_E_TPM(n), KEYS_E_USAGE, KEYS_E_WEAK,
 * KEYS_E_NO_SALT, a store's error code (store.h) for a descriptor that
 * cannot be read, or another -errno; one line naming the problem in err. */
int keys_load(const struct key_opts *ko, struct keyring **kr, char *err, size_t errlen);

/* The cipher for new files: --cipher NAME (option, may be NULL), else the
 * tpm { cipher }, else the config's cipher, else chachapoly. Returns
 * FMT_CIPHER_*, or -EINVAL for an unknown name. */
int keys_new_file_cipher(const char *option, const struct config *cfg);

/* The process exit status for keys_load's return value: 0, EXIT_NO_KEY,
 * EXIT_USAGE, EXIT_WEAK_KEY, EXIT_WRONG_KEY for a lost salt, 10..19 for
 * TPM errors, status_of_error's for a store that refuses a fresh key,
 * EXIT_FAIL otherwise. */
int keys_exit_status(int rc);

#endif
