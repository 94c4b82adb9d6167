/*
 * Unit tests of the NATS-syntax parser (keysrc/natsconf.c): every syntax form
 * it accepts, and for every error the exact FILE:LINE:COL it reports.
 * Fixture files live in TESTDATA (tests/unit/data/conf_*.conf); tests that
 * need files in a fresh directory write them to a mkdtemp directory.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "natsconf.h"

static char errbuf[512];

static struct natsconf_value *parse_ok(const char *text)
{
	struct natsconf_value *root = NULL;
	int r = natsconf_parse_string(text, "t.conf", &root, errbuf, sizeof(errbuf));

	ck_assert_msg(r == 0, "parse failed (%d): %s", r, errbuf);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(root->type, NATSCONF_MAP);
	return root;
}

/* The message must start with exactly "t.conf:LINE:COL: " and contain what. */
#define parse_err(text, where, what) parse_err_(text, where, what, __LINE__)
static void parse_err_(const char *text, const char *where, const char *what, int line)
{
	struct natsconf_value *root = (void *)1;
	int r = natsconf_parse_string(text, "t.conf", &root, errbuf, sizeof(errbuf));

	ck_assert_msg(r < 0, "line %d: parse should fail: %s", line, text);
	ck_assert_ptr_null(root);
	ck_assert_msg(strncmp(errbuf, where, strlen(where)) == 0,
		      "line %d: error '%s' should start with '%s'", line, errbuf, where);
	ck_assert_msg(strstr(errbuf, what) != NULL,
		      "line %d: error '%s' should mention '%s'", line, errbuf, what);
	ck_assert_msg(strchr(errbuf, '\n') == NULL, "error must be one line: %s", errbuf);
}

static const struct natsconf_value *get(const struct natsconf_value *m, const char *key, enum natsconf_type t)
{
	const struct natsconf_value *v = natsconf_map_get(m, key);

	ck_assert_msg(v != NULL, "no key %s", key);
	ck_assert_msg(v->type == t, "%s is a %s, expected %s", key, natsconf_type_name(v->type),
		      natsconf_type_name(t));
	return v;
}

static const char *gets(const struct natsconf_value *m, const char *key)
{
	return get(m, key, NATSCONF_STRING)->u.s;
}

static int64_t geti(const struct natsconf_value *m, const char *key)
{
	return get(m, key, NATSCONF_INT)->u.i;
}

/* ---- temp files ---- */

static char tmpdir[64];

static void tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_natsconf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static const char *write_file(const char *name, const char *text, size_t len)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
	return path;
}

#define write_text(name, text) write_file(name, text, strlen(text))

/* ---- syntax ---- */

START_TEST(key_separators)
{
	struct natsconf_value *r = parse_ok("a: 1\nb = 2\nc 3\nd:4\ne=5\nf\t\t6\n g :  7\n");

	ck_assert_int_eq(geti(r, "a"), 1);
	ck_assert_int_eq(geti(r, "b"), 2);
	ck_assert_int_eq(geti(r, "c"), 3);
	ck_assert_int_eq(geti(r, "d"), 4);
	ck_assert_int_eq(geti(r, "e"), 5);
	ck_assert_int_eq(geti(r, "f"), 6);
	ck_assert_int_eq(geti(r, "g"), 7);
	ck_assert_uint_eq(r->u.map.n, 7);
	/* file order */
	ck_assert_str_eq(r->u.map.v[0].key, "a");
	ck_assert_str_eq(r->u.map.v[6].key, "g");
	natsconf_free(r);
}
END_TEST

START_TEST(entry_separators)
{
	struct natsconf_value *r = parse_ok("m { a: 1, b: 2; c: 3 }\n"
					"n { a: 1  b = 2\tc: three }\n"
					"x: 1; y: 2, z: 3\n"
					"w: 1;\n");
	const struct natsconf_value *m = get(r, "m", NATSCONF_MAP), *n = get(r, "n", NATSCONF_MAP);

	ck_assert_uint_eq(m->u.map.n, 3);
	ck_assert_int_eq(geti(m, "c"), 3);
	ck_assert_uint_eq(n->u.map.n, 3);
	ck_assert_int_eq(geti(n, "b"), 2);
	ck_assert_str_eq(gets(n, "c"), "three");
	ck_assert_int_eq(geti(r, "x"), 1);
	ck_assert_int_eq(geti(r, "y"), 2);
	ck_assert_int_eq(geti(r, "z"), 3);
	ck_assert_int_eq(geti(r, "w"), 1);
	natsconf_free(r);
}
END_TEST

START_TEST(comments)
{
	struct natsconf_value *r = parse_ok("# hash comment\n"
					"// slash comment\n"
					"a: 1 # trailing hash\n"
					"b: \"x # not a comment\" // trailing slash\n"
					"m {\n"
					"  # inside a block\n"
					"  c: 2 // after a value\n"
					"  // last\n"
					"}\n"
					"arr [ 1, # in an array\n"
					"  2 // another\n"
					"  # before the end\n"
					"]\n"
					"url: http://example.com/x\n"
					"   # indented, at the end, no newline");

	ck_assert_int_eq(geti(r, "a"), 1);
	ck_assert_str_eq(gets(r, "b"), "x # not a comment");
	ck_assert_int_eq(geti(get(r, "m", NATSCONF_MAP), "c"), 2);
	ck_assert_uint_eq(get(r, "arr", NATSCONF_ARRAY)->u.arr.n, 2);
	/* "//" inside an unquoted value is part of it */
	ck_assert_str_eq(gets(r, "url"), "http://example.com/x");
	ck_assert_uint_eq(r->u.map.n, 5);
	natsconf_free(r);
}
END_TEST

START_TEST(quoted_keys)
{
	struct natsconf_value *r = parse_ok("\"a b\": 1\n'c:d' = 2\n\"e\" { f: 1 }\n\"include\" \"x\"\n");

	ck_assert_int_eq(geti(r, "a b"), 1);
	ck_assert_int_eq(geti(r, "c:d"), 2);
	ck_assert_int_eq(geti(get(r, "e", NATSCONF_MAP), "f"), 1);
	/* a quoted "include" is an ordinary key */
	ck_assert_str_eq(gets(r, "include"), "x");
	natsconf_free(r);
}
END_TEST

