/*
 * The backing store as a whole: the exclusive lock that keeps two daemons
 * (or a daemon and the offline tools) off one backing directory, and the
 * store descriptor that pins the store to one key id and records whether
 * plaintext files are allowed. All checks happen before anything is
 * mounted or written.
 */
#ifndef JCFS_STORE_H
#define JCFS_STORE_H

#include <limits.h>
#include <stddef.h>

#include "desc.h"
#include "jcfs_err.h"
#include "keyring.h"

struct store {
	int dir_fd;                     /* backing root, O_RDONLY, flock'd */
	int plaintext_allowed;          /* adopted store: headerless files pass */
	unsigned long plaintext_files;  /* found when adopting */
	/* Retired key ids files may still be under (all on the keyring). */
	unsigned nretired;
	uint8_t retired[DESC_RETIRED_MAX][FMT_KEY_ID_SIZE];
	int created;                    /* this open made an empty directory a store */
};

/* How long store_open waits for a lock held while the store is not
 * mounted (a daemon finishing after its unmount, a tool). */
#define STORE_LOCK_WAIT_MS  10000
/* The one line for a retired key that is not given: backing dir, key id. */
#define STORE_RETIRED_FMT "%s: files under key id %s remain (rotated out, not yet rekeyed): " \
	"add it as prev_key, or run jetcryptfs rekey with it"

/* Opens and locks the backing directory and reconciles its descriptor
 * with the keyring: creates it for a new store, re-creates it when lost
 * (from the key ids found in file headers), moves it to the current key
 * after a rotation, recording the old key as retired. A retired key that
 * is not on kr is refused (JCFS_E_WRONG_KEY): some files would not read.
 * Plaintext files are let in only when asked: STORE_ADOPT makes a store
 * of a directory of plaintext files (else JCFS_E_NEED_ADOPT) and opens
 * a store whose descriptor allows them; STORE_PLAINTEXT_OK only opens
 * such a store (encrypt and rekey, which serve nothing). Without either,
 * a store that allows plaintext -- one being adopted, or an old
 * descriptor put back, which is why the operator must say so each time
 * -- is JCFS_E_NOT_STRICT, never served in silence. STORE_STRICT
 * refuses plaintext even with the others (JCFS_E_NOT_STRICT).
 * Another process holding the lock is JCFS_E_BUSY, a descriptor that is
 * no regular file, malformed or forged JCFS_E_BAD_DESC, a key that does
 * not match JCFS_E_WRONG_KEY (jcfs_err.h). On error returns one of these
 * codes or -errno, with one line in err. */
enum { STORE_ADOPT = 1, STORE_STRICT = 2, STORE_PLAINTEXT_OK = 4 };
int store_open(const char *backing, const struct keyring *kr, unsigned flags, struct store *st,
	       char *err, size_t errlen);
/* Takes back what store_open did to an empty directory (st->created):
 * its descriptor is removed if the directory still holds nothing else
 * (but a lost+found, as store_open counts it),
 * so that a mount that failed before it was ready leaves no store bound
 * to a key behind. 0 or -errno. */
int store_undo_create(struct store *st);
/* 1 if the backing directory holds no store and no encrypted file under a
 * key that is not on kr (so a fresh key may be created for it); 0 with
 * "the store was encrypted with key id X" in err if it does; -errno. With
 * plaintext files that flags (as for store_open) do not let in, or a
 * descriptor that cannot be read, the error store_open would give: no key
 * is made for a mount that will be refused. */
int store_is_fresh_for(const char *backing, const struct keyring *kr, unsigned flags, char *err,
		       size_t errlen);
void store_close(struct store *st);

/* 1 if name, at the backing root, is the descriptor, the salt file or
 * one of their temp files: hidden from the mount view and reserved. */
int store_name_reserved(const char *name);

/* The temp files of convert_file (convert.h) -- "encrypt", "rekey" and
 * the mount's own conversion of a plaintext file -- beside the file they
 * replace: STORE_TMP_PREFIX followed by 16 lowercase hex digits, in any
 * directory. Left behind only by a killed run or mount, hidden by the
 * mount, removed by the next encrypt or rekey, counted by fsck. */
#define STORE_TMP_PREFIX ".jetcryptfs-tmp-"
#define STORE_TMP_NAME_LEN (sizeof(STORE_TMP_PREFIX) - 1 + 16)
/* A test hook: milliseconds the conversion of a file (encrypt, rekey, the
 * mount's own) waits between finding the file's directory and replacing
 * the file in it, so that a test can race it. Never set in production. */
