/*
 * A parser for the NATS configuration syntax: '#' and '//' comments,
 * "key: value", "key = value" and "key value", quoted and bare strings,
 * nested {} maps, [] arrays, $VAR references (earlier variables of the
 * enclosing scopes, then the environment), include "file", integers with
 * size suffixes (10K, 10KB, 10G, ...), floats and booleans. It builds a
 * tree; what the keys mean is config.c's business. Every string it holds is
 * wiped when freed, because a key may be in any of them. The tree is
 * bounded: NATSCONF_MAX_TREE bytes in all, however $VAR and include copy
 * things (a few hundred bytes of "b: [$a, $a, ...]" would otherwise make
 * gigabytes), and NATSCONF_MAX_NEST levels of blocks and arrays, counted
 * through $VAR and include too. It can name the environment variables a
 * file took values from, for whoever must scrub them. It also opens the
 * files that jetcryptfs reads whole (configs, key files, TPM keys files), so
 * that all of them refuse a FIFO or device the same way.
 */
#ifndef JCFS_NATSCONF_H
#define JCFS_NATSCONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

enum natsconf_type {
	NATSCONF_STRING,
	NATSCONF_INT,
	NATSCONF_FLOAT,
	NATSCONF_BOOL,
	NATSCONF_MAP,
	NATSCONF_ARRAY,
};

struct natsconf_value;

/* Far above any real config (a whole nats.conf is a few KiB; the file
 * itself may be 16 MiB), low enough that a hostile one fails in a fraction
 * of a second. The size counts every value, key and string of the tree
 * with its bookkeeping, as parsed, included or copied by $VAR. The fuzz
 * target builds with a smaller one, so that it runs the limit's code
 * thousands of times a second rather than once. */
#ifndef NATSCONF_MAX_TREE
#define NATSCONF_MAX_TREE     (64u << 20)
#endif
#define NATSCONF_MAX_NEST     64            /* blocks and arrays inside each other */

struct natsconf_entry {
	char *key;
	int line, col;                  /* where the name is written (1-based) */
	struct natsconf_value *val;
};

struct natsconf_value {
	enum natsconf_type type;
	char *file;                     /* where the value was written */
	int line, col;                  /* 1-based */
	union {
		char *s;                /* NATSCONF_STRING */
		int64_t i;              /* NATSCONF_INT (size suffix applied) */
		double f;               /* NATSCONF_FLOAT */
		int b;                  /* NATSCONF_BOOL */
		struct {
			struct natsconf_entry *v;
			size_t n;
		} map;                  /* NATSCONF_MAP, in file order; a repeated key keeps the last */
		struct {
			struct natsconf_value **v;
			size_t n;
		} arr;                  /* NATSCONF_ARRAY */
	} u;
};

/* Parses a file. On error returns a negative errno and writes one line
 * "FILE:LINE:COL: problem" (no newline) to err. The root is a NATSCONF_MAP. */
int natsconf_parse_file(const char *path, struct natsconf_value **root, char *err, size_t errlen);
/* Same for text in memory; name is used in messages and as the base for
 * relative includes (its directory). */
int natsconf_parse_string(const char *text, const char *name, struct natsconf_value **root,
		      char *err, size_t errlen);

/* The names of the environment variables a parse took values from ($NAME
 * set neither earlier in the file nor in an enclosing block), each once,
 * in the order first used; v is NULL-terminated (NULL while n is 0). */
struct natsconf_names {
	char **v;
	size_t n;
};

/* Refuse a pipe as the file or as an include, without opening it: for a
 * second reader of a config whose pipes belong to someone else (opening a
 * FIFO, even to close it, could make its writer fail). */
#define NATSCONF_REGULAR_ONLY 1u

/* natsconf_parse_file and natsconf_parse_string with flags (NATSCONF_REGULAR_ONLY) and
 * the environment variables used, in *env (may be NULL): filled even when
 * the parse fails, with the names read before the error. Free it with
 * natsconf_names_free. */
int natsconf_parse_file_env(const char *path, unsigned flags, struct natsconf_value **root,
			struct natsconf_names *env, char *err, size_t errlen);
int natsconf_parse_string_env(const char *text, const char *name, unsigned flags,
			  struct natsconf_value **root, struct natsconf_names *env, char *err, size_t errlen);
void natsconf_names_free(struct natsconf_names *env);

/* The value of key in a map (case-insensitive, as NATS), or NULL. */
struct natsconf_value *natsconf_map_get(const struct natsconf_value *map, const char *key);
/* "string", "integer", ... for messages. */
const char *natsconf_type_name(enum natsconf_type t);

/* Opens path to read it whole: a config, an include, a key file, a TPM keys
 * file. Never blocks (open() of a FIFO without a writer would wait for one
 * forever; read then finds it empty) and accepts regular files and pipes
 * only. Returns a descriptor (O_CLOEXEC, blocking again) with its fstat in
 * *st, or -errno: -EISDIR for a directory, -EINVAL for anything else that
 * is neither (natsconf_file_strerror names it). */
int natsconf_open_file(const char *path, struct stat *st);
/* strerror for natsconf_open_file's return values. */
const char *natsconf_file_strerror(int rc);

/* Frees the tree, wiping every string. NULL is fine. */
void natsconf_free(struct natsconf_value *v);

#endif