START_TEST(strings)
{
	struct natsconf_value *r = parse_ok(
		"s1: \"tab\\there\\n\\\"q\\\" back\\\\slash \\u00e9 \\u20ac \\x41\\/\\r\"\n"
		"s2: 'no \\escapes \"here\"'\n"
		"s3: bare-string_1.2.3\n"
		"s4: pa$$word\n"
		"s5: $2a$11$abc/def\n"
		"s6: \"$NOT_A_VAR\"\n"
		"s7: \"\"\n"
		"s8: 127.0.0.1:4222\n"
		"s9: 3secret\n"
		"s10: \"two\nlines\"\n"
		"s11: ''\n"
		"s12: 6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1\n"
		"s13: 1.5G\n"
		"s14: a=b:c\n");

	ck_assert_str_eq(gets(r, "s1"), "tab\there\n\"q\" back\\slash \xc3\xa9 \xe2\x82\xac A/\r");
	ck_assert_str_eq(gets(r, "s2"), "no \\escapes \"here\"");
	ck_assert_str_eq(gets(r, "s3"), "bare-string_1.2.3");
	ck_assert_str_eq(gets(r, "s4"), "pa$$word");
	ck_assert_str_eq(gets(r, "s5"), "$2a$11$abc/def");
	ck_assert_str_eq(gets(r, "s6"), "$NOT_A_VAR");
	ck_assert_str_eq(gets(r, "s7"), "");
	ck_assert_str_eq(gets(r, "s8"), "127.0.0.1:4222");
	ck_assert_str_eq(gets(r, "s9"), "3secret");
	ck_assert_str_eq(gets(r, "s10"), "two\nlines");
	ck_assert_str_eq(gets(r, "s11"), "");
	ck_assert_str_eq(gets(r, "s12"), "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1");
	ck_assert_str_eq(gets(r, "s13"), "1.5G");
	ck_assert_str_eq(gets(r, "s14"), "a=b:c");
	natsconf_free(r);
}
END_TEST

START_TEST(integers_and_sizes)
{
	static const struct {
		const char *text;
		int64_t val;
	} t[] = {
		{ "0", 0 }, { "42", 42 }, { "-17", -17 },
		/* as nats-server: k/m/g/t are powers of 1000, kb/ki/kib of 1024 */
		{ "10k", 10000 }, { "10K", 10000 }, { "10kb", 10240 }, { "10KB", 10240 },
		{ "10Kb", 10240 }, { "10ki", 10240 }, { "10KiB", 10240 },
		{ "1m", 1000000 }, { "1M", 1000000 }, { "1mb", 1048576 }, { "1MB", 1048576 },
		{ "10G", 10000000000LL }, { "10g", 10000000000LL },
		{ "10GB", 10737418240LL }, { "10gb", 10737418240LL }, { "10GiB", 10737418240LL },
		{ "2t", 2000000000000LL }, { "2TB", 2199023255552LL },
		{ "1p", 1000000000000000LL }, { "1pb", 1125899906842624LL },
		{ "1e", 1000000000000000000LL }, { "7eb", 8070450532247928832LL },
		{ "-1k", -1000 },
		{ "9223372036854775807", INT64_MAX }, { "-9223372036854775808", INT64_MIN },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[64];
		struct natsconf_value *r;
		snprintf(text, sizeof(text), "v: %s\n", t[i].text);
		r = parse_ok(text);
		ck_assert_msg(geti(r, "v") == t[i].val, "%s -> %lld, expected %lld", t[i].text,
			      (long long)geti(r, "v"), (long long)t[i].val);
		natsconf_free(r);
	}
}
END_TEST

START_TEST(floats)
{
	struct natsconf_value *r = parse_ok("a: 1.5\nb: -0.25\nc: 2.5e3\nd: 0.0\n");

	ck_assert_double_eq(get(r, "a", NATSCONF_FLOAT)->u.f, 1.5);
	ck_assert_double_eq(get(r, "b", NATSCONF_FLOAT)->u.f, -0.25);
	ck_assert_double_eq(get(r, "c", NATSCONF_FLOAT)->u.f, 2500.0);
	ck_assert_double_eq(get(r, "d", NATSCONF_FLOAT)->u.f, 0.0);
	natsconf_free(r);
}
END_TEST

START_TEST(booleans)
{
	struct natsconf_value *r = parse_ok("a: true\nb: FALSE\nc: yes\nd: No\ne: on\nf: OFF\ng: \"true\"\n");

	ck_assert_int_eq(get(r, "a", NATSCONF_BOOL)->u.b, 1);
	ck_assert_int_eq(get(r, "b", NATSCONF_BOOL)->u.b, 0);
	ck_assert_int_eq(get(r, "c", NATSCONF_BOOL)->u.b, 1);
	ck_assert_int_eq(get(r, "d", NATSCONF_BOOL)->u.b, 0);
	ck_assert_int_eq(get(r, "e", NATSCONF_BOOL)->u.b, 1);
	ck_assert_int_eq(get(r, "f", NATSCONF_BOOL)->u.b, 0);
	/* quoted: a string */
	ck_assert_str_eq(gets(r, "g"), "true");
	natsconf_free(r);
}
END_TEST

START_TEST(nested_maps_and_blocks)
{
	struct natsconf_value *r = parse_ok("a { b { c { d: 1 } } }\n"
					"t1 { x: 1 }\n"
					"t2: {}\n"
					"t3 = { }\n"
					"t4\n{\n  y: 2\n}\n"
					"t5 {\n"
					"  inner: {\n"
					"    z: \"deep\"\n"
					"  }\n"
					"}\n");
	const struct natsconf_value *a = get(r, "a", NATSCONF_MAP);

	ck_assert_int_eq(geti(get(get(a, "b", NATSCONF_MAP), "c", NATSCONF_MAP), "d"), 1);
	ck_assert_int_eq(geti(get(r, "t1", NATSCONF_MAP), "x"), 1);
	ck_assert_uint_eq(get(r, "t2", NATSCONF_MAP)->u.map.n, 0);
	ck_assert_uint_eq(get(r, "t3", NATSCONF_MAP)->u.map.n, 0);
	ck_assert_int_eq(geti(get(r, "t4", NATSCONF_MAP), "y"), 2);
	ck_assert_str_eq(gets(get(get(r, "t5", NATSCONF_MAP), "inner", NATSCONF_MAP), "z"), "deep");
	/* positions: the value of t5.inner is its '{' */
	ck_assert_int_eq(get(get(r, "t5", NATSCONF_MAP), "inner", NATSCONF_MAP)->line, 10);
	ck_assert_int_eq(get(get(r, "t5", NATSCONF_MAP), "inner", NATSCONF_MAP)->col, 10);
	natsconf_free(r);
}
END_TEST

