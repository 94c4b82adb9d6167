/*
 * Unit tests of the jetstream-settings loader (keysrc/config.c): the three
 * jetstream blocks of the NATS "Encryption at Rest" page, every setting of
 * jetcryptfs and of nats-server, every error with its FILE:LINE:COL
 * (unknown settings too, with the nearest known name), the environment
 * variables a config names, and that no secret ever reaches a message.
 */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "format.h"

static char errbuf[512];

static void load_ok(const char *text, struct config *cfg)
{
	int r = config_load_string(text, "t.conf", cfg, errbuf, sizeof(errbuf));

	ck_assert_msg(r == 0, "load failed (%d): %s", r, errbuf);
	ck_assert_str_eq(cfg->path, "t.conf");
}

#define load_err(text, where, what) load_err_(text, where, what, __LINE__)
static void load_err_(const char *text, const char *where, const char *what, int line)
{
	struct config cfg;
	int r = config_load_string(text, "t.conf", &cfg, errbuf, sizeof(errbuf));

	ck_assert_msg(r < 0, "line %d: load should fail: %s", line, text);
	ck_assert_msg(strncmp(errbuf, where, strlen(where)) == 0,
		      "line %d: error '%s' should start with '%s'", line, errbuf, where);
	ck_assert_msg(strstr(errbuf, what) != NULL,
		      "line %d: error '%s' should mention '%s'", line, errbuf, what);
	ck_assert_msg(strchr(errbuf, '\n') == NULL, "error must be one line: %s", errbuf);
	/* nothing is left half-loaded */
	ck_assert_ptr_null(cfg.path);
	ck_assert_ptr_null(cfg.key);
	ck_assert_ptr_null(cfg.tpm.encryption_password);
	config_free(&cfg);
}

/* ---- the NATS examples ---- */

START_TEST(nats_example_inline_key)
{
	struct config cfg;

	load_ok("jetstream : { cipher: chachapoly  key : \"6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1\" }\n", &cfg);
	ck_assert_int_eq(cfg.cipher, FMT_CIPHER_CHACHAPOLY);
	ck_assert_str_eq(cfg.key, "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1");
	ck_assert_ptr_null(cfg.prev_key);
	ck_assert_ptr_null(cfg.store_dir);
	ck_assert_int_eq(cfg.tpm.present, 0);
	ck_assert_int_eq(cfg.adopt, -1);
	ck_assert_int_eq(cfg.strict, -1);
	ck_assert_str_eq(cfg.warning, "");
	config_free(&cfg);

	/* as the page prints it, on three lines */
	load_ok("jetstream : {\n  cipher: chachapoly\n  key : \"6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1\"\n}\n", &cfg);
	ck_assert_int_eq(cfg.cipher, FMT_CIPHER_CHACHAPOLY);
	ck_assert_str_eq(cfg.key, "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1");
	config_free(&cfg);
}
END_TEST

START_TEST(nats_example_env_key)
{
	struct config cfg;

	setenv("JS_KEY", "mykey from the environment", 1);
	load_ok("jetstream : { cipher: chachapoly  key : $JS_KEY }\n", &cfg);
	ck_assert_int_eq(cfg.cipher, FMT_CIPHER_CHACHAPOLY);
	ck_assert_str_eq(cfg.key, "mykey from the environment");
	config_free(&cfg);

	/* a key that starts with digits comes through unchanged */
	setenv("JS_KEY", "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1", 1);
	load_ok("jetstream : {\n  cipher: chachapoly\n  key: $JS_KEY\n}\n", &cfg);
	ck_assert_str_eq(cfg.key, "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1");
	config_free(&cfg);

	unsetenv("JS_KEY");
	load_err("jetstream : { cipher: chachapoly  key : $JS_KEY }\n", "t.conf:1:41: ",
		 "unknown variable $JS_KEY");
}
END_TEST

START_TEST(nats_example_tpm)
{
	struct config cfg;
	int r = config_load(TESTDATA "/conf_nats_example3.conf", &cfg, errbuf, sizeof(errbuf));

	ck_assert_msg(r == 0, "%s", errbuf);
	ck_assert_str_eq(cfg.path, TESTDATA "/conf_nats_example3.conf");
	ck_assert_str_eq(cfg.store_dir, "/var/lib/nats/js");
	ck_assert_int_eq(cfg.tpm.present, 1);
	ck_assert_str_eq(cfg.tpm.keys_file, "/etc/nats/keys.json");
	ck_assert_str_eq(cfg.tpm.encryption_password, "mypassword");
	ck_assert_ptr_null(cfg.tpm.srk_password);
	ck_assert_ptr_null(cfg.tpm.tcti);
	ck_assert_int_eq(cfg.tpm.pcr, 22);
	ck_assert_int_eq(cfg.tpm.cipher, 0);
	ck_assert_ptr_null(cfg.key);
	ck_assert_int_eq(cfg.cipher, 0);
	/* max_file_store is nats-server's: left alone, without a word */
	ck_assert_str_eq(cfg.warning, "");
	config_free(&cfg);
}
END_TEST

/* ---- settings ---- */

