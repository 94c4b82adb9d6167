/*
 * One place that turns the key options of a command into a keyring, so
 * that mount and every offline tool read keys the same way: same
 * precedence, same scrubbing of the environment, same TPM handling.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "keys.h"
#include "log.h"
#include "status.h"
#include "store.h"
#include "tpm.h"

/* The tpm {} key source: unseal the keys file, or create one when allowed
 * and the store is fresh. prev_key joins afterwards. */
static int keys_load_tpm(const struct key_opts *ko, struct keyring *kr, char *err, size_t errlen)
{
	const struct config *cfg = ko->cfg;
	char msg[1024] = "";
	uint8_t *key = sodium_malloc(TPM_KEY_LEN);
	int rc, fresh;

	if (!key) {
		snprintf(err, errlen, "cannot allocate locked memory for the key");
		return -ENOMEM;
	}
	if (access(cfg->tpm.keys_file, F_OK) == 0) {
		rc = tpm_load_key(&cfg->tpm, key, msg, sizeof(msg));
	} else if (!ko->may_create || !ko->backing) {
		sodium_free(key);
		snprintf(err, errlen, "%s: keys file missing", cfg->tpm.keys_file);
		return KEYS_E_TPM(tpm_exit_status(-TPM_E_MISSING));
	} else {
		fresh = store_is_fresh_for(ko->backing, kr, ko->store_flags, msg, sizeof(msg));
		if (fresh <= 0) {
			sodium_free(key);
			if (fresh < 0) {
				snprintf(err, errlen, "%s", msg);
				return fresh;
			}
			snprintf(err, errlen, "%s: keys file missing; %s", cfg->tpm.keys_file, msg);
			return KEYS_E_TPM(tpm_exit_status(-TPM_E_MISSING));
		}
		rc = tpm_create_key(&cfg->tpm, key, msg, sizeof(msg));
		if (rc == 0)
			log_info("%s: created a new TPM-sealed key", cfg->tpm.keys_file);
	}
	if (rc < 0) {
		sodium_free(key);
		snprintf(err, errlen, "%s", msg);
		return KEYS_E_TPM(tpm_exit_status(rc));
	}
	if (msg[0])
		log_warn("%s", msg);
	rc = keyring_add_secret(kr, key, TPM_KEY_LEN);
	sodium_free(key);
	if (rc == 0 && cfg->prev_key) {
		rc = keyring_add_secret(kr, (const uint8_t *)cfg->prev_key, strlen(cfg->prev_key));
		if (rc == -EEXIST)
			rc = 0;
	}
	if (rc < 0)
		snprintf(err, errlen, "cannot derive keys: %s", strerror(-rc));
	return rc;
}

/* Longest key file accepted: a key is a line, not a document. */
#define KEYS_FILE_MAX 4096

/* --key-file: the file's content less one trailing newline is the key, taken
 * as if the config had said key: "..." -- so prev_key still comes from the
 * config and $JS_KEY is scrubbed as for every other source. The copy of
 * the config is shallow; keyring_load only reads it. */
static int keys_load_file(const struct key_opts *ko, struct keyring **kr,
			  enum keyring_source *src, char *err, size_t errlen)
{
	struct config c = CONFIG_EMPTY;
	struct stat st;
	char *secret = NULL;
	size_t len = 0, cap;
	ssize_t n;
	int fd, rc = 0;

	if (ko->cfg)
		c = *ko->cfg;
	fd = conf_open_file(ko->key_file, &st);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the key file: %s", ko->key_file,
			 conf_file_strerror(fd));
		return fd;
	}
	/* Up to one byte past the limit, to tell a key that is too long: a
	 * pipe (--key-file <(...)) has no size to check first. */
	cap = KEYS_FILE_MAX + 1;
	/* no config may have been loaded: libsodium is not set up yet */
	secret = sodium_init() < 0 ? NULL : sodium_malloc(cap + 1);
	if (!secret) {
		snprintf(err, errlen, "cannot allocate locked memory for the key");
		rc = -ENOMEM;
		goto out;
	}
	while (len < cap && (n = read(fd, secret + len, cap - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: cannot read the key file: %s", ko->key_file, strerror(-rc));
			goto out;
		}
		len += (size_t)n;
	}
	if (len > KEYS_FILE_MAX) {
		snprintf(err, errlen, "%s: the key file must be at most %d bytes", ko->key_file,
			 KEYS_FILE_MAX);
		rc = -EINVAL;
		goto out;
	}
	if (len && secret[len - 1] == '\n')
		len--;
	if (len && secret[len - 1] == '\r')
		len--;
	secret[len] = '\0';
	if (len == 0 || memchr(secret, '\0', len)) {
		snprintf(err, errlen, "%s: the key file is empty or holds a NUL byte", ko->key_file);
		rc = -EINVAL;
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		log_warn("%s: the key file is readable by group or others", ko->key_file);
	c.path = (char *)ko->key_file;
	c.key = secret;
	c.tpm.present = 0;
	rc = keyring_load(NULL, &c, kr, src, err, errlen);
out:
	if (secret)
		sodium_free(secret);            /* wipes */
	close(fd);
	return rc;
}

int keys_load(const struct key_opts *ko, struct keyring **out, char *err, size_t errlen)
{
	enum keyring_source src;
	struct keyring *kr = NULL;
	int rc;

	*out = NULL;
	/* "" names no file and no variable: say so rather than ": cannot open" */
	if (ko->key_file && !*ko->key_file) {
		snprintf(err, errlen, "key file name is empty");
		return KEYS_E_USAGE;
	}
	if (ko->key_env && !*ko->key_env) {
		snprintf(err, errlen, "key variable name is empty");
		return KEYS_E_USAGE;
	}
	if (ko->key_file)
		rc = keys_load_file(ko, &kr, &src, err, errlen);
	else
		rc = keyring_load(ko->key_env, ko->cfg, &kr, &src, err, errlen);
	if (rc < 0)
		return rc;
	if (src == KEYRING_SRC_TPM) {
		rc = keys_load_tpm(ko, kr, err, errlen);
		if (rc < 0) {
			keyring_free(kr);
			return rc;
		}
	}
	if (kr->weak)
		log_warn("the key looks guessable (short or repetitive); 'jetcryptfs genkey' makes a strong one");
	*out = kr;
	return 0;
}

int keys_exit_status(int rc)
{
	if (rc == 0)
		return EXIT_OK;
	if (rc == -ENOKEY)
		return EXIT_NO_KEY;
	if (rc == KEYS_E_USAGE)
		return EXIT_USAGE;
	if (rc <= KEYS_E_TPM(10) && rc >= KEYS_E_TPM(19))
		return -rc - KEYS_TPM_BASE;
	return store_exit_status(rc);   /* a store's refusal, else EXIT_FAIL */
}

int keys_new_file_cipher(const char *option, const struct config *cfg)
{
	if (option) {
		int c = fmt_cipher_from_name(option);

		return c < 0 ? -EINVAL : c;
	}
	if (cfg && cfg->tpm.present && cfg->tpm.cipher)
		return cfg->tpm.cipher;
	if (cfg && cfg->cipher)
		return cfg->cipher;
	return FMT_CIPHER_CHACHAPOLY;
}