START_TEST(arrays)
{
	struct natsconf_value *r = parse_ok("a: [1, \"two\", three, [4, 5], {six: 6}, true, 7.5]\n"
					"b: [\n  x\n  y,\n  z,\n]\n"
					"c: []\n"
					"d [ 'q' ]\n"
					"e: [ { n: 1 }\n      { n: 2 } ]\n");
	const struct natsconf_value *a = get(r, "a", NATSCONF_ARRAY), *b = get(r, "b", NATSCONF_ARRAY);
	const struct natsconf_value *e = get(r, "e", NATSCONF_ARRAY);

	ck_assert_uint_eq(a->u.arr.n, 7);
	ck_assert_int_eq(a->u.arr.v[0]->u.i, 1);
	ck_assert_str_eq(a->u.arr.v[1]->u.s, "two");
	ck_assert_str_eq(a->u.arr.v[2]->u.s, "three");
	ck_assert_int_eq(a->u.arr.v[3]->type, NATSCONF_ARRAY);
	ck_assert_int_eq(a->u.arr.v[3]->u.arr.v[1]->u.i, 5);
	ck_assert_int_eq(geti(a->u.arr.v[4], "six"), 6);
	ck_assert_int_eq(a->u.arr.v[5]->u.b, 1);
	ck_assert_double_eq(a->u.arr.v[6]->u.f, 7.5);
	ck_assert_int_eq(a->u.arr.v[6]->line, 1);
	ck_assert_int_eq(a->u.arr.v[6]->col, 46);
	ck_assert_uint_eq(b->u.arr.n, 3);
	ck_assert_str_eq(b->u.arr.v[2]->u.s, "z");
	ck_assert_uint_eq(get(r, "c", NATSCONF_ARRAY)->u.arr.n, 0);
	ck_assert_str_eq(get(r, "d", NATSCONF_ARRAY)->u.arr.v[0]->u.s, "q");
	ck_assert_uint_eq(e->u.arr.n, 2);
	ck_assert_int_eq(geti(e->u.arr.v[1], "n"), 2);
	natsconf_free(r);
}
END_TEST

START_TEST(variables_from_scope)
{
	struct natsconf_value *r = parse_ok("KEY: \"outer\"\n"
					"blk {\n"
					"  a: $KEY\n"
					"  KEY: \"inner\"\n"
					"  b: $KEY\n"
					"  sub { c: $KEY }\n"
					"  arr: [ $KEY, [ $KEY ] ]\n"
					"}\n"
					"d: $KEY\n"
					"MAPV { x: 1, y: [2] }\n"
					"copy: $MAPV\n"
					"N: 10G\n"
					"n: $N\n");
	const struct natsconf_value *blk = get(r, "blk", NATSCONF_MAP), *copy;

	ck_assert_str_eq(gets(blk, "a"), "outer");
	ck_assert_str_eq(gets(blk, "b"), "inner");
	ck_assert_str_eq(gets(get(blk, "sub", NATSCONF_MAP), "c"), "inner");
	ck_assert_str_eq(get(blk, "arr", NATSCONF_ARRAY)->u.arr.v[0]->u.s, "inner");
	ck_assert_str_eq(get(blk, "arr", NATSCONF_ARRAY)->u.arr.v[1]->u.arr.v[0]->u.s, "inner");
	ck_assert_str_eq(gets(r, "d"), "outer");
	copy = get(r, "copy", NATSCONF_MAP);
	ck_assert_int_eq(geti(copy, "x"), 1);
	ck_assert_int_eq(get(copy, "y", NATSCONF_ARRAY)->u.arr.v[0]->u.i, 2);
	/* a copy stands where the reference is written */
	ck_assert_int_eq(copy->line, 11);
	ck_assert_int_eq(copy->col, 7);
	ck_assert_int_eq(get(blk, "a", NATSCONF_STRING)->line, 3);
	ck_assert_int_eq(get(blk, "a", NATSCONF_STRING)->col, 6);
	ck_assert_int_eq(geti(r, "n"), 10000000000LL);
	natsconf_free(r);
}
END_TEST

START_TEST(variables_from_env)
{
	struct natsconf_value *r;

	setenv("JCFS_TEST_VAR", "from env", 1);
	setenv("JCFS_TEST_NUM", "123", 1);
	setenv("JCFS_TEST_KEY", "6dYfBV0zz EkR3 # not a comment", 1);
	unsetenv("JCFS_TEST_LATER");
	r = parse_ok("a: $JCFS_TEST_VAR\n"
		     "b { c: $JCFS_TEST_NUM }\n"
		     "k: $JCFS_TEST_KEY\n"
		     "JCFS_TEST_VAR: \"from file\"\n"
		     "d: $JCFS_TEST_VAR\n");
	ck_assert_str_eq(gets(r, "a"), "from env");
	/* environment values stay strings, whatever they look like */
	ck_assert_str_eq(gets(get(r, "b", NATSCONF_MAP), "c"), "123");
	ck_assert_str_eq(gets(r, "k"), "6dYfBV0zz EkR3 # not a comment");
	/* a variable of the file shadows the environment once it is set */
	ck_assert_str_eq(gets(r, "d"), "from file");
	natsconf_free(r);

	/* only variables set earlier count */
	parse_err("a: $JCFS_TEST_LATER\nJCFS_TEST_LATER: 1\n", "t.conf:1:4: ",
		  "unknown variable $JCFS_TEST_LATER");
	unsetenv("JCFS_TEST_VAR");
	unsetenv("JCFS_TEST_NUM");
	unsetenv("JCFS_TEST_KEY");
}
END_TEST

START_TEST(repeated_keys_and_case)
{
	struct natsconf_value *r = parse_ok("a: 1\nb: 2\na: 3\nCipher: aes\ncipher: chachapoly\n");

	/* the last assignment wins and moves to the end */
	ck_assert_int_eq(geti(r, "a"), 3);
	ck_assert_uint_eq(r->u.map.n, 4);
	ck_assert_str_eq(r->u.map.v[0].key, "b");
	ck_assert_str_eq(r->u.map.v[1].key, "a");
	/* lookups ignore case; the later of two spellings wins */
	ck_assert_str_eq(gets(r, "CIPHER"), "chachapoly");
	ck_assert_ptr_null(natsconf_map_get(r, "nope"));
	ck_assert_ptr_null(natsconf_map_get(NULL, "a"));
	natsconf_free(r);
}
END_TEST

START_TEST(top_level_braces)
{
	struct natsconf_value *r = parse_ok("// JSON-style\n{\n  \"a\": 1,\n  \"b\": {\"c\": [1, 2]}\n}\n");

	ck_assert_int_eq(geti(r, "a"), 1);
	ck_assert_uint_eq(get(get(r, "b", NATSCONF_MAP), "c", NATSCONF_ARRAY)->u.arr.n, 2);
	natsconf_free(r);
	parse_err("{ a: 1 }\nb: 2\n", "t.conf:2:1: ", "after the closing '}'");
	parse_err("{ a: 1\n", "t.conf:1:1: ", "unterminated block");
}
END_TEST

