/*
 * The jetcryptfs settings of a NATS-syntax config file. It reads only the
 * top-level "jetstream" block, so the file may be the nats.conf that
 * nats-server itself uses; every other top-level setting is none of our
 * business. Inside that block, settings jetcryptfs does not use are named
 * in one warning line rather than dropped silently (a typo like "chiper"
 * must be seen). Secrets are copied into sodium_malloc'd memory and never
 * appear in a message: errors name the setting, not its value, and the
 * warning leaves out a name that looks like a key pasted in its place.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "conf.h"
#include "format.h"

#define CONFIG_PCR_MIN      17
#define CONFIG_PCR_MAX      23

struct config_ctx {
	struct config *cfg;
	char *err;
	size_t errlen;
	/* names for the warning line, in file order */
	char unused[320];       /* leaves room in cfg->warning for the file name */
	size_t n_unused;
	int truncated;
};

__attribute__((format(printf, 3, 4)))
static int fail_at(struct config_ctx *c, const struct conf_value *v, const char *fmt, ...)
{
	if (c->err && c->errlen) {
		int n = snprintf(c->err, c->errlen, "%s:%d:%d: ", v->file, v->line, v->col);
		if (n >= 0 && (size_t)n < c->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static const char *article(enum conf_type t)
{
	return (t == CONF_INT || t == CONF_ARRAY) ? "an" : "a";
}

/* Names the types only: the value itself may be a secret. */
static int fail_type(struct config_ctx *c, const char *name, const struct conf_value *v,
		     const char *want)
{
	const char *hint = "";

	if (strcmp(want, "a string") == 0 &&
	    (v->type == CONF_INT || v->type == CONF_FLOAT || v->type == CONF_BOOL))
		hint = " (put it in quotes)";
	return fail_at(c, v, "%s must be %s, not %s %s%s", name, want, article(v->type),
		       conf_type_name(v->type), hint);
}

static void wipe_free(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

static int nomem(struct config_ctx *c)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s: out of memory", c->cfg->path ? c->cfg->path : "config");
	return -ENOMEM;
}

static int get_string(struct config_ctx *c, const char *name, const struct conf_value *v,
		      char **dst)
{
	char *s;

	if (v->type != CONF_STRING)
		return fail_type(c, name, v, "a string");
	s = strdup(v->u.s);
	if (!s)
		return nomem(c);
	wipe_free(*dst);
	*dst = s;
	return 0;
}

/* A file or directory name: "" would reach the mount as a path that
 * names nothing, and its message would too. */
static int get_path(struct config_ctx *c, const char *name, const struct conf_value *v,
		    char **dst)
{
	if (v->type == CONF_STRING && v->u.s[0] == '\0')
		return fail_at(c, v, "%s is empty", name);
	return get_string(c, name, v, dst);
}

/* Secrets go to guarded, locked memory; sodium_free wipes them. */
static int get_secret(struct config_ctx *c, const char *name, const struct conf_value *v,
		      char **dst)
{
	size_t n;
	char *s;

	if (v->type != CONF_STRING)
		return fail_type(c, name, v, "a string");
	n = strlen(v->u.s);
	if (n == 0)
		return fail_at(c, v, "%s is empty", name);
	s = sodium_malloc(n + 1);
	if (!s)
		return nomem(c);
	memcpy(s, v->u.s, n + 1);
	sodium_free(*dst);
	*dst = s;
	return 0;
}

/* A boolean; the string forms too, because $VAR from the environment is
 * always a string. */
static int get_bool(struct config_ctx *c, const char *name, const struct conf_value *v, int *dst)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	size_t i;

	if (v->type == CONF_BOOL) {
		*dst = v->u.b ? 1 : 0;
		return 0;
	}
	if (v->type == CONF_STRING) {
		for (i = 0; i < 3; i++) {
			if (strcasecmp(v->u.s, yes[i]) == 0) {
				*dst = 1;
				return 0;
			}
			if (strcasecmp(v->u.s, no[i]) == 0) {
				*dst = 0;
				return 0;
			}
		}
	}
	return fail_type(c, name, v, "true or false");
}

/* An integer; a string of decimal digits too (for $VAR from the environment). */
static int get_int(const struct conf_value *v, long long *dst)
{
	if (v->type == CONF_INT) {
		*dst = v->u.i;
		return 0;
	}
	if (v->type == CONF_STRING && v->u.s[0]) {
		char *end;
		errno = 0;
		*dst = strtoll(v->u.s, &end, 10);
		if (!errno && *end == '\0')
			return 0;
	}
	return -EINVAL;
}

static int get_cipher(struct config_ctx *c, const char *name, const struct conf_value *v, int *dst)
{
	int id;

	if (v->type != CONF_STRING)
		return fail_type(c, name, v, "a cipher name");
	id = fmt_cipher_from_name(v->u.s);
	if (id < 0) {
		/* not echoed, however much it looks like a name: a password
		 * pasted here (or a $VAR holding one) must not reach a log */
		return fail_at(c, v, "unknown cipher for %s (use chachapoly or aes)", name);
	}
	*dst = id;
	return 0;
}

/* 1 if an unknown setting's name may be quoted in the warning: it looks
 * like a setting name (a typo such as "chiper"), not like a key pasted
 * where a name goes -- no mix of upper and lower case, few digits, short. */
static int looks_like_name(const char *k)
{
	size_t i, n = strlen(k), digits = 0;
	int upper = 0, lower = 0;

	if (n == 0 || n > 40 || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z')))
		return 0;
	for (i = 0; i < n; i++) {
		if (k[i] >= 'a' && k[i] <= 'z')
			lower = 1;
		else if (k[i] >= 'A' && k[i] <= 'Z')
			upper = 1;
		else if (k[i] >= '0' && k[i] <= '9')
			digits++;
		else if (k[i] != '_' && k[i] != '-' && k[i] != '.')
			return 0;
	}
	return !(upper && lower) && digits <= 3;
}

static void note_unused(struct config_ctx *c, const char *prefix, const char *key,
			const struct conf_value *v)
{
	size_t room = sizeof(c->unused) - c->n_unused;
	const char *sep = c->n_unused ? ", " : "";
	int n;

	if (c->truncated)
		return;
	if (looks_like_name(key))
		n = snprintf(c->unused + c->n_unused, room, "%s%s%s", sep, prefix, key);
	else if (*prefix)
		n = snprintf(c->unused + c->n_unused, room, "%s%.*s: the setting on line %d (name not shown)",
			     sep, (int)strlen(prefix) - 1, prefix, v->line);
	else
		n = snprintf(c->unused + c->n_unused, room, "%sthe setting on line %d (name not shown)",
			     sep, v->line);
	if (n < 0 || (size_t)n >= room - 8) {
		/* keep room for the ", ..." that says the list goes on */
		c->unused[c->n_unused] = '\0';
		c->truncated = 1;
		return;
	}
	c->n_unused += (size_t)n;
}

static int load_tpm(struct config_ctx *c, const struct conf_value *blk)
{
	struct config_tpm *t = &c->cfg->tpm;
	size_t i;
	int r;

	if (blk->type != CONF_MAP)
		return fail_type(c, "tpm", blk, "a block { ... }");
	t->present = 1;
	for (i = 0; i < blk->u.map.n; i++) {
		const char *k = blk->u.map.v[i].key;
		const struct conf_value *v = blk->u.map.v[i].val;

		if (strcasecmp(k, "keys_file") == 0) {
			r = get_path(c, "tpm.keys_file", v, &t->keys_file);
		} else if (strcasecmp(k, "encryption_password") == 0) {
			r = get_secret(c, "tpm.encryption_password", v, &t->encryption_password);
		} else if (strcasecmp(k, "srk_password") == 0) {
			r = get_secret(c, "tpm.srk_password", v, &t->srk_password);
		} else if (strcasecmp(k, "pcr") == 0) {
			long long pcr;
			if (get_int(v, &pcr) < 0)
				return fail_type(c, "tpm.pcr", v, "an integer between 17 and 23");
			if (pcr < CONFIG_PCR_MIN || pcr > CONFIG_PCR_MAX)
				return fail_at(c, v, "tpm.pcr must be between %d and %d (NATS's range; "
					       "see docs/TPM.md), not %lld", CONFIG_PCR_MIN, CONFIG_PCR_MAX, pcr);
			t->pcr = (int)pcr;
			r = 0;
		} else if (strcasecmp(k, "cipher") == 0) {
			r = get_cipher(c, "tpm.cipher", v, &t->cipher);
		} else if (strcasecmp(k, "tcti") == 0) {
			r = get_string(c, "tpm.tcti", v, &t->tcti);
		} else {
			note_unused(c, "tpm.", k, v);
			r = 0;
		}
		if (r < 0)
			return r;
	}
	if (!t->keys_file)
		return fail_at(c, blk, "the tpm block needs keys_file");
	if (!t->encryption_password)
		return fail_at(c, blk, "the tpm block needs encryption_password");
	return 0;
}

/* The one of two settings written further down: where a clash is shown. */
static const struct conf_value *later_of(const struct conf_value *a, const struct conf_value *b)
{
	return b->line > a->line || (b->line == a->line && b->col > a->col) ? b : a;
}

/* Two aliases of one setting in a block: which one wins is written
 * nowhere (NATS docs and ours alike), so neither does. A repeat of the same
 * name, in any case, is not this: the later one wins, as in NATS. */
static int alias_clash(struct config_ctx *c, const struct conf_value *v, const char *name,
		       const char *other, const char *what)
{
	return fail_at(c, v, "%s and %s both set %s: give only one of them", name, other, what);
}

static int load_jetstream(struct config_ctx *c, const struct conf_value *js)
{
	struct config *cfg = c->cfg;
	const struct conf_value *key_at = NULL, *tpm_at = NULL;
	const struct conf_value *adopt_at = NULL, *strict_at = NULL;
	const char *key_name = NULL, *prev_name = NULL;
	size_t i;
	int r;

	/* "jetstream: enabled" / "jetstream: true" switch JetStream on in
	 * nats-server and carry no settings for us */
	if (js->type == CONF_BOOL || js->type == CONF_STRING)
		return 0;
	if (js->type != CONF_MAP)
		return fail_type(c, "jetstream", js, "a block { ... }");

	for (i = 0; i < js->u.map.n; i++) {
		const char *k = js->u.map.v[i].key;
		const struct conf_value *v = js->u.map.v[i].val;

		if (strcasecmp(k, "cipher") == 0) {
			r = get_cipher(c, "cipher", v, &cfg->cipher);
		} else if (strcasecmp(k, "key") == 0 || strcasecmp(k, "encryption_key") == 0 ||
			   strcasecmp(k, "ek") == 0) {
			/* the aliases nats-server accepts */
			if (key_name && strcasecmp(key_name, k) != 0)
				return alias_clash(c, v, k, key_name, "the key");
			r = get_secret(c, k, v, &cfg->key);
			key_at = v;
			key_name = k;
		} else if (strcasecmp(k, "prev_key") == 0 ||
			   strcasecmp(k, "prev_encryption_key") == 0) {
			if (prev_name && strcasecmp(prev_name, k) != 0)
				return alias_clash(c, v, k, prev_name, "the previous key");
			r = get_secret(c, k, v, &cfg->prev_key);
			prev_name = k;
		} else if (strcasecmp(k, "store_dir") == 0) {
			r = get_path(c, "store_dir", v, &cfg->store_dir);
		} else if (strcasecmp(k, "backing_dir") == 0) {
			r = get_path(c, "backing_dir", v, &cfg->backing_dir);
		} else if (strcasecmp(k, "adopt") == 0) {
			r = get_bool(c, "adopt", v, &cfg->adopt);
			adopt_at = v;
		} else if (strcasecmp(k, "strict") == 0) {
			r = get_bool(c, "strict", v, &cfg->strict);
			strict_at = v;
		} else if (strcasecmp(k, "allow_weak_key") == 0) {
			r = get_bool(c, "allow_weak_key", v, &cfg->allow_weak_key);
		} else if (strcasecmp(k, "tpm") == 0) {
			if (tpm_at) {
				/* two case-variants ("tpm", "TPM"): the later wins */
				sodium_free(cfg->tpm.encryption_password);
				sodium_free(cfg->tpm.srk_password);
				wipe_free(cfg->tpm.keys_file);
				wipe_free(cfg->tpm.tcti);
				memset(&cfg->tpm, 0, sizeof(cfg->tpm));
				cfg->tpm.pcr = CONFIG_PCR_DEFAULT;
			}
			r = load_tpm(c, v);
			tpm_at = v;
		} else {
			note_unused(c, "", k, v);
			r = 0;
		}
		if (r < 0)
			return r;
	}
	if (cfg->adopt == 1 && cfg->strict == 1)
		/* adopt lets plaintext files in, strict refuses a store with any */
		return fail_at(c, later_of(adopt_at, strict_at), "adopt and strict cannot both be true");
	if (key_at && tpm_at) {
		/* as nats-server: the key comes from the TPM or from the config, not both */
		return fail_at(c, later_of(key_at, tpm_at), "key and tpm cannot be used together: "
			       "the key comes either from the config or from the TPM");
	}
	return 0;
}

static void config_init(struct config *cfg)
{
	*cfg = (struct config)CONFIG_EMPTY;
}

static int config_apply(struct config *cfg, const char *name, struct conf_value *root,
			char *err, size_t errlen)
{
	struct config_ctx c = { .cfg = cfg, .err = err, .errlen = errlen };
	const struct conf_value *js = conf_map_get(root, "jetstream");
	int r;

	if (!js) {
		/* An empty file or a FIFO no one writes to reads as empty:
		 * whoever gave it meant something by it. */
		snprintf(cfg->warning, sizeof(cfg->warning), "%s: no jetstream { } block: nothing in it is used", name);
		return 0;
	}
	r = load_jetstream(&c, js);
	if (r < 0)
		return r;
	if (c.n_unused || c.truncated)
		snprintf(cfg->warning, sizeof(cfg->warning), "%s: ignoring settings jetcryptfs does not use: %s%s",
			 name, c.unused, c.truncated ? (c.n_unused ? ", ..." : "...") : "");
	return 0;
}

static int config_finish(struct config *cfg, const char *name, struct conf_value *root, int r,
			 char *err, size_t errlen)
{
	if (r == 0) {
		cfg->path = strdup(name);
		if (!cfg->path) {
			if (err && errlen)
				snprintf(err, errlen, "%s: out of memory", name);
			r = -ENOMEM;
		}
	}
	if (r == 0)
		r = config_apply(cfg, name, root, err, errlen);
	conf_free(root);
	if (r < 0) {
		/* the caller gets nothing half-loaded */
		config_free(cfg);
	}
	return r;
}

/* What both loaders do first: an empty cfg and err, and libsodium ready
 * for the locked memory that secrets go into. */
static int config_begin(struct config *cfg, const char *name, char *err, size_t errlen)
{
	config_init(cfg);
	if (err && errlen)
		err[0] = '\0';
	if (sodium_init() < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: libsodium failed to initialise", name);
		return -EIO;
	}
	return 0;
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct conf_value *root = NULL;
	int r = config_begin(cfg, path, err, errlen);

	if (r < 0)
		return r;
	r = conf_parse_file(path, &root, err, errlen);
	return config_finish(cfg, path, root, r, err, errlen);
}

int config_load_string(const char *text, const char *name, struct config *cfg,
		       char *err, size_t errlen)
{
	struct conf_value *root = NULL;
	int r = config_begin(cfg, name, err, errlen);

	if (r < 0)
		return r;
	r = conf_parse_string(text, name, &root, err, errlen);
	return config_finish(cfg, name, root, r, err, errlen);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	wipe_free(cfg->path);
	wipe_free(cfg->store_dir);
	wipe_free(cfg->backing_dir);
	sodium_free(cfg->key);
	sodium_free(cfg->prev_key);
	wipe_free(cfg->tpm.keys_file);
	sodium_free(cfg->tpm.encryption_password);
	sodium_free(cfg->tpm.srk_password);
	wipe_free(cfg->tpm.tcti);
	sodium_memzero(cfg, sizeof(*cfg));
	config_init(cfg);
}