START_TEST(all_settings)
{
	struct config cfg;

	load_ok("jetstream {\n"
		"  cipher: aes\n"
		"  key: \"new key\"\n"
		"  prev_key: 'old key'\n"
		"  store_dir: /srv/js\n"
		"  backing_dir: \"/srv/js.enc\"\n"
		"  adopt: yes\n"
		"  strict: false\n"
		"}\n", &cfg);
	ck_assert_int_eq(cfg.cipher, FMT_CIPHER_AES);
	ck_assert_str_eq(cfg.key, "new key");
	ck_assert_str_eq(cfg.prev_key, "old key");
	ck_assert_str_eq(cfg.store_dir, "/srv/js");
	ck_assert_str_eq(cfg.backing_dir, "/srv/js.enc");
	ck_assert_int_eq(cfg.adopt, 1);
	ck_assert_int_eq(cfg.strict, 0);
	ck_assert_str_eq(cfg.warning, "");
	config_free(&cfg);

	load_ok("jetstream {\n"
		"  store_dir: /srv/js\n"
		"  tpm {\n"
		"    keys_file: /etc/jcfs/keys.json\n"
		"    encryption_password: \"pw\"\n"
		"    srk_password: \"srk\"\n"
		"    pcr: 17\n"
		"    cipher: chacha\n"
		"    tcti: \"swtpm:host=127.0.0.1,port=2321\"\n"
		"  }\n"
		"  adopt: off\n"
		"  STRICT: on\n"
		"}\n", &cfg);
	ck_assert_int_eq(cfg.tpm.present, 1);
	ck_assert_str_eq(cfg.tpm.keys_file, "/etc/jcfs/keys.json");
	ck_assert_str_eq(cfg.tpm.encryption_password, "pw");
	ck_assert_str_eq(cfg.tpm.srk_password, "srk");
	ck_assert_int_eq(cfg.tpm.pcr, 17);
	ck_assert_int_eq(cfg.tpm.cipher, FMT_CIPHER_CHACHAPOLY);
	ck_assert_str_eq(cfg.tpm.tcti, "swtpm:host=127.0.0.1,port=2321");
	ck_assert_int_eq(cfg.adopt, 0);
	ck_assert_int_eq(cfg.strict, 1);
	config_free(&cfg);
}
END_TEST

START_TEST(cipher_names)
{
	static const struct {
		const char *name;
		int id;
	} t[] = {
		{ "chachapoly", FMT_CIPHER_CHACHAPOLY }, { "chacha", FMT_CIPHER_CHACHAPOLY },
		{ "ChaChaPoly", FMT_CIPHER_CHACHAPOLY }, { "aes", FMT_CIPHER_AES },
		{ "AES", FMT_CIPHER_AES }, { "\"aes\"", FMT_CIPHER_AES },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct config cfg;
		char text[128];
		snprintf(text, sizeof(text), "jetstream { cipher: %s }", t[i].name);
		load_ok(text, &cfg);
		ck_assert_msg(cfg.cipher == t[i].id, "%s", t[i].name);
		config_free(&cfg);
	}
}
END_TEST

START_TEST(aliases_and_case)
{
	struct config cfg;

	/* the names nats-server also accepts for the key */
	load_ok("jetstream { encryption_key: \"k1\" }", &cfg);
	ck_assert_str_eq(cfg.key, "k1");
	config_free(&cfg);
	load_ok("jetstream { ek: \"k2\", prev_encryption_key: \"p\" }", &cfg);
	ck_assert_str_eq(cfg.key, "k2");
	ck_assert_str_eq(cfg.prev_key, "p");
	config_free(&cfg);
	/* setting names ignore case, as in nats-server */
	load_ok("JetStream { Cipher: AES, KEY: \"k3\", Store_Dir: /x }", &cfg);
	ck_assert_int_eq(cfg.cipher, FMT_CIPHER_AES);
	ck_assert_str_eq(cfg.key, "k3");
	ck_assert_str_eq(cfg.store_dir, "/x");
	config_free(&cfg);
}
END_TEST

START_TEST(variables)
{
	struct config cfg;

	setenv("JCFS_ADOPT", "true", 1);
	setenv("JCFS_PCR", "23", 1);
	load_ok("MYKEY: \"defined in the file\"\n"
		"DIR: /srv/js\n"
		"jetstream {\n"
		"  key: $MYKEY\n"
		"  store_dir: $DIR\n"
		"  adopt: $JCFS_ADOPT\n"
		"}\n", &cfg);
	ck_assert_str_eq(cfg.key, "defined in the file");
	ck_assert_str_eq(cfg.store_dir, "/srv/js");
	/* values from the environment are strings; booleans and numbers are read from them */
	ck_assert_int_eq(cfg.adopt, 1);
	config_free(&cfg);
	load_ok("jetstream { tpm { keys_file: k, encryption_password: p, pcr: $JCFS_PCR } }", &cfg);
	ck_assert_int_eq(cfg.tpm.pcr, 23);
	config_free(&cfg);
	unsetenv("JCFS_ADOPT");
	unsetenv("JCFS_PCR");
}
END_TEST