START_TEST(crlf_and_utf8)
{
	struct natsconf_value *r = parse_ok("a: 1\r\nb: \"x\"\r\nm {\r\n  c: yes\r\n}\r\n");

	ck_assert_int_eq(geti(r, "a"), 1);
	ck_assert_str_eq(gets(r, "b"), "x");
	ck_assert_int_eq(get(get(r, "m", NATSCONF_MAP), "c", NATSCONF_BOOL)->u.b, 1);
	natsconf_free(r);
	r = parse_ok("cl\xc3\xa9: \"\xc3\xa9t\xc3\xa9\"\n");
	ck_assert_str_eq(gets(r, "cl\xc3\xa9"), "\xc3\xa9t\xc3\xa9");
	natsconf_free(r);
	/* columns count characters, not bytes */
	parse_err("\xc3\xa9: 1 2\n", "t.conf:1:6: ", "two settings on one line");
	parse_err("a: 1\r\nb: \"x\r\n", "t.conf:2:4: ", "unterminated string");
}
END_TEST

START_TEST(empty_input)
{
	struct natsconf_value *r = parse_ok("");
	ck_assert_uint_eq(r->u.map.n, 0);
	natsconf_free(r);
	r = parse_ok("\n  # only a comment\n\n// and another");
	ck_assert_uint_eq(r->u.map.n, 0);
	natsconf_free(r);
	natsconf_free(NULL);
}
END_TEST

START_TEST(type_names)
{
	ck_assert_str_eq(natsconf_type_name(NATSCONF_STRING), "string");
	ck_assert_str_eq(natsconf_type_name(NATSCONF_INT), "integer");
	ck_assert_str_eq(natsconf_type_name(NATSCONF_FLOAT), "float");
	ck_assert_str_eq(natsconf_type_name(NATSCONF_BOOL), "boolean");
	ck_assert_str_eq(natsconf_type_name(NATSCONF_MAP), "block");
	ck_assert_str_eq(natsconf_type_name(NATSCONF_ARRAY), "array");
}
END_TEST

START_TEST(nats_encryption_examples)
{
	struct natsconf_value *r;
	const struct natsconf_value *js;

	r = parse_ok("jetstream : { cipher: chachapoly  key : \"6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1\" }\n");
	js = get(r, "jetstream", NATSCONF_MAP);
	ck_assert_uint_eq(js->u.map.n, 2);
	ck_assert_str_eq(gets(js, "cipher"), "chachapoly");
	ck_assert_str_eq(gets(js, "key"), "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1");
	natsconf_free(r);

	setenv("JS_KEY", "the key from the environment", 1);
	r = parse_ok("jetstream : { cipher: chachapoly  key : $JS_KEY }\n");
	js = get(r, "jetstream", NATSCONF_MAP);
	ck_assert_str_eq(gets(js, "key"), "the key from the environment");
	ck_assert_int_eq(get(js, "key", NATSCONF_STRING)->col, 41);
	natsconf_free(r);
	unsetenv("JS_KEY");
	parse_err("jetstream : { cipher: chachapoly  key : $JS_KEY }\n", "t.conf:1:41: ",
		  "unknown variable $JS_KEY");

	r = parse_ok("jetstream : {\n"
		     "   store_dir: \"/var/lib/nats/js\"\n"
		     "   max_file_store: 10G\n"
		     "   tpm {\n"
		     "      keys_file: \"/etc/nats/keys.json\"\n"
		     "      encryption_password: \"mypassword\"\n"
		     "   }\n"
		     "}\n");
	js = get(r, "jetstream", NATSCONF_MAP);
	ck_assert_str_eq(gets(js, "store_dir"), "/var/lib/nats/js");
	ck_assert_int_eq(geti(js, "max_file_store"), 10000000000LL);
	ck_assert_str_eq(gets(get(js, "tpm", NATSCONF_MAP), "keys_file"), "/etc/nats/keys.json");
	ck_assert_str_eq(gets(get(js, "tpm", NATSCONF_MAP), "encryption_password"), "mypassword");
	natsconf_free(r);
}
END_TEST

/* ---- errors ---- */

START_TEST(err_unterminated_string)
{
	parse_err("a: 1\nb: \"abc\nc: 2\n", "t.conf:2:4: ", "unterminated string");
	parse_err("a: 'abc", "t.conf:1:4: ", "unterminated string");
	parse_err("m {\n  k: \"x\\", "t.conf:2:6: ", "unterminated string");
	parse_err("\"abc: 1\n", "t.conf:1:1: ", "unterminated quoted name");
}
END_TEST

START_TEST(err_unterminated_block)
{
	parse_err("a: 1\nb {\n  c: 2\n", "t.conf:2:3: ", "unterminated block");
	/* the innermost block that is never closed */
	parse_err("x {\n  y {\n  }\n", "t.conf:1:3: ", "unterminated block");
	parse_err("x {\n  y: {\n", "t.conf:2:6: ", "unterminated block");
	parse_err("jetstream : { cipher: chachapoly", "t.conf:1:13: ", "unterminated block");
}
END_TEST

START_TEST(err_unterminated_array)
{
	parse_err("a: [1, 2,\n 3\n", "t.conf:1:4: ", "unterminated array");
	parse_err("m {\n  a: [ [1] ", "t.conf:2:6: ", "unterminated array");
}
END_TEST

START_TEST(err_unknown_variable)
{
	unsetenv("NOPE_JCFS");
	parse_err("a: 1\nb: {\n  c: $NOPE_JCFS\n}\n", "t.conf:3:6: ", "unknown variable $NOPE_JCFS");
	parse_err("a: [ 1, $NOPE_JCFS ]\n", "t.conf:1:9: ", "unknown variable $NOPE_JCFS");
	parse_err("a: $\n", "t.conf:1:4: ", "without a variable name");
	/* a variable of an inner block is not visible outside it */
	parse_err("b { NOPE_JCFS: 1 }\nc: $NOPE_JCFS\n", "t.conf:2:4: ", "unknown variable");
}
END_TEST

START_TEST(err_missing_value)
{
	/* names jetcryptfs does not know are not quoted (see err_never_echoes_values) */
	parse_err("a:\nb: 1\n", "t.conf:1:1: ", "missing value after ':'");
	parse_err("x: 1\n  a", "t.conf:2:3: ", "missing value after a word");
	parse_err("m { a: }\n", "t.conf:1:5: ", "missing value after ':'");
	parse_err("a =  # comment\nb: 2\n", "t.conf:1:1: ", "missing value after '='");
	parse_err("m { a, b: 1 }\n", "t.conf:1:5: ", "missing value after a word");
	parse_err("m { \"a\" }\n", "t.conf:1:5: ", "missing value after a string");
	parse_err("jetstream { key: }\n", "t.conf:1:13: ", "missing value for 'key'");
}
END_TEST

