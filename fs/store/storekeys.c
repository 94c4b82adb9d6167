/*
 * One place that turns the key options of a command into a keyring, so
 * that mount and every offline tool read keys the same way: same
 * precedence, same scrubbing of the environment, same TPM handling.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "natsconf.h"
#include "storekeys.h"
#include "log.h"
#include "store.h"
#include "tpm.h"

/* The tpm {} key source: unseal the keys file, or create one when allowed
 * and the store is fresh. prev_key joins afterwards. */
static int storekeys_load_tpm(const struct storekeys_opts *ko, struct keyring *kr, char *err, size_t errlen)
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
		return JCFS_E_TPM_MISSING;
	} else {
		fresh = store_is_fresh_for(ko->backing, kr, ko->store_flags, msg, sizeof(msg));
		if (fresh <= 0) {
			sodium_free(key);
			if (fresh < 0) {
				snprintf(err, errlen, "%s", msg);
				return fresh;
			}
			snprintf(err, errlen, "%s: keys file missing; %s", cfg->tpm.keys_file, msg);
			return JCFS_E_TPM_MISSING;
		}
		rc = tpm_create_key(&cfg->tpm, key, msg, sizeof(msg));
		if (rc == 0)
			log_info("%s: created a new TPM-sealed key", cfg->tpm.keys_file);
	}
	if (rc < 0) {
		sodium_free(key);
		snprintf(err, errlen, "%s", msg);
		return rc;
	}
	if (msg[0])
		log_warn("%s", msg);
	/* Random bytes by construction, whatever they look like. */
	rc = keyring_add_raw(kr, key, TPM_KEY_LEN);
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
static int storekeys_load_file(const struct storekeys_opts *ko, struct keyring **kr,
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
	fd = natsconf_open_file(ko->key_file, &st);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the key file: %s", ko->key_file,
			 natsconf_file_strerror(fd));
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

/* Where keys[0] came from, and where a prev_key comes from, for
 * messages. */
static void storekeys_labels(const struct storekeys_opts *ko, enum keyring_source src, char *cur, char *prev,
			size_t len)
{
	const char *path = ko->cfg && ko->cfg->path ? ko->cfg->path : "the config";

	if (ko->key_file)
		snprintf(cur, len, "%s", ko->key_file);
	else if (src == KEYRING_SRC_ENV)
		snprintf(cur, len, "$%s", ko->key_env ? ko->key_env : KEYRING_DEFAULT_ENV);
	else if (src == KEYRING_SRC_CONFIG)
		snprintf(cur, len, "%s: key", path);
	else
		snprintf(cur, len, "the TPM key");
	snprintf(prev, len, "%s: prev_key", path);
}

/* A guessable current key is refused unless allowed; a guessable
 * prev_key only reads what is already under it, and is warned of. */
static int storekeys_check_weak(const struct storekeys_opts *ko, const struct keyring *kr, enum keyring_source src,
			   char *err, size_t errlen)
{
	char cur[PATH_MAX + 16], prev[PATH_MAX + 16];

	storekeys_labels(ko, src, cur, prev, sizeof(cur));
	for (size_t i = 0; i < kr->n; i++) {
		const char *why = kr->keys[i].weak;

		if (!why)
			continue;
		if (i == 0 && !ko->allow_weak) {
			snprintf(err, errlen, "%s: the key looks guessable (%s): use a key that 'jetcryptfs genkey' "
				 "prints, or accept this one with --allow-weak-key (-o allow_weak_key, or "
				 "allow_weak_key: true in the jetstream block)", cur, why);
			return JCFS_E_WEAK_KEY;
		}
		if (i == 0)
			log_warn("%s: the key looks guessable (%s); used, as --allow-weak-key or allow_weak_key says", cur,
				 why);
		else
			log_warn("%s: the previous key looks guessable (%s); move the store off it with "
				 "jetcryptfs rekey", prev, why);
	}
	return 0;
}

/* 1 if the store names id. */
static int storekeys_store_names(const struct keyring_store *ks, const uint8_t id[FMT_KEY_ID_SIZE])
{
	for (size_t i = 0; i < ks->nids; i++)
		if (!memcmp(ks->ids[i], id, FMT_KEY_ID_SIZE))
			return 1;
	return 0;
}

/* 1 if any key of kr is one the store names. */
static int storekeys_store_knows(const struct keyring *kr, const struct keyring_store *ks)
{
	for (size_t i = 0; i < ks->nids; i++)
		if (keyring_find(kr, ks->ids[i]))
			return 1;
	return 0;
}

/* Reads what the store says about its keys and derives the passphrases
 * of kr for it. */
