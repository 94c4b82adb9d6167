/*
 * The NATS configuration syntax, parsed into a tree of natsconf_value. This is a
 * hand-written recursive-descent parser over the whole file in memory; it
 * follows nats-server's conf package where that is well defined and is
 * stricter or friendlier where NATS is silent or surprising (see the notes
 * at each rule). Every error is one line "FILE:LINE:COL: problem" pointing
 * at the character that caused it (for unterminated things: the opening
 * quote, brace or bracket), and never quotes the text of a value, because
 * any value may be a key -- nor a name, unless it is one of the settings
 * jetcryptfs knows: a stray word where a name goes is often part of a
 * value. The file text and every string of the tree are wiped before they
 * are freed.
 */
#include "natsconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define NATSCONF_MAX_FILE     (16u << 20)   /* a config file is small; refuse a runaway one */
#define NATSCONF_MAX_INCLUDE  16            /* include depth */

/* What one parse shares across its files: the size of the tree so far,
 * the flags and where the environment variables used are listed. */
struct natsconf_parse {
	size_t size;            /* values, keys, strings: what charge() was told */
	int too_big;            /* the size limit was hit: errors are -E2BIG */
	unsigned flags;
	struct natsconf_names *env; /* NULL: not asked for */
};

struct natsconf_pos {
	size_t off;
	int line, col;
};

/* One file (or string) being parsed; parent is the file that included it. */
struct natsconf_src {
	const char *name;       /* for messages and natsconf_value.file */
	char *dir;              /* base directory for relative includes */
	char *real;             /* realpath, NULL for text given as a string */
	const char *text;
	size_t len;
	struct natsconf_pos p;
	const struct natsconf_src *parent;
	int depth;
	int nest;               /* blocks and arrays around the include */
	struct natsconf_parse *ps;
	char *err;
	size_t errlen;
	int failed;
};

/* The maps enclosing the value being parsed, innermost first: where
 * $VAR is looked up. Arrays are not scopes (as in NATS). */
struct natsconf_scope {
	const struct natsconf_value *map;
	const struct natsconf_scope *up;
};

