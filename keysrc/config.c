/*
 * The jetcryptfs settings of a NATS-syntax config file. It reads only the
 * top-level "jetstream" block, so the file may be the nats.conf that
 * nats-server itself uses; every other top-level setting is none of our
 * business. Inside that block a setting is one of jetcryptfs's, one of
 * nats-server's that jetcryptfs leaves alone (js_settings lists both), or
 * an error -- as nats-server treats it: a typo like "chipher" must stop
 * the mount, not let it go on with the default cipher. Secrets are copied
 * into sodium_malloc'd memory and never appear in a message: errors name
 * the setting, not its value, and leave out a name or a cipher that looks
 * like a key pasted in its place.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "natsconf.h"
#include "format.h"

#define CONFIG_PCR_MIN      17
#define CONFIG_PCR_MAX      23

struct config_ctx {
	struct config *cfg;
	char *err;
	size_t errlen;
};

/* What a setting of the jetstream or tpm block is for. */
enum setting_use {
	USE_NATS,               /* nats-server's alone: left alone */
	USE_CIPHER,
	USE_KEY,
	USE_PREV_KEY,
	USE_STORE_DIR,
	USE_BACKING_DIR,
	USE_ADOPT,
	USE_STRICT,
	USE_ALLOW_WEAK_KEY,
	USE_TPM,
	USE_KEYS_FILE,
	USE_ENCRYPTION_PASSWORD,
	USE_SRK_PASSWORD,
	USE_PCR,
	USE_TCTI,
};

struct setting {
	const char *name;
	enum setting_use use;
};

/* Every setting the jetstream block may hold. First nats-server's, as its
 * parseJetStream (server/opts.go) names them -- matched, as it does, in
 * any case -- with what jetcryptfs makes of each: the same thing for the
 * key, the cipher, the store and the tpm block; its own thing for strict
 * (nats-server's is about API requests). Then jetcryptfs's own, which
 * nats-server refuses. Anything else is a mistake. */
static const struct setting js_settings[] = {
	{ "enabled", USE_NATS }, { "enable", USE_NATS },
	{ "store_dir", USE_STORE_DIR }, { "store", USE_STORE_DIR }, { "storedir", USE_STORE_DIR },
	{ "max_memory_store", USE_NATS }, { "max_mem_store", USE_NATS }, { "max_mem", USE_NATS },
	{ "max_file_store", USE_NATS }, { "max_file", USE_NATS },
	{ "domain", USE_NATS },
	{ "key", USE_KEY }, { "ek", USE_KEY }, { "encryption_key", USE_KEY },
	{ "prev_key", USE_PREV_KEY }, { "prev_ek", USE_PREV_KEY }, { "prev_encryption_key", USE_PREV_KEY },
	{ "cipher", USE_CIPHER },
	{ "extension_hint", USE_NATS },
	{ "unique_tag", USE_NATS },
	{ "max_outstanding_catchup", USE_NATS },
	{ "max_buffered_size", USE_NATS }, { "max_buffered_msgs", USE_NATS },
	{ "request_queue_limit", USE_NATS }, { "info_queue_limit", USE_NATS },
	{ "meta_compact", USE_NATS }, { "meta_compact_size", USE_NATS }, { "meta_compact_sync", USE_NATS },
	{ "sync", USE_NATS }, { "sync_interval", USE_NATS },
	{ "strict", USE_STRICT },
	{ "limits", USE_NATS },
	{ "tpm", USE_TPM },
	/* jetcryptfs's own */
	{ "backing_dir", USE_BACKING_DIR },
	{ "adopt", USE_ADOPT },
	{ "allow_weak_key", USE_ALLOW_WEAK_KEY },
};

/* The tpm block: nats-server's five settings and jetcryptfs's tcti. */
static const struct setting tpm_settings[] = {
	{ "keys_file", USE_KEYS_FILE },
	{ "encryption_password", USE_ENCRYPTION_PASSWORD },
	{ "srk_password", USE_SRK_PASSWORD },
	{ "pcr", USE_PCR },
	{ "cipher", USE_CIPHER },
	{ "tcti", USE_TCTI },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct setting *setting_find(const struct setting *tab, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(tab[i].name, name) == 0)
			return &tab[i];
	return NULL;
}