START_TEST(err_unexpected)
{
	parse_err("a: \"x\"y\n", "t.conf:1:7: ", "unexpected character after a value");
	parse_err(": x\n", "t.conf:1:1: ", "unexpected ':'");
	parse_err("a: 1\n}\n", "t.conf:2:1: ", "unexpected '}'");
	parse_err("m { a: 1 ] }\n", "t.conf:1:10: ", "unexpected ']'");
	parse_err("a: [1 2]\n", "t.conf:1:7: ", "expected ',' or ']'");
	parse_err("a: [1,,2]\n", "t.conf:1:7: ", "unexpected ','");
	parse_err("a: {b: 1}c: 2\n", "t.conf:1:10: ", "unexpected character after a value");
	/* an unquoted value with spaces is not silently two settings */
	parse_err("store_dir: /a b c\n", "t.conf:1:15: ", "quote values that contain spaces");
}
END_TEST

START_TEST(err_escape)
{
	parse_err("a: \"x\\qy\"\n", "t.conf:1:6: ", "invalid escape sequence");
	parse_err("a: \"\\x4\"\n", "t.conf:1:5: ", "invalid escape sequence");
	parse_err("a: \"\\uD800\"\n", "t.conf:1:5: ", "invalid escape sequence");
	parse_err("a: \"\\x00\"\n", "t.conf:1:5: ", "invalid escape sequence");
	/* the text of a value (maybe a key) never appears in a message */
	parse_err("key: \"s3cr3t-k3y\\q\"\n", "t.conf:1:17: ", "invalid escape");
	ck_assert_ptr_null(strstr(errbuf, "s3cr3t"));
}
END_TEST

/* A parse error never quotes a string or a word that may be a secret: a
 * key pasted without its "key:", the second word of an unquoted password,
 * a password that starts with '$'. It says where and what kind of token. */
#define SECRET "xeMtYt4uQkxvMYwoSJAMmp_8JPvFAw7YOfkkkq_y6LE"
#define no_secret(text, where, what, secret) no_secret_(text, where, what, secret, __LINE__)
static void no_secret_(const char *text, const char *where, const char *what,
		       const char *secret, int line)
{
	parse_err_(text, where, what, line);
	ck_assert_msg(strstr(errbuf, secret) == NULL, "line %d: error quotes \"%s\": %s",
		      line, secret, errbuf);
}

START_TEST(err_never_echoes_values)
{
	/* the QA report's case: a block without its '{' */
	no_secret("jetstream  key: \"" SECRET "\" }\n", "t.conf:1:17: ", "unexpected string", SECRET);
	no_secret("jetstream  key: '" SECRET "' }\n", "t.conf:1:17: ", "unexpected string", SECRET);
	no_secret("jetstream { key: oops " SECRET " }\n", "t.conf:1:23: ", "unexpected word", SECRET);
	/* a key pasted on a line of its own, bare or quoted, with or without ':' */
	no_secret("jetstream {\n  " SECRET "\n}\n", "t.conf:2:3: ", "missing value after a word", SECRET);
	no_secret("jetstream {\n  \"" SECRET "\"\n}\n", "t.conf:2:3: ", "missing value after a string",
		  SECRET);
	no_secret("jetstream {\n  " SECRET ":\n}\n", "t.conf:2:3: ", "missing value after ':'", SECRET);
	no_secret("jetstream { cipher: aes, " SECRET " }\n", "t.conf:1:26: ", "missing value", SECRET);
	/* TPM passwords next to a stray word */
	no_secret("jetstream { tpm { keys_file: f, encryption_password: my s3cret-pw } }\n",
		  "t.conf:1:57: ", "unexpected word", "s3cret");
	no_secret("jetstream { tpm {\n  keys_file: f\n  srk_password: \"a\" \"srk-s3cret\"\n} }\n",
		  "t.conf:3:21: ", "unexpected string", "srk-s3cret");
	no_secret("tpm { encryption_password pw s3cret-pw }\n", "t.conf:1:30: ", "unexpected word",
		  "s3cret");
	/* a password that starts with '$' is taken for a variable */
	unsetenv("ecretPassw0rd");
	no_secret("jetstream { key: $ecretPassw0rd }\n", "t.conf:1:18: ", "unknown variable",
		  "ecretPassw0rd");
	/* a \\u escape inside a value: not even its four digits */
	no_secret("key: \"ab\\uDABCcd\"\n", "t.conf:1:9: ", "invalid escape sequence", "DABC");
	/* what plainly is a setting name is still named */
	parse_err("jetstream { cipher: aes key x }\n", "t.conf:1:25: ", "unexpected 'key'");
	parse_err("jetstream {\n  store_dir\n}\n", "t.conf:2:3: ", "missing value for 'store_dir'");
	parse_err("a: $JCFS_NOT_SET_ANYWHERE\n", "t.conf:1:4: ", "unknown variable $JCFS_NOT_SET_ANYWHERE");
}
END_TEST

START_TEST(err_integer_range)
{
	parse_err("a: 99999999999999999999\n", "t.conf:1:4: ", "integer out of range");
	parse_err("a: 9223372036854775808\n", "t.conf:1:4: ", "integer out of range");
	parse_err("a: 8eb\n", "t.conf:1:4: ", "integer out of range");
	parse_err("m {\n  b: 10000000000000T\n}\n", "t.conf:2:6: ", "integer out of range");
}
END_TEST

START_TEST(err_nesting)
{
	char text[512];
	size_t i;

	memcpy(text, "a: ", 3);
	for (i = 0; i < 200; i++)
		text[3 + i] = '[';
	text[203] = '\0';
	parse_err(text, "t.conf:1:", "nested too deeply");
}
END_TEST

/* text: "a: [[[...depth...]]]" and "b: [[[... $a ...]]]", the second
 * depth2 deep around the reference. */
static void nested_vars(char *text, size_t len, int depth1, int depth2)
{
	size_t n = 0;
	int i;

	n += (size_t)snprintf(text + n, len - n, "a: ");
	for (i = 0; i < depth1; i++)
		text[n++] = '[';
	for (i = 0; i < depth1; i++)
		text[n++] = ']';
	n += (size_t)snprintf(text + n, len - n, "\nb: ");
	for (i = 0; i < depth2; i++)
		text[n++] = '[';
	n += (size_t)snprintf(text + n, len - n, "$a");
	for (i = 0; i < depth2; i++)
		text[n++] = ']';
	text[n++] = '\n';
	text[n] = '\0';
	ck_assert_uint_lt(n, len);
}

/* The nesting limit counts what $VAR brings in: otherwise each variable
 * could add NATSCONF_MAX_NEST levels to the one before, without end. */
START_TEST(err_nesting_through_vars)
{
	struct natsconf_value *r;
	char text[512];

	nested_vars(text, sizeof(text), 30, 30);
	r = parse_ok(text);
	natsconf_free(r);
	/* b's contents are 31 deep around a's root, which is 40 deep */
	nested_vars(text, sizeof(text), 40, 30);
	parse_err(text, "t.conf:2:34: ", "blocks and arrays nested too deeply once a variable is expanded "
		  "(at most 64 levels)");
	nested_vars(text, sizeof(text), NATSCONF_MAX_NEST - 1, 1);
	r = parse_ok(text);
	natsconf_free(r);
	nested_vars(text, sizeof(text), NATSCONF_MAX_NEST, 1);
	parse_err(text, "t.conf:2:5: ", "nested too deeply once a variable is expanded");
}
END_TEST