START_TEST(whole_nats_conf)
{
	struct config cfg;
	int r;

	setenv("JS_KEY", "whole-file-key", 1);
	r = config_load(TESTDATA "/conf_whole_nats.conf", &cfg, errbuf, sizeof(errbuf));
	unsetenv("JS_KEY");
	ck_assert_msg(r == 0, "%s", errbuf);
	ck_assert_str_eq(cfg.store_dir, "/srv/nats/js");
	ck_assert_str_eq(cfg.backing_dir, "/srv/nats/js.enc");
	ck_assert_int_eq(cfg.cipher, FMT_CIPHER_AES);
	ck_assert_str_eq(cfg.key, "whole-file-key");
	ck_assert_int_eq(cfg.adopt, 1);
	/* nats-server's settings, top-level or in the jetstream block
	 * (max_memory_store), are not ours and not warned about */
	ck_assert_str_eq(cfg.warning, "");
	ck_assert_ptr_nonnull(cfg.env_names);
	ck_assert_str_eq(cfg.env_names[0], "JS_KEY");
	ck_assert_ptr_null(cfg.env_names[1]);
	config_free(&cfg);
}
END_TEST

START_TEST(include_in_jetstream)
{
	struct config cfg;
	int r = config_load(TESTDATA "/conf_include_main.conf", &cfg, errbuf, sizeof(errbuf));

	ck_assert_msg(r == 0, "%s", errbuf);
	ck_assert_int_eq(cfg.cipher, FMT_CIPHER_AES);
	ck_assert_str_eq(cfg.key, "included key");
	ck_assert_str_eq(cfg.store_dir, "/srv/js");
	config_free(&cfg);
}
END_TEST

START_TEST(no_jetstream_block)
{
	struct config cfg;

	load_ok("port: 4222\ncluster { name: c1 }\n", &cfg);
	ck_assert_ptr_null(cfg.key);
	ck_assert_ptr_null(cfg.store_dir);
	ck_assert_int_eq(cfg.cipher, 0);
	ck_assert_int_eq(cfg.adopt, -1);
	ck_assert_int_eq(cfg.tpm.present, 0);
	/* not an error (the key may come from JS_KEY), but not silent either:
	 * an empty file, or a FIFO no one writes to, reads like this */
	ck_assert_str_eq(cfg.warning, "t.conf: no jetstream { } block: nothing in it is used");
	config_free(&cfg);
	load_ok("", &cfg);
	ck_assert_str_eq(cfg.warning, "t.conf: no jetstream { } block: nothing in it is used");
	config_free(&cfg);

	/* "jetstream: enabled" turns JetStream on in nats-server, nothing for us */
	load_ok("jetstream: enabled\n", &cfg);
	ck_assert_ptr_null(cfg.key);
	config_free(&cfg);
	load_ok("jetstream: true\n", &cfg);
	ck_assert_ptr_null(cfg.key);
	config_free(&cfg);
	load_ok("jetstream: Disabled\n", &cfg);
	config_free(&cfg);
	load_ok("jetstream: \"enable\"\n", &cfg);
	config_free(&cfg);
	load_ok("", &cfg);
	config_free(&cfg);
	/* nats-server takes no other word there */
	load_err("jetstream: enbled\n", "t.conf:1:12: ",
		 "jetstream must be a block { ... }, enabled or disabled, not another string");
}
END_TEST

/* nats-server's jetstream settings, from its parseJetStream
 * (server/opts.go), each with a value as a nats.conf gives it. Names that
 * jetcryptfs reads as a setting of its own come in groups of spellings
 * (group > 0), of which a block may hold one: the key and the tpm block
 * exclude each other, so tpm counts as a spelling of the key here. This
 * list is kept apart from config.c's table on purpose: it is what the
 * table is checked against. */
static const struct {
	const char *name, *value;
	int group;
} nats_js[] = {
	{ "enabled", "true", 0 },
	{ "enable", "true", 0 },
	{ "store_dir", "\"/var/lib/nats/js\"", 1 },
	{ "store", "/var/lib/nats/js", 1 },
	{ "storedir", "'/var/lib/nats/js'", 1 },
	{ "max_memory_store", "1G", 0 },
	{ "max_mem_store", "512MB", 0 },
	{ "max_mem", "1073741824", 0 },
	{ "max_file_store", "10G", 0 },
	{ "max_file", "10TiB", 0 },
	{ "domain", "hub", 0 },
	{ "key", "\"new key\"", 2 },
	{ "ek", "\"new key\"", 2 },
	{ "encryption_key", "\"new key\"", 2 },
	{ "tpm", "{ keys_file: \"/etc/nats/keys.json\", encryption_password: \"pw\", "
		 "srk_password: \"srk\", pcr: 22, cipher: aes }", 2 },
	{ "prev_key", "\"old key\"", 3 },
	{ "prev_ek", "\"old key\"", 3 },
	{ "prev_encryption_key", "\"old key\"", 3 },
	{ "cipher", "aes", 0 },
	{ "extension_hint", "\"will_extend\"", 0 },
	{ "unique_tag", "\"az:\"", 0 },
	{ "max_outstanding_catchup", "64MB", 0 },
	{ "max_buffered_size", "128MB", 0 },
	{ "max_buffered_msgs", "10000", 0 },
	{ "request_queue_limit", "10000", 0 },
	{ "info_queue_limit", "10000", 0 },
	{ "meta_compact", "100000", 0 },
	{ "meta_compact_size", "64MB", 0 },
	{ "meta_compact_sync", "false", 0 },
	{ "sync", "always", 0 },
	{ "sync_interval", "\"2m\"", 0 },
	{ "strict", "true", 0 },
	{ "limits", "{\n    max_ack_pending: 20000\n    max_ha_assets: 1000\n"
		    "    max_request_batch: 250\n    duplicate_window_max: 5m\n    batch { max_inflight_per_stream: 50 }\n  }", 0 },
};
#define N_NATS_JS (sizeof(nats_js) / sizeof(nats_js[0]))

