/*
 * The jetcryptfs settings of a NATS-syntax config file: the "jetstream"
 * block (cipher, key, prev_key, store_dir, backing_dir, adopt, strict,
 * allow_weak_key, tpm {...}, and nats-server's other names for key, prev_key and
 * store_dir). Other top-level settings of a nats.conf are ignored, and so
 * are nats-server's own settings inside the jetstream block (max_file_store,
 * domain, limits {...}, ...); any other setting there, or in tpm {...}, is
 * an error, as it is for nats-server. The loader also names the
 * environment variables the file took values from, for the processes that
 * must scrub them.
 */
#ifndef JCFS_CONFIG_H
#define JCFS_CONFIG_H

#include <stddef.h>

struct config_tpm {
	int present;                    /* a tpm {} block was given */
	char *keys_file;                /* required */
	char *encryption_password;      /* required; secret */
	char *srk_password;             /* optional; secret */
	int pcr;                        /* 17..23, default 22 */
	int cipher;                     /* FMT_CIPHER_*, 0 if not set */
	char *tcti;                     /* optional */
};

struct config {
	char *path;                     /* the file it came from */
	char *store_dir;                /* the mount point */
	char *backing_dir;
	int cipher;                     /* FMT_CIPHER_*, 0 if not set */
	char *key;                      /* secret, NULL if not set */
	char *prev_key;                 /* secret, NULL if not set */
	int adopt;                      /* -1 unset, 0 or 1 */
	int strict;                     /* -1 unset, 0 or 1: refuse plaintext files */
	int allow_weak_key;             /* -1 unset, 0 or 1: a guessable key is only warned of */
	struct config_tpm tpm;
	char warning[512];              /* "" or one line: the file has no jetstream block */
	/* NULL-terminated, or NULL: the environment variables the file and
	 * its includes took values from ($NAME), each once. Set even when
	 * config_load fails (with the names read before the error), so that
	 * they can be scrubbed; config_free frees it. */
	char **env_names;
};

#define CONFIG_PCR_DEFAULT  22
/* A config with nothing set, as config_load starts from and config_free
 * leaves behind: the place to give a new setting its "unset" value. */
#define CONFIG_EMPTY { .adopt = -1, .strict = -1, .allow_weak_key = -1, .tpm = { .pcr = CONFIG_PCR_DEFAULT } }

/* Loads path. On error returns a negative errno with one line
 * "FILE:LINE:COL: problem" in err. Errors: syntax and size (from natsconf.c),
 * a setting neither jetcryptfs nor nats-server has in the jetstream or
 * tpm block, a jetstream value of the wrong type, a bad cipher name, two
 * names of one setting together (key and ek), key and tpm together,
 * adopt and strict both true, a pcr outside 17..23, a tpm block without
 * keys_file or encryption_password. On error cfg holds nothing but
 * env_names. Secrets live in sodium_malloc'd memory. */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
/* Same for a string (name used in messages). */
int config_load_string(const char *text, const char *name, struct config *cfg,
		       char *err, size_t errlen);
/* Frees and wipes everything cfg holds; cfg may be zeroed or half-loaded. */
void config_free(struct config *cfg);

/* The env_names config_load would find, for a process that shares its
 * environment with one that loads path and must scrub the same variables
 * without using the file (mount's waiting parent). Reads regular files
 * only: a pipe, as the config or an include, belongs to the loader, which
 * would find it drained. Says nothing: returns 0 if the whole file was
 * read, else -errno, with *names (NULL-terminated, or NULL) listing the
 * variables read before the error. Free with config_names_free. */
int config_env_names(const char *path, char ***names);
void config_names_free(char **names);

#endif