/* The billion laughs: each line is ten copies of the one before, so "i"
 * would hold 10^8 copies of "a", gigabytes from 400 bytes. */
static void bomb_text(char *text, size_t len)
{
	size_t n = 0;
	char c;
	int i;

	n += (size_t)snprintf(text + n, len - n, "a: \"0123456789abcdef0123456789abcdef\"\n");
	for (c = 'b'; c <= 'i'; c++) {
		n += (size_t)snprintf(text + n, len - n, "%c: [", c);
		for (i = 0; i < 10; i++)
			n += (size_t)snprintf(text + n, len - n, "%s$%c", i ? "," : "", c - 1);
		n += (size_t)snprintf(text + n, len - n, "]\n");
	}
	ck_assert_uint_lt(n, len);
}

struct bomb_result {
	int rc;
	double seconds;
	char err[512];
};

/* It fails within seconds, with the size limit at the reference that
 * crossed it, and the process that parsed it never held more than a few
 * times the limit. Parsed in a child of its own, under an address-space
 * limit (where no sanitizer needs a huge one), so that a regression fails
 * here instead of taking the machine's memory; its peak RSS is measured
 * by wait4. */
START_TEST(err_expansion_bomb)
{
	struct bomb_result res = { 0 };
	struct rusage ru;
	char text[1024];
	int fds[2], status;
	pid_t pid;

	bomb_text(text, sizeof(text));
	ck_assert_uint_lt(strlen(text), 512);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct natsconf_value *root = NULL;
		struct timespec t0, t1;

		close(fds[0]);
#ifndef __SANITIZE_ADDRESS__
		{
			long pages = 0;
			FILE *f = fopen("/proc/self/statm", "r");
			struct rlimit as;

			if (!f || fscanf(f, "%ld", &pages) != 1)
				_exit(3);
			fclose(f);
			as.rlim_cur = as.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (512u << 20);
			if (setrlimit(RLIMIT_AS, &as) < 0)
				_exit(4);
		}
#endif
		alarm(60);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		res.rc = natsconf_parse_string(text, "t.conf", &root, res.err, sizeof(res.err));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		res.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		natsconf_free(root);
		if (write(fds[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
			_exit(5);
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &res, sizeof(res)), (ssize_t)sizeof(res));
	close(fds[0]);
	ck_assert_int_eq(wait4(pid, &status, 0, &ru), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	ck_assert_msg(res.rc == -E2BIG, "rc %d: %s", res.rc, res.err);
	/* somewhere in g's copies of f (where exactly depends on the size of
	 * a pointer) */
	ck_assert_msg(strncmp(res.err, "t.conf:7:", 9) == 0, "%s", res.err);
	ck_assert_msg(strstr(res.err, ": the config grows past 64 MiB once its $VAR references and includes "
			     "are expanded (is a variable copied into itself over and over?)") != NULL, "%s", res.err);
	ck_assert_msg(res.seconds < 10, "took %.1f s", res.seconds);
	/* ru_maxrss is in KiB: the limit and the malloc overhead on it,
	 * with room for a sanitizer's shadow memory */
	ck_assert_msg(ru.ru_maxrss < 400 * 1024, "peak RSS %ld KiB", ru.ru_maxrss);
	fprintf(stderr, "expansion bomb: %s after %.2f s, peak RSS %ld MiB\n", strerror(-res.rc),
		res.seconds, ru.ru_maxrss / 1024);
}
END_TEST

/* A config far larger than real ones, with every user's permissions
 * copied from one variable, is nowhere near the limits. */
START_TEST(large_config_loads)
{
	size_t len = 1 << 20, n = 0;
	char *text = malloc(len);
	struct natsconf_value *r;
	const struct natsconf_value *users;
	int i;

	ck_assert_ptr_nonnull(text);
	n += (size_t)snprintf(text + n, len - n, "PERMS: { publish: { allow: [");
	for (i = 0; i < 50; i++)
		n += (size_t)snprintf(text + n, len - n, "%s\"app.%d.>\"", i ? ", " : "", i);
	n += (size_t)snprintf(text + n, len - n, "] }, subscribe: { allow: [\"_INBOX.>\"] } }\n"
			      "authorization { users: [\n");
	for (i = 0; i < 5000; i++)
		n += (size_t)snprintf(text + n, len - n, "  { user: u%d, password: \"p%d\", permissions: $PERMS }\n",
				      i, i);
	n += (size_t)snprintf(text + n, len - n, "] }\n");
	ck_assert_uint_lt(n, len);
	r = parse_ok(text);
	users = get(get(r, "authorization", NATSCONF_MAP), "users", NATSCONF_ARRAY);
	ck_assert_uint_eq(users->u.arr.n, 5000);
	natsconf_free(r);
	free(text);
}
END_TEST

/* Names of settings carry their own place, for messages about them. */
START_TEST(entry_positions)
{
	struct natsconf_value *r = parse_ok("top: 1\njetstream {\n  cipher: aes\n\t key = \"k\"\n}\nV: { x: 1 }\n"
					"copy: $V\n");
	const struct natsconf_value *js = get(r, "jetstream", NATSCONF_MAP), *copy = get(r, "copy", NATSCONF_MAP);

	ck_assert_int_eq(r->u.map.v[0].line, 1);
	ck_assert_int_eq(r->u.map.v[0].col, 1);
	ck_assert_int_eq(r->u.map.v[1].line, 2);
	ck_assert_int_eq(js->u.map.v[0].line, 3);
	ck_assert_int_eq(js->u.map.v[0].col, 3);
	ck_assert_int_eq(js->u.map.v[1].line, 4);
	ck_assert_int_eq(js->u.map.v[1].col, 3);
	/* a copy keeps where its names were written */
	ck_assert_int_eq(copy->line, 7);
	ck_assert_int_eq(copy->u.map.v[0].line, 6);
	ck_assert_int_eq(copy->u.map.v[0].col, 6);
	natsconf_free(r);
}
END_TEST

/* The environment variables a parse took values from: each once, in
 * order, not the file's own variables; kept when the parse fails. */
START_TEST(env_names_reported)
{
	struct natsconf_value *r = NULL;
	struct natsconf_names env;
	int rc;

	setenv("JCFS_T_ONE", "1", 1);
	setenv("JCFS_T_TWO", "two", 1);
	rc = natsconf_parse_string_env("LOCAL: x\na: $JCFS_T_TWO\nb: [$JCFS_T_ONE, $LOCAL, $JCFS_T_TWO]\n"
				   "m { c: $JCFS_T_ONE }\n", "t.conf", 0, &r, &env, errbuf, sizeof(errbuf));
	ck_assert_msg(rc == 0, "%s", errbuf);
	ck_assert_uint_eq(env.n, 2);
	ck_assert_str_eq(env.v[0], "JCFS_T_TWO");
	ck_assert_str_eq(env.v[1], "JCFS_T_ONE");
	ck_assert_ptr_null(env.v[2]);
	natsconf_names_free(&env);
	ck_assert_ptr_null(env.v);
	natsconf_free(r);

	rc = natsconf_parse_string_env("a: 1\n", "t.conf", 0, &r, &env, errbuf, sizeof(errbuf));
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(env.n, 0);
	ck_assert_ptr_null(env.v);
	natsconf_free(r);

	rc = natsconf_parse_string_env("a: $JCFS_T_ONE\nb: \"unterminated\n", "t.conf", 0, &r, &env, errbuf,
				   sizeof(errbuf));
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(r);
	ck_assert_uint_eq(env.n, 1);
	ck_assert_str_eq(env.v[0], "JCFS_T_ONE");
	natsconf_names_free(&env);
	unsetenv("JCFS_T_ONE");
	unsetenv("JCFS_T_TWO");
}
END_TEST

/* ---- files and includes ---- */

START_TEST(file_relative_include)
{
	struct natsconf_value *r = NULL;
	char cwd[PATH_MAX];
	const struct natsconf_value *js;
	int rc;

	/* relative to the including file, whatever the cwd */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir("/"), 0);
	rc = natsconf_parse_file(TESTDATA "/conf_include_main.conf", &r, errbuf, sizeof(errbuf));
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_msg(rc == 0, "%s", errbuf);
	ck_assert_int_eq(geti(r, "top"), 1);
	ck_assert_str_eq(gets(r, "CHILD_VAR"), "set in child");
	/* variables of an included file are visible after the include */
	ck_assert_str_eq(gets(r, "from_child"), "set in child");
	/* an include in the included file, relative to that file */
	ck_assert_int_eq(get(r, "leaf", NATSCONF_BOOL)->u.b, 1);
	/* an include inside a block merges into that block */
	js = get(r, "jetstream", NATSCONF_MAP);
	ck_assert_str_eq(gets(js, "cipher"), "aes");
	ck_assert_str_eq(gets(js, "key"), "included key");
	ck_assert_str_eq(gets(js, "store_dir"), "/srv/js");
	/* values remember the file they were written in */
	ck_assert_str_eq(get(js, "cipher", NATSCONF_STRING)->file, TESTDATA "/conf_inc/js.conf");
	ck_assert_int_eq(get(js, "key", NATSCONF_STRING)->line, 2);
	ck_assert_str_eq(get(js, "store_dir", NATSCONF_STRING)->file, TESTDATA "/conf_include_main.conf");
	natsconf_free(r);
}
END_TEST

START_TEST(file_include_loop)
{
	struct natsconf_value *r = NULL;
	int rc = natsconf_parse_file(TESTDATA "/conf_loop_a.conf", &r, errbuf, sizeof(errbuf));

	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(errbuf, TESTDATA "/conf_loop_b.conf:3:5: include loop: "
			 "'conf_loop_a.conf' is already being read");
}
END_TEST

START_TEST(file_missing_include)
{
	struct natsconf_value *r = NULL;
	int rc = natsconf_parse_file(TESTDATA "/conf_missing_include.conf", &r, errbuf, sizeof(errbuf));

	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(errbuf, TESTDATA "/conf_missing_include.conf:3:5: cannot read include file "
			 "'conf_does_not_exist.conf': No such file or directory");
}
END_TEST

START_TEST(file_missing)
{
	struct natsconf_value *r = NULL;
	int rc = natsconf_parse_file(TESTDATA "/conf_no_such_file.conf", &r, errbuf, sizeof(errbuf));

	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_str_eq(errbuf, TESTDATA "/conf_no_such_file.conf: cannot read: No such file or directory");
	rc = natsconf_parse_file(TESTDATA, &r, errbuf, sizeof(errbuf));
	ck_assert_int_eq(rc, -EISDIR);
	/* no file called "": say what is empty */
	rc = natsconf_parse_file("", &r, errbuf, sizeof(errbuf));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(errbuf, "config file name is empty");
}
END_TEST

START_TEST(tmp_includes)
{
	struct natsconf_value *r = NULL;
	const char *main;
	char path[PATH_MAX];
	int rc;

	/* include forms: double, single quoted and bare; absolute paths */
	write_text("one.conf", "one: 1\n");
	write_text("two.conf", "two: 2\n");
	write_text("three.conf", "three: 3\n");
	{
		char text[PATH_MAX + 128];
		snprintf(text, sizeof(text),
			 "include \"one.conf\"\ninclude 'two.conf'\nINCLUDE %s/three.conf\ninclude: 5\n",
			 tmpdir);
		main = write_text("main.conf", text);
	}
	rc = natsconf_parse_file(main, &r, errbuf, sizeof(errbuf));
	ck_assert_msg(rc == 0, "%s", errbuf);
	ck_assert_int_eq(geti(r, "one"), 1);
	ck_assert_int_eq(geti(r, "two"), 2);
	ck_assert_int_eq(geti(r, "three"), 3);
	/* "include:" is an ordinary setting */
	ck_assert_int_eq(geti(r, "include"), 5);
	natsconf_free(r);

	/* an error in an included file is reported in that file */
	write_text("bad.conf", "ok: 1\nbad: \"never closed\n");
	main = write_text("main2.conf", "a: 1\ninclude bad.conf\n");
	rc = natsconf_parse_file(main, &r, errbuf, sizeof(errbuf));
	ck_assert_int_lt(rc, 0);
	snprintf(path, sizeof(path), "%s/bad.conf:2:6: unterminated string", tmpdir);
	ck_assert_msg(strncmp(errbuf, path, strlen(path)) == 0, "%s", errbuf);

	/* a file that includes itself */
	main = write_text("self.conf", "x: 1\n  include \"self.conf\"\n");
	rc = natsconf_parse_file(main, &r, errbuf, sizeof(errbuf));
	ck_assert_int_eq(rc, -ELOOP);
	snprintf(path, sizeof(path), "%s/self.conf:2:3: include loop", tmpdir);
	ck_assert_msg(strncmp(errbuf, path, strlen(path)) == 0, "%s", errbuf);

	/* an included file does not see the includer's variables (as NATS) */
	write_text("uses.conf", "v: $PARENT_ONLY_JCFS\n");
	main = write_text("main3.conf", "PARENT_ONLY_JCFS: 1\ninclude uses.conf\n");
	unsetenv("PARENT_ONLY_JCFS");
	rc = natsconf_parse_file(main, &r, errbuf, sizeof(errbuf));
	ck_assert_int_lt(rc, 0);
	snprintf(path, sizeof(path), "%s/uses.conf:1:4: unknown variable $PARENT_ONLY_JCFS", tmpdir);
	ck_assert_msg(strncmp(errbuf, path, strlen(path)) == 0, "%s", errbuf);

	/* include needs a name */
	parse_err("include ;\n", "t.conf:1:1: ", "include needs a file name");

	/* a string's includes are relative to the directory of its name */
	{
		char name[PATH_MAX];
		snprintf(name, sizeof(name), "%s/virtual.conf", tmpdir);
		rc = natsconf_parse_string("include one.conf\n", name, &r, errbuf, sizeof(errbuf));
		ck_assert_msg(rc == 0, "%s", errbuf);
		ck_assert_int_eq(geti(r, "one"), 1);
		natsconf_free(r);
	}
}
END_TEST

START_TEST(tmp_nul_byte)
{
	struct natsconf_value *r = NULL;
	const char *p = write_file("nul.conf", "a: 1\nb\0: 2\n", 11);
	char want[PATH_MAX + 64];
	int rc = natsconf_parse_file(p, &r, errbuf, sizeof(errbuf));

	ck_assert_int_lt(rc, 0);
	snprintf(want, sizeof(want), "%s:2:2: unexpected NUL byte", p);
	ck_assert_msg(strncmp(errbuf, want, strlen(want)) == 0, "%s", errbuf);
}
END_TEST

/* A FIFO without a writer reads as empty at once (open() of it would
 * block forever); a pipe with a writer is read (-c <(...)); a device is
 * refused. The test case's timeout turns a hang into a failure. */
START_TEST(tmp_not_regular)
{
	struct natsconf_value *r = NULL;
	char fifo[PATH_MAX], want[PATH_MAX + 64];
	const char *main;
	int rc, p[2];

	snprintf(fifo, sizeof(fifo), "%s/cfg.fifo", tmpdir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	rc = natsconf_parse_file(fifo, &r, errbuf, sizeof(errbuf));
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_null(natsconf_map_get(r, "a"));
	natsconf_free(r);
	r = NULL;

	main = write_text("inc_fifo.conf", "a: 1\ninclude cfg.fifo\n");
	rc = natsconf_parse_file(main, &r, errbuf, sizeof(errbuf));
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(natsconf_map_get(r, "a"));
	natsconf_free(r);
	r = NULL;

	/* a pipe with a writer, as /dev/fd/N of a process substitution */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "b: 2\n", 5), 5);
	close(p[1]);
	snprintf(want, sizeof(want), "/dev/fd/%d", p[0]);
	rc = natsconf_parse_file(want, &r, errbuf, sizeof(errbuf));
	close(p[0]);
	ck_assert_msg(rc == 0, "%s", errbuf);
	ck_assert_ptr_nonnull(natsconf_map_get(r, "b"));
	natsconf_free(r);
	r = NULL;

	rc = natsconf_parse_file("/dev/null", &r, errbuf, sizeof(errbuf));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(errbuf, "/dev/null: cannot read: not a regular file or pipe");

	/* a directory keeps its own message */
	ck_assert_int_eq(natsconf_parse_file(tmpdir, &r, errbuf, sizeof(errbuf)), -EISDIR);
	ck_assert_ptr_nonnull(strstr(errbuf, "cannot read: Is a directory"));

	/* the helper the key file and TPM keys file readers share */
	{
		struct stat st;
		int fd = natsconf_open_file("/dev/null", &st);

		ck_assert_int_eq(fd, -EINVAL);
		ck_assert_str_eq(natsconf_file_strerror(fd), "not a regular file or pipe");
		fd = natsconf_open_file(fifo, &st);
		ck_assert_int_ge(fd, 0);
		ck_assert(S_ISFIFO(st.st_mode));
		close(fd);
		fd = natsconf_open_file(main, &st);
		ck_assert_int_ge(fd, 0);
		ck_assert(S_ISREG(st.st_mode));
		/* blocking again, as readers expect */
		ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
		close(fd);
	}
}
END_TEST