/* A jetstream block with every setting of nats_js, the variant-th
 * spelling of each group, and jetcryptfs's own settings; upper: all names
 * in upper case (nats-server ignores case). Returns the block's length. */
static size_t nats_block(char *text, size_t len, unsigned variant, int upper)
{
	size_t n = 0, i, j;

	n += (size_t)snprintf(text + n, len - n, "port: 4222\njetstream {\n");
	for (i = 0; i < N_NATS_JS; i++) {
		char name[64];
		size_t size = 0, pick = 0;

		if (nats_js[i].group) {
			for (j = 0; j < N_NATS_JS; j++) {
				if (nats_js[j].group != nats_js[i].group)
					continue;
				if (j < i)
					pick++;
				size++;
			}
			if (pick != variant % size)
				continue;
		}
		for (j = 0; nats_js[i].name[j] && j < sizeof(name) - 1; j++)
			name[j] = upper ? (char)toupper((unsigned char)nats_js[i].name[j]) : nats_js[i].name[j];
		name[j] = '\0';
		n += (size_t)snprintf(text + n, len - n, "  %s: %s\n", name, nats_js[i].value);
	}
	n += (size_t)snprintf(text + n, len - n, "  backing_dir: /var/lib/nats/js.enc\n  adopt: false\n}\n");
	ck_assert_uint_lt(n, len);
	return n;
}

/* Every setting nats-server takes in its jetstream block loads, quietly;
 * the ones jetcryptfs shares with it are read, under every spelling. */
START_TEST(nats_settings_all)
{
	char text[4096];
	unsigned v;

	for (v = 0; v < 4; v++) {
		struct config cfg;

		nats_block(text, sizeof(text), v, v == 3);
		load_ok(text, &cfg);
		ck_assert_msg(strcmp(cfg.warning, "") == 0, "%s", cfg.warning);
		ck_assert_str_eq(cfg.store_dir, "/var/lib/nats/js");
		ck_assert_str_eq(cfg.backing_dir, "/var/lib/nats/js.enc");
		ck_assert_int_eq(cfg.cipher, FMT_CIPHER_AES);
		ck_assert_str_eq(cfg.prev_key, "old key");
		ck_assert_int_eq(cfg.strict, 1);
		ck_assert_int_eq(cfg.adopt, 0);
		if (v == 3) {
			/* the fourth spelling of the key is the tpm block */
			ck_assert_ptr_null(cfg.key);
			ck_assert_int_eq(cfg.tpm.present, 1);
			ck_assert_str_eq(cfg.tpm.keys_file, "/etc/nats/keys.json");
			ck_assert_str_eq(cfg.tpm.srk_password, "srk");
			ck_assert_int_eq(cfg.tpm.cipher, FMT_CIPHER_AES);
		} else {
			ck_assert_str_eq(cfg.key, "new key");
			ck_assert_int_eq(cfg.tpm.present, 0);
		}
		config_free(&cfg);
	}
}
END_TEST

/* Each of nats-server's settings alone, and one name that is not among
 * them: the list above and the loader's table agree both ways. */
START_TEST(nats_settings_each)
{
	size_t i;

	for (i = 0; i < N_NATS_JS; i++) {
		struct config cfg;
		char text[512];

		snprintf(text, sizeof(text), "jetstream {\n  %s: %s\n}\n", nats_js[i].name, nats_js[i].value);
		load_ok(text, &cfg);
		ck_assert_msg(strcmp(cfg.warning, "") == 0, "%s: %s", nats_js[i].name, cfg.warning);
		config_free(&cfg);
	}
	load_err("jetstream {\n  max_consumers: 10\n}\n", "t.conf:2:3: ",
		 "unknown setting \"max_consumers\" in the jetstream block");
}
END_TEST

/* A setting neither program has, in the jetstream or tpm block, stops the
 * load: FILE:LINE:COL of its name, the name, and the nearest known name
 * when one is close. */
