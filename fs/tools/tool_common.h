/*
 * What the offline tools share: their common options (-c, --key-env,
 * --key-file, --allow-weak-key, --cipher, --json, --quiet, --strict), loading the config
 * and keys with the same exit statuses as mount, the refusal of a path
 * inside a jetcryptfs mount (the decrypted view, where the tools would
 * see plaintext files), opening paths below a backing directory without
 * ever following a symlink, a sorted walk of a backing tree, signals that
 * ask a long run to stop at a safe point, and JSON string output.
 *
 * Symlinks: the path the operator gives (BACKING_DIR, or a FILE down to
 * the directory of its store) is theirs and is followed like any path;
 * below the backing directory, where whoever writes the store can put a
 * symlink in place of a directory at any moment, no tool follows one --
 * such a path fails with ELOOP, which beneath_strerror names.
 */
#ifndef JCFS_TOOL_COMMON_H
#define JCFS_TOOL_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "beneath.h"
#include "config.h"
#include "keyring.h"

/* Which common options a tool takes. */
enum {
	TOOL_OPT_KEYS = 1,              /* -c FILE, --key-env NAME, --key-file FILE, --allow-weak-key */
	TOOL_OPT_CIPHER = 2,            /* --cipher NAME */
	TOOL_OPT_JSON = 4,              /* --json */
	TOOL_OPT_QUIET = 8,             /* -q, --quiet */
	TOOL_OPT_STRICT = 16,           /* --strict */
	/* Not an option: tool_start_dir's keys move an unstretched
	 * passphrase to Argon2id (rekey). */
	TOOL_KEYS_MIGRATE = 32,
};

struct tool_opts {
	const char *config;
	const char *key_env;
	const char *key_file;
	const char *cipher;
	int json;
	int quiet;
	int strict;
	int allow_weak_key;
	const char *cmd;                /* argv[0]: the command, for messages */
	/* Set by the tool before tool_load, for the keys: the store they are
	 * derived for when it is not the BACKING_DIR (cat: the file's), a key
	 * id to take as the store's (cat: the file's), and rekey's move of an
	 * unstretched passphrase. */
	const char *key_store;
	const uint8_t *also_id;
	int migrate;
};

/* Parses argv with the options in flags (memset first: set key_store,
 * also_id and migrate after it); -h/--help prints usage to stdout
 * and exits 0. Returns the index of the first operand, or -1 after one
 * line on stderr saying what is wrong. */
int tool_parse(int argc, char **argv, unsigned flags, struct tool_opts *o,
	       void (*usage)(FILE *f));

struct tool_keys {
	struct config cfg;
	struct keyring *kr;
	int cipher;                     /* for new files: --cipher, config, chachapoly */
	int strict;                     /* --strict or the config's strict: true */
};

/* Loads -c FILE (if given) into k->cfg -- if *backing is NULL and
 * need_backing, the config's backing_dir stands in -- then refuses a
 * *backing inside a jetcryptfs mount (tool_refuse_mount; need_backing
 * says it is a store's directory, else a file of one), then loads the
 * keys as mount does (never creating a TPM key), derived for
 * o->key_store or else (need_backing) the backing directory, and the
 * cipher for new files. Returns 0 or an exit status after printing the
 * problem (2 for a config error, no backing directory or a path in a
 * mount, 3/4/10-19/20 for keys). */
int tool_load(const struct tool_opts *o, const char **backing, int need_backing,
	      struct tool_keys *k);
/* The start of the commands that take one optional BACKING_DIR (the
 * config's backing_dir stands in): tool_parse, then tool_load. Returns 0,
 * or an exit status after printing the problem; k is zeroed first, so
 * tool_keys_free(k) is always safe. */
int tool_start_dir(int argc, char **argv, unsigned flags, void (*usage)(FILE *f),
		   struct tool_opts *o, struct tool_keys *k, const char **backing);
void tool_keys_free(struct tool_keys *k);

/* EXIT_USAGE after one line on stderr if path is a jetcryptfs mount point
 * or inside one, live (give the backing directory instead: for a store
 * command -- store set -- the mount's; else the backing counterpart of
 * path) or dead (its daemon gone: unmount it, mount again); 0 otherwise,
 * also when path cannot be looked up (the tool then names that). */
int tool_refuse_mount(const char *cmd, const char *path, int store);

/* A regular file of a backing tree. */
struct tool_file {
	char *rel;                      /* path from the backing root */
	struct stat st;
};

struct tool_tree {
	struct tool_file *files;        /* sorted by rel */
	size_t n, cap;
	struct tool_file *dirs;         /* directories, the root as ".", sorted by rel */
	size_t ndirs, capdirs;
	/* What is neither a regular file nor a directory: symlinks, device
	 * nodes, FIFOs, sockets; sorted by rel. */
	struct tool_file *nodes;
	size_t nnodes, capnodes;
	unsigned long tmp_files;        /* leftover temp files found (or removed) */
	unsigned long skipped;          /* devices, sockets, fifos (symlinks are not counted) */
	char **symlinked;               /* directories that were a symlink when the walk */
	size_t nsymlinked;              /* went in: not followed, not walked (rel paths) */
};

/* Collects every regular file under the backing directory open as rootfd,
 * every directory (the root too, as "."), and apart every other node,
 * without following symlinks, leaving out the descriptor and lost+found at
 * the root. A directory is entered by its path from rootfd
 * (beneath_open), and one found replaced by a symlink by then is listed in
 * t->symlinked, for the tool to report and fail on. Temp files (and temp
 * symlinks) of encrypt/rekey are counted and, with remove_tmp, deleted
 * (each directory fsync'd). Returns 0, or -errno with one line
 * naming the path in err. */
int tool_tree_walk(int rootfd, const char *backing, int remove_tmp, struct tool_tree *t,
		   char *err, size_t errlen);
void tool_tree_free(struct tool_tree *t);

/* beneath_open(dirfd, path, O_RDONLY) without updating the file's
 * access time where the caller may (owner or CAP_FOWNER): the tools read
 * every file, and encrypt must keep each file's atime as it was. The fd,
 * or -1 with errno set. */
int tool_open_read(int dirfd, const char *path);

/* Opens the directory of rel (relative to rootfd, by beneath_open)
 * and sets *base to its last component: the directory fd or -errno. */
int tool_open_parent(int rootfd, const char *rel, const char **base);

/* Opens an operand of cat or inspect (open flags; O_CLOEXEC is added).
 * Its store is the first directory along path, from the top, that holds a
 * store descriptor: the path is followed as written down to there, and
 * below it opened by beneath_open; *storefd is then that directory
 * (an O_PATH fd to close), else -1 and path is opened as written. The fd
 * or -errno. */
int tool_open_operand(const char *path, int flags, int *storefd);

/* SIGINT, SIGTERM and SIGHUP only set a flag, so that a long run stops
 * between two safe points; tool_interrupted() returns the signal or 0. */
void tool_signals_catch(void);
int tool_interrupted(void);

/* A JSON string literal for s: UTF-8 passes through as it is, each byte
 * that is not part of a well-formed sequence becomes \ufffd. */
void tool_json_str(FILE *f, const char *s);

#endif