#define STORE_TEST_DELAY_ENV "JETCRYPTFS_TEST_DELAY_MS"

/* A fresh such name, for the file about to be converted. */
void store_tmp_name(char out[STORE_TMP_NAME_LEN + 1]);
/* 1 if name is such a temp file name. */
int store_name_is_tmp(const char *name);
/* 1 if name, in a directory that is (at_root) or is not the backing root,
 * is hidden from the mount view: reserved names at the root, temp files
 * anywhere. */
int store_name_hidden(const char *name, int at_root);

/* Reads the descriptor of the store whose backing root is dirfd into buf
 * (DESC_MAX_SIZE bytes), *len its length: 0, -ENOENT if there is none,
 * -EINVAL if it is not a regular file (a FIFO does not block), -errno. */
int store_read_desc(int dirfd, char *buf, size_t *len);
/* Reads the descriptor of the store whose backing root is dirfd and
 * authenticates it under the key of kr it names, without checking its
 * retired ids (store_check_retired): 0 with *d filled and *key that key;
 * -ENOENT if there is none; JCFS_E_WRONG_KEY if it names no key of kr
 * (*d filled, for store_key_mismatch); JCFS_E_BAD_DESC if it is no
 * regular file, malformed, or -- *key set -- fails authentication; -errno
 * if it cannot be read. For the last two, what says what is wrong, in
 * words that follow the descriptor's path. */
int store_load_desc(int dirfd, const struct keyring *kr, struct desc *d, const struct keyring_key **key,
		    char *what, size_t whatlen);
/* 0 if every key id d lists as retired is on kr, else JCFS_E_WRONG_KEY
 * with the line naming the first missing one in err. */
int store_check_retired(const char *backing, const struct keyring *kr, const struct desc *d,
			char *err, size_t errlen);
/* Read-only: whether the store whose backing root is dirfd lets
 * plaintext files be read. 1 if its descriptor says so and verifies under
 * a key of kr; 0 if it refuses them; -ENOENT if dirfd holds no
 * descriptor, JCFS_E_WRONG_KEY if it is under no key of kr,
 * JCFS_E_BAD_DESC if it is malformed, forged or no regular file, else
 * -errno. */
int store_plaintext_allowed(int dirfd, const struct keyring *kr);
/* For a descriptor d (of the store at dirfd) whose key id is on no key of
 * kr: says in err whether the key is wrong (JCFS_E_WRONG_KEY) or, since
 * every encrypted file is under a given key, the descriptor is
 * (JCFS_E_BAD_DESC), and returns which. */
int store_key_mismatch(int dirfd, const char *backing, const struct keyring *kr, const struct desc *d,
		       char *err, size_t errlen);
/* What a store says about its keys before any key is known, for
 * keyring_stretch: the salt of its passphrases and the key ids it names.
 * The salt is the descriptor's, else the salt file's; the ids are the
 * descriptor's (key id and retired ids) when one parses, else those of
 * the file headers. ks.ids points into ids: do not copy the struct. */
#define STORE_IDS_MAX 16
struct store_keyinfo {
	int has_desc;                   /* a descriptor was found (whether it parses) */
	int desc_parses;
	int salt_file;                  /* the salt file parses (salt in salt_copy) */
	struct kdf_params salt_copy;
	struct keyring_store ks;
	uint8_t ids[STORE_IDS_MAX][FMT_KEY_ID_SIZE];
	char id_file[PATH_MAX];         /* with no descriptor: a file under ids[0], relative */
};
/* Fills *ki for the store whose backing root is dirfd (-1: no store, ki
 * empty). Reads without locking: store_open checks it all again. 0, or
 * -errno if the tree cannot be surveyed. */
int store_keyinfo_read(int dirfd, struct store_keyinfo *ki);

/* Rewrites the descriptor of the open (locked) store under the current key
 * with the given plaintext policy: how "encrypt" makes a store strict.
 * 0 or -errno; st->plaintext_allowed follows. */
int store_set_plaintext(struct store *st, const struct keyring *kr, int allowed);
/* Rewrites the descriptor with no retired key: how "rekey" records that
 * every file is under the current key. 0 or -errno. */
int store_clear_retired(struct store *st, const struct keyring *kr);

#endif
