/*
 * A parser for the NATS configuration syntax: '#' and '//' comments,
 * "key: value", "key = value" and "key value", quoted and bare strings,
 * nested {} maps, [] arrays, $VAR references (earlier variables of the
 * enclosing scopes, then the environment), include "file", integers with
 * size suffixes (10K, 10KB, 10G, ...), floats and booleans. It builds a
 * tree; what the keys mean is config.c's business. Every string it holds is
 * wiped when freed, because a key may be in any of them. The tree is
 * bounded: CONF_MAX_TREE bytes in all, however $VAR and include copy
 * things (a few hundred bytes of "b: [$a, $a, ...]" would otherwise make
 * gigabytes), and CONF_MAX_NEST levels of blocks and arrays, counted
 * through $VAR and include too. It can name the environment variables a
 * file took values from, for whoever must scrub them. It also opens the
 * files that jetcryptfs reads whole (configs, key files, TPM keys files), so
 * that all of them refuse a FIFO or device the same way.
 */
#ifndef JCFS_CONF_H
#define JCFS_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

enum conf_type {
	CONF_STRING,
	CONF_INT,
	CONF_FLOAT,
	CONF_BOOL,
	CONF_MAP,
	CONF_ARRAY,
};

struct conf_value;

/* Far above any real config (a whole nats.conf is a few KiB; the file
 * itself may be 16 MiB), low enough that a hostile one fails in a fraction
 * of a second. The size counts every value, key and string of the tree
 * with its bookkeeping, as parsed, included or copied by $VAR. The fuzz
 * target builds with a smaller one, so that it runs the limit's code
 * thousands of times a second rather than once. */
#ifndef CONF_MAX_TREE
#define CONF_MAX_TREE     (64u << 20)
#endif
#define CONF_MAX_NEST     64            /* blocks and arrays inside each other */

struct conf_entry {
	char *key;
	int line, col;                  /* where the name is written (1-based) */
	struct conf_value *val;
};

struct conf_value {
	enum conf_type type;
	char *file;                     /* where the value was written */
	int line, col;                  /* 1-based */
	union {
		char *s;                /* CONF_STRING */
		int64_t i;              /* CONF_INT (size suffix applied) */
		double f;               /* CONF_FLOAT */
		int b;                  /* CONF_BOOL */
		struct {
			struct conf_entry *v;
			size_t n;
		} map;                  /* CONF_MAP, in file order; a repeated key keeps the last */
		struct {
			struct conf_value **v;
			size_t n;
		} arr;                  /* CONF_ARRAY */
	} u;
};

/* Parses a file. On error returns a negative errno and writes one line
 * "FILE:LINE:COL: problem" (no newline) to err. The root is a CONF_MAP. */
int conf_parse_file(const char *path, struct conf_value **root, char *err, size_t errlen);
/* Same for text in memory; name is used in messages and as the base for
 * relative includes (its directory). */
int conf_parse_string(const char *text, const char *name, struct conf_value **root,
		      char *err, size_t errlen);

/* The names of the environment variables a parse took values from ($NAME
 * set neither earlier in the file nor in an enclosing block), each once,
 * in the order first used; v is NULL-terminated (NULL while n is 0). */
struct conf_names {
	char **v;
	size_t n;
};

/* Refuse a pipe as the file or as an include, without opening it: for a
 * second reader of a config whose pipes belong to someone else (opening a
 * FIFO, even to close it, could make its writer fail). */
#define CONF_REGULAR_ONLY 1u

/* conf_parse_file and conf_parse_string with flags (CONF_REGULAR_ONLY) and
 * the environment variables used, in *env (may be NULL): filled even when
 * the parse fails, with the names read before the error. Free it with
 * conf_names_free. */
int conf_parse_file_env(const char *path, unsigned flags, struct conf_value **root,
			struct conf_names *env, char *err, size_t errlen);
int conf_parse_string_env(const char *text, const char *name, unsigned flags,
			  struct conf_value **root, struct conf_names *env, char *err, size_t errlen);
void conf_names_free(struct conf_names *env);

/* The value of key in a map (case-insensitive, as NATS), or NULL. */
struct conf_value *conf_map_get(const struct conf_value *map, const char *key);
/* "string", "integer", ... for messages. */
const char *conf_type_name(enum conf_type t);

/* Opens path to read it whole: a config, an include, a key file, a TPM keys
 * file. Never blocks (open() of a FIFO without a writer would wait for one
 * forever; read then finds it empty) and accepts regular files and pipes
 * only. Returns a descriptor (O_CLOEXEC, blocking again) with its fstat in
 * *st, or -errno: -EISDIR for a directory, -EINVAL for anything else that
 * is neither (conf_file_strerror names it). */
int conf_open_file(const char *path, struct stat *st);
/* strerror for conf_open_file's return values. */
const char *conf_file_strerror(int rc);

/* Frees the tree, wiping every string. NULL is fine. */
void conf_free(struct conf_value *v);

#endif