START_TEST(small_err_buffer)
{
	struct natsconf_value *r = NULL;
	char small[8];

	ck_assert_int_lt(natsconf_parse_string("a: \"x", "t.conf", &r, small, sizeof(small)), 0);
	ck_assert_str_eq(small, "t.conf:");
	ck_assert_int_lt(natsconf_parse_string("a: \"x", "t.conf", &r, NULL, 0), 0);
}
END_TEST

static Suite *natsconf_suite(void)
{
	Suite *s = suite_create("natsconf");
	TCase *tc = tcase_create("syntax");
	TCase *te = tcase_create("errors");
	TCase *tf = tcase_create("files");

	tcase_add_test(tc, key_separators);
	tcase_add_test(tc, entry_separators);
	tcase_add_test(tc, comments);
	tcase_add_test(tc, quoted_keys);
	tcase_add_test(tc, strings);
	tcase_add_test(tc, integers_and_sizes);
	tcase_add_test(tc, floats);
	tcase_add_test(tc, booleans);
	tcase_add_test(tc, nested_maps_and_blocks);
	tcase_add_test(tc, arrays);
	tcase_add_test(tc, variables_from_scope);
	tcase_add_test(tc, variables_from_env);
	tcase_add_test(tc, repeated_keys_and_case);
	tcase_add_test(tc, top_level_braces);
	tcase_add_test(tc, crlf_and_utf8);
	tcase_add_test(tc, empty_input);
	tcase_add_test(tc, type_names);
	tcase_add_test(tc, nats_encryption_examples);
	suite_add_tcase(s, tc);

	tcase_add_test(te, err_unterminated_string);
	tcase_add_test(te, err_unterminated_block);
	tcase_add_test(te, err_unterminated_array);
	tcase_add_test(te, err_unknown_variable);
	tcase_add_test(te, err_missing_value);
	tcase_add_test(te, err_unexpected);
	tcase_add_test(te, err_escape);
	tcase_add_test(te, err_never_echoes_values);
	tcase_add_test(te, err_integer_range);
	tcase_add_test(te, err_nesting);
	tcase_add_test(te, err_nesting_through_vars);
	tcase_add_test(te, err_expansion_bomb);
	tcase_add_test(te, large_config_loads);
	tcase_add_test(te, entry_positions);
	tcase_add_test(te, env_names_reported);
	tcase_add_test(te, small_err_buffer);
	suite_add_tcase(s, te);

	tcase_add_checked_fixture(tf, tmp_setup, tmp_teardown);
	tcase_add_test(tf, file_relative_include);
	tcase_add_test(tf, file_include_loop);
	tcase_add_test(tf, file_missing_include);
	tcase_add_test(tf, file_missing);
	tcase_add_test(tf, tmp_includes);
	tcase_add_test(tf, tmp_nul_byte);
	tcase_add_test(tf, tmp_not_regular);
	suite_add_tcase(s, tf);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(natsconf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