START_TEST(err_unknown_setting)
{
	struct config cfg;
	int r;

	setenv("JCFS_T_KEY", "k", 1);
	load_err("jetstream {\n"
		 "  store_dir: /x\n"
		 "  max_file_store: 10G\n"
		 "  domain: hub, sync_interval: \"2m\"\n"
		 "  cipher: aes\n"
		 "  key: $JCFS_T_KEY\n"
		 "\n"
		 "  chipher: aes\n"
		 "}\n", "t.conf:8:3: ",
		 "unknown setting \"chipher\" in the jetstream block (did you mean \"cipher\"?)");
	ck_assert_str_eq(errbuf, "t.conf:8:3: unknown setting \"chipher\" in the jetstream block "
			 "(did you mean \"cipher\"?)");
	unsetenv("JCFS_T_KEY");
	/* a transposition is one edit; case does not count */
	load_err("jetstream { kye: \"k\" }", "t.conf:1:13: ", "\"kye\" in the jetstream block (did you mean \"key\"?)");
	load_err("jetstream {\n\tSOTRE_DIR: /x\n}", "t.conf:2:2: ",
		 "\"SOTRE_DIR\" in the jetstream block (did you mean \"store_dir\"?)");
	load_err("jetstream { max_file_stor: 1G }", "t.conf:1:13: ", "(did you mean \"max_file_store\"?)");
	load_err("jetstream { backingdir: /b }", "t.conf:1:13: ", "(did you mean \"backing_dir\"?)");
	load_err("jetstream { prev_kye: p }", "t.conf:1:13: ", "(did you mean \"prev_key\"?)");
	load_err("jetstream { adopted: true }", "t.conf:1:13: ", "(did you mean \"adopt\"?)");
	/* nothing close: no guess */
	load_err("jetstream { compression: s2 }", "t.conf:1:13: ",
		 "unknown setting \"compression\" in the jetstream block (neither jetcryptfs nor nats-server has it)");
	ck_assert_ptr_null(strstr(errbuf, "did you mean"));
	load_err("jetstream { ab: 1 }", "t.conf:1:13: ", "unknown setting \"ab\" in the jetstream block (neither");
	/* a setting of the other block */
	load_err("jetstream {\n  keys_file: /k\n}", "t.conf:2:3: ",
		 "unknown setting \"keys_file\" in the jetstream block (it belongs in the tpm block)");
	load_err("jetstream { tpm { keys_file: f, encryption_password: p, key: \"k\" } }", "t.conf:1:57: ",
		 "unknown setting \"key\" in the tpm block (it belongs in the jetstream block)");
	/* in the tpm block, against its own names */
	load_err("jetstream {\n  tpm {\n    keys_file: f\n    encryption_password: p\n    pcrr: 22\n  }\n}\n",
		 "t.conf:5:5: ", "unknown setting \"pcrr\" in the tpm block (did you mean \"pcr\"?)");
	load_err("jetstream { tpm { keys_file: f, encryption_password: p, bogus: 1 } }", "t.conf:1:57: ",
		 "unknown setting \"bogus\" in the tpm block (neither jetcryptfs nor nats-server has it)");
	/* the first one stops the load, in an included file too */
	r = config_load(TESTDATA "/conf_unknown_main.conf", &cfg, errbuf, sizeof(errbuf));
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_str_eq(errbuf, TESTDATA "/conf_inc/unknown.conf:3:1: unknown setting \"encryption_pasword\" "
			 "in the tpm block (did you mean \"encryption_password\"?)");
	ck_assert_ptr_null(cfg.path);
	config_free(&cfg);
	/* top-level settings are not ours to judge */
	load_ok("chipher: aes\nanything_at_all { x: 1 }\njetstream { cipher: aes }\n", &cfg);
	ck_assert_str_eq(cfg.warning, "");
	config_free(&cfg);
}
END_TEST

/* ---- errors ---- */

START_TEST(err_bad_cipher)
{
	load_err("jetstream {\n  cipher: aess\n}\n", "t.conf:2:11: ",
		 "unknown cipher \"aess\" for cipher (use chachapoly or aes)");
	load_err("jetstream {\n  cipher: rot13\n}\n", "t.conf:2:11: ",
		 "unknown cipher \"rot13\" for cipher (use chachapoly or aes)");
	load_err("jetstream { tpm { keys_file: f, encryption_password: p, cipher: des } }",
		 "t.conf:1:65: ", "unknown cipher \"des\" for tpm.cipher (use chachapoly or aes)");
	load_err("jetstream { cipher: 1 }", "t.conf:1:21: ", "cipher must be a cipher name, not an integer");
	load_err("jetstream { cipher: \"\" }", "t.conf:1:21: ", "cipher is empty (use chachapoly or aes)");
	/* something that does not look like a cipher name is not echoed */
	load_err("jetstream { cipher: \"this is my secret key\" }", "t.conf:1:21: ",
		 "unknown cipher for cipher (value not shown: it looks like a key; use chachapoly or aes)");
	ck_assert_ptr_null(strstr(errbuf, "secret"));
}
END_TEST

START_TEST(err_pcr)
{
	struct config cfg;

	load_err("jetstream {\n  tpm {\n    keys_file: f\n    encryption_password: p\n    pcr: 16\n  }\n}\n",
		 "t.conf:5:10: ", "tpm.pcr must be between 17 and 23");
	load_err("jetstream { tpm { keys_file: f, encryption_password: p, pcr: 24 } }",
		 "t.conf:1:62: ", "tpm.pcr must be between 17 and 23");
	load_err("jetstream { tpm { keys_file: f, encryption_password: p, pcr: -1 } }",
		 "t.conf:1:62: ", "between 17 and 23");
	load_err("jetstream { tpm { keys_file: f, encryption_password: p, pcr: seven } }",
		 "t.conf:1:62: ", "tpm.pcr must be an integer between 17 and 23, not a string");
	load_ok("jetstream { tpm { keys_file: f, encryption_password: p, pcr: 23 } }", &cfg);
	ck_assert_int_eq(cfg.tpm.pcr, 23);
	config_free(&cfg);
}
END_TEST