static int storekeys_stretch(const struct storekeys_opts *ko, struct keyring *kr, char *err, size_t errlen)
{
	struct store_keyinfo *ki = calloc(1, sizeof(*ki));
	const char *backing = ko->backing ? ko->backing : "";
	char hex[2 * FMT_KEY_ID_SIZE + 1];
	int dirfd = -1, rc;

	if (!ki) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* A directory that cannot be opened is store_open's to name. */
	if (ko->backing)
		dirfd = open(ko->backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = store_keyinfo_read(dirfd, ki);
	if (dirfd >= 0)
		close(dirfd);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot survey the backing directory: %s", backing, strerror(-rc));
		goto out;
	}
	if (ko->also_id && ki->ks.nids < STORE_IDS_MAX)
		memcpy(ki->ids[ki->ks.nids++], ko->also_id, FMT_KEY_ID_SIZE);
	if (ki->ks.has_kdf && !kdf_params_valid(&ki->ks.kdf)) {
		snprintf(err, errlen, "%s/%s: the store asks for Argon2id limits t=%u m=%u KiB, beyond what this "
			 "version accepts (t %u to %u, m %u to %u KiB): it is damaged, or made by a later version",
			 backing, ki->desc_parses ? DESC_NAME : DESC_SALT_NAME, (unsigned)ki->ks.kdf.ops,
			 (unsigned)ki->ks.kdf.mem_kib, KDF_OPS_MIN, KDF_OPS_MAX, KDF_MEM_KIB_MIN, KDF_MEM_KIB_MAX);
		rc = JCFS_E_BAD_DESC;
		goto out;
	}
	rc = keyring_stretch(kr, &ki->ks, ko->migrate);
	if (rc == -ENOSPC) {
		snprintf(err, errlen, "%s: no room on the keyring for the unstretched form of the key beside %d "
			 "others: drop a prev_key (rekey first if files are under it)", backing, KEYRING_MAX - 1);
		goto out;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot stretch the passphrase with Argon2id (%u MiB): %s",
			 (unsigned)(kr->kdf.mem_kib / 1024), strerror(-rc));
		goto out;
	}
	if (ko->backing && !ki->has_desc && !ki->salt_file && kr->kdf_new && ki->ks.nids > 0 &&
	    !storekeys_store_knows(kr, &ki->ks)) {
		kdf_key_id_hex(ki->ids[0], hex);
		snprintf(err, errlen, "%s: no given key matches the files (%s is under key id %s), and the store "
			 "has neither %s nor %s: the key is wrong, or the store's passphrase salt was lost with "
			 "both: put %s back from your copy (docs/SECURITY.md)", backing,
			 ki->id_file[0] ? ki->id_file : "a file", hex, DESC_NAME, DESC_SALT_NAME, DESC_SALT_NAME);
		rc = JCFS_E_WRONG_KEY;
		goto out;
	}
	for (size_t i = 0; i < kr->n && !ko->migrate; i++) {
		if (kr->keys[i].kind != KEYRING_LEGACY || !storekeys_store_names(&ki->ks, kr->keys[i].id))
			continue;
		kdf_key_id_hex(kr->keys[i].id, hex);
		log_warn("%s: key id %s is a passphrase used without stretching (the store predates it): a guess "
			 "at it costs one hash; run jetcryptfs rekey to move the store to the Argon2id derivation",
			 backing, hex);
		break;
	}
out:
	free(ki);
	return rc;
}

int storekeys_load(const struct storekeys_opts *ko, struct keyring **out, char *err, size_t errlen)
{
	enum keyring_source src;
	struct keyring *kr = NULL;
	int rc;

	*out = NULL;
	/* "" names no file and no variable: say so rather than ": cannot open" */
	if (ko->key_file && !*ko->key_file) {
		snprintf(err, errlen, "key file name is empty");
		return JCFS_E_USAGE;
	}
	if (ko->key_env && !*ko->key_env) {
		snprintf(err, errlen, "key variable name is empty");
		return JCFS_E_USAGE;
	}
	if (ko->key_file)
		rc = storekeys_load_file(ko, &kr, &src, err, errlen);
	else
		rc = keyring_load(ko->key_env, ko->cfg, &kr, &src, err, errlen);
	if (rc < 0)
		return rc;
	if (src == KEYRING_SRC_TPM)
		rc = storekeys_load_tpm(ko, kr, err, errlen);
	if (rc == 0)
		rc = storekeys_check_weak(ko, kr, src, err, errlen);
	if (rc == 0)
		rc = storekeys_stretch(ko, kr, err, errlen);
	if (rc < 0) {
		keyring_free(kr);
		return rc;
	}
	*out = kr;
	return 0;
}

int storekeys_new_file_cipher(const char *option, const struct config *cfg)
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