static int vfail(struct config_ctx *c, const char *file, int line, int col, const char *fmt,
		 va_list ap)
{
	if (c->err && c->errlen) {
		int n = snprintf(c->err, c->errlen, "%s:%d:%d: ", file, line, col);
		if (n >= 0 && (size_t)n < c->errlen)
			vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	}
	return -EINVAL;
}

/* An error at a value. */
__attribute__((format(printf, 3, 4)))
static int fail_at(struct config_ctx *c, const struct natsconf_value *v, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail(c, v->file, v->line, v->col, fmt, ap);
	va_end(ap);
	return r;
}

/* An error at a setting's name (a name and its value are in one file). */
__attribute__((format(printf, 3, 4)))
static int fail_at_name(struct config_ctx *c, const struct natsconf_entry *e, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail(c, e->val->file, e->line, e->col, fmt, ap);
	va_end(ap);
	return r;
}

static const char *article(enum natsconf_type t)
{
	return (t == NATSCONF_INT || t == NATSCONF_ARRAY) ? "an" : "a";
}

/* Names the types only: the value itself may be a secret. */
static int fail_type(struct config_ctx *c, const char *name, const struct natsconf_value *v,
		     const char *want)
{
	const char *hint = "";

	if (strcmp(want, "a string") == 0 &&
	    (v->type == NATSCONF_INT || v->type == NATSCONF_FLOAT || v->type == NATSCONF_BOOL))
		hint = " (put it in quotes)";
	return fail_at(c, v, "%s must be %s, not %s %s%s", name, want, article(v->type),
		       natsconf_type_name(v->type), hint);
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

static int get_string(struct config_ctx *c, const char *name, const struct natsconf_value *v,
		      char **dst)
{
	char *s;

	if (v->type != NATSCONF_STRING)
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
static int get_path(struct config_ctx *c, const char *name, const struct natsconf_value *v,
		    char **dst)
{
	if (v->type == NATSCONF_STRING && v->u.s[0] == '\0')
		return fail_at(c, v, "%s is empty", name);
	return get_string(c, name, v, dst);
}

/* Secrets go to guarded, locked memory; sodium_free wipes them. */
static int get_secret(struct config_ctx *c, const char *name, const struct natsconf_value *v,
		      char **dst)
{
	size_t n;
	char *s;

	if (v->type != NATSCONF_STRING)
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
static int get_bool(struct config_ctx *c, const char *name, const struct natsconf_value *v, int *dst)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	size_t i;

	if (v->type == NATSCONF_BOOL) {
		*dst = v->u.b ? 1 : 0;
		return 0;
	}
	if (v->type == NATSCONF_STRING) {
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
static int get_int(const struct natsconf_value *v, long long *dst)
{
	if (v->type == NATSCONF_INT) {
		*dst = v->u.i;
		return 0;
	}
	if (v->type == NATSCONF_STRING && v->u.s[0]) {
		char *end;
		errno = 0;
		*dst = strtoll(v->u.s, &end, 10);
		if (!errno && *end == '\0')
			return 0;
	}
	return -EINVAL;
}

/* 1 if a word may be quoted in a message: it looks like a name (a typo
 * such as "chipher", a cipher such as "aess"), not like a key pasted where
 * a name goes -- no mix of upper and lower case, few digits, short. */
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

static int get_cipher(struct config_ctx *c, const char *name, const struct natsconf_value *v, int *dst)
{
	int id;

	if (v->type != NATSCONF_STRING)
		return fail_type(c, name, v, "a cipher name");
	if (v->u.s[0] == '\0')
		return fail_at(c, v, "%s is empty (use chachapoly or aes)", name);
	id = fmt_cipher_from_name(v->u.s);
	if (id < 0 && looks_like_name(v->u.s))
		return fail_at(c, v, "unknown cipher \"%s\" for %s (use chachapoly or aes)", v->u.s, name);
	if (id < 0) {
		/* a password pasted here (or a $VAR holding one) must not
		 * reach a log */
		return fail_at(c, v, "unknown cipher for %s (value not shown: it looks like a key; "
			       "use chachapoly or aes)", name);
	}
	*dst = id;
	return 0;
}

/* Damerau-Levenshtein distance (adjacent transpositions count one),
 * ignoring case; names longer than NAME_MAX_CMP are taken as far. */
#define NAME_MAX_CMP 47
static int name_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int d[NAME_MAX_CMP + 1][NAME_MAX_CMP + 1];

	if (la > NAME_MAX_CMP || lb > NAME_MAX_CMP)
		return NAME_MAX_CMP;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			int best = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* The known name nearest to name, if two edits or fewer away (and fewer
 * edits than name has letters: "ab" is not a typo of "ek"); else NULL. */
static const char *nearest_setting(const struct setting *tab, size_t n, const char *name)
{
	const char *best = NULL;
	int bestd = 3;
	size_t i;

	for (i = 0; i < n; i++) {
		int d = name_distance(name, tab[i].name);

		if (d < bestd && (size_t)d < strlen(name)) {
			best = tab[i].name;
			bestd = d;
		}
	}
	return best;
}

/* A setting neither jetcryptfs nor nats-server has in this block: named
 * (unless the name looks like a key), with the nearest known name, or
 * with the block it belongs in. */
static int fail_unknown(struct config_ctx *c, const struct natsconf_entry *e, int in_tpm)
{
	const char *block = in_tpm ? "tpm" : "jetstream";
	const struct setting *here = in_tpm ? tpm_settings : js_settings;
	size_t n_here = in_tpm ? N_OF(tpm_settings) : N_OF(js_settings);
	const char *near;

	if (!looks_like_name(e->key))
		return fail_at_name(c, e, "unknown setting (name not shown: it looks like a key) in the %s block",
				    block);
	if (in_tpm ? setting_find(js_settings, N_OF(js_settings), e->key) != NULL
		   : setting_find(tpm_settings, N_OF(tpm_settings), e->key) != NULL)
		return fail_at_name(c, e, "unknown setting \"%s\" in the %s block (it belongs in the %s block)",
				    e->key, block, in_tpm ? "jetstream" : "tpm");
	near = nearest_setting(here, n_here, e->key);
	if (near)
		return fail_at_name(c, e, "unknown setting \"%s\" in the %s block (did you mean \"%s\"?)",
				    e->key, block, near);
	return fail_at_name(c, e, "unknown setting \"%s\" in the %s block (neither jetcryptfs nor "
			    "nats-server has it)", e->key, block);
}

static int load_tpm_setting(struct config_ctx *c, enum setting_use use, const struct natsconf_value *v)
{
	struct config_tpm *t = &c->cfg->tpm;
	long long pcr;

	switch (use) {
	case USE_KEYS_FILE:
		return get_path(c, "tpm.keys_file", v, &t->keys_file);
	case USE_ENCRYPTION_PASSWORD:
		return get_secret(c, "tpm.encryption_password", v, &t->encryption_password);
	case USE_SRK_PASSWORD:
		return get_secret(c, "tpm.srk_password", v, &t->srk_password);
	case USE_PCR:
		if (get_int(v, &pcr) < 0)
			return fail_type(c, "tpm.pcr", v, "an integer between 17 and 23");
		if (pcr < CONFIG_PCR_MIN || pcr > CONFIG_PCR_MAX)
			return fail_at(c, v, "tpm.pcr must be between %d and %d (NATS's range; "
				       "see docs/TPM.md), not %lld", CONFIG_PCR_MIN, CONFIG_PCR_MAX, pcr);
		t->pcr = (int)pcr;
		return 0;
	case USE_CIPHER:
		return get_cipher(c, "tpm.cipher", v, &t->cipher);
	case USE_TCTI:
		return get_string(c, "tpm.tcti", v, &t->tcti);
	default:
		return 0;       /* tpm_settings holds no other */
	}
}

static int load_tpm(struct config_ctx *c, const struct natsconf_value *blk)
{
	struct config_tpm *t = &c->cfg->tpm;
	size_t i;
	int r;

	if (blk->type != NATSCONF_MAP)
		return fail_type(c, "tpm", blk, "a block { ... }");
	t->present = 1;
	for (i = 0; i < blk->u.map.n; i++) {
		const struct natsconf_entry *e = &blk->u.map.v[i];
		const struct setting *st = setting_find(tpm_settings, N_OF(tpm_settings), e->key);

		if (!st)
			return fail_unknown(c, e, 1);
		r = load_tpm_setting(c, st->use, e->val);
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
static const struct natsconf_value *later_of(const struct natsconf_value *a, const struct natsconf_value *b)
{
	return b->line > a->line || (b->line == a->line && b->col > a->col) ? b : a;
}

/* Two aliases of one setting in a block: which one wins is written
 * nowhere (NATS docs and ours alike), so neither does. A repeat of the same
 * name, in any case, is not this: the later one wins, as in NATS. */
static int alias_clash(struct config_ctx *c, const struct natsconf_value *v, const char *name,
		       const char *other, const char *what)
{
	return fail_at(c, v, "%s and %s both set %s: give only one of them", name, other, what);
}

static void tpm_reset(struct config_tpm *t)
{
	sodium_free(t->encryption_password);
	sodium_free(t->srk_password);
	wipe_free(t->keys_file);
	wipe_free(t->tcti);
	memset(t, 0, sizeof(*t));
	t->pcr = CONFIG_PCR_DEFAULT;
}

/* Where load_jetstream is in the block: what was set where, and under
 * which of its names. */
struct js_seen {
	const struct natsconf_value *key, *tpm, *adopt, *strict;
	const char *name[USE_TCTI + 1];         /* the spelling first used, per setting */
};

static int load_js_setting(struct config_ctx *c, struct js_seen *seen, const struct natsconf_entry *e,
			   enum setting_use use)
{
	static const char *const what[USE_TCTI + 1] = {
		[USE_KEY] = "the key", [USE_PREV_KEY] = "the previous key",
		[USE_STORE_DIR] = "the mount point",
	};
	struct config *cfg = c->cfg;
	const struct natsconf_value *v = e->val;
	const char *k = e->key;

	if (what[use]) {
		if (seen->name[use] && strcasecmp(seen->name[use], k) != 0)
			return alias_clash(c, v, k, seen->name[use], what[use]);
		seen->name[use] = k;
	}
	switch (use) {
	case USE_CIPHER:
		return get_cipher(c, "cipher", v, &cfg->cipher);
	case USE_KEY:
		seen->key = v;
		return get_secret(c, k, v, &cfg->key);
	case USE_PREV_KEY:
		return get_secret(c, k, v, &cfg->prev_key);
	case USE_STORE_DIR:
		return get_path(c, k, v, &cfg->store_dir);
	case USE_BACKING_DIR:
		return get_path(c, "backing_dir", v, &cfg->backing_dir);
	case USE_ADOPT:
		seen->adopt = v;
		return get_bool(c, "adopt", v, &cfg->adopt);
	case USE_STRICT:
		seen->strict = v;
		return get_bool(c, "strict", v, &cfg->strict);
	case USE_ALLOW_WEAK_KEY:
		return get_bool(c, "allow_weak_key", v, &cfg->allow_weak_key);
	case USE_TPM:
		if (seen->tpm)
			tpm_reset(&cfg->tpm);   /* two case-variants ("tpm", "TPM"): the later wins */
		seen->tpm = v;
		return load_tpm(c, v);
	default:
		return 0;       /* nats-server's alone */
	}
}

/* "jetstream: enabled" (or disabled, or a boolean) switches JetStream on
 * or off in nats-server and carries no settings for us; a string from
 * the environment may say true or false. */
static int js_switch_word(const char *s)
{
	static const char *const words[] = { "enabled", "enable", "disabled", "disable", "true",
					     "false", "yes", "no", "on", "off" };
	size_t i;

	for (i = 0; i < N_OF(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return 1;
	return 0;
}

static int load_jetstream(struct config_ctx *c, const struct natsconf_value *js)
{
	struct config *cfg = c->cfg;
	struct js_seen seen = { 0 };
	size_t i;
	int r;

	if (js->type == NATSCONF_BOOL || (js->type == NATSCONF_STRING && js_switch_word(js->u.s)))
		return 0;
	if (js->type == NATSCONF_STRING)
		return fail_at(c, js, "jetstream must be a block { ... }, enabled or disabled, not another string");
	if (js->type != NATSCONF_MAP)
		return fail_type(c, "jetstream", js, "a block { ... }");

	for (i = 0; i < js->u.map.n; i++) {
		const struct natsconf_entry *e = &js->u.map.v[i];
		const struct setting *st = setting_find(js_settings, N_OF(js_settings), e->key);

		if (!st)
			return fail_unknown(c, e, 0);
		r = load_js_setting(c, &seen, e, st->use);
		if (r < 0)
			return r;
	}
	if (cfg->adopt == 1 && cfg->strict == 1)
		/* adopt lets plaintext files in, strict refuses a store with any */
		return fail_at(c, later_of(seen.adopt, seen.strict), "adopt and strict cannot both be true");
	if (seen.key && seen.tpm) {
		/* as nats-server: the key comes from the TPM or from the config, not both */
		return fail_at(c, later_of(seen.key, seen.tpm), "key and tpm cannot be used together: "
			       "the key comes either from the config or from the TPM");
	}
	return 0;
}

static void config_init(struct config *cfg)
{
	*cfg = (struct config)CONFIG_EMPTY;
}

static int config_apply(struct config *cfg, const char *name, struct natsconf_value *root,
			char *err, size_t errlen)
{
	struct config_ctx c = { .cfg = cfg, .err = err, .errlen = errlen };
	const struct natsconf_value *js = natsconf_map_get(root, "jetstream");

	if (!js) {
		/* An empty file or a FIFO no one writes to reads as empty:
		 * whoever gave it meant something by it. */
		snprintf(cfg->warning, sizeof(cfg->warning), "%s: no jetstream { } block: nothing in it is used", name);
		return 0;
	}
	return load_jetstream(&c, js);
}

static int config_finish(struct config *cfg, const char *name, struct natsconf_value *root, int r,
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
	natsconf_free(root);
	if (r < 0) {
		/* the caller gets nothing half-loaded, but for the variables
		 * to scrub */
		char **env = cfg->env_names;

		cfg->env_names = NULL;
		config_free(cfg);
		cfg->env_names = env;
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
	struct natsconf_value *root = NULL;
	struct natsconf_names env;
	int r = config_begin(cfg, path, err, errlen);

	if (r < 0)
		return r;
	r = natsconf_parse_file_env(path, 0, &root, &env, err, errlen);
	cfg->env_names = env.v;
	return config_finish(cfg, path, root, r, err, errlen);
}

int config_load_string(const char *text, const char *name, struct config *cfg,
		       char *err, size_t errlen)
{
	struct natsconf_value *root = NULL;
	struct natsconf_names env;
	int r = config_begin(cfg, name, err, errlen);

	if (r < 0)
		return r;
	r = natsconf_parse_string_env(text, name, 0, &root, &env, err, errlen);
	cfg->env_names = env.v;
	return config_finish(cfg, name, root, r, err, errlen);
}

int config_env_names(const char *path, char ***names)
{
	struct natsconf_value *root = NULL;
	struct natsconf_names env;
	int r = natsconf_parse_file_env(path, NATSCONF_REGULAR_ONLY, &root, &env, NULL, 0);

	natsconf_free(root);
	*names = env.v;
	return r;
}

void config_names_free(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
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
	config_names_free(cfg->env_names);
	sodium_memzero(cfg, sizeof(*cfg));
	config_init(cfg);
}