START_TEST(err_key_and_tpm)
{
	load_err("jetstream {\n"
		 "  key: \"k\"\n"
		 "  tpm { keys_file: f, encryption_password: p }\n"
		 "}\n", "t.conf:3:7: ", "key and tpm cannot be used together");
	load_err("jetstream {\n"
		 "  tpm { keys_file: f, encryption_password: p }\n"
		 "  encryption_key: \"k\"\n"
		 "}\n", "t.conf:3:19: ", "key and tpm cannot be used together");
}
END_TEST

START_TEST(err_tpm_required)
{
	load_err("jetstream {\n  tpm {\n    encryption_password: p\n  }\n}\n", "t.conf:2:7: ",
		 "the tpm block needs keys_file");
	load_err("jetstream {\n  tpm { keys_file: f }\n}\n", "t.conf:2:7: ",
		 "the tpm block needs encryption_password");
	load_err("jetstream { tpm: \"on\" }", "t.conf:1:18: ", "tpm must be a block { ... }, not a string");
}
END_TEST

START_TEST(err_types)
{
	load_err("jetstream { key: 12345 }", "t.conf:1:18: ",
		 "key must be a string, not an integer (put it in quotes)");
	ck_assert_ptr_null(strstr(errbuf, "12345"));
	load_err("jetstream { prev_key: 1.5 }", "t.conf:1:23: ", "prev_key must be a string, not a float");
	load_err("jetstream { key: true }", "t.conf:1:18: ", "key must be a string, not a boolean");
	load_err("jetstream { key: [\"a\"] }", "t.conf:1:18: ", "key must be a string, not an array");
	load_err("jetstream { key: \"\" }", "t.conf:1:18: ", "key is empty");
	load_err("jetstream {\n  store_dir: [a, b]\n}", "t.conf:2:14: ", "store_dir must be a string, not an array");
	load_err("jetstream { backing_dir: { x: 1 } }", "t.conf:1:26: ", "backing_dir must be a string, not a block");
	load_err("jetstream { adopt: 5 }", "t.conf:1:20: ", "adopt must be true or false, not an integer");
	load_err("jetstream { adopt: maybe }", "t.conf:1:20: ", "adopt must be true or false, not a string");
	load_err("jetstream { strict: 1 }", "t.conf:1:21: ", "strict must be true or false, not an integer");
	/* adopt lets plaintext files in, strict refuses them: the later one is shown */
	load_err("jetstream {\n  strict: true\n  adopt: yes\n}", "t.conf:3:10: ",
		 "adopt and strict cannot both be true");
	load_err("jetstream { adopt: true, strict: true }", "t.conf:1:34: ", "adopt and strict cannot both be true");
	load_err("jetstream: 5\n", "t.conf:1:12: ", "jetstream must be a block { ... }, not an integer");
	load_err("jetstream { tpm { keys_file: 1, encryption_password: p } }", "t.conf:1:30: ",
		 "tpm.keys_file must be a string");
	load_err("jetstream { tpm { keys_file: f, encryption_password: 42 } }", "t.conf:1:54: ",
		 "tpm.encryption_password must be a string");
	ck_assert_ptr_null(strstr(errbuf, "42"));
}
END_TEST

START_TEST(err_syntax_and_files)
{
	struct config cfg;
	int r;

	load_err("jetstream {\n  cipher: aes\n", "t.conf:1:11: ", "unterminated block");
	r = config_load(TESTDATA "/conf_no_such_file.conf", &cfg, errbuf, sizeof(errbuf));
	ck_assert_int_eq(r, -ENOENT);
	ck_assert_str_eq(errbuf, TESTDATA "/conf_no_such_file.conf: cannot read: No such file or directory");
	config_free(&cfg);
	r = config_load(TESTDATA "/conf_loop_a.conf", &cfg, errbuf, sizeof(errbuf));
	ck_assert_int_lt(r, 0);
	ck_assert_ptr_nonnull(strstr(errbuf, "include loop"));
	config_free(&cfg);
}
END_TEST

START_TEST(free_is_idempotent)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	config_free(NULL);
	load_ok("jetstream { key: \"k\", prev_key: \"p\", store_dir: /s }\n", &cfg);
	config_free(&cfg);
	ck_assert_ptr_null(cfg.key);
	ck_assert_ptr_null(cfg.prev_key);
	load_ok("jetstream { prev_key: \"p\", store_dir: /s, "
		"tpm { keys_file: f, encryption_password: p, srk_password: s } }\n"
		"x: 1", &cfg);
	config_free(&cfg);
	ck_assert_ptr_null(cfg.key);
	ck_assert_ptr_null(cfg.path);
	ck_assert_ptr_null(cfg.tpm.srk_password);
	config_free(&cfg);
}
END_TEST

