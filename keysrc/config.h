/*
 * The jetcryptfs settings of a NATS-syntax config file: the "jetstream"
 * block (cipher, key, prev_key, store_dir, backing_dir, adopt, strict,
 * allow_weak_key, tpm {...}).
 * Other top-level settings of a nats.conf are ignored; unknown settings
 * inside the jetstream block are named in one warning line.
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
	char warning[512];              /* "" or one line naming unknown settings */
};

#define CONFIG_PCR_DEFAULT  22
/* A config with nothing set, as config_load starts from and config_free
 * leaves behind: the place to give a new setting its "unset" value. */
#define CONFIG_EMPTY { .adopt = -1, .strict = -1, .allow_weak_key = -1, .tpm = { .pcr = CONFIG_PCR_DEFAULT } }

/* Loads path. On error returns a negative errno with one line
 * "FILE:LINE:COL: problem" in err. Errors: syntax (from conf.c), a
 * jetstream value of the wrong type, a bad cipher name, key and tpm
 * together, adopt and strict both true, a pcr outside 17..23, a tpm
 * block without keys_file or encryption_password. Secrets live in sodium_malloc'd memory. */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
/* Same for a string (name used in messages). */
int config_load_string(const char *text, const char *name, struct config *cfg,
		       char *err, size_t errlen);
/* Frees and wipes everything cfg holds; cfg may be zeroed or half-loaded. */
void config_free(struct config *cfg);

#endif