static void wipe_str(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* The first error wins: later ones are consequences of it. */
__attribute__((format(printf, 3, 4)))
static int fail_at(struct natsconf_src *s, struct natsconf_pos at, const char *fmt, ...)
{
	if (s->failed)
		return -EINVAL;
	s->failed = 1;
	if (s->err && s->errlen) {
		int n = snprintf(s->err, s->errlen, "%s:%d:%d: ", s->name, at.line, at.col);
		if (n >= 0 && (size_t)n < s->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(s->err + n, s->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static int fail_nomem(struct natsconf_src *s)
{
	/* what the caller took for out of memory was the size limit */
	if (s->ps->too_big)
		return -E2BIG;
	if (!s->failed) {
		s->failed = 1;
		if (s->err && s->errlen)
			snprintf(s->err, s->errlen, "%s: out of memory", s->name);
	}
	return -ENOMEM;
}

/* Names a message may quote: the settings jetcryptfs reads and the blocks
 * around them. Anything else where a name goes may be a piece of a value
 * -- a key pasted without its "key:", the second word of an unquoted
 * password -- so messages name the kind of token instead (token_kind). */
static const char *const known_names[] = {
	"jetstream", "cipher", "key", "encryption_key", "ek", "prev_key",
	"prev_encryption_key", "prev_ek", "store_dir", "store", "storedir",
	"backing_dir", "adopt", "strict", "tpm", "keys_file", "encryption_password",
	"srk_password", "pcr", "tcti",
};

static int is_known_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(known_names) / sizeof(known_names[0]); i++)
		if (strcasecmp(name, known_names[i]) == 0)
			return 1;
	return 0;
}

static const char *token_kind(int quoted)
{
	return quoted ? "string" : "word";
}

/* An environment variable's name as people write them (JS_KEY): quoted in
 * "unknown variable" messages. A lower- or mixed-case "$..." is more often
 * a password that happens to start with '$'. */
static int is_env_style_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > 64 || (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return 0;
	return 1;
}

/* ---- reading characters ---- */

static int peek(const struct natsconf_src *s)
{
	return s->p.off < s->len ? (unsigned char)s->text[s->p.off] : -1;
}

static int peek2(const struct natsconf_src *s)
{
	return s->p.off + 1 < s->len ? (unsigned char)s->text[s->p.off + 1] : -1;
}

/* Columns count characters, not bytes: a UTF-8 continuation byte does not
 * move the column, so positions match what an editor shows. */
static void adv(struct natsconf_src *s)
{
	unsigned char b;

	if (s->p.off >= s->len)
		return;
	b = (unsigned char)s->text[s->p.off++];
	if (b == '\n') {
		s->p.line++;
		s->p.col = 1;
	} else if ((b & 0xC0) != 0x80) {
		s->p.col++;
	}
}

static int is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int at_comment(const struct natsconf_src *s)
{
	int c = peek(s);
	return c == '#' || (c == '/' && peek2(s) == '/');
}

/* Returns 1 if anything was skipped. */
static int skip_blank(struct natsconf_src *s)
{
	int any = 0;
	while (is_blank(peek(s))) {
		adv(s);
		any = 1;
	}
	return any;
}

static void skip_comment(struct natsconf_src *s)
{
	while (peek(s) != -1 && peek(s) != '\n')
		adv(s);
}

static void skip_space(struct natsconf_src *s)
{
	for (;;) {
		int c = peek(s);
		if (is_blank(c) || c == '\n')
			adv(s);
		else if (at_comment(s))
			skip_comment(s);
		else
			return;
	}
}

/* ---- growing string buffer that never leaves a copy of a secret behind ---- */

struct sbuf {
	char *b;
	size_t n, cap;
};

static int sbuf_put(struct sbuf *sb, const char *p, size_t n)
{
	if (sb->n + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 32;
		char *nb;
		while (cap < sb->n + n + 1)
			cap *= 2;
		/* realloc could leave the old bytes in freed memory */
		nb = malloc(cap);
		if (!nb)
			return -ENOMEM;
		if (sb->b) {
			memcpy(nb, sb->b, sb->n);
			sodium_memzero(sb->b, sb->cap);
			free(sb->b);
		}
		sb->b = nb;
		sb->cap = cap;
	}
	memcpy(sb->b + sb->n, p, n);
	sb->n += n;
	sb->b[sb->n] = '\0';
	return 0;
}

static int sbuf_putc(struct sbuf *sb, char c)
{
	return sbuf_put(sb, &c, 1);
}

static void sbuf_wipe(struct sbuf *sb)
{
	if (sb->b) {
		sodium_memzero(sb->b, sb->cap);
		free(sb->b);
	}
	sb->b = NULL;
	sb->n = sb->cap = 0;
}

/* Hands the string over; an empty buffer yields "". */
static char *sbuf_take(struct sbuf *sb)
{
	char *r = sb->b;
	if (!r)
		r = calloc(1, 1);
	sb->b = NULL;
	sb->n = sb->cap = 0;
	return r;
}

/* ---- the tree ---- */

const char *natsconf_type_name(enum natsconf_type t)
{
	switch (t) {
	case NATSCONF_STRING: return "string";
	case NATSCONF_INT: return "integer";
	case NATSCONF_FLOAT: return "float";
	case NATSCONF_BOOL: return "boolean";
	case NATSCONF_MAP: return "block";
	case NATSCONF_ARRAY: return "array";
	}
	return "unknown";
}

void natsconf_free(struct natsconf_value *v)
{
	size_t i;

	if (!v)
		return;
	switch (v->type) {
	case NATSCONF_STRING:
		wipe_str(v->u.s);
		break;
	case NATSCONF_MAP:
		for (i = 0; i < v->u.map.n; i++) {
			wipe_str(v->u.map.v[i].key);
			natsconf_free(v->u.map.v[i].val);
		}
		free(v->u.map.v);
		break;
	case NATSCONF_ARRAY:
		for (i = 0; i < v->u.arr.n; i++)
			natsconf_free(v->u.arr.v[i]);
		free(v->u.arr.v);
		break;
	default:
		break;
	}
	free(v->file);
	sodium_memzero(v, sizeof(*v));
	free(v);
}

/* Adds n bytes to the size of the tree; past NATSCONF_MAX_TREE the parse
 * fails, with the message at the place that crossed the line. */
static int charge(struct natsconf_src *s, size_t n, struct natsconf_pos at)
{
	if (s->ps->too_big)
		return -E2BIG;
	if (n > NATSCONF_MAX_TREE - s->ps->size) {
		fail_at(s, at, "the config grows past %u MiB once its $VAR references and includes are "
			"expanded (is a variable copied into itself over and over?)", NATSCONF_MAX_TREE >> 20);
		s->ps->too_big = 1;
		return -E2BIG;
	}
	s->ps->size += n;
	return 0;
}

/* What a value costs besides its string: itself, its slot in the block or
 * array that holds it, and its copy of the file name. */
static size_t node_cost(const char *file)
{
	return sizeof(struct natsconf_value) + sizeof(struct natsconf_value *) + strlen(file) + 1;
}

/* NULL if out of memory or past the size limit (fail_nomem tells which). */
static struct natsconf_value *value_new(struct natsconf_src *s, enum natsconf_type t, struct natsconf_pos at)
{
	struct natsconf_value *v;

	if (charge(s, node_cost(s->name), at) < 0)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->file = strdup(s->name);
	if (!v->file) {
		free(v);
		return NULL;
	}
	v->type = t;
	v->line = at.line;
	v->col = at.col;
	return v;
}

static int value_dup(struct natsconf_src *s, const struct natsconf_value *src, const char *file,
		     int line, int col, int nest, struct natsconf_pos at, struct natsconf_value **out);

/* value_dup's entries of a block, into v (whose values are nest deep). */
static int dup_entries(struct natsconf_src *s, const struct natsconf_value *src, struct natsconf_value *v,
		       int nest, struct natsconf_pos at)
{
	size_t i;
	int r;

	if (src->u.map.n) {
		v->u.map.v = calloc(src->u.map.n, sizeof(*v->u.map.v));
		if (!v->u.map.v)
			return fail_nomem(s);
	}
	for (i = 0; i < src->u.map.n; i++) {
		const struct natsconf_entry *se = &src->u.map.v[i];
		struct natsconf_entry *de = &v->u.map.v[i];

		v->u.map.n = i + 1;     /* what natsconf_free(v) frees */
		r = charge(s, sizeof(*de) + strlen(se->key) + 1, at);
		if (r < 0)
			return r;
		de->key = strdup(se->key);
		if (!de->key)
			return fail_nomem(s);
		de->line = se->line;
		de->col = se->col;
		r = value_dup(s, se->val, se->val->file, se->val->line, se->val->col, nest, at, &de->val);
		if (r < 0)
			return r;
	}
	return 0;
}

/* value_dup's elements of an array, into v (whose values are nest deep). */
static int dup_elements(struct natsconf_src *s, const struct natsconf_value *src, struct natsconf_value *v,
			int nest, struct natsconf_pos at)
{
	size_t i;
	int r;

	if (src->u.arr.n) {
		v->u.arr.v = calloc(src->u.arr.n, sizeof(*v->u.arr.v));
		if (!v->u.arr.v)
			return fail_nomem(s);
	}
	for (i = 0; i < src->u.arr.n; i++) {
		const struct natsconf_value *e = src->u.arr.v[i];

		v->u.arr.n = i + 1;     /* what natsconf_free(v) frees */
		r = value_dup(s, e, e->file, e->line, e->col, nest, at, &v->u.arr.v[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A deep copy for $VAR, to go where the reference is written: at, in s,
 * with nest blocks and arrays around it. The copy's root is placed there
 * so that config.c points its messages at the use, not the definition;
 * what it holds keeps its own place. It counts against the tree's size
 * and depth as parsed values do: that is what stops "b: [$a, $a, ...]",
 * "c: [$b, $b, ...]" from doubling its way to gigabytes. */
static int value_dup(struct natsconf_src *s, const struct natsconf_value *src, const char *file,
		     int line, int col, int nest, struct natsconf_pos at, struct natsconf_value **out)
{
	struct natsconf_value *v;
	int r = 0;

	*out = NULL;
	if (nest >= NATSCONF_MAX_NEST)
		return fail_at(s, at, "blocks and arrays nested too deeply once a variable is expanded "
			       "(at most %d levels)", NATSCONF_MAX_NEST);
	r = charge(s, node_cost(file), at);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return fail_nomem(s);
	v->type = src->type;
	v->line = line;
	v->col = col;
	v->file = strdup(file);
	if (!v->file) {
		r = fail_nomem(s);
		goto out;
	}
	switch (src->type) {
	case NATSCONF_STRING:
		r = charge(s, strlen(src->u.s) + 1, at);
		if (r == 0 && !(v->u.s = strdup(src->u.s)))
			r = fail_nomem(s);
		break;
	case NATSCONF_INT:
		v->u.i = src->u.i;
		break;
	case NATSCONF_FLOAT:
		v->u.f = src->u.f;
		break;
	case NATSCONF_BOOL:
		v->u.b = src->u.b;
		break;
	case NATSCONF_MAP:
		r = dup_entries(s, src, v, nest + 1, at);
		break;
	case NATSCONF_ARRAY:
		r = dup_elements(s, src, v, nest + 1, at);
		break;
	}
out:
	if (r < 0)
		natsconf_free(v);
	else
		*out = v;
	return r;
}

/* Takes ownership of key (written at line:col) and val. A repeated key
 * replaces the earlier entry and moves to the end, so file order is the
 * order of the last assignments and the later of two case-variants wins
 * in natsconf_map_get. */
static int map_set(struct natsconf_value *m, char *key, int line, int col, struct natsconf_value *val)
{
	size_t i;

	for (i = 0; i < m->u.map.n; i++) {
		if (strcmp(m->u.map.v[i].key, key) == 0) {
			wipe_str(m->u.map.v[i].key);
			natsconf_free(m->u.map.v[i].val);
			memmove(&m->u.map.v[i], &m->u.map.v[i + 1],
				(m->u.map.n - i - 1) * sizeof(*m->u.map.v));
			m->u.map.n--;
			break;
		}
	}
	/* grows one at a time when n hits a power of two */
	if ((m->u.map.n & (m->u.map.n - 1)) == 0) {
		size_t cap = m->u.map.n ? m->u.map.n * 2 : 4;
		struct natsconf_entry *nv;
		if (m->u.map.n < 4 && m->u.map.v)
			cap = 4;
		nv = realloc(m->u.map.v, cap * sizeof(*nv));
		if (!nv) {
			wipe_str(key);
			natsconf_free(val);
			return -ENOMEM;
		}
		m->u.map.v = nv;
	}
	m->u.map.v[m->u.map.n].key = key;
	m->u.map.v[m->u.map.n].line = line;
	m->u.map.v[m->u.map.n].col = col;
	m->u.map.v[m->u.map.n].val = val;
	m->u.map.n++;
	return 0;
}

static int arr_push(struct natsconf_value *a, struct natsconf_value *val)
{
	if ((a->u.arr.n & (a->u.arr.n - 1)) == 0) {
		size_t cap = a->u.arr.n ? a->u.arr.n * 2 : 4;
		struct natsconf_value **nv;
		if (a->u.arr.n < 4 && a->u.arr.v)
			cap = 4;
		nv = realloc(a->u.arr.v, cap * sizeof(*nv));
		if (!nv) {
			natsconf_free(val);
			return -ENOMEM;
		}
		a->u.arr.v = nv;
	}
	a->u.arr.v[a->u.arr.n++] = val;
	return 0;
}

struct natsconf_value *natsconf_map_get(const struct natsconf_value *map, const char *key)
{
	size_t i;

	if (!map || map->type != NATSCONF_MAP || !key)
		return NULL;
	for (i = map->u.map.n; i-- > 0;)
		if (strcasecmp(map->u.map.v[i].key, key) == 0)
			return map->u.map.v[i].val;
	return NULL;
}

/* ---- values ---- */

static int parse_value(struct natsconf_src *s, const struct natsconf_scope *sc, int nest,
		       struct natsconf_value **out);
static int parse_map_body(struct natsconf_src *s, struct natsconf_value *m,
			  const struct natsconf_scope *sc, int nest, const struct natsconf_pos *open);
static int parse_include(struct natsconf_src *s, struct natsconf_value *m, int nest, struct natsconf_pos at);

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int put_utf8(struct sbuf *sb, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	}
	return sbuf_put(sb, u, n);
}

/* "..." with the NATS escapes \t \n \r \" \\ \xHH, plus \uHHHH and \/
 * (JSON's, since NATS configs are often JSON). A raw newline inside the
 * quotes is kept, as NATS does. */
static int parse_dq(struct natsconf_src *s, struct sbuf *sb)
{
	struct natsconf_pos open = s->p;

	adv(s);
	for (;;) {
		int c = peek(s);
		struct natsconf_pos esc;
		int r;

		if (c == -1)
			return fail_at(s, open, "unterminated string: the '\"' is never closed");
		if (c == '"') {
			adv(s);
			return 0;
		}
		if (c != '\\') {
			if (sbuf_putc(sb, (char)c) < 0)
				return fail_nomem(s);
			adv(s);
			continue;
		}
		esc = s->p;
		adv(s);
		c = peek(s);
		switch (c) {
		case 't': r = sbuf_putc(sb, '\t'); break;
		case 'n': r = sbuf_putc(sb, '\n'); break;
		case 'r': r = sbuf_putc(sb, '\r'); break;
		case '"': r = sbuf_putc(sb, '"'); break;
		case '\\': r = sbuf_putc(sb, '\\'); break;
		case '/': r = sbuf_putc(sb, '/'); break;
		case 'x':
		case 'u': {
			int digits = c == 'x' ? 2 : 4, i;
			unsigned cp = 0;
			for (i = 0; i < digits; i++) {
				int h;
				adv(s);
				h = hexval(peek(s));
				if (h < 0)
					return fail_at(s, esc, "invalid escape sequence: \\%c needs %d hex digits",
						       c, digits);
				cp = cp * 16 + (unsigned)h;
			}
			if (c == 'x') {
				/* a NUL would silently cut the string short */
				if (cp == 0)
					return fail_at(s, esc, "invalid escape sequence: \\x00 is not allowed");
				r = sbuf_putc(sb, (char)cp);
			} else {
				/* the digits are not echoed: they are part of a value */
				if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0)
					return fail_at(s, esc, "invalid escape sequence: a \\u escape of a "
						       "surrogate or of NUL is not a character");
				r = put_utf8(sb, cp);
			}
			break;
		}
		case -1:
			return fail_at(s, open, "unterminated string: the '\"' is never closed");
		default:
			/* not echoed: it is part of a value, which may be a secret */
			return fail_at(s, esc, "invalid escape sequence (use \\t \\n \\r \\\" \\\\ \\xHH or \\uHHHH)");
		}
		if (r < 0)
			return fail_nomem(s);
		adv(s);
	}
}

/* '...': no escapes at all, as in NATS. */
static int parse_sq(struct natsconf_src *s, struct sbuf *sb)
{
	struct natsconf_pos open = s->p;
	size_t start;

	adv(s);
	start = s->p.off;
	while (peek(s) != '\'') {
		if (peek(s) == -1)
			return fail_at(s, open, "unterminated string: the \"'\" is never closed");
		adv(s);
	}
	if (sbuf_put(sb, s->text + start, s->p.off - start) < 0)
		return fail_nomem(s);
	adv(s);
	return 0;
}

static int ends_bare(int c)
{
	return c == -1 || c == '\n' || is_blank(c) || c == ',' || c == ';' || c == '}' || c == ']';
}

/* Integer with an optional NATS size suffix: k/m/g/t/p/e are powers of
 * 1000, kb/ki/kib (and so on) powers of 1024, case-insensitive; so 10G is
 * 10^10 and 10GB is 10*2^30, exactly as nats-server reads them.
 * Returns 1 if t is an integer, 0 if not, -ERANGE if it overflows. */
static int parse_int(const char *t, size_t n, int64_t *out)
{
	static const char *const sfx = "kmgtpe";
	size_t i = 0, d;
	uint64_t mag = 0, mul = 1, lim;
	int neg = 0, k;

	if (i < n && t[i] == '-') {
		neg = 1;
		i++;
	}
	d = i;
	while (i < n && t[i] >= '0' && t[i] <= '9') {
		unsigned dig = (unsigned)(t[i] - '0');
		if (mag > (UINT64_MAX - dig) / 10)
			mag = UINT64_MAX;   /* saturate; checked below once we know it is a number */
		else
			mag = mag * 10 + dig;
		i++;
	}
	if (i == d)
		return 0;
	if (i < n) {
		const char *p = strchr(sfx, t[i] | 0x20);
		size_t rest = n - i - 1;
		uint64_t base;
		if (!p || t[i] == '\0')
			return 0;
		k = (int)(p - sfx) + 1;
		base = 1000;
		if (rest == 0) {
			base = 1000;
		} else if (rest == 1 && ((t[i + 1] | 0x20) == 'b' || (t[i + 1] | 0x20) == 'i')) {
			base = 1024;
		} else if (rest == 2 && (t[i + 1] | 0x20) == 'i' && (t[i + 2] | 0x20) == 'b') {
			base = 1024;
		} else {
			return 0;
		}
		while (k-- > 0)
			mul *= base;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (mag > lim / mul)
		return -ERANGE;
	mag *= mul;
	if (neg)
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	else
		*out = (int64_t)mag;
	return 1;
}

/* -?digits.digits([eE][+-]?digits)? ; 1 if t is a float. */
static int parse_float(const char *t, size_t n, double *out)
{
	size_t i = 0, d;

	if (i < n && t[i] == '-')
		i++;
	d = i;
	while (i < n && t[i] >= '0' && t[i] <= '9')
		i++;
	if (i == d || i >= n || t[i] != '.')
		return 0;
	d = ++i;
	while (i < n && t[i] >= '0' && t[i] <= '9')
		i++;
	if (i == d)
		return 0;
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		i++;
		if (i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		d = i;
		while (i < n && t[i] >= '0' && t[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i != n)
		return 0;
	*out = strtod(t, NULL);
	return 1;
}

static int bool_word(const char *t, int *b)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(t, yes[i]) == 0) {
			*b = 1;
			return 1;
		}
		if (strcasecmp(t, no[i]) == 0) {
			*b = 0;
			return 1;
		}
	}
	return 0;
}

/* Lists name among the environment variables the parse used, once. */
static int note_env(struct natsconf_src *s, const char *name)
{
	struct natsconf_names *e = s->ps->env;
	char **nv;
	size_t i;

	if (!e)
		return 0;
	for (i = 0; i < e->n; i++)
		if (strcmp(e->v[i], name) == 0)
			return 0;
	nv = realloc(e->v, (e->n + 2) * sizeof(*nv));
	if (!nv)
		return fail_nomem(s);
	e->v = nv;
	nv[e->n] = strdup(name);
	if (!nv[e->n])
		return fail_nomem(s);
	nv[++e->n] = NULL;
	return 0;
}

/* $NAME: the keys assigned so far in the enclosing maps, innermost first
 * (case-sensitive, as NATS), then the environment. An environment value
 * is always a string: NATS re-parses it as a config value, which turns
 * JS_KEY=123 into an integer and rejects a key that starts with digits
 * and goes on with letters; a key must come through unchanged. */
static int resolve_var(struct natsconf_src *s, const struct natsconf_scope *sc, const char *name,
		       int nest, struct natsconf_pos at, struct natsconf_value **out)
{
	const char *env;
	int r;

	for (; sc; sc = sc->up) {
		size_t i;
		for (i = sc->map->u.map.n; i-- > 0;) {
			if (strcmp(sc->map->u.map.v[i].key, name) == 0)
				return value_dup(s, sc->map->u.map.v[i].val, s->name, at.line, at.col, nest,
						 at, out);
		}
	}
	env = getenv(name);
	if (!env && is_env_style_name(name))
		return fail_at(s, at, "unknown variable $%s (not set earlier in this file nor in the environment)",
			       name);
	if (!env)
		return fail_at(s, at, "unknown variable: the name after '$' is not set earlier in this file "
			       "nor in the environment (quote a value that starts with '$')");
	r = note_env(s, name);
	if (r == 0)
		r = charge(s, strlen(env) + 1, at);
	if (r < 0)
		return r;
	*out = value_new(s, NATSCONF_STRING, at);
	if (*out)
		(*out)->u.s = strdup(env);
	if (!*out || !(*out)->u.s) {
		natsconf_free(*out);
		*out = NULL;
		return fail_nomem(s);
	}
	return 0;
}

/* An unquoted value: runs to whitespace, newline, ',', ';', '}' or ']'
 * and is a boolean, a number, a $variable or else a string. Unlike NATS,
 * a value that starts with digits and goes on with letters ("3secret")
 * is a string, not an error. */
static int parse_bare(struct natsconf_src *s, const struct natsconf_scope *sc, int nest,
		      struct natsconf_value **out)
{
	struct natsconf_pos at = s->p;
	size_t start = s->p.off, n;
	char *t;
	struct natsconf_value *v = NULL;
	int r, b;
	int64_t iv;
	double fv;

	while (!ends_bare(peek(s)))
		adv(s);
	n = s->p.off - start;
	t = malloc(n + 1);
	if (!t)
		return fail_nomem(s);
	memcpy(t, s->text + start, n);
	t[n] = '\0';

	/* "$2a$11$..." (a bcrypt hash) and "pa$$word" are strings: only a
	 * value that starts with '$' and has no other '$' is a reference */
	if (t[0] == '$' && !strchr(t + 1, '$')) {
		if (t[1] == '\0') {
			r = fail_at(s, at, "'$' without a variable name");
			goto out;
		}
		r = resolve_var(s, sc, t + 1, nest, at, &v);
		goto out;
	}
	r = charge(s, n + 1, at);
	if (r < 0)
		goto out;
	if (bool_word(t, &b)) {
		v = value_new(s, NATSCONF_BOOL, at);
		if (v)
			v->u.b = b;
	} else if ((r = parse_int(t, n, &iv)) != 0) {
		if (r < 0) {
			r = fail_at(s, at, "integer out of range");
			goto out;
		}
		v = value_new(s, NATSCONF_INT, at);
		if (v)
			v->u.i = iv;
	} else if (parse_float(t, n, &fv)) {
		v = value_new(s, NATSCONF_FLOAT, at);
		if (v)
			v->u.f = fv;
	} else {
		v = value_new(s, NATSCONF_STRING, at);
		if (v) {
			v->u.s = t;
			t = NULL;
		}
	}
	r = v ? 0 : fail_nomem(s);
out:
	wipe_str(t);
	*out = v;
	return r;
}

static int parse_string_value(struct natsconf_src *s, struct natsconf_value **out)
{
	struct natsconf_pos at = s->p;
	struct sbuf sb = { 0 };
	int r = peek(s) == '"' ? parse_dq(s, &sb) : parse_sq(s, &sb);
	struct natsconf_value *v;

	if (r == 0)
		r = charge(s, sb.n + 1, at);
	if (r < 0) {
		sbuf_wipe(&sb);
		return r;
	}
	v = value_new(s, NATSCONF_STRING, at);
	if (!v || !(v->u.s = sbuf_take(&sb))) {
		sbuf_wipe(&sb);
		natsconf_free(v);
		return fail_nomem(s);
	}
	*out = v;
	return 0;
}

static int parse_array(struct natsconf_src *s, const struct natsconf_scope *sc, int nest,
		       struct natsconf_value **out)
{
	struct natsconf_pos open = s->p;
	struct natsconf_value *a = value_new(s, NATSCONF_ARRAY, open);
	int r;

	if (!a)
		return fail_nomem(s);
	adv(s);
	for (;;) {
		struct natsconf_value *v = NULL;
		int c;

		skip_space(s);
		c = peek(s);
		if (c == -1) {
			r = fail_at(s, open, "unterminated array: the '[' is never closed");
			goto err;
		}
		if (c == ']') {
			adv(s);
			break;
		}
		if (c == ',' || c == ';' || c == '}') {
			r = fail_at(s, s->p, "unexpected '%c' in an array", c);
			goto err;
		}
		r = parse_value(s, sc, nest, &v);
		if (r < 0)
			goto err;
		if (arr_push(a, v) < 0) {
			r = fail_nomem(s);
			goto err;
		}
		skip_blank(s);
		c = peek(s);
		if (c == ',') {
			adv(s);
		} else if (!(c == '\n' || c == ']' || c == -1 || at_comment(s))) {
			r = fail_at(s, s->p, "expected ',' or ']' after an array element");
			goto err;
		}
	}
	*out = a;
	return 0;
err:
	natsconf_free(a);
	return r;
}

static int parse_value(struct natsconf_src *s, const struct natsconf_scope *sc, int nest,
		       struct natsconf_value **out)
{
	int c = peek(s);

	*out = NULL;
	if (nest >= NATSCONF_MAX_NEST)
		return fail_at(s, s->p, "blocks and arrays nested too deeply");
	switch (c) {
	case '{': {
		struct natsconf_pos open = s->p;
		struct natsconf_value *m = value_new(s, NATSCONF_MAP, open);
		struct natsconf_scope inner;
		int r;
		if (!m)
			return fail_nomem(s);
		inner.map = m;
		inner.up = sc;
		adv(s);
		r = parse_map_body(s, m, &inner, nest + 1, &open);
		if (r < 0) {
			natsconf_free(m);
			return r;
		}
		*out = m;
		return 0;
	}
	case '[':
		return parse_array(s, sc, nest + 1, out);
	case '"':
	case '\'':
		return parse_string_value(s, out);
	default:
		return parse_bare(s, sc, nest, out);
	}
}

/* ---- keys and entries ---- */

static int ends_key(int c)
{
	return c == -1 || c == '\n' || is_blank(c) || strchr(":={}[],;\"'", c) != NULL;
}

static int parse_key(struct natsconf_src *s, char **key)
{
	struct natsconf_pos at = s->p;
	int c = peek(s);
	size_t start;

	if (c == '"' || c == '\'') {
		int q = c;
		adv(s);
		start = s->p.off;
		while (peek(s) != q) {
			if (peek(s) == -1 || peek(s) == '\n')
				return fail_at(s, at, "unterminated quoted name: the '%c' is never closed", q);
			adv(s);
		}
		*key = strndup(s->text + start, s->p.off - start);
		adv(s);
	} else {
		if (ends_key(c)) {
			if (c == ':' || c == '=')
				return fail_at(s, at, "unexpected '%c': a setting needs a name before it", c);
			return fail_at(s, at, "unexpected '%c'", c);
		}
		start = s->p.off;
		while (!ends_key(peek(s)))
			adv(s);
		*key = strndup(s->text + start, s->p.off - start);
	}
	if (!*key)
		return fail_nomem(s);
	if (charge(s, sizeof(struct natsconf_entry) + strlen(*key) + 1, at) < 0) {
		wipe_str(*key);
		*key = NULL;
		return -E2BIG;
	}
	return 0;
}

/* One "key: value" (or "key = value", "key value", "key { }") or an
 * include; same_line says the previous entry ended on this line with no
 * ',' or ';', which is allowed (the NATS docs print such lines) only if
 * this entry says ':' or '=' or opens a block: otherwise an unquoted value
 * with spaces in it ("store_dir: /a b") would silently become two
 * settings. */
static int parse_entry(struct natsconf_src *s, struct natsconf_value *m, const struct natsconf_scope *sc,
		       int nest, int same_line)
{
	struct natsconf_pos at = s->p;
	int quoted = peek(s) == '"' || peek(s) == '\'';
	char *key = NULL;
	struct natsconf_value *v = NULL;
	int sep = 0, sepc = 0, c, r;

	r = parse_key(s, &key);
	if (r < 0)
		return r;

	/* "include x" (NATS: the bare word include followed by a space);
	 * "include: x" stays an ordinary setting */
	if (!quoted && strcasecmp(key, "include") == 0 && is_blank(peek(s))) {
		struct natsconf_pos save = s->p;
		skip_blank(s);
		c = peek(s);
		if (c != ':' && c != '=' && c != '\n' && c != -1 && !at_comment(s)) {
			wipe_str(key);
			return parse_include(s, m, nest, at);
		}
		s->p = save;
	}

	skip_blank(s);
	c = peek(s);
	if (c == ':' || c == '=') {
		sepc = c;
		adv(s);
		sep = 1;
		skip_blank(s);
		c = peek(s);
	}
	if (same_line && !sep && c != '{') {
		static const char hint[] = "to put two settings on one line write 'name: value' "
			"(or separate them with ',' or ';'); quote values that contain spaces";

		if (is_known_name(key))
			r = fail_at(s, at, "unexpected '%s': %s", key, hint);
		else
			r = fail_at(s, at, "unexpected %s: %s", token_kind(quoted), hint);
		goto err;
	}
	if (c == -1 || c == '\n' || c == ',' || c == ';' || c == '}' || c == ']' || at_comment(s)) {
		/* "key\n{" : a block may open on the next line */
		struct natsconf_pos save = s->p;
		if (!sep && c != ',' && c != ';' && c != '}' && c != ']') {
			skip_space(s);
			if (peek(s) == '{')
				goto value;
			s->p = save;
		}
		if (is_known_name(key))
			r = fail_at(s, at, "missing value for '%s'", key);
		else if (sep)
			r = fail_at(s, at, "missing value after '%c'", sepc);
		else
			r = fail_at(s, at, "missing value after a %s (settings are written 'name: value')",
				    token_kind(quoted));
		goto err;
	}
value:
	r = parse_value(s, sc, nest, &v);
	if (r < 0)
		goto err;
	if (map_set(m, key, at.line, at.col, v) < 0)
		return fail_nomem(s);
	return 0;
err:
	wipe_str(key);
	return r;
}

/* Entries up to the closing '}' (open != NULL) or the end of the text. */
static int parse_map_body(struct natsconf_src *s, struct natsconf_value *m,
			  const struct natsconf_scope *sc, int nest, const struct natsconf_pos *open)
{
	int same_line = 0;

	for (;;) {
		int c, r, had_blank;

		if (!same_line) {
			for (;;) {
				skip_space(s);
				c = peek(s);
				if (c != ',' && c != ';')
					break;
				adv(s);
			}
			if (c == -1) {
				if (open)
					return fail_at(s, *open, "unterminated block: the '{' is never closed");
				return 0;
			}
			if (c == '}') {
				if (!open)
					return fail_at(s, s->p, "unexpected '}' with no open block");
				adv(s);
				return 0;
			}
		}
		r = parse_entry(s, m, sc, nest, same_line);
		if (r < 0)
			return r;

		/* what may follow a value on its line */
		had_blank = skip_blank(s);
		c = peek(s);
		if (c == -1 || c == '\n' || c == ',' || c == ';' || c == '}' || at_comment(s))
			same_line = 0;
		else if (c == ']')
			return fail_at(s, s->p, "unexpected ']'");
		else if (had_blank)
			same_line = 1;
		else
			return fail_at(s, s->p, "unexpected character after a value");
	}
}

/* ---- files and includes ---- */

int natsconf_open_file(const char *path, struct stat *st)
{
	int fd, fl;

	/* O_NONBLOCK: open() of a FIFO waits for a writer, a device may wait
	 * for carrier; O_NOCTTY: a terminal named by mistake must not become
	 * ours */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		/* a socket, or a device without a driver */
		return errno == ENXIO ? -EINVAL : -errno;
	}
	if (fstat(fd, st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	/* A pipe stays welcome (-c <(...) keeps a secret off the disk); one
	 * with no writer reads as empty instead of blocking. */
	if (!S_ISREG(st->st_mode) && !S_ISFIFO(st->st_mode)) {
		close(fd);
		return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

const char *natsconf_file_strerror(int rc)
{
	if (rc == -EINVAL)
		return "not a regular file or pipe";
	if (rc == -ESPIPE)
		return "a pipe, left to the process that loads the config";
	return strerror(-rc);
}

/* Reads path whole; with NATSCONF_REGULAR_ONLY a pipe is -ESPIPE, found by
 * stat, so that it is not even opened. */
static int read_all(const char *path, unsigned flags, char **text, size_t *len)
{
	struct stat st;
	char *b = NULL;
	size_t cap, n = 0;
	int fd, e;

	if (flags & NATSCONF_REGULAR_ONLY) {
		if (stat(path, &st) < 0)
			return -errno;
		if (!S_ISREG(st.st_mode))
			return S_ISFIFO(st.st_mode) ? -ESPIPE : S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	fd = natsconf_open_file(path, &st);
	if (fd < 0)
		return fd;
	if ((flags & NATSCONF_REGULAR_ONLY) && !S_ISREG(st.st_mode)) {
		/* replaced since the stat */
		close(fd);
		return -ESPIPE;
	}
	if (st.st_size > (off_t)NATSCONF_MAX_FILE) {
		e = -EFBIG;
		goto out;
	}
	/* a pipe says 0: read up to the limit */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : NATSCONF_MAX_FILE + 1;
	b = malloc(cap);
	if (!b) {
		e = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t k = read(fd, b + n, cap - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			e = -errno;
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n == cap) {
			/* grew since fstat, or past the limit */
			e = -EFBIG;
			goto out;
		}
	}
	*text = b;
	*len = n;
	b = NULL;
	e = 0;
out:
	if (b) {
		sodium_memzero(b, cap);
		free(b);
	}
	close(fd);
	return e;
}

static char *dir_of(const char *path)
{
	const char *sl = strrchr(path, '/');

	if (!sl)
		return strdup(".");
	if (sl == path)
		return strdup("/");
	return strndup(path, (size_t)(sl - path));
}

/* Parses s->text into a fresh root map. */
static int parse_root(struct natsconf_src *s, struct natsconf_value **root)
{
	struct natsconf_pos zero = { 0, 1, 1 };
	struct natsconf_value *m;
	struct natsconf_scope sc;
	const char *nul;
	int r;

	s->p = zero;
	nul = memchr(s->text, '\0', s->len);
	if (nul) {
		while (s->p.off < (size_t)(nul - s->text))
			adv(s);
		return fail_at(s, s->p, "unexpected NUL byte (is this a text file?)");
	}
	m = value_new(s, NATSCONF_MAP, zero);
	if (!m)
		return fail_nomem(s);
	sc.map = m;
	sc.up = NULL;
	skip_space(s);
	if (peek(s) == '{') {
		/* a whole file in braces, as JSON writes it (NATS accepts it) */
		struct natsconf_pos open = s->p;
		adv(s);
		r = parse_map_body(s, m, &sc, s->nest + 1, &open);
		if (r == 0) {
			for (;;) {
				skip_space(s);
				if (peek(s) != ',' && peek(s) != ';')
					break;
				adv(s);
			}
			if (peek(s) != -1)
				r = fail_at(s, s->p, "unexpected text after the closing '}'");
		}
	} else {
		r = parse_map_body(s, m, &sc, s->nest, NULL);
	}
	if (r < 0) {
		natsconf_free(m);
		return r;
	}
	*root = m;
	return 0;
}

/* Includes are parsed as files of their own (their variables cannot see
 * the includer's, as in NATS) and their settings merged into the map that
 * holds the include, whose values are nest deep. */
static int parse_include(struct natsconf_src *s, struct natsconf_value *m, int nest, struct natsconf_pos at)
{
	struct sbuf sb = { 0 };
	struct natsconf_src child = { 0 };
	struct natsconf_value *root = NULL;
	const struct natsconf_src *a;
	char *path = NULL, *text = NULL;
	size_t len = 0, i;
	int c = peek(s), r;

	if (c == '"' || c == '\'') {
		int q = c;
		struct natsconf_pos open = s->p;
		size_t start;
		adv(s);
		start = s->p.off;
		while (peek(s) != q) {
			if (peek(s) == -1 || peek(s) == '\n')
				return fail_at(s, open, "unterminated string: the '%c' is never closed", q);
			adv(s);
		}
		r = sbuf_put(&sb, s->text + start, s->p.off - start);
		adv(s);
	} else {
		size_t start = s->p.off;
		while (!ends_bare(peek(s)))
			adv(s);
		r = sbuf_put(&sb, s->text + start, s->p.off - start);
	}
	if (r < 0)
		return fail_nomem(s);
	if (sb.n == 0) {
		sbuf_wipe(&sb);
		return fail_at(s, at, "include needs a file name");
	}
	if (s->depth + 1 >= NATSCONF_MAX_INCLUDE) {
		r = fail_at(s, at, "includes nested too deeply");
		goto out;
	}
	if (sb.b[0] == '/') {
		path = strdup(sb.b);
	} else if (strcmp(s->dir, ".") == 0) {
		path = strdup(sb.b);
	} else if (asprintf(&path, "%s/%s", s->dir, sb.b) < 0) {
		path = NULL;
	}
	if (!path) {
		r = fail_nomem(s);
		goto out;
	}
	r = read_all(path, s->ps->flags, &text, &len);
	if (r < 0) {
		fail_at(s, at, "cannot read include file '%s': %s", sb.b,
			r == -EFBIG ? "file too large for a config file" : natsconf_file_strerror(r));
		goto out;
	}
	child.real = realpath(path, NULL);
	if (!child.real) {
		r = fail_at(s, at, "cannot resolve include file '%s': %s", sb.b, strerror(errno));
		goto out;
	}
	for (a = s; a; a = a->parent) {
		if (a->real && strcmp(a->real, child.real) == 0) {
			fail_at(s, at, "include loop: '%s' is already being read", sb.b);
			r = -ELOOP;
			goto out;
		}
	}
	child.name = path;
	child.dir = dir_of(path);
	if (!child.dir) {
		r = fail_nomem(s);
		goto out;
	}
	child.text = text;
	child.len = len;
	child.parent = s;
	child.depth = s->depth + 1;
	child.nest = nest;
	child.ps = s->ps;
	child.err = s->err;
	child.errlen = s->errlen;
	r = parse_root(&child, &root);
	if (r < 0) {
		s->failed = 1;     /* the child wrote the message */
		goto out;
	}
	for (i = 0; i < root->u.map.n; i++) {
		r = map_set(m, root->u.map.v[i].key, root->u.map.v[i].line, root->u.map.v[i].col,
			    root->u.map.v[i].val);
		root->u.map.v[i].key = NULL;
		root->u.map.v[i].val = NULL;
		if (r < 0) {
			r = fail_nomem(s);
			goto out;
		}
	}
	r = 0;
out:
	if (root) {
		root->u.map.n = 0;     /* entries moved out (or NULL) */
		natsconf_free(root);
	}
	if (text) {
		sodium_memzero(text, len);
		free(text);
	}
	free(child.real);
	free(child.dir);
	free(path);
	sbuf_wipe(&sb);
	return r;
}

static void set_err_plain(char *err, size_t errlen, const char *name, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", name, what);
}

void natsconf_names_free(struct natsconf_names *env)
{
	size_t i;

	if (!env)
		return;
	for (i = 0; i < env->n; i++)
		free(env->v[i]);
	free(env->v);
	env->v = NULL;
	env->n = 0;
}

/* What both entry points do first: an empty result, libsodium ready. */
static int parse_begin(const char *name, struct natsconf_value **root, struct natsconf_names *env,
		       char *err, size_t errlen)
{
	*root = NULL;
	if (env) {
		env->v = NULL;
		env->n = 0;
	}
	if (err && errlen)
		err[0] = '\0';
	if (sodium_init() < 0) {
		set_err_plain(err, errlen, name, "libsodium failed to initialise");
		return -EIO;
	}
	return 0;
}

int natsconf_parse_string_env(const char *text, const char *name, unsigned flags,
			  struct natsconf_value **root, struct natsconf_names *env, char *err, size_t errlen)
{
	struct natsconf_parse ps = { .flags = flags, .env = env };
	struct natsconf_src s = { 0 };
	int r = parse_begin(name, root, env, err, errlen);

	if (r < 0)
		return r;
	s.name = name;
	s.dir = dir_of(name);
	if (!s.dir) {
		set_err_plain(err, errlen, name, "out of memory");
		return -ENOMEM;
	}
	s.text = text;
	s.len = strlen(text);
	s.ps = &ps;
	s.err = err;
	s.errlen = errlen;
	r = parse_root(&s, root);
	free(s.dir);
	return r;
}

int natsconf_parse_string(const char *text, const char *name, struct natsconf_value **root,
		      char *err, size_t errlen)
{
	return natsconf_parse_string_env(text, name, 0, root, NULL, err, errlen);
}

int natsconf_parse_file_env(const char *path, unsigned flags, struct natsconf_value **root,
			struct natsconf_names *env, char *err, size_t errlen)
{
	struct natsconf_parse ps = { .flags = flags, .env = env };
	struct natsconf_src s = { 0 };
	char *text = NULL;
	size_t len = 0;
	int r = parse_begin(path, root, env, err, errlen);

	if (r < 0)
		return r;
	if (!*path) {
		/* "-o config=": ": cannot read: No such file" would name nothing */
		if (err && errlen)
			snprintf(err, errlen, "config file name is empty");
		return -EINVAL;
	}
	r = read_all(path, flags, &text, &len);
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 r == -EFBIG ? "file too large for a config file" : natsconf_file_strerror(r));
		return r;
	}
	s.name = path;
	s.dir = dir_of(path);
	s.real = realpath(path, NULL);
	if (!s.dir) {
		r = -ENOMEM;
		set_err_plain(err, errlen, path, "out of memory");
		goto out;
	}
	s.text = text;
	s.len = len;
	s.ps = &ps;
	s.err = err;
	s.errlen = errlen;
	r = parse_root(&s, root);
out:
	sodium_memzero(text, len);
	free(text);
	free(s.real);
	free(s.dir);
	return r;
}

int natsconf_parse_file(const char *path, struct natsconf_value **root, char *err, size_t errlen)
{
	return natsconf_parse_file_env(path, 0, root, NULL, err, errlen);
}