START_TEST(err_key_tpm_with_secret_not_echoed)
{
	/* no message of the loader quotes a secret, whatever goes wrong */
	load_err("jetstream { key: \"hunter2-very-secret\", tpm { keys_file: f, encryption_password: \"pw-secret\" } }",
		 "t.conf:1:", "cannot be used together");
	ck_assert_ptr_null(strstr(errbuf, "hunter2"));
	ck_assert_ptr_null(strstr(errbuf, "pw-secret"));
}
END_TEST

/* Values, however they reach a setting ($VAR too), are never quoted in an
 * error, and a setting name that looks like a pasted key is not quoted in
 * the warning line. */
START_TEST(secrets_not_echoed)
{
	setenv("JCFS_SHORT_SECRET", "xeMtYt4uQkxv", 1);
	load_err("jetstream { cipher: $JCFS_SHORT_SECRET }", "t.conf:1:21: ",
		 "unknown cipher for cipher (value not shown: it looks like a key; use chachapoly or aes)");
	ck_assert_msg(strstr(errbuf, "xeMtYt4u") == NULL, "%s", errbuf);
	unsetenv("JCFS_SHORT_SECRET");
	load_err("jetstream { tpm { keys_file: f, encryption_password: p, cipher: \"Hunter2-Pass\" } }",
		 "t.conf:1:65: ", "unknown cipher for tpm.cipher (value not shown");
	ck_assert_msg(strstr(errbuf, "unter2") == NULL, "%s", errbuf);

	/* a key pasted where a name goes: neither it nor a near name is shown */
	load_err("jetstream {\n"
		 "  cipher: aes\n"
		 "  xeMtYt4uQkxvMYwoSJAMmp_8JPvFAw7YOfkkkq_y6LE: 1\n"
		 "}\n", "t.conf:3:3: ",
		 "unknown setting (name not shown: it looks like a key) in the jetstream block");
	ck_assert_msg(strstr(errbuf, "xeMtYt4u") == NULL, "%s", errbuf);
	load_err("jetstream {\n"
		 "  tpm { keys_file: f, encryption_password: p\n"
		 "    9f86d081884c7d659a2feaa0c55ad015: x }\n"
		 "}\n", "t.conf:3:5: ",
		 "unknown setting (name not shown: it looks like a key) in the tpm block");
	ck_assert_msg(strstr(errbuf, "9f86d081") == NULL, "%s", errbuf);
	load_err("jetstream { xKeY: \"k\" }", "t.conf:1:13: ", "unknown setting (name not shown");
	ck_assert_ptr_null(strstr(errbuf, "did you mean"));
}
END_TEST

/* An empty name says what is empty, with FILE:LINE:COL, instead of a
 * message about a file or directory called "". */
START_TEST(err_empty_names)
{
	struct config cfg;
	int r;

	load_err("jetstream {\n  store_dir: \"\"\n}\n", "t.conf:2:14: ", "store_dir is empty");
	load_err("jetstream { backing_dir: '' }", "t.conf:1:26: ", "backing_dir is empty");
	load_err("jetstream { tpm { keys_file: \"\", encryption_password: p } }", "t.conf:1:30: ",
		 "tpm.keys_file is empty");
	r = config_load("", &cfg, errbuf, sizeof(errbuf));
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_str_eq(errbuf, "config file name is empty");
	config_free(&cfg);
}
END_TEST

/* Two names for the key (nats-server's aliases) in one block: no
 * document says which wins, so neither does; the second is the error. */
START_TEST(err_key_aliases_together)
{
	struct config cfg;

	load_err("jetstream { key: \"a\", encryption_key: \"b\" }", "t.conf:1:39: ",
		 "encryption_key and key both set the key");
	load_err("jetstream {\n  ek: \"a\"\n  key: \"b\"\n}\n", "t.conf:3:8: ", "key and ek both set the key");
	load_err("jetstream {\n  prev_encryption_key: \"a\"\n  prev_key: \"b\"\n}\n", "t.conf:3:13: ",
		 "prev_key and prev_encryption_key both set the previous key");
	ck_assert_ptr_null(strstr(errbuf, "\"a\""));
	load_err("jetstream {\n  prev_key: \"a\"\n  PREV_EK: \"b\"\n}\n", "t.conf:3:12: ",
		 "PREV_EK and prev_key both set the previous key");
	load_err("jetstream { store: /a, store_dir: /b }", "t.conf:1:35: ",
		 "store_dir and store both set the mount point");
	load_err("jetstream { storedir: /a\n store: /b }", "t.conf:2:9: ",
		 "store and storedir both set the mount point");
	/* the same name twice (in any case) is a repeat: the later wins, as in NATS */
	load_ok("jetstream { key: \"a\"\n KEY: \"b\" }", &cfg);
	ck_assert_str_eq(cfg.key, "b");
	config_free(&cfg);
}
END_TEST

#define assert_names(names, ...) assert_names_((names), (const char *[]){ __VA_ARGS__, NULL }, __LINE__)
static void assert_names_(char **names, const char **want, int line)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		ck_assert_msg(names && names[i], "line %d: name %zu missing, want %s", line, i, want[i]);
		ck_assert_msg(strcmp(names[i], want[i]) == 0, "line %d: name %zu is %s, want %s", line, i,
			      names[i], want[i]);
	}
	ck_assert_msg(!names || !names[i], "line %d: more names than %zu: %s", line, i, names[i]);
}

/* The environment variables a config takes values from are listed, each
 * once, those of includes too, and they are still listed when the load
 * fails after reading them: they must be scrubbed either way. */
START_TEST(env_names)
{
	struct config cfg;
	char **names;
	char dir[] = "/tmp/jcfs-config-XXXXXX", path[128], fifo[128];
	FILE *f;
	int r;

	setenv("JCFS_T_A", "a-secret", 1);
	setenv("JCFS_T_B", "/srv/js", 1);
	load_ok("LOCAL: \"from the file\"\n"
		"jetstream {\n  key: $JCFS_T_A\n  prev_key: $LOCAL\n  store_dir: $JCFS_T_B\n"
		"  backing_dir: $JCFS_T_B\n}\n", &cfg);
	assert_names(cfg.env_names, "JCFS_T_A", "JCFS_T_B");
	config_free(&cfg);
	ck_assert_ptr_null(cfg.env_names);
	load_ok("jetstream { key: \"k\" }", &cfg);
	ck_assert_ptr_null(cfg.env_names);
	config_free(&cfg);

	/* an error after the variable: nothing loaded but the names */
	r = config_load_string("jetstream {\n  key: $JCFS_T_A\n  chipher: aes\n}\n", "t.conf", &cfg,
			       errbuf, sizeof(errbuf));
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_null(cfg.key);
	ck_assert_ptr_null(cfg.path);
	assert_names(cfg.env_names, "JCFS_T_A");
	config_free(&cfg);
	r = config_load_string("jetstream {\n  key: $JCFS_T_A\n  store_dir: \"/x\n}\n", "t.conf", &cfg,
			       errbuf, sizeof(errbuf));
	ck_assert_int_eq(r, -EINVAL);
	assert_names(cfg.env_names, "JCFS_T_A");
	config_free(&cfg);

	/* includes; and config_env_names finds the same without loading */
	r = config_load(TESTDATA "/conf_env_main.conf", &cfg, errbuf, sizeof(errbuf));
	ck_assert_msg(r == 0, "%s", errbuf);
	ck_assert_str_eq(cfg.store_dir, "/srv/js");
	assert_names(cfg.env_names, "JCFS_T_A", "JCFS_T_B");
	config_free(&cfg);
	ck_assert_int_eq(config_env_names(TESTDATA "/conf_env_main.conf", &names), 0);
	assert_names(names, "JCFS_T_A", "JCFS_T_B");
	config_names_free(names);

	/* config_env_names reads no pipe: it belongs to the loader; the
	 * names before it are still found */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(config_env_names(fifo, &names), -ESPIPE);
	ck_assert_ptr_null(names);
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("jetstream {\n  key: $JCFS_T_A\n  include fifo\n  store_dir: $JCFS_T_B\n}\n", f);
	fclose(f);
	ck_assert_int_eq(config_env_names(path, &names), -ESPIPE);
	assert_names(names, "JCFS_T_A");
	config_names_free(names);
	ck_assert_int_eq(config_env_names(TESTDATA "/conf_no_such_file.conf", &names), -ENOENT);
	ck_assert_ptr_null(names);
	unlink(fifo);
	unlink(path);
	rmdir(dir);
	unsetenv("JCFS_T_A");
	unsetenv("JCFS_T_B");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tn = tcase_create("nats");
	TCase *ts = tcase_create("settings");
	TCase *te = tcase_create("errors");

	tcase_add_test(tn, nats_example_inline_key);
	tcase_add_test(tn, nats_example_env_key);
	tcase_add_test(tn, nats_example_tpm);
	tcase_add_test(tn, whole_nats_conf);
	suite_add_tcase(s, tn);

	tcase_add_test(ts, all_settings);
	tcase_add_test(ts, cipher_names);
	tcase_add_test(ts, aliases_and_case);
	tcase_add_test(ts, variables);
	tcase_add_test(ts, include_in_jetstream);
	tcase_add_test(ts, no_jetstream_block);
	tcase_add_test(ts, nats_settings_all);
	tcase_add_test(ts, nats_settings_each);
	tcase_add_test(ts, free_is_idempotent);
	tcase_add_test(ts, env_names);
	suite_add_tcase(s, ts);

	tcase_add_test(te, err_bad_cipher);
	tcase_add_test(te, err_pcr);
	tcase_add_test(te, err_key_and_tpm);
	tcase_add_test(te, err_tpm_required);
	tcase_add_test(te, err_types);
	tcase_add_test(te, err_syntax_and_files);
	tcase_add_test(te, err_key_tpm_with_secret_not_echoed);
	tcase_add_test(te, secrets_not_echoed);
	tcase_add_test(te, err_empty_names);
	tcase_add_test(te, err_key_aliases_together);
	tcase_add_test(te, err_unknown_setting);
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
